/**
 * RunnerImage: the runner AMI, built by EC2 Image Builder on a schedule and on demand, one pipeline per
 * architecture. Each build starts from the current Amazon Linux 2023 (resolved from AWS's public SSM
 * parameter at build time, so every build picks up the latest base), installs the base packages, the
 * GitHub Actions runner at a pinned version verified by its SHA-256, and the instance agent with its
 * systemd unit and the runner's job hooks (the job-started signal, ami/README.md); tests the image; and
 * publishes the new AMI id to `<parameterPrefix>/ami/<arch>`, the SSM parameter launch templates resolve
 * (`resolve:ssm:`).
 *
 * Why Amazon Linux 2023: a stopped pool instance is started for every job, so boot time is on the critical
 * path, and AL2023 is the fastest-booting general-purpose AMI; it ships the AWS CLI v2 and the SSM agent.
 *
 * Gotchas
 * - Image Builder components and recipes are immutable per name and version. Versions here derive from a
 *   hash of their content, so any change (a component document, the agent, the runner pin) deploys as a
 *   new version instead of failing on "version already exists".
 * - The image's agent stands down on an instance without a `wpr:role` tag, which is what keeps the Image
 *   Builder test instance (and any debug launch) from powering itself off.
 * - Launch templates using this AMI must enable instance tags in metadata (InstanceMetadataTags=enabled)
 *   and require IMDSv2; see ami/README.md for what the instance role needs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Names, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { architectureOfType } from '../../scheduler/core/pool-config.js';

export type RunnerArchitecture = 'x64' | 'arm64';

/** The actions/runner release built by default, with the SHA-256 sums published in its release notes. */
export const pinnedRunner = {
  version: '2.337.0',
  sha256: {
    x64: '70920811a4f8ad4328818682bca5c6469c1c942fab52448868071d0063816613',
    arm64: '9b1dc70626422526e3c94767cf024896beb15da5342a3f4819bf2feac13e0393',
  },
} as const satisfies { version: string; sha256: Record<RunnerArchitecture, string> };

export interface RunnerImageProps {
  /**
   * SSM parameter prefix of this deployment, e.g. `/wpr`. The agent reads `<prefix>/pools` and
   * `<prefix>/jit/<instance-id>`; each new AMI id is written to `<prefix>/ami/<arch>`.
   */
  readonly parameterPrefix: string;
  /**
   * actions/runner release to install, without the leading `v`.
   * @default pinnedRunner.version
   */
  readonly runnerVersion?: string;
  /**
   * SHA-256 of `actions-runner-linux-<arch>-<version>.tar.gz` per architecture, from the release notes.
   * Required for every built architecture when `runnerVersion` is not the pinned default.
   * @default pinnedRunner.sha256 for the pinned version
   */
  readonly runnerSha256?: Partial<Record<RunnerArchitecture, string>>;
  /**
   * Architectures to build, one pipeline each.
   * @default ['x64', 'arm64']
   */
  readonly architectures?: readonly RunnerArchitecture[];
  /**
   * Instance types for the build and test instances, per architecture (Image Builder tries them in order).
   * @default x64: m7i.large, m6i.large; arm64: m7g.large, m6g.large
   */
  readonly buildInstanceTypes?: Partial<Record<RunnerArchitecture, readonly string[]>>;
  /**
   * VPC for the build instances; they need outbound HTTPS (GitHub, the package repositories, S3, SSM).
   * @default the account's default VPC, chosen by Image Builder
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Where in `vpc` to build; the first selected subnet is used. Only with `vpc`.
   * @default private subnets with egress of `vpc`
   */
  readonly subnetSelection?: ec2.SubnetSelection;
  /**
   * When scheduled builds run, as an Image Builder cron expression. A pipeline can also be started at any
   * time (`aws imagebuilder start-image-pipeline-execution`, see `grantStartPipelines`).
   * @default 'cron(0 4 ? * mon *)' — weekly, Monday 04:00
   */
  readonly scheduleExpression?: string;
  /**
   * IANA time zone of `scheduleExpression`.
   * @default 'Etc/UTC'
   */
  readonly scheduleTimezone?: string;
  /**
   * Root volume of the image in GiB. Keep it small: a pool instance reads its whole volume while warming,
   * and launch templates can grow it (the pool's `volumeSizeGb`).
   * @default 16
   */
  readonly rootVolumeSizeGb?: number;
  /**
   * Passwordless sudo for the runner user, as on GitHub-hosted runners. The instance serves one job and is
   * thrown away.
   * @default true
   */
  readonly runnerSudo?: boolean;
  /**
   * Let each runner update itself when GitHub says its version is outdated. Off by default: a JIT runner
   * that updates downloads the new release at job start and restarts, which the job waits for; the image
   * is rebuilt weekly instead (`scheduleExpression`). Turn it on if builds stop for longer than GitHub
   * accepts an outdated runner.
   * @default false
   */
  readonly runnerAutoUpdate?: boolean;
  /**
   * Seconds a job boot's runner may wait for a job before the agent stops it and powers off
   * (`wpr:agent-reason=idle-timeout`). The instance tag `wpr:max-idle-seconds` overrides it per instance,
   * e.g. for a runner kept hot. See docs/boot-path.md.
   * @default 600
   */
  readonly agentMaxIdleSeconds?: number;
  /**
   * Seconds a job boot may last, job or not, before the agent stops the runner and powers off
   * (`wpr:agent-reason=max-lifetime`). The instance tag `wpr:max-lifetime-seconds` overrides it.
   * @default 43200 (12 h)
   */
  readonly agentMaxLifetimeSeconds?: number;
  /**
   * Prefix of the Image Builder resource names (unique in the account and region).
   * @default a name derived from this construct's path
   */
  readonly namePrefix?: string;
}

