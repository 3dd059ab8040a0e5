/**
 * RunnerInstanceRole: the IAM role and instance profile of every runner instance. A runner runs untrusted
 * workflow code, so the role grants exactly what the instance agent does and nothing of the control plane:
 *   - read and delete ITS OWN JIT config `<prefix>/jit/<its instance id>`,
 *   - set ITS OWN `wpr:agent-reason` tag (why it powered off) and `wpr:job-started` tag (its runner took a
 *     job: the control plane refills the hot tier from the tag-change event),
 *   - read the pool config `<prefix>/pools` (no secret in it), for the container images its pool pre-pulls
 *     while warming,
 *   - optionally, Session Manager shells (channel and registration only).
 * No DynamoDB, no EC2 beyond that one tag, no other parameter, no secret, no write.
 *
 * How "its own" is expressed (AWS supports no per-instance role):
 *   - SSM: requests signed with instance-profile credentials carry `ec2:SourceInstanceARN` (a cross-service
 *     condition key: the ARN of the instance the credentials were issued to; EC2 binds it into the
 *     credentials, the caller cannot choose it). The control plane tags each JIT parameter
 *     `wpr:instance-id = <instance id>` when it creates it, and the policy compares the caller's ARN with
 *     the instance ARN built from that tag through the `${aws:ResourceTag/wpr:instance-id}` policy
 *     variable (global condition keys can be used as variables). A parameter without the tag resolves
 *     nothing and matches nothing; only the control plane may tag parameters (a runner can neither tag nor
 *     write one, so it cannot relabel another's config). The parameter name alone cannot do it: no policy
 *     variable holds the bare instance id in an SSM request (`aws:userid` is `<role id>:<instance id>`,
 *     and `:` cannot appear in a parameter name).
 *   - EC2 CreateTags: `ec2:InstanceID` is the target instance of the request, so
 *     `ec2:SourceInstanceARN = arn:…:instance/${ec2:InstanceID}` holds only when an instance tags itself
 *     (the pattern AWS's own managed policies use). Only the agent-reason and job-started keys may be
 *     written.
 * The JIT SecureStrings are encrypted with the installation's own KMS key (JitParameterKey), not the
 * account's `alias/aws/ssm`, whose key policy lets any principal of the account decrypt through SSM. A
 * runner may use that key only through SSM (`kms:ViaService`) and only for a parameter under the JIT
 * directory (`kms:EncryptionContext:PARAMETER_ARN`, which SSM sets to the parameter's ARN); which JIT
 * parameter is its own is the SSM statement's tag condition, tested with a policy simulator
 * (test/infra/iam-policies.test.ts). No KMS condition can name the instance: no policy variable holds the
 * bare instance id.
 */
import { Aws, Stack, Validations } from 'aws-cdk-lib';
import {
  Effect,
  InstanceProfile,
  PolicyDocument,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { nagForm } from '../nag-form.js';
import { jitInstanceTagKey, parameterNames, withoutLeadingSlash } from '../parameter-names.js';

export interface RunnerInstanceRoleProps {
  readonly project: string;
  readonly parameterPrefix: string;
  /** Allow Session Manager shells on runners. @default false */
  readonly sessionManager?: boolean;
  /** The key the JIT configs are encrypted with. */
  readonly jitParameterKey: IKey;
}

export class RunnerInstanceRole extends Construct {
  readonly role: Role;
  readonly instanceProfile: InstanceProfile;

  constructor(scope: Construct, id: string, props: RunnerInstanceRoleProps) {
    super(scope, id);
    const instanceArnPrefix = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/`;
    const jitParameters = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/${withoutLeadingSlash(
      parameterNames.jitDirectory(props.parameterPrefix),
    )}/*`;

    const statements = [
      new PolicyStatement({
        sid: 'ReadPoolConfig',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter'],
        resources: [
          `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/${withoutLeadingSlash(
            parameterNames.poolConfig(props.parameterPrefix),
          )}`,
        ],
      }),
      new PolicyStatement({
        sid: 'TakeOwnJitConfig',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter', 'ssm:DeleteParameter'],
        resources: [jitParameters],
        conditions: {
          ArnEquals: {
            'ec2:SourceInstanceARN': `${instanceArnPrefix}\${aws:ResourceTag/${jitInstanceTagKey}}`,
          },
        },
      }),
      new PolicyStatement({
        sid: 'DecryptJitConfigThroughSsm',
        effect: Effect.ALLOW,
        actions: ['kms:Decrypt'],
        resources: [props.jitParameterKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': jitParameters },
        },
      }),
      new PolicyStatement({
        sid: 'TagOwnAgentReason',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags'],
        resources: [`${instanceArnPrefix}*`],
        conditions: {
          ArnEquals: { 'ec2:SourceInstanceARN': `${instanceArnPrefix}\${ec2:InstanceID}` },
          StringEquals: { [`aws:ResourceTag/${tagKeys.project}`]: props.project },
          // ForAllValues passes on an empty key set; the Null check makes at least one key mandatory.
          'ForAllValues:StringEquals': { 'aws:TagKeys': [tagKeys.agentReason, tagKeys.jobStarted] },
          Null: { 'aws:TagKeys': 'false' },
        },
      }),
    ];
    if (props.sessionManager === true)
      statements.push(
        new PolicyStatement({
          sid: 'SessionManagerChannel',
          effect: Effect.ALLOW,
          actions: [
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
            'ssm:UpdateInstanceInformation',
          ],
          resources: ['*'],
        }),
      );

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'Warm-pool runner instances: own JIT config and own agent-reason/job-started tags only',
      inlinePolicies: { RunnerAgent: new PolicyDocument({ statements }) },
    });
    this.instanceProfile = new InstanceProfile(this, 'InstanceProfile', { role: this.role });

    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagForm(Stack.of(this).resolve(jitParameters))}]`,
      reason:
        'Instance ids are not known in advance; the statement matches only the parameter tagged with the ' +
        "calling instance's own id (ec2:SourceInstanceARN against aws:ResourceTag/wpr:instance-id).",
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagForm(Stack.of(this).resolve(`${instanceArnPrefix}*`))}]`,
      reason:
        'An instance may tag only itself (ec2:SourceInstanceARN equals the target), only with wpr:agent-reason ' +
        'or wpr:job-started, ' +
        'only when it is a project instance.',
    });
  }
}
