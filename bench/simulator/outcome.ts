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
  readonly events: number;
  readonly wallMs: number;
}
