/**
 * Template assertions, one block per construct, on the app synthesized from cdk.json's example
 * configuration (plus one variant for the options that change resources).
 */
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../handlers/settings.js';
import { poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';
import { eventSource } from '../../scheduler/adapters/eventbridge-events.js';
import { exampleDocument } from './example-config.js';
import { resourcesOf, type Synthesized, synthesize } from './synth.js';

const existingProvider = 'arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com';
let app: Synthesized;
let publicVariant: Synthesized;

beforeAll(() => {
  app = synthesize();
  publicVariant = synthesize({
    overrides: {
      project: 'ci',
      network: { assignPublicIp: true },
      runners: { sessionManager: true },
      image: { architectures: ['x64'] },
      pools: { pools: [{ ...(exampleDocument().pools as { pools: object[] }).pools[0], name: 'only-x64' }] },
      alarms: { emails: ['oncall@example.com'] },
      deploy: { existingOidcProviderArn: existingProvider },
    },
  });
});
afterAll(() => {
  app.dispose();
  publicVariant.dispose();
});

/** Every Lambda function's environment, by function name. */
function environments(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.values(resourcesOf(app.runtime, 'AWS::Lambda::Function')).map((f) => [
      f.Properties.FunctionName,
      f.Properties.Environment.Variables,
    ]),
  );
}

describe('PoolStoreTable', () => {
  it('has the keys, indexes and TTL attribute of the adapter table design', () => {
    const design = poolStoreTable;
    app.stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'wpr-pool-store',
      KeySchema: [
        { AttributeName: design.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: design.sortKey.name, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: design.ttlAttribute, Enabled: true },
      GlobalSecondaryIndexes: Object.values(design.indexes).map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it('keeps its data: point-in-time recovery, deletion protection, retained on stack deletion', () => {
    app.stateful.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('lives in a stack with termination protection', () => {
    expect(app.stacks.stateful.stack.terminationProtection).toBe(true);
  });
});

describe('PoolConfigParameter', () => {
  it('holds the validated initial pool config, with defaults filled in', () => {
    const [parameter] = Object.values(resourcesOf(app.stateful, 'AWS::SSM::Parameter'));
    expect(parameter?.Properties.Name).toBe('/wpr/pools');
    expect(parameter?.Properties.Type).toBe('String');
    expect(parameter?.Properties.Tier).toBe('Intelligent-Tiering');
    const document = JSON.parse(parameter?.Properties.Value as string);
    expect(document.pools.map((p: { name: string }) => p.name)).toEqual(['linux-x64', 'linux-arm64']);
    expect(document.settings.claimTimeoutSeconds).toBe(app.config.pools.settings.claimTimeoutSeconds);
  });
});

describe('GitHubAppSecrets', () => {
  it('generates the webhook secret and seeds the App secret with its JSON shape, never a real key', () => {
    app.stateful.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'wpr/github/webhook-secret',
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    app.stateful.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'wpr/github/app',
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({ appId: 123456, installationId: 12345678 }),
        GenerateStringKey: 'privateKey',
      }),
    });
    const secrets = Object.values(app.stateful.findResources('AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) {
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.Properties.SecretString).toBeUndefined();
    }
  });
});

describe('LifecycleEventBus', () => {
  it('is a named bus with an archive of the control plane events', () => {
    app.stateful.hasResourceProperties('AWS::Events::EventBus', { Name: 'wpr-lifecycle' });
    app.stateful.hasResourceProperties('AWS::Events::Archive', {
      EventPattern: { source: [eventSource] },
      RetentionDays: 14,
    });
  });
});

describe('ImageStack (RunnerImage)', () => {
  it('builds one image pipeline per architecture, publishing the AMI ids the launch template resolves', () => {
    const distributions = Object.values(
      resourcesOf(app.image, 'AWS::ImageBuilder::DistributionConfiguration'),
    );
    const published = distributions.flatMap((d) =>
      (d.Properties.Distributions as { SsmParameterConfigurations: { ParameterName: string }[] }[]).flatMap(
        (x) => x.SsmParameterConfigurations.map((c) => c.ParameterName),
      ),
    );
    expect(published.sort()).toEqual(['/wpr/ami/arm64', '/wpr/ami/x64']);
    app.image.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 2);
    publicVariant.image.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1);
  });

  it('builds in the first runner subnet', () => {
    for (const infrastructure of Object.values(
      resourcesOf(app.image, 'AWS::ImageBuilder::InfrastructureConfiguration'),
    ))
      expect(infrastructure.Properties.SubnetId).toBe('subnet-0a1b2c3d4e5f60001');
  });

  it('is deployed before the runtime stack, whose launch template needs the AMI parameter', () => {
    expect(app.stacks.runtime.stack.dependencies).toContain(app.stacks.image.stack);
  });
});

