/**
 * ControlPlaneAccess: the IAM statements behind each thing a control-plane function does. Each grant names
 * one capability; ControlPlaneFunctions composes them per handler, so a role holds exactly the
 * capabilities its handler uses.
 *
 * EC2 guard rails (everything the control plane may touch carries `wpr:project = <project>`):
 *   - start, type change, terminate: only instances whose `wpr:project` tag is this project's;
 *   - launch (RunInstances, CreateFleet): only with this installation's launch template (the template
 *     carries the instance profile, security group, IMDSv2 and disk encryption), only into the declared
 *     subnets, and only when the request tags the instance `wpr:project = <project>`;
 *   - volumes: only encrypted ones (`ec2:Encrypted`), since a launch's own mapping replaces the template's;
 *   - launches carry `wpr:deployment = <this deployment's id>` (required), which nothing may set later;
 *   - tagging: only as part of those launches (`ec2:CreateAction`), never on an existing resource;
 *   - passing the runner role: only to EC2;
 *   - images: a launch names the AMI id of its pool's architecture, which the function reads from
 *     `<prefix>/ami/<arch>` (read-only); any image, as the launch template's own resolves to one.
 * DescribeInstances and DescribeParameters have no resource-level permissions in IAM; they read metadata.
 */

import { Aws, Stack, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, LaunchTemplate } from 'aws-cdk-lib/aws-ec2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { Effect, type IRole, PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { deploymentId } from '../deployment-id.js';
import { nagForm } from '../nag-form.js';
import { jitInstanceTagKey, parameterNames, withoutLeadingSlash } from '../parameter-names.js';

export interface ControlPlaneAccessProps {
  readonly project: string;
  readonly parameterPrefix: string;
  /** The pool store table, by name (it lives in the stateful stack). */
  readonly tableName: string;
  readonly poolConfigParameterName: string;
  readonly webhookSecret: ISecret;
  readonly appSecret: ISecret;
  /** Further Apps' secrets: every App's key is readable where the App secret is, and no other secret. */
  readonly additionalAppSecrets?: readonly ISecret[];
  readonly eventBus: IEventBus;
  /** The KMS key the JIT SecureStrings are encrypted with. */
  readonly jitParameterKey: IKey;
  readonly launchTemplate: LaunchTemplate;
  readonly securityGroup: ISecurityGroup;
  readonly instanceRole: IRole;
  /**
   * The subnets launches may use. When they are only known at deploy time (a CloudFormation parameter),
   * leave this out: launches are then held to subnets of `vpcId`.
   */
  readonly subnetIds?: readonly string[];
  readonly vpcId: string;
}

const acknowledged = new WeakMap<Role, Set<string>>();

/** Findings of AwsSolutions-IAM5 that a grant makes by design, with the reason; see `acknowledge`. */
interface WildcardReason {
  readonly finding: string;
  readonly reason: string;
}

export class ControlPlaneAccess {
  constructor(private readonly props: ControlPlaneAccessProps) {}

