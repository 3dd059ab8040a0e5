/**
 * The WarmPoolRunners construct as others use it: the docs' example app synthesizes from the package
 * name in under 30 lines, props are checked with every problem reported at once, the user's own key and
 * bus replace the construct's, the two layouts (one stack, or three stacks in an app), and the logical ids
 * of stateful resources, which are a contract with every existing deployment.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { Key } from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asInterface } from '../../infra/as-interface.js';
import {
  InvalidWarmPoolRunnersPropsError,
  WarmPoolRunners,
  type WarmPoolRunnersProps,
} from '../../infra/index.js';
import { repositoryRoot } from './example-config.js';
import { resourcesOf, type Synthesized, synthesize } from './synth.js';

const subnets = [
  { id: 'subnet-0a1b2c3d4e5f60001', availabilityZone: 'eu-west-1a' },
  { id: 'subnet-0a1b2c3d4e5f60002', availabilityZone: 'eu-west-1b' },
];
const pool = {
  name: 'linux-x64',
  labels: ['self-hosted', 'linux', 'x64'],
  architecture: 'x64',
  instanceTypes: ['m7i.large'],
  subnets: subnets.map((s) => s.id),
  defaultSize: 1,
  maximum: 10,
};
const minimal = (overrides: Partial<WarmPoolRunnersProps> = {}): WarmPoolRunnersProps => ({
  github: { organization: 'example-org', appId: 123456, installationId: 12345678 },
  network: { vpc: 'vpc-0a1b2c3d4e5f60718', subnets },
  pools: { pools: [pool] },
  image: { architectures: ['x64'] },
  ...overrides,
});
const env = { account: '111111111111', region: 'eu-west-1' };

/** The construct in a user's stack, synthesized without bundling (templates only). */
function inUserStack(props: WarmPoolRunnersProps, nag = false): { stack: Stack; template: Template } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'CiRunners', { env });
  new WarmPoolRunners(stack, 'Runners', props);
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stack, template: Template.fromStack(stack) };
}

describe('the example app in docs/examples/cdk-app.ts', () => {
  const file = join(repositoryRoot, 'docs', 'examples', 'cdk-app.ts');
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'wpr-example-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('is under 30 lines of user code, importing the construct by package name', () => {
    const text = readFileSync(file, 'utf8');
    const code = text
      .slice(text.indexOf('*/') + 2)
      .split('\n')
      .filter((line) => line.trim() !== '');
    expect(code.length).toBeLessThan(30);
    expect(text).toContain("import { WarmPoolRunners } from 'warm-pool-runners';");
  });

  it('synthesizes the whole installation into the user stack, as Node runs it', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: repositoryRoot,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
      },
    });
    expect(result.status, result.stderr).toBe(0);
    const template = Template.fromJSON(
      JSON.parse(readFileSync(join(outdir, 'CiRunners.template.json'), 'utf8')),
    );
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::Lambda::Function', 5);
    template.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1);
    template.resourceCountIs('AWS::KMS::Key', 2); // JIT configs, alarm topic
    // One stack, created before any image exists: the launch template names none.
    const [launchTemplate] = Object.values(resourcesOf(template, 'AWS::EC2::LaunchTemplate'));
    expect(launchTemplate?.Properties.LaunchTemplateData.ImageId).toBeUndefined();
  });
});

