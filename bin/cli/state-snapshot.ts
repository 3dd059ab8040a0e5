/**
 * What `runners status` shows and the sandbox's GET /api/state starts from: pools against their
 * target, live instances and jobs, read through the PoolStore port (the same adapters as production,
 * so the CLI reads a deployed table exactly as the sandbox reads dynalite) and the pool config.
 *
 * Gotcha: GitHub binds runners to labels, not jobs, so an instance's job is the one its runner took
 * (`servingJob`) once known, and until then the one it was provided for.
 */

import { hotRunnerHourlyUsd } from '../../scheduler/core/hot-sizing.js';
import { currentHotTarget, hotMarker, isUntaken, parseHotRecord } from '../../scheduler/core/hot-tier.js';
import { type JobState, jobStates } from '../../scheduler/core/lifecycle.js';
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import { poolTarget } from '../../scheduler/core/schedule.js';
import type { InstanceRecord, JobPhases, JobRecord, QuotaWait, Tier } from '../../scheduler/core/types.js';
import type { PoolStore } from '../../scheduler/ports/pool-store.js';

export interface PoolSummary {
  readonly name: string;
  readonly labels: readonly string[];
  readonly architecture: string;
  readonly instanceTypes: readonly string[];
  readonly maximum: number;
  /** The size the schedule asks for now. */
  readonly target: number;
  /** Stopped, warmed and claimable. */
  readonly ready: number;
  /** Launching or warming up. */
  readonly warming: number;
  /** Pool instances claimed, starting or running a job. */
  readonly busy: number;
  /** Live spot or on-demand fallback launches serving this pool's jobs. */
  readonly fallback: number;
  /** Recycling after a job, or retiring. */
  readonly draining: number;
  /** The hot tier, for a pool that keeps one. */
  readonly hot?: HotSummary;
}

/** A pool's hot tier: registered idle runners against their target, what they served, what they cost. */
export interface HotSummary {
  /** The target now (the tuner's, clamped to the windows open now). */
  readonly target: number;
  /** Online, registered, waiting for any matching job. */
  readonly idle: number;
  /** Started for the tier, not yet online. */
  readonly starting: number;
  /** Started for the tier and now running a job. */
  readonly busy: number;
  /** Jobs of the snapshot picked up by each tier (the runner that took them). */
  readonly hits: Readonly<Record<Tier, number>>;
  /** What the tier's idle and starting runners cost a day at this size, USD. */
  readonly usdPerDay: number;
  /** What the tier has cost today so far (UTC day, as the tuner accrues it), USD. */
  readonly spentTodayUsd?: number;
}

export interface InstanceSummary {
  readonly id: string;
  readonly pool: string;
  readonly state: InstanceRecord['state'];
  readonly role: InstanceRecord['role'];
  readonly market: InstanceRecord['market'];
  readonly instanceType: string;
  readonly availabilityZone: string;
  /** The job its runner took, or else the job it was provided for. */
  readonly jobId?: number;
  /** `hot`: started for the pool's hot tier. */
  readonly tier?: 'hot';
  readonly launchedAt: number;
  readonly stateChangedAt: number;
}

export const latencyPhases = [
  'delivery',
  'claim',
  'start',
  'boot',
  'pickup',
  'queuedToRunning',
  'run',
] as const;
export type LatencyPhase = (typeof latencyPhases)[number];

/** Each phase as the interval between two recorded instants. */
const phaseBounds: Readonly<Record<LatencyPhase, readonly [keyof JobPhases, keyof JobPhases]>> = {
  delivery: ['createdAt', 'receivedAt'],
  claim: ['receivedAt', 'claimedAt'],
  start: ['claimedAt', 'startIssuedAt'],
  boot: ['startIssuedAt', 'instanceRunningAt'],
  pickup: ['instanceRunningAt', 'inProgressAt'],
  queuedToRunning: ['createdAt', 'inProgressAt'],
  run: ['inProgressAt', 'completedAt'],
};

export interface JobSummary {
  readonly id: number;
  readonly runId: number;
  readonly repository: string;
  readonly labels: readonly string[];
  readonly pool?: string;
  readonly state: JobState;
  readonly source?: string;
  /** The tier of the runner that took it: hot, warm or cold. */
  readonly pickupTier?: Tier;
  readonly instanceId?: string;
  readonly conclusion?: string;
  readonly phases: JobPhases;
  /** Milliseconds per phase, where both ends are recorded. */
  readonly latency: Partial<Record<LatencyPhase, number>>;
  readonly attempts: number;
  readonly reprovisions: number;
  readonly updatedAt: number;
  /** The quota the job waits on (it stays queued until its repository or organization frees a unit). */
  readonly quotaWait?: QuotaWait;
}

