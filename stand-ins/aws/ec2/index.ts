export type {
  CallRecord,
  Ec2Action,
  Ec2EmulatorOptions,
  InjectedError,
  InstanceView,
  LaunchTemplateSeed,
} from './emulator.js';
export { defaultLaunchTemplate, defaultSubnets, Ec2Emulator, referenceLatencyMs } from './emulator.js';
export type { Ec2EmulatorEvent, Ec2EventBridgeEvent, EventEnvelope } from './eventbridge.js';
export { toEventBridgeEvent } from './eventbridge.js';
export type { BucketConfig } from './token-bucket.js';
export type {
  CapacitySelector,
  Ec2State,
  ImageArchitecture,
  LaunchTemplateVersionData,
  NetworkInterfaceSpec,
  Timings,
} from './world.js';
export { defaultTimings } from './world.js';