describe('ImageLifecycle', () => {
  it('deletes old runner AMIs with their snapshots, keeping the newest three and any launched recently', () => {
    app.image.hasResourceProperties('AWS::ImageBuilder::LifecyclePolicy', {
      ResourceType: 'AMI_IMAGE',
      Status: 'ENABLED',
      ResourceSelection: { TagMap: { 'wpr:project': 'wpr' } },
      PolicyDetails: [
        {
          Action: { Type: 'DELETE', IncludeResources: { Amis: true, Snapshots: true } },
          Filter: { Type: 'COUNT', Value: 3 },
          ExclusionRules: { Amis: { LastLaunched: { Unit: 'DAYS', Value: 14 } } },
        },
      ],
    });
    // Its role: Image Builder only, with the managed policy AWS keeps for lifecycle execution.
    app.image.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'imagebuilder.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy',
            ],
          ],
        },
      ],
    });
    // The pipelines, and so the images they build, carry the tag the policy selects.
    for (const pipeline of Object.values(resourcesOf(app.image, 'AWS::ImageBuilder::ImagePipeline')))
      expect(pipeline.Properties.Tags).toMatchObject({ 'wpr:project': 'wpr' });
  });
});

describe('RunnerLaunchTemplate', () => {
  it('requires IMDSv2 with hop limit 1, stops on shutdown and takes its image from SSM', () => {
    app.runtime.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: 'wpr-runner',
      LaunchTemplateData: Match.objectLike({
        ImageId: 'resolve:ssm:/wpr/ami/x64',
        InstanceInitiatedShutdownBehavior: 'stop',
        MetadataOptions: {
          HttpEndpoint: 'enabled',
          HttpTokens: 'required',
          HttpPutResponseHopLimit: 1,
          InstanceMetadataTags: 'enabled',
        },
        IamInstanceProfile: { Arn: Match.anyValue() },
      }),
    });
  });

  it('has an encrypted gp3 root volume deleted with the instance', () => {
    app.runtime.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { Encrypted: true, VolumeType: 'gp3', DeleteOnTermination: true, VolumeSize: 30 },
          },
        ],
      }),
    });
  });

  it("tags instances and volumes as the project's at launch", () => {
    const [template] = Object.values(resourcesOf(app.runtime, 'AWS::EC2::LaunchTemplate'));
    const specs = template?.Properties.LaunchTemplateData.TagSpecifications as {
      ResourceType: string;
      Tags: { Key: string; Value: string }[];
    }[];
    expect(specs.map((s) => s.ResourceType).sort()).toEqual(['instance', 'volume']);
    for (const spec of specs) expect(spec.Tags).toContainEqual({ Key: 'wpr:project', Value: 'wpr' });
  });

  it('gives no public address by default and one only when configured', () => {
    const [template] = Object.values(resourcesOf(app.runtime, 'AWS::EC2::LaunchTemplate'));
    expect(template?.Properties.LaunchTemplateData.NetworkInterfaces).toBeUndefined();
    expect(template?.Properties.LaunchTemplateData.SecurityGroupIds).toHaveLength(1);

    publicVariant.runtime.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: true, DeviceIndex: 0 })],
      }),
    });
  });

  it('carries the groups on the interface in public-IP mode, which each launch copies with its subnet', () => {
    // EC2 refuses instance-level groups or a subnet beside an interface (InvalidParameterCombination):
    // the template must carry neither, and Ec2Compute copies this interface into every RunInstances.
    const [template] = Object.values(resourcesOf(publicVariant.runtime, 'AWS::EC2::LaunchTemplate'));
    const data = template?.Properties.LaunchTemplateData;
    expect(data.SecurityGroupIds).toBeUndefined();
    expect(data.SecurityGroups).toBeUndefined();
    expect(data.NetworkInterfaces).toHaveLength(1);
    expect(data.NetworkInterfaces[0].Groups).toHaveLength(1);
    expect(data.NetworkInterfaces[0].SubnetId).toBeUndefined();
    expect(data.NetworkInterfaces[0].DeleteOnTermination).toBe(true);
  });

  it('has a security group with egress only', () => {
    const [group] = Object.values(resourcesOf(app.runtime, 'AWS::EC2::SecurityGroup'));
    expect(group?.Properties.VpcId).toBe('vpc-0a1b2c3d4e5f60718');
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group?.Properties.SecurityGroupEgress).toHaveLength(2);
    expect(app.runtime.findResources('AWS::EC2::SecurityGroupIngress')).toEqual({});
  });
});

