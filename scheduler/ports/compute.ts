/**
 * Compute: EC2 as the core sees it. Expected refusals (no capacity, wrong state) are outcomes;
 * throttling is retried inside the adapter; anything else is a ComputeError.
 */
import type { PoolConfig } from '../core/pool-config.js';
import type { Market } from '../core/types.js';

export interface LaunchedInstance {
  readonly id: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly market: Market;
  readonly spec: string;
  readonly launchedAt: number;
}

export type StartOutcome =
  | { kind: 'started' }
  | { kind: 'insufficient-capacity'; message: string }
  | { kind: 'incorrect-state'; message: string }
  | { kind: 'not-found' };

export type ChangeTypeOutcome =
  | { kind: 'changed' }
  | { kind: 'incorrect-state'; message: string }
  /** EC2 refuses the type for this instance (e.g. another architecture than its image's). */
  | { kind: 'unsupported'; message: string }
  | { kind: 'not-found' };

export type LaunchOutcome =
  | { kind: 'launched'; instances: LaunchedInstance[] }
  | { kind: 'insufficient-capacity'; message: string };

export interface PoolLaunchRequest {
  readonly pool: PoolConfig;
  readonly count: number;
  /** Subnets to spread over, in preference order (the core balances zones). */
  readonly subnetIds: readonly string[];
  /** Makes a retried call idempotent: the same token never launches twice. */
  readonly clientToken: string;
}

export interface EphemeralLaunchRequest {
  readonly pool: PoolConfig;
  readonly market: Market;
  readonly clientToken: string;
  /** A hot-tier runner: its agent's idle bound (`wpr:max-idle-seconds`), set at launch. */
  readonly maxIdleSeconds?: number;
}

/**
 * How a stopped pool instance is started. A hot-tier runner carries its agent's idle bound
 * (`wpr:max-idle-seconds`), so the agent's idle watchdog and the control plane's ageing out agree
 * instead of the agent falling back to the pool config.
 */
export interface StartOptions {
  readonly maxIdleSeconds?: number;
}

/** A project instance as EC2 reports it, for the reconciler. */
export interface ObservedInstance {
  readonly id: string;
  readonly pool: string | undefined;
  readonly state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
  readonly launchedAt: number;
  readonly instanceType: string;
  /** The reason the instance agent tagged before powering off (`wpr:agent-reason`), if any. */
  readonly agentReason?: string;
  /** The instance says its runner started a job (`wpr:job-started`). */
  readonly jobStarted?: boolean;
  /**
   * This deployment launched the instance (its `wpr:deployment` tag is ours). Only such an instance is
   * ever terminated as an orphan: another deployment's, or one tagged by hand, is left alone.
   */
  readonly launchedHere?: boolean;
}

export interface Compute {
  /** Launches stoppable on-demand instances that warm up and power off into the pool. */
  launchForPool(request: PoolLaunchRequest): Promise<LaunchOutcome>;
  /** One one-shot instance (spot via an instant fleet across types × subnets, or on-demand). */
  launchEphemeral(request: EphemeralLaunchRequest): Promise<LaunchOutcome>;
  start(instanceId: string, options?: StartOptions): Promise<StartOutcome>;
  /** Changes a stopped instance's type (same architecture as its image). */
  changeType(instanceId: string, instanceType: string): Promise<ChangeTypeOutcome>;
  terminate(instanceIds: readonly string[]): Promise<void>;
  /** The spec fingerprint new instances of this pool get now (image, template version, type). */
  currentSpec(pool: PoolConfig, instanceType: string): Promise<string>;
  /** Every instance tagged as the project's, in any state but long-terminated. */
  listInstances(): Promise<ObservedInstance[]>;
  /**
   * The reason the instance agent left on the instance (`wpr:agent-reason`) when it powered off, or
   * undefined when it left none (or the instance is gone).
   */
  agentReason(instanceId: string): Promise<string | undefined>;
}

export class ComputeError extends Error {
  override readonly name = 'ComputeError';
}
