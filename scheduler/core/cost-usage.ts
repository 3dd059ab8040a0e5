/**
 * Usage capture for cost attribution: what an instance ran, booked once, when it ends.
 *
 * An instance's whole life is read off its record at the moment the control plane moves it to
 * `terminated` (recycled after its job, retired, or seen terminated from outside). Only the writer that
 * won that conditional transition books it, so a repeated or reordered event never books twice.
 *
 *   pool instance      launch ─warm-up─▶ ready ─stopped (volume only)─▶ start ─run─▶ end
 *   ephemeral instance launch ──────────────────run──────────────────────────────▶ end
 *   hot runner         … start ─boot + idle (hot tier)─▶ job taken ─job─▶ end
 *
 * What goes where:
 * - the run that served a job → the job record (`usage`: billed seconds, market, type, pool, source);
 * - the warm-up of a pool instance that served a job → the pool's `warmup` overhead;
 * - a hot runner's boot and idle time before it took a job (or until retired) → `hot-idle`;
 * - a stopped pool instance's wait, in volume-seconds → `storage` (priced per GB at report time);
 * - everything an instance ran that served no job (a warm-up never used, a runner released) → `unused`;
 * - a job run whose job record is gone → `unattributed` (still the pool's, shared like the rest).
 * Overhead goes to a per-day counter (one item per UTC day, DynamoDB `ADD`), the job's run onto its record.
 *
 * Billing follows EC2 for Linux: per second, at least a minute per start. A start's minimum is
 * charged to whatever the start served (the job, or the hot tier while idle).
 *
 * Gotchas: usage is booked on the UTC day the instance ends, so a pool instance that waited stopped
 * for days books its warm-up and storage that day. A record without `readyAt` (from before it was kept)
 * has an unknown warm-up: its warm-up and storage are left out rather than guessed.
 */
import type { CoreDeps } from './deps.js';
import { minimumBilledSeconds } from './prices.js';
import type { InstanceRecord, JobRecord, RunnerSource } from './types.js';

/** The three ways a job's runner is paid for: a stopped-pool (on-demand) instance, spot, on-demand. */
export type CostMarket = 'pool' | 'spot' | 'on-demand';

export const costMarkets: readonly CostMarket[] = ['pool', 'spot', 'on-demand'];

export type OverheadCategory = 'warmup' | 'hot-idle' | 'storage' | 'unused' | 'unattributed';

export const overheadCategories: readonly OverheadCategory[] = [
  'warmup',
  'hot-idle',
  'storage',
  'unused',
  'unattributed',
];

/** What a job's own run cost in instance time, recorded on the job when its instance ends. */
export interface JobUsage {
  readonly instanceId: string;
  readonly pool: string;
  readonly market: CostMarket;
  readonly instanceType: string;
  /** Where the job's runner came from, when the job record knew it (`pool`, `spot`, …). */
  readonly source?: RunnerSource;
  /** Billed instance seconds of the job's run (EC2's one-minute minimum applied). */
  readonly seconds: number;
  readonly endedAt: number;
}

/**
 * One line of a pool's daily overhead: instance-seconds of `instanceType` on `market`, or for
 * `storage` volume-seconds of a stopped pool instance (the volume size comes from the pool config).
 */
export interface OverheadUsage {
  readonly pool: string;
  readonly category: OverheadCategory;
  readonly market: CostMarket;
  readonly instanceType: string;
  readonly seconds: number;
}

export interface InstanceUsage {
  /** The served job's run, when the instance served one. */
  readonly job?: { readonly jobId: number; readonly usage: JobUsage };
  readonly overhead: readonly OverheadUsage[];
}

export function costMarketOf(instance: Pick<InstanceRecord, 'role' | 'market'>): CostMarket {
  return instance.role === 'pool' ? 'pool' : instance.market;
}

/** The UTC day of an epoch-ms time, `YYYY-MM-DD`: the unit reports are made in. */
export function usageDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** [start, end) of a UTC day `YYYY-MM-DD` in epoch ms; throws on anything else. */
export function dayBounds(day: string): { readonly from: number; readonly to: number } {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const from =
    match === null ? Number.NaN : Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (!Number.isFinite(from) || usageDay(from) !== day)
    throw new RangeError(`"${day}" is not a day (expected YYYY-MM-DD, e.g. 2026-03-31)`);
  return { from, to: from + 86_400_000 };
}

function secondsBetween(from: number | undefined, to: number | undefined): number {
  if (from === undefined || to === undefined) return 0;
  return Math.max(0, Math.round((to - from) / 1000));
}

/** A start billed as EC2 bills Linux: per second, one minute at least. */
function billed(seconds: number): number {
  return Math.max(minimumBilledSeconds, seconds);
}

/**
 * What an instance ending at `endedAt` ran, split into the served job's run and its pool's overhead.
 * `job` is the record of the job it served, if known and still kept.
 */
