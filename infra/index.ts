/**
 * The package's public entry: the WarmPoolRunners construct, its props and what it exposes. A CDK app
 * adds the whole installation with `new WarmPoolRunners(stack, 'Runners', { github, network, pools })`
 * (docs/examples/cdk-app.ts); everything else under infra/ is the construct's own parts.
 */
export type { DeploymentConfig } from './config/deployment-config.js';
export type { ImagePart } from './parts/image.js';
export type { RuntimePart } from './parts/runtime.js';
export type { StatefulPart } from './parts/stateful.js';
export {
  type DeployTimeSubnets,
  type GitHubAppProps,
  type InitialPools,
  InvalidWarmPoolRunnersPropsError,
  type ResolvedRunners,
  type RunnerNetworkProps,
  type RunnerSubnet,
  type WarmPoolRunnersProps,
} from './runners-props.js';
export { WarmPoolRunners, type WarmPoolRunnersStacksProps } from './warm-pool-runners.js';
