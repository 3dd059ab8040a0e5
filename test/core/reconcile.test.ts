/**
 * The reconciler on fakes: each planned action carried out against the store, EC2, GitHub and the JIT
 * configs; jobs checked with GitHub before a runner is provided again; failed webhook deliveries
 * redelivered a bounded number of times; and one failing action never stops the others.
 */
import { describe, expect, it } from 'vitest';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { provisionRunner } from '../../scheduler/core/provision.js';
import {
  firstDeliveryLookbackMs,
  maxDeliveryAttempts,
  type ReconcileOptions,
  reconcile,
} from '../../scheduler/core/reconcile.js';
import {
  claimStallMs,
  idleSettleMs,
  leavingStallMs,
  maxReprovisions,
} from '../../scheduler/core/reconcile-plan.js';
import { launchPoolInstances } from '../../scheduler/core/recycle.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import type { HookDelivery } from '../../scheduler/ports/github-runners.js';
import {
  type Harness,
  job,
  makeHarness,
  mustInstance,
  mustJob,
  poolOf,
  readyInstances,
  repository,
  subnetA,
  subnetB,
  testConfig,
} from './support.js';

const org = { kind: 'org', org: 'acme' } as const;

function run(h: Harness, options: Partial<ReconcileOptions> = {}) {
  return reconcile(h.deps, h.config, { deadline: h.clock.now() + 60_000, ...options });
}

async function claim(h: Harness, instance: InstanceRecord | undefined): Promise<InstanceRecord> {
  if (instance === undefined) throw new Error('no instance');
  const r = await h.store.transitionInstance({
    id: instance.id,
    from: 'ready',
    expectedVersion: instance.version,
    to: 'claimed',
    patch: { provisionedFor: 1, runnerName: `wpr-${instance.id}`, stateChangedAt: h.clock.now() },
  });
  if (r.kind !== 'ok') throw new Error('claim failed');
  return r.record;
}

/** A runner provided from the pool for a job that is not in the store. */
async function started(h: Harness): Promise<InstanceRecord> {
  const outcome = await provisionRunner(h.deps, {
    pool: poolOf(h.config),
    job: job({ id: 1 }),
    deadline: h.clock.now() + 8_000,
  });
  if (outcome.kind !== 'provisioned') throw new Error('not provisioned');
  h.compute.markRunning(outcome.instanceId);
  return mustInstance(h, outcome.instanceId);
}

