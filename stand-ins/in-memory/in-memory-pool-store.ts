/**
 * InMemoryPoolStore: the PoolStore port in memory, with the semantics of the DynamoDB adapter.
 *
 * - Every state change checks the expected state and version and bumps the version; a mismatch is a
 *   `conflict` value. Instance transitions are checked against the lifecycle table before anything is
 *   read (an illegal one throws `IllegalTransitionError`); a job's `to` is checked against its stored
 *   state once the version matched, as the adapter's condition does.
 * - Records are deep-copied and frozen on the way in and out: a caller never holds stored state.
 * - `listReady` orders by `stateChangedAt` ascending (longest-ready first), ties by id; DynamoDB leaves
 *   ties in any order, so callers must not rely on them. `listPoolInstances` and `listLiveInstances`
 *   order by pool, then id (the adapter's index sort key); `listJobs` by `updatedAt`, ties by id;
 *   `listWaitingJobs` by job id as a string (the adapter's `<pool>#<id>` sort key).
 * - A transition to `terminated` and a job update to `completed` set `expiresAt` (epoch seconds,
 *   `retentionSeconds` later) unless the patch sets or clears it; records past `expiresAt` read as
 *   absent, as DynamoDB's lazily deleted TTL items must.
 * - Races can be staged: `beforeNextWrite(hook)` runs once between a write's arrival (a create or a
 *   state change) and its condition check, so the hook's own competing writes land first and the staged
 *   write loses (`conflict`, or `exists` for a create). `failNextWith(error)`
 *   makes the next call throw, for store faults.
 */

import { mergeUsage, type OverheadUsage } from '../../scheduler/core/cost-usage.js';
import {
  assertInstanceTransition,
  canTransitionJob,
  IllegalTransitionError,
  type JobState,
} from '../../scheduler/core/lifecycle.js';
import type { InstanceRecord, JobRecord } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import {
  clearableInstanceFields,
  type InstancePatch,
  type InstanceTransition,
  type JobPage,
  type JobRangeQuery,
  type JobUpdate,
  type PoolStore,
  type QuotaCounter,
  type QuotaTake,
  type UsageTotals,
  type WriteResult,
} from '../../scheduler/ports/pool-store.js';

export type WriteTarget =
  | { readonly kind: 'instance'; readonly id: string }
  | { readonly kind: 'job'; readonly id: number };
export type WriteHook = (target: WriteTarget) => void | Promise<void>;

export interface InMemoryPoolStoreOptions {
  readonly clock?: Clock;
  /** How long a terminated instance or completed job is kept before it expires; default 7 days. */
  readonly retentionSeconds?: number;
  /** Runs before every conditional write, creates included (not for writes made from inside a hook). */
  readonly beforeWrite?: WriteHook;
}

export const defaultRetentionSeconds = 7 * 24 * 60 * 60;

export { clearableInstanceFields };

export class InMemoryPoolStore implements PoolStore {
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly jobs = new Map<number, JobRecord>();
  private readonly markers = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  /** `<pool>\u0000<key>` → counter; JavaScript runs one write at a time, so each is atomic as in DynamoDB. */
  private readonly quotas = new Map<string, QuotaCounter & { readonly expiresAt?: number }>();
  /** Day → counter attribute → seconds, as the adapter's one item per day. */
  private readonly usage = new Map<string, Map<string, OverheadUsage>>();
  private readonly clock: Clock;
  private readonly retentionSeconds: number;
  private readonly beforeWrite: WriteHook | undefined;
  private nextWriteHook: WriteHook | undefined;
  private nextFailure: Error | undefined;
  private inHook = false;

  constructor(options: InMemoryPoolStoreOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.retentionSeconds = options.retentionSeconds ?? defaultRetentionSeconds;
    this.beforeWrite = options.beforeWrite;
  }

  /** Runs `hook` once, just before the next conditional write is checked. */
  beforeNextWrite(hook: WriteHook): void {
    this.nextWriteHook = hook;
  }

  /** The next store call throws `error` and changes nothing. */
  failNextWith(error: Error): void {
    this.nextFailure = error;
  }

  /** Every stored instance, expired or not, for assertions. */
  allInstances(): InstanceRecord[] {
    return [...this.instances.values()].map(snapshot);
  }

  /** Every stored job, expired or not, for assertions. */
  allJobs(): JobRecord[] {
    return [...this.jobs.values()].map(snapshot);
  }

  async putInstance(record: InstanceRecord): Promise<'created' | 'exists'> {
    this.maybeFail();
    await this.runHooks({ kind: 'instance', id: record.id });
    if (this.liveInstance(record.id)) return 'exists';
    this.instances.set(record.id, snapshot(record));
    return 'created';
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    this.maybeFail();
    const found = this.liveInstance(id);
    return found && snapshot(found);
  }

