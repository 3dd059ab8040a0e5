/**
 * Sizing the hot tier: how many registered idle runners a pool keeps RUNNING now. Pure.
 *
 *   window    the pool's open hot windows give bounds [min, max]; outside every window the tier is
 *             `outsideWindows` (zero unless configured)
 *   model     inside a window, the k-th runner is kept only while the seconds of waiting it is expected
 *             to save in this hour — sized by the jobs expected to arrive within one refill time —
 *             times the configured value of a waiting second, pay for its running hour (compute +
 *             volume at the price of the tier's first fill source)
 *   caps      then the tier's hard `maximum`, then what is left of the daily budget for one more hour
 *
 * The model, stated so that it can be argued with. A hot runner taken by a job is replaced by a refill
 * that takes `refillSeconds` to become idle (a stopped-pool start, or a fresh launch, plus the runner's
 * connect). So the tier only runs dry when more jobs arrive within one refill time than it holds: the
 * tier is sized by the arrivals expected within one refill time, not by how many runners are busy at
 * the peak (a busy runner left the tier long ago). Per past week of this hour of week, the arrival rate
 * is the peak demand the tuner recorded (forecast.ts) over the job length (Little's law: λ = peak /
 * jobMinutes), and the arrivals N within one refill time R are Poisson with mean λ·R. The k-th runner
 * serves a job in each refill interval where N ≥ k, so it is expected to save, per hour,
 *
 *   (3600 / R) × P(N ≥ k) × secondsSavedPerHit      averaged over the past weeks
 *
 * and is kept only while that times `valuePerWaitSecondUsd` pays for its running hour. P(N ≥ k) falls
 * with k, so the kept runners are a prefix 1..k. Poisson is the optimistic end: a matrix fan-out
 * brings tens of jobs in one second, which no affordable tier absorbs anyway; the window's `min`
 * is there for a floor the model does not see.
 *
 * Invariants: the target is an integer in [0, maximum]; outside a window it ignores the model; a spent
 * budget gives zero.
 */

import type { DemandHistory } from './forecast.js';
import { hourOfWeek } from './forecast.js';
import type { HotConfig, PoolConfig } from './pool-config.js';
import { ebsUsdPerSecond, hourlyPrice } from './prices.js';
import { windowOpen } from './schedule.js';

export interface HotSizingInput {
  readonly pool: PoolConfig;
  readonly now: number;
  /** This hour of week's peak demand in each past week that observed it (see `pastPeaks`). */
  readonly pastPeaks: readonly number[];
  /** USD the tier has cost so far today (UTC day). */
  readonly spentTodayUsd: number;
}

export interface HotSizing {
  readonly target: number;
  /** Whether a hot window is open now. */
  readonly inWindow: boolean;
  /** The open windows' bounds (outside: both `outsideWindows`). */
  readonly min: number;
  readonly max: number;
  /** The runners the cost model alone would keep (inside a window with a cost model). */
  readonly modelled?: number;
  /** What the rest of the daily budget affords for one more hour, when a budget is set. */
  readonly budgetCap?: number;
  /** The running hour of one hot runner, USD. */
  readonly hourlyUsd: number;
}

export function sizeHotTier(input: HotSizingInput): HotSizing {
  const { pool, now } = input;
  const hot = pool.hot;
  const hourlyUsd = hotRunnerHourlyUsd(pool);
  if (hot === undefined) return { target: 0, inWindow: false, min: 0, max: 0, hourlyUsd };
  const open = hot.windows.filter((w) => windowOpen(w, now));
  const inWindow = open.length > 0;
  const min = inWindow ? Math.max(...open.map((w) => w.min)) : hot.outsideWindows;
  const max = inWindow ? Math.max(...open.map((w) => w.max)) : hot.outsideWindows;
  let target = max;
  let modelled: number | undefined;
  if (inWindow && hot.costModel !== undefined) {
    modelled = runnersThatPay(hot, input.pastPeaks, hourlyUsd, max);
    target = Math.min(max, Math.max(min, modelled));
  }
  target = Math.min(target, hot.maximum);
  let budgetCap: number | undefined;
  if (hot.dailyBudgetUsd !== undefined) {
    const left = hot.dailyBudgetUsd - input.spentTodayUsd;
    budgetCap = left <= 0 || hourlyUsd <= 0 ? 0 : Math.floor(left / hourlyUsd + 1e-9);
    target = Math.min(target, budgetCap);
  }
  return {
    target: Math.max(0, target),
    inWindow,
    min,
    max,
    ...(modelled !== undefined && { modelled }),
    ...(budgetCap !== undefined && { budgetCap }),
    hourlyUsd,
  };
}

