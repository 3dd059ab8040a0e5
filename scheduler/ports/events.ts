/**
 * Events: lifecycle facts published for other teams (audit, chat, cost reports) on the project's bus.
 * Publishing is best effort: a failed publish never fails the control plane's own work.
 */
export type DomainEvent =
  | { type: 'JobProvisioned'; jobId: number; pool: string; instanceId: string; source: string }
  | { type: 'JobPending'; jobId: number; pool: string; reason: string }
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
  | { type: 'DeliveryRedelivered'; deliveryId: number; guid: string };

export interface Events {
  publish(events: readonly DomainEvent[]): Promise<void>;
}
