/**
 * Quotas per repository and per organization, per pool: the most instances one may hold at once, and
 * optional caps on the jobs served a UTC day.
 *
 * Accounting: one counter item per (pool, key) in the pool store, changed only by single-item
 * conditional writes (`count < limit` on take, `count > 0` on give back), so two webhooks racing for a
 * repository's last unit can never both get it. A job takes its units before its runner is started;
 * the instance records the units it holds (`quotaHolds`) once its runner is handed over, and gives them
 * back when it leaves claimed/starting/idle/busy (recycled, retired, released, terminated). A
 * provisioning that ends with no runner gives its units back at once.
 *
 * A job over a quota waits: it stays queued with `quotaWait` (which quota, its limit and what was held),
 * is listed on the counter's `waiting` set, and is served when a unit comes back (the completed job's
 * recycle, a stopped instance) or, as a backstop, by the reconciler. It is never dropped or failed.
 *
 * Hot tier: GitHub hands an idle hot runner to any matching job, quota or not, so the hot tier's
 * runners hold no units while idle; the job a hot runner takes is charged when its `in_progress` is
 * recorded, past the limit if need be (it runs already), so the repository's next jobs wait for it.
 * The same charge moves the units of a runner that another repository's job took.
 *
 * Gotcha: the writes of one take (repository, then organization, then the day caps) are separate
 * items, and a handler can die between two of them; a counter may then drift from the instances that
 * hold it. The reconciler repairs each counter from the live instances, with a write conditioned on the
 * counter being unchanged since it was read, and only once it has been still for `quotaSettleMs` (longer
 * than any provisioning), so a take whose instance is not recorded yet is never repaired away.
 */
import type { QuotaCounter } from '../ports/pool-store.js';
import type { CoreDeps } from './deps.js';
import type { InstanceState } from './lifecycle.js';
import type { PoolConfig, QuotaLimit } from './pool-config.js';
import type { InstanceRecord, JobRecord, QuotaWait, Repository } from './types.js';

/** A counter must be still this long before the reconciler repairs it (a provisioning takes < 30 s). */
export const quotaSettleMs = 120_000;
/** Day counters are kept a little past their day, then expire. */
const dayCounterRetentionSeconds = 2 * 24 * 60 * 60;
/** States in which an instance holds the units of the job it serves. */
export const quotaHoldingStates: readonly InstanceState[] = ['claimed', 'starting', 'idle', 'busy'];

type Scope = 'repository' | 'organization';

export function repositoryKey(repository: Repository): string {
  return `repo#${repository.owner}/${repository.name}`.toLowerCase();
}

export function organizationKey(repository: Repository): string {
  return `org#${repository.owner}`.toLowerCase();
}

export function dayKey(day: string, scopeKey: string): string {
  return `day#${day}#${scopeKey}`;
}

/** `YYYY-MM-DD` of an epoch-ms time, in UTC: day caps reset at midnight UTC. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export function hasQuotas(pool: PoolConfig): boolean {
  return pool.quotas !== undefined;
}

/** The limits that apply to a repository's jobs in a pool: its override's fields, else the default. */
export function limitsFor(pool: PoolConfig, repository: Repository): Record<Scope, QuotaLimit> {
  const quotas = pool.quotas;
  if (quotas === undefined) return { repository: {}, organization: {} };
  const find = (overrides: Record<string, QuotaLimit>, name: string) =>
    Object.entries(overrides).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  const repo = find(quotas.repositories, `${repository.owner}/${repository.name}`);
  const org = find(quotas.organizations, repository.owner);
  return {
    repository: { ...quotas.repository, ...repo },
    organization: { ...quotas.organization, ...org },
  };
}

interface Step {
  readonly quota: QuotaWait['quota'];
  readonly scope: Scope;
  readonly key: string;
  /** Where a job refused by this step waits: the scope's instance counter. */
  readonly waitKey: string;
  readonly limit: number;
  readonly expiresAt?: number;
}

