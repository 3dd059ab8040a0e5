/**
 * The hot tier: per pool, a target number of instances RUNNING with a registered, idle ephemeral JIT
 * runner, so that GitHub hands a queued job to one of them at once, with no webhook on the path.
 *
 * Lifecycle of a hot runner (lifecycle.ts): claimed (from the stopped pool) or launched (spot,
 * on-demand) with `tier: 'hot'` → starting → idle (its instance runs; the runner registers) → busy
 * (a job took it) → recycling → terminated. Each runs one job only, like every runner here.
 *
 * Accounting is by count per pool (a pool is a label set; GitHub hands any matching runner any
 * matching job): runners untaken (claimed, starting, idle; no job taken) ≥ jobs waiting (queued or
 * provided, minus the ones already taken by runners whose `in_progress` has not arrived) + hot target.
 * The tuner, the reconciler and an interruption restore that balance by count. A job's own events
 * cause exactly one start between them (see `pairStart`): its `queued`, and the runner it took (the
 * agent's job-started tag or `in_progress`), whichever comes first, in any order, duplicated or racing;
 * the count only decides whether that start is needed at all (the pool may hold a surplus) and where
 * it comes from (a refill of the tier when a hot runner is idle, else the job's own runner).
 *
 * The target for now is written by the tuner (marker `hot#<pool>`, with the day's spend) from the cost
 * model in hot-sizing.ts, and read by the event paths clamped to the windows open now, so that a
 * window closing drains at once even when the tuner's last run is a minute old.
 *
 * Gotchas: repository-scoped runners have no hot tier (a hot runner would have to guess the
 * repository); a surplus idle runner is released by deregistering it first (GitHub refuses with 422
 * while it runs a job, and then it is busy, not surplus).
 */
import { type CoreDeps, hotOwner } from './deps.js';
import { demandMarker, demandTimeZone, parseHistory } from './forecast.js';
import { budgetDay, type HotSizing, pastPeaks, sizeHotTier } from './hot-sizing.js';
import { hotIdleStates, untakenRunnerStates } from './lifecycle.js';
import type { PoolConfig, PoolsConfig } from './pool-config.js';
import { type ProvisionOutcome, provisionHotRunner } from './provision.js';
import { releaseUnusedRunner } from './recycle.js';
import type { InstanceRecord, JobRecord, RunnerSource, Tier } from './types.js';

/** How long the tuner's target stays authoritative for the event paths. */
export const hotTargetFreshMs = 10 * 60_000;
/** Spend is accrued per tuner run; a longer gap (the tuner was down) is not billed to the budget. */
const maxAccrualMs = 10 * 60_000;

export function hotMarker(pool: string): string {
  return `hot#${pool}`;
}

/** What the tuner keeps per pool between runs (marker `hot#<pool>`). */
export interface HotTierRecord {
  readonly target: number;
  /** Epoch ms of the run that wrote it. */
  readonly at: number;
  /** UTC day the spend is for. */
  readonly day: string;
  readonly spentUsd: number;
  readonly budgetCap?: number;
}

