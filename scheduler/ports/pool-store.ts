/**
 * PoolStore: instance and job records. Every state change is one conditional write on one item,
 * checked against the expected state and version; losing that check is an expected outcome
 * (`conflict`), returned as a value. No transactions: none are needed.
 */

import type { OverheadUsage } from '../core/cost-usage.js';
import type { InstanceState, JobState } from '../core/lifecycle.js';
import type { InstanceRecord, JobRecord } from '../core/types.js';

export type WriteResult<T> = { kind: 'ok'; record: T } | { kind: 'conflict' } | { kind: 'not-found' };

/** Fields a transition may set; `undefined` is not allowed, use `clear` to remove an attribute. */
export type InstancePatch = Partial<
  Omit<InstanceRecord, 'id' | 'pool' | 'state' | 'version' | 'role' | 'launchedAt'>
>;
export type JobPatch = Partial<
  Omit<JobRecord, 'id' | 'state' | 'version' | 'attempts' | 'deliveries' | 'phases'>
> & {
  readonly phases?: Partial<JobRecord['phases']>;
};

/** Instance attributes a transition may remove; the others are required by the record type. */
export const clearableInstanceFields: readonly (keyof InstancePatch)[] = [
  'provisionedFor',
  'servingJob',
  'runnerName',
  'runnerId',
  'runnerFor',
  'startIssuedAt',
  'capacityErrorAt',
  'interruptedAt',
  'tier',
  'reason',
  'expiresAt',
  'quotaHolds',
  'size',
];

/** Job attributes an update may remove. */
export const clearableJobFields = ['quotaWait'] as const;

export interface InstanceTransition {
  readonly id: string;
  readonly from: InstanceState;
  readonly expectedVersion: number;
  readonly to: InstanceState;
  readonly patch?: InstancePatch;
  /** Attributes to remove, e.g. the claim of a released instance. */
  readonly clear?: readonly (keyof InstancePatch)[];
}

export interface JobUpdate {
  readonly id: number;
  readonly expectedVersion: number;
  /** Absent: the state stays as it is (phases or attempts only). */
  readonly to?: JobState;
  readonly patch?: JobPatch;
  /** Appended to the job's ladder attempts. */
  readonly attempts?: JobRecord['attempts'];
  /** Recorded so a redelivery of the same delivery is recognised. */
  readonly deliveryId?: string;
  /** Attributes to remove (e.g. the quota a job no longer waits on); not also set by the patch. */
  readonly clear?: readonly (typeof clearableJobFields)[number][];
}

/**
 * A quota counter: one item per (pool, key), e.g. `repo#acme/widgets` (instances held now) or
 * `day#2026-12-06#repo#acme/widgets` (jobs served that UTC day). `count` changes only by single-item
 * conditional writes, so two racing takers can never both pass the limit; `updatedAt` moves with every
 * change of `count` (never with `waiting`), which is what a drift repair checks it read the latest of.
 */
export interface QuotaCounter {
  readonly pool: string;
  readonly key: string;
  readonly count: number;
  /** Jobs waiting on this quota (GitHub job ids), for waking them when a unit is given back. */
  readonly waiting: readonly number[];
  readonly updatedAt: number;
}

export type QuotaTake = { kind: 'taken'; count: number } | { kind: 'full'; count: number };

/** One page of a ranged job query; `cursor` is absent on the last page. */
export interface JobPage {
  readonly jobs: readonly JobRecord[];
  readonly cursor?: string;
}

export interface JobRangeQuery {
  readonly state: JobState;
  /** `updatedAt` from (inclusive) and to (exclusive), epoch ms. */
  readonly from: number;
  readonly to: number;
  /** At most this many jobs per page (default 500). */
  readonly pageSize?: number;
  /** From the previous page; an unknown or malformed cursor is an error. */
  readonly cursor?: string;
}

/** A day's overhead counter summed per (pool, category, market, instance type). */
export type UsageTotals = readonly OverheadUsage[];