describe('reconcile: instances', () => {
  it('retires a started claim whose hand-over was never recorded (the handler died mid-way)', async () => {
    const h = makeHarness();
    const [ready] = await readyInstances(h, [subnetA]);
    const claimed = await claim(h, ready);
    await h.store.transitionInstance({
      id: claimed.id,
      from: 'claimed',
      expectedVersion: claimed.version,
      to: 'claimed',
      patch: { startIssuedAt: h.clock.now() },
    });
    await h.compute.start(claimed.id);
    h.compute.markRunning(claimed.id);
    // A job is waiting, so the instance is not a surplus runner to release: only the timeout catches it.
    await h.store.createJob(job({ id: 6_000 }));
    h.clock.advance(h.config.settings.claimTimeoutSeconds * 1000 - 1);
    expect((await run(h)).actions.filter((a) => a.kind !== 'check-job')).toEqual([]);
    h.clock.advance(2);
    const report = await run(h);
    expect(report.actions.filter((a) => a.kind === 'retire')).toEqual([
      { kind: 'retire', target: claimed.id, reason: 'runner hand-over never recorded', done: true },
    ]);
    expect((await mustInstance(h, claimed.id)).state).toBe('terminated');
  });

  it('marks terminated an instance EC2 has terminated', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.compute.setState(a?.id ?? '', 'terminated');
    const report = await run(h);
    expect(report.actions).toEqual([
      { kind: 'mark-terminated', target: a?.id, reason: 'EC2 reports terminated', done: true },
    ]);
    expect((await mustInstance(h, a?.id ?? '')).state).toBe('terminated');
    expect(h.metrics.total('InstancesRepaired', { Action: 'mark-terminated' })).toBe(1);
  });

  it('marks ready a warming instance whose stopped event was missed', async () => {
    const h = makeHarness();
    await launchPoolInstances(h.deps, 'linux-x64', h.config, [subnetA], 't');
    const [fake] = h.compute.allInstances();
    h.compute.markRunning(fake?.id ?? '');
    h.compute.powerOff(fake?.id ?? '');
    const report = await run(h);
    expect(report.actions).toEqual([
      { kind: 'mark-ready', target: fake?.id, reason: 'warmed up and stopped (event missed)', done: true },
    ]);
    expect((await mustInstance(h, fake?.id ?? '')).state).toBe('ready');
  });

  it('releases a stalled claim that never started', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.clock.advance(10 * 60_000); // it waited in the pool before the claim
    await claim(h, a);
    h.clock.advance(claimStallMs + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'release',
      target: a?.id,
      reason: 'claim never started',
      done: true,
    });
    const released = await mustInstance(h, a?.id ?? '');
    expect(released.state).toBe('ready');
    expect(released.provisionedFor).toBeUndefined();
  });

  it('retires a stalled claim whose instance was started and has powered off again', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.clock.advance(10 * 60_000);
    await claim(h, a);
    // The handler started it and died before recording the start; the agent found no config and
    // powered off: EC2 shows it stopped, as if never started, but it booted.
    await h.compute.start(a?.id ?? '');
    h.compute.markRunning(a?.id ?? '');
    h.compute.powerOff(a?.id ?? '');
    h.clock.advance(claimStallMs + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'retire',
      target: a?.id,
      reason: 'claim stalled after its start (not pristine)',
      done: true,
    });
    expect((await mustInstance(h, a?.id ?? '')).state).toBe('terminated');
  });

  it('retires a stalled claim whose instance is running, never putting it back in the pool', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    await claim(h, a);
    // The handler started it and died before recording the start.
    await h.compute.start(a?.id ?? '');
    h.compute.markRunning(a?.id ?? '');
    h.clock.advance(claimStallMs + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'retire',
      target: a?.id,
      reason: 'claim stalled while running',
      done: true,
    });
    expect((await mustInstance(h, a?.id ?? '')).state).toBe('terminated');
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('terminated');
  });

  it('recycles a started instance that powered off unseen, and refills the pool', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const a = await started(h);
    h.compute.powerOff(a.id);
    h.clock.advance(idleSettleMs + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'recycle',
      target: a.id,
      reason: 'powered off (event missed)',
      done: true,
    });
    expect((await mustInstance(h, a.id)).state).toBe('terminated');
    expect(h.events.ofType('InstanceRecycled')).toEqual([
      { type: 'InstanceRecycled', instanceId: a.id, pool: 'linux-x64', replacementLaunched: true },
    ]);
  });

  it('retires a runner that took no job before the claim timeout, deregistering it first', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const a = await started(h);
    h.clock.advance(h.config.settings.claimTimeoutSeconds * 1000 + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'retire',
      target: a.id,
      reason: 'runner took no job before the claim timeout',
      done: true,
    });
    expect(h.github.callsOf('deleteRunner').map((c) => c.args)).toEqual([[org, a.runnerId]]);
    expect((await mustInstance(h, a.id)).state).toBe('terminated');
    expect(await h.jit.listPending()).toEqual([]);
  });

  it('keeps a runner GitHub reports busy even past the claim timeout', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const a = await started(h);
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.github.connect(`wpr-${a.id}`);
    h.clock.advance(h.config.settings.claimTimeoutSeconds * 1000 + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual(
      expect.objectContaining({ kind: 'retire', target: a.id, done: false }),
    );
    expect((await mustInstance(h, a.id)).state).toBe('starting');
    expect(h.compute.instance(a.id)?.state).toBe('running');
  });

  it('finishes an instance left recycling by a handler that died', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const a = await started(h);
    await h.store.transitionInstance({
      id: a.id,
      from: 'starting',
      expectedVersion: a.version,
      to: 'recycling',
    });
    h.clock.advance(leavingStallMs + 1);
    const report = await run(h);
    expect(report.actions).toContainEqual({
      kind: 'retire',
      target: a.id,
      reason: 'stalled while recycling',
      done: true,
    });
    expect(h.compute.instance(a.id)?.state).toBe('terminated');
    expect((await mustInstance(h, a.id)).state).toBe('terminated');
  });
});