export function parseHotRecord(text: string | undefined): HotTierRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const d = JSON.parse(text) as Partial<HotTierRecord> | null;
    if (
      d === null ||
      typeof d.target !== 'number' ||
      typeof d.at !== 'number' ||
      typeof d.day !== 'string' ||
      typeof d.spentUsd !== 'number'
    )
      return undefined;
    return {
      target: d.target,
      at: d.at,
      day: d.day,
      spentUsd: d.spentUsd,
      ...(typeof d.budgetCap === 'number' && { budgetCap: d.budgetCap }),
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether the pool keeps a hot tier under these runner settings: its runners need an organization to
 * register with before any job exists (the pool's `hot.organization`, or the deployment's only one).
 */
export function hasHotTier(deps: Pick<CoreDeps, 'runners'>, pool: PoolConfig): boolean {
  return hotOwner(deps.runners, pool)?.scope === 'org';
}

/**
 * Whether a job is one the pool's hot runners can take: they are registered with one organization, so
 * a job of another owner is served by the plain ladder (and does not count against the tier).
 */
export function servedByHotTier(deps: Pick<CoreDeps, 'runners'>, pool: PoolConfig, job: JobRecord): boolean {
  const owner = hotOwner(deps.runners, pool);
  return owner?.scope === 'org' && sameOwner(owner.owner, job.repository.owner);
}

/** Whether a runner of the pool is one of its hot organization's (the only ones the tier pairs). */
export function hotTierRunner(deps: Pick<CoreDeps, 'runners'>, pool: PoolConfig, instance: InstanceRecord) {
  const owner = hotOwner(deps.runners, pool);
  if (owner?.scope !== 'org') return false;
  return deps.runners.owners.length <= 1 || sameOwner(owner.owner, instance.runnerFor?.owner);
}

function sameOwner(a: string, b: string | undefined): boolean {
  return b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/**
 * The hot target now, as the event paths use it: the tuner's last target, clamped to the windows open
 * now (a window that closed since gives its outside size at once). Without a fresh tuner record, the
 * windows alone decide (the cost model needs the history the tuner reads).
 */
export function currentHotTarget(pool: PoolConfig, now: number, record: HotTierRecord | undefined): number {
  if (pool.hot === undefined) return 0;
  const bounds = sizeHotTier({ pool, now, pastPeaks: [], spentTodayUsd: 0 });
  const fresh = record !== undefined && now - record.at <= hotTargetFreshMs && now >= record.at;
  if (!fresh) return Math.min(bounds.min, pool.hot.maximum);
  const budget = record.budgetCap ?? Number.POSITIVE_INFINITY;
  return Math.max(0, Math.min(Math.max(record.target, bounds.min), bounds.max, pool.hot.maximum, budget));
}

export async function readHotTarget(deps: CoreDeps, pool: PoolConfig): Promise<number> {
  if (!hasHotTier(deps, pool)) return 0;
  return currentHotTarget(
    pool,
    deps.clock.now(),
    parseHotRecord(await deps.store.getMarker(hotMarker(pool.name))),
  );
}

/** The balance of one pool's runners against its jobs, by count. */
export interface RunnerBalance {
  readonly pool: string;
  /** Runners online or on their way that no job has taken. */
  readonly untaken: readonly InstanceRecord[];
  /** Jobs queued or provided a runner, not yet running. */
  readonly waiting: number;
  /** Runners that took a job we cannot name yet (the agent's tag came before `in_progress`). */
  readonly takenUnknown: number;
  readonly hotTarget: number;
  /** Runners to start now. */
  readonly deficit: number;
  /** Untaken runners beyond what waiting jobs and the hot target need. */
  readonly surplus: number;
}

/** Untaken: in an untaken state, with no job on it by the store's account or the instance's own. */
export function isUntaken(instance: InstanceRecord): boolean {
  return (
    untakenRunnerStates.includes(instance.state) &&
    instance.servingJob === undefined &&
    instance.jobStartedAt === undefined
  );
}

export function balanceRunners(
  pool: PoolConfig,
  instances: readonly InstanceRecord[],
  jobs: readonly JobRecord[],
  hotTarget: number,
  owner?: string,
): RunnerBalance {
  // Several owners: only runners registered with the hot organization can take its jobs, and only its
  // jobs can take them; the other owners' runners and jobs are matched one to one by the ladder.
  const ours = (o: string | undefined) => owner === undefined || sameOwner(owner, o);
  const mine = instances.filter((i) => i.pool === pool.name && ours(i.runnerFor?.owner));
  const untaken = mine.filter(isUntaken);
  const takenUnknown = mine.filter(
    (i) => i.state === 'busy' && i.servingJob === undefined && i.jobStartedAt !== undefined,
  ).length;
  const waiting = jobs.filter(
    (j) =>
      j.pool === pool.name && (j.state === 'queued' || j.state === 'provisioned') && ours(j.repository.owner),
  ).length;
  const needed = Math.max(0, waiting - takenUnknown) + hotTarget;
  return {
    pool: pool.name,
    untaken,
    waiting,
    takenUnknown,
    hotTarget,
    deficit: Math.max(0, needed - untaken.length),
    surplus: Math.max(0, untaken.length - needed),
  };
}

/**
 * The pool's balance as the store shows it. The waiting jobs are read from the pool's own view, and
 * with `deficitUpTo` no more of them than can change the answer: a pool with untaken + taken-unknown +
 * n waiting jobs is short of at least n whatever the rest of the backlog holds, so an event's reads
 * stay bounded by the pool's runners, not by the backlog (`deficit` is then exact up to `deficitUpTo`).
 * Without it (the tuner) every waiting job is read and `waiting` is exact too.
 */
export async function readBalance(
  deps: CoreDeps,
  pool: PoolConfig,
  hotTarget?: number,
  options: { readonly deficitUpTo?: number } = {},
): Promise<RunnerBalance> {
  const [instances, target] = await Promise.all([
    deps.store.listPoolInstances(pool.name),
    hotTarget === undefined ? readHotTarget(deps, pool) : Promise.resolve(hotTarget),
  ]);
  // One owner: every runner and job of the pool is that owner's (records from before owners were kept
  // carry none), so nothing is filtered. A job waiting on a quota needs no runner yet: starting one for
  // it would serve it past its quota.
  const owner = deps.runners.owners.length > 1 ? hotOwner(deps.runners, pool)?.owner : undefined;
  // Other owners' jobs are filtered out after the read, so a bounded read would undercount: read all.
  const enough =
    options.deficitUpTo === undefined || owner !== undefined
      ? undefined
      : balanceRunners(pool, instances, [], 0).untaken.length +
        takenUnknownOf(pool, instances) +
        Math.max(1, options.deficitUpTo);
  const waiting = (await deps.store.listWaitingJobs(pool.name, enough)).filter(
    (j) => j.quotaWait === undefined,
  );
  return balanceRunners(pool, instances, waiting, target, owner);
}

/** Runners the instance itself reported taken (job-started tag) whose job no `in_progress` named yet. */
export function takenUnknownOf(pool: PoolConfig, instances: readonly InstanceRecord[]): number {
  return instances.filter(
    (i) =>
      i.pool === pool.name &&
      i.state === 'busy' &&
      i.servingJob === undefined &&
      i.jobStartedAt !== undefined,
  ).length;
}

/** The counter that pairs the two halves of every job of a hot-tier pool (see `pairStart`). */
export function hotPairsCounter(pool: string): string {
  return `hot-pairs#${pool}`;
}

/** A job's half of its start (`queued`), or the runner's (the tag or `in_progress` that took it). */
export type PairSide = 'job' | 'runner';

/**
 * Every job of a pool with a hot tier causes exactly one start, but two events can each be the first
 * news of it: the job's `queued` (the job's half) and the runner it took (the runner's half: the
 * agent's job-started tag or `in_progress`, whichever moved that runner to busy). The first of the two
 * starts a runner, the second must not. They cannot be paired by identity — the tag does not name the
 * job, `queued` does not name the runner — but runners are fungible, so they are paired by count: one
 * atomic counter per pool, +1 per job half and −1 per runner half. An add that moves the counter
 * toward zero found a partner waiting on the other side: `second`, no start.
 *
 *   t0 queued J reads the tier: H idle · t1 the tag marks H busy, adds −1 → −1: first, refills
 *   t2 queued J adds +1 → 0: second, starts nothing            (in either order: exactly one start)
 *
 * Duplicates never reach the counter: a job's half is added by the event that first recorded the job
 * as waiting (or by an `in_progress` that recorded it first: both halves at once, no add), a runner's
 * half by the conditional write that moved the runner from untaken to busy. A job cancelled before any
 * runner took it will never have a runner's half: its `completed` (the write that moved it from waiting
 * to completed, once) adds one in the runner's place, starting nothing (`withdrawCancelledJob`).
 * Without it such halves pile up over a day of superseded pushes, every later take pairs with one and
 * starts nothing, and the tier runs short. A `queued` not delivered yet (late, or lost and redelivered
 * by the reconciler) is always completed in time. The counter is never corrected from a snapshot of
 * the store: a snapshot cannot see a half in flight (an `in_progress` records its job before it adds
 * the runner's half) and would then start a second runner.
 */
export async function pairStart(
  deps: Pick<CoreDeps, 'store'>,
  pool: string,
  side: PairSide,
): Promise<'first' | 'second'> {
  const after = await deps.store.addToCounter(hotPairsCounter(pool), side === 'job' ? 1 : -1);
  const partnerWaiting = side === 'job' ? after <= 0 : after >= 0;
  return partnerWaiting ? 'second' : 'first';
}

/**
 * A job of the tier cancelled before any runner took it: the runner's half it will never get, so that
 * its own half (or the take it paired with) is not left waiting forever. Starts nothing.
 */
export async function withdrawCancelledJob(deps: Pick<CoreDeps, 'store'>, pool: string): Promise<void> {
  await deps.store.addToCounter(hotPairsCounter(pool), -1);
}

export type HotRefillOutcome =
  | { kind: 'no-hot-tier' }
  /** The other half of this job's start came first and started its runner (see `pairStart`). */
  | { kind: 'paired' }
  | { kind: 'balanced'; balance: RunnerBalance }
  | {
      kind: 'refilled';
      balance: RunnerBalance;
      started: readonly { instanceId: string; source: RunnerSource }[];
      /** Starts that found nothing (the reconciler or the next event tries again). */
      pending: number;
    };

export interface RefillOptions {
  /** Epoch ms after which no new start begins. */
  readonly deadline: number;
  /** Most runners this call starts (event paths: 1; the tuner: its launch batch). */
  readonly limit: number;
  /** Idempotency base for fresh launches: a retried event never launches a second instance. */
  readonly token: string;
  /** The job whose arrival made the tier short, if any. */
  readonly job?: JobRecord;
  /** An already read balance (saves the reads when the caller has them). */
  readonly balance?: RunnerBalance;
}

/** Hot-tier runners of the pool idle or on their way, no job taken. */
export function hotUntaken(pool: PoolConfig, instances: readonly InstanceRecord[]): InstanceRecord[] {
  return instances.filter((i) => i.pool === pool.name && i.tier === 'hot' && isUntaken(i));
}

/**
 * The one start of a job whose runner was reported before its `queued` (the first half of a pair, see
 * `pairStart`): a refill of the tier, skipped only when the taken runner was a hot one and the tier
 * still holds its target without it (it was above target: a window closed, the model lowered it).
 * Decided on the tier alone, never on the count of waiting jobs: a job leaves `queued` (its
 * `in_progress`) a moment before its runner leaves `idle`, so a count across both can look balanced
 * while short, and a start skipped on that would be a job's start lost.
 */
export async function refillForPair(
  deps: CoreDeps,
  pool: PoolConfig,
  taken: InstanceRecord,
  options: Pick<RefillOptions, 'deadline' | 'token' | 'job'>,
): Promise<HotRefillOutcome> {
  if (!hasHotTier(deps, pool)) return { kind: 'no-hot-tier' };
  const [instances, target] = await Promise.all([
    deps.store.listPoolInstances(pool.name),
    readHotTarget(deps, pool),
  ]);
  const balance = balanceRunners(pool, instances, [], target);
  if (taken.tier === 'hot' && hotUntaken(pool, instances).length >= target)
    return { kind: 'balanced', balance };
  const outcome = await startHotRunner(deps, pool, options, 0);
  const started =
    outcome.kind === 'provisioned' ? [{ instanceId: outcome.instanceId, source: outcome.source }] : [];
  if (started.length > 0) deps.metrics.count('HotRefills', 1, { Pool: pool.name });
  return { kind: 'refilled', balance, started, pending: 1 - started.length };
}

/** Starts hot runners while the pool is short of them, at most `limit`. */
export async function refillHotTier(
  deps: CoreDeps,
  pool: PoolConfig,
  options: RefillOptions,
): Promise<HotRefillOutcome> {
  if (!hasHotTier(deps, pool)) return { kind: 'no-hot-tier' };
  const balance =
    options.balance ?? (await readBalance(deps, pool, undefined, { deficitUpTo: options.limit }));
  const wanted = Math.min(balance.deficit, options.limit);
  if (wanted <= 0) return { kind: 'balanced', balance };
  const started: { instanceId: string; source: RunnerSource }[] = [];
  let pending = 0;
  for (let n = 0; n < wanted && deps.clock.now() < options.deadline; n++) {
    const outcome = await startHotRunner(deps, pool, options, n);
    if (outcome.kind === 'provisioned')
      started.push({ instanceId: outcome.instanceId, source: outcome.source });
    else pending++;
  }
  if (started.length > 0) deps.metrics.count('HotRefills', started.length, { Pool: pool.name });
  return { kind: 'refilled', balance, started, pending };
}

function startHotRunner(
  deps: CoreDeps,
  pool: PoolConfig,
  options: Pick<RefillOptions, 'deadline' | 'token' | 'job'>,
  n: number,
): Promise<ProvisionOutcome> {
  return provisionHotRunner(deps, {
    pool,
    deadline: options.deadline,
    token: `${options.token}-${n}`,
    // Registered with the organization: the job's repository, when there is one, only labels the launch.
    repository:
      options.job !== undefined && servedByHotTier(deps, pool, options.job)
        ? options.job.repository
        : { owner: hotOwner(deps.runners, pool)?.owner ?? '', name: '' },
    ...(options.job !== undefined && { job: options.job }),
  });
}

/**
 * The tier a job was served from: `hot` when the runner that took it was already online when the job
 * was queued — the job waited for no start. A hot-tier runner that a burst takes the moment it boots
 * served a job that waited for its start like any other: warm when it came from the pool, cold when
 * it was launched. GitHub's `created_at` is truncated to the second, hence the second of slack.
 */
export function tierOf(instance: InstanceRecord | undefined, queuedAt?: number): Tier | undefined {
  if (instance === undefined) return undefined;
  if (instance.idleAt !== undefined && (queuedAt === undefined || queuedAt + 1_000 > instance.idleAt))
    return 'hot';
  return instance.role === 'pool' ? 'warm' : 'cold';
}

export type JobStartedOutcome =
  | { kind: 'unknown-instance' }
  | { kind: 'no-change'; state: string }
  | { kind: 'marked-busy'; refill: HotRefillOutcome };

/**
 * The instance itself says its runner took a job (the agent's job-started hook tagged it): it is busy
 * from now on, whichever job it took, and the tier is refilled at once, without waiting for GitHub's
 * `in_progress`. Repeated or late signals find it busy already (or gone) and do nothing.
 */
export async function handleJobStarted(
  deps: CoreDeps,
  config: PoolsConfig,
  signal: { instanceId: string; at: number; deadline: number },
): Promise<JobStartedOutcome> {
  const instance = await deps.store.getInstance(signal.instanceId);
  if (instance === undefined) return { kind: 'unknown-instance' };
  if (!untakenRunnerStates.includes(instance.state) || instance.jobStartedAt !== undefined)
    return { kind: 'no-change', state: instance.state };
  // tag → busy@v+1 wins once; an `in_progress` for the same runner racing us moves it to busy too,
  // and then this write loses and the job is already accounted for.
  const marked = await deps.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to: 'busy',
    patch: { jobStartedAt: signal.at, stateChangedAt: deps.clock.now() },
  });
  if (marked.kind !== 'ok') return { kind: 'no-change', state: instance.state };
  const pool = config.pools.find((p) => p.name === instance.pool);
  deps.metrics.count('JobStartedSignals', 1, { Pool: instance.pool });
  if (pool === undefined || !hotTierRunner(deps, pool, instance))
    return { kind: 'marked-busy', refill: { kind: 'no-hot-tier' } };
  // The runner's half of its job's one start: the job's `queued` may have started it already.
  if ((await pairStart(deps, pool.name, 'runner')) === 'second')
    return { kind: 'marked-busy', refill: { kind: 'paired' } };
  const refill = await refillForPair(deps, pool, instance, {
    deadline: signal.deadline,
    token: `hot-after-${instance.id}`,
  });
  return { kind: 'marked-busy', refill };
}

