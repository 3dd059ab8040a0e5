/**
 * A deployment of two organizations through two Apps, synthesized: each further App has its own secret,
 * every function reads every App secret (and no other), and the handlers get GITHUB_APPS — which their
 * own settings accept — instead of the single-App variables. The single-App example synthesizes as
 * before (stacks.test.ts and the IAM tests pin it).
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../handlers/settings.js';
import { validateDeploymentConfig } from '../../infra/config/deployment-config.js';
import { exampleDocument } from './example-config.js';
import { type PolicyDocument, TemplateResolver } from './policy-documents.js';
import { resourcesOf, type Synthesized, synthesize } from './synth.js';

const account = '111111111111';
const region = 'eu-west-1';
const twoApps = {
  github: {
    additionalInstallations: [{ id: 22222222, owner: 'globex' }],
    additionalApps: [
      {
        name: 'mint2',
        appId: 654321,
        installations: [
          { id: 33333333, owner: 'example-org' },
          { id: 44444444, owner: 'globex' },
        ],
      },
    ],
  },
};

let app: Synthesized;
beforeAll(() => {
  app = synthesize({ overrides: twoApps });
});
afterAll(() => app.dispose());

function environments(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.values(resourcesOf(app.runtime, 'AWS::Lambda::Function')).map((f) => [
      f.Properties.FunctionName,
      f.Properties.Environment.Variables,
    ]),
  );
}

describe('two organizations, two Apps', () => {
  it('keeps one secret per App, the further one named after it and seeded with its id', () => {
    const secrets = Object.values(resourcesOf(app.stateful, 'AWS::SecretsManager::Secret')).map((s) => ({
      name: s.Properties.Name,
      template: s.Properties.GenerateSecretString?.SecretStringTemplate,
    }));
    expect(secrets.map((s) => s.name).sort()).toEqual([
      'wpr/github/app',
      'wpr/github/app-mint2',
      'wpr/github/webhook-secret',
    ]);
    expect(JSON.parse(secrets.find((s) => s.name === 'wpr/github/app-mint2')?.template)).toEqual({
      appId: 654321,
    });
  });

  it('gives every function GITHUB_APPS (and not the single-App variables), which the handlers accept', () => {
    for (const [name, env] of Object.entries(environments())) {
      expect(env, name).not.toHaveProperty('GITHUB_APP_SECRET_ARN');
      expect(env, name).not.toHaveProperty('GITHUB_ORG');
      expect(env, name).not.toHaveProperty('RUNNER_SCOPE');
      // The ARNs are deploy-time values (imports from the stateful stack): resolved, then read as the
      // handlers read them.
      const text = resolveJoin(env.GITHUB_APPS);
      const settings = readSettings({
        TABLE_NAME: 't',
        PARAMETER_PREFIX: '/wpr',
        POOL_CONFIG_PARAMETER: '/wpr/pools',
        WEBHOOK_SECRET_ARN: 'w',
        LAUNCH_TEMPLATE_ID: 'lt-1',
        EVENT_BUS_NAME: 'b',
        GITHUB_APPS: text,
      });
      expect(
        settings.GITHUB_APPS?.map((a) => [a.name, a.webhook, a.installations]),
        name,
      ).toEqual([
        [
          'main',
          true,
          [
            { id: 12345678, owner: 'example-org', runners: 'org' },
            { id: 22222222, owner: 'globex', runners: 'org' },
          ],
        ],
        [
          'mint2',
          false,
          [
            { id: 33333333, owner: 'example-org', runners: 'org' },
            { id: 44444444, owner: 'globex', runners: 'org' },
          ],
        ],
      ]);
    }
  });

  it('lets every function read every App secret, and no other secret but the webhook one', async () => {
    const resolver = new TemplateResolver(account, region, [app.stateful, app.runtime]);
    const { functions } = app.stacks.runtime;
    const secret = (name: string) => `arn:aws:secretsmanager:${region}:${account}:secret:${name}-AbCdEf`;
    for (const role of [functions.webhook, functions.lifecycle, functions.poolTuner, functions.reconciler]) {
      const documents = resolver.policiesOf(app.runtime, role.role).map((p) => p.policy);
      const decide = (resource: string) => simulate(documents, 'secretsmanager:GetSecretValue', resource);
      expect(await decide(secret('wpr/github/app'))).toBe('Allowed');
      expect(await decide(secret('wpr/github/app-mint2'))).toBe('Allowed');
      expect(await decide(secret('wpr/github/app-other'))).toBe('ImplicitlyDenied');
      expect(await decide(secret('other/github/app-mint2'))).toBe('ImplicitlyDenied');
      expect(await simulate(documents, 'secretsmanager:PutSecretValue', secret('wpr/github/app-mint2'))).toBe(
        'ImplicitlyDenied',
      );
    }
  });
});

describe('the deployment config of several Apps', () => {
  const withGitHub = (github: Record<string, unknown>) => {
    const document = exampleDocument();
    document.github = { ...(document.github as object), ...github };
    return validateDeploymentConfig(document);
  };

  it('reports every problem at once: installations or owners listed twice, names taken, scopes that disagree', () => {
    const result = withGitHub({
      additionalInstallations: [
        { id: 12345678, owner: 'globex' },
        { id: 5, owner: 'example-org', runners: 'repo' },
      ],
      additionalApps: [
        {
          name: 'main',
          appId: 2,
          installations: [
            { id: 6, owner: 'globex' },
            { id: 7, owner: 'globex' },
          ],
        },
        { name: 'empty', appId: 3, installations: [] },
      ],
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^github\.additionalApps\[1\]\.installations: must list at least one installation/,
        ),
      ]),
    );
    const fixed = withGitHub({
      additionalInstallations: [
        { id: 12345678, owner: 'globex' },
        { id: 5, owner: 'example-org', runners: 'repo' },
      ],
      additionalApps: [
        {
          name: 'main',
          appId: 2,
          installations: [
            { id: 6, owner: 'globex' },
            { id: 7, owner: 'globex' },
          ],
        },
      ],
    });
    expect(fixed.ok ? [] : fixed.problems).toEqual(
      expect.arrayContaining([
        'github: installation 12345678 is listed twice',
        'github.additionalInstallations: owner example-org is listed twice (an App is installed once per account)',
        'github.additionalApps[0]: owner globex is listed twice (an App is installed once per account)',
        'github.additionalApps: App name "main" is taken',
        'github: owner example-org: its installations disagree on runners ("org" and "repo")',
      ]),
    );
  });

  it('requires a hot pool to name its organization once the deployment serves several', () => {
    const document = exampleDocument();
    const pools = document.pools as { pools: Record<string, unknown>[] };
    const hot = pools.pools[0] as { hot?: Record<string, unknown> };
    hot.hot = { maximum: 1 };
    document.github = {
      ...(document.github as object),
      additionalInstallations: [{ id: 2, owner: 'globex' }],
    };
    const result = validateDeploymentConfig(document);
    expect(result.ok ? [] : result.problems).toEqual([
      expect.stringMatching(/^pools: pool config: pool "[a-z0-9-]+": hot\.organization: required when/),
    ]);
    hot.hot = { maximum: 1, organization: 'globex' };
    expect(validateDeploymentConfig(document).ok).toBe(true);
  });
});

/** CloudFormation's Fn::Join of literal parts (the secret ARNs already replaced), as a string. */
function resolveJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  return join[1].map((part) => (typeof part === 'string' ? part : resolveRef(part))).join(join[0]);
}

/** An import of a secret's ARN from the stateful stack, as a distinct ARN per export. */
function resolveRef(part: unknown): string {
  const name = (part as { 'Fn::ImportValue'?: unknown })['Fn::ImportValue'];
  if (typeof name !== 'string') throw new Error(`cannot resolve ${JSON.stringify(part)}`);
  return `arn:aws:secretsmanager:${region}:${account}:secret:${name.replace(/[^A-Za-z0-9]/g, '')}`;
}

async function simulate(documents: PolicyDocument[], action: string, resource: string) {
  const response = await runSimulation(
    {
      request: {
        principal: `arn:aws:sts::${account}:assumed-role/fn/session`,
        action,
        resource: { resource, accountId: account },
        contextVariables: {},
      },
      identityPolicies: documents.map((policy, i) => ({ name: `policy${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
  return response.overallResult;
}
