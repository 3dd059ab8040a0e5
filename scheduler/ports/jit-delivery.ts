/**
 * JitDelivery: hands a runner's JIT config to exactly one instance (an SSM SecureString under
 * `/<prefix>/jit/<instance-id>` that only that instance can read, and that its agent deletes).
 */
export interface PendingJitConfig {
  readonly instanceId: string;
  readonly createdAt: number;
}

export interface JitDelivery {
  deliver(instanceId: string, encodedJitConfig: string): Promise<void>;
  /** Idempotent: deleting a config that is gone is not an error. */
  remove(instanceId: string): Promise<void>;
  /** Configs not yet taken by their instance, for the reconciler. */
  listPending(): Promise<PendingJitConfig[]>;
}