describe('reconcile: orphans', () => {
  it('terminates an instance of ours unknown to the store, deletes a runner with no instance, removes a stale config', async () => {
    const h = makeHarness();
    const orphan = h.compute.seedInstance({
      instanceType: 'm7i.large',
      subnetId: subnetA,
      tags: { [tagKeys.project]: 'wpr', [tagKeys.pool]: 'linux-x64', [tagKeys.deployment]: 'local' },
    });
    const foreign = h.compute.seedInstance({ instanceType: 'm7i.large', subnetId: subnetA });
    // The project tag alone (copied by hand, an image build, another deployment): never ours to reap.
    const lookalike = h.compute.seedInstance({
      instanceType: 'm7i.large',
      subnetId: subnetA,
      tags: { [tagKeys.project]: 'wpr', [tagKeys.pool]: 'linux-x64', [tagKeys.deployment]: 'other' },
    });
    const untagged = h.compute.seedInstance({
      instanceType: 'm7i.large',
      subnetId: subnetA,
      tags: { [tagKeys.project]: 'wpr' },
    });
    const runner = await h.github.createJitConfig(org, {
      runnerName: 'wpr-i-0000000000000dead',
      labels: ['x'],
    });
    await h.jit.deliver('i-0000000000000dead', 'secret');
    h.clock.advance(h.config.settings.orphanGraceSeconds * 1000 + 1);
    const report = await run(h);

    expect(report.actions).toEqual([
      { kind: 'terminate-orphan', target: orphan.id, reason: 'not in the store', done: true },
      { kind: 'delete-runner', target: 'wpr-i-0000000000000dead', reason: 'no live instance', done: true },
      {
        kind: 'remove-jit',
        target: 'i-0000000000000dead',
        reason: 'its instance is not waiting for it',
        done: true,
      },
    ]);
    expect(h.compute.instance(orphan.id)?.state).toBe('terminated');
    expect(h.compute.instance(foreign.id)?.state).toBe('running');
    expect(h.compute.instance(lookalike.id)?.state).toBe('running');
    expect(h.compute.instance(untagged.id)?.state).toBe('running');
    expect(h.github.callsOf('deleteRunner').map((c) => c.args)).toEqual([[org, runner.runnerId]]);
    expect(await h.jit.listPending()).toEqual([]);
    expect(h.events.ofType('OrphanReaped').map((e) => e.kind)).toEqual(['instance', 'runner', 'jit-config']);
    expect(h.metrics.total('OrphansReaped')).toBe(3);
  });

  it('carries on after an action fails, and reports the failure', async () => {
    const h = makeHarness();
    const tags = { [tagKeys.project]: 'wpr', [tagKeys.pool]: 'linux-x64', [tagKeys.deployment]: 'local' };
    const first = h.compute.seedInstance({ instanceType: 'm7i.large', subnetId: subnetA, tags });
    const second = h.compute.seedInstance({ instanceType: 'm7i.large', subnetId: subnetB, tags });
    await h.github.createJitConfig(org, { runnerName: 'wpr-i-0000000000000dead', labels: ['x'] });
    h.clock.advance(h.config.settings.orphanGraceSeconds * 1000 + 1);
    h.compute.failNext('terminate');
    const report = await run(h);

    expect(report.failures).toEqual([`terminate-orphan ${first.id}: terminate failed: injected fault`]);
    expect(report.actions.map((a) => [a.kind, a.target, a.done])).toEqual([
      ['terminate-orphan', second.id, true],
      ['delete-runner', 'wpr-i-0000000000000dead', true],
    ]);
    expect(h.compute.instance(second.id)?.state).toBe('terminated');
    expect(await h.github.listRunners(org, 'wpr-')).toEqual([]);
  });
});

