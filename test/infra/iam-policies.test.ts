/**
 * The synthesized IAM policies, evaluated by a policy simulator (@cloud-copilot/iam-simulate) with the
 * request context AWS builds: a runner reads only its own JIT config, the control plane touches only
 * instances tagged as the project's, and a runner reaches nothing of the control plane.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentUuid, type PolicyDocument, TemplateResolver } from './policy-documents.js';
import { type Synthesized, synthesize } from './synth.js';

const account = '111111111111';
const region = 'eu-west-1';
const instanceArn = (id: string) => `arn:aws:ec2:${region}:${account}:instance/${id}`;
const parameterArn = (name: string) => `arn:aws:ssm:${region}:${account}:parameter${name}`;
const launchTemplateArn = `arn:aws:ec2:${region}:${account}:launch-template/lt-0123456789abcdef0`;
const tableArn = `arn:aws:dynamodb:${region}:${account}:table/wpr-pool-store`;
const instanceA = 'i-0aaaaaaaaaaaaaaaa';
const instanceB = 'i-0bbbbbbbbbbbbbbbb';

type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';
type Context = Record<string, string | string[]>;

let app: Synthesized;
let withSessionManager: Synthesized;
let policies: Record<'instance' | 'webhook' | 'lifecycle' | 'poolTuner' | 'reconciler', PolicyDocument[]>;
let sessionManagerPolicies: PolicyDocument[];

beforeAll(() => {
  app = synthesize();
  withSessionManager = synthesize({ overrides: { runners: { sessionManager: true } } });
  const resolver = new TemplateResolver(account, region, [app.stateful, app.runtime]);
  const of = (role: Parameters<TemplateResolver['policiesOf']>[1]) =>
    resolver.policiesOf(app.runtime, role).map((p) => p.policy);
  const { runtime } = app.stacks;
  policies = {
    instance: of(runtime.instanceRole.role),
    webhook: of(runtime.functions.webhook.role),
    lifecycle: of(runtime.functions.lifecycle.role),
    poolTuner: of(runtime.functions.poolTuner.role),
    reconciler: of(runtime.functions.reconciler.role),
  };
  const variantResolver = new TemplateResolver(account, region, [
    withSessionManager.stateful,
    withSessionManager.runtime,
  ]);
  sessionManagerPolicies = variantResolver
    .policiesOf(withSessionManager.runtime, withSessionManager.stacks.runtime.instanceRole.role)
    .map((p) => p.policy);
});
afterAll(() => {
  app.dispose();
  withSessionManager.dispose();
});

async function decide(
  documents: PolicyDocument[],
  principal: string,
  action: string,
  resource: string,
  context: Context = {},
): Promise<Decision> {
  const response = await runSimulation(
    {
      request: { principal, action, resource: { resource, accountId: account }, contextVariables: context },
      identityPolicies: documents.map((policy, i) => ({ name: `policy${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
  return response.overallResult as Decision;
}

/** A request signed with the instance-profile credentials of `instanceId`. */
function asInstance(instanceId: string, action: string, resource: string, context: Context = {}) {
  return decide(
    policies.instance,
    `arn:aws:sts::${account}:assumed-role/runner/${instanceId}`,
    action,
    resource,
    { 'ec2:SourceInstanceARN': instanceArn(instanceId), ...context },
  );
}

function asRole(role: keyof typeof policies, action: string, resource: string, context: Context = {}) {
  return decide(
    policies[role],
    `arn:aws:sts::${account}:assumed-role/${role}/session`,
    action,
    resource,
    context,
  );
}

const jitOf = (id: string) => ({
  arn: parameterArn(`/wpr/jit/${id}`),
  tag: { 'aws:ResourceTag/wpr:instance-id': id },
});

