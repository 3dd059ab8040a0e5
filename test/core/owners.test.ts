/**
 * One deployment serving several owners: runners register with the organization (or, for a
 * repository-level install, the repository) of the job's owner, under that owner's name prefix; every
 * prefix is recognised; a runner is deregistered where it registered even once its job record is gone;
 * orphans are reaped in every organization; a pool's runner group and its hot tier's organization
 * come from the pool config.
 */
import { describe, expect, it } from 'vitest';
import { poolOwnerProblems, type RunnerSettings } from '../../scheduler/core/deps.js';
import { handleInstanceStateChange } from '../../scheduler/core/instance-events.js';
import { provisionRunner } from '../../scheduler/core/provision.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import { releaseUnusedRunner } from '../../scheduler/core/recycle.js';
import { tunePools } from '../../scheduler/core/tune-pools.js';
import type { JobRecord } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import {
  type Harness,
  job,
  jobEvent,
  makeHarness,
  mustInstance,
  mustJob,
  poolOf,
  readyInstances,
  subnetA,
  subnetB,
  testConfig,
} from './support.js';

/** acme and globex in organization scope (each its home installation), octocat a repository-level install. */
const threeOwners: RunnerSettings = {
  owners: [
    { owner: 'acme', scope: 'org', namePrefix: 'wpr-101' },
    { owner: 'globex', scope: 'org', namePrefix: 'wpr-102' },
    { owner: 'octocat', scope: 'repo', namePrefix: 'wpr-103' },
  ],
};
const acmeApp = { owner: 'acme', name: 'app' };
const globexApi = { owner: 'Globex', name: 'api' };
const octocatDotfiles = { owner: 'octocat', name: 'dotfiles' };

function provision(h: Harness, j: JobRecord) {
  return provisionRunner(h.deps, { pool: poolOf(h.config), job: j, deadline: h.clock.now() + 8_000 });
}

