/**
 * What the figures depend on, run on the same trace and seed:
 *
 *   pending → running   the largest uncertainty on every EC2 path (REFERENCE: 4.9 s, daemonology.net,
 *                       against 16.4–16.6 s, brevdev): every core-driven policy and the running pool
 *                       rerun with the step's median at each value
 *   cold-disk penalty   a marked assumption: re-priced after the run over a range (report.ts)
 *   equal latency       the running idle pool sized down (or up) until its p95 matches a policy's, so
 *                       that cost is compared at the same p95 rather than at the same schedule
 */
import type { PolicyRun } from './outcome.js';
import { lognormal } from './random.js';
import type { Timings } from './reference-timings.js';
import { summarise } from './report.js';

/** pending → running around a median, with the spread the reference model gives the 5 s one. */
export function pendingToRunningAt(medianS: number): Timings['pendingToRunning'] {
  return lognormal(medianS, 0.4, { min: medianS * 0.4, max: medianS * 3.6 });
}

export interface SweepPoint {
  readonly p50S: number;
  readonly p95S: number;
  readonly costPerJob: number;
  readonly overWorkP95S: number;
}

export interface PendingSweep {
  readonly medianS: number;
  readonly policies: Readonly<Record<string, SweepPoint>>;
}

export function sweepPoint(run: PolicyRun): SweepPoint {
  const s = summarise(run, '');
  return { p50S: s.p50S, p95S: s.p95S, costPerJob: s.costPerJob, overWorkP95S: s.completed.overWorkP95S };
}

export interface RunningAtP95 {
  /** The running pool's schedule sizes times this. */
  readonly scale: number;
  readonly daySize: number;
  readonly p95S: number;
  readonly p50S: number;
  readonly costPerJob: number;
  /** Whether a size reached the wanted p95 (else the largest tried is reported). */
  readonly reached: boolean;
}

/**
 * The smallest running idle pool (as a scale of the static schedule, sizes rounded to whole runners)
 * whose p95 is at or under `p95S`: a bisection over the scale, each step a run of the running-pool
 * model (fast: no core behind it). Its p95 falls as it grows, if not strictly (seeded draws), so the
 * answer is the smallest size found that meets it.
 */
export async function runningPoolAtP95(
  p95S: number,
  daySize: number,
  run: (scale: number) => Promise<PolicyRun>,
  options: { maxScale?: number; steps?: number } = {},
): Promise<RunningAtP95> {
  const point = async (scale: number) => {
    const s = summarise(await run(scale), '');
    return {
      scale,
      daySize: Math.round(daySize * scale),
      p95S: s.p95S,
      p50S: s.p50S,
      costPerJob: s.costPerJob,
    };
  };
  let low = 0;
  let high = options.maxScale ?? 2;
  let best = await point(high);
  if (best.p95S > p95S) return { ...best, reached: false };
  for (
    let i = 0;
    i < (options.steps ?? 10) && Math.round(daySize * high) - Math.round(daySize * low) > 1;
    i++
  ) {
    const mid = (low + high) / 2;
    const p = await point(mid);
    if (p.p95S <= p95S) {
      high = mid;
      best = p;
    } else low = mid;
  }
  return { ...best, reached: true };
}