/** Jobs waiting on one quota of one repository or organization in a pool. */
export interface QuotaWaitSummary {
  readonly pool: string;
  readonly quota: QuotaWait['quota'];
  /** `owner/name` or `owner`. */
  readonly subject: string;
  readonly limit: number;
  /** Held when the latest of them was refused. */
  readonly held: number;
  readonly jobs: number;
  /** When the longest-waiting of them started waiting (epoch ms). */
  readonly oldestSince: number;
}

export interface ControlPlaneSnapshot {
  /** When the snapshot was read, by the control plane's clock (epoch ms). */
  readonly now: number;
  readonly pools: PoolSummary[];
  readonly instances: InstanceSummary[];
  /** Most recently updated first. */
  readonly jobs: JobSummary[];
  readonly jobCounts: Record<JobState, number>;
  /** Queued jobs held back by a quota, grouped by pool, quota and subject; longest waiting first. */
  readonly waitingOnQuota: QuotaWaitSummary[];
}

export interface SnapshotOptions {
  /** Job states to read; all by default. A deployed table keeps completed jobs for days. */
  readonly jobStates?: readonly JobState[];
}

export async function readSnapshot(
  store: PoolStore,
  config: PoolsConfig,
  now: number,
  options: SnapshotOptions = {},
): Promise<ControlPlaneSnapshot> {
  const states = options.jobStates ?? jobStates;
  const [instances, jobLists] = await Promise.all([
    store.listLiveInstances(),
    Promise.all(states.map((state) => store.listJobs(state))),
  ]);
  const jobs = jobLists.flat().sort((a, b) => b.updatedAt - a.updatedAt || b.id - a.id);
  const jobCounts = Object.fromEntries(jobStates.map((s) => [s, 0])) as Record<JobState, number>;
  for (const job of jobs) jobCounts[job.state]++;
  const hotRecords = new Map(
    await Promise.all(
      config.pools
        .filter((p) => p.hot !== undefined)
        .map(async (p) => [p.name, await store.getMarker(hotMarker(p.name))] as const),
    ),
  );
  return {
    now,
    pools: summarizePools(config, instances, now, { jobs, hotRecords }),
    instances: instances
      .map(summarizeInstance)
      .sort(
        (a, b) => a.pool.localeCompare(b.pool) || a.launchedAt - b.launchedAt || a.id.localeCompare(b.id),
      ),
    jobs: jobs.map(summarizeJob),
    jobCounts,
    waitingOnQuota: summarizeQuotaWaits(jobs),
  };
}

export function summarizeQuotaWaits(jobs: readonly JobRecord[]): QuotaWaitSummary[] {
  const groups = new Map<string, QuotaWaitSummary>();
  for (const job of jobs) {
    const wait = job.quotaWait;
    if (wait === undefined || job.state !== 'queued' || job.pool === undefined) continue;
    const key = `${job.pool}|${wait.quota}|${wait.subject.toLowerCase()}`;
    const seen = groups.get(key);
    groups.set(key, {
      pool: job.pool,
      quota: wait.quota,
      subject: wait.subject,
      limit: wait.limit,
      held: seen === undefined || wait.since >= seen.oldestSince ? wait.held : seen.held,
      jobs: (seen?.jobs ?? 0) + 1,
      oldestSince: Math.min(seen?.oldestSince ?? wait.since, wait.since),
    });
  }
  return [...groups.values()].sort((a, b) => a.oldestSince - b.oldestSince);
}

export function summarizePools(
  config: PoolsConfig,
  instances: readonly InstanceRecord[],
  now: number,
  extra: {
    readonly jobs?: readonly JobRecord[];
    /** The tuner's hot-tier marker per pool (text as stored). */
    readonly hotRecords?: ReadonlyMap<string, string | undefined>;
  } = {},
): PoolSummary[] {
  return config.pools.map((pool) => {
    const mine = instances.filter((i) => i.pool === pool.name && i.state !== 'terminated');
    const count = (role: InstanceRecord['role'], ...states: InstanceRecord['state'][]) =>
      mine.filter((i) => i.role === role && states.includes(i.state)).length;
    return {
      name: pool.name,
      labels: pool.labels,
      architecture: pool.architecture,
      instanceTypes: pool.instanceTypes,
      maximum: pool.maximum,
      target: poolTarget(pool, now),
      ready: count('pool', 'ready'),
      warming: count('pool', 'launching', 'warming'),
      busy: count('pool', 'claimed', 'starting', 'busy'),
      fallback: mine.filter((i) => i.role === 'ephemeral' && !['recycling', 'retiring'].includes(i.state))
        .length,
      draining: mine.filter((i) => ['recycling', 'retiring'].includes(i.state)).length,
      ...(pool.hot !== undefined && { hot: summarizeHot(pool, mine, now, extra) }),
    };
  });
}