describe('runner instance role', () => {
  it('reads and deletes its own JIT config', async () => {
    const own = jitOf(instanceA);
    expect(await asInstance(instanceA, 'ssm:GetParameter', own.arn, own.tag)).toBe('Allowed');
    expect(await asInstance(instanceA, 'ssm:DeleteParameter', own.arn, own.tag)).toBe('Allowed');
  });

  it("cannot read or delete another instance's JIT config", async () => {
    const other = jitOf(instanceB);
    expect(await asInstance(instanceA, 'ssm:GetParameter', other.arn, other.tag)).toBe('ImplicitlyDenied');
    expect(await asInstance(instanceA, 'ssm:DeleteParameter', other.arn, other.tag)).toBe('ImplicitlyDenied');
    expect(await asInstance(instanceA, 'ssm:GetParameters', other.arn, other.tag)).toBe('ImplicitlyDenied');
  });

  it('cannot read a JIT parameter that carries no instance tag, even one named after itself', async () => {
    expect(await asInstance(instanceA, 'ssm:GetParameter', jitOf(instanceA).arn)).toBe('ImplicitlyDenied');
  });

  it('cannot read its own JIT config from credentials that are not its own (another instance)', async () => {
    const own = jitOf(instanceA);
    expect(await asInstance(instanceB, 'ssm:GetParameter', own.arn, own.tag)).toBe('ImplicitlyDenied');
  });

  it('reads the pool config (for the images it pre-pulls) and no other parameter, and writes none', async () => {
    expect(await asInstance(instanceA, 'ssm:GetParameter', parameterArn('/wpr/pools'))).toBe('Allowed');
    for (const action of ['ssm:PutParameter', 'ssm:DeleteParameter', 'ssm:AddTagsToResource'])
      expect(await asInstance(instanceA, action, parameterArn('/wpr/pools')), action).toBe(
        'ImplicitlyDenied',
      );
    for (const name of ['/wpr/ami/x64', '/wpr/other', '/other/secret'])
      expect(
        await asInstance(instanceA, 'ssm:GetParameter', parameterArn(name), jitOf(instanceA).tag),
        name,
      ).toBe('ImplicitlyDenied');
  });

  it('tags only itself, and only with the agent-reason or job-started key (never the deployment tag)', async () => {
    const base = { 'aws:ResourceTag/wpr:project': 'wpr' };
    expect(
      await asInstance(instanceA, 'ec2:CreateTags', instanceArn(instanceA), {
        ...base,
        'ec2:InstanceID': instanceA,
        'aws:TagKeys': ['wpr:agent-reason'],
      }),
    ).toBe('Allowed');
    expect(
      await asInstance(instanceA, 'ec2:CreateTags', instanceArn(instanceB), {
        ...base,
        'ec2:InstanceID': instanceB,
        'aws:TagKeys': ['wpr:agent-reason'],
      }),
    ).toBe('ImplicitlyDenied');
    // The job-started signal of the hot tier: its own instance only, that key only.
    for (const keys of [['wpr:job-started'], ['wpr:job-started', 'wpr:agent-reason']])
      expect(
        await asInstance(instanceA, 'ec2:CreateTags', instanceArn(instanceA), {
          ...base,
          'ec2:InstanceID': instanceA,
          'aws:TagKeys': keys,
        }),
        keys.join(','),
      ).toBe('Allowed');
    expect(
      await asInstance(instanceA, 'ec2:CreateTags', instanceArn(instanceB), {
        ...base,
        'ec2:InstanceID': instanceB,
        'aws:TagKeys': ['wpr:job-started'],
      }),
    ).toBe('ImplicitlyDenied');
    for (const keys of [
      ['wpr:pool'],
      ['wpr:agent-reason', 'wpr:project'],
      ['wpr:spec'],
      ['wpr:job-started', 'wpr:role'],
      ['wpr:deployment'],
      ['wpr:job-started', 'wpr:deployment'],
    ])
      expect(
        await asInstance(instanceA, 'ec2:CreateTags', instanceArn(instanceA), {
          ...base,
          'ec2:InstanceID': instanceA,
          'aws:TagKeys': keys,
        }),
      ).toBe('ImplicitlyDenied');
  });

  it('reaches no DynamoDB action on the pool store', async () => {
    for (const action of [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:BatchWriteItem',
      'dynamodb:DescribeTable',
    ])
      expect(await asInstance(instanceA, action, tableArn), action).toBe('ImplicitlyDenied');
  });

  it('reaches no EC2 action beyond tagging itself, even on project instances', async () => {
    const tagged = { 'aws:ResourceTag/wpr:project': 'wpr', 'ec2:InstanceID': instanceB };
    for (const action of [
      'ec2:StartInstances',
      'ec2:StopInstances',
      'ec2:TerminateInstances',
      'ec2:ModifyInstanceAttribute',
      'ec2:RebootInstances',
      'ec2:DeleteTags',
      'ec2:AssociateIamInstanceProfile',
    ])
      expect(await asInstance(instanceA, action, instanceArn(instanceB), tagged), action).toBe(
        'ImplicitlyDenied',
      );
    expect(await asInstance(instanceA, 'ec2:DescribeInstances', '*')).toBe('ImplicitlyDenied');
    expect(
      await asInstance(instanceA, 'ec2:RunInstances', instanceArn('*'), {
        'ec2:LaunchTemplate': launchTemplateArn,
        'aws:RequestTag/wpr:project': 'wpr',
      }),
    ).toBe('ImplicitlyDenied');
  });

  it('reaches nothing else of the control plane: secrets, event bus, launch role', async () => {
    const secret = `arn:aws:secretsmanager:${region}:${account}:secret:wpr/github/app-AbCdEf`;
    expect(await asInstance(instanceA, 'secretsmanager:GetSecretValue', secret)).toBe('ImplicitlyDenied');
    expect(
      await asInstance(
        instanceA,
        'events:PutEvents',
        `arn:aws:events:${region}:${account}:event-bus/wpr-lifecycle`,
      ),
    ).toBe('ImplicitlyDenied');
    expect(
      await asInstance(instanceA, 'iam:PassRole', `arn:aws:iam::${account}:role/any`, {
        'iam:PassedToService': 'ec2.amazonaws.com',
      }),
    ).toBe('ImplicitlyDenied');
    expect(await asInstance(instanceA, 'ssm:PutParameter', jitOf(instanceB).arn)).toBe('ImplicitlyDenied');
    // Re-tagging another instance's config as its own would defeat the tag check.
    expect(
      await asInstance(instanceA, 'ssm:AddTagsToResource', jitOf(instanceB).arn, {
        ...jitOf(instanceB).tag,
        'aws:TagKeys': ['wpr:instance-id'],
        'aws:RequestTag/wpr:instance-id': instanceA,
      }),
    ).toBe('ImplicitlyDenied');
  });

  it('allows exactly the agent actions (plus Session Manager channels when configured)', () => {
    const actions = (documents: PolicyDocument[]) =>
      [
        ...new Set(documents.flatMap((d) => d.Statement.flatMap((s) => [s.Action].flat() as string[]))),
      ].sort();
    expect(actions(policies.instance)).toEqual([
      'ec2:CreateTags',
      'kms:Decrypt',
      'ssm:DeleteParameter',
      'ssm:GetParameter',
    ]);
    expect(actions(sessionManagerPolicies)).toEqual([
      'ec2:CreateTags',
      'kms:Decrypt',
      'ssm:DeleteParameter',
      'ssm:GetParameter',
      'ssm:UpdateInstanceInformation',
      'ssmmessages:CreateControlChannel',
      'ssmmessages:CreateDataChannel',
      'ssmmessages:OpenControlChannel',
      'ssmmessages:OpenDataChannel',
    ]);
  });
});

