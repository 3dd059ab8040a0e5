/**
 * The reconciler, on a schedule: repairs what webhooks and events missed (see reconcile-plan.ts) and
 * redelivers failed webhook deliveries. It stops starting new provisioning well before its own timeout.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { reconcile } from '../scheduler/core/reconcile.js';
import { buildControlPlane, type ControlPlane, lazyControlPlane } from './control-plane.js';
import { readSettings } from './settings.js';

/** Time kept back from the function's timeout for the last provisioning to finish. */
const reserveMs = 15_000;

export function createReconcilerHandler(plane: () => Promise<ControlPlane>) {
  return middy<unknown, { actions: number; redelivered: number; failures: number }>().handler(
    async (_event, context: Context) => {
      const { deps, logger, configSource } = await plane();
      deps.metrics.count('HandlerRuns', 1, { Handler: 'reconciler' });
      const config = await configSource.load();
      const remaining =
        typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 60_000;
      const report = await reconcile(deps, config, {
        deadline: deps.clock.now() + Math.max(0, remaining - reserveMs),
      });
      for (const action of report.actions) logger.info('reconciled', { ...action });
      for (const failure of report.failures) logger.error('reconcile action failed', { failure });
      return {
        actions: report.actions.length,
        redelivered: report.redelivered,
        failures: report.failures.length,
      };
    },
  );
}

const plane = lazyControlPlane(() => buildControlPlane(readSettings(process.env), 'reconciler'));
export const handler = createReconcilerHandler(plane);