/** A prop combination that cannot build an image; raised at synth time. */
export class RunnerImagePropsError extends Error {
  override readonly name = 'RunnerImagePropsError';
}

const defaultBuildTypes: Record<RunnerArchitecture, readonly string[]> = {
  x64: ['m7i.large', 'm6i.large'],
  arm64: ['m7g.large', 'm6g.large'],
};

const parentImageParameter: Record<RunnerArchitecture, string> = {
  x64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  arm64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
};

const amiDir = fileURLToPath(new URL('../../ami/', import.meta.url));

export class RunnerImage extends Construct {
  /** The architectures built, one pipeline each. */
  readonly architectures: readonly RunnerArchitecture[];
  readonly runnerVersion: string;
  /** Image pipelines by architecture. */
  readonly pipelines: Readonly<Partial<Record<RunnerArchitecture, imagebuilder.CfnImagePipeline>>>;
  /** SSM parameter holding the latest AMI id, by architecture: `<prefix>/ami/<arch>`. */
  readonly amiParameterNames: Readonly<Partial<Record<RunnerArchitecture, string>>>;
  /** Role of the build and test instances. */
  readonly buildRole: iam.Role;

  constructor(scope: Construct, id: string, props: RunnerImageProps) {
    super(scope, id);
    const settings = validate(props);
    this.architectures = settings.architectures;
    this.runnerVersion = settings.runnerVersion;
    const namePrefix = props.namePrefix ?? Names.uniqueResourceName(this, { maxLength: 40, separator: '-' });

    const agentScript = new Asset(this, 'AgentScript', { path: `${amiDir}agent/wpr-agent.sh` });
    const agentUnit = new Asset(this, 'AgentUnit', { path: `${amiDir}agent/wpr-agent.service` });
    // The runner's job-started and job-completed hooks (one script under two names).
    const agentHook = new Asset(this, 'AgentHook', { path: `${amiDir}agent/wpr-runner-hook.sh` });

    this.buildRole = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Image Builder build and test instances of the runner image',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
      ],
    });
    agentScript.grantRead(this.buildRole);
    agentUnit.grantRead(this.buildRole);
    agentHook.grantRead(this.buildRole);
    const instanceProfile = new iam.InstanceProfile(this, 'BuildInstanceProfile', { role: this.buildRole });

    let subnetId: string | undefined;
    let securityGroupIds: string[] | undefined;
    if (props.vpc !== undefined) {
      const selection = props.vpc.selectSubnets(
        props.subnetSelection ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      );
      const subnet = selection.subnets[0];
      if (subnet === undefined) throw new RunnerImagePropsError('RunnerImage: the subnet selection is empty');
      subnetId = subnet.subnetId;
      const securityGroup = new ec2.SecurityGroup(this, 'BuildSecurityGroup', {
        vpc: props.vpc,
        description: 'Runner image builds: outbound only',
        allowAllOutbound: true,
      });
      securityGroupIds = [securityGroup.securityGroupId];
    }

    const component = (id: string, file: string, description: string) => {
      const data = readFileSync(`${amiDir}components/${file}`, 'utf8');
      return new imagebuilder.CfnComponent(this, id, {
        name: `${namePrefix}-${file.replace(/\.yml$/, '')}`,
        version: contentVersion(data),
        platform: 'Linux',
        supportedOsVersions: ['Amazon Linux 2023'],
        description,
        data,
      });
    };
    const basePackages = component('BasePackages', 'base-packages.yml', 'Packages and the runner user');
    const runner = component('GitHubRunner', 'github-runner.yml', 'The GitHub Actions runner, pinned');
    const agent = component('InstanceAgent', 'instance-agent.yml', 'The instance agent and its unit');

    const pipelines: Partial<Record<RunnerArchitecture, imagebuilder.CfnImagePipeline>> = {};
    const amiParameterNames: Partial<Record<RunnerArchitecture, string>> = {};
    for (const arch of settings.architectures) {
      const scope = new Construct(this, arch);
      const sha256 = settings.sha256[arch];
      const componentConfigs = [
        {
          componentArn: basePackages.attrArn,
          parameters: [param('RunnerSudo', String(settings.runnerSudo))],
        },
        {
          componentArn: runner.attrArn,
          parameters: [
            param('RunnerVersion', settings.runnerVersion),
            param('RunnerArch', arch),
            param('RunnerSha256', sha256),
          ],
        },
        {
          componentArn: agent.attrArn,
          parameters: [
            param('AgentScriptS3Uri', agentScript.s3ObjectUrl),
            param('AgentUnitS3Uri', agentUnit.s3ObjectUrl),
            param('AgentHookS3Uri', agentHook.s3ObjectUrl),
            param('ParameterPrefix', settings.parameterPrefix),
            param('RunnerDisableUpdate', String(!settings.runnerAutoUpdate)),
            param('MaxIdleSeconds', String(settings.agentMaxIdleSeconds)),
            param('MaxLifetimeSeconds', String(settings.agentMaxLifetimeSeconds)),
          ],
        },
      ];
      const parentImage = `ssm:${parentImageParameter[arch]}`;
      const recipe = new imagebuilder.CfnImageRecipe(scope, 'Recipe', {
        name: `${namePrefix}-${arch}`,
        // Recipes are immutable: the version follows everything that goes into one.
        version: contentVersion(
          JSON.stringify([
            parentImage,
            settings.rootVolumeSizeGb,
            [basePackages, runner, agent].map((c) => [c.name, c.version]),
            [settings.runnerVersion, sha256, settings.runnerSudo, settings.parameterPrefix],
            [settings.agentMaxIdleSeconds, settings.agentMaxLifetimeSeconds, settings.runnerAutoUpdate],
            [agentScript.assetHash, agentUnit.assetHash, agentHook.assetHash],
          ]),
        ),
        parentImage,
        description: `Warm-pool GitHub Actions runner ${settings.runnerVersion} (${arch}), Amazon Linux 2023`,
        components: componentConfigs,
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              volumeSize: settings.rootVolumeSizeGb,
              volumeType: 'gp3',
              encrypted: true,
              deleteOnTermination: true,
            },
          },
        ],
        additionalInstanceConfiguration: { systemsManagerAgent: { uninstallAfterBuild: false } },
      });

      const infrastructure = new imagebuilder.CfnInfrastructureConfiguration(scope, 'Infrastructure', {
        name: `${namePrefix}-${arch}`,
        description: `Build and test instances of the ${arch} runner image`,
        instanceProfileName: instanceProfile.instanceProfileName,
        instanceTypes: [...settings.buildInstanceTypes[arch]],
        instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
        terminateInstanceOnFailure: true,
        ...(subnetId === undefined ? {} : { subnetId }),
        ...(securityGroupIds === undefined ? {} : { securityGroupIds }),
      });

      const amiParameterName = `${settings.parameterPrefix}/ami/${arch}`;
      const distribution = new imagebuilder.CfnDistributionConfiguration(scope, 'Distribution', {
        name: `${namePrefix}-${arch}`,
        description: `Publishes the ${arch} runner AMI id to ${amiParameterName}`,
        distributions: [
          {
            region: Stack.of(this).region,
            // Typed `any` in the L1, so passed through as is: CloudFormation's own casing.
            amiDistributionConfiguration: {
              Name: `${namePrefix}-${arch}-{{ imagebuilder:buildDate }}`,
              Description: `Warm-pool GitHub Actions runner ${settings.runnerVersion} (${arch})`,
              AmiTags: { 'wpr:runner-version': settings.runnerVersion, 'wpr:architecture': arch },
            },
            // The data type makes SSM check the value is an AMI id, and lets launch templates resolve it.
            ssmParameterConfigurations: [{ parameterName: amiParameterName, dataType: 'aws:ec2:image' }],
          },
        ],
      });

      pipelines[arch] = new imagebuilder.CfnImagePipeline(scope, 'Pipeline', {
        name: `${namePrefix}-${arch}`,
        description: `Runner image (${arch}): weekly and on demand`,
        imageRecipeArn: recipe.attrArn,
        infrastructureConfigurationArn: infrastructure.attrArn,
        distributionConfigurationArn: distribution.attrArn,
        status: 'ENABLED',
        enhancedImageMetadataEnabled: true,
        imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 60 },
        schedule: {
          scheduleExpression: settings.scheduleExpression,
          timezone: settings.scheduleTimezone,
          // Weekly even without a base image update: the packages and their fixes move too.
          pipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY',
        },
      });
      amiParameterNames[arch] = amiParameterName;
    }
    this.pipelines = pipelines;
    this.amiParameterNames = amiParameterNames;
  }

  /** Lets `grantee` start a build of any of the pipelines now (the on-demand path). */
  grantStartPipelines(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['imagebuilder:StartImagePipelineExecution'],
      resourceArns: Object.values(this.pipelines).map((p) => p.attrArn),
    });
  }
}

