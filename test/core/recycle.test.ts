/**
 * After a job: recycling (busy → recycling → terminated, a replacement while below target), refilling,
 * launching pool instances, and giving back a runner no job used.
 */
import { describe, expect, it } from 'vitest';
import { provisionRunner } from '../../scheduler/core/provision.js';
import {
  launchPoolInstances,
  recycleInstance,
  refillPool,
  releaseUnusedRunner,
} from '../../scheduler/core/recycle.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import {
  type Harness,
  job,
  makeHarness,
  monday0900,
  mustInstance,
  poolOf,
  readyInstances,
  repository,
  subnetA,
  subnetB,
  testConfig,
} from './support.js';

/** Provides a runner for a new job (stored) and returns the instance it went to. */
async function provisioned(h: Harness, jobId = 70): Promise<InstanceRecord> {
  const j = job({ id: jobId });
  await h.store.createJob(j);
  const outcome = await provisionRunner(h.deps, {
    pool: poolOf(h.config),
    job: j,
    deadline: h.clock.now() + 8_000,
  });
  if (outcome.kind !== 'provisioned') throw new Error(`not provisioned: ${JSON.stringify(outcome)}`);
  return mustInstance(h, outcome.instanceId);
}

async function busy(h: Harness, instance: InstanceRecord, jobId: number): Promise<InstanceRecord> {
  const r = await h.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to: 'busy',
    patch: { servingJob: jobId },
  });
  if (r.kind !== 'ok') throw new Error('could not mark busy');
  return r.record;
}

describe('recycleInstance', () => {
  it('terminates a busy instance and refills the pool below target', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const instance = await busy(h, await provisioned(h), 70);
    h.clock.advance(1_000);
    const outcome = await recycleInstance(h.deps, h.config, instance, 'job completed');

    expect(outcome).toEqual({ kind: 'recycled', replacementLaunched: true });
    expect(await mustInstance(h, instance.id)).toMatchObject({
      state: 'terminated',
      reason: 'job completed',
      stateChangedAt: monday0900 + 1_000,
    });
    expect(h.compute.instance(instance.id)?.state).toBe('terminated');
  });

  it.each(['starting', 'claimed'] as const)('recycles a %s instance too (it powered off)', async (state) => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    const claimed = await h.store.transitionInstance({
      id: a?.id ?? '',
      from: 'ready',
      expectedVersion: a?.version ?? 0,
      to: 'claimed',
    });
    if (claimed.kind !== 'ok') throw new Error('claim');
    let instance = claimed.record;
    if (state === 'starting') {
      const r = await h.store.transitionInstance({
        id: instance.id,
        from: 'claimed',
        expectedVersion: instance.version,
        to: 'starting',
      });
      if (r.kind !== 'ok') throw new Error('start');
      instance = r.record;
    }
    expect((await recycleInstance(h.deps, h.config, instance, 'x')).kind).toBe('recycled');
  });

  it.each(['recycling', 'retiring', 'terminated', 'ready', 'warming', 'launching'] as const)(
    'leaves a %s instance alone',
    async (state) => {
      const h = makeHarness();
      const [a] = await readyInstances(h, [subnetA]);
      const stale: InstanceRecord = { ...(a as InstanceRecord), state };
      expect(await recycleInstance(h.deps, h.config, stale, 'x')).toEqual({ kind: 'already-gone' });
      expect(h.compute.callCount('terminate')).toBe(0);
    },
  );

  it('loses to a concurrent writer and then does nothing', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const instance = await busy(h, await provisioned(h), 70);
    const stale = { ...instance, version: instance.version - 1 };
    expect(await recycleInstance(h.deps, h.config, stale, 'x')).toEqual({ kind: 'lost-race' });
    expect(h.compute.callCount('terminate')).toBe(0);
    expect((await mustInstance(h, instance.id)).state).toBe('busy');
  });

  it('launches no replacement for an ephemeral instance', async () => {
    const h = makeHarness();
    const instance = await busy(h, await provisioned(h), 70); // spot: the pool is empty
    expect(instance.role).toBe('ephemeral');
    expect(await recycleInstance(h.deps, h.config, instance, 'job completed')).toEqual({
      kind: 'recycled',
      replacementLaunched: false,
    });
    expect(h.compute.callCount('launchForPool')).toBe(0);
  });
});

describe('refillPool', () => {
  it('launches one instance into the least-filled subnet when below target', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetB]);
    expect(await refillPool(h.deps, h.config, 'linux-x64')).toBe(true);
    const live = await h.store.listPoolInstances('linux-x64');
    expect(live.map((i) => [i.state, i.subnetId]).sort()).toEqual([
      ['launching', subnetA],
      ['ready', subnetB],
    ]);
  });

  it('counts launching and warming instances as capacity', async () => {
    const h = makeHarness();
    await launchPoolInstances(h.deps, 'linux-x64', h.config, [subnetA, subnetB], 'seed');
    expect(await refillPool(h.deps, h.config, 'linux-x64')).toBe(false);
  });

  it('does nothing at target, for an unknown pool, or without capacity', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    expect(await refillPool(h.deps, h.config, 'linux-x64')).toBe(false);
    expect(await refillPool(h.deps, h.config, 'no-such-pool')).toBe(false);

    const empty = makeHarness();
    empty.compute.exhaustCapacity({ operation: 'launch' });
    expect(await refillPool(empty.deps, empty.config, 'linux-x64')).toBe(false);
    expect(empty.metrics.total('CapacityErrors', { Pool: 'linux-x64' })).toBe(1);
  });
});