describe('reconcile: repository-scoped runners', () => {
  const repoRunners = { owners: [], anyOwner: { scope: 'repo', namePrefix: 'wpr' } } as const;

  it("reaps an orphan runner registered at a waiting job's repository, through the repository's path", async () => {
    const h = makeHarness({ runners: repoRunners });
    const scope = { kind: 'repo', repository } as const;
    const orphan = await h.github.createJitConfig(scope, {
      runnerName: 'wpr-i-0000000000000dead',
      labels: ['linux', 'x64'],
    });
    // Someone else's runner in the same repository, and a repository no job of ours is in.
    await h.github.createJitConfig(scope, { runnerName: 'theirs-1', labels: ['linux'] });
    await h.store.createJob(job({ id: 5_000 }));
    const report = await run(h);
    expect(report.actions.filter((a) => a.kind === 'delete-runner')).toEqual([
      { kind: 'delete-runner', target: 'wpr-i-0000000000000dead', reason: 'no live instance', done: true },
    ]);
    expect(h.github.callsOf('deleteRunner').map((c) => c.args)).toEqual([[scope, orphan.runnerId]]);
    expect((await h.github.listRunners(scope, '')).map((r) => r.name)).toEqual(['theirs-1']);
  });

  it('lists each repository once, and one that cannot be listed hides only its own runners', async () => {
    const h = makeHarness({ runners: repoRunners });
    const other = { owner: 'acme', name: 'web' };
    const orphan = await h.github.createJitConfig(
      { kind: 'repo', repository: other },
      { runnerName: 'wpr-i-0000000000000beef', labels: ['linux'] },
    );
    await h.store.createJob(job({ id: 5_001 }));
    await h.store.createJob(job({ id: 5_002 }));
    await h.store.createJob(job({ id: 5_003, repository: other }));
    h.github.injectFault('listRunners', { kind: 'status', status: 404 });
    await run(h);
    expect(h.github.callsOf('listRunners')).toHaveLength(2);
    // acme/app (listed first) failed; acme/web's orphan is still reaped.
    expect(h.github.callsOf('deleteRunner').map((c) => c.args[1])).toEqual([orphan.runnerId]);
  });
});

