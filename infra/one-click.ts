/**
 * The one-click template: the WarmPoolRunners construct in one environment-agnostic stack whose
 * installation values are CloudFormation parameters, for operators who install from the console (or
 * `aws cloudformation deploy`) rather than from a CDK app. The release workflow synthesizes it
 * (`npm run synth:one-click`), packages the Lambda and image assets next to it and attaches both to the
 * GitHub release (.github/workflows/release.yml); docs/deploy.md shows how to install from it.
 *
 * What stays fixed in this template: the project name (`wpr`; a second installation in one account uses
 * the construct with another name), x64 and arm64 images, private subnets (no public IPs: runners reach
 * GitHub through the VPC's NAT), and the default alarm thresholds.
 *
 * Assets: the template reads each asset from `s3://<AssetBucket>/<AssetPrefix><asset hash>.zip|…`, a
 * bucket in the installation's region holding the files attached to the release (Lambda reads code only
 * from a bucket in its own region).
 */
import {
  App,
  CfnParameter,
  DefaultStackSynthesizer,
  type IStackSynthesizer,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { asInterface } from './as-interface.js';
import { WarmPoolRunners } from './warm-pool-runners.js';

export const oneClickStackId = 'WarmPoolRunners';

/** `subnet-…:zone` pairs, comma separated, as the Subnets parameter takes them. */
const subnetPair = 'subnet-[0-9a-f]{8,17}:[a-z]{2}(?:-[a-z]+)+-\\d[a-z]';

export interface OneClickOptions {
  /** Check the stack with cdk-nag's AwsSolutions rules. @default true */
  readonly nag?: boolean;
}

export function defineOneClickStack(app: App, options: OneClickOptions = {}): Stack {
  const stack = new Stack(app, oneClickStackId, {
    description: 'Warm-pool GitHub Actions runners on EC2 (one-click install; docs/deploy.md)',
    // Assets come from the bucket and prefix the operator names; no CDK bootstrap in the account.
    synthesizer: asInterface<IStackSynthesizer>(
      new DefaultStackSynthesizer({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
        fileAssetsBucketName: '${AssetBucket}',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
        bucketPrefix: '${AssetPrefix}',
        generateBootstrapVersionRule: false,
      }),
    ),
  });
  const parameter = (id: string, props: ConstructorParameters<typeof CfnParameter>[2]) =>
    new CfnParameter(stack, id, props);
  const organization = parameter('GitHubOrganization', {
    type: 'String',
    description: 'The GitHub organization (or user) the App is installed on',
    allowedPattern: '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$',
  });
  const appId = parameter('GitHubAppId', { type: 'Number', description: "The GitHub App's id", minValue: 1 });
  const installationId = parameter('GitHubInstallationId', {
    type: 'Number',
    description: "The App installation's id (in the installation's settings URL)",
    minValue: 1,
  });
  const vpcId = parameter('VpcId', { type: 'AWS::EC2::VPC::Id', description: 'The VPC runners launch in' });
  const subnets = parameter('Subnets', {
    type: 'String',
    description:
      'Runner subnets with their zones, e.g. subnet-0a1b2c3d:eu-west-1a,subnet-4e5f6a7b:eu-west-1b ' +
      '(private subnets with a route to GitHub through NAT). The first one also builds the runner image.',
    allowedPattern: `^${subnetPair}(?:,${subnetPair})*$`,
    constraintDescription: 'subnet-id:zone pairs separated by commas, no spaces',
  });
  const pools = parameter('PoolsConfig', {
    type: 'String',
    description:
      'The initial pool config as JSON (docs/examples/deployment-config.jsonc, "pools"); its subnets must be ' +
      'among Subnets. Checked by the control plane on every read; change it later with `npx runners pools apply`.',
    minLength: 2,
    maxLength: 4096,
  });
  parameter('AssetBucket', {
    type: 'String',
    description: "An S3 bucket in this region holding the release's asset files (docs/deploy.md)",
    allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
  });
  parameter('AssetPrefix', {
    type: 'String',
    description: 'Key prefix of the asset files in AssetBucket (e.g. warm-pool-runners/v0.1.0/)',
    default: '',
  });

  new WarmPoolRunners(stack, 'Runners', {
    github: {
      organization: organization.valueAsString,
      appId: appId.valueAsNumber,
      installationId: installationId.valueAsNumber,
    },
    network: { vpc: vpcId.valueAsString, subnets: { subnetZonePairs: subnets.valueAsString } },
    pools: pools.valueAsString,
  });
  stack.templateOptions.metadata = {
    'AWS::CloudFormation::Interface': {
      ParameterGroups: [
        {
          Label: { default: 'GitHub App' },
          Parameters: ['GitHubOrganization', 'GitHubAppId', 'GitHubInstallationId'],
        },
        { Label: { default: 'Network' }, Parameters: ['VpcId', 'Subnets'] },
        { Label: { default: 'Pools' }, Parameters: ['PoolsConfig'] },
        { Label: { default: 'Release assets' }, Parameters: ['AssetBucket', 'AssetPrefix'] },
      ],
    },
  };
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

// Run as the app of `npm run synth:one-click`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const app = new App();
  defineOneClickStack(app);
  app.synth();
}
