/**
 * RunnerImage synthesized in a bare stack: the Image Builder resources, the schedule, what the recipe
 * passes to the components, and the prop combinations refused at synth time.
 */
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import {
  pinnedRunner,
  RunnerImage,
  type RunnerImageProps,
  RunnerImagePropsError,
} from '../../infra/constructs/runner-image.js';

function synth(props: Partial<RunnerImageProps> = {}, extend?: (stack: Stack, image: RunnerImage) => void) {
  const stack = new Stack(new App(), 'Images', { env: { account: '123456789012', region: 'eu-west-1' } });
  const image = new RunnerImage(stack, 'RunnerImage', { parameterPrefix: '/wpr', ...props });
  extend?.(stack, image);
  return { template: Template.fromStack(stack), image, stack };
}

type Resources = Record<string, { Properties: Record<string, unknown> }>;

function recipeParameters(template: Template, arch: string): Record<string, unknown> {
  const recipes = Object.values(template.findResources('AWS::ImageBuilder::ImageRecipe') as Resources);
  const recipe = recipes.find((r) => (r.Properties.Name as string).endsWith(`-${arch}`));
  const components = recipe?.Properties.Components as { Parameters?: { Name: string; Value: unknown[] }[] }[];
  return Object.fromEntries(components.flatMap((c) => c.Parameters ?? []).map((p) => [p.Name, p.Value[0]]));
}

describe('RunnerImage', () => {
  const { template } = synth();

  it('builds one pipeline per architecture, weekly and enabled, with image tests', () => {
    template.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 2);
    template.allResourcesProperties('AWS::ImageBuilder::ImagePipeline', {
      Status: 'ENABLED',
      Schedule: {
        ScheduleExpression: 'cron(0 4 ? * mon *)',
        Timezone: 'Etc/UTC',
        PipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY',
      },
      ImageTestsConfiguration: { ImageTestsEnabled: true, TimeoutMinutes: 60 },
      ImageRecipeArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
      InfrastructureConfigurationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
      DistributionConfigurationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
    });
  });

  it('starts every build from the current Amazon Linux 2023 of its architecture, via the public parameter', () => {
    const parents = Object.values(template.findResources('AWS::ImageBuilder::ImageRecipe') as Resources).map(
      (r) => r.Properties.ParentImage,
    );
    expect(parents.sort()).toEqual([
      'ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
      'ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    ]);
    template.allResourcesProperties('AWS::ImageBuilder::ImageRecipe', {
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3', Encrypted: true } },
      ],
    });
  });

  it('pins the runner by version and the published SHA-256 of each architecture', () => {
    expect(pinnedRunner.sha256.x64).not.toBe(pinnedRunner.sha256.arm64);
    for (const arch of ['x64', 'arm64'] as const)
      expect(recipeParameters(template, arch)).toMatchObject({
        RunnerVersion: pinnedRunner.version,
        RunnerArch: arch,
        RunnerSha256: pinnedRunner.sha256[arch],
        ParameterPrefix: '/wpr',
        RunnerSudo: 'true',
      });
  });

  it('installs the agent from assets the build role may read', () => {
    const parameters = recipeParameters(template, 'x64');
    expect(JSON.stringify(parameters.AgentScriptS3Uri)).toMatch(/\.sh/);
    expect(JSON.stringify(parameters.AgentUnitS3Uri)).toMatch(/\.service/);
    expect(JSON.stringify(parameters.AgentHookS3Uri)).toMatch(/\.sh/);
    expect(parameters.AgentHookS3Uri).not.toEqual(parameters.AgentScriptS3Uri);
    expect(parameters).toMatchObject({
      MaxIdleSeconds: '600',
      MaxLifetimeSeconds: '43200',
      RunnerDisableUpdate: 'true',
    });
    expect(recipeParameters(synth({ runnerAutoUpdate: true }).template, 'x64')).toMatchObject({
      RunnerDisableUpdate: 'false',
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      },
      ManagedPolicyArns: Match.arrayWith([
        { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('AmazonSSMManagedInstanceCore')])] },
        { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('EC2InstanceProfileForImageBuilder')])] },
      ]),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['s3:GetObject*']) })]),
      },
    });
  });

  it('carries the three component documents from ami/components verbatim', () => {
    const components = Object.values(template.findResources('AWS::ImageBuilder::Component') as Resources);
    expect(components).toHaveLength(3);
    for (const file of ['base-packages.yml', 'github-runner.yml', 'instance-agent.yml']) {
      const data = readFileSync(new URL(`../../ami/components/${file}`, import.meta.url), 'utf8');
      expect(components.map((c) => c.Properties.Data)).toContain(data);
    }
    template.allResourcesProperties('AWS::ImageBuilder::Component', {
      Platform: 'Linux',
      SupportedOsVersions: ['Amazon Linux 2023'],
      Version: Match.stringLikeRegexp('^1\\.0\\.\\d+$'),
    });
  });

  it('requires IMDSv2 on build instances and uses architecture-matching instance types', () => {
    template.allResourcesProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      InstanceMetadataOptions: { HttpTokens: 'required' },
      TerminateInstanceOnFailure: true,
      InstanceProfileName: { Ref: Match.anyValue() },
    });
    const types = Object.values(
      template.findResources('AWS::ImageBuilder::InfrastructureConfiguration') as Resources,
    ).map((r) => r.Properties.InstanceTypes);
    expect(types).toEqual(
      expect.arrayContaining([
        ['m7i.large', 'm6i.large'],
        ['m7g.large', 'm6g.large'],
      ]),
    );
  });

  it('publishes each new AMI id to <prefix>/ami/<arch> as an EC2 image parameter', () => {
    for (const arch of ['x64', 'arm64'])
      template.hasResourceProperties('AWS::ImageBuilder::DistributionConfiguration', {
        Distributions: [
          Match.objectLike({
            Region: 'eu-west-1',
            SsmParameterConfigurations: [{ ParameterName: `/wpr/ami/${arch}`, DataType: 'aws:ec2:image' }],
            AmiDistributionConfiguration: {
              Name: Match.stringLikeRegexp(`-${arch}-\\{\\{ imagebuilder:buildDate \\}\\}$`),
              Description: Match.stringLikeRegexp(pinnedRunner.version),
              AmiTags: { 'wpr:runner-version': pinnedRunner.version, 'wpr:architecture': arch },
            },
          }),
        ],
      });
  });

  it('lets a principal start the pipelines on demand', () => {
    const { template: granted } = synth({}, (stack, image) => {
      const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
      image.grantStartPipelines(operator);
    });
    granted.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'imagebuilder:StartImagePipelineExecution',
            Resource: Match.arrayWith([{ 'Fn::GetAtt': [Match.anyValue(), 'Arn'] }]),
          }),
        ],
      },
    });
  });

  it('builds in the default VPC unless given one, then in its subnet with an outbound-only group', () => {
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    template.allResourcesProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      SubnetId: Match.absent(),
    });
    const stack = new Stack(new App(), 'Net', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
    });
    new RunnerImage(stack, 'RunnerImage', { parameterPrefix: '/wpr', vpc, architectures: ['x64'] });
    const built = Template.fromStack(stack);
    built.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      SubnetId: 'subnet-0aaaaaaaaaaaaaaaa',
      SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('BuildSecurityGroup'), 'GroupId'] }],
    });
    built.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '0.0.0.0/0' })],
    });
    built.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1);
  });

  it('versions recipes by content: same inputs same version, a new runner a new version', () => {
    const version = (t: Template) =>
      Object.values(t.findResources('AWS::ImageBuilder::ImageRecipe') as Resources)
        .map((r) => r.Properties.Version)
        .sort();
    expect(version(synth().template)).toEqual(version(template));
    const bumped = synth({
      runnerVersion: '2.338.0',
      runnerSha256: { x64: 'a'.repeat(64), arm64: 'b'.repeat(64) },
    }).template;
    expect(version(bumped)[0]).not.toBe(version(template)[0]);
    expect(recipeParameters(bumped, 'arm64')).toMatchObject({
      RunnerVersion: '2.338.0',
      RunnerSha256: 'b'.repeat(64),
    });
  });

  it('takes a custom schedule', () => {
    const { template: custom } = synth({
      scheduleExpression: 'cron(30 2 ? * sun *)',
      architectures: ['arm64'],
    });
    custom.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1);
    custom.hasResourceProperties('AWS::ImageBuilder::ImagePipeline', {
      Schedule: Match.objectLike({ ScheduleExpression: 'cron(30 2 ? * sun *)' }),
    });
  });
});