export function instanceUsage(
  instance: InstanceRecord,
  endedAt: number,
  job: Pick<JobRecord, 'id' | 'source' | 'phases'> | undefined,
  servedJobId: number | undefined,
): InstanceUsage {
  const market = costMarketOf(instance);
  const overhead: OverheadUsage[] = [];
  const add = (category: OverheadCategory, seconds: number) => {
    if (seconds > 0)
      overhead.push({ pool: instance.pool, category, market, instanceType: instance.instanceType, seconds });
  };
  const served = servedJobId !== undefined;

  // The boot that served (or would have served) a job: a pool instance's start, an ephemeral's launch.
  // A runner can take its job before its start is recorded on the instance (claimed → busy): the
  // job's own phases then tell when the start was issued, or at the latest when the job was taken.
  const runStart =
    instance.role === 'pool'
      ? (instance.startIssuedAt ??
        (served
          ? (job?.phases.startIssuedAt ??
            job?.phases.claimedAt ??
            instance.jobStartedAt ??
            job?.phases.inProgressAt)
          : undefined))
      : instance.launchedAt;
  if (instance.role === 'pool') {
    const warmEnd = instance.readyAt;
    if (warmEnd !== undefined) {
      add(served ? 'warmup' : 'unused', billed(secondsBetween(instance.launchedAt, warmEnd)));
      add('storage', secondsBetween(warmEnd, Math.min(runStart ?? endedAt, endedAt)));
    } else if (runStart === undefined) {
      // Never became ready nor started: a warm-up that failed or was cut short, all of it unused.
      add('unused', billed(secondsBetween(instance.launchedAt, endedAt)));
    }
  }

  if (runStart === undefined) return { overhead };
  const run = billed(secondsBetween(runStart, endedAt));
  const hot = instance.idleAt !== undefined || instance.tier === 'hot';
  if (!served) {
    add(hot ? 'hot-idle' : 'unused', run);
    return { overhead };
  }
  // A hot runner waited for any job: from its start until the job was taken is the tier's cost.
  const takenAt = instance.jobStartedAt ?? job?.phases.inProgressAt;
  const idle = hot ? Math.min(run, secondsBetween(runStart, takenAt)) : 0;
  add('hot-idle', idle);
  const jobSeconds = run - idle;
  if (job === undefined) {
    add('unattributed', jobSeconds);
    return { overhead };
  }
  return {
    job: {
      jobId: job.id,
      usage: {
        instanceId: instance.id,
        pool: instance.pool,
        market,
        instanceType: instance.instanceType,
        ...(job.source !== undefined && { source: job.source }),
        seconds: jobSeconds,
        endedAt,
      },
    },
    overhead,
  };
}

/**
 * Books what `instance` ran, now that it has ended: the job's run onto its record, the rest onto the
 * pool's counter for the day. Called only by the writer whose transition to `terminated` succeeded.
 * Best effort: the instance is already gone, so a store fault here is counted (`UsageBookingFailures`)
 * rather than thrown at a caller that could not book it again anyway.
 */
export async function bookInstanceUsage(
  deps: Pick<CoreDeps, 'store' | 'clock' | 'metrics'>,
  instance: InstanceRecord,
  endedAt: number,
  servedJobId?: number,
): Promise<void> {
  try {
    const jobId = instance.servingJob ?? servedJobId;
    let job = jobId === undefined ? undefined : await deps.store.getJob(jobId);
    const usage = instanceUsage(instance, endedAt, job, jobId);
    const overhead = [...usage.overhead];
    if (usage.job !== undefined) {
      let written = false;
      // The webhook may be writing the same job (its `completed`): retry the lost write on a fresh read.
      for (let attempt = 0; attempt < 3 && job !== undefined && !written; attempt++) {
        if (job.usage !== undefined) {
          written = true; // booked already (the same run, from an earlier attempt that lost its answer)
          break;
        }
        const result = await deps.store.updateJob({
          id: job.id,
          expectedVersion: job.version,
          // Kept as it was: a completed job stays on the day its completion was recorded.
          patch: { usage: usage.job.usage, updatedAt: job.updatedAt },
        });
        if (result.kind === 'ok') written = true;
        else if (result.kind === 'not-found') break;
        else job = await deps.store.getJob(job.id);
      }
      if (!written)
        overhead.push({
          pool: instance.pool,
          category: 'unattributed',
          market: usage.job.usage.market,
          instanceType: instance.instanceType,
          seconds: usage.job.usage.seconds,
        });
    }
    if (overhead.length > 0) await deps.store.addUsage(usageDay(endedAt), overhead);
  } catch {
    deps.metrics.count('UsageBookingFailures', 1, { Pool: instance.pool });
  }
}

/**
 * Checks a day and its usage lines and sums lines with the same (pool, category, market, type), in a
 * stable order. A bad day or line is an error and nothing is written.
 */
export function mergeUsage(day: string, lines: readonly OverheadUsage[]): OverheadUsage[] {
  dayBounds(day);
  const merged = new Map<string, OverheadUsage>();
  for (const line of lines) {
    if (!Number.isSafeInteger(line.seconds) || line.seconds < 0)
      throw new RangeError(`usage seconds must be a whole number ≥ 0 (given ${line.seconds})`);
    if (!overheadCategories.includes(line.category))
      throw new RangeError(`unknown usage category "${line.category}"`);
    if (!costMarkets.includes(line.market)) throw new RangeError(`unknown market "${line.market}"`);
    for (const [field, value] of [
      ['pool', line.pool],
      ['instanceType', line.instanceType],
    ] as const)
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(value))
        throw new RangeError(`usage ${field} "${value}" must be 1–64 letters, digits, ".", "_" or "-"`);
    const key = [line.pool, line.category, line.market, line.instanceType].join('|');
    const seen = merged.get(key);
    merged.set(key, { ...line, seconds: (seen?.seconds ?? 0) + line.seconds });
  }
  return [...merged.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, line]) => line)
    .filter((line) => line.seconds > 0);
}
