/**
 * The pool tuner: for each pool, compute the target for now and carry out the convergence plan.
 * Pools are tuned one by one and independently: a pool that fails (its image parameter missing, a
 * volume smaller than its image, EC2 refusing its launches) is reported with its error and counted
 * (PoolTuningErrors), and the other pools are tuned all the same.
 * Retirement re-checks the instance with a conditional write (ready@version → retiring), so an
 * instance claimed between the plan and the write is never retired.
 *
 * A pool that learns from demand (`forecast.enabled`) has its demand observed on every run (jobs
 * waiting + instances serving jobs) into the history kept as the marker `demand#<pool>`, and its target
 * raised to the forecast from that history (see forecast.ts). Two runs overlapping may each write the
 * marker; the later write wins and at worst one observation of one minute is lost, which a peak-per-hour
 * history does not notice.
 */

import type { CoreDeps } from './deps.js';
import {
  defaultForecastLeadMs,
  demandMarker,
  demandTimeZone,
  forecastDemand,
  parseHistory,
  recordDemand,
  serializeHistory,
} from './forecast.js';
import { type HotTuning, isUntaken, tuneHotTier } from './hot-tier.js';
import { servingStates } from './lifecycle.js';
import type { PoolConfig, PoolsConfig } from './pool-config.js';
import { type ConvergencePlan, planConvergence } from './pool-plan.js';
import { ebsUsdPerSecond, hourlyPrice } from './prices.js';
import { retire } from './provision.js';
import { launchPoolInstances } from './recycle.js';
import { poolTarget } from './schedule.js';
import type { InstanceRecord, JobRecord } from './types.js';

export interface PoolTuning {
  readonly pool: string;
  readonly target: number;
  readonly capacity: number;
  readonly launched: number;
  readonly retired: number;
  /** The learned demand the target was raised to, for pools that learn and have history. */
  readonly forecast?: number;
  /** Why this pool could not be tuned this run (the other pools were); nothing else is certain then. */
  readonly error?: string;
  /** The pool's hot tier after this run, when it has one. */
  readonly hot?: HotTuning;
}

export interface TuneOptions {
  /**
   * Demand per pool for now, given instead of learned: a pool listed here is neither observed nor
   * forecast from its history. Absent: pools that learn use their history.
   */
  readonly forecasts?: Readonly<Record<string, number>>;
  /** How far ahead a forecast looks, so that the pool is warm before a recurring peak. */
  readonly forecastLeadMs?: number;
  /**
   * This hour of week's past peaks per pool for the hot tier's cost model, given instead of read from
   * the pool's demand history (the simulator passes its own).
   */
  readonly hotPastPeaks?: Readonly<Record<string, readonly number[]>>;
  /** Epoch ms after which no new hot runner is started; default a minute from now. */
  readonly deadline?: number;
}