describe('the JIT configs key (KMS)', () => {
  /** The key's ARN as the resolver renders it (the stateful part's one KMS key). */
  const keyArn = () => {
    const [id] = Object.keys(app.stateful.findResources('AWS::KMS::Key'));
    return `arn:aws:kms:${region}:${account}:key/${id}`;
  };
  const viaSsm = (parameter: string) => ({
    'kms:ViaService': `ssm.${region}.amazonaws.com`,
    'kms:EncryptionContext:PARAMETER_ARN': parameterArn(parameter),
  });

  it('is a customer-managed key of the stateful part, rotated, retained', () => {
    const keys = Object.values(app.stateful.findResources('AWS::KMS::Key'));
    expect(keys).toHaveLength(1);
    expect(keys[0]?.Properties.EnableKeyRotation).toBe(true);
    expect(keys[0]?.DeletionPolicy).toBe('Retain');
    app.stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/wpr/jit-configs' });
  });

  /**
   * The KMS statements of a role. The simulator (iam-simulate 0.1.173) drops `kms:EncryptionContext:*`
   * keys from a request, so a statement conditioned on one can never be Allowed there: what each role may
   * do is read off its statements, and what it may not do is simulated.
   */
  const kmsStatements = (documents: PolicyDocument[]) =>
    documents.flatMap((d) => d.Statement).filter((st) => JSON.stringify(st.Action).includes('kms:'));
  const throughSsmForJit = {
    StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` },
    StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameterArn('/wpr/jit/*') },
  };

  it('lets a runner decrypt only through SSM, only for a JIT parameter', async () => {
    expect(kmsStatements(policies.instance)).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: keyArn(),
        Condition: throughSsmForJit,
      }),
    ]);
    const own = `/wpr/jit/${instanceA}`;
    // Straight to KMS (a ciphertext lifted from elsewhere), other actions, or another key.
    expect(await asInstance(instanceA, 'kms:Decrypt', keyArn())).toBe('ImplicitlyDenied');
    for (const action of ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:CreateGrant'])
      expect(await asInstance(instanceA, action, keyArn(), viaSsm(own)), action).toBe('ImplicitlyDenied');
    const otherKey = `arn:aws:kms:${region}:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    expect(await asInstance(instanceA, 'kms:Decrypt', otherKey, viaSsm(own))).toBe('ImplicitlyDenied');
  });

  it('lets the handlers that write JIT configs encrypt through SSM, and no handler decrypt', async () => {
    // Every handler provisions now: the lifecycle handler and the tuner start hot-tier runners.
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const)
      expect(kmsStatements(policies[role]), role).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
          Resource: keyArn(),
          Condition: throughSsmForJit,
        }),
      ]);
    const jit = viaSsm(`/wpr/jit/${instanceA}`);
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const)
      expect(await asRole(role, 'kms:Decrypt', keyArn(), jit), role).toBe('ImplicitlyDenied');
  });
});

