/**
 * RunnerLaunchTemplate: how every runner instance is launched (pool, spot and on-demand alike), and the
 * runners' security group. The control plane supplies per launch only what varies by pool: instance type,
 * subnet, root volume size (of `rootDeviceName`) and the image of the pool's architecture.
 *
 * - Image: `resolve:ssm:<prefix>/ami/x64`, resolved by EC2 at each launch, for launches made from the
 *   template alone. The control plane names the AMI id of the pool's architecture in every launch (it
 *   reads `<prefix>/ami/<arch>` itself, so that an instance's spec names the AMI it was built from), so
 *   an image the pipeline publishes is used without a deploy, and arm64 pools get the arm64 one.
 * - IMDSv2 only, hop limit 1: a container on the runner cannot reach the instance credentials through a
 *   bridge network. Instance tags are readable from IMDS, so the agent learns its pool without an API call.
 * - Root volume: gp3, encrypted, deleted with the instance; each pool's launch sets its size.
 * - Shutdown from inside the instance stops it (never terminates): the agent powers off to join the warm
 *   pool, and the control plane decides what is terminated.
 * - No public address unless configured; the security group has no ingress at all. With a public address
 *   the groups sit on the template's interface 0, and each launch names its subnet on a copy of that
 *   interface (EC2 refuses an instance-level subnet beside an interface).
 */
import { Tags } from 'aws-cdk-lib';
import {
  BlockDeviceVolume,
  type CfnLaunchTemplate,
  EbsDeviceVolumeType,
  InstanceInitiatedShutdownBehavior,
  type IVpc,
  LaunchTemplate,
  LaunchTemplateHttpTokens,
  MachineImage,
  SecurityGroup,
} from 'aws-cdk-lib/aws-ec2';
import type { IInstanceProfile } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { parameterNames } from '../parameter-names.js';

export interface RunnerLaunchTemplateProps {
  readonly project: string;
  readonly parameterPrefix: string;
  readonly vpc: IVpc;
  readonly instanceProfile: IInstanceProfile;
  /**
   * The image's root device. The runner image is Amazon Linux 2023 (/dev/xvda), and the EC2 adapter sizes
   * that same device per pool at launch. @default '/dev/xvda'
   */
  readonly rootDeviceName?: string;
  /** Root volume size when a launch does not set the pool's own. @default 30 */
  readonly defaultVolumeSizeGb?: number;
  /** Give runners a public IPv4 address. @default false */
  readonly assignPublicIp?: boolean;
  /**
   * Name `resolve:ssm:<prefix>/ami/x64` as the template's image. EC2 refuses the template while that
   * parameter does not exist, so leave it out where the template is created before the first image is
   * built (one stack); every launch names its pool's image anyway. @default true
   */
  readonly imageFromParameter?: boolean;
}

export class RunnerLaunchTemplate extends Construct {
  readonly launchTemplate: LaunchTemplate;
  readonly securityGroup: SecurityGroup;
  /** The root device the template defines and each launch sizes to its pool's volume. */
  readonly rootDeviceName: string;

  constructor(scope: Construct, id: string, props: RunnerLaunchTemplateProps) {
    super(scope, id);
    this.rootDeviceName = props.rootDeviceName ?? '/dev/xvda';
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Warm-pool runners: egress only, no ingress',
      allowAllOutbound: true,
      allowAllIpv6Outbound: true,
    });

    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateName: `${props.project}-runner`,
      ...(props.imageFromParameter === false
        ? {}
        : {
            machineImage: MachineImage.resolveSsmParameterAtLaunch(
              parameterNames.ami(props.parameterPrefix, 'x64'),
            ),
          }),
      instanceProfile: props.instanceProfile,
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      httpTokens: LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      httpEndpoint: true,
      instanceMetadataTags: true,
      instanceInitiatedShutdownBehavior: InstanceInitiatedShutdownBehavior.STOP,
      blockDevices: [
        {
          deviceName: this.rootDeviceName,
          volume: BlockDeviceVolume.ebs(props.defaultVolumeSizeGb ?? 30, {
            volumeType: EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
      ...(props.assignPublicIp === true ? { associatePublicIpAddress: true } : {}),
    });
    if (props.assignPublicIp === true)
      // Public-IP mode puts the groups and the address on interface 0 (CDK does), and EC2 then refuses a
      // subnet beside it at launch: the control plane copies this interface into each launch with the
      // subnet of its choice. The interface goes with the instance.
      (this.launchTemplate.node.defaultChild as CfnLaunchTemplate).addPropertyOverride(
        'LaunchTemplateData.NetworkInterfaces.0.DeleteOnTermination',
        true,
      );
    // Propagated to the instances and volumes launched from the template (and to the template itself).
    Tags.of(this.launchTemplate).add('Name', `${props.project}-runner`);
    Tags.of(this.launchTemplate).add(tagKeys.project, props.project);
  }
}