function summarizeHot(
  pool: PoolsConfig['pools'][number],
  mine: readonly InstanceRecord[],
  now: number,
  extra: {
    readonly jobs?: readonly JobRecord[];
    readonly hotRecords?: ReadonlyMap<string, string | undefined>;
  },
): HotSummary {
  const record = parseHotRecord(extra.hotRecords?.get(pool.name));
  const hot = mine.filter((i) => i.tier === 'hot');
  const idle = mine.filter((i) => i.state === 'idle').length;
  const starting = hot.filter((i) => isUntaken(i) && i.state !== 'idle').length;
  const hits: Record<Tier, number> = { hot: 0, warm: 0, cold: 0 };
  for (const job of extra.jobs ?? []) if (job.pool === pool.name && job.pickupTier) hits[job.pickupTier]++;
  return {
    target: currentHotTarget(pool, now, record),
    idle,
    starting,
    busy: hot.filter((i) => i.state === 'busy' || i.state === 'recycling').length,
    hits,
    usdPerDay: Math.round((idle + starting) * hotRunnerHourlyUsd(pool) * 24 * 100) / 100,
    ...(record !== undefined && { spentTodayUsd: Math.round(record.spentUsd * 1000) / 1000 }),
  };
}

function summarizeInstance(i: InstanceRecord): InstanceSummary {
  const jobId = i.servingJob ?? i.provisionedFor;
  return {
    id: i.id,
    pool: i.pool,
    state: i.state,
    role: i.role,
    market: i.market,
    instanceType: i.instanceType,
    availabilityZone: i.availabilityZone,
    ...(jobId !== undefined && { jobId }),
    ...(i.tier !== undefined && { tier: i.tier }),
    launchedAt: i.launchedAt,
    stateChangedAt: i.stateChangedAt,
  };
}

export function jobLatency(phases: JobPhases): Partial<Record<LatencyPhase, number>> {
  const latency: Partial<Record<LatencyPhase, number>> = {};
  for (const phase of latencyPhases) {
    const [from, to] = phaseBounds[phase];
    const start = phases[from];
    const end = phases[to];
    // A runner provided for another job can take this one before its own instance is recorded
    // running: such an interval is not this job's, and is left out rather than shown negative.
    if (start !== undefined && end !== undefined && end >= start) latency[phase] = end - start;
  }
  return latency;
}

function summarizeJob(job: JobRecord): JobSummary {
  return {
    id: job.id,
    runId: job.runId,
    repository: `${job.repository.owner}/${job.repository.name}`,
    labels: job.labels,
    ...(job.pool !== undefined && { pool: job.pool }),
    state: job.state,
    ...(job.source !== undefined && { source: job.source }),
    ...(job.pickupTier !== undefined && { pickupTier: job.pickupTier }),
    ...(job.instanceId !== undefined && { instanceId: job.instanceId }),
    ...(job.conclusion !== undefined && { conclusion: job.conclusion }),
    phases: job.phases,
    latency: jobLatency(job.phases),
    attempts: job.attempts.length,
    reprovisions: job.reprovisions,
    updatedAt: job.updatedAt,
    ...(job.quotaWait !== undefined && job.state === 'queued' && { quotaWait: job.quotaWait }),
  };
}

export interface Percentiles {
  readonly count: number;
  readonly p50?: number;
  readonly p95?: number;
  readonly max?: number;
}

/** Nearest-rank percentiles, so every figure is one that was measured. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
  return { count: sorted.length, p50: rank(0.5), p95: rank(0.95), max: sorted[sorted.length - 1] as number };
}

export function phasePercentiles(jobs: readonly JobSummary[]): Record<LatencyPhase, Percentiles> {
  return Object.fromEntries(
    latencyPhases.map((phase) => [
      phase,
      percentiles(jobs.flatMap((j) => (j.latency[phase] === undefined ? [] : [j.latency[phase]]))),
    ]),
  ) as Record<LatencyPhase, Percentiles>;
}
