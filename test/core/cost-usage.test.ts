/**
 * Usage capture: what an instance ran, split into its job's run and its pool's overhead (pure), and
 * booked through the real use cases (webhook, EC2 events, retirement) on fakes.
 */
import { describe, expect, it } from 'vitest';
import { dayBounds, instanceUsage, mergeUsage, usageDay } from '../../scheduler/core/cost-usage.js';
import { handleInstanceStateChange } from '../../scheduler/core/instance-events.js';
import { retire } from '../../scheduler/core/provision.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import type { WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import { type Harness, instance, makeHarness, monday0900, mustJob, repository } from './support.js';

const s = 1_000;
const launchedAt = monday0900;

describe('instanceUsage', () => {
  it('a pool instance that served a job: warm-up and stopped wait are overhead, the run is the job’s', () => {
    const record = instance({
      launchedAt,
      readyAt: launchedAt + 200 * s,
      startIssuedAt: launchedAt + 3_800 * s,
      servingJob: 7,
    });
    const usage = instanceUsage(record, launchedAt + 4_400 * s, { id: 7, phases: {}, source: 'pool' }, 7);
    expect(usage.job?.usage).toMatchObject({
      market: 'pool',
      seconds: 600,
      source: 'pool',
      instanceType: 'm7i.large',
    });
    expect(usage.overhead).toEqual([
      { pool: 'linux-x64', category: 'warmup', market: 'pool', instanceType: 'm7i.large', seconds: 200 },
      { pool: 'linux-x64', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 3_600 },
    ]);
  });

  it('a runner that took its job before its start was recorded: the job’s phases date the start', () => {
    const record = instance({ launchedAt, readyAt: launchedAt + 100 * s, servingJob: 7 });
    const job = {
      id: 7,
      phases: { claimedAt: launchedAt + 1_000 * s, startIssuedAt: launchedAt + 1_002 * s },
    };
    const usage = instanceUsage(record, launchedAt + 1_302 * s, job, 7);
    expect(usage.job?.usage.seconds).toBe(300);
    expect(usage.overhead.find((o) => o.category === 'storage')?.seconds).toBe(902);
  });

  it('bills each start at least a minute, as EC2 bills Linux', () => {
    const record = instance({ launchedAt, readyAt: launchedAt + 20 * s, startIssuedAt: launchedAt + 30 * s });
    const usage = instanceUsage(record, launchedAt + 45 * s, { id: 7, phases: {} }, 7);
    expect(usage.job?.usage.seconds).toBe(60);
    expect(usage.overhead.find((o) => o.category === 'warmup')?.seconds).toBe(60);
  });

  it('a hot runner: its boot and idle time until the job was taken belong to the hot tier', () => {
    const record = instance({
      role: 'ephemeral',
      market: 'spot',
      tier: 'hot',
      launchedAt,
      idleAt: launchedAt + 20 * s,
      jobStartedAt: launchedAt + 900 * s,
    });
    const usage = instanceUsage(record, launchedAt + 1_500 * s, { id: 8, phases: {} }, 8);
    expect(usage.job?.usage).toMatchObject({ market: 'spot', seconds: 600 });
    expect(usage.overhead).toEqual([
      { pool: 'linux-x64', category: 'hot-idle', market: 'spot', instanceType: 'm7i.large', seconds: 900 },
    ]);
  });

  it('a pool instance retired unused: its warm-up is unused, its wait is storage; one never ready is all unused', () => {
    const ready = instance({ launchedAt, readyAt: launchedAt + 100 * s });
    expect(instanceUsage(ready, launchedAt + 1_100 * s, undefined, undefined)).toEqual({
      overhead: [
        { pool: 'linux-x64', category: 'unused', market: 'pool', instanceType: 'm7i.large', seconds: 100 },
        { pool: 'linux-x64', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 1_000 },
      ],
    });
    const failed = instance({ launchedAt });
    expect(instanceUsage(failed, launchedAt + 300 * s, undefined, undefined).overhead).toEqual([
      { pool: 'linux-x64', category: 'unused', market: 'pool', instanceType: 'm7i.large', seconds: 300 },
    ]);
  });

  it('a run whose job record is gone is the pool’s, unattributed', () => {
    const record = instance({ role: 'ephemeral', market: 'on-demand', launchedAt, servingJob: 9 });
    expect(instanceUsage(record, launchedAt + 120 * s, undefined, 9)).toEqual({
      overhead: [
        {
          pool: 'linux-x64',
          category: 'unattributed',
          market: 'on-demand',
          instanceType: 'm7i.large',
          seconds: 120,
        },
      ],
    });
  });
});

describe('usage days and lines', () => {
  it('names UTC days and refuses anything else', () => {
    expect(usageDay(Date.UTC(2026, 0, 5, 23, 59, 59))).toBe('2026-01-05');
    expect(dayBounds('2026-01-05')).toEqual({ from: Date.UTC(2026, 0, 5), to: Date.UTC(2026, 0, 6) });
    for (const bad of ['2026-02-30', '2026-1-5', 'today', ''])
      expect(() => dayBounds(bad)).toThrow(/not a day/);
  });

  it('merges lines of the same key and refuses fractional seconds', () => {
    const line = {
      pool: 'p',
      category: 'warmup',
      market: 'pool',
      instanceType: 't.large',
      seconds: 5,
    } as const;
    expect(mergeUsage('2026-01-05', [line, line])).toEqual([{ ...line, seconds: 10 }]);
    expect(() => mergeUsage('2026-01-05', [{ ...line, seconds: 1.5 }])).toThrow(/whole number/);
  });
});