describe('reconcile: jobs without a runner', () => {
  const stale = (h: Harness) => h.clock.now() - h.config.settings.pendingJobSeconds * 1000 - 1;

  it('marks completed a job GitHub finished (its webhook was lost)', async () => {
    const h = makeHarness();
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.github.cancelJob(remote.id);
    await h.store.createJob(job({ id: remote.id, updatedAt: stale(h) }));
    const report = await run(h);
    expect(report.actions).toEqual([
      { kind: 'check-job', target: `job ${remote.id}`, reason: 'no runner yet', done: true },
    ]);
    expect(await mustJob(h, remote.id)).toMatchObject({ state: 'completed', conclusion: 'cancelled' });
    expect(h.compute.callCount('start')).toBe(0);
  });

  it('gives a job whose runner could not be handed over another runner, and returns the kept instance to the pool', async () => {
    const h = makeHarness();
    const [kept] = await readyInstances(h, [subnetA]);
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.store.createJob(job({ id: remote.id }));
    h.github.injectFault('createJitConfig', { kind: 'server-error' }, 2);
    await provisionRunner(h.deps, {
      pool: poolOf(h.config),
      job: await mustJob(h, remote.id),
      deadline: h.clock.now() + 8_000,
    });
    // Its agent found no config and powered off; the stopped event was missed.
    h.compute.markRunning(kept?.id ?? '');
    h.compute.powerOff(kept?.id ?? '');
    h.clock.advance(Math.max(idleSettleMs, h.config.settings.pendingJobSeconds * 1000) + 1);
    const report = await run(h);
    expect(report.actions.map((a) => [a.kind, a.target, a.done])).toEqual([
      ['release', kept?.id, true],
      ['check-job', `job ${remote.id}`, true],
    ]);
    // Released first, then claimed again for the job: the warm instance serves it after all.
    expect(await mustInstance(h, kept?.id ?? '')).toMatchObject({
      state: 'starting',
      provisionedFor: remote.id,
    });
    expect(h.compute.calls('terminate')).toEqual([]);
  });

  it('stops giving runners to a job that never takes one, reports it once, and checks it no more', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    // GitHub keeps the job queued: its repository is outside the runner group, no runner of ours gets it.
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.store.createJob(job({ id: remote.id, updatedAt: stale(h), reprovisions: maxReprovisions }));
    const report = await run(h);
    expect(report.actions.map((a) => [a.kind, a.done])).toEqual([['check-job', false]]);
    expect(h.compute.callCount('start')).toBe(0);
    expect(h.compute.calls('launchEphemeral')).toEqual([]);
    expect(h.events.ofType('JobAbandoned')).toEqual([
      {
        type: 'JobAbandoned',
        jobId: remote.id,
        pool: 'linux-x64',
        repository: 'acme/app',
        reprovisions: maxReprovisions,
      },
    ]);
    expect(h.metrics.total('JobsAbandoned')).toBe(1);
    expect(await mustJob(h, remote.id)).toMatchObject({ state: 'queued' });

    h.clock.advance(h.config.settings.pendingJobSeconds * 1000 + 1);
    const later = await run(h);
    expect(later.actions).toEqual([]);
    expect(h.github.callsOf('getJob')).toHaveLength(1);
    expect(h.events.ofType('JobAbandoned')).toHaveLength(1);
  });

  it('gives a job that lost its runner another one while under the cap', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.store.createJob(job({ id: remote.id, updatedAt: stale(h), reprovisions: maxReprovisions - 1 }));
    await run(h);
    expect(h.compute.callCount('start')).toBe(1);
    expect(await mustJob(h, remote.id)).toMatchObject({ reprovisions: maxReprovisions });
  });

  it('marks completed a job GitHub does not know', async () => {
    const h = makeHarness();
    await h.store.createJob(job({ id: 424_242, updatedAt: stale(h) }));
    await run(h);
    expect(await mustJob(h, 424_242)).toMatchObject({ state: 'completed', conclusion: 'unknown' });
  });

  it('marks running a job a runner took (its in_progress webhook was lost)', async () => {
    const h = makeHarness();
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.github.createJitConfig(org, { runnerName: 'wpr-i-00000000000000abc', labels: ['linux', 'x64'] });
    h.github.connect('wpr-i-00000000000000abc');
    await h.store.createJob(job({ id: remote.id, updatedAt: stale(h) }));
    await run(h);
    expect(await mustJob(h, remote.id)).toMatchObject({
      state: 'running',
      runnerName: 'wpr-i-00000000000000abc',
    });
  });

  it('provides a runner again for a job still queued at GitHub', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.store.createJob(job({ id: remote.id, updatedAt: stale(h) }));
    const report = await run(h);

    expect(report.actions).toEqual([
      { kind: 'check-job', target: `job ${remote.id}`, reason: 'no runner yet', done: true },
    ]);
    expect(await mustJob(h, remote.id)).toMatchObject({
      state: 'provisioned',
      provisionedInstance: a?.id,
      reprovisions: 1,
    });
    expect(h.events.ofType('JobReprovisioned')).toEqual([
      { type: 'JobReprovisioned', jobId: remote.id, pool: 'linux-x64', reason: 'no runner yet' },
    ]);
    expect(h.metrics.total('JobsReprovisioned')).toBe(1);
  });

  it('provides a runner again for a provisioned job whose runner is gone', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.store.createJob(
      job({
        id: remote.id,
        state: 'provisioned',
        provisionedInstance: 'i-0000000000000dead',
        updatedAt: stale(h),
      }),
    );
    const report = await run(h);
    expect(report.actions).toEqual([
      { kind: 'check-job', target: `job ${remote.id}`, reason: 'its runner is gone', done: true },
    ]);
    expect(await mustJob(h, remote.id)).toMatchObject({ state: 'provisioned', provisionedInstance: a?.id });
  });

  it('asks GitHub about at most maxJobChecks jobs per run', async () => {
    const h = makeHarness();
    for (const id of [1, 2, 3]) await h.store.createJob(job({ id, updatedAt: stale(h) }));
    await run(h, { maxJobChecks: 2 });
    expect(h.github.callsOf('getJob')).toHaveLength(2);
  });

  it('checks every stuck job of a big burst in one run, several at a time, oldest first', async () => {
    const h = makeHarness();
    const ids: number[] = [];
    for (let n = 0; n < 50; n++) {
      const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
      h.github.cancelJob(remote.id); // GitHub answers at once; no runner needed
      ids.push(remote.id);
      await h.store.createJob(job({ id: remote.id, updatedAt: stale(h) - n }));
    }
    let inFlight = 0;
    let most = 0;
    const getJob = h.github.getJob.bind(h.github);
    const deps = {
      ...h.deps,
      github: Object.assign(Object.create(h.github), {
        getJob: async (...args: Parameters<typeof getJob>) => {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          inFlight--;
          return getJob(...args);
        },
      }),
    };
    const report = await reconcile(deps, h.config, { deadline: h.clock.now() + 60_000 });
    // Not twenty a run: all fifty, eight at a time (the default concurrency).
    expect(report.actions.filter((a) => a.kind === 'check-job' && a.done)).toHaveLength(50);
    expect(most).toBe(h.config.settings.reconcileConcurrency);
    // Oldest first: the first batch holds the eight jobs waiting longest.
    expect(report.actions.slice(0, 8).map((a) => a.target)).toEqual(
      ids
        .slice(-8)
        .reverse()
        .map((id) => `job ${id}`),
    );
    for (const id of ids) expect((await mustJob(h, id)).state).toBe('completed');
  });

  it('recovers a 500-job burst in one run where the former cap of twenty a run needed twenty-five', async () => {
    const runsToRecover = async (options: Partial<ReconcileOptions>) => {
      const h = makeHarness({ config: testConfig({ defaultSize: 0 }, { launchBatchSize: 100 }) });
      for (let n = 0; n < 500; n++) {
        const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
        await h.store.createJob(job({ id: remote.id, updatedAt: stale(h) }));
      }
      let runs = 0;
      while ((await h.store.listJobs('queued')).length > 0 && runs < 40) {
        await run(h, options);
        h.clock.advance(30_000);
        runs++;
      }
      return runs;
    };
    expect(await runsToRecover({})).toBe(1); // the next 30 s pass
    expect(await runsToRecover({ maxJobChecks: 20 })).toBe(25); // fifty minutes at the former 2-minute cadence
  }, 60_000);

  it("keeps within the hour's GitHub request budget, and defers the rest to later runs", async () => {
    const h = makeHarness({ config: testConfig({}, { reconcileGitHubRequestsPerHour: 12 }) });
    for (let id = 1; id <= 10; id++) await h.store.createJob(job({ id, updatedAt: stale(h) }));
    await run(h);
    expect(h.github.callsOf('getJob')).toHaveLength(6); // 12 requests, 2 per check
    expect(h.metrics.total('JobChecksDeferred')).toBe(4);
    await run(h);
    expect(h.github.callsOf('getJob'), 'the hour is spent').toHaveLength(6);
    h.clock.advance(3_600_000);
    await run(h);
    expect(h.github.callsOf('getJob'), 'a new hour').toHaveLength(10);
  });

  it('checks a job long running on an instance that is gone, and leaves it running if GitHub says so', async () => {
    const h = makeHarness();
    const remote = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    await h.github.createJitConfig(org, { runnerName: 'wpr-i-00000000000000abc', labels: ['linux', 'x64'] });
    h.github.connect('wpr-i-00000000000000abc');
    await h.store.createJob(
      job({ id: remote.id, state: 'running', instanceId: 'i-00000000000000abc', updatedAt: h.clock.now() }),
    );
    h.clock.advance(31 * 60_000);
    await run(h);
    expect(h.github.callsOf('getJob')).toHaveLength(1);
    h.github.finishJob(remote.id);
    h.clock.advance(31 * 60_000);
    await run(h);
    expect(await mustJob(h, remote.id)).toMatchObject({ state: 'completed', conclusion: 'success' });
  });
});