function steps(pool: PoolConfig, job: JobRecord, now: number): Step[] {
  const limits = limitsFor(pool, job.repository);
  const day = utcDay(now);
  const expiresAt = Math.floor(Date.parse(`${day}T00:00:00Z`) / 1000) + dayCounterRetentionSeconds;
  const scopes: [Scope, string][] = [
    ['repository', repositoryKey(job.repository)],
    ['organization', organizationKey(job.repository)],
  ];
  const found: Step[] = [];
  for (const [scope, key] of scopes) {
    const limit = limits[scope].instances;
    if (limit !== undefined) found.push({ quota: scope, scope, key, waitKey: key, limit });
  }
  // A job is counted against a day once, whatever runners it is given that day.
  if (job.quotaDay !== day)
    for (const [scope, key] of scopes) {
      const limit = limits[scope].jobsPerDay;
      if (limit !== undefined)
        found.push({ quota: `${scope}-day`, scope, key: dayKey(day, key), waitKey: key, limit, expiresAt });
    }
  return found;
}

export type QuotaGate =
  /** Units taken: `holds` go on the instance; `day` is recorded on the job when a day cap counted it. */
  | { kind: 'open'; holds: string[]; dayKeys: string[]; day?: string }
  | { kind: 'waiting'; wait: QuotaWait & { key: string } };

/**
 * Takes a unit of every quota that applies to the job, in order; the first that is full refuses the
 * job, and the units already taken go back. No quota configured: open, holding nothing.
 */
export async function takeQuotas(deps: CoreDeps, pool: PoolConfig, job: JobRecord): Promise<QuotaGate> {
  const now = deps.clock.now();
  const taken: Step[] = [];
  for (const step of steps(pool, job, now)) {
    const result = await deps.store.takeQuota(pool.name, step.key, step.limit, now, step.expiresAt);
    if (result.kind === 'taken') {
      taken.push(step);
      continue;
    }
    await giveBack(
      deps,
      pool.name,
      taken.map((t) => t.key),
    );
    const subject =
      step.scope === 'repository' ? `${job.repository.owner}/${job.repository.name}` : job.repository.owner;
    return {
      kind: 'waiting',
      wait: {
        quota: step.quota,
        subject,
        limit: step.limit,
        held: result.count,
        since: now,
        key: step.waitKey,
      },
    };
  }
  const dayKeys = taken.filter((t) => t.quota.endsWith('-day')).map((t) => t.key);
  return {
    kind: 'open',
    holds: taken.filter((t) => !t.quota.endsWith('-day')).map((t) => t.key),
    dayKeys,
    ...(dayKeys.length > 0 && { day: utcDay(now) }),
  };
}

/** Gives back units of a pool's counters (a provisioning that found no runner, an instance leaving). */
export async function giveBack(
  deps: CoreDeps,
  pool: string,
  keys: readonly string[],
): Promise<QuotaCounter[]> {
  const freed: QuotaCounter[] = [];
  for (const key of keys) {
    const counter = await deps.store.giveBackQuota(pool, key, deps.clock.now());
    if (counter !== undefined) freed.push(counter);
  }
  return freed;
}

/**
 * Gives back what an instance held, once: call it only after the conditional write that moved the
 * instance out of a holding state succeeded (only one writer wins that write).
 */
export async function releaseHolds(deps: CoreDeps, instance: InstanceRecord): Promise<QuotaCounter[]> {
  if (!quotaHoldingStates.includes(instance.state) || !instance.quotaHolds?.length) return [];
  const freed = await giveBack(deps, instance.pool, instance.quotaHolds);
  if (freed.length > 0) deps.metrics.count('QuotaUnitsReleased', freed.length, { Pool: instance.pool });
  return freed;
}

/**
 * The instance's runner took `job` (its `in_progress`): the instance now holds the units of the job's
 * repository and organization. A hot runner (holding nothing) is charged past the limit if need be: the
 * job runs already, and the next jobs of its repository must wait for it. A runner provided for another
 * repository's job moves its units over. Per-day caps count the job if no provisioning counted it.
 */