describe('control-plane roles on EC2', () => {
  const projectInstance = { 'aws:ResourceTag/wpr:project': 'wpr' };

  it("start, resize and terminate only instances tagged as the project's", async () => {
    for (const action of ['ec2:StartInstances', 'ec2:ModifyInstanceAttribute', 'ec2:TerminateInstances']) {
      expect(await asRole('webhook', action, instanceArn(instanceA), projectInstance), action).toBe(
        'Allowed',
      );
      expect(await asRole('webhook', action, instanceArn(instanceA)), `${action} untagged`).toBe(
        'ImplicitlyDenied',
      );
      expect(
        await asRole('webhook', action, instanceArn(instanceA), { 'aws:ResourceTag/wpr:project': 'other' }),
        `${action} other project`,
      ).toBe('ImplicitlyDenied');
      expect(
        await asRole('webhook', action, instanceArn(instanceA), { 'aws:ResourceTag/Name': 'wpr' }),
        `${action} other tag`,
      ).toBe('ImplicitlyDenied');
    }
  });

  it('never stop or reboot an instance (the agent powers off)', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const)
      for (const action of ['ec2:StopInstances', 'ec2:RebootInstances'])
        expect(await asRole(role, action, instanceArn(instanceA), projectInstance), `${role} ${action}`).toBe(
          'ImplicitlyDenied',
        );
  });

  it("launch only from the runner template, tagging the instance as the project's and this deployment's", async () => {
    const launch = {
      'ec2:LaunchTemplate': launchTemplateArn,
      'aws:RequestTag/wpr:project': 'wpr',
      'aws:RequestTag/wpr:deployment': deploymentUuid,
    };
    for (const deployment of [undefined, 'another-deployment']) {
      const { 'aws:RequestTag/wpr:deployment': _, ...without } = launch;
      const context =
        deployment === undefined ? without : { ...without, 'aws:RequestTag/wpr:deployment': deployment };
      expect(await asRole('webhook', 'ec2:RunInstances', instanceArn('*'), context), String(deployment)).toBe(
        'ImplicitlyDenied',
      );
      expect(await asRole('webhook', 'ec2:CreateFleet', instanceArn('*'), context), String(deployment)).toBe(
        'ImplicitlyDenied',
      );
    }
    expect(await asRole('webhook', 'ec2:CreateFleet', instanceArn('*'), launch)).toBe('Allowed');
    expect(await asRole('webhook', 'ec2:RunInstances', instanceArn('*'), launch)).toBe('Allowed');
    expect(
      await asRole('webhook', 'ec2:RunInstances', instanceArn('*'), {
        'ec2:LaunchTemplate': launchTemplateArn,
      }),
    ).toBe('ImplicitlyDenied');
    expect(
      await asRole('webhook', 'ec2:RunInstances', instanceArn('*'), {
        ...launch,
        'ec2:LaunchTemplate': `arn:aws:ec2:${region}:${account}:launch-template/lt-0ffffffffffffffff`,
      }),
    ).toBe('ImplicitlyDenied');
    expect(
      await asRole('webhook', 'ec2:RunInstances', instanceArn('*'), { 'aws:RequestTag/wpr:project': 'wpr' }),
    ).toBe('ImplicitlyDenied');
  });

  it('launch the image each launch names, from the runner template only', async () => {
    const image = `arn:aws:ec2:${region}::image/ami-0fedcba9876543210`;
    const fromTemplate = { 'ec2:LaunchTemplate': launchTemplateArn };
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'ec2:RunInstances', image, fromTemplate), role).toBe('Allowed');
      expect(await asRole(role, 'ec2:RunInstances', image), `${role} without the template`).toBe(
        'ImplicitlyDenied',
      );
    }
    for (const role of ['webhook', 'reconciler'] as const)
      expect(await asRole(role, 'ec2:CreateFleet', image), role).toBe('Allowed');
  });

  it('launch only encrypted volumes, with RunInstances and with fleets', async () => {
    const volume = `arn:aws:ec2:${region}:${account}:volume/*`;
    const fromTemplate = { 'ec2:LaunchTemplate': launchTemplateArn };
    for (const role of ['webhook', 'poolTuner'] as const) {
      expect(
        await asRole(role, 'ec2:RunInstances', volume, { ...fromTemplate, 'ec2:Encrypted': 'true' }),
        role,
      ).toBe('Allowed');
      expect(
        await asRole(role, 'ec2:RunInstances', volume, { ...fromTemplate, 'ec2:Encrypted': 'false' }),
        `${role} unencrypted`,
      ).toBe('ImplicitlyDenied');
      expect(await asRole(role, 'ec2:RunInstances', volume, fromTemplate), `${role} unsaid`).toBe(
        'ImplicitlyDenied',
      );
    }
    expect(await asRole('webhook', 'ec2:CreateFleet', volume, { 'ec2:Encrypted': 'true' })).toBe('Allowed');
    expect(await asRole('webhook', 'ec2:CreateFleet', volume, { 'ec2:Encrypted': 'false' })).toBe(
      'ImplicitlyDenied',
    );
  });

  it('launch only into the declared subnets', async () => {
    const subnet = (id: string) => `arn:aws:ec2:${region}:${account}:subnet/${id}`;
    const fromTemplate = { 'ec2:LaunchTemplate': launchTemplateArn };
    expect(
      await asRole('poolTuner', 'ec2:RunInstances', subnet('subnet-0a1b2c3d4e5f60002'), fromTemplate),
    ).toBe('Allowed');
    expect(
      await asRole('poolTuner', 'ec2:RunInstances', subnet('subnet-0ffffffffffffffff'), fromTemplate),
    ).toBe('ImplicitlyDenied');
  });

  it('tag only at launch, never an existing resource', async () => {
    expect(
      await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), {
        'ec2:CreateAction': 'RunInstances',
      }),
    ).toBe('Allowed');
    expect(
      await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), {
        'ec2:CreateAction': 'CreateFleet',
      }),
    ).toBe('Allowed');
    expect(await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), projectInstance)).toBe(
      'ImplicitlyDenied',
    );
    // The one exception: a hot runner's idle bound on a project instance it starts, that key alone.
    expect(
      await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), {
        ...projectInstance,
        'aws:TagKeys': ['wpr:max-idle-seconds'],
      }),
    ).toBe('Allowed');
    for (const keys of [
      ['wpr:max-idle-seconds', 'wpr:deployment'],
      ['wpr:project'],
      ['wpr:max-lifetime-seconds'],
    ])
      expect(
        await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), {
          ...projectInstance,
          'aws:TagKeys': keys,
        }),
        keys.join(','),
      ).toBe('ImplicitlyDenied');
    expect(
      await asRole('webhook', 'ec2:CreateTags', instanceArn(instanceA), {
        'aws:TagKeys': ['wpr:max-idle-seconds'],
      }),
      'not a project instance',
    ).toBe('ImplicitlyDenied');
    expect(await asRole('webhook', 'ec2:DeleteTags', instanceArn(instanceA), projectInstance)).toBe(
      'ImplicitlyDenied',
    );
  });

  it('pass only the runner role, and only to EC2', async () => {
    const runnerRole = app.stacks.runtime.stack.resolve(app.stacks.runtime.instanceRole.role.roleName) as {
      Ref: string;
    };
    const roleArn = `arn:aws:iam::${account}:role/${runnerRole.Ref}`;
    expect(
      await asRole('webhook', 'iam:PassRole', roleArn, { 'iam:PassedToService': 'ec2.amazonaws.com' }),
    ).toBe('Allowed');
    expect(
      await asRole('webhook', 'iam:PassRole', roleArn, { 'iam:PassedToService': 'lambda.amazonaws.com' }),
    ).toBe('ImplicitlyDenied');
    expect(
      await asRole('webhook', 'iam:PassRole', `arn:aws:iam::${account}:role/Admin`, {
        'iam:PassedToService': 'ec2.amazonaws.com',
      }),
    ).toBe('ImplicitlyDenied');
  });

  it('grant starts to every handler that provisions runners (the lifecycle handler and the tuner refill hot tiers), project instances only', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'ec2:StartInstances', instanceArn(instanceA), projectInstance), role).toBe(
        'Allowed',
      );
      expect(await asRole(role, 'ec2:StartInstances', instanceArn(instanceA)), `${role} untagged`).toBe(
        'ImplicitlyDenied',
      );
    }
  });
});