  async transitionInstance(t: InstanceTransition): Promise<WriteResult<InstanceRecord>> {
    this.maybeFail();
    assertInstanceTransition(t.from, t.to);
    checkClear(t.patch, t.clear);
    await this.runHooks({ kind: 'instance', id: t.id });
    const current = this.liveInstance(t.id);
    if (!current) return { kind: 'not-found' };
    if (current.state !== t.from || current.version !== t.expectedVersion) return { kind: 'conflict' };

    const next: Record<string, unknown> = { ...current };
    for (const field of t.clear ?? []) delete next[field];
    assignDefined(next, t.patch);
    next.state = t.to;
    next.version = current.version + 1;
    next.stateChangedAt = t.patch?.stateChangedAt ?? this.clock.now();
    if (t.to === 'terminated' && !touches(t.patch, t.clear, 'expiresAt')) next.expiresAt = this.expiry();
    const record = snapshot(next as unknown as InstanceRecord);
    this.instances.set(t.id, record);
    return { kind: 'ok', record: snapshot(record) };
  }

  async listReady(pool: string, limit: number): Promise<InstanceRecord[]> {
    this.maybeFail();
    return this.live()
      .filter((r) => r.pool === pool && r.state === 'ready')
      .sort((a, b) => a.stateChangedAt - b.stateChangedAt || compare(a.id, b.id))
      .slice(0, Math.max(0, limit))
      .map(snapshot);
  }

  async listPoolInstances(pool: string): Promise<InstanceRecord[]> {
    this.maybeFail();
    return this.liveByPool().filter((r) => r.pool === pool);
  }

  async listLiveInstances(): Promise<InstanceRecord[]> {
    this.maybeFail();
    return this.liveByPool();
  }

  async createJob(record: JobRecord): Promise<'created' | 'exists'> {
    this.maybeFail();
    await this.runHooks({ kind: 'job', id: record.id });
    if (this.liveJob(record.id)) return 'exists';
    this.jobs.set(record.id, snapshot(record));
    return 'created';
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    this.maybeFail();
    const found = this.liveJob(id);
    return found && snapshot(found);
  }

  async updateJob(update: JobUpdate): Promise<WriteResult<JobRecord>> {
    this.maybeFail();
    await this.runHooks({ kind: 'job', id: update.id });
    const current = this.liveJob(update.id);
    if (!current) return { kind: 'not-found' };
    if (current.version !== update.expectedVersion) return { kind: 'conflict' };
    if (update.to !== undefined && !canTransitionJob(current.state, update.to)) {
      throw new IllegalTransitionError('job', current.state, update.to);
    }

    const { phases, ...fields } = update.patch ?? {};
    for (const field of update.clear ?? [])
      if (fields[field] !== undefined) throw new TypeError(`attribute ${field} is both set and cleared`);
    const next: Record<string, unknown> = { ...current };
    for (const field of update.clear ?? []) delete next[field];
    assignDefined(next, fields);
    const mergedPhases: Record<string, unknown> = { ...current.phases };
    assignDefined(mergedPhases, phases);
    next.phases = mergedPhases;
    next.attempts = [...current.attempts, ...(update.attempts ?? [])];
    if (update.deliveryId !== undefined) next.deliveries = [...current.deliveries, update.deliveryId];
    next.state = update.to ?? current.state;
    next.version = current.version + 1;
    next.updatedAt = fields.updatedAt ?? this.clock.now();
    if (update.to === 'completed' && fields.expiresAt === undefined) next.expiresAt = this.expiry();
    const record = snapshot(next as unknown as JobRecord);
    this.jobs.set(update.id, record);
    return { kind: 'ok', record: snapshot(record) };
  }

  async listJobs(state: JobState, limit?: number): Promise<JobRecord[]> {
    this.maybeFail();
    const found = [...this.jobs.values()]
      .filter((j) => j.state === state && !this.expired(j))
      .sort((a, b) => a.updatedAt - b.updatedAt || a.id - b.id);
    return (limit === undefined ? found : found.slice(0, Math.max(0, limit))).map(snapshot);
  }

  async listWaitingJobs(pool: string, limit?: number): Promise<JobRecord[]> {
    this.maybeFail();
    // The adapter's index sorts by `<pool>#<job id>` as a string; callers must not rely on the order.
    const found = [...this.jobs.values()]
      .filter(
        (j) => j.pool === pool && (j.state === 'queued' || j.state === 'provisioned') && !this.expired(j),
      )
      .sort((a, b) => compare(String(a.id), String(b.id)));
    return (limit === undefined ? found : found.slice(0, Math.max(0, limit))).map(snapshot);
  }

