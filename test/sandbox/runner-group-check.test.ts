/**
 * `runners pools validate --check-github` and `runners pools apply`: every pool's runner group (or the
 * deployment's default) must exist in every organization the deployment serves. Against a sandbox of
 * two organizations and a repository-level install, through its API (`--sandbox`), and through the
 * deployment's own App secrets and settings, as against a deployed stack.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bin/cli/program.js';
import { mountApi, type SandboxApi } from '../../bin/sandbox/server-api.js';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { captureIo } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'runners-groups-'));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content, null, 2));
  return path;
};

const pool = {
  name: 'linux',
  labels: ['linux', 'x64'],
  architecture: 'x64',
  instanceTypes: ['m7i.large'],
  subnets: ['subnet-0a000000000000001', 'subnet-0b000000000000002'],
  defaultSize: 0,
  maximum: 4,
};
// `linux` names no group: the deployment's default, `ci`, which globex lacks.
const goodConfig = { pools: [{ ...pool, name: 'gpu', labels: ['gpu'], runnerGroup: 'GPU-Runners' }] };
const badConfig = {
  pools: [
    pool,
    { ...pool, name: 'gpu', labels: ['gpu'], runnerGroup: 'gpu-runners' },
    { ...pool, name: 'arm', labels: ['arm'], runnerGroup: 'arm-runners' },
  ],
};
const goodFile = file('good.json', goodConfig);
const badFile = file('bad.json', badConfig);
const badProblems = [
  `pool "linux": runner group "ci" (the deployment's default, RUNNER_GROUP) does not exist in organization globex`,
  'pool "arm": runner group "arm-runners" does not exist in organization acme',
  'pool "arm": runner group "arm-runners" does not exist in organization globex',
];

let sandbox: Sandbox;
let api: SandboxApi;

beforeAll(async () => {
  sandbox = await startSandbox({
    organizations: ['acme', 'globex', { owner: 'octocat', runners: 'repo' }],
    runnerGroups: { acme: ['ci', 'gpu-runners'], globex: ['gpu-runners'] },
    runnerGroup: 'ci',
    poolConfig: { pools: [] },
    timeScale: 0.02,
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
}, 60_000);

afterAll(async () => {
  api?.close();
  await sandbox?.close();
});

const live = () => sandbox.ssm.parameter('/wpr/pools')?.value;

/** The deployment's GitHub settings under the handlers' names, as a user exports them for the CLI. */
function deployedEnv(): Record<string, string | undefined> {
  const settings = sandbox.plane.settings;
  return {
    ...process.env,
    GITHUB_APPS: JSON.stringify(settings.GITHUB_APPS),
    GITHUB_API_URL: settings.GITHUB_API_URL,
    RUNNER_GROUP: settings.RUNNER_GROUP,
  };
}

