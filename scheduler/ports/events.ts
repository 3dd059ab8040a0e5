/**
 * Events: lifecycle facts published for other teams (audit, chat, cost reports) on the project's bus.
 * Publishing is best effort: a failed publish never fails the control plane's own work.
 */
export type DomainEvent =
  | { type: 'JobProvisioned'; jobId: number; pool: string; instanceId: string; source: string }
  | { type: 'JobPending'; jobId: number; pool: string; reason: string }
  /** A job over a quota: it stays queued and is served when the repository or organization frees a unit. */
  | {
      type: 'JobWaitingOnQuota';
      jobId: number;
      pool: string;
      repository: string;
      quota: 'repository' | 'organization' | 'repository-day' | 'organization-day';
      /** The repository (`owner/name`) or organization the quota belongs to. */
      subject: string;
      limit: number;
      held: number;
    }
  | { type: 'FallbackTaken'; jobId: number; pool: string; step: string; reason: string }
  | { type: 'InstanceRecycled'; instanceId: string; pool: string; replacementLaunched: boolean }
  | { type: 'InstanceRetired'; instanceId: string; pool: string; reason: string }
  | { type: 'PoolResized'; pool: string; target: number; launched: number; retired: number }
  | { type: 'OrphanReaped'; kind: 'instance' | 'runner' | 'jit-config'; id: string; reason: string }
  | { type: 'JobReprovisioned'; jobId: number; pool: string; reason: string }
  /** A job given runner after runner that it never took (e.g. its repository is outside the runner group). */
  | { type: 'JobAbandoned'; jobId: number; pool: string; repository: string; reprovisions: number }
  /** A pool's runner group does not exist in an organization it serves: its jobs stay pending. */
  | { type: 'RunnerGroupMissing'; pool: string; organization: string; group: string }
  | { type: 'DeliveryRedelivered'; deliveryId: number; guid: string }
  /** A day's cost per repository (top N + `other`) and per organization (see docs/cost.md). */
  | CostReportEvent;

/** Cents are whole and sum to `totalCents` (largest-remainder rounding). */
export interface CostReportEvent {
  type: 'CostReport';
  /** The UTC day reported, `YYYY-MM-DD`; `to` is present when a range was reported. */
  day: string;
  to?: string;
  currency: 'USD';
  totalCents: number;
  jobs: number;
  jobsWithoutUsage: number;
  instanceSeconds: { pool: number; spot: number; 'on-demand': number };
  overhead: { category: string; seconds: number; usd: number }[];
  repositories: { repository: string; costCents: number; jobs: number }[];
  organizations: { organization: string; costCents: number; jobs: number }[];
  /** Prices that stood in for unknown ones. */
  assumptions: readonly string[];
}

export interface Events {
  publish(events: readonly DomainEvent[]): Promise<void>;
}
