/**
 * WarmPoolRunners: the whole installation as one construct — pool store, pool config, GitHub App secrets,
 * lifecycle bus, JIT key (the stateful part), the runner image pipelines (image part), and the launch
 * template, control plane, webhook API, dashboard and alarms (runtime part).
 *
 * Where it is placed decides the layout:
 *   - inside a stack (`new WarmPoolRunners(myStack, 'Runners', …)`): everything in that stack, under
 *     `Stateful`, `Image` and `Runtime` scopes. The launch template then names no image, so one deploy
 *     creates everything before the first image is built (runners start once it is published).
 *   - directly in an app or stage (this project's own app): three stacks, `<id>/Stateful` (termination
 *     protection on), `<id>/Image` and `<id>/Runtime`, deployed in that order, so the runtime can be rolled
 *     back or replaced without touching state. Stack names are `<project>-stateful|image|runtime`.
 *
 * Props are checked at synth against the deployment configuration's rules, every problem reported in one
 * InvalidWarmPoolRunnersPropsError. The ids of stateful resources are a contract
 * (test/infra/logical-ids.test.ts): renaming one would replace a table, secret, key or bus in place.
 */
import { type Environment, Stack, Stage, Tags, Token } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { tagKeys } from '../scheduler/adapters/tags.js';
import { ImagePart } from './parts/image.js';
import { RuntimePart } from './parts/runtime.js';
import { StatefulPart } from './parts/stateful.js';
import { type ResolvedRunners, resolveRunnerProps, type WarmPoolRunnersProps } from './runners-props.js';

export interface WarmPoolRunnersStacksProps {
  /** Account and region of the three stacks (only when the construct is placed in an app or stage). */
  readonly env?: Environment;
}

export class WarmPoolRunners extends Construct {
  /** The checked props with every default filled in. */
  readonly settings: ResolvedRunners;
  readonly stateful: StatefulPart;
  readonly image: ImagePart;
  readonly runtime: RuntimePart;
  /** The three stacks, when the construct was placed in an app or stage; otherwise undefined. */
  readonly stacks?: { readonly stateful: Stack; readonly image: Stack; readonly runtime: Stack };
  /** The URL to enter as the GitHub App's webhook URL (a CloudFormation output too). */
  readonly webhookUrl: string;
  /** The key the JIT configs are encrypted with (yours, or the one created here). */
  readonly jitParameterKey: IKey;
  /** The lifecycle event bus (yours, or the one created here): subscribe your own rules to it. */
  readonly eventBus: IEventBus;

  constructor(scope: Construct, id: string, props: WarmPoolRunnersProps & WarmPoolRunnersStacksProps) {
    super(scope, id);
    const inStack = this.node.scopes.some((s) => Stack.isStack(s));
    const region = inStack ? Stack.of(this).region : props.env?.region;
    this.settings = resolveRunnerProps(
      props,
      region === undefined || Token.isUnresolved(region) ? undefined : region,
    );
    const runners = this.settings;
    const { project } = runners;

    let statefulScope: Construct;
    let imageScope: Construct;
    let runtimeScope: Construct;
    if (inStack) {
      statefulScope = new Construct(this, 'Stateful');
      imageScope = new Construct(this, 'Image');
      runtimeScope = new Construct(this, 'Runtime');
    } else {
      if (!Stage.isStage(scope))
        throw new Error(
          'WarmPoolRunners: place it in a stack, or directly in an app or stage (three stacks)',
        );
      const env = props.env === undefined ? {} : { env: props.env };
      const stateful = new Stack(this, 'Stateful', {
        stackName: `${project}-stateful`,
        description: `${project} warm-pool runners: pool store, pool config, GitHub App secrets, event bus, JIT key`,
        terminationProtection: true,
        ...env,
      });
      const image = new Stack(this, 'Image', {
        stackName: `${project}-image`,
        description: `${project} warm-pool runners: runner image pipelines (EC2 Image Builder)`,
        ...env,
      });
      const runtime = new Stack(this, 'Runtime', {
        stackName: `${project}-runtime`,
        description: `${project} warm-pool runners: control plane, launch template, dashboard, alarms`,
        ...env,
      });
      runtime.addStackDependency(
        image,
        'the launch template resolves the AMI parameter the image pipeline publishes',
      );
      this.stacks = { stateful, image, runtime };
      statefulScope = stateful;
      imageScope = image;
      runtimeScope = runtime;
    }

    this.stateful = new StatefulPart(statefulScope, {
      runners,
      ...(props.jitParameterKey === undefined ? {} : { jitParameterKey: props.jitParameterKey }),
      ...(props.eventBus === undefined ? {} : { eventBus: props.eventBus }),
    });
    this.image = new ImagePart(imageScope, { runners });
    this.runtime = new RuntimePart(runtimeScope, {
      runners,
      tableName: this.stateful.tableName,
      poolConfigParameterName: this.stateful.poolConfig.parameterName,
      webhookSecret: this.stateful.webhookSecret,
      appSecret: this.stateful.appSecret,
      additionalAppSecrets: this.stateful.additionalAppSecrets,
      eventBus: this.stateful.eventBus,
      jitParameterKey: this.stateful.jitParameterKey,
      templateImageFromParameter: !inStack,
    });
    this.webhookUrl = this.runtime.webhookApi.webhookUrl;
    this.jitParameterKey = this.stateful.jitParameterKey;
    this.eventBus = this.stateful.eventBus;
    Tags.of(this).add(tagKeys.project, project);
  }
}
