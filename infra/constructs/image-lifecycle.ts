/**
 * ImageLifecycle: an EC2 Image Builder lifecycle policy that deletes old runner images — the AMI and its
 * EBS snapshots — keeping the newest few. A weekly rebuild per architecture otherwise leaves an AMI and
 * its snapshots behind every week, billed as EBS snapshot storage forever. Images launched recently are
 * kept whatever their age (an instance rolling to a new image may still be on an old one).
 *
 * Selection is by the `wpr:project` tag, which every resource of the installation carries (pipelines
 * included, so the images they build carry it too). The policy runs under its own role with the AWS
 * managed policy written for exactly this (EC2ImageBuilderLifecycleExecutionPolicy): it may deregister
 * and delete only images and snapshots tagged as created by Image Builder.
 */
import { Validations } from 'aws-cdk-lib';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnLifecyclePolicy } from 'aws-cdk-lib/aws-imagebuilder';
import { Construct } from 'constructs';
import { tagKeys } from '../../scheduler/adapters/tags.js';

export interface ImageLifecycleProps {
  readonly project: string;
  readonly namePrefix: string;
  /** Images kept per architecture. @default 3 */
  readonly keep?: number;
  /** An image launched within this many days is kept, whatever its rank. @default 14 */
  readonly keepLaunchedWithinDays?: number;
}

export class ImageLifecycle extends Construct {
  readonly policy: CfnLifecyclePolicy;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: ImageLifecycleProps) {
    super(scope, id);
    const managedPolicy = 'service-role/EC2ImageBuilderLifecycleExecutionPolicy';
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('imagebuilder.amazonaws.com'),
      description: `${props.project}: Image Builder deletes old runner images and their snapshots`,
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName(managedPolicy)],
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${managedPolicy}]`,
      reason:
        'The AWS managed policy written for Image Builder lifecycle policies: it deletes only images and ' +
        'snapshots Image Builder created, and AWS keeps it current with the service.',
    });
    this.policy = new CfnLifecyclePolicy(this, 'Policy', {
      name: `${props.namePrefix}-images`,
      description: 'Delete old runner AMIs and their snapshots, keeping the newest and any launched recently',
      executionRole: this.role.roleArn,
      resourceType: 'AMI_IMAGE',
      status: 'ENABLED',
      resourceSelection: { tagMap: { [tagKeys.project]: props.project } },
      policyDetails: [
        {
          action: { type: 'DELETE', includeResources: { amis: true, snapshots: true } },
          filter: { type: 'COUNT', value: props.keep ?? 3 },
          exclusionRules: {
            amis: { lastLaunched: { unit: 'DAYS', value: props.keepLaunchedWithinDays ?? 14 } },
          },
        },
      ],
    });
  }
}
