/**
 * SSM parameter names under the installation's prefix. The handlers derive the same names from
 * PARAMETER_PREFIX (and IMAGE_PARAMETER_PREFIX, set to `amiDirectory`); the image pipeline publishes AMI
 * ids to `ami`.
 */
export type RunnerArchitecture = 'x64' | 'arm64';

export const parameterNames = {
  poolConfig: (prefix: string) => `${prefix}/pools`,
  /** The directory holding one AMI id per architecture: `<prefix>/ami/<arch>`. */
  amiDirectory: (prefix: string) => `${prefix}/ami`,
  ami: (prefix: string, architecture: RunnerArchitecture) => `${prefix}/ami/${architecture}`,
  /** The directory holding one JIT config per instance: `<prefix>/jit/<instance-id>`. */
  jitDirectory: (prefix: string) => `${prefix}/jit`,
} as const;

/** The tag binding a JIT parameter to the one instance allowed to read it, as SsmJitDelivery sets it. */
export { jitInstanceTagKey } from '../scheduler/adapters/ssm-jit-delivery.js';

/** `/wpr/pools` → `wpr/pools`: IAM parameter ARNs carry the name without its leading slash. */
export function withoutLeadingSlash(name: string): string {
  return name.replace(/^\/+/, '');
}