describe('runners per owner', () => {
  it("registers each job's runner with its owner's organization or repository, under the owner's prefix", async () => {
    const h = makeHarness({ runners: threeOwners });
    const [a, b, c] = await readyInstances(h, [subnetA, subnetB, subnetA]);
    for (const repository of [acmeApp, globexApi, octocatDotfiles])
      expect((await provision(h, job({ repository }))).kind).toBe('provisioned');

    expect(h.github.callsOf('createJitConfig').map((c) => c.args)).toEqual([
      [{ kind: 'org', org: 'acme' }, expect.objectContaining({ runnerName: `wpr-101-${a?.id}` })],
      [{ kind: 'org', org: 'globex' }, expect.objectContaining({ runnerName: `wpr-102-${b?.id}` })],
      [
        { kind: 'repo', repository: octocatDotfiles },
        expect.objectContaining({ runnerName: `wpr-103-${c?.id}` }),
      ],
    ]);
    // The instance keeps where its runner registered: the job record may be gone when it is recycled.
    expect(await mustInstance(h, b?.id ?? '')).toMatchObject({
      runnerName: `wpr-102-${b?.id}`,
      runnerFor: globexApi,
    });
  });

  it('starts nothing for an owner the deployment does not serve, and says so', async () => {
    const h = makeHarness({ runners: threeOwners });
    const [a] = await readyInstances(h, [subnetA]);
    const outcome = await provision(h, job({ repository: { owner: 'initech', name: 'app' } }));
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'unserved-owner' });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({ state: 'ready', version: a?.version });
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('stopped');
    expect(h.github.callsOf('createJitConfig')).toEqual([]);
    expect(h.metrics.total('UnservedOwner', { Pool: 'linux-x64' })).toBe(1);
  });

  it("deregisters an unused runner from its owner's organization even when its job record is gone", async () => {
    const h = makeHarness({ runners: threeOwners });
    const [a] = await readyInstances(h, [subnetA]);
    // The job was never stored here (as when its record has expired): only the instance says where.
    await provision(h, job({ repository: globexApi }));
    const runnerId = (await mustInstance(h, a?.id ?? '')).runnerId;
    expect(await releaseUnusedRunner(h.deps, a?.id ?? '', 'its job was cancelled')).toBe(true);
    expect(h.github.callsOf('deleteRunner').map((c) => c.args)).toEqual([
      [{ kind: 'org', org: 'globex' }, runnerId],
    ]);
    expect(await h.github.listRunners({ kind: 'org', org: 'globex' }, 'wpr-')).toEqual([]);
  });

  it('reaps orphan runners in every organization, and leaves runners that are not ours', async () => {
    const h = makeHarness({ runners: threeOwners });
    const labels = ['linux'];
    const acme = { kind: 'org', org: 'acme' } as const;
    const globex = { kind: 'org', org: 'globex' } as const;
    const octocat = { kind: 'repo', repository: octocatDotfiles } as const;
    await h.github.createJitConfig(acme, { runnerName: 'wpr-101-i-0000000000000dead', labels });
    await h.github.createJitConfig(globex, { runnerName: 'wpr-102-i-0000000000000beef', labels });
    // Another deployment's runner (another installation) in globex, and a repository runner whose
    // repository has a job in play.
    const other = await h.github.createJitConfig(globex, {
      runnerName: 'wpr-999-i-0000000000000f00',
      labels,
    });
    await h.github.createJitConfig(octocat, { runnerName: 'wpr-103-i-0000000000000cafe', labels });
    await h.store.createJob(job({ repository: octocatDotfiles, state: 'running', pool: 'linux-x64' }));

    const report = await reconcile(h.deps, h.config, { deadline: h.clock.now() + 60_000 });
    expect(
      report.actions
        .filter((a) => a.kind === 'delete-runner')
        .map((a) => a.target)
        .sort(),
    ).toEqual(['wpr-101-i-0000000000000dead', 'wpr-102-i-0000000000000beef', 'wpr-103-i-0000000000000cafe']);
    expect(await h.github.listRunners(acme, 'wpr-')).toEqual([]);
    expect((await h.github.listRunners(globex, 'wpr-')).map((r) => r.id)).toEqual([other.runnerId]);
    expect(await h.github.listRunners(octocat, 'wpr-')).toEqual([]);
    expect(report.failures).toEqual([]);
  });

  it("one organization's listing failing hides only its own runners, and is reported", async () => {
    const h = makeHarness({ runners: threeOwners });
    await h.github.createJitConfig(
      { kind: 'org', org: 'globex' },
      { runnerName: 'wpr-102-i-0000000000000beef', labels: ['linux'] },
    );
    h.github.injectFault('listRunners', { kind: 'status', status: 403, message: 'Resource not accessible' });
    const report = await reconcile(h.deps, h.config, { deadline: h.clock.now() + 60_000 });
    expect(report.failures).toEqual([expect.stringMatching(/^list runners of organization acme: /)]);
    expect(report.actions.filter((a) => a.kind === 'delete-runner').map((a) => a.target)).toEqual([
      'wpr-102-i-0000000000000beef',
    ]);
  });
});

describe('runner groups per pool', () => {
  it("registers in the pool's group, which overrides the deployment's", async () => {
    const h = makeHarness({
      runners: { ...threeOwners, runnerGroup: 'ci' },
      config: testConfig({ runnerGroup: 'gpu' }),
    });
    h.github.addRunnerGroup('globex', 'gpu');
    await readyInstances(h, [subnetA]);
    expect((await provision(h, job({ repository: globexApi }))).kind).toBe('provisioned');
    expect(h.github.callsOf('createJitConfig')[0]?.args[0]).toEqual({
      kind: 'org',
      org: 'globex',
      runnerGroup: 'gpu',
    });
  });

  it('a group missing in the organization is counted and published by name; the job stays pending', async () => {
    const h = makeHarness({ runners: threeOwners, config: testConfig({ runnerGroup: 'gpu' }) });
    h.github.addRunnerGroup('acme', 'gpu'); // acme has it, globex does not
    const [a] = await readyInstances(h, [subnetA]);
    const outcome = await provision(h, job({ repository: globexApi }));
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'github-failed' });
    expect(h.metrics.total('UnknownRunnerGroup', { Pool: 'linux-x64' })).toBe(2); // each hand-over try
    expect(h.events.published).toContainEqual({
      type: 'RunnerGroupMissing',
      pool: 'linux-x64',
      organization: 'globex',
      group: 'gpu',
    });
    // Started, but with no config its agent powers off untouched and it returns to the pool.
    expect((await mustInstance(h, a?.id ?? '')).runnerId).toBeUndefined();
  });
});