interface Settings {
  readonly parameterPrefix: string;
  readonly runnerVersion: string;
  readonly sha256: Record<RunnerArchitecture, string>;
  readonly architectures: readonly RunnerArchitecture[];
  readonly buildInstanceTypes: Record<RunnerArchitecture, readonly string[]>;
  readonly scheduleExpression: string;
  readonly scheduleTimezone: string;
  readonly rootVolumeSizeGb: number;
  readonly runnerSudo: boolean;
  readonly agentMaxIdleSeconds: number;
  readonly agentMaxLifetimeSeconds: number;
  readonly runnerAutoUpdate: boolean;
}

/** Every problem at once, each saying what was given and what is allowed. */
function validate(props: RunnerImageProps): Settings {
  const problems: string[] = [];
  const architectures = props.architectures ?? ['x64', 'arm64'];
  if (architectures.length === 0) problems.push('architectures: name at least one of x64, arm64');
  if (new Set(architectures).size !== architectures.length) problems.push('architectures: lists one twice');

  const prefix = props.parameterPrefix;
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(prefix))
    problems.push(
      `parameterPrefix "${prefix}" must start with "/", use letters, digits, "_", ".", "-" and end without "/"`,
    );
  else if (/^\/(aws|ssm)/i.test(prefix))
    problems.push(`parameterPrefix "${prefix}" may not begin with aws or ssm`);

  const runnerVersion = props.runnerVersion ?? pinnedRunner.version;
  if (!/^\d+\.\d+\.\d+$/.test(runnerVersion))
    problems.push(`runnerVersion "${runnerVersion}" is not a release number like ${pinnedRunner.version}`);
  const givenSha = props.runnerSha256 ?? (runnerVersion === pinnedRunner.version ? pinnedRunner.sha256 : {});
  const sha256: Partial<Record<RunnerArchitecture, string>> = {};
  for (const arch of architectures) {
    const sum = givenSha[arch];
    if (sum === undefined)
      problems.push(`runnerSha256.${arch} is required for runner ${runnerVersion} (see its release notes)`);
    else if (!/^[0-9a-f]{64}$/.test(sum))
      problems.push(`runnerSha256.${arch} "${sum}" is not a SHA-256 hex digest`);
    else sha256[arch] = sum;
  }

  const buildInstanceTypes = { ...defaultBuildTypes, ...props.buildInstanceTypes };
  for (const arch of architectures) {
    const types = buildInstanceTypes[arch];
    if (types.length === 0) problems.push(`buildInstanceTypes.${arch}: name at least one instance type`);
    for (const type of types)
      if (architectureOfType(type) !== arch)
        problems.push(`buildInstanceTypes.${arch}: ${type} is ${architectureOfType(type)}, not ${arch}`);
  }

  if (props.subnetSelection !== undefined && props.vpc === undefined)
    problems.push('subnetSelection needs vpc: the build security group lives in it');

  const scheduleExpression = props.scheduleExpression ?? 'cron(0 4 ? * mon *)';
  if (!/^cron\(\S+( \S+){4,5}\)$/.test(scheduleExpression))
    problems.push(`scheduleExpression "${scheduleExpression}" is not an Image Builder cron(...) expression`);

  const rootVolumeSizeGb = props.rootVolumeSizeGb ?? 16;
  if (!Number.isInteger(rootVolumeSizeGb) || rootVolumeSizeGb < 8 || rootVolumeSizeGb > 16_384)
    problems.push(`rootVolumeSizeGb ${rootVolumeSizeGb} must be a whole number of GiB from 8 to 16384`);

  const agentMaxIdleSeconds = props.agentMaxIdleSeconds ?? 600;
  const agentMaxLifetimeSeconds = props.agentMaxLifetimeSeconds ?? 43_200;
  for (const [name, value] of [
    ['agentMaxIdleSeconds', agentMaxIdleSeconds],
    ['agentMaxLifetimeSeconds', agentMaxLifetimeSeconds],
  ] as const)
    if (!Number.isInteger(value) || value < 1 || value > 999_999_999)
      problems.push(`${name} ${value} must be a whole number of seconds from 1 to 999999999`);
  if (agentMaxIdleSeconds > agentMaxLifetimeSeconds)
    problems.push(
      `agentMaxIdleSeconds ${agentMaxIdleSeconds} is over agentMaxLifetimeSeconds ${agentMaxLifetimeSeconds}`,
    );

  if (props.namePrefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$/.test(props.namePrefix))
    problems.push(`namePrefix "${props.namePrefix}" must be 1-60 letters, digits, "_" or "-"`);

  if (problems.length > 0) throw new RunnerImagePropsError(`RunnerImage:\n  ${problems.join('\n  ')}`);
  return {
    parameterPrefix: prefix,
    runnerVersion,
    sha256: sha256 as Record<RunnerArchitecture, string>,
    architectures,
    buildInstanceTypes,
    scheduleExpression,
    scheduleTimezone: props.scheduleTimezone ?? 'Etc/UTC',
    rootVolumeSizeGb,
    runnerSudo: props.runnerSudo ?? true,
    agentMaxIdleSeconds,
    agentMaxLifetimeSeconds,
    runnerAutoUpdate: props.runnerAutoUpdate ?? false,
  };
}

function param(name: string, value: string): imagebuilder.CfnImageRecipe.ComponentParameterProperty {
  return { name, value: [value] };
}

/** A semantic version that changes with `content` (each node of an Image Builder version is below 2^30). */
function contentVersion(content: string): string {
  const digest = createHash('sha256').update(content).digest('hex');
  return `1.0.${Number.parseInt(digest.slice(0, 7), 16)}`;
}