/** Whether an idle hot runner should be replaced: too long idle, or built from an outdated spec. */
export function ageOutReason(
  pool: PoolConfig,
  instance: InstanceRecord,
  now: number,
  isCurrent: (i: InstanceRecord) => boolean,
): string | undefined {
  if (pool.hot === undefined || !hotIdleStates.includes(instance.state)) return undefined;
  const idleFor = now - (instance.idleAt ?? instance.stateChangedAt);
  if (idleFor > pool.hot.maxIdleMinutes * 60_000) return `idle for ${Math.round(idleFor / 60_000)} min`;
  if (!isCurrent(instance)) return 'outdated image or spec';
  return undefined;
}

export interface HotTuning {
  readonly pool: string;
  readonly sizing: HotSizing;
  readonly target: number;
  readonly idle: number;
  readonly starting: number;
  readonly busy: number;
  readonly replaced: number;
  readonly drained: number;
  readonly started: number;
  readonly spentTodayUsd: number;
}

export interface HotTuneOptions {
  readonly deadline: number;
  /** Whether an instance's spec is what new instances of its type get today. */
  readonly isCurrent: (instance: InstanceRecord) => boolean;
  /** This hour of week's past peaks, given instead of read from the pool's demand history. */
  readonly pastPeaks?: readonly number[];
  /** Most runners started in one run. */
  readonly launchLimit: number;
}

