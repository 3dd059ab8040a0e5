/**
 * The pool tuner, on a schedule: converge every pool to its target for now, rolling instances whose
 * spec is outdated a few at a time. The learned forecast, when a pool enables it, comes from the
 * demand history the store keeps.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { tunePools } from '../scheduler/core/tune-pools.js';
import { buildControlPlane, type ControlPlane, lazyControlPlane } from './control-plane.js';
import { readSettings } from './settings.js';

export function createPoolTunerHandler(plane: () => Promise<ControlPlane>) {
  return middy<unknown, { pools: number; launched: number; retired: number }>().handler(
    async (_event, context: Context) => {
      const { deps, logger, configSource } = await plane();
      deps.metrics.count('HandlerRuns', 1, { Handler: 'pool-tuner' });
      const config = await configSource.load();
      const rejection = configSource.lastRejection();
      if (rejection !== undefined) {
        // Counted every run while the live document is invalid: the alarm stays on until it is fixed.
        deps.metrics.count('ConfigRejections', 1);
        logger.error('pool config rejected; the last good one stays in use', {
          problems: rejection.problems,
        });
      }
      // Hot-tier refills start runners up the fill ladder: none starts after this, well inside the timeout.
      const remaining =
        typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 55_000;
      const results = await tunePools(deps, config, {
        deadline: deps.clock.now() + Math.max(0, remaining - reserveMs),
      });
      for (const r of results)
        if (r.error !== undefined) logger.error('pool tuning failed; the other pools were tuned', { ...r });
        else logger.info('pool tuned', { ...r });
      return {
        pools: results.length,
        launched: results.reduce((n, r) => n + r.launched, 0),
        retired: results.reduce((n, r) => n + r.retired, 0),
      };
    },
  );
}

/** Time kept back from the function's timeout for the last start to finish. */
const reserveMs = 15_000;

const plane = lazyControlPlane(() => buildControlPlane(readSettings(process.env), 'pool-tuner'));
export const handler = createPoolTunerHandler(plane);
