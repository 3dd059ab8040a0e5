/**
 * EC2 state changes in each record state, and spot interruption warnings. Events arrive at least
 * once and out of order: a duplicate or stale one changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import {
  type Ec2State,
  handleInstanceStateChange,
  handleSpotInterruption,
} from '../../scheduler/core/instance-events.js';
import type { InstanceState } from '../../scheduler/core/lifecycle.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import {
  type Harness,
  instance,
  job,
  makeHarness,
  monday0900,
  mustInstance,
  mustJob,
  subnetB,
} from './support.js';

const now = monday0900;

async function seeded(h: Harness, overrides: Partial<InstanceRecord>): Promise<InstanceRecord> {
  const record = instance({
    version: 1,
    launchedAt: now - 60_000,
    stateChangedAt: now - 60_000,
    ...overrides,
  });
  await h.store.putInstance(record);
  return record;
}

function change(h: Harness, instanceId: string, state: Ec2State, at?: number) {
  return handleInstanceStateChange(h.deps, h.config, { instanceId, state, ...(at !== undefined && { at }) });
}

describe('running', () => {
  it('moves a launching pool instance to warming, once', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'launching' });
    expect(await change(h, i.id, 'running')).toEqual({
      kind: 'transitioned',
      from: 'launching',
      to: 'warming',
    });
    expect(await mustInstance(h, i.id)).toMatchObject({ state: 'warming', stateChangedAt: now, version: 2 });
    expect(await change(h, i.id, 'running')).toEqual({ kind: 'no-change', state: 'warming' });
  });

  it('records the boot phase of the job a starting instance was provided for', async () => {
    const h = makeHarness();
    await h.store.createJob(job({ id: 90, state: 'provisioned', phases: { startIssuedAt: now - 4_000 } }));
    const i = await seeded(h, { state: 'starting', provisionedFor: 90, startIssuedAt: now - 4_000 });
    expect(await change(h, i.id, 'running', now - 1_000)).toEqual({ kind: 'no-change', state: 'starting' });
    expect((await mustJob(h, 90)).phases).toEqual({
      startIssuedAt: now - 4_000,
      instanceRunningAt: now - 1_000,
    });
    // The phase is measured with the others when the job is picked up (see workflow-job tests).
    expect(h.metrics.recorded.filter((m) => m.name === 'PhaseLatency')).toEqual([]);

    // A repeated event keeps the first time.
    await change(h, i.id, 'running', now);
    expect((await mustJob(h, 90)).phases.instanceRunningAt).toBe(now - 1_000);
  });

  it('ignores a running event older than the start (the warm-up boot, delivered late)', async () => {
    const h = makeHarness();
    await h.store.createJob(job({ id: 91, state: 'provisioned', phases: { startIssuedAt: now } }));
    const i = await seeded(h, { state: 'starting', provisionedFor: 91, startIssuedAt: now });
    await change(h, i.id, 'running', now - 600_000);
    expect((await mustJob(h, 91)).phases.instanceRunningAt).toBeUndefined();
  });

  it.each(['ready', 'claimed', 'recycling', 'retiring', 'terminated'] as const)(
    'changes nothing for a %s instance',
    async (state) => {
      const h = makeHarness();
      const i = await seeded(h, { state });
      expect(await change(h, i.id, 'running')).toEqual({ kind: 'no-change', state });
      expect((await mustInstance(h, i.id)).version).toBe(1);
    },
  );
});

describe('stopped', () => {
  it.each(['warming', 'launching'] as const)('makes a %s pool instance ready', async (state) => {
    const h = makeHarness();
    const i = await seeded(h, { state });
    expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'transitioned', from: state, to: 'ready' });
    expect(await mustInstance(h, i.id)).toMatchObject({ state: 'ready', stateChangedAt: now });
    // The same event again.
    expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'no-change', state: 'ready' });
  });

  it.each(['warming', 'launching'] as const)(
    'retires a %s pool instance whose agent tagged a failure, and counts it once',
    async (state) => {
      const h = makeHarness();
      const ec2 = h.compute.seedInstance({ instanceType: 'm7i.large', subnetId: subnetB, state: 'stopped' });
      h.compute.guestTag(ec2.id, tagKeys.agentReason, 'agent-error');
      const i = await seeded(h, { id: ec2.id, state });
      expect(await change(h, i.id, 'stopped')).toEqual({
        kind: 'warm-up-failed',
        reason: 'agent-error',
        retired: true,
      });
      expect(await mustInstance(h, i.id)).toMatchObject({
        state: 'terminated',
        reason: 'warm-up failed: agent-error',
      });
      expect(h.compute.instance(ec2.id)?.state).toBe('terminated');
      expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'no-change', state: 'terminated' });
      expect(h.metrics.total('WarmupFailures', { Pool: i.pool })).toBe(1);
    },
  );

  it('makes a pool instance ready when the agent tagged a success reason', async () => {
    const h = makeHarness();
    const ec2 = h.compute.seedInstance({ instanceType: 'm7i.large', subnetId: subnetB, state: 'stopped' });
    h.compute.guestTag(ec2.id, tagKeys.agentReason, 'warmed');
    const i = await seeded(h, { id: ec2.id, state: 'warming' });
    expect(await change(h, i.id, 'stopped')).toMatchObject({ kind: 'transitioned', to: 'ready' });
    expect(h.metrics.total('WarmupFailures')).toBe(0);
  });

  it('never makes an ephemeral instance ready', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'launching', role: 'ephemeral', market: 'spot' });
    expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'no-change', state: 'launching' });
  });

  it('leaves a claimed instance whose start was not issued yet (it is still stopped from warm-up)', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'claimed', provisionedFor: 1 });
    expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'no-change', state: 'claimed' });
    expect(h.compute.callCount('terminate')).toBe(0);
  });

  it.each(['starting', 'busy'] as const)(
    'recycles a %s instance that powered off after its job, refilling the pool',
    async (state) => {
      const h = makeHarness();
      const i = await seeded(h, { state, startIssuedAt: now - 300_000 });
      expect(await change(h, i.id, 'stopped', now)).toEqual({ kind: 'recycled', replacementLaunched: true });
      expect(await mustInstance(h, i.id)).toMatchObject({
        state: 'terminated',
        reason: 'powered off after its job',
      });
      expect(h.compute.calls('terminate').map((c) => c.args[0])).toEqual([[i.id]]);
    },
  );

  it('recycles a claimed instance that was started and powered off before its start was recorded', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'claimed', startIssuedAt: now - 300_000 });
    expect(await change(h, i.id, 'stopped', now)).toMatchObject({ kind: 'recycled' });
    expect((await mustInstance(h, i.id)).state).toBe('terminated');
  });

  it('launches no replacement when the pool is at target', async () => {
    const h = makeHarness();
    await seeded(h, { state: 'ready' });
    await seeded(h, { state: 'warming', subnetId: subnetB, availabilityZone: 'us-east-1b' });
    const i = await seeded(h, { state: 'busy', startIssuedAt: now - 300_000 });
    expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'recycled', replacementLaunched: false });
  });

  it('ignores a stopped event older than the start (the warm-up stop, delivered again)', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'starting', startIssuedAt: now - 2_000 });
    expect(await change(h, i.id, 'stopped', now - 120_000)).toEqual({ kind: 'no-change', state: 'starting' });
    expect((await mustInstance(h, i.id)).state).toBe('starting');
    expect(h.compute.callCount('terminate')).toBe(0);
  });

  it.each(['ready', 'recycling', 'retiring', 'terminated'] as const)(
    'changes nothing for a %s instance',
    async (state) => {
      const h = makeHarness();
      const i = await seeded(h, { state });
      expect(await change(h, i.id, 'stopped')).toEqual({ kind: 'no-change', state });
      expect(h.compute.callCount('terminate')).toBe(0);
    },
  );
});

describe('terminated and shutting-down', () => {
  const live: InstanceState[] = [
    'launching',
    'warming',
    'ready',
    'claimed',
    'starting',
    'busy',
    'recycling',
    'retiring',
  ];

  it.each(
    live.flatMap(
      (state) =>
        [
          [state, 'terminated'],
          [state, 'shutting-down'],
        ] as const,
    ),
  )('marks a %s instance terminated on %s', async (state, ec2) => {
    const h = makeHarness();
    const i = await seeded(h, { state });
    expect(await change(h, i.id, ec2)).toEqual({ kind: 'transitioned', from: state, to: 'terminated' });
    expect(await mustInstance(h, i.id)).toMatchObject({
      state: 'terminated',
      reason: `terminated outside the control plane while ${state}`,
    });
  });

  it('changes nothing for an instance already terminated', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'terminated' });
    expect(await change(h, i.id, 'terminated')).toEqual({ kind: 'no-change', state: 'terminated' });
    expect(await change(h, i.id, 'shutting-down')).toEqual({ kind: 'no-change', state: 'terminated' });
  });
});

describe('other events', () => {
  it.each(['pending', 'stopping'] as const)('changes nothing on %s', async (ec2) => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'starting' });
    expect(await change(h, i.id, ec2)).toEqual({ kind: 'no-change', state: 'starting' });
  });

  it('leaves instances the store does not know to the reconciler', async () => {
    const h = makeHarness();
    expect(await change(h, 'i-00000000000000fff', 'stopped')).toEqual({ kind: 'unknown-instance' });
    expect(h.compute.calls()).toEqual([]);
  });

  it('loads the pool config only when a recycle needs it, never for an instance it does not know', async () => {
    const h = makeHarness();
    let loads = 0;
    const load = async () => {
      loads++;
      return h.config;
    };
    const options = { instanceId: 'i-00000000000000fff', state: 'stopped' as const };
    expect(await handleInstanceStateChange(h.deps, load, options)).toEqual({ kind: 'unknown-instance' });
    const i = await seeded(h, { state: 'launching' });
    await handleInstanceStateChange(h.deps, load, { instanceId: i.id, state: 'running' });
    expect(loads).toBe(0);
  });

  it('does nothing when another writer changed the record first', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'launching' });
    h.store.beforeNextWrite(async () => {
      await h.store.transitionInstance({ id: i.id, from: 'launching', expectedVersion: 1, to: 'ready' });
    });
    expect(await change(h, i.id, 'running')).toEqual({ kind: 'no-change', state: 'launching' });
    expect((await mustInstance(h, i.id)).state).toBe('ready');
  });
});

describe('handleSpotInterruption', () => {
  it('marks the instance interrupted, in place, once', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'busy', role: 'ephemeral', market: 'spot' });
    expect(await handleSpotInterruption(h.deps, i.id)).toEqual({ kind: 'marked-interrupted' });
    expect(await mustInstance(h, i.id)).toMatchObject({ state: 'busy', interruptedAt: now, version: 2 });

    h.clock.advance(10_000);
    expect(await handleSpotInterruption(h.deps, i.id)).toEqual({ kind: 'no-change', state: 'busy' });
    expect((await mustInstance(h, i.id)).interruptedAt).toBe(now);
  });

  it('changes nothing for a terminated or unknown instance', async () => {
    const h = makeHarness();
    const i = await seeded(h, { state: 'terminated' });
    expect(await handleSpotInterruption(h.deps, i.id)).toEqual({ kind: 'no-change', state: 'terminated' });
    expect(await handleSpotInterruption(h.deps, 'i-00000000000000fff')).toEqual({ kind: 'unknown-instance' });
  });
});
