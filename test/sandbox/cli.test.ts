/**
 * The `runners` CLI: `pools validate` with the handlers' schema, `replay` and `pools apply` against a
 * running sandbox (its webhook and its SSM peer, reached through AWS_ENDPOINT_URL_SSM as the AWS SDK
 * reaches any endpoint), and `status` against the sandbox's DynamoDB through the production adapter.
 * Most runs are in-process (`runCli` with captured output); a few run the binary, as a user does.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bin/cli/program.js';
import type { StatusReport } from '../../bin/cli/status-command.js';
import { mountApi, type SandboxApi } from '../../bin/sandbox/server-api.js';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { captureIo, closedPort, runRunners, waitUntil, workflowJobBody } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'runners-cli-'));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
};

const pool = {
  name: 'linux-x64',
  labels: ['linux', 'x64'],
  architecture: 'x64',
  instanceTypes: ['m7i.large'],
  subnets: ['subnet-0a000000000000001', 'subnet-0b000000000000002'],
  defaultSize: 1,
  maximum: 4,
};
const goodConfig = { pools: [pool] };
const goodFile = file('good.json', goodConfig);
const badFile = file('bad.json', {
  pools: [
    {
      ...pool,
      name: 'Linux X64',
      labels: [],
      instanceTypes: ['m7g.large'],
      defaultSize: 9,
      schedule: [{ days: ['mon'], from: '25:00', to: '08:00', timezone: 'Mars/Olympus', size: 3 }],
    },
    { ...pool, name: 'linux-x64-b', subnets: ['subnet-zz'] },
    pool,
  ],
  settings: { pendingJobSeconds: 1 },
});

describe('runners pools validate', () => {
  it('accepts a good file: exit 0 and a summary of each pool', async () => {
    const io = captureIo();
    expect(await runCli(['pools', 'validate', goodFile], io)).toBe(0);
    expect(io.stdout()).toContain('good.json: valid — 1 pool');
    expect(io.stdout()).toMatch(/linux-x64: labels linux,x64; m7i\.large in 2 subnet\(s\); size 1, max 4/);
  });

  it('lists every problem of a bad file at once, with the handlers’ messages, and exits 1', async () => {
    const io = captureIo();
    expect(await runCli(['pools', 'validate', badFile], io)).toBe(1);
    const expected = [
      'pool "Linux X64": name: must be 1-32 lowercase letters',
      'pool "Linux X64": labels: must list at least one label',
      'pool "Linux X64": schedule[0].from: must be a 24-hour time "HH:MM" (given "25:00")',
      'pool "Linux X64": schedule[0].timezone: is not an IANA time zone',
      'pool "Linux X64": defaultSize: 9 is over its maximum 4',
      'pool "Linux X64": instanceTypes[0]: m7g.large is arm64, the pool is x64',
      'pool "linux-x64-b": subnets[0]: is not a subnet id (given "subnet-zz")',
      'settings.pendingJobSeconds:',
      'serves the same labels as pool',
    ];
    for (const problem of expected) expect(io.stdout()).toContain(problem);
    expect(io.stdout()).toMatch(/^.*bad\.json: (\d+) problems$/m);
    const count = Number(/bad\.json: (\d+) problems/.exec(io.stdout())?.[1]);
    expect(io.stdout().match(/^ {2}- /gm)).toHaveLength(count);
    expect(count).toBe(expected.length);
  });

  it('reports a missing file or malformed JSON as one clear line, no stack', async () => {
    const missing = captureIo();
    expect(await runCli(['pools', 'validate', join(dir, 'nope.json')], missing)).toBe(2);
    expect(missing.stderr()).toBe(`runners: ${join(dir, 'nope.json')}: no such file\n`);
    const malformed = captureIo();
    expect(await runCli(['pools', 'validate', file('broken.json', '{"pools": [')], malformed)).toBe(1);
    expect(malformed.stdout()).toMatch(/broken\.json: 1 problem\n {2}- \(root\): not valid JSON/);
  });

  it('works as the `runners` binary, with the exit code', async () => {
    const bad = await runRunners(['pools', 'validate', badFile]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('bad.json: 9 problems');
    expect(bad.stdout).toContain('defaultSize: 9 is over its maximum 4');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('answers an unknown command with usage help and exit 1', async () => {
    const io = captureIo();
    expect(await runCli(['pools', 'frobnicate'], io)).toBe(1);
    expect(io.stderr()).toMatch(/unknown command 'frobnicate'/);
  });
});

describe('against a running sandbox', () => {
  const secret = 'cli-test-secret';
  let sandbox: Sandbox;
  let api: SandboxApi;
  // startSandbox points the SDK at its peers through AWS_ENDPOINT_URL_SSM and friends.
  const env = () => ({ ...process.env });

  beforeAll(async () => {
    sandbox = await startSandbox({
      poolConfig: goodConfig,
      webhookSecret: secret,
      timeScale: 0.02,
      warmupMs: 20,
      schedules: false,
      logLevel: 'SILENT',
    });
    const metrics = sandbox.metrics as InMemoryMetrics;
    api = mountApi({
      sandbox,
      recorded: () => metrics.recorded,
      clock: sandbox.plane.deps.clock,
      info: { speed: 1, demo: false },
    });
    await sandbox.runTuner();
    await waitUntil(
      async () => (await sandbox.plane.deps.store.listReady('linux-x64', 5)).length === 1,
      'warm',
    );
  }, 60_000);

  afterAll(async () => {
    api?.close();
    await sandbox?.close();
  });

  describe('runners replay', () => {
    const payload = () => file('payload.json', workflowJobBody(777_001));

    it('signs the payload as GitHub does; the webhook provides a runner', async () => {
      const io = captureIo({ WEBHOOK_SECRET: secret });
      const code = await runCli(['replay', payload(), '--url', sandbox.webhookUrl, '--delivery', 'd-1'], io);
      expect(io.stdout()).toMatch(/^HTTP 200 OK in \d+ ms \(delivery d-1\)/);
      expect(io.stdout()).toContain('"outcome": "provisioned"');
      expect(io.stderr()).toMatch(/sending workflow_job \(\d+ bytes, delivery d-1\)/);
      expect(code).toBe(0);
      expect((await sandbox.plane.deps.store.getJob(777_001))?.state).toBe('provisioned');
    });

    it('sends a duplicate when given the same delivery id, and prints the answer as JSON', async () => {
      const io = captureIo({ WEBHOOK_SECRET: secret });
      const code = await runCli(
        ['replay', payload(), '--sandbox', sandbox.url, '--delivery', 'd-1', '--json'],
        io,
      );
      expect(code).toBe(0);
      const result = JSON.parse(io.stdout()) as { status: number; body: { outcome: string } };
      expect(result.status).toBe(202);
      expect(result.body.outcome).toBe('duplicate');
    });

    it('exits 1 on a refused signature, and never prints the secret', async () => {
      const io = captureIo({});
      const code = await runCli(['replay', payload(), '--url', sandbox.webhookUrl, '--secret', 'wrong'], io);
      expect(code).toBe(1);
      expect(io.stdout()).toMatch(/^HTTP 401 Unauthorized/);
      expect(io.stdout() + io.stderr()).not.toContain('wrong');
    });

    it('rewrites the job id and creation time on request', async () => {
      const io = captureIo({ WEBHOOK_SECRET: secret });
      const code = await runCli(
        ['replay', payload(), '--sandbox', sandbox.url, '--job-id', '777002', '--now', '--json'],
        io,
      );
      expect(code).toBe(0);
      expect((await sandbox.plane.deps.store.getJob(777_002))?.labels).toEqual([
        'self-hosted',
        'linux',
        'x64',
      ]);
    });

    it('says what is missing instead of failing obscurely', async () => {
      const noSecret = captureIo({});
      expect(await runCli(['replay', payload(), '--url', sandbox.webhookUrl], noSecret)).toBe(2);
      expect(noSecret.stderr()).toContain('no webhook secret: pass --secret or set WEBHOOK_SECRET');
      const port = await closedPort();
      const nowhere = captureIo({ WEBHOOK_SECRET: secret });
      expect(
        await runCli(['replay', payload(), '--url', `http://127.0.0.1:${port}/workflow_job`], nowhere),
      ).toBe(1);
      expect(nowhere.stderr()).toContain(
        `runners: cannot reach http://127.0.0.1:${port}/workflow_job (ECONNREFUSED)`,
      );
    });
  });

  describe('runners pools apply', () => {
    const parameter = '/wpr/pools';
    const live = () => JSON.parse(sandbox.ssm.parameter(parameter)?.value ?? 'null') as typeof goodConfig;

    it('shows the change and writes nothing on --dry-run', async () => {
      const bigger = file('bigger.json', { pools: [{ ...pool, defaultSize: 3 }] });
      const io = captureIo(env());
      expect(await runCli(['pools', 'apply', bigger, '--dry-run', '--region', 'us-east-1'], io)).toBe(0);
      expect(io.stdout()).toContain(`changes to ${parameter}:\n  ~ pool "linux-x64".defaultSize: 1 → 3`);
      expect(io.stdout()).toContain('dry run: nothing written');
      expect(live().pools[0]?.defaultSize).toBe(1);
    });

    it('refuses to write without a confirmation when nobody can answer, or when the answer is no', async () => {
      const bigger = file('bigger.json', { pools: [{ ...pool, defaultSize: 3 }] });
      const batch = captureIo(env());
      expect(await runCli(['pools', 'apply', bigger], batch)).toBe(1);
      expect(batch.stderr()).toContain('runners: not writing without a confirmation: pass --yes');
      const declined = captureIo(env(), { interactive: true, answer: false });
      expect(await runCli(['pools', 'apply', bigger], declined)).toBe(1);
      expect(declined.stdout()).toContain('nothing written');
      expect(live().pools[0]?.defaultSize).toBe(1);
    });

    it('writes through AWS_ENDPOINT_URL_SSM with --yes, and the handlers load the new config', async () => {
      const next = {
        pools: [
          { ...pool, defaultSize: 2, maximum: 6 },
          {
            ...pool,
            name: 'linux-arm64',
            labels: ['linux', 'arm64'],
            architecture: 'arm64',
            instanceTypes: ['m7g.large'],
          },
        ],
      };
      const io = captureIo(env());
      expect(await runCli(['pools', 'apply', file('next.json', next), '--yes'], io)).toBe(0);
      expect(io.stdout()).toContain('~ pool "linux-x64".defaultSize: 1 → 2');
      expect(io.stdout()).toContain('~ pool "linux-x64".maximum: 4 → 6');
      expect(io.stdout()).toMatch(/\+ pool "linux-arm64": labels linux,arm64; m7g\.large/);
      expect(io.stdout()).toMatch(/written: \/wpr\/pools version \d+/);
      expect(live()).toEqual(next);
      const fresh = await runCli(['pools', 'apply', file('next.json', next), '--yes'], captureIo(env()));
      expect(fresh).toBe(0);
    });

    it("finds the sandbox's SSM peer by itself with --sandbox, and says when nothing changes", async () => {
      const io = captureIo({});
      expect(await runCli(['pools', 'apply', goodFile, '--sandbox', sandbox.url, '--yes'], io)).toBe(0);
      expect(io.stdout()).toContain('- pool "linux-arm64"');
      expect(live()).toEqual(goodConfig);
      const again = captureIo({});
      expect(await runCli(['pools', 'apply', goodFile, '--sandbox', sandbox.url], again)).toBe(0);
      expect(again.stdout()).toBe(`no changes: ${parameter} already holds this config\n`);
    });

    it('refuses a config the account cannot launch: a volume smaller than the image, a type offered nowhere', async () => {
      const small = file('small.json', {
        pools: [{ ...pool, volumeSizeGb: 20, instanceTypes: ['m7i.large', 'x9z.large'] }],
      });
      // The image's root snapshot is larger than the pool's volume; x9z.large exists in no zone.
      sandbox.ec2.registerImage('ami-0123456789abcdef0', 'x86_64', 30);
      sandbox.ec2.withdrawOffering('x9z.large', 'us-east-1a');
      sandbox.ec2.withdrawOffering('x9z.large', 'us-east-1b');
      try {
        const io = captureIo(env());
        expect(await runCli(['pools', 'apply', small, '--yes'], io)).toBe(1);
        expect(io.stderr()).toContain('small.json: 2 problems with this account');
        expect(io.stderr()).toContain(
          'pool "linux-x64": volumeSizeGb: 20 is smaller than the root snapshot of its image ami-0123456789abcdef0 (30 GiB)',
        );
        expect(io.stderr()).toContain('x9z.large is not offered in any of its zones');
        expect(live()).toEqual(goodConfig);
        const checked = captureIo({});
        expect(await runCli(['pools', 'validate', small, '--sandbox', sandbox.url], checked)).toBe(1);
        expect(checked.stdout()).toContain('small.json: 2 problems with this account');
        // Offline, the schema alone finds nothing wrong.
        expect(await runCli(['pools', 'validate', small], captureIo({}))).toBe(0);
      } finally {
        sandbox.ec2.registerImage('ami-0123456789abcdef0', 'x86_64', 8);
      }
    });

    it('never writes an invalid file', async () => {
      const io = captureIo(env());
      expect(await runCli(['pools', 'apply', badFile, '--yes'], io)).toBe(1);
      expect(io.stderr()).toContain('bad.json: 9 problems');
      expect(live()).toEqual(goodConfig);
    });
  });

  describe('runners status', () => {
    it("reads a deployed table through the production adapters (here the sandbox's dynalite)", async () => {
      const io = captureIo(env());
      const table = sandbox.plane.settings.TABLE_NAME;
      const code = await runCli(['status', '--json', '--table', table, '--completed'], io);
      expect(io.stderr()).toContain(`reading instances and jobs from table ${table}`);
      expect(code).toBe(0);
      const report = JSON.parse(io.stdout()) as StatusReport;
      const live = await sandbox.plane.deps.store.listLiveInstances();
      expect(report.source).toEqual(
        expect.objectContaining({ kind: 'aws', table, poolsParameter: '/wpr/pools' }),
      );
      expect(report.instances.map((i) => i.id).sort()).toEqual(live.map((i) => i.id).sort());
      expect(report.jobs.map((j) => j.id).sort()).toEqual([777_001, 777_002]);
      expect(report.pools.map((p) => p.name)).toEqual(['linux-x64']);

      const text = captureIo(env());
      expect(await runCli(['status', '--table', table], text)).toBe(0);
      expect(text.stdout()).toMatch(
        /Jobs: 0 waiting · \d+ queued · \d+ provisioned · 0 running \(completed jobs not read/,
      );
    });

    it('names the table that is missing', async () => {
      const io = captureIo(env());
      expect(await runCli(['status', '--table', 'no-such-table'], io)).toBe(1);
      expect(io.stderr()).toMatch(/runners: table no-such-table does not exist/);
    });
  });
});