describe('RunnerInstanceRole', () => {
  it('is an EC2 role behind an instance profile, with no managed policy', () => {
    app.runtime.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }),
        ],
      },
      Policies: [Match.objectLike({ PolicyName: 'RunnerAgent' })],
      ManagedPolicyArns: Match.absent(),
    });
    app.runtime.resourceCountIs('AWS::IAM::InstanceProfile', 1);
  });

  it('adds Session Manager channels only when configured, never the SSM managed policy', () => {
    const sessionStatements = (synthesized: Synthesized) =>
      Object.values(resourcesOf(synthesized.runtime, 'AWS::IAM::Role'))
        .flatMap(
          (r) => (r.Properties.Policies ?? []) as { PolicyDocument: { Statement: { Sid?: string }[] } }[],
        )
        .flatMap((p) => p.PolicyDocument.Statement)
        .filter((s) => s.Sid === 'SessionManagerChannel');
    expect(sessionStatements(app)).toHaveLength(0);
    expect(sessionStatements(publicVariant)).toHaveLength(1);
    expect(JSON.stringify(publicVariant.runtime.toJSON())).not.toContain('AmazonSSMManagedInstanceCore');
  });
});

describe('ControlPlaneFunctions', () => {
  const expected = [
    'TABLE_NAME',
    'PARAMETER_PREFIX',
    'POOL_CONFIG_PARAMETER',
    'EVENT_BUS_NAME',
    'LAUNCH_TEMPLATE_ID',
    'IMAGE_PARAMETER_PREFIX',
    'ROOT_DEVICE_NAME',
    'SUBNET_ZONES',
    'JIT_PARAMETER_KEY_ID',
    'RUNNER_NAME_PREFIX',
    'PROJECT_TAG',
    'DEPLOYMENT_ID',
    'POWERTOOLS_SERVICE_NAME',
    'POWERTOOLS_METRICS_NAMESPACE',
    'WEBHOOK_SECRET_ARN',
    'GITHUB_APP_SECRET_ARN',
    'GITHUB_API_URL',
    'GITHUB_ORG',
    'RUNNER_SCOPE',
    'RUNNER_GROUP',
    'ALLOWED_OWNERS',
    'ALLOWED_REPOSITORIES',
    'NODE_OPTIONS',
  ].sort();

  it('runs five arm64 functions on Node.js 22 or later, bundled as ESM', () => {
    const functions = Object.values(resourcesOf(app.runtime, 'AWS::Lambda::Function'));
    expect(functions.map((f) => f.Properties.FunctionName).sort()).toEqual([
      'wpr-cost-report',
      'wpr-lifecycle',
      'wpr-pool-tuner',
      'wpr-reconciler',
      'wpr-webhook',
    ]);
    for (const f of functions) {
      expect(f.Properties.Architectures).toEqual(['arm64']);
      expect(Number(/^nodejs(\d+)\.x$/.exec(f.Properties.Runtime)?.[1])).toBeGreaterThanOrEqual(22);
      expect(f.Properties.Handler).toBe('index.handler');
    }
  });

  /** A function's environment with deploy-time tokens (imports, refs) replaced by plausible values. */
  const resolved = (env: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k.toLowerCase()}`]),
    );

  it("sets every function exactly the variables the handlers' settings read, and they pass its validation", () => {
    for (const [name, env] of Object.entries(environments())) {
      // The cost report also reads how many repositories its metric names.
      const wanted = name === 'wpr-cost-report' ? [...expected, 'COST_TOP_REPOSITORIES'].sort() : expected;
      expect(Object.keys(env).sort(), name).toEqual(wanted);
      // The schema keeps the keys it knows: each variable set here must be one of them (or Node's,
      // or Powertools').
      const settings = readSettings({ ...resolved(env), AWS_REGION: 'eu-west-1' });
      for (const key of Object.keys(env))
        if (key !== 'NODE_OPTIONS' && !key.startsWith('POWERTOOLS_'))
          expect(Object.keys(settings), `${name} ${key}`).toContain(key);
    }
  });

  it('derives the values from the configuration', () => {
    const webhook = environments()['wpr-webhook'] ?? {};
    expect(webhook).toMatchObject({
      TABLE_NAME: 'wpr-pool-store',
      PARAMETER_PREFIX: '/wpr',
      POOL_CONFIG_PARAMETER: '/wpr/pools',
      RUNNER_NAME_PREFIX: 'wpr',
      GITHUB_API_URL: 'https://api.github.com',
      GITHUB_ORG: 'example-org',
      RUNNER_SCOPE: 'org',
      RUNNER_GROUP: 'Default',
      ALLOWED_OWNERS: 'example-org',
      ALLOWED_REPOSITORIES: '',
      PROJECT_TAG: 'wpr',
      POWERTOOLS_SERVICE_NAME: 'wpr',
      POWERTOOLS_METRICS_NAMESPACE: 'WarmPoolRunners',
      // Where the image pipeline publishes the AMI ids, and the template's root device.
      IMAGE_PARAMETER_PREFIX: '/wpr/ami',
      ROOT_DEVICE_NAME: '/dev/xvda',
    });
    expect(JSON.parse(webhook.SUBNET_ZONES as string)).toEqual({
      'subnet-0a1b2c3d4e5f60001': 'eu-west-1a',
      'subnet-0a1b2c3d4e5f60002': 'eu-west-1b',
      'subnet-0a1b2c3d4e5f60003': 'eu-west-1c',
    });
    expect(webhook.LAUNCH_TEMPLATE_ID).toEqual({ Ref: expect.stringMatching(/^RunnerLaunchTemplate/) });
  });

  it('points every function at the AMI ids the image pipeline publishes and the template root device', () => {
    const published = Object.values(resourcesOf(app.image, 'AWS::ImageBuilder::DistributionConfiguration'))
      .flatMap((d) =>
        (d.Properties.Distributions as { SsmParameterConfigurations: { ParameterName: string }[] }[]).flatMap(
          (x) => x.SsmParameterConfigurations.map((c) => c.ParameterName),
        ),
      )
      .sort();
    const [template] = Object.values(resourcesOf(app.runtime, 'AWS::EC2::LaunchTemplate'));
    const rootDevice = template?.Properties.LaunchTemplateData.BlockDeviceMappings[0].DeviceName;
    for (const [name, env] of Object.entries(environments())) {
      // The EC2 adapter reads `<IMAGE_PARAMETER_PREFIX>/<architecture>` for each pool's launches.
      expect(
        ['arm64', 'x64'].map((arch) => `${env.IMAGE_PARAMETER_PREFIX}/${arch}`),
        name,
      ).toEqual(published);
      expect(env.ROOT_DEVICE_NAME, name).toBe(rootDevice);
    }
  });

  it('answers GitHub within its 10-second deadline', () => {
    app.runtime.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'wpr-webhook', Timeout: 10 });
  });

  it('gives every function its own log group with the configured retention, and no managed policy', () => {
    const groups = Object.values(resourcesOf(app.runtime, 'AWS::Logs::LogGroup')).filter((g) =>
      String(g.Properties.LogGroupName ?? '').startsWith('/aws/lambda/'),
    );
    expect(groups.map((g) => g.Properties.LogGroupName).sort()).toEqual([
      '/aws/lambda/wpr-cost-report',
      '/aws/lambda/wpr-lifecycle',
      '/aws/lambda/wpr-pool-tuner',
      '/aws/lambda/wpr-reconciler',
      '/aws/lambda/wpr-webhook',
    ]);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(30);
    for (const role of Object.values(resourcesOf(app.runtime, 'AWS::IAM::Role')))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe('WebhookApi', () => {
  it('routes only POST /workflow_job to the webhook function', () => {
    app.runtime.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    app.runtime.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /workflow_job',
      AuthorizationType: 'NONE',
    });
    app.runtime.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneWebhookFunction'), 'Arn'] },
    });
  });

  it('throttles the default stage and writes access logs without headers', () => {
    app.runtime.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 300 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    const [stage] = Object.values(resourcesOf(app.runtime, 'AWS::ApiGatewayV2::Stage'));
    expect(stage?.Properties.AccessLogSettings.Format).not.toMatch(/header|signature/i);
  });

  it('outputs the webhook URL to enter in the GitHub App', () => {
    const outputs = app.runtime.findOutputs('*');
    const url = Object.entries(outputs).find(([id]) => id.startsWith('WebhookApiWebhookUrl'))?.[1];
    expect(JSON.stringify(url?.Value)).toContain('/workflow_job');
  });
});

describe('InstanceEventRules', () => {
  it('sends EC2 state changes and spot interruption warnings to the lifecycle function, with a DLQ', () => {
    app.runtime.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['running', 'stopped', 'shutting-down', 'terminated'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneLifecycleFunction'), 'Arn'] },
          DeadLetterConfig: { Arn: Match.anyValue() },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
    app.runtime.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] },
    });
    app.runtime.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.ec2'], 'detail-type': ['EC2 Instance Rebalance Recommendation'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneLifecycleFunction'), 'Arn'] },
        }),
      ],
    });
    // The agent's job-started tag: only that key's changes on EC2 instances, to the same target.
    app.runtime.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.tag'],
        'detail-type': ['Tag Change on Resource'],
        detail: { service: ['ec2'], 'resource-type': ['instance'], 'changed-tag-keys': ['wpr:job-started'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneLifecycleFunction'), 'Arn'] },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    app.runtime.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });
});

describe('ControlPlaneSchedules', () => {
  it('runs the pool tuner every minute and the reconciler every 30 s (two passes a minute), never retrying a tick', () => {
    app.runtime.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlanePoolTunerFunction'), 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 0 },
      }),
    });
    app.runtime.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneReconcilerFunction'), 'Arn'] },
        Input: JSON.stringify({ passes: 2, intervalSeconds: 30 }),
        RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 0 },
      }),
    });
    // Two passes 30 s apart, each stopping 15 s before the timeout: the function outlives the second.
    app.runtime.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.stringLikeRegexp('reconciler'),
      Timeout: 85,
    });
  });

  it('runs the tuner and the reconciler one at a time, with no asynchronous retry (a retried run could launch twice)', () => {
    const functions = resourcesOf(app.runtime, 'AWS::Lambda::Function');
    const idOf = (name: string) =>
      Object.entries(functions).find(([, f]) => f.Properties.FunctionName === name)?.[0] ?? name;
    for (const name of ['wpr-pool-tuner', 'wpr-reconciler']) {
      expect(functions[idOf(name)]?.Properties.ReservedConcurrentExecutions, name).toBe(1);
      app.runtime.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: idOf(name) },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        Qualifier: '$LATEST',
      });
    }
    // The webhook and lifecycle functions scale with the deliveries and events they answer.
    for (const name of ['wpr-webhook', 'wpr-lifecycle'])
      expect(functions[idOf(name)]?.Properties.ReservedConcurrentExecutions, name).toBeUndefined();
    app.runtime.resourceCountIs('AWS::Lambda::EventInvokeConfig', 3);
  });

  it('runs the cost report daily at 00:30 UTC, once, reading the store and the config and publishing only', () => {
    const functions = resourcesOf(app.runtime, 'AWS::Lambda::Function');
    const [id, fn] =
      Object.entries(functions).find(([, f]) => f.Properties.FunctionName === 'wpr-cost-report') ?? [];
    expect(fn?.Properties.ReservedConcurrentExecutions).toBe(1);
    app.runtime.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'wpr-cost-report',
      ScheduleExpression: 'cron(30 0 * * ? *)',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [id, 'Arn'] },
        Input: '{}',
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }),
      }),
    });
    const role = fn?.Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined;
    const roleId = role?.['Fn::GetAtt'][0] ?? 'missing';
    const statements = Object.values(resourcesOf(app.runtime, 'AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(
        (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
      );
    const actions = new Set(statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action])));
    expect([...actions].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'ssm:GetParameter',
      'ssm:GetParameterHistory',
    ]);
    const store = JSON.stringify(statements.filter((st) => JSON.stringify(st.Action).includes('dynamodb')));
    expect(store).toContain('/index/jobs-by-state');
    expect(store).not.toContain('/index/*');
  });

  it('invokes through a role only EventBridge Scheduler of this account can assume', () => {
    app.runtime.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
  });
});

describe('RunnerAlarms', () => {
  const alarmNames = (synthesized: Synthesized) =>
    Object.values(resourcesOf(synthesized.runtime, 'AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties.AlarmName,
    );

  it('alarms on p95 pickup latency and empty pools, per configured pool', () => {
    expect(alarmNames(app)).toEqual(
      expect.arrayContaining([
        'wpr-linux-x64-pickup-latency-p95',
        'wpr-linux-x64-pool-empty',
        'wpr-linux-arm64-pickup-latency-p95',
        'wpr-linux-arm64-pool-empty',
      ]),
    );
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-linux-x64-pickup-latency-p95',
      Namespace: 'WarmPoolRunners',
      MetricName: 'PickupLatency',
      ExtendedStatistic: 'p95',
      Threshold: 30_000,
      Dimensions: Match.arrayWith([
        { Name: 'Pool', Value: 'linux-x64' },
        { Name: 'Source', Value: 'pool' },
        { Name: 'service', Value: 'warm-pool-runners' },
      ]),
    });
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-linux-x64-pool-empty',
      EvaluationPeriods: 5,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(target > 0 AND ready == 0, 1, 0)' }),
        Match.objectLike({
          Id: 'ready',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'PoolReady' }) }),
        }),
      ]),
    });
  });

  it('alarms on webhook deliveries rejected with 401 (a wrong secret) and on throttled functions', () => {
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-webhook-401',
      Namespace: 'WarmPoolRunners',
      MetricName: 'WebhooksRejected',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: Match.arrayWith([
        { Name: 'Reason', Value: '401' },
        { Name: 'service', Value: 'warm-pool-runners' },
      ]),
    });
    for (const fn of ['webhook', 'lifecycle', 'pool-tuner', 'reconciler'])
      app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `wpr-${fn}-throttles`,
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Threshold: 1,
        Dimensions: [{ Name: 'FunctionName', Value: Match.anyValue() }],
      });
  });

  it('alarms per pool on warm-ups that keep failing and on tuner errors, and on rejected pool configs', () => {
    expect(alarmNames(app)).toEqual(
      expect.arrayContaining([
        'wpr-linux-x64-warm-up-failures',
        'wpr-linux-arm64-warm-up-failures',
        'wpr-linux-x64-tuning-errors',
        'wpr-pool-config-rejected',
      ]),
    );
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-linux-x64-warm-up-failures',
      MetricName: 'WarmupFailures',
      Statistic: 'Sum',
      Period: 1800,
      Threshold: 3,
      Dimensions: Match.arrayWith([{ Name: 'Pool', Value: 'linux-x64' }]),
    });
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-pool-config-rejected',
      MetricName: 'ConfigRejections',
      Dimensions: [{ Name: 'service', Value: 'warm-pool-runners' }],
    });
  });

  it('alarms on stuck jobs in any pool, handler errors, schedules that stopped, and dead letters', () => {
    expect(alarmNames(app)).toEqual(
      expect.arrayContaining([
        'wpr-stuck-jobs',
        'wpr-webhook-errors',
        'wpr-lifecycle-errors',
        'wpr-pool-tuner-errors',
        'wpr-reconciler-errors',
        'wpr-webhook-5xx',
        'wpr-pool-tuner-not-running',
        'wpr-reconciler-not-running',
        'wpr-lifecycle-dead-letters',
      ]),
    );
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-stuck-jobs',
      Metrics: [
        Match.objectLike({
          Expression: Match.stringLikeRegexp(
            'SELECT MAX\\(StuckJobs\\) FROM SCHEMA\\("WarmPoolRunners", service, Pool\\)',
          ),
        }),
      ],
    });
    app.runtime.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'wpr-pool-tuner-not-running',
      TreatMissingData: 'breaching',
    });
  });

  it('notifies one encrypted topic, which CloudWatch may use, and the configured addresses', () => {
    for (const alarm of Object.values(resourcesOf(app.runtime, 'AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
    }
    app.runtime.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    app.runtime.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Effect: 'Allow' }),
        ]),
      },
    });
    publicVariant.runtime.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    app.runtime.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('RunnerDashboard', () => {
  it('graphs the metrics the handlers emit, pools found by SEARCH', () => {
    const [dashboard] = Object.values(resourcesOf(app.runtime, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const name of [
      'PickupLatency',
      'PhaseLatency',
      'PoolReady',
      'PoolWarming',
      'PoolBusy',
      'PoolTarget',
      'Claims',
      'LostRaces',
      'Fallbacks',
      'CapacityErrors',
      'WebhooksRejected',
      'OrphansReaped',
      'JobsReprovisioned',
      'StuckJobs',
      'HandlerRuns',
      'EstimatedCost',
      'HotTarget',
      'HotIdle',
      'HotBusy',
      'HotTierCost',
      'HotRefills',
      'Pickups',
      'JobStartedSignals',
      'DailyCostCents',
    ])
      expect(body).toContain(name);
    expect(body).toContain('Jobs picked up by tier (hot, warm, cold)');
    expect(body).toContain(`SEARCH('{\\\\\\"WarmPoolRunners\\\\\\",service,Pool,Source}`);
    expect(body).toContain('Pool linux-arm64: size');
  });
});