describe('WarmPoolRunners props', () => {
  it('reports every problem at once, naming each prop, before creating anything', () => {
    const app = new App();
    const stack = new Stack(app, 'S', { env });
    let error: unknown;
    try {
      new WarmPoolRunners(stack, 'Runners', {
        ...minimal(),
        project: 'Bad Name',
        github: { organization: 'example-org', appId: -1, installationId: 12345678 },
        network: {
          vpc: 'vpc-0a1b2c3d4e5f60718',
          subnets: [{ id: 'subnet-0a1b2c3d4e5f60001', availabilityZone: 'us-east-1a' }],
        },
        pools: { pools: [{ ...pool, subnets: ['subnet-0a1b2c3d4e5f60009'] }] },
        alarms: { emails: ['not-an-address'], rejectedWebhooks: 0 },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidWarmPoolRunnersPropsError);
    const message = (error as Error).message;
    for (const fragment of [
      'project: must be 2-20 lowercase letters',
      'github.appId: must be positive',
      'alarms.emails[0]: is not an e-mail address',
      'alarms.rejectedWebhooks: must be a positive whole number',
    ])
      expect(message).toContain(fragment);
    expect(stack.node.findAll().filter((c) => c !== stack && !c.node.path.endsWith('Runners'))).toEqual([]);
  });

  it('checks cross-field rules too: pool subnets declared, zones in the stack region', () => {
    expect(() =>
      inUserStack(
        minimal({
          network: {
            vpc: 'vpc-0a1b2c3d4e5f60718',
            subnets: [{ id: 'subnet-0a1b2c3d4e5f60001', availabilityZone: 'us-east-1a' }],
          },
        }),
      ),
    ).toThrow(/network\.subnets\[0\]\.availabilityZone: us-east-1a is not in region eu-west-1/);
    expect(() =>
      inUserStack(minimal({ network: { vpc: 'vpc-0a1b2c3d4e5f60718', subnets: subnets.slice(0, 1) } })),
    ).toThrow(
      /pool "linux-x64": subnets\[1\] subnet-0a1b2c3d4e5f60002 is not declared under network\.subnets/,
    );
  });

  it('uses the user’s own KMS key and event bus instead of creating them', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'CiRunners', { env });
    const key = new Key(stack, 'MyKey', { enableKeyRotation: true });
    const bus = new EventBus(stack, 'MyBus', { eventBusName: 'platform-events' });
    const runners = new WarmPoolRunners(
      stack,
      'Runners',
      minimal({ jitParameterKey: key, eventBus: asInterface<IEventBus>(bus) }),
    );
    const template = Template.fromStack(stack);
    expect(runners.jitParameterKey).toBe(key);
    expect(runners.eventBus).toBe(bus);
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.resourceCountIs('AWS::KMS::Alias', 0);
    const keyId = stack.getLogicalId(key.node.defaultChild as never);
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables.JIT_PARAMETER_KEY_ID).toEqual({
        'Fn::GetAtt': [keyId, 'Arn'],
      });
      expect(fn.Properties.Environment.Variables.EVENT_BUS_NAME).toEqual({
        Ref: stack.getLogicalId(bus.node.defaultChild as never),
      });
    }
  });

  it('places three stacks in an app, one stack’s worth in a stack, and refuses anything else', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const inApp = new WarmPoolRunners(app, 'Runners', { ...minimal(), env });
    expect(inApp.stacks?.stateful.stackName).toBe('wpr-stateful');
    expect(inApp.stacks?.stateful.terminationProtection).toBe(true);
    expect(inApp.stacks?.runtime.dependencies).toContain(inApp.stacks?.image);
    const { stack } = inUserStack(minimal());
    expect(stack.node.findAll().filter((c) => Stack.isStack(c))).toEqual([stack]);
    const loose = new App();
    const holder = new Construct(loose, 'Holder');
    expect(() => new WarmPoolRunners(holder, 'Runners', minimal())).toThrow(/place it in a stack/);
  });

  it('has no unacknowledged cdk-nag finding in a user stack', () => {
    expect(() => inUserStack(minimal(), true)).not.toThrow();
  });
});

describe('logical ids of stateful resources (a contract: a change replaces them in every deployment)', () => {
  let project: Synthesized;
  beforeAll(() => {
    project = synthesize();
  });
  afterAll(() => project.dispose());

  const stateful = (template: Template) =>
    Object.entries(template.toJSON().Resources as Record<string, { Type: string }>)
      .filter(([, r]) => r.Type !== 'AWS::CDK::Metadata')
      .map(([id, r]) => `${r.Type} ${id}`)
      .sort();

  it("this project's stacks: unchanged since the first release (the table is never replaced)", () => {
    expect(stateful(project.stateful)).toEqual([
      'AWS::DynamoDB::Table PoolStoreTableEB58CFA2',
      'AWS::Events::Archive LifecycleEventsBusArchive7C84B236',
      'AWS::Events::EventBus LifecycleEventsBusF520F4A1',
      'AWS::KMS::Alias JitParameterKeyAlias2020837B',
      'AWS::KMS::Key JitParameterKey60858410',
      'AWS::SSM::Parameter PoolConfigParameter772F5EEA',
      'AWS::SecretsManager::Secret GitHubAppAppSecretDB8A568B',
      'AWS::SecretsManager::Secret GitHubAppWebhookSecretF763E046',
    ]);
  });

  it('the construct in a user stack', () => {
    const { template } = inUserStack(minimal());
    const ids = stateful(template).filter((line) =>
      /DynamoDB::Table|Events::(EventBus|Archive)|KMS::Key .*Jit|KMS::Alias|SSM::Parameter|SecretsManager::Secret/.test(
        line,
      ),
    );
    expect(ids).toEqual([
      'AWS::DynamoDB::Table RunnersStatefulPoolStoreTable420BF0EA',
      'AWS::Events::Archive RunnersStatefulLifecycleEventsBusArchiveAEA7B009',
      'AWS::Events::EventBus RunnersStatefulLifecycleEventsBus81587B6F',
      'AWS::KMS::Alias RunnersStatefulJitParameterKeyAlias78BCD3E4',
      'AWS::KMS::Key RunnersStatefulJitParameterKey5505BDA9',
      'AWS::SSM::Parameter RunnersStatefulPoolConfigParameter551BF717',
      'AWS::SecretsManager::Secret RunnersStatefulGitHubAppAppSecret180786B1',
      'AWS::SecretsManager::Secret RunnersStatefulGitHubAppWebhookSecret2B241CDA',
    ]);
  });
});