describe('RunnerImage props refused at synth time', () => {
  const refused = (props: Partial<RunnerImageProps>) => {
    try {
      synth(props);
    } catch (error) {
      expect(error).toBeInstanceOf(RunnerImagePropsError);
      return (error as Error).message;
    }
    throw new Error('expected the props to be refused');
  };

  it('a runner version without its checksums', () => {
    expect(refused({ runnerVersion: '2.400.0' })).toMatch(
      /runnerSha256\.x64 is required[\s\S]*runnerSha256\.arm64/,
    );
    expect(refused({ runnerVersion: '2.400.0', runnerSha256: { x64: 'a'.repeat(64) } })).toMatch(
      /runnerSha256\.arm64 is required/,
    );
  });

  it('a checksum that is not a SHA-256', () => {
    expect(refused({ runnerSha256: { x64: 'abc', arm64: pinnedRunner.sha256.arm64 } })).toMatch(
      /runnerSha256\.x64 "abc" is not a SHA-256/,
    );
  });

  it('every problem at once, each naming what was given', () => {
    const message = refused({
      parameterPrefix: 'wpr/',
      scheduleExpression: 'rate(7 days)',
      buildInstanceTypes: { arm64: ['m7i.large'] },
      subnetSelection: { subnetType: ec2.SubnetType.PUBLIC },
      rootVolumeSizeGb: 4,
    });
    expect(message).toContain('parameterPrefix "wpr/"');
    expect(message).toContain('scheduleExpression "rate(7 days)"');
    expect(message).toContain('buildInstanceTypes.arm64: m7i.large is x64, not arm64');
    expect(message).toContain('subnetSelection needs vpc');
    expect(message).toContain('rootVolumeSizeGb 4');
  });

  it('watchdog bounds that are not whole seconds, or an idle bound over the lifetime', () => {
    expect(refused({ agentMaxIdleSeconds: 0, agentMaxLifetimeSeconds: 1.5 })).toMatch(
      /agentMaxIdleSeconds 0 must be a whole number[\s\S]*agentMaxLifetimeSeconds 1\.5 must be a whole number/,
    );
    expect(refused({ agentMaxIdleSeconds: 7200, agentMaxLifetimeSeconds: 3600 })).toContain(
      'agentMaxIdleSeconds 7200 is over agentMaxLifetimeSeconds 3600',
    );
  });

  it('no architecture, or one twice', () => {
    expect(refused({ architectures: [] })).toContain('name at least one');
    expect(refused({ architectures: ['x64', 'x64'] })).toContain('lists one twice');
  });
});