export interface PoolStore {
  /** Creates an instance record; `exists` when one with that id is already there. */
  putInstance(record: InstanceRecord): Promise<'created' | 'exists'>;
  getInstance(id: string): Promise<InstanceRecord | undefined>;
  transitionInstance(t: InstanceTransition): Promise<WriteResult<InstanceRecord>>;
  /** Up to `limit` ready instances of a pool (an index query, not a scan). */
  listReady(pool: string, limit: number): Promise<InstanceRecord[]>;
  /** Every live (not terminated) instance of a pool. */
  listPoolInstances(pool: string): Promise<InstanceRecord[]>;
  /** Every live instance of every pool; for the reconciler, never on the hot path. */
  listLiveInstances(): Promise<InstanceRecord[]>;

  /** Creates a job record; `exists` when the job is already known (a duplicate or reordered event). */
  createJob(record: JobRecord): Promise<'created' | 'exists'>;
  getJob(id: number): Promise<JobRecord | undefined>;
  updateJob(update: JobUpdate): Promise<WriteResult<JobRecord>>;
  /** Jobs in a state (an index query), oldest update first. */
  listJobs(state: JobState, limit?: number): Promise<JobRecord[]>;
  /**
   * Up to `limit` jobs of one pool waiting for a runner (`queued` or `provisioned`), in no particular
   * order (an index query on that pool alone: its cost follows `limit`, not the whole backlog).
   */
  listWaitingJobs(pool: string, limit?: number): Promise<JobRecord[]>;

  /**
   * Takes one unit of a quota counter while it is below `limit` (a counter never written counts 0).
   * `expiresAt` (epoch seconds) lets the store drop a counter that only matters for a while (a day's).
   */
  takeQuota(pool: string, key: string, limit: number, at: number, expiresAt?: number): Promise<QuotaTake>;
  /** Adds one unit whatever the limit: a runner that already took a job is counted, never refused. */
  chargeQuota(pool: string, key: string, at: number, expiresAt?: number): Promise<number>;
  /** Gives one unit back, never below zero; the counter as it is after (undefined if never written). */
  giveBackQuota(pool: string, key: string, at: number): Promise<QuotaCounter | undefined>;
  /** Every counter of a pool (one partition read, no index). */
  listQuotas(pool: string): Promise<QuotaCounter[]>;
  /**
   * Sets a counter to `count` only if it still holds what was read (`seen`; undefined: absent): the
   * reconciler's repair of a counter that drifted from the live instances. A take or give-back since
   * the read makes it `conflict`, and nothing is written.
   */
  repairQuota(
    pool: string,
    key: string,
    seen: Pick<QuotaCounter, 'count' | 'updatedAt'> | undefined,
    count: number,
    at: number,
  ): Promise<'ok' | 'conflict'>;
  /** Records (or forgets) a job as waiting on a quota; the counter's count is untouched. */
  waitOnQuota(pool: string, key: string, jobId: number): Promise<void>;
  stopWaitingOnQuota(pool: string, key: string, jobId: number): Promise<void>;

  /**
   * Jobs in a state whose `updatedAt` is in [from, to), oldest first, a page at a time (an index range
   * query): a day of completed jobs is read in bounded memory however many there are.
   */
  listJobsUpdated(query: JobRangeQuery): Promise<JobPage>;

  /**
   * Adds seconds to the day's usage counter (`YYYY-MM-DD`, UTC), one atomic add per line: concurrent
   * writers never lose each other's seconds. Lines with the same (pool, category, market, type) add up.
   */
  addUsage(day: string, lines: readonly OverheadUsage[]): Promise<void>;
  /** The day's counter, one line per (pool, category, market, type); empty for a day with none. */
  getUsage(day: string): Promise<UsageTotals>;

  /** A small named record (e.g. the reconciler's delivery cursor). */
  getMarker(name: string): Promise<string | undefined>;
  putMarker(name: string, value: string): Promise<void>;
  /**
   * Adds `delta` to a named counter (absent: 0) in one atomic single-item write and returns its value
   * after that write: concurrent adds never lose one another, and each sees a distinct value.
   */
  addToCounter(name: string, delta: number): Promise<number>;
}