describe('control-plane roles on parameters and secrets', () => {
  const webhookSecret = `arn:aws:secretsmanager:${region}:${account}:secret:wpr/github/webhook-secret-AbCdEf`;
  const appSecret = `arn:aws:secretsmanager:${region}:${account}:secret:wpr/github/app-AbCdEf`;

  it('write JIT configs (every handler: all provision runners) but never read one back', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'ssm:PutParameter', jitOf(instanceA).arn), role).toBe('Allowed');
      expect(
        await asRole(role, 'ssm:AddTagsToResource', jitOf(instanceA).arn, {
          'aws:TagKeys': ['wpr:instance-id'],
        }),
        role,
      ).toBe('Allowed');
      expect(await asRole(role, 'ssm:GetParameter', jitOf(instanceA).arn), role).toBe('ImplicitlyDenied');
    }
    expect(await asRole('lifecycle', 'ssm:DeleteParameter', jitOf(instanceA).arn)).toBe('Allowed');
    expect(await asRole('poolTuner', 'ssm:DeleteParameter', jitOf(instanceA).arn)).toBe('Allowed');
  });

  it('read the AMI id of each architecture, which every launch names, but never write one', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      for (const arch of ['x64', 'arm64']) {
        const ami = parameterArn(`/wpr/ami/${arch}`);
        expect(await asRole(role, 'ssm:GetParameter', ami), `${role} ${arch}`).toBe('Allowed');
        expect(await asRole(role, 'ssm:PutParameter', ami), `${role} ${arch}`).toBe('ImplicitlyDenied');
        expect(await asRole(role, 'ssm:DeleteParameter', ami), `${role} ${arch}`).toBe('ImplicitlyDenied');
      }
      expect(await asRole(role, 'ssm:GetParameter', parameterArn('/wpr/amis')), role).toBe(
        'ImplicitlyDenied',
      );
      expect(await asRole(role, 'ssm:GetParameter', parameterArn('/other/ami/x64')), role).toBe(
        'ImplicitlyDenied',
      );
    }
  });

  it('read the pool config and its history (the last good version) but never write it', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'ssm:GetParameter', parameterArn('/wpr/pools')), role).toBe('Allowed');
      expect(await asRole(role, 'ssm:GetParameterHistory', parameterArn('/wpr/pools')), role).toBe('Allowed');
      expect(await asRole(role, 'ssm:PutParameter', parameterArn('/wpr/pools')), role).toBe(
        'ImplicitlyDenied',
      );
    }
  });

  it('read the webhook secret only in the webhook handler', async () => {
    expect(await asRole('webhook', 'secretsmanager:GetSecretValue', webhookSecret)).toBe('Allowed');
    for (const role of ['lifecycle', 'poolTuner', 'reconciler'] as const)
      expect(await asRole(role, 'secretsmanager:GetSecretValue', webhookSecret), role).toBe(
        'ImplicitlyDenied',
      );
    // The composition root authenticates the GitHub App at every cold start, so every handler reads it.
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'secretsmanager:GetSecretValue', appSecret), role).toBe('Allowed');
      expect(await asRole(role, 'secretsmanager:PutSecretValue', appSecret), role).toBe('ImplicitlyDenied');
    }
  });

  it('never scan or delete pool store items', async () => {
    for (const role of ['webhook', 'lifecycle', 'poolTuner', 'reconciler'] as const) {
      expect(await asRole(role, 'dynamodb:UpdateItem', tableArn), role).toBe('Allowed');
      expect(await asRole(role, 'dynamodb:Scan', tableArn), role).toBe('ImplicitlyDenied');
      expect(await asRole(role, 'dynamodb:DeleteItem', tableArn), role).toBe('ImplicitlyDenied');
    }
  });
});
