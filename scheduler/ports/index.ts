export type { Clock } from './clock.js';
export type {
  ChangeTypeOutcome,
  Compute,
  EphemeralLaunchRequest,
  LaunchedInstance,
  LaunchOutcome,
  ObservedInstance,
  PoolLaunchRequest,
  StartOutcome,
} from './compute.js';
export { ComputeError } from './compute.js';
export type { ConfigSource } from './config-source.js';
export type { DomainEvent, Events } from './events.js';
export type {
  GitHubJob,
  GitHubRunners,
  HookDelivery,
  JitConfig,
  RegisteredRunner,
  RunnerScope,
} from './github-runners.js';
export { GitHubError } from './github-runners.js';
export type { JitDelivery, PendingJitConfig } from './jit-delivery.js';
export type { MetricDimensions, Metrics } from './metrics.js';
export type {
  InstancePatch,
  InstanceTransition,
  JobPatch,
  JobUpdate,
  PoolStore,
  QuotaCounter,
  QuotaTake,
  WriteResult,
} from './pool-store.js';