  async takeQuota(
    pool: string,
    key: string,
    limit: number,
    at: number,
    expiresAt?: number,
  ): Promise<QuotaTake> {
    this.maybeFail();
    const current = this.quota(pool, key);
    const count = current?.count ?? 0;
    if (count >= limit) return { kind: 'full', count };
    this.setQuota(pool, key, {
      count: count + 1,
      updatedAt: at,
      ...(expiresAt !== undefined && { expiresAt }),
    });
    return { kind: 'taken', count: count + 1 };
  }

  async chargeQuota(pool: string, key: string, at: number, expiresAt?: number): Promise<number> {
    this.maybeFail();
    const count = (this.quota(pool, key)?.count ?? 0) + 1;
    this.setQuota(pool, key, { count, updatedAt: at, ...(expiresAt !== undefined && { expiresAt }) });
    return count;
  }

  async giveBackQuota(pool: string, key: string, at: number): Promise<QuotaCounter | undefined> {
    this.maybeFail();
    const current = this.quota(pool, key);
    if (current === undefined) return undefined;
    if (current.count <= 0) return snapshot(publicQuota(current));
    return snapshot(publicQuota(this.setQuota(pool, key, { count: current.count - 1, updatedAt: at })));
  }

  async listQuotas(pool: string): Promise<QuotaCounter[]> {
    this.maybeFail();
    return [...this.quotas.values()]
      .filter((q) => q.pool === pool && !this.expired(q))
      .sort((a, b) => compare(a.key, b.key))
      .map((q) => snapshot(publicQuota(q)));
  }

  async repairQuota(
    pool: string,
    key: string,
    seen: Pick<QuotaCounter, 'count' | 'updatedAt'> | undefined,
    count: number,
    at: number,
  ): Promise<'ok' | 'conflict'> {
    this.maybeFail();
    const current = this.quota(pool, key);
    const same =
      seen === undefined
        ? current === undefined
        : current !== undefined && current.count === seen.count && current.updatedAt === seen.updatedAt;
    if (!same) return 'conflict';
    this.setQuota(pool, key, { count, updatedAt: at });
    return 'ok';
  }

  async waitOnQuota(pool: string, key: string, jobId: number): Promise<void> {
    this.maybeFail();
    const current = this.quota(pool, key);
    const waiting = [...new Set([...(current?.waiting ?? []), jobId])].sort((a, b) => a - b);
    this.quotas.set(quotaId(pool, key), {
      pool,
      key,
      count: current?.count ?? 0,
      updatedAt: current?.updatedAt ?? 0,
      ...(current?.expiresAt !== undefined && { expiresAt: current.expiresAt }),
      waiting,
    });
  }

  async stopWaitingOnQuota(pool: string, key: string, jobId: number): Promise<void> {
    this.maybeFail();
    const current = this.quota(pool, key);
    if (current === undefined) return;
    this.quotas.set(quotaId(pool, key), {
      ...current,
      waiting: current.waiting.filter((id) => id !== jobId),
    });
  }

