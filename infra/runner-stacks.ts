/**
 * The app's stacks for one installation, from one validated configuration:
 *   - `Stateful` (table, pool config, secrets, event bus; termination protection on),
 *   - `Image` (the runner image pipelines, publishing AMI ids to SSM),
 *   - `Runtime` (runner launch template and role, control plane, triggers, dashboard, alarms),
 *   - `DeployAccess` (GitHub OIDC provider and deploy roles; deployed by hand, never by the pipeline).
 * The construct ids are what `cdk deploy` selects (`cdk deploy Stateful Image Runtime`); the CloudFormation
 * stack names carry the project name, so installations do not collide in one account.
 */
import { type App, Tags, Validations } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { tagKeys } from '../scheduler/adapters/tags.js';
import { asInterface } from './as-interface.js';
import type { DeploymentConfig } from './config/deployment-config.js';
import { DeployAccessStack } from './stacks/deploy-access-stack.js';
import { ImageStack } from './stacks/image-stack.js';
import { RuntimeStack } from './stacks/runtime-stack.js';
import { poolStoreTableName, StatefulStack } from './stacks/stateful-stack.js';

export interface RunnerStacks {
  readonly stateful: StatefulStack;
  readonly image: ImageStack;
  readonly runtime: RuntimeStack;
  readonly deployAccess: DeployAccessStack;
}

export interface RunnerStacksOptions {
  /** Check every stack against cdk-nag's AwsSolutions rules at synth. @default true */
  readonly nag?: boolean;
}

export function defineRunnerStacks(
  app: App,
  config: DeploymentConfig,
  options: RunnerStacksOptions = {},
): RunnerStacks {
  const env = { account: config.account, region: config.region };
  const stateful = new StatefulStack(app, 'Stateful', {
    stackName: `${config.project}-stateful`,
    description: `${config.project} warm-pool runners: pool store, pool config, GitHub App secrets, event bus`,
    env,
    config,
    terminationProtection: true,
  });
  const image = new ImageStack(app, 'Image', {
    stackName: `${config.project}-image`,
    description: `${config.project} warm-pool runners: runner image pipelines (EC2 Image Builder)`,
    env,
    config,
  });
  const runtime = new RuntimeStack(app, 'Runtime', {
    stackName: `${config.project}-runtime`,
    description: `${config.project} warm-pool runners: control plane, launch template, dashboard, alarms`,
    env,
    config,
    tableName: poolStoreTableName(config.project),
    poolConfigParameterName: stateful.poolConfig.parameterName,
    webhookSecret: asInterface<ISecret>(stateful.secrets.webhookSecret),
    appSecret: asInterface<ISecret>(stateful.secrets.appSecret),
    eventBus: asInterface<IEventBus>(stateful.events.bus),
  });
  // The launch template resolves the image's AMI parameter: deploy the image pipelines first.
  runtime.addStackDependency(
    image,
    'the launch template resolves the AMI parameter the image pipeline publishes',
  );
  const deployAccess = new DeployAccessStack(app, 'DeployAccess', {
    stackName: `${config.project}-deploy-access`,
    description: `${config.project} warm-pool runners: GitHub OIDC deploy roles`,
    env,
    config,
  });
  for (const stack of [stateful, image, runtime, deployAccess])
    Tags.of(stack).add(tagKeys.project, config.project);
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stateful, image, runtime, deployAccess };
}