/**
 * One tuner run for a pool's hot tier: size it (cost model, windows, cap, budget), record the target
 * and the day's spend, replace idle runners that aged out or are outdated, drain the surplus (a window
 * closed, the model says they no longer pay) and start what is missing.
 */
export async function tuneHotTier(
  deps: CoreDeps,
  pool: PoolConfig,
  options: HotTuneOptions,
): Promise<HotTuning | undefined> {
  if (!hasHotTier(deps, pool) || pool.hot === undefined) return undefined;
  const now = deps.clock.now();
  const marker = hotMarker(pool.name);
  const [previousText, historyText, instances] = await Promise.all([
    deps.store.getMarker(marker),
    options.pastPeaks === undefined
      ? deps.store.getMarker(demandMarker(pool.name))
      : Promise.resolve(undefined),
    deps.store.listPoolInstances(pool.name),
  ]);
  const previous = parseHotRecord(previousText);
  const idleNow = instances.filter((i) => hotIdleStates.includes(i.state));
  const spentTodayUsd = accrueSpend(previous, now, idleNow.length, pool);
  const peaks =
    options.pastPeaks ?? pastPeaks(parseHistory(historyText, demandTimeZone(pool)), now, pool.forecast.weeks);
  const sizing = sizeHotTier({ pool, now, pastPeaks: peaks, spentTodayUsd });
  const record: HotTierRecord = {
    target: sizing.target,
    at: now,
    day: budgetDay(now),
    spentUsd: spentTodayUsd,
    ...(sizing.budgetCap !== undefined && { budgetCap: sizing.budgetCap }),
  };
  await deps.store.putMarker(marker, JSON.stringify(record));

  let replaced = 0;
  for (const instance of idleNow) {
    const reason = ageOutReason(pool, instance, now, options.isCurrent);
    if (reason !== undefined && (await releaseUnusedRunner(deps, instance.id, `hot runner ${reason}`)))
      replaced++;
  }

  let balance = await readBalance(deps, pool, sizing.target);
  let drained = 0;
  // Drain idle runners only, longest idle first: one still starting is on its way and is drained when
  // it goes idle, if still surplus then.
  const drainable = balance.untaken
    .filter((i) => hotIdleStates.includes(i.state))
    .sort((a, b) => (a.idleAt ?? a.stateChangedAt) - (b.idleAt ?? b.stateChangedAt));
  for (const instance of drainable.slice(0, balance.surplus))
    if (await releaseUnusedRunner(deps, instance.id, 'hot tier above its target')) drained++;
  if (drained > 0) balance = await readBalance(deps, pool, sizing.target);

  const refill = await refillHotTier(deps, pool, {
    deadline: options.deadline,
    limit: options.launchLimit,
    token: `hot-tune-${pool.name}-${Math.floor(now / 60_000)}`,
    balance,
  });
  const started = refill.kind === 'refilled' ? refill.started.length : 0;

  const after = await deps.store.listPoolInstances(pool.name);
  const idle = after.filter((i) => hotIdleStates.includes(i.state)).length;
  const starting = after.filter((i) => i.tier === 'hot' && isUntaken(i) && i.state !== 'idle').length;
  const busy = after.filter(
    (i) => i.tier === 'hot' && (i.state === 'busy' || i.state === 'recycling'),
  ).length;
  deps.metrics.gauge('HotTarget', sizing.target, { Pool: pool.name });
  deps.metrics.gauge('HotIdle', idle, { Pool: pool.name });
  deps.metrics.gauge('HotBusy', busy, { Pool: pool.name });
  // USD a day at the tier's size now (its instances are in EstimatedCost already, by market).
  deps.metrics.gauge('HotTierCost', idle * sizing.hourlyUsd * 24, { Pool: pool.name });
  return {
    pool: pool.name,
    sizing,
    target: sizing.target,
    idle,
    starting,
    busy,
    replaced,
    drained,
    started,
    spentTodayUsd,
  };
}

/** The day's spend so far: the last record's, plus the idle runners since then (a new day starts at 0). */
function accrueSpend(
  previous: HotTierRecord | undefined,
  now: number,
  idle: number,
  pool: PoolConfig,
): number {
  const day = budgetDay(now);
  if (previous === undefined || previous.day !== day) return 0;
  const elapsed = Math.min(maxAccrualMs, Math.max(0, now - previous.at));
  return (
    previous.spentUsd +
    (idle * sizeHotTier({ pool, now, pastPeaks: [], spentTodayUsd: 0 }).hourlyUsd * elapsed) / 3_600_000
  );
}