export async function chargeRunningJob(
  deps: CoreDeps,
  pool: PoolConfig,
  instance: InstanceRecord,
  jobId: number,
): Promise<void> {
  if (!hasQuotas(pool) || instance.state !== 'busy') return;
  // Read afresh: the pickup's own writes have moved the job on since the event was recorded.
  let job = await deps.store.getJob(jobId);
  if (job === undefined) return;
  // GitHub gave the job a runner while it waited (a runner provided for another job of its repository):
  // it waits no more, and the runner it took is charged below like any other.
  const waitKey = waitKeyOf(job);
  if (waitKey !== undefined) {
    const cleared = await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      clear: ['quotaWait'],
    });
    await deps.store.stopWaitingOnQuota(pool.name, waitKey, job.id);
    if (cleared.kind === 'ok') job = cleared.record;
  }
  const now = deps.clock.now();
  const wanted = steps(pool, job, now);
  const holds = wanted.filter((s) => !s.quota.endsWith('-day')).map((s) => s.key);
  const dayCharges = wanted.filter((s) => s.quota.endsWith('-day'));
  const held = instance.quotaHolds ?? [];
  if (holds.length !== held.length || holds.some((k) => !held.includes(k))) {
    const recorded = await deps.store.transitionInstance({
      id: instance.id,
      from: 'busy',
      expectedVersion: instance.version,
      to: 'busy',
      patch: { quotaHolds: holds, stateChangedAt: instance.stateChangedAt },
    });
    // Another writer moved it (recycled already, a repeated event): its units are that writer's to settle.
    if (recorded.kind !== 'ok') return;
    await giveBack(
      deps,
      instance.pool,
      held.filter((k) => !holds.includes(k)),
    );
    for (const key of holds.filter((k) => !held.includes(k)))
      await deps.store.chargeQuota(pool.name, key, now);
    if (held.length === 0) deps.metrics.count('QuotaChargedAfterPickup', 1, { Pool: pool.name });
  }
  if (dayCharges.length > 0 && job.quotaDay === undefined) {
    const counted = await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      patch: { quotaDay: utcDay(now) },
    });
    if (counted.kind === 'ok')
      for (const step of dayCharges) await deps.store.chargeQuota(pool.name, step.key, now, step.expiresAt);
  }
}

/**
 * Records that a job waits on a quota: on the job (it stays queued, with the quota and its figures), on
 * the counter's waiting set (to be woken), as an event and a metric.
 */
export async function recordQuotaWait(
  deps: CoreDeps,
  pool: PoolConfig,
  job: JobRecord,
  wait: QuotaWait & { key: string },
): Promise<void> {
  const { key, ...figures } = wait;
  await deps.store.waitOnQuota(pool.name, key, job.id);
  // A job already waiting keeps the time it started waiting.
  const since = job.quotaWait?.since ?? figures.since;
  await deps.store.updateJob({
    id: job.id,
    expectedVersion: job.version,
    patch: { quotaWait: { ...figures, since }, updatedAt: deps.clock.now() },
  });
  deps.metrics.count('JobsWaitingOnQuota', 1, { Pool: pool.name, Quota: wait.quota });
  if (job.quotaWait === undefined)
    await deps.events.publish([
      {
        type: 'JobWaitingOnQuota',
        jobId: job.id,
        pool: pool.name,
        repository: `${job.repository.owner}/${job.repository.name}`,
        quota: wait.quota,
        subject: wait.subject,
        limit: wait.limit,
        held: wait.held,
      },
    ]);
}

/** The counter a waiting job is listed on, from what it recorded. */
export function waitKeyOf(job: JobRecord): string | undefined {
  const wait = job.quotaWait;
  if (wait === undefined) return undefined;
  return wait.quota.startsWith('repository')
    ? repositoryKey(job.repository)
    : organizationKey(job.repository);
}

/**
 * What each counter of a pool should read, from the live instances that hold units: the reconciler's
 * repairs. Day counters are not derived from instances and are left alone. Only counters still for
 * `quotaSettleMs` are repaired, each with a write conditioned on what was read.
 */
export function planQuotaRepairs(
  now: number,
  pool: string,
  instances: readonly InstanceRecord[],
  counters: readonly QuotaCounter[],
): { key: string; seen: QuotaCounter | undefined; count: number }[] {
  const actual = new Map<string, number>();
  for (const instance of instances)
    if (instance.pool === pool && quotaHoldingStates.includes(instance.state))
      for (const key of instance.quotaHolds ?? []) actual.set(key, (actual.get(key) ?? 0) + 1);
  const repairs: { key: string; seen: QuotaCounter | undefined; count: number }[] = [];
  const byKey = new Map(counters.filter((c) => !c.key.startsWith('day#')).map((c) => [c.key, c]));
  for (const [key, counter] of byKey)
    if (counter.count !== (actual.get(key) ?? 0) && now - counter.updatedAt > quotaSettleMs)
      repairs.push({ key, seen: counter, count: actual.get(key) ?? 0 });
  // Held by instances but never counted (a charge lost between two writes).
  for (const [key, count] of actual) if (!byKey.has(key)) repairs.push({ key, seen: undefined, count });
  return repairs;
}