describe('the hot tier of one organization in a deployment of several', () => {
  const window = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '19:00', timezone: 'UTC' };
  const hotConfig = (hot: Record<string, unknown> = {}) =>
    testConfig({ defaultSize: 0, hot: { maximum: 2, windows: [{ ...window, max: 1 }], ...hot } });

  it("registers hot runners with the pool's hot.organization", async () => {
    const h = makeHarness({ runners: threeOwners, config: hotConfig({ organization: 'globex' }) });
    await readyInstances(h, [subnetA, subnetB]);
    await tunePools(h.deps, h.config, { deadline: h.clock.now() + 30_000 });
    const [mint] = h.github.callsOf('createJitConfig');
    expect(mint?.args[0]).toEqual({ kind: 'org', org: 'globex' });
    expect(mint?.args[1]).toMatchObject({ runnerName: expect.stringMatching(/^wpr-102-i-/) });
  });

  it('keeps no hot tier for a pool that names no organization in a deployment of several', async () => {
    const h = makeHarness({ runners: threeOwners, config: hotConfig() });
    await readyInstances(h, [subnetA, subnetB]);
    await tunePools(h.deps, h.config, { deadline: h.clock.now() + 30_000 });
    expect(h.github.callsOf('createJitConfig')).toEqual([]);
    // …and such a config is a problem the config source rejects.
    expect(poolOwnerProblems(threeOwners, h.config.pools)).toEqual([
      expect.stringMatching(
        /^pool "linux-x64": hot\.organization: required when the deployment serves several owners/,
      ),
    ]);
    expect(poolOwnerProblems(threeOwners, hotConfig({ organization: 'initech' }).pools)).toEqual([
      expect.stringMatching(/"initech" is not served by this deployment \(served: acme, globex, octocat\)/),
    ]);
    expect(poolOwnerProblems(threeOwners, hotConfig({ organization: 'octocat' }).pools)).toEqual([
      expect.stringMatching(/"octocat" registers runners with repositories/),
    ]);
    expect(poolOwnerProblems(threeOwners, hotConfig({ organization: 'GLOBEX' }).pools)).toEqual([]);
    // One organization: as before, the tier needs no name.
    const one: RunnerSettings = { owners: [{ owner: 'acme', scope: 'org', namePrefix: 'wpr-1' }] };
    expect(poolOwnerProblems(one, h.config.pools)).toEqual([]);
  });

  it("gives another organization's job its own runner: the hot runners cannot take it", async () => {
    const h = makeHarness({ runners: threeOwners, config: hotConfig({ organization: 'globex' }) });
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    await tunePools(h.deps, h.config, { deadline: h.clock.now() + 30_000 });
    for (const i of h.compute.allInstances())
      if (i.state === 'pending') {
        h.compute.markRunning(i.id);
        await handleInstanceStateChange(h.deps, h.config, { instanceId: i.id, state: 'running' });
      }
    const idle = (await h.store.listPoolInstances('linux-x64')).filter((i) => i.state === 'idle');
    expect(idle).toHaveLength(1);

    const now = h.clock.now();
    const outcome = await handleWorkflowJob(
      h.deps,
      { config: h.config, deadline: now + 8_000, receivedAt: now },
      jobEvent('queued', { jobId: 7_100, repository: acmeApp }),
    );
    expect(outcome).toMatchObject({ kind: 'provisioned' });
    const mints = h.github.callsOf('createJitConfig');
    expect(mints.at(-1)?.args[0]).toEqual({ kind: 'org', org: 'acme' });
    expect((await mustJob(h, 7_100)).provisionedInstance).not.toBe(idle[0]?.id);
  });
});