export async function tunePools(
  deps: CoreDeps,
  config: PoolsConfig,
  options: TuneOptions = {},
): Promise<PoolTuning[]> {
  const now = deps.clock.now();
  const results: PoolTuning[] = [];
  const queued: { jobs?: readonly JobRecord[] } = {};
  for (const pool of config.pools) {
    try {
      results.push(await tunePool(deps, config, pool, now, queued, options));
    } catch (error) {
      deps.metrics.count('PoolTuningErrors', 1, { Pool: pool.name });
      results.push({
        pool: pool.name,
        target: poolTarget(pool, now),
        capacity: 0,
        launched: 0,
        retired: 0,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return results;
}

async function tunePool(
  deps: CoreDeps,
  config: PoolsConfig,
  pool: PoolConfig,
  now: number,
  queued: { jobs?: readonly JobRecord[] },
  options: TuneOptions,
): Promise<PoolTuning> {
  let instances = await deps.store.listPoolInstances(pool.name);
  let forecast = options.forecasts?.[pool.name];
  // The hot tier's cost model learns from the same history, so a pool with one observes demand too.
  if (forecast === undefined && (pool.forecast.enabled || pool.hot?.costModel !== undefined)) {
    queued.jobs ??= await deps.store.listJobs('queued');
    forecast = await learnDemand(deps, pool, instances, queued.jobs, now, options);
  }
  const target = poolTarget(pool, now, forecast);
  // Reported before anything that may fail, so the pool-empty alarm keeps its data when this pool does.
  const byState = (s: string) => instances.filter((i) => i.role === 'pool' && i.state === s).length;
  deps.metrics.gauge('PoolTarget', target, { Pool: pool.name });
  deps.metrics.gauge('PoolReady', byState('ready'), { Pool: pool.name });
  deps.metrics.gauge('PoolWarming', byState('launching') + byState('warming'), { Pool: pool.name });
  deps.metrics.gauge(
    'PoolBusy',
    instances.filter((i) => ['claimed', 'starting', 'busy'].includes(i.state)).length,
    { Pool: pool.name },
  );
  recordCost(deps, pool, instances);
  const specs = new Map<string, string>();
  for (const type of new Set([...pool.instanceTypes, ...instances.map((i) => i.instanceType)]))
    specs.set(type, await deps.compute.currentSpec(pool, type));
  const isCurrent = (i: InstanceRecord) =>
    pool.instanceTypes.includes(i.instanceType) && specs.get(i.instanceType) === i.spec;
  // The hot tier first: it fills from ready instances, and the warm pool then converges around what
  // is left (a scale-in must not retire the instances the hot tier is about to start).
  const hotPeaks = options.hotPastPeaks?.[pool.name];
  const hot = await tuneHotTier(deps, pool, {
    deadline: options.deadline ?? now + 60_000,
    isCurrent,
    launchLimit: config.settings.launchBatchSize,
    ...(hotPeaks !== undefined && { pastPeaks: hotPeaks }),
  });
  if (hot !== undefined && hot.started + hot.replaced + hot.drained > 0)
    instances = await deps.store.listPoolInstances(pool.name);
  const plan = planConvergence({ pool, settings: config.settings, target, instances, isCurrent });
  const outcome = await applyPlan(deps, config, plan, now);
  return {
    ...outcome,
    ...(pool.forecast.enabled && forecast !== undefined && { forecast }),
    ...(hot !== undefined && { hot }),
  };
}

/**
 * The pool's cost over the next minute at its current state (the tuner runs every minute, so the
 * dashboard's hourly sum reads as USD per hour): stopped pool volumes, and running instances by market.
 */
export function recordCost(deps: CoreDeps, pool: PoolConfig, instances: readonly InstanceRecord[]): void {
  let ebsIdle = 0;
  const running: Record<'on-demand' | 'spot', number> = { 'on-demand': 0, spot: 0 };
  for (const i of instances) {
    if (i.state === 'terminated') continue;
    if (i.state === 'ready') ebsIdle += ebsUsdPerSecond(pool.volumeSizeGb) * 60;
    else
      running[i.market] +=
        (hourlyPrice(i.instanceType, i.market).usd + ebsUsdPerSecond(pool.volumeSizeGb) * 3600) / 60;
  }
  deps.metrics.gauge('EstimatedCost', ebsIdle, { Pool: pool.name, Kind: 'ebs-idle' });
  deps.metrics.gauge('EstimatedCost', running['on-demand'], { Pool: pool.name, Kind: 'on-demand' });
  deps.metrics.gauge('EstimatedCost', running.spot, { Pool: pool.name, Kind: 'spot' });
}

/**
 * Records the pool's demand now in its history and returns the forecast for now (undefined while the
 * history holds no past week for these hours).
 */
async function learnDemand(
  deps: CoreDeps,
  pool: PoolConfig,
  instances: readonly InstanceRecord[],
  queued: readonly JobRecord[],
  now: number,
  options: TuneOptions,
): Promise<number | undefined> {
  // Hot runners waiting for a job are supply, not demand: counting them would feed the tier itself.
  const serving = instances.filter(
    (i) => servingStates.includes(i.state) && !(i.tier === 'hot' && isUntaken(i)),
  ).length;
  const waiting = queued.filter((j) => j.pool === pool.name).length;
  const marker = demandMarker(pool.name);
  const before = parseHistory(await deps.store.getMarker(marker), demandTimeZone(pool));
  const history = recordDemand(before, now, serving + waiting, pool.forecast.weeks);
  await deps.store.putMarker(marker, serializeHistory(history));
  const forecast = forecastDemand(history, now, pool.forecast.quantile, {
    weeks: pool.forecast.weeks,
    leadMs: options.forecastLeadMs ?? defaultForecastLeadMs,
  });
  if (forecast !== undefined) deps.metrics.gauge('PoolForecast', forecast, { Pool: pool.name });
  return forecast;
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
