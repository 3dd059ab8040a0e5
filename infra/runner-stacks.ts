/**
 * This project's own app, as a user of the WarmPoolRunners construct: one validated deployment
 * configuration becomes the construct's props, placed directly in the app (three stacks:
 * `Runners/Stateful`, `Runners/Image`, `Runners/Runtime`), plus this repository's deploy access:
 *   - `DeployAccess` (GitHub OIDC provider and deploy roles; deployed by hand, never by the pipeline).
 * `cdk deploy` selects stacks by these paths (`cdk deploy Runners/Stateful Runners/Image Runners/Runtime`);
 * the CloudFormation stack names carry the project name, so installations do not collide in one account.
 */
import { type App, type Stack, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { tagKeys } from '../scheduler/adapters/tags.js';
import type { DeploymentConfig } from './config/deployment-config.js';
import type { ImagePart } from './parts/image.js';
import type { RuntimePart } from './parts/runtime.js';
import type { StatefulPart } from './parts/stateful.js';
import type { WarmPoolRunnersProps } from './runners-props.js';
import { DeployAccessStack } from './stacks/deploy-access-stack.js';
import { WarmPoolRunners } from './warm-pool-runners.js';

/** The construct id of the installation in this project's app: its stacks are `Runners/<part>`. */
export const runnersId = 'Runners';

/** The stacks as this app deploys them, with the parts built into them. */
export interface RunnerStacks {
  readonly runners: WarmPoolRunners;
  readonly stateful: StatefulPart & { readonly stack: Stack };
  readonly image: ImagePart & { readonly stack: Stack };
  readonly runtime: RuntimePart & { readonly stack: Stack };
  readonly deployAccess: DeployAccessStack;
}

export interface RunnerStacksOptions {
  /** Check every stack against cdk-nag's AwsSolutions rules at synth. @default true */
  readonly nag?: boolean;
}

/** The construct's props from this project's deployment configuration. */
export function runnersPropsFromConfig(config: DeploymentConfig): WarmPoolRunnersProps {
  return {
    project: config.project,
    parameterPrefix: config.parameterPrefix,
    github: config.github,
    network: {
      vpc: config.network.vpcId,
      subnets: config.network.subnets,
      assignPublicIp: config.network.assignPublicIp,
    },
    pools: config.pools,
    allowlist: config.allowlist,
    runners: config.runners,
    image: config.image,
    api: config.api,
    alarms: config.alarms,
    observability: config.observability,
  };
}

export function defineRunnerStacks(
  app: App,
  config: DeploymentConfig,
  options: RunnerStacksOptions = {},
): RunnerStacks {
  const env = { account: config.account, region: config.region };
  const runners = new WarmPoolRunners(app, runnersId, { ...runnersPropsFromConfig(config), env });
  const stacks = runners.stacks;
  if (stacks === undefined) throw new Error('WarmPoolRunners placed in the app defines its three stacks');
  const deployAccess = new DeployAccessStack(app, 'DeployAccess', {
    stackName: `${config.project}-deploy-access`,
    description: `${config.project} warm-pool runners: GitHub OIDC deploy roles`,
    env,
    config,
  });
  Tags.of(deployAccess).add(tagKeys.project, config.project);
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return {
    runners,
    stateful: Object.assign(runners.stateful, { stack: stacks.stateful }),
    image: Object.assign(runners.image, { stack: stacks.image }),
    runtime: Object.assign(runners.runtime, { stack: stacks.runtime }),
    deployAccess,
  };
}
