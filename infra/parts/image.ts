/**
 * The image part: the runner image pipelines (EC2 Image Builder, one per architecture), which publish each
 * new AMI id to `<prefix>/ami/<arch>`, and the lifecycle policy that deletes old images and their
 * snapshots. Builds run in the first runner subnet (it reaches GitHub already).
 *
 * In this project's own app it is its own stack, deployed before the runtime stack: its launch template
 * resolves the x64 AMI parameter, which EC2 refuses while it does not exist. In one stack (the construct
 * in a user's stack, the one-click template) the launch template names no image: every launch names the
 * AMI of its pool's architecture anyway, so the first deploy needs no image yet.
 */
import { Annotations, Stack, Validations } from 'aws-cdk-lib';
import { Subnet } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { ImageLifecycle } from '../constructs/image-lifecycle.js';
import { RunnerImage } from '../constructs/runner-image.js';
import { nagForm } from '../nag-form.js';
import { importVpc, type ResolvedRunners } from '../runners-props.js';

export interface ImagePartProps {
  readonly runners: ResolvedRunners;
}

export class ImagePart {
  readonly image: RunnerImage;
  readonly lifecycle: ImageLifecycle;

  constructor(scope: Construct, props: ImagePartProps) {
    const { runners } = props;
    const { buildSubnet } = runners.network;
    const subnet = Subnet.fromSubnetAttributes(scope, 'BuildSubnet', {
      subnetId: buildSubnet.id,
      availabilityZone: buildSubnet.availabilityZone,
    });
    const image = runners.image;
    this.image = new RunnerImage(scope, 'RunnerImage', {
      parameterPrefix: runners.parameterPrefix,
      architectures: image.architectures,
      scheduleExpression: image.scheduleExpression,
      vpc: importVpc(scope, runners.network),
      subnetSelection: { subnets: [subnet] },
      namePrefix: `${runners.project}-runner`,
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
    this.lifecycle = new ImageLifecycle(scope, 'ImageLifecycle', {
      project: runners.project,
      namePrefix: `${runners.project}-runner`,
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
    // The asset bucket as the template names it (the synthesizer's: a bootstrap bucket, or a parameter).
    const stack = Stack.of(scope);
    const statements = (stack.resolve(
      (buildRole.node.tryFindChild('DefaultPolicy') as { document?: unknown } | undefined)?.document,
    ) ?? { Statement: [] }) as { Statement: { Resource?: unknown }[] };
    const s3Resources = statements.Statement.flatMap((st) => [st.Resource ?? []].flat())
      .map(nagForm)
      .filter((r) => r.includes(':s3:::') && r.endsWith('/*'));
    for (const finding of [
      'Action::s3:GetObject*',
      'Action::s3:GetBucket*',
      'Action::s3:List*',
      ...s3Resources.map((r) => `Resource::${r}`),
    ])
      Validations.of(buildRole).acknowledge({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason:
          'Read access to the CDK asset objects holding the instance agent and its systemd unit, as granted ' +
          'by the asset; the build copies them into the image.',
      });
    Annotations.of(scope).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'The build subnet is only named as the place to build; its route table is never read.',
    );
  }
}