describe('usage booked through the use cases', () => {
  const labels = ['self-hosted', 'linux', 'x64'];

  function deliver(h: Harness, event: WorkflowJobEvent) {
    const now = h.clock.now();
    return handleWorkflowJob(h.deps, { config: h.config, deadline: now + 8_000, receivedAt: now }, event);
  }

  async function warmPoolInstance(h: Harness): Promise<string> {
    const before = new Set(h.compute.allInstances().map((i) => i.id));
    const { launchPoolInstances } = await import('../../scheduler/core/recycle.js');
    await launchPoolInstances(h.deps, 'linux-x64', h.config, ['subnet-0000000a'], 'seed');
    const fake = h.compute.allInstances().find((i) => !before.has(i.id));
    if (fake === undefined) throw new Error('nothing launched');
    h.compute.markRunning(fake.id);
    await handleInstanceStateChange(h.deps, h.config, { instanceId: fake.id, state: 'running' });
    h.clock.advance(120 * s);
    h.compute.powerOff(fake.id);
    await handleInstanceStateChange(h.deps, h.config, { instanceId: fake.id, state: 'stopped' });
    return fake.id;
  }

  it('a pool job: the run on the job, the warm-up and the wait on the pool’s day counter, once', async () => {
    const h = makeHarness();
    const id = await warmPoolInstance(h);
    expect((await h.store.getInstance(id))?.readyAt).toBe(monday0900 + 120 * s);
    h.clock.advance(600 * s);

    const queued = h.github.queueJob({ repository, labels });
    await deliver(h, h.github.takeEvents().find((e) => e.action === 'queued') as WorkflowJobEvent);
    h.clock.advance(10 * s);
    h.compute.markRunning(id);
    h.jit.take(id);
    h.github.connect(`wpr-${id}`);
    await deliver(h, h.github.takeEvents().find((e) => e.action === 'in_progress') as WorkflowJobEvent);
    h.clock.advance(300 * s);
    h.github.finishJob(queued.id);
    const completed = h.github.takeEvents().find((e) => e.action === 'completed') as WorkflowJobEvent;
    await deliver(h, completed);
    // The agent powers off after its job: the recycle already booked it, this books nothing more.
    await handleInstanceStateChange(h.deps, h.config, { instanceId: id, state: 'stopped' });
    await handleInstanceStateChange(h.deps, h.config, { instanceId: id, state: 'terminated' });
    await deliver(h, { ...completed, deliveryId: 'again' });

    const job = await mustJob(h, queued.id);
    expect(job.usage).toMatchObject({ instanceId: id, market: 'pool', source: 'pool', seconds: 310 });
    expect(await h.store.getUsage(usageDay(monday0900))).toEqual([
      { pool: 'linux-x64', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 600 },
      { pool: 'linux-x64', category: 'warmup', market: 'pool', instanceType: 'm7i.large', seconds: 120 },
    ]);
  });

  it('a retired ready instance books its warm-up as unused and its wait as storage', async () => {
    const h = makeHarness();
    const id = await warmPoolInstance(h);
    h.clock.advance(3_600 * s);
    const record = await h.store.getInstance(id);
    if (record === undefined) throw new Error('no record');
    expect(await retire(h.deps, record, 'scale-in')).toBe(true);
    expect(await retire(h.deps, record, 'scale-in again')).toBe(false);
    expect(await h.store.getUsage(usageDay(monday0900))).toEqual([
      { pool: 'linux-x64', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 3_600 },
      { pool: 'linux-x64', category: 'unused', market: 'pool', instanceType: 'm7i.large', seconds: 120 },
    ]);
  });

  it('an instance the reconciler finds gone from EC2 is booked until then, once', async () => {
    const h = makeHarness();
    const id = await warmPoolInstance(h);
    h.clock.advance(1_800 * s);
    h.compute.setState(id, 'terminated');
    await reconcile(h.deps, h.config, { deadline: h.clock.now() + 10_000 });
    await reconcile(h.deps, h.config, { deadline: h.clock.now() + 10_000 });
    expect(await h.store.getUsage(usageDay(monday0900))).toEqual([
      { pool: 'linux-x64', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 1_800 },
      { pool: 'linux-x64', category: 'unused', market: 'pool', instanceType: 'm7i.large', seconds: 120 },
    ]);
  });

  it('a store fault while booking is counted, not thrown: the instance is already gone', async () => {
    const h = makeHarness();
    const id = await warmPoolInstance(h);
    const record = await h.store.getInstance(id);
    if (record === undefined) throw new Error('no record');
    const addUsage = h.store.addUsage.bind(h.store);
    h.store.addUsage = async () => {
      throw new Error('throttled');
    };
    expect(await retire(h.deps, record, 'scale-in')).toBe(true);
    h.store.addUsage = addUsage;
    expect(h.metrics.total('UsageBookingFailures', { Pool: 'linux-x64' })).toBe(1);
  });
});