  private arn(service: string, resource: string): string {
    return `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
  }

  private parameterArn(name: string): string {
    return this.arn('ssm', `parameter/${withoutLeadingSlash(name)}`);
  }

  private get projectTag(): Record<string, string> {
    return { [`aws:ResourceTag/${tagKeys.project}`]: this.props.project };
  }

  /** Instance, job and marker records: item reads and conditional writes, index queries. No scan, no delete. */
  readStore(role: Role): void {
    const table = this.arn('dynamodb', `table/${this.props.tableName}`);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PoolStoreRecords',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [table, `${table}/index/*`],
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::${this.nagForm(`${table}/index/*`)}`,
        reason: "Queries go to the table's own indexes (ready-by-pool, live-instances, jobs-by-state).",
      },
    ]);
  }

  /**
   * For the cost report: reads only. Completed jobs through the jobs-by-state index and the day's usage
   * counter by key; no write, no other index.
   */
  readUsage(role: Role): void {
    const table = this.arn('dynamodb', `table/${this.props.tableName}`);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadUsage',
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [table, `${table}/index/${poolStoreTable.indexes.jobsByState.indexName}`],
      }),
    );
  }

  /** The pool config. */
  readConfig(role: Role): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadPoolConfig',
        // The history: a cold start facing an invalid document serves the newest version that validates.
        actions: ['ssm:GetParameter', 'ssm:GetParameterHistory'],
        resources: [this.parameterArn(this.props.poolConfigParameterName)],
      }),
    );
  }

  /**
   * The published AMI ids, one per architecture: the EC2 adapter reads the one of each launch's pool
   * (ssm:GetParameter). ssm:GetParameters is what EC2 checks on the caller when it resolves the launch
   * template's own `resolve:ssm:` image.
   */
  private readImages(role: Role): void {
    const amiParameters = this.parameterArn(`${parameterNames.amiDirectory(this.props.parameterPrefix)}/*`);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadRunnerImages',
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [amiParameters],
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::${this.nagForm(amiParameters)}`,
        reason: 'One AMI id parameter per architecture, published by the image pipeline.',
      },
    ]);
  }

  readWebhookSecret(role: Role): void {
    this.props.webhookSecret.grantRead(role);
  }

  readAppSecret(role: Role): void {
    this.props.appSecret.grantRead(role);
    for (const secret of this.props.additionalAppSecrets ?? []) secret.grantRead(role);
  }

  publishEvents(role: Role): void {
    this.props.eventBus.grantPutEventsTo(role);
  }

  /** Write, overwrite and remove JIT configs; list pending ones (metadata only, no decryption). */
  deliverJitConfigs(role: Role): void {
    const jitParameters = this.parameterArn(`${parameterNames.jitDirectory(this.props.parameterPrefix)}/*`);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteJitConfigs',
        actions: ['ssm:PutParameter', 'ssm:DeleteParameter'],
        resources: [jitParameters],
      }),
    );
    // SSM encrypts a SecureString with the installation's key on the caller's behalf: Encrypt (standard
    // tier) or GenerateDataKey (advanced tier), only through SSM, only for parameters under the JIT path.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'EncryptJitConfigsThroughSsm',
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.props.jitParameterKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': jitParameters },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TagJitConfigsForTheirInstance',
        actions: ['ssm:AddTagsToResource'],
        resources: [jitParameters],
        conditions: {
          'ForAllValues:StringEquals': { 'aws:TagKeys': [jitInstanceTagKey] },
          Null: { 'aws:TagKeys': 'false' },
        },
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::${this.nagForm(jitParameters)}`,
        reason: 'One JIT config per instance, named by instance id, created at claim time.',
      },
    ]);
  }

  /** Remove JIT configs only (recycling an instance whose config was never taken). */
  removeJitConfigs(role: Role): void {
    const jitParameters = this.parameterArn(`${parameterNames.jitDirectory(this.props.parameterPrefix)}/*`);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RemoveJitConfigs',
        actions: ['ssm:DeleteParameter'],
        resources: [jitParameters],
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::${this.nagForm(jitParameters)}`,
        reason: 'One JIT config per instance, named by instance id; removed when its instance is recycled.',
      },
    ]);
  }

  /** DescribeParameters has no resource-level permission; the reconciler lists pending JIT configs. */
  listJitConfigs(role: Role): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'ListJitConfigs', actions: ['ssm:DescribeParameters'], resources: ['*'] }),
    );
    this.acknowledge(role, [
      {
        finding: 'Resource::*',
        reason: 'ssm:DescribeParameters and ec2:Describe* support no resource-level ARN.',
      },
    ]);
  }

  /** Read EC2 state: instances, the launch template's latest version (spec fingerprint), subnet zones. */
  describeInstances(role: Role): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DescribeEc2',
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeInstanceStatus',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:DescribeSubnets',
        ],
        resources: ['*'],
      }),
    );
    this.acknowledge(role, [
      {
        finding: 'Resource::*',
        reason: 'ssm:DescribeParameters and ec2:Describe* support no resource-level ARN.',
      },
    ]);
  }

  /** Subnets known only at deploy time: any subnet of the installation's VPC (`ec2:Vpc`). */
  private launchIntoVpcSubnets(
    role: Role,
    conditions: Record<string, Record<string, string>>,
    action = 'ec2:RunInstances',
  ): void {
    const subnets = this.arn('ec2', 'subnet/*');
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: action === 'ec2:RunInstances' ? 'RunInVpcSubnets' : 'FleetsInVpcSubnets',
        actions: [action],
        resources: [subnets],
        conditions: { ...conditions, ArnEquals: { 'ec2:Vpc': this.arn('ec2', `vpc/${this.props.vpcId}`) } },
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::${this.nagForm(subnets)}`,
        reason:
          'The subnets are a deploy-time parameter; launches are held to subnets of the installation VPC (ec2:Vpc).',
      },
    ]);
  }

  /**
   * Launch instances from the runner launch template, tagged as the project's, each from the image of its
   * pool's architecture.
   */
  launchInstances(role: Role, options: { fleets: boolean }): void {
    this.readImages(role);
    const { launchTemplate, securityGroup, subnetIds, instanceRole, project } = this.props;
    const templateArn = this.arn('ec2', `launch-template/${launchTemplate.launchTemplateId}`);
    const subnets = (subnetIds ?? []).map((id) => this.arn('ec2', `subnet/${id}`));
    const securityGroupArn = this.arn('ec2', `security-group/${securityGroup.securityGroupId}`);
    const fromTemplate = { ArnLike: { 'ec2:LaunchTemplate': templateArn } };
    // Every launch carries the project and this deployment's tag; only a launch can set the latter, so an
    // instance carrying it was launched by this control plane (the reconciler's orphan test).
    const taggedAsProject = {
      StringEquals: {
        [`aws:RequestTag/${tagKeys.project}`]: project,
        [`aws:RequestTag/${tagKeys.deployment}`]: deploymentId(),
      },
    };

    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RunProjectInstances',
        actions: ['ec2:RunInstances'],
        resources: [this.arn('ec2', 'instance/*')],
        conditions: { ...fromTemplate, ...taggedAsProject },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RunFromRunnerTemplate',
        actions: ['ec2:RunInstances'],
        resources: [
          templateArn,
          securityGroupArn,
          ...subnets,
          this.arn('ec2', 'network-interface/*'),
          `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/*`,
        ],
        conditions: fromTemplate,
      }),
    );
    if (subnetIds === undefined) this.launchIntoVpcSubnets(role, fromTemplate);
    // A volume mapping given at launch replaces the template's, encryption included: every volume a
    // launch creates must say it is encrypted, whatever the template says.
    const encrypted = { Bool: { 'ec2:Encrypted': 'true' } };
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RunWithEncryptedVolumes',
        actions: ['ec2:RunInstances'],
        resources: [this.arn('ec2', 'volume/*')],
        conditions: { ...fromTemplate, ...encrypted },
      }),
    );
    const tagged = ['instance/*', 'volume/*', 'network-interface/*'].map((r) => this.arn('ec2', r));
    const launchActions = ['RunInstances'];
    if (options.fleets) {
      launchActions.push('CreateFleet');
      // CreateFleet carries no ec2:LaunchTemplate key on its resources: the template is fixed by resource.
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'InstantFleetsOfProjectInstances',
          actions: ['ec2:CreateFleet'],
          resources: [this.arn('ec2', 'instance/*')],
          conditions: taggedAsProject,
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'InstantFleetsFromRunnerTemplate',
          actions: ['ec2:CreateFleet'],
          resources: [
            this.arn('ec2', 'fleet/*'),
            templateArn,
            securityGroupArn,
            ...subnets,
            this.arn('ec2', 'network-interface/*'),
            `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/*`,
          ],
        }),
      );
      if (subnetIds === undefined) this.launchIntoVpcSubnets(role, {}, 'ec2:CreateFleet');
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'InstantFleetsWithEncryptedVolumes',
          actions: ['ec2:CreateFleet'],
          resources: [this.arn('ec2', 'volume/*')],
          conditions: encrypted,
        }),
      );
      // An instant fleet's one-time spot instances come from spot requests tagged at creation.
      tagged.push(this.arn('ec2', 'fleet/*'), this.arn('ec2', 'spot-instances-request/*'));
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'SpotRequestsOfInstantFleets',
          actions: ['ec2:RunInstances'],
          resources: [this.arn('ec2', 'spot-instances-request/*')],
        }),
      );
      // First spot or fleet launch in an account creates EC2's service-linked roles.
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'Ec2SpotServiceLinkedRoles',
          actions: ['iam:CreateServiceLinkedRole'],
          resources: [`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/*`],
          conditions: {
            StringEquals: { 'iam:AWSServiceName': ['spot.amazonaws.com', 'ec2fleet.amazonaws.com'] },
          },
        }),
      );
    }
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TagOnlyAtLaunch',
        actions: ['ec2:CreateTags'],
        resources: tagged,
        conditions: { StringEquals: { 'ec2:CreateAction': launchActions } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PassRunnerRoleToEc2',
        actions: ['iam:PassRole'],
        resources: [instanceRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    );
    const reason =
      'Instances, volumes, interfaces and fleets get their ids at launch; the statement is conditioned on the ' +
      'runner launch template, the wpr:project request tag or ec2:CreateAction.';
    this.acknowledge(
      role,
      ['instance/*', 'volume/*', 'network-interface/*', 'fleet/*', 'spot-instances-request/*']
        .map((r) => ({
          finding: `Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${r}`,
          reason,
        }))
        .concat([
          { finding: 'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*', reason },
          {
            finding: 'Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/aws-service-role/*',
            reason: 'Conditioned on iam:AWSServiceName (EC2 Spot and EC2 Fleet service-linked roles only).',
          },
        ]),
    );
  }

  /** Start a claimed pool instance (IAM denies it for any instance not tagged as the project's). */
  startInstances(role: Role): void {
    this.onProjectInstances(role, 'StartProjectInstances', ['ec2:StartInstances']);
    // A hot runner started from the pool gets its agent's idle bound right after StartInstances: that
    // one key, on the project's instances, never any other tag of an existing resource.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TagIdleBoundOfProjectInstances',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags'],
        resources: [this.arn('ec2', 'instance/*')],
        conditions: {
          StringEquals: this.projectTag,
          'ForAllValues:StringEquals': { 'aws:TagKeys': [tagKeys.maxIdleSeconds] },
          Null: { 'aws:TagKeys': 'false' },
        },
      }),
    );
  }

  /** Change a stopped pool instance's type (fallback ladder: resize). */
  changeInstanceTypes(role: Role): void {
    this.onProjectInstances(role, 'ResizeProjectInstances', ['ec2:ModifyInstanceAttribute']);
  }

  terminateInstances(role: Role): void {
    this.onProjectInstances(role, 'TerminateProjectInstances', ['ec2:TerminateInstances']);
  }

  private onProjectInstances(role: Role, sid: string, actions: string[]): void {
    const instances = this.arn('ec2', 'instance/*');
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid,
        effect: Effect.ALLOW,
        actions,
        resources: [instances],
        conditions: { StringEquals: this.projectTag },
      }),
    );
    this.acknowledge(role, [
      {
        finding: `Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*`,
        reason: `Instance ids are not known in advance; conditioned on aws:ResourceTag/${tagKeys.project}.`,
      },
    ]);
  }

  /** Acknowledges wildcard findings on the role (its inline and default policies), each with its reason. */
  private acknowledge(role: Role, reasons: readonly WildcardReason[]): void {
    const done = acknowledged.get(role) ?? new Set<string>();
    acknowledged.set(role, done);
    for (const { finding, reason } of reasons) {
      const id = `AwsSolutions-IAM5[${finding}]`;
      if (done.has(id)) continue;
      done.add(id);
      Validations.of(role).acknowledge({ id, reason });
    }
  }

  /** How cdk-nag prints an ARN built from pseudo parameters: `${AWS::Region}` becomes `<AWS::Region>`. */
  private nagForm(arn: string): string {
    return nagForm(Stack.of(this.props.launchTemplate).resolve(arn));
  }
}