/** The time for a refill to become idle, by the tier's first fill source, when not configured. */
export const defaultRefillSeconds = { pool: 20, spot: 30, 'on-demand': 30 } as const;

/** Seconds from a hot runner being taken to its replacement being idle, for this pool. */
export function refillSeconds(hot: HotConfig): number {
  return hot.costModel?.refillSeconds ?? defaultRefillSeconds[hot.fill[0] ?? 'pool'];
}

/** P(N ≥ k) for N Poisson with this mean. */
export function poissonAtLeast(k: number, mean: number): number {
  if (k <= 0) return 1;
  if (mean <= 0) return 0;
  let term = Math.exp(-mean); // P(N = 0)
  let below = term;
  for (let n = 1; n < k; n++) {
    term *= mean / n;
    below += term;
  }
  return Math.max(0, 1 - below);
}

/** Expected seconds of waiting the k-th hot runner saves in an hour with these past peaks. */
export function expectedSecondsSaved(
  k: number,
  pastPeaks: readonly number[],
  model: NonNullable<HotConfig['costModel']>,
  refill: number,
): number {
  if (pastPeaks.length === 0 || k < 1 || refill <= 0) return 0;
  const intervals = 3600 / refill;
  const perSecond = (peak: number) => peak / (model.jobMinutes * 60);
  const reached =
    pastPeaks.reduce((sum, peak) => sum + poissonAtLeast(k, perSecond(peak) * refill), 0) / pastPeaks.length;
  return intervals * reached * model.secondsSavedPerHit;
}

/** The largest k (≤ limit) whose k-th runner's saving pays its hour. */
function runnersThatPay(
  hot: HotConfig,
  pastPeaks: readonly number[],
  hourlyUsd: number,
  limit: number,
): number {
  const model = hot.costModel;
  if (model === undefined) return limit;
  const refill = refillSeconds(hot);
  let k = 0;
  while (
    k < limit &&
    expectedSecondsSaved(k + 1, pastPeaks, model, refill) * model.valuePerWaitSecondUsd >= hourlyUsd
  )
    k++;
  return k;
}

/**
 * One hot runner's running hour: the pool's first instance type at the price of the tier's first fill
 * source (a pool instance is on-demand; spot at the spot share), plus its volume.
 */
export function hotRunnerHourlyUsd(pool: PoolConfig): number {
  const type = pool.instanceTypes[0] ?? '';
  const market = (pool.hot?.fill[0] ?? 'pool') === 'spot' ? 'spot' : 'on-demand';
  return hourlyPrice(type, market).usd + ebsUsdPerSecond(pool.volumeSizeGb) * 3600;
}

/** This hour of week's peak in each of the last `weeks` past weeks that observed it. */
export function pastPeaks(history: DemandHistory, now: number, weeks: number): number[] {
  const { week, hour } = hourOfWeek(now, history.timeZone);
  return history.weeks
    .filter((w) => w.week < week && w.week >= week - weeks)
    .map((w) => w.peaks[hour])
    .filter((v): v is number => typeof v === 'number');
}

/** The UTC day an instant falls in, `YYYY-MM-DD`, for the daily budget. */
export function budgetDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}