  async listJobsUpdated(query: JobRangeQuery): Promise<JobPage> {
    this.maybeFail();
    const pageSize = query.pageSize ?? 500;
    if (!Number.isSafeInteger(query.from) || !Number.isSafeInteger(query.to))
      throw new RangeError(`listJobsUpdated: from and to must be whole epoch milliseconds`);
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 1000)
      throw new RangeError(`listJobsUpdated: pageSize ${pageSize} is not between 1 and 1000`);
    // The cursor is the last (updatedAt, id) handed out, as the index's sort key and the item key.
    let after: { updatedAt: number; id: number } | undefined;
    if (query.cursor !== undefined) {
      const match = /^(\d+):(\d+)$/.exec(query.cursor);
      if (match === null)
        throw new RangeError('listJobsUpdated: the cursor is not one this store handed out');
      after = { updatedAt: Number(match[1]), id: Number(match[2]) };
    }
    const inRange = [...this.jobs.values()]
      .filter((j) => j.state === query.state && j.updatedAt >= query.from && j.updatedAt < query.to)
      .sort((a, b) => a.updatedAt - b.updatedAt || a.id - b.id)
      .filter(
        (j) =>
          after === undefined ||
          j.updatedAt > after.updatedAt ||
          (j.updatedAt === after.updatedAt && j.id > after.id),
      );
    const page = inRange.slice(0, pageSize);
    const last = page.at(-1);
    // As DynamoDB: a full page hands out a cursor even when nothing follows; expired items are dropped.
    const jobs = page.filter((j) => !this.expired(j)).map(snapshot);
    return page.length === pageSize && last !== undefined
      ? { jobs, cursor: `${last.updatedAt}:${last.id}` }
      : { jobs };
  }

  async addUsage(day: string, lines: readonly OverheadUsage[]): Promise<void> {
    this.maybeFail();
    const merged = mergeUsage(day, lines);
    const counter = this.usage.get(day) ?? new Map<string, OverheadUsage>();
    for (const line of merged) {
      const key = [line.pool, line.category, line.market, line.instanceType].join('|');
      counter.set(key, { ...line, seconds: (counter.get(key)?.seconds ?? 0) + line.seconds });
    }
    this.usage.set(day, counter);
  }

  async getUsage(day: string): Promise<UsageTotals> {
    this.maybeFail();
    mergeUsage(day, []);
    return mergeUsage(day, [...(this.usage.get(day)?.values() ?? [])]).map(snapshot);
  }

  async getMarker(name: string): Promise<string | undefined> {
    this.maybeFail();
    return this.markers.get(name);
  }

  async putMarker(name: string, value: string): Promise<void> {
    this.maybeFail();
    this.markers.set(name, value);
  }

  async addToCounter(name: string, delta: number): Promise<number> {
    this.maybeFail();
    if (!Number.isInteger(delta)) throw new TypeError(`counter delta ${delta} is not an integer`);
    const after = (this.counters.get(name) ?? 0) + delta;
    this.counters.set(name, after);
    return after;
  }

  private maybeFail(): void {
    const failure = this.nextFailure;
    if (failure) {
      this.nextFailure = undefined;
      throw failure;
    }
  }

  private async runHooks(target: WriteTarget): Promise<void> {
    if (this.inHook) return;
    const once = this.nextWriteHook;
    this.nextWriteHook = undefined;
    this.inHook = true;
    try {
      await this.beforeWrite?.(target);
      await once?.(target);
    } finally {
      this.inHook = false;
    }
  }

  private quota(pool: string, key: string): (QuotaCounter & { readonly expiresAt?: number }) | undefined {
    const found = this.quotas.get(quotaId(pool, key));
    return found && !this.expired(found) ? found : undefined;
  }

  private setQuota(
    pool: string,
    key: string,
    change: { count: number; updatedAt: number; expiresAt?: number },
  ): QuotaCounter {
    const current = this.quota(pool, key);
    const expiresAt = change.expiresAt ?? current?.expiresAt;
    const next = {
      pool,
      key,
      count: change.count,
      updatedAt: change.updatedAt,
      waiting: current?.waiting ?? [],
      ...(expiresAt !== undefined && { expiresAt }),
    };
    this.quotas.set(quotaId(pool, key), next);
    return next;
  }

  private expiry(): number {
    return Math.floor(this.clock.now() / 1000) + this.retentionSeconds;
  }

  /** DynamoDB's rule: an item is expired once its TTL (epoch seconds) is below the current time. */
  private expired(record: { readonly expiresAt?: number }): boolean {
    return record.expiresAt !== undefined && record.expiresAt < Math.floor(this.clock.now() / 1000);
  }

  private liveInstance(id: string): InstanceRecord | undefined {
    const found = this.instances.get(id);
    return found && !this.expired(found) ? found : undefined;
  }

  private liveJob(id: number): JobRecord | undefined {
    const found = this.jobs.get(id);
    return found && !this.expired(found) ? found : undefined;
  }

  private live(): InstanceRecord[] {
    return [...this.instances.values()].filter((r) => r.state !== 'terminated' && !this.expired(r));
  }

  private liveByPool(): InstanceRecord[] {
    return this.live()
      .sort((a, b) => compare(a.pool, b.pool) || compare(a.id, b.id))
      .map(snapshot);
  }
}

/** The same guard as the adapter: only optional attributes can be removed, and not also set. */
function checkClear(
  patch: InstancePatch | undefined,
  clear: readonly (keyof InstancePatch)[] | undefined,
): void {
  for (const field of clear ?? []) {
    if (!clearableInstanceFields.includes(field))
      throw new TypeError(`cannot clear required attribute ${field}`);
    if (patch?.[field] !== undefined) throw new TypeError(`attribute ${field} is both set and cleared`);
  }
}

function touches(
  patch: InstancePatch | undefined,
  clear: readonly (keyof InstancePatch)[] | undefined,
  field: keyof InstancePatch,
): boolean {
  return patch?.[field] !== undefined || (clear ?? []).includes(field);
}

function assignDefined(target: Record<string, unknown>, source: object | undefined): void {
  for (const [key, value] of Object.entries(source ?? {})) if (value !== undefined) target[key] = value;
}

function quotaId(pool: string, key: string): string {
  return `${pool}\u0000${key}`;
}

function publicQuota(q: QuotaCounter): QuotaCounter {
  return { pool: q.pool, key: q.key, count: q.count, waiting: [...q.waiting], updatedAt: q.updatedAt };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function snapshot<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
