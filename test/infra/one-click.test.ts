/**
 * The one-click template (infra/one-click.ts), as the release workflow synthesizes it: its parameters,
 * the deploy-time values it derives from them with CloudFormation's own functions (evaluated here the
 * way CloudFormation does), and no dependency on a CDK bootstrap in the installing account.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../handlers/settings.js';
import { defineOneClickStack } from '../../infra/one-click.js';
import { resourcesOf } from './synth.js';

// biome-ignore lint/suspicious/noExplicitAny: template JSON, walked field by field
type Json = any;

let template: Template;
let json: Json;

beforeAll(() => {
  // cdk-nag on, as in the release workflow: a finding nobody acknowledged fails here first.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = defineOneClickStack(app, { nag: true });
  app.synth();
  template = Template.fromStack(stack);
  json = template.toJSON();
});

/** CloudFormation's Ref, Fn::Join, Fn::Split and Fn::Select over the given parameter values. */
function evaluate(value: Json, parameters: Record<string, string>): Json {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, parameters));
  if (value === null || typeof value !== 'object') return value;
  if ('Ref' in value) {
    const given = parameters[value.Ref];
    if (given === undefined) throw new Error(`no value for ${value.Ref}`);
    return given;
  }
  if ('Fn::Join' in value) {
    const [separator, parts] = value['Fn::Join'];
    return (evaluate(parts, parameters) as string[]).join(separator);
  }
  if ('Fn::Split' in value) {
    const [separator, text] = value['Fn::Split'];
    return (evaluate(text, parameters) as string).split(separator);
  }
  if ('Fn::Select' in value) {
    const [index, list] = value['Fn::Select'];
    return (evaluate(list, parameters) as string[])[Number(index)];
  }
  throw new Error(`cannot evaluate ${JSON.stringify(value)}`);
}

const sample = {
  GitHubOrganization: 'example-org',
  GitHubAppId: '123456',
  GitHubInstallationId: '12345678',
  VpcId: 'vpc-0a1b2c3d4e5f60718',
  Subnets: 'subnet-0a1b2c3d4e5f60001:eu-west-1a,subnet-0a1b2c3d4e5f60002:eu-west-1b',
  PoolsConfig: '{"pools":[]}',
};

describe('the one-click template', () => {
  it('asks for the GitHub App, the organization, the VPC and subnets, the pools and where the assets are', () => {
    expect(Object.keys(json.Parameters).sort()).toEqual(
      [
        'AssetBucket',
        'AssetPrefix',
        'GitHubAppId',
        'GitHubInstallationId',
        'GitHubOrganization',
        'PoolsConfig',
        'Subnets',
        'VpcId',
      ].sort(),
    );
    expect(json.Parameters.VpcId.Type).toBe('AWS::EC2::VPC::Id');
    expect(json.Parameters.GitHubAppId.Type).toBe('Number');
    const subnets = new RegExp(json.Parameters.Subnets.AllowedPattern);
    expect(subnets.test(sample.Subnets)).toBe(true);
    for (const bad of [
      'subnet-0a1b2c3d4e5f60001',
      'subnet-0a1b2c3d:eu-west-1a, subnet-4e5f6a7b:eu-west-1b',
      '',
    ])
      expect(subnets.test(bad), bad).toBe(false);
    // Grouped in the console in the order an operator fills them in.
    expect(json.Metadata['AWS::CloudFormation::Interface'].ParameterGroups).toHaveLength(4);
  });

  it('needs no CDK bootstrap: no bootstrap version rule, assets read from the given bucket and prefix', () => {
    expect(json.Parameters.BootstrapVersion).toBeUndefined();
    expect(json.Rules?.CheckBootstrapVersion).toBeUndefined();
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
      expect(fn.Properties.Code.S3Bucket).toEqual({ 'Fn::Sub': '${AssetBucket}' });
      expect(fn.Properties.Code.S3Key['Fn::Sub']).toMatch(/^\$\{AssetPrefix\}[0-9a-f]{64}\.zip$/);
    }
    expect(JSON.stringify(json)).not.toMatch(/cdk-hnb659fds/);
  });

  it('gives the handlers a subnet-to-zone map their settings accept, built from the Subnets parameter', () => {
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const zones = evaluate(fn.Properties.Environment.Variables.SUBNET_ZONES, sample);
      expect(JSON.parse(zones)).toEqual({
        'subnet-0a1b2c3d4e5f60001': 'eu-west-1a',
        'subnet-0a1b2c3d4e5f60002': 'eu-west-1b',
      });
      expect(readSettings({ SUBNET_ZONES: zones, ...requiredSettings }).SUBNET_ZONES).toEqual(
        JSON.parse(zones),
      );
    }
  });

  it('builds images in the first subnet and launches only into subnets of the VPC', () => {
    for (const infrastructure of Object.values(
      resourcesOf(template, 'AWS::ImageBuilder::InfrastructureConfiguration'),
    ))
      expect(evaluate(infrastructure.Properties.SubnetId, sample)).toBe('subnet-0a1b2c3d4e5f60001');
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
    const vpcHeld = statements.filter((s: Json) => s.Sid === 'RunInVpcSubnets');
    expect(vpcHeld.length).toBeGreaterThan(0);
    for (const statement of vpcHeld)
      expect(JSON.stringify(statement.Condition.ArnEquals['ec2:Vpc'])).toContain('"Ref":"VpcId"');
  });

  it('seeds the App secret with the App and installation ids as numbers, the JSON shape the handlers read', () => {
    const secrets = Object.values(resourcesOf(template, 'AWS::SecretsManager::Secret'));
    const app = secrets.find(
      (secret) => secret.Properties.GenerateSecretString.GenerateStringKey === 'privateKey',
    );
    const seed = evaluate(app?.Properties.GenerateSecretString.SecretStringTemplate, sample);
    expect(JSON.parse(seed)).toEqual({ appId: 123456, installationId: 12345678 });
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function')))
      expect(evaluate(fn.Properties.Environment.Variables.GITHUB_ORG, sample)).toBe('example-org');
  });

  it('writes the pool config parameter from PoolsConfig and names no image in the launch template', () => {
    const [parameter] = Object.values(resourcesOf(template, 'AWS::SSM::Parameter'));
    expect(parameter?.Properties.Value).toEqual({ Ref: 'PoolsConfig' });
    const [launchTemplate] = Object.values(resourcesOf(template, 'AWS::EC2::LaunchTemplate'));
    expect(launchTemplate?.Properties.LaunchTemplateData.ImageId).toBeUndefined();
  });

  it('fits CloudFormation’s 1 MB limit for a template launched from S3', () => {
    expect(JSON.stringify(json).length).toBeLessThan(1_000_000);
  });
});

const requiredSettings = {
  TABLE_NAME: 'wpr-pool-store',
  PARAMETER_PREFIX: '/wpr',
  POOL_CONFIG_PARAMETER: '/wpr/pools',
  WEBHOOK_SECRET_ARN: 'arn:webhook',
  GITHUB_APP_SECRET_ARN: 'arn:app',
  LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  EVENT_BUS_NAME: 'wpr-lifecycle',
  GITHUB_ORG: 'example-org',
};