describe('launchPoolInstances', () => {
  it('launches one instance per subnet entry, even when a subnet is listed several times', async () => {
    const h = makeHarness({ config: testConfig({ maximum: 10 }) });
    const launched = await launchPoolInstances(
      h.deps,
      'linux-x64',
      h.config,
      [subnetA, subnetA, subnetA, subnetB],
      'token-1',
    );
    expect(launched).toBe(4);
    const live = await h.store.listPoolInstances('linux-x64');
    expect(live).toHaveLength(4);
    expect(new Set(live.map((i) => i.id)).size).toBe(4);
    expect(live.filter((i) => i.subnetId === subnetA)).toHaveLength(3);
    expect(h.compute.allInstances()).toHaveLength(4);
    for (const record of live)
      expect(record).toMatchObject({ state: 'launching', role: 'pool', market: 'on-demand', version: 1 });
  });

  it('is idempotent for one client token', async () => {
    const h = makeHarness();
    await launchPoolInstances(h.deps, 'linux-x64', h.config, [subnetA, subnetB], 'same');
    await launchPoolInstances(h.deps, 'linux-x64', h.config, [subnetA, subnetB], 'same');
    expect(h.compute.allInstances()).toHaveLength(2);
    expect(await h.store.listPoolInstances('linux-x64')).toHaveLength(2);
  });

  it('counts what one subnet launched when another has no capacity', async () => {
    const h = makeHarness();
    h.compute.exhaustCapacity({ availabilityZone: 'us-east-1b', operation: 'launch' });
    expect(await launchPoolInstances(h.deps, 'linux-x64', h.config, [subnetA, subnetB], 't')).toBe(1);
  });

  it('launches nothing for no subnets or an unknown pool', async () => {
    const h = makeHarness();
    expect(await launchPoolInstances(h.deps, 'linux-x64', h.config, [], 't')).toBe(0);
    expect(await launchPoolInstances(h.deps, 'nope', h.config, [subnetA], 't')).toBe(0);
    expect(h.compute.callCount('launchForPool')).toBe(0);
  });
});

describe('releaseUnusedRunner', () => {
  it('puts a claimed, never started instance back in the pool', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    await h.store.transitionInstance({
      id: a?.id ?? '',
      from: 'ready',
      expectedVersion: a?.version ?? 0,
      to: 'claimed',
      patch: { provisionedFor: 1, runnerName: `wpr-${a?.id}` },
    });
    expect(await releaseUnusedRunner(h.deps, a?.id ?? '', 'cancelled')).toBe(true);
    const released = await mustInstance(h, a?.id ?? '');
    expect(released.state).toBe('ready');
    expect(released.provisionedFor).toBeUndefined();
    expect(released.runnerName).toBeUndefined();
  });

  it('deletes the runner of a started instance, then retires it and removes its config', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    const instance = await provisioned(h, 71);
    expect(await releaseUnusedRunner(h.deps, instance.id, 'not needed')).toBe(true);
    expect(h.github.callsOf('deleteRunner').map((c) => c.args)).toEqual([
      [{ kind: 'org', org: 'acme' }, instance.runnerId],
    ]);
    expect(await mustInstance(h, instance.id)).toMatchObject({ state: 'terminated', reason: 'not needed' });
    expect(await h.jit.listPending()).toEqual([]);
  });

  it('deletes a repository runner in the repository of the job it was provided for', async () => {
    const h = makeHarness({ runners: { owners: [], anyOwner: { scope: 'repo', namePrefix: 'wpr' } } });
    await readyInstances(h, [subnetA]);
    const instance = await provisioned(h, 72);
    expect(await releaseUnusedRunner(h.deps, instance.id, 'x')).toBe(true);
    expect(h.github.callsOf('deleteRunner')[0]?.args[0]).toEqual({ kind: 'repo', repository });
  });

  it('leaves an instance alone when GitHub says its runner is running a job', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const instance = await provisioned(h, 73);
    // The runner took a queued job; its in_progress webhook has not arrived yet.
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.compute.markRunning(instance.id);
    expect(h.github.connect(`wpr-${instance.id}`).kind).toBe('took-job');

    expect(await releaseUnusedRunner(h.deps, instance.id, 'x')).toBe(false);
    expect((await mustInstance(h, instance.id)).state).toBe('starting');
    expect(h.compute.instance(instance.id)?.state).toBe('running');
  });

  it('asks GitHub before retiring a spot instance, whose runner may have taken another job', async () => {
    const h = makeHarness();
    const instance = await provisioned(h, 74); // the pool is empty: spot
    expect(instance).toMatchObject({ role: 'ephemeral', runnerId: expect.any(Number) });
    h.github.queueJob({ repository, labels: ['linux', 'x64'] });
    h.compute.markRunning(instance.id);
    expect(h.github.connect(`wpr-${instance.id}`).kind).toBe('took-job');

    expect(await releaseUnusedRunner(h.deps, instance.id, 'job 74 cancelled before pickup')).toBe(false);
    expect(h.compute.instance(instance.id)?.state).toBe('running');
  });

  it('surfaces any other GitHub failure', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    const instance = await provisioned(h, 75);
    h.github.injectFault('deleteRunner', { kind: 'server-error' });
    await expect(releaseUnusedRunner(h.deps, instance.id, 'x')).rejects.toThrow('Server Error');
    expect((await mustInstance(h, instance.id)).state).toBe('starting');
  });

  it('leaves alone an instance that serves a job, is busy, or is unknown', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const instance = await busy(h, await provisioned(h, 76), 76);
    expect(await releaseUnusedRunner(h.deps, instance.id, 'x')).toBe(false);
    expect(await releaseUnusedRunner(h.deps, 'i-0000000000000dead', 'x')).toBe(false);
    expect(h.github.callsOf('deleteRunner')).toHaveLength(0);
  });
});
