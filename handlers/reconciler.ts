/**
 * The reconciler, on a schedule: repairs what webhooks and events missed (see reconcile-plan.ts),
 * redelivers failed webhook deliveries and refills short hot tiers. EventBridge Scheduler runs at most
 * once a minute, so the schedule asks for `passes` runs `intervalSeconds` apart in one invocation (two
 * passes 30 s apart: a reconciler every 30 s). Each pass stops starting new provisioning before the
 * next pass is due and well before the function's own timeout.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { reconcile } from '../scheduler/core/reconcile.js';
import { buildControlPlane, type ControlPlane, lazyControlPlane } from './control-plane.js';
import { reportGitHubBudgets } from './github-budget-metrics.js';
import { readSettings } from './settings.js';

/** Time kept back from the function's timeout for the last provisioning to finish. */
const reserveMs = 15_000;
/** Time kept back from the next pass, so two passes of one invocation never overlap. */
const passReserveMs = 5_000;

const scheduleInput = z
  .object({
    passes: z.number().int().min(1).max(4).default(1),
    intervalSeconds: z.number().int().min(5).max(60).default(30),
  })
  .catch({ passes: 1, intervalSeconds: 30 });

export interface ReconcilerOptions {
  /** Waits between passes; injected so tests do not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createReconcilerHandler(plane: () => Promise<ControlPlane>, options: ReconcilerOptions = {}) {
  const sleep = options.sleep ?? realSleep;
  return middy<unknown, { actions: number; redelivered: number; failures: number; passes: number }>().handler(
    async (event, context: Context) => {
      const current = await plane();
      const { deps, logger, configSource } = current;
      const { passes, intervalSeconds } = scheduleInput.parse(event ?? {});
      const remaining = () =>
        typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 60_000;
      const totals = { actions: 0, redelivered: 0, failures: 0, passes: 0 };
      const started = deps.clock.now();
      for (let pass = 0; pass < passes; pass++) {
        const due = started + pass * intervalSeconds * 1000;
        if (due > deps.clock.now()) await sleep(due - deps.clock.now());
        if (remaining() < reserveMs + passReserveMs) break;
        deps.metrics.count('HandlerRuns', 1, { Handler: 'reconciler' });
        const config = await configSource.load();
        const nextPass =
          pass + 1 < passes ? due + intervalSeconds * 1000 - passReserveMs : Number.POSITIVE_INFINITY;
        const report = await reconcile(deps, config, {
          deadline: Math.min(nextPass, deps.clock.now() + Math.max(0, remaining() - reserveMs)),
        });
        for (const action of report.actions) logger.info('reconciled', { ...action });
        for (const failure of report.failures) logger.error('reconcile action failed', { failure });
        totals.actions += report.actions.length;
        totals.redelivered += report.redelivered;
        totals.failures += report.failures.length;
        totals.passes++;
        reportGitHubBudgets(current);
      }
      return totals;
    },
  );
}

const plane = lazyControlPlane(() => buildControlPlane(readSettings(process.env), 'reconciler'));
export const handler = createReconcilerHandler(plane);