describe('GitHubDeployRoles', () => {
  it('creates the GitHub OIDC provider for the STS audience', () => {
    app.deployAccess.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  it('lets only the production environment of this repository assume the deploy role', () => {
    app.deployAccess.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'wpr-github-deploy',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: {
              StringEquals: {
                'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
                'token.actions.githubusercontent.com:sub': [
                  'repo:example-org/warm-pool-runners:environment:production',
                ],
              },
            },
          }),
        ],
      },
    });
  });

  it('gives the deploy role only the CDK bootstrap roles, and the diff role only the lookup role', () => {
    const policies = Object.values(resourcesOf(app.deployAccess, 'AWS::IAM::Policy'));
    const resources = policies.map((p) =>
      JSON.stringify(p.Properties.PolicyDocument.Statement.flatMap((s: { Resource: unknown }) => s.Resource)),
    );
    expect(resources.find((r) => r.includes('deploy-role'))).toMatch(/file-publishing-role/);
    const diff = resources.find((r) => !r.includes('deploy-role'));
    expect(diff).toContain('lookup-role');
    expect(diff).not.toMatch(/deploy-role|publishing-role/);
    app.deployAccess.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'wpr-github-diff',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Condition: Match.objectLike({
              StringEquals: Match.objectLike({
                'token.actions.githubusercontent.com:sub': [
                  'repo:example-org/warm-pool-runners:pull_request',
                  'repo:example-org/warm-pool-runners:ref:refs/heads/main',
                ],
              }),
            }),
          }),
        ],
      },
    });
  });

  it('reuses an existing provider when one is configured (an account holds one per URL)', () => {
    publicVariant.deployAccess.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    publicVariant.deployAccess.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'ci-github-deploy',
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Federated: existingProvider } })],
      },
    });
  });
});
