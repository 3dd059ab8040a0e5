/**
 * ImageStack: the runner image pipelines (EC2 Image Builder, one per architecture), which publish each new
 * AMI id to `<prefix>/ami/<arch>`. Deployed before the runtime stack: EC2 refuses a launch template whose
 * `resolve:ssm:` image parameter does not exist yet, so on a first install the first image is built between
 * the two deploys (docs/deploy.md). Builds run in the first runner subnet (it reaches GitHub already).
 */
import { Annotations, DefaultStackSynthesizer, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../config/deployment-config.js';
import { RunnerImage } from '../constructs/runner-image.js';

export interface ImageStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

export class ImageStack extends Stack {
  readonly image: RunnerImage;

  constructor(scope: Construct, id: string, props: ImageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const [first] = config.network.subnets;
    if (first === undefined) throw new Error('network.subnets: must list at least one subnet');
    const vpc = Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.network.vpcId,
      availabilityZones: [first.availabilityZone],
    });
    const subnet = Subnet.fromSubnetAttributes(this, 'BuildSubnet', {
      subnetId: first.id,
      availabilityZone: first.availabilityZone,
    });
    const image = config.image;
    this.image = new RunnerImage(this, 'RunnerImage', {
      parameterPrefix: config.parameterPrefix,
      architectures: image.architectures,
      scheduleExpression: image.scheduleExpression,
      vpc,
      subnetSelection: { subnets: [subnet] },
      namePrefix: `${config.project}-runner`,
      ...(image.runnerVersion === undefined ? {} : { runnerVersion: image.runnerVersion }),
      ...(image.runnerSha256 === undefined
        ? {}
        : {
            runnerSha256: Object.fromEntries(
              Object.entries(image.runnerSha256).filter(
                (entry): entry is [string, string] => entry[1] !== undefined,
              ),
            ),
          }),
    });
    // The build role is the image construct's own; its findings are acknowledged here, where it is deployed.
    const { buildRole } = this.image;
    for (const policy of ['AmazonSSMManagedInstanceCore', 'EC2InstanceProfileForImageBuilder'])
      Validations.of(buildRole).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`,
        reason:
          'EC2 Image Builder build and test instances need these AWS managed policies (SSM agent and ' +
          'Image Builder logging). This role is used only by image builds, never by runners.',
      });
    const assetBucket = `cdk-${DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-${config.account}-${config.region}`;
    for (const finding of [
      'Action::s3:GetObject*',
      'Action::s3:GetBucket*',
      'Action::s3:List*',
      `Resource::arn:<AWS::Partition>:s3:::${assetBucket}/*`,
    ])
      Validations.of(buildRole).acknowledge({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason:
          'Read access to the CDK asset objects holding the instance agent and its systemd unit, as granted ' +
          'by the asset; the build copies them into the image.',
      });
    Annotations.of(this).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'The build subnet is only named as the place to build; its route table is never read.',
    );
  }
}