describe('reconcile: failed webhook deliveries', () => {
  const minutes = (n: number) => n * 60_000;

  it('redelivers each failed delivery once per run, the latest attempt', async () => {
    const h = makeHarness();
    h.github.dropDeliveries(2);
    const failed = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    const [first] = await h.github.listDeliveries(0);
    if (!first) throw new Error('no delivery');
    await h.github.redeliver(first); // fails too
    h.github.queueJob({ repository, labels: ['linux', 'x64'] }); // delivered fine
    h.github.takeEvents();
    h.clock.advance(minutes(1));
    const report = await run(h);

    expect(report.redelivered).toBe(1);
    const attempts = (await h.github.listDeliveries(0)).filter((d) => d.guid === first?.guid);
    const redelivered = h.github.callsOf('redeliver').map((c) => c.args[0] as HookDelivery);
    expect(redelivered.map((d) => d.id)).toEqual([first.id, Math.max(...attempts.slice(1).map((d) => d.id))]);
    expect(redelivered.map((d) => d.app)).toEqual(['default', 'default']);
    expect(h.events.ofType('DeliveryRedelivered')).toHaveLength(1);
    expect(h.metrics.total('WebhooksRedelivered')).toBe(1);
    // The redelivery reached the receiver this time.
    expect(h.github.takeEvents().map((e) => e.jobId)).toEqual([failed.id]);
  });

  it('never redelivers a delivery that succeeded, on the first try or a later one', async () => {
    const h = makeHarness();
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.github.dropDeliveries(1);
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.clock.advance(minutes(1));
    expect((await run(h)).redelivered).toBe(1); // the second one, which now succeeds
    h.clock.advance(minutes(1));
    expect((await run(h)).redelivered).toBe(0);
  });

  it(`tries a delivery at most ${maxDeliveryAttempts} times in all, however far apart the runs`, async () => {
    const h = makeHarness();
    h.github.dropDeliveries(1_000);
    const failed = h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    for (let i = 0; i < 12; i++) {
      h.clock.advance(minutes(20));
      await run(h, { deliveryLookbackMs: minutes(60) });
    }
    const attempts = (await h.github.listDeliveries(0)).filter((d) => d.action === 'queued');
    expect(attempts).toHaveLength(maxDeliveryAttempts);
    expect(h.github.callsOf('redeliver')).toHaveLength(maxDeliveryAttempts - 1);
    expect(attempts.every((d) => d.statusCode === 502)).toBe(true);
    expect(failed.id).toBeGreaterThan(0);
  });

  it('moves its cursor forward, keeping a margin, once nothing is left to retry', async () => {
    const h = makeHarness();
    const start = h.clock.now();
    await run(h, { deliveryLookbackMs: minutes(60) });
    h.clock.advance(minutes(30));
    await run(h);
    h.clock.advance(minutes(30));
    await run(h);
    expect(h.github.callsOf('listDeliveries').map((c) => c.args[0])).toEqual([
      start - minutes(60),
      start - minutes(15),
      start + minutes(15),
    ]);
  });

  it('holds the cursor at the first attempt of a delivery it will retry', async () => {
    const h = makeHarness();
    h.github.dropDeliveries(1);
    const failedAt = h.clock.now();
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.github.dropDeliveries(1); // the redelivery fails too
    h.clock.advance(minutes(30));
    await run(h, { deliveryLookbackMs: minutes(60) });
    h.clock.advance(minutes(30));
    await run(h);
    expect(h.github.callsOf('listDeliveries').at(-1)?.args[0]).toBe(failedAt);
  });

  it('looks back only about as far as the deploy on its first run, not the three days GitHub keeps', async () => {
    const h = makeHarness();
    // The App's webhook pointed nowhere for days before the runtime was deployed.
    h.github.dropDeliveries(1_000);
    for (let i = 0; i < 30; i++) h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.clock.advance(minutes(2 * 24 * 60));
    h.github.dropDeliveries(0);
    const report = await run(h);
    expect(report.redelivered).toBe(0);
    expect(h.github.callsOf('listDeliveries').map((c) => c.args[0])).toEqual([
      h.clock.now() - firstDeliveryLookbackMs,
    ]);
  });

  it('stops redelivering at its deadline, oldest first, and the next run carries on where it stopped', async () => {
    const h = makeHarness();
    h.github.dropDeliveries(5);
    const firstAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      firstAt.push(h.clock.now());
      h.github.queueJob({ repository, labels: ['linux', 'x64'] });
      h.clock.advance(1_000);
    }
    h.clock.advance(minutes(1));
    // Each redelivery takes GitHub a (simulated) second; the run has 2.5 s left for them.
    const redeliver = h.github.redeliver.bind(h.github);
    h.github.redeliver = async (delivery) => {
      h.clock.advance(1_000);
      return redeliver(delivery);
    };
    const first = await run(h, { deadline: h.clock.now() + 2_500 });
    expect(first.redelivered).toBe(3);
    expect(h.metrics.total('WebhookRedeliveriesDeferred')).toBe(2);
    // Past the first run's look back: only the saved cursor keeps the two it did not reach in view.
    h.clock.advance(minutes(20));
    const second = await run(h);
    expect(second.redelivered).toBe(2);
    // Held at or before the oldest one redelivered, until its redelivery is seen to have succeeded.
    expect(h.github.callsOf('listDeliveries').map((c) => c.args[0])[1]).toBeLessThanOrEqual(firstAt[0] ?? 0);
    const queued = (await h.github.listDeliveries(0)).filter((d) => d.action === 'queued');
    expect(new Set(queued.filter((d) => d.statusCode === 200).map((d) => d.guid)).size).toBe(5);
  });

  it('saves its cursor as it goes: a run that dies midway keeps what it did', async () => {
    const h = makeHarness();
    h.github.dropDeliveries(4);
    const firstAt: number[] = [];
    for (let i = 0; i < 4; i++) {
      firstAt.push(h.clock.now());
      h.github.queueJob({ repository, labels: ['linux', 'x64'] });
      h.clock.advance(1_000);
    }
    h.clock.advance(minutes(1));
    let calls = 0;
    const redeliver = h.github.redeliver.bind(h.github);
    h.github.redeliver = async (delivery) => {
      if (++calls === 3) throw new Error('Task timed out after 60.00 seconds');
      return redeliver(delivery);
    };
    const report = await run(h);
    expect(report.failures).toEqual(['redelivery: Task timed out after 60.00 seconds']);
    h.github.redeliver = redeliver;
    // Past the first run's look back: without a saved cursor the two it did not reach would be lost.
    h.clock.advance(minutes(20));
    await run(h);
    expect(h.github.callsOf('listDeliveries').map((c) => c.args[0])[1]).toBeLessThanOrEqual(firstAt[0] ?? 0);
    expect(h.github.callsOf('redeliver')).toHaveLength(4);
  });

  it('reports a failure to list deliveries without stopping the repairs', async () => {
    const h = makeHarness();
    await h.github.createJitConfig(org, { runnerName: 'wpr-i-0000000000000dead', labels: ['x'] });
    h.github.injectFault('listDeliveries', { kind: 'server-error' });
    const report = await run(h);
    expect(report.failures).toEqual(['redelivery: Server Error']);
    expect(report.actions.map((a) => [a.kind, a.done])).toEqual([['delete-runner', true]]);
  });
});
