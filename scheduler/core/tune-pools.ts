/**
 * The pool tuner: for each pool, compute the target for now and carry out the convergence plan.
 * Retirement re-checks the instance with a conditional write (ready@version → retiring), so an
 * instance claimed between the plan and the write is never retired.
 */
import type { CoreDeps } from './deps.js';
import type { PoolsConfig } from './pool-config.js';
import { type ConvergencePlan, planConvergence } from './pool-plan.js';
import { retire } from './provision.js';
import { launchPoolInstances } from './recycle.js';
import { poolTarget } from './schedule.js';
import type { InstanceRecord } from './types.js';

export interface PoolTuning {
  readonly pool: string;
  readonly target: number;
  readonly capacity: number;
  readonly launched: number;
  readonly retired: number;
}

export interface TuneOptions {
  /** Learned demand per pool for this hour of the week (see forecast.ts); absent: schedule only. */
  readonly forecasts?: Readonly<Record<string, number>>;
}

export async function tunePools(
  deps: CoreDeps,
  config: PoolsConfig,
  options: TuneOptions = {},
): Promise<PoolTuning[]> {
  const now = deps.clock.now();
  const results: PoolTuning[] = [];
  for (const pool of config.pools) {
    const instances = await deps.store.listPoolInstances(pool.name);
    const target = poolTarget(pool, now, options.forecasts?.[pool.name]);
    const specs = new Map<string, string>();
    for (const type of new Set([...pool.instanceTypes, ...instances.map((i) => i.instanceType)]))
      specs.set(type, await deps.compute.currentSpec(pool, type));
    const isCurrent = (i: InstanceRecord) =>
      pool.instanceTypes.includes(i.instanceType) && specs.get(i.instanceType) === i.spec;
    const plan = planConvergence({ pool, settings: config.settings, target, instances, isCurrent });
    const outcome = await applyPlan(deps, config, plan, now);
    results.push(outcome);
    const byState = (s: string) => instances.filter((i) => i.role === 'pool' && i.state === s).length;
    deps.metrics.gauge('PoolTarget', target, { Pool: pool.name });
    deps.metrics.gauge('PoolReady', byState('ready'), { Pool: pool.name });
    deps.metrics.gauge('PoolWarming', byState('launching') + byState('warming'), { Pool: pool.name });
    deps.metrics.gauge(
      'PoolBusy',
      instances.filter((i) => ['claimed', 'starting', 'busy'].includes(i.state)).length,
      {
        Pool: pool.name,
      },
    );
  }
  return results;
}

async function applyPlan(
  deps: CoreDeps,
  config: PoolsConfig,
  plan: ConvergencePlan,
  now: number,
): Promise<PoolTuning> {
  let retired = 0;
  for (const { instance, reason } of plan.retire) if (await retire(deps, instance, reason)) retired++;
  // The token is stable within a minute, so a tuner run retried by the scheduler does not launch twice.
  const token = `tune-${plan.pool}-${Math.floor(now / 60_000)}-${plan.launchSubnets.length}`;
  const launched = await launchPoolInstances(deps, plan.pool, config, plan.launchSubnets, token);
  if (launched > 0 || retired > 0)
    await deps.events.publish([
      { type: 'PoolResized', pool: plan.pool, target: plan.target, launched, retired },
    ]);
  return { pool: plan.pool, target: plan.target, capacity: plan.capacity, launched, retired };
}
