/**
 * What one policy's run produced, before summarising: each job's pickup and where it ran, and the bill.
 */
import type { BillTotals } from './billing.js';

/** Where a job ran: a warm-pool instance (stopped or running pool) or a launch made for it. */
export type RanOn = 'pool' | 'spot' | 'on-demand';

export interface JobOutcome {
  readonly createdAt: number;
  /** When a runner took the job (GitHub's `started_at`). */
  readonly startedAt: number;
  /** When its `queued` webhook reached the control plane (absent where no webhook is involved). */
  readonly receivedAt?: number;
  readonly ranOn: RanOn;
  /** Whether the control plane served its own request from the pool (the claim or an idle runner). */
  readonly poolHit: boolean;
  /** Whether a runner already online and idle took the job the moment it was queued (a hot hit). */
  readonly hotHit?: boolean;
  /** When the job completed; absent for a model that does not follow jobs to their end. */
  readonly completedAt?: number;
  /** The job's own work on a warm disk (the trace's duration), seconds. */
  readonly workS?: number;
  /** Seconds the job ran longer because its instance's disk was not pre-warmed (0 on a warm one). */
  readonly coldPenaltyS?: number;
  /** The market of the instance it ran on, for re-pricing the cold-disk penalty in a sweep. */
  readonly market?: 'on-demand' | 'spot';
}

export interface PolicyRun {
  readonly policy: string;
  readonly jobs: readonly JobOutcome[];
  /** Jobs of the trace the policy was given (conservation: every one ran exactly once). */
  readonly expectedJobs: number;
  /** Jobs GitHub started more than once (must be 0). */
  readonly startedTwice: number;
  readonly bill: BillTotals;
  /** Simulated span the bill covers. */
  readonly start: number;
  readonly end: number;
  /** Counters from the run: fallbacks taken, capacity errors, reprovisions, largest pool target. */
  readonly counters: Readonly<Record<string, number>>;
  /** The pool target the tuner (or the running-pool model) aimed at, per run: [epoch ms, target]. */
  readonly targets: readonly (readonly [number, number])[];
  /** The hot tier's target per tuner run, for a policy with one. */
  readonly hotTargets?: readonly (readonly [number, number])[];
  readonly events: number;
  readonly wallMs: number;
  /** Webhook incidents (GitHub holding deliveries) during the run: how many, and minutes in all. */
  readonly incidents?: { readonly count: number; readonly minutes: number };
}
