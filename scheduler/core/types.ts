/**
 * Domain records. Times are epoch milliseconds from the Clock port; GitHub job ids are numbers.
 * Records carry a `version` that every conditional write checks and bumps.
 */
import type { JobUsage } from './cost-usage.js';
import type { InstanceState, JobState } from './lifecycle.js';

export type Architecture = 'x64' | 'arm64';
export type Market = 'on-demand' | 'spot';

/** Where a job's runner came from, in ladder order. */
export type RunnerSource = 'pool' | 'pool-resized' | 'spot' | 'on-demand';

/**
 * `pool`: a warm-pool instance (on-demand, stoppable) that warms up and waits stopped.
 * `ephemeral`: a one-shot fallback launch (spot or on-demand) that serves one job and is terminated.
 */
export type InstanceRole = 'pool' | 'ephemeral';

/**
 * Which tier served a job, for "hits by tier": `hot` an idle registered runner took it at once,
 * `warm` a stopped pool instance was started for it, `cold` a fresh spot/on-demand launch.
 */
export type Tier = 'hot' | 'warm' | 'cold';

/** Where a hot-tier runner may come from, in the order a pool's `hot.fill` policy lists them. */
export type HotFillSource = 'pool' | 'spot' | 'on-demand';

export interface InstanceRecord {
  readonly id: string;
  readonly pool: string;
  readonly state: InstanceState;
  readonly version: number;
  readonly role: InstanceRole;
  readonly market: Market;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  /** Fingerprint of what the instance was built from (image, launch template version, type). */
  readonly spec: string;
  readonly launchedAt: number;
  readonly stateChangedAt: number;
  /** When a pool instance finished warming up and joined the pool (its warm-up's end, for cost). */
  readonly readyAt?: number;
  /** The job this instance was provided for (GitHub may hand its runner a different job). */
  readonly provisionedFor?: number;
  /** The job the runner on it actually took, from `in_progress`. */
  readonly servingJob?: number;
  readonly runnerName?: string;
  readonly runnerId?: number;
  /**
   * The repository whose job (or, for a hot runner, the organization: `name` empty) the runner was
   * registered for: its owner says which organization or repository to deregister it from, even once
   * the job record is gone.
   */
  readonly runnerFor?: Repository;
  /** When StartInstances was accepted; absent while only claimed. */
  readonly startIssuedAt?: number;
  /** Last start refused for capacity, used to prefer other zones. */
  readonly capacityErrorAt?: number;
  /**
   * `hot`: started to keep the pool's hot tier full rather than for one job; it goes idle once
   * running and is aged out, drained or replaced by the hot-tier rules (hot-tier.ts).
   */
  readonly tier?: 'hot';
  /** When its runner went idle in the hot tier (online, registered, no job): a job it takes is a hot hit. */
  readonly idleAt?: number;
  /**
   * When the runner on it took a job, as the instance itself reported it (the agent's job-started
   * hook tags the instance); the job is known only once `in_progress` names the runner.
   */
  readonly jobStartedAt?: number;
  /**
   * Quota counters (keys in its pool, e.g. `repo#acme/widgets`, `org#acme`) this instance holds a unit
   * of while it serves a job: given back when it leaves claimed/starting/idle/busy (see quotas.ts).
   */
  readonly quotaHolds?: readonly string[];
  /** The size label it was resized for (`sizes` in the pool config), if any. */
  readonly size?: string;
  /** Marked by a spot interruption warning. */
  readonly interruptedAt?: number;
  readonly reason?: string;
  /** Epoch seconds after which the store may expire a terminated record. */
  readonly expiresAt?: number;
}

/** `hot`: the pool's hot tier had an idle runner for the job, so this step refilled the tier. */
export type LadderStep =
  | 'hot'
  | 'pool'
  | 'pool-other-zone'
  | 'pool-resized'
  | 'spot'
  | 'on-demand'
  | 'pending';

export interface LadderAttempt {
  readonly step: LadderStep;
  readonly at: number;
  readonly outcome: 'ok' | 'empty' | 'lost-race' | 'capacity' | 'failed' | 'skipped' | 'out-of-time';
  readonly instanceId?: string;
  readonly instanceType?: string;
  readonly detail?: string;
}

export interface QuotaWait {
  /** `repository` / `organization`: instances held at once; `…-day`: jobs served this UTC day. */
  readonly quota: 'repository' | 'organization' | 'repository-day' | 'organization-day';
  /** `acme/widgets` or `acme`. */
  readonly subject: string;
  readonly limit: number;
  readonly held: number;
  readonly since: number;
}

export interface Repository {
  readonly owner: string;
  readonly name: string;
}

/** Latency phases, epoch ms. `createdAt` is GitHub's; the rest are ours or GitHub's as named. */
export interface JobPhases {
  readonly createdAt?: number;
  readonly receivedAt?: number;
  readonly claimedAt?: number;
  readonly startIssuedAt?: number;
  readonly instanceRunningAt?: number;
  readonly inProgressAt?: number;
  readonly completedAt?: number;
}

export interface JobRecord {
  readonly id: number;
  readonly runId: number;
  /** The job's name in its run (absent on records from before it was kept). */
  readonly name?: string;
  readonly repository: Repository;
  readonly labels: readonly string[];
  /** The pool serving these labels, or absent when none does (the job is recorded and ignored). */
  readonly pool?: string;
  readonly state: JobState;
  readonly version: number;
  readonly phases: JobPhases;
  readonly source?: RunnerSource;
  /** The tier of the runner that took the job, from `in_progress` (hits by tier). */
  readonly pickupTier?: Tier;
  /** The instance provided for this job; GitHub may run another job on it. */
  readonly provisionedInstance?: string;
  /** The runner that took this job, from `in_progress`. */
  readonly runnerName?: string;
  readonly instanceId?: string;
  readonly conclusion?: string;
  readonly attempts: readonly LadderAttempt[];
  /**
   * Set while the job waits on a quota of its repository or organization (it stays queued): which
   * quota, its limit and what was held when it was refused.
   */
  readonly quotaWait?: QuotaWait;
  /** The UTC day (`YYYY-MM-DD`) this job was counted against per-day caps: counted once. */
  readonly quotaDay?: string;
  /** How many times the reconciler has provided a runner again for this job. */
  readonly reprovisions: number;
  /** Delivery ids seen for this job, for idempotency on redelivery. */
  readonly deliveries: readonly string[];
  readonly updatedAt: number;
  /** The instance time the job's run took, booked when its instance ended (cost-usage.ts). */
  readonly usage?: JobUsage;
  readonly expiresAt?: number;
}

/** A workflow_job webhook reduced to what the core needs. */
export interface WorkflowJobEvent {
  readonly deliveryId: string;
  readonly action: 'queued' | 'waiting' | 'in_progress' | 'completed';
  readonly jobId: number;
  readonly runId: number;
  /** The job's name in its workflow run: a re-run of the job (a new job id) keeps it. */
  readonly name?: string;
  readonly repository: Repository;
  readonly labels: readonly string[];
  readonly createdAt?: number;
  readonly startedAt?: number;
  readonly completedAt?: number;
  readonly runnerName?: string;
  readonly runnerId?: number;
  readonly conclusion?: string;
}
