/**
 * The deployment configuration is checked before anything is synthesized: every problem at once, each
 * naming the field, what was given and what is allowed, and the layers it was read from.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateDeploymentConfig } from '../../infra/config/deployment-config.js';
import {
  InvalidDeploymentConfigError,
  loadDeploymentConfig,
  withoutComments,
} from '../../infra/config/load-deployment-config.js';
import { cdkJson, exampleDocument, repositoryRoot } from './example-config.js';

function load(
  env: Record<string, string> = {},
  files: Record<string, string> = {},
  context = cdkJson.context,
) {
  return loadDeploymentConfig({
    context: (key) => context[key],
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
      return text;
    },
  });
}

function problemsOf(document: unknown): string[] {
  const result = validateDeploymentConfig(document);
  if (result.ok) throw new Error('expected the configuration to be rejected');
  return result.problems;
}

// biome-ignore lint/suspicious/noExplicitAny: the example document is free-form JSON, edited in place
type Json = any;

function mutate(change: (doc: Json) => void): Record<string, unknown> {
  const doc = exampleDocument();
  change(doc);
  return doc;
}

describe('deployment configuration', () => {
  it('accepts the example in cdk.json and fills in defaults derived from the project', () => {
    const config = load();
    expect(config.project).toBe('wpr');
    expect(config.parameterPrefix).toBe('/wpr');
    expect(config.github.runnerNamePrefix).toBe('wpr');
    expect(config.github.apiUrl).toBe('https://api.github.com');
    expect(config.observability.metricsNamespace).toBe('WarmPoolRunners');
    // Pool defaults come from the runtime schema (fallback policy, settings).
    expect(config.pools.pools[0]?.fallback.spot).toBe(true);
    expect(config.pools.settings.claimTimeoutSeconds).toBeGreaterThan(0);
  });

  it('reports every problem at once, with the field, the given value and what is allowed', () => {
    const problems = problemsOf(
      mutate((doc) => {
        doc.account = '1234';
        doc.github.appId = 'abc';
        doc.github.apiUrl = 'http://ghe.example.com/api/v3';
        doc.network.vpcId = 'vpc-xyz';
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'account: must be a 12-digit AWS account id (given "1234")',
        expect.stringMatching(/^github\.appId: must be a number.*\(given "abc"\)$/),
        expect.stringMatching(/^github\.apiUrl: must be an https:\/\/ URL/),
        'network.vpcId: is not a VPC id (vpc-0123abcd...) (given "vpc-xyz")',
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('validates the initial pools with the runtime pool schema and names the pool', () => {
    const problems = problemsOf(
      mutate((doc) => {
        doc.pools.pools[0].defaultSize = 50;
        doc.pools.pools[1].instanceTypes = ['m7i.large'];
      }),
    );
    expect(problems).toEqual([
      'pools: pool config: pool "linux-x64": defaultSize: 50 is over its maximum 40',
      'pools: pool config: pool "linux-arm64": instanceTypes[0]: m7i.large is x64, the pool is arm64',
    ]);
  });

  it('refuses a pool subnet that is not declared with its availability zone', () => {
    const problems = problemsOf(
      mutate((doc) => {
        doc.pools.pools[1].subnets = ['subnet-0a1b2c3d4e5f60001', 'subnet-0fffffffffffffff9'];
      }),
    );
    expect(problems).toEqual([
      'pools: pool "linux-arm64": subnets[1] subnet-0fffffffffffffff9 is not declared under network.subnets (add it with its availability zone)',
    ]);
  });

  it('refuses subnets in another region and subnets listed twice', () => {
    const problems = problemsOf(
      mutate((doc) => {
        doc.network.subnets[1].availabilityZone = 'us-east-1b';
        doc.network.subnets[2].id = doc.network.subnets[0].id;
      }),
    );
    expect(problems).toEqual([
      // The third subnet's id was overwritten, so the pool using it lost its declaration too.
      'pools: pool "linux-x64": subnets[2] subnet-0a1b2c3d4e5f60003 is not declared under network.subnets (add it with its availability zone)',
      'network.subnets[1].availabilityZone: us-east-1b is not in region eu-west-1 (given "us-east-1b")',
      'network.subnets[2].id: is listed twice (given "subnet-0a1b2c3d4e5f60001")',
    ]);
  });

  it('refuses a pool whose architecture has no image', () => {
    const problems = problemsOf(mutate((doc) => Object.assign(doc, { image: { architectures: ['x64'] } })));
    expect(problems).toEqual([
      'image.architectures: pool "linux-arm64" runs on arm64, which is not built (add "arm64")',
    ]);
    expect(
      problemsOf(mutate((doc) => Object.assign(doc, { image: { architectures: ['arm64'] } }))),
    ).toContain("image.architectures: must include x64 (the launch template's default image)");
  });

  it('refuses unknown fields, so a typo does not silently fall back to a default', () => {
    const problems = problemsOf(mutate((doc) => Object.assign(doc.alarms, { pickupLatencyP95: 10 })));
    expect(problems).toEqual([expect.stringMatching(/^alarms: Unrecognized key: "pickupLatencyP95"/)]);
  });

  it('reports missing required sections', () => {
    const problems = problemsOf(
      mutate((doc) => {
        delete doc.deploy;
        delete doc.github.organization;
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^github\.organization: /),
        expect.stringMatching(/^deploy: /),
      ]),
    );
  });

  it('layers cdk.json, WPR_CONFIG_FILE and WPR_CONFIG, later layers winning field by field', () => {
    const config = load(
      {
        WPR_CONFIG_FILE: '/etc/wpr/production.json',
        WPR_CONFIG: JSON.stringify({ account: '222222222222', github: { appId: 42 } }),
      },
      {
        '/etc/wpr/production.json': JSON.stringify({
          account: '333333333333',
          github: { organization: 'acme' },
        }),
      },
    );
    expect(config.account).toBe('222222222222');
    expect(config.github.organization).toBe('acme');
    expect(config.github.appId).toBe(42);
    expect(config.github.installationId).toBe(12345678);
  });

  it('names the layers it read when the merged document is invalid', () => {
    let error: unknown;
    try {
      load({ WPR_CONFIG: JSON.stringify({ region: 'moon-1' }) });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidDeploymentConfigError);
    const message = (error as Error).message;
    expect(message).toContain('read from cdk.json context "wpr", then WPR_CONFIG');
    expect(message).toContain('region: is not an AWS region (e.g. "us-east-1") (given "moon-1")');
    expect(message).toContain('Fix the values in cdk.json context "wpr"');
  });

  it('never echoes the text of a WPR_CONFIG that is not JSON (it comes from a secret)', () => {
    expect(() => load({ WPR_CONFIG: '{"account": "s3cr3t-value' })).toThrow(/WPR_CONFIG: not valid JSON\n/);
    try {
      load({ WPR_CONFIG: '{"account": "s3cr3t-value' });
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cr3t');
    }
  });

  it('reads the commented starter file in docs/examples as it is, on its own', () => {
    const starter = readFileSync(join(repositoryRoot, 'docs', 'examples', 'deployment-config.jsonc'), 'utf8');
    expect(starter).toMatch(/^\/\/ /m); // it is commented: the comments are what a starter is for
    const config = load({ WPR_CONFIG_FILE: 'starter.jsonc' }, { 'starter.jsonc': starter }, {});
    expect(config.project).toBe('wpr');
    expect(config.pools.pools.map((p) => p.name)).toEqual(['linux-x64']);
    expect(config.github.organization).toBe('example-org');
    // Comment markers inside strings are text, not comments.
    const quoted = '{ "project": "a//b" /* gone */ }';
    expect(JSON.parse(withoutComments(quoted))).toEqual({ project: 'a//b' });
  });

  it('reports an unreadable WPR_CONFIG_FILE', () => {
    expect(() => load({ WPR_CONFIG_FILE: '/missing.json' })).toThrow(
      /WPR_CONFIG_FILE: cannot read \/missing\.json/,
    );
  });

  it('stops `cdk synth` with the problems and exit code 1', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        WPR_CONFIG: JSON.stringify({ network: { subnets: [] }, alarms: { poolEmptyMinutes: 0 } }),
        CDK_OUTDIR: '/nonexistent-output-dir',
      },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('invalid deployment configuration');
    expect(result.stderr).toContain('network.subnets: must list at least one subnet');
    expect(result.stderr).toContain(
      'alarms.poolEmptyMinutes: Too small: expected number to be >=1 (given 0)',
    );
  });
});