describe('runners pools validate --check-github', () => {
  it('lists every missing (pool, organization, group) at once and exits 1; repository installs are skipped', async () => {
    const io = captureIo({});
    expect(await runCli(['pools', 'validate', badFile, '--check-github', '--sandbox', sandbox.url], io)).toBe(
      1,
    );
    const out = io.stdout();
    expect(out).toContain("bad.json: 3 problems with GitHub's runner groups");
    for (const problem of badProblems) expect(out).toContain(`  - ${problem}\n`);
    expect(out).toContain(
      'note: runner groups not checked for octocat: a repository-level install has no runner groups',
    );
    expect(out).not.toContain('valid —');
  });

  it('passes when every group exists (names compare case-insensitively)', async () => {
    const io = captureIo({});
    expect(
      await runCli(['pools', 'validate', goodFile, '--check-github', '--sandbox', sandbox.url], io),
    ).toBe(0);
    expect(io.stdout()).toContain("runner groups: every pool's group exists in acme, globex");
    expect(io.stdout()).toContain('good.json: valid — 1 pool');
  });

  it("reads the groups through the deployment's App secrets and settings, printing no secret", async () => {
    const io = captureIo(deployedEnv());
    expect(await runCli(['pools', 'validate', badFile, '--check-github'], io)).toBe(1);
    for (const problem of badProblems) expect(io.stdout()).toContain(`  - ${problem}\n`);
    expect(io.stdout() + io.stderr()).not.toMatch(/PRIVATE KEY|privateKey/);
    const good = captureIo(deployedEnv());
    expect(await runCli(['pools', 'validate', goodFile, '--check-github'], good)).toBe(0);
  });

  it('fails, rather than passes, when it cannot read the groups, naming what it could not read', async () => {
    const missingSecret = captureIo({
      ...process.env,
      GITHUB_APP_SECRET_ARN: 'wpr/no-such-app',
      GITHUB_ORG: 'acme',
      RUNNER_GROUP: 'ci',
    });
    expect(await runCli(['pools', 'validate', goodFile, '--check-github'], missingSecret)).toBe(1);
    expect(missingSecret.stderr()).toContain('could not read AWSCURRENT of secret wpr/no-such-app');

    // An installation GitHub does not know: its token is refused, so initech's groups cannot be read.
    const [first, ...rest] = sandbox.plane.settings.GITHUB_APPS ?? [];
    if (first === undefined) throw new Error('the sandbox has no GITHUB_APPS');
    const apps = [
      {
        ...first,
        installations: [...first.installations, { id: 999_999, owner: 'initech', runners: 'org' }],
      },
      ...rest,
    ];
    const notInstalled = captureIo({ ...deployedEnv(), GITHUB_APPS: JSON.stringify(apps) });
    expect(await runCli(['pools', 'validate', goodFile, '--check-github'], notInstalled)).toBe(1);
    expect(notInstalled.stderr()).toContain('cannot read the runner groups of initech from GitHub');
    expect(notInstalled.stdout()).not.toContain('valid —');
    expect(notInstalled.stdout() + notInstalled.stderr()).not.toMatch(/PRIVATE KEY/);
  });

  it('is a usage error without the sandbox or the deployment’s GitHub settings', async () => {
    const io = captureIo({});
    expect(await runCli(['pools', 'validate', goodFile, '--check-github'], io)).toBe(2);
    expect(io.stderr()).toContain("the runner group check needs to know the deployment's GitHub Apps");
  });

  it('does not check the groups unless asked', async () => {
    expect(await runCli(['pools', 'validate', badFile], captureIo({}))).toBe(0);
  });
});

describe('runners pools apply', () => {
  it('refuses a config whose groups are missing and writes nothing', async () => {
    const before = live();
    const io = captureIo({});
    expect(await runCli(['pools', 'apply', badFile, '--sandbox', sandbox.url, '--yes'], io)).toBe(1);
    expect(io.stderr()).toContain("bad.json: 3 problems with GitHub's runner groups");
    expect(live()).toBe(before);

    const deployed = captureIo(deployedEnv());
    expect(await runCli(['pools', 'apply', badFile, '--yes'], deployed)).toBe(1);
    expect(deployed.stderr()).toContain("bad.json: 3 problems with GitHub's runner groups");
    expect(live()).toBe(before);
  });

  it('writes a config whose groups exist', async () => {
    const io = captureIo({});
    expect(await runCli(['pools', 'apply', goodFile, '--sandbox', sandbox.url, '--yes'], io)).toBe(0);
    expect(JSON.parse(live() ?? 'null')).toEqual(goodConfig);
  });

  it('skips the check on --no-github-checks, and says so when it cannot reach the Apps', async () => {
    const skipped = captureIo(process.env);
    expect(await runCli(['pools', 'apply', badFile, '--no-github-checks', '--dry-run'], skipped)).toBe(0);
    expect(skipped.stderr()).not.toContain('runner groups');
    const unknown = captureIo(process.env);
    expect(await runCli(['pools', 'apply', badFile, '--dry-run'], unknown)).toBe(0);
    expect(unknown.stderr()).toContain('warning: runner groups not checked');
  });
});
