/**
 * The hot tier's use cases on the fakes: the tuner fills the tier (ready pool instances first, or the
 * pool's fill policy), a running hot runner goes idle, a queued job is taken by it at once and refills
 * the tier with exactly one start, duplicate and reordered events (the agent's job-started tag before
 * `queued`) never start a second runner, a spot interruption of an idle runner replaces it, idle
 * runners age out or are rolled when outdated, and a closing window drains the tier.
 */
import { describe, expect, it } from 'vitest';
import {
  balanceRunners,
  currentHotTarget,
  handleJobStarted,
  hotMarker,
  hotPairsCounter,
  readHotTarget,
  tierOf,
} from '../../scheduler/core/hot-tier.js';
import { handleInstanceStateChange, handleSpotInterruption } from '../../scheduler/core/instance-events.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import { tunePools } from '../../scheduler/core/tune-pools.js';
import type { InstanceRecord, WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import {
  type Harness,
  instance,
  job,
  makeHarness,
  monday0900,
  poolOf,
  readyInstances,
  repository,
  subnetA,
  subnetB,
  testConfig,
  withCompute,
} from './support.js';

const labels = ['self-hosted', 'linux', 'x64'];
const window = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '19:00', timezone: 'UTC' };

function hotHarness(hot: Record<string, unknown> = {}, pool: Record<string, unknown> = {}): Harness {
  return makeHarness({
    config: testConfig({
      defaultSize: 0,
      hot: { maximum: 4, windows: [{ ...window, max: 2 }], ...hot },
      ...pool,
    }),
  });
}

function deliver(h: Harness, event: WorkflowJobEvent) {
  const now = h.clock.now();
  return handleWorkflowJob(h.deps, { config: h.config, deadline: now + 8_000, receivedAt: now }, event);
}

async function tune(h: Harness) {
  return tunePools(h.deps, h.config, { deadline: h.clock.now() + 30_000 });
}

async function live(h: Harness): Promise<InstanceRecord[]> {
  return (await h.store.listPoolInstances('linux-x64')).filter((i) => i.state !== 'terminated');
}

/** EC2 boots every pending instance of the pool and the lifecycle handler hears of it. */
async function bootAll(h: Harness): Promise<void> {
  for (const i of h.compute.allInstances())
    if (i.state === 'pending') {
      h.compute.markRunning(i.id);
      await handleInstanceStateChange(h.deps, h.config, { instanceId: i.id, state: 'running' });
    }
}

/** Every idle runner whose instance runs comes online at GitHub (takes a queued job if one waits). */
function connectAll(h: Harness, instances: readonly InstanceRecord[]) {
  return instances.map((i) => ({ id: i.id, outcome: h.github.connect(`wpr-${i.id}`) }));
}

/** GitHub queues a job; an online idle runner takes it at once. Returns the webhooks GitHub sent. */
function queueJob(h: Harness): { jobId: number; events: WorkflowJobEvent[] } {
  const queued = h.github.queueJob({ repository, labels });
  return { jobId: queued.id, events: h.github.takeEvents() };
}

async function hotReady(h: Harness, count = 2): Promise<InstanceRecord[]> {
  await readyInstances(h, [subnetA, subnetB, subnetA, subnetB].slice(0, count + 1));
  await tune(h);
  await bootAll(h);
  const idle = (await live(h)).filter((i) => i.state === 'idle');
  connectAll(h, idle);
  return idle;
}

describe('filling the hot tier', () => {
  it('starts ready pool instances first, and each goes idle once it runs', async () => {
    const h = hotHarness();
    const ready = await readyInstances(h, [subnetA, subnetB, subnetA]);
    const [result] = await tune(h);
    expect(result?.hot).toMatchObject({ target: 2, started: 2 });
    const hot = (await live(h)).filter((i) => i.tier === 'hot');
    expect(hot).toHaveLength(2);
    expect(hot.every((i) => i.role === 'pool' && ready.some((r) => r.id === i.id))).toBe(true);
    expect(hot.map((i) => i.state)).toEqual(['starting', 'starting']);
    await bootAll(h);
    const idle = (await live(h)).filter((i) => i.state === 'idle');
    expect(idle).toHaveLength(2);
    expect(idle.every((i) => i.idleAt === monday0900)).toBe(true);
    expect(h.github.callsOf('createJitConfig')).toHaveLength(2);
    expect(await readHotTarget(h.deps, poolOf(h.config))).toBe(2);
    // Each carries its agent's idle bound: the tier's 240 idle minutes plus the agent's default 600 s,
    // so the tuner's replacement (deregistering first) comes before the agent's own stop.
    for (const i of hot) expect(h.compute.instance(i.id)?.tags['wpr:max-idle-seconds']).toBe('15000');
  });

  it("gives a spot-filled hot runner its idle bound at launch, and a job's own runner none", async () => {
    const h = hotHarness({ fill: ['spot'], maxIdleMinutes: 30 }, { defaultSize: 1 });
    await readyInstances(h, [subnetA]);
    await tune(h);
    const hot = (await live(h)).filter((i) => i.tier === 'hot');
    expect(hot.map((i) => h.compute.instance(i.id)?.tags['wpr:max-idle-seconds'])).toEqual(['2400', '2400']);
    const { events } = queueJob(h);
    const queued = events.find((e) => e.action === 'queued');
    if (queued === undefined) throw new Error('no queued event');
    // No hot runner is online yet: the job's own runner from the pool, with the image's default bound.
    const outcome = await deliver(h, queued);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'pool' });
    const own = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    expect(h.compute.instance(own)?.tags['wpr:max-idle-seconds']).toBeUndefined();
  });

  it('goes idle even when its instance runs before the start is recorded (a fast boot), keeping its runner id', async () => {
    const h = hotHarness({ windows: [{ ...window, max: 1 }] });
    await readyInstances(h, [subnetA, subnetB]);
    const deps = withCompute(h, {
      start: async (id) => {
        const started = await h.compute.start(id);
        h.compute.markRunning(id);
        await handleInstanceStateChange(h.deps, h.config, { instanceId: id, state: 'running' });
        return started;
      },
    });
    await tunePools(deps, h.config, { deadline: h.clock.now() + 30_000 });
    const [hot] = (await live(h)).filter((i) => i.tier === 'hot');
    expect(hot).toMatchObject({ state: 'idle', runnerId: expect.any(Number), idleAt: monday0900 });
  });

  it("goes idle when the hand-over records the start between the running event's read and its write", async () => {
    const h = hotHarness();
    await h.store.putInstance(
      instance({
        id: 'i-00000000000000h1',
        state: 'claimed',
        tier: 'hot',
        version: 1,
        runnerName: 'wpr-i-00000000000000h1',
      }),
    );
    h.store.beforeNextWrite(async () => {
      // The hand-over wins the race: claimed → starting, with its runner id.
      await h.store.transitionInstance({
        id: 'i-00000000000000h1',
        from: 'claimed',
        expectedVersion: 1,
        to: 'starting',
        patch: { runnerId: 7, startIssuedAt: monday0900 },
      });
    });
    const outcome = await handleInstanceStateChange(h.deps, h.config, {
      instanceId: 'i-00000000000000h1',
      state: 'running',
      at: monday0900 + 5_000,
    });
    expect(outcome).toEqual({ kind: 'transitioned', from: 'starting', to: 'idle' });
    expect(await h.store.getInstance('i-00000000000000h1')).toMatchObject({ state: 'idle', runnerId: 7 });
  });

  it('follows the fill policy: spot first when the pool says so', async () => {
    const h = hotHarness({ fill: ['spot', 'pool'] });
    await readyInstances(h, [subnetA]);
    await tune(h);
    const hot = (await live(h)).filter((i) => i.tier === 'hot');
    expect(hot.map((i) => `${i.role}/${i.market}`)).toEqual(['ephemeral/spot', 'ephemeral/spot']);
  });

  it('keeps no hot tier for repository-scoped runners', async () => {
    const h = makeHarness({
      config: testConfig({ hot: { maximum: 4, windows: [{ ...window, max: 2 }] } }),
      runners: { owners: [], anyOwner: { scope: 'repo', namePrefix: 'wpr' } },
    });
    const [result] = await tune(h);
    expect(result?.hot).toBeUndefined();
  });
});

describe('a queued job and the hot tier', () => {
  it('is taken by an idle hot runner at once and refills the tier with exactly one start', async () => {
    const h = hotHarness();
    const idle = await hotReady(h);
    const startsBefore = h.compute.callCount('start') + h.compute.callCount('launchEphemeral');

    const { jobId, events } = queueJob(h);
    // GitHub handed the job to the longest-online idle runner before any webhook.
    const inProgress = events.find((e) => e.action === 'in_progress');
    expect(idle.map((i) => `wpr-${i.id}`)).toContain(inProgress?.runnerName);

    const queued = events.find((e) => e.action === 'queued');
    if (queued === undefined || inProgress === undefined) throw new Error('no events');
    const outcome = await deliver(h, queued);
    expect(outcome).toMatchObject({ kind: 'provisioned', jobId });
    expect((await h.store.getJob(jobId))?.attempts[0]).toMatchObject({ step: 'hot', outcome: 'ok' });
    await deliver(h, inProgress);
    await deliver(h, { ...queued, deliveryId: 'again' }); // a redelivery: nothing more
    const starts = h.compute.callCount('start') + h.compute.callCount('launchEphemeral');
    expect(starts - startsBefore).toBe(1);
    expect(await h.store.getJob(jobId)).toMatchObject({ state: 'running', pickupTier: 'hot' });
    const taker = await h.store.getInstance(inProgress.runnerName?.slice(4) ?? '');
    expect(taker).toMatchObject({ state: 'busy', servingJob: jobId });
    expect(h.metrics.total('Pickups', { Pool: 'linux-x64', Tier: 'hot' })).toBe(1);
  });

  it('starts the job its own runner (pool first) when no hot runner is idle', async () => {
    const h = hotHarness({ windows: [{ ...window, max: 0 }] }, { defaultSize: 1 });
    await readyInstances(h, [subnetA]);
    await tune(h);
    const { events } = queueJob(h);
    const queued = events.find((e) => e.action === 'queued');
    if (queued === undefined) throw new Error('no queued event');
    expect(await deliver(h, queued)).toMatchObject({ kind: 'provisioned', source: 'pool' });
    const provided = (await live(h)).filter((i) => i.state === 'starting');
    expect(provided.map((i) => i.tier)).toEqual([undefined]);
  });

  it("starts one runner whichever comes first: the agent's job-started tag or the queued webhook", async () => {
    for (const order of ['tag-first', 'webhook-first'] as const) {
      const h = hotHarness();
      await hotReady(h);
      const before = h.compute.callCount('start') + h.compute.callCount('launchEphemeral');
      const { events } = queueJob(h);
      const queued = events.find((e) => e.action === 'queued');
      const inProgress = events.find((e) => e.action === 'in_progress');
      if (queued === undefined || inProgress === undefined) throw new Error('no events');
      const taker = inProgress.runnerName?.slice(4) ?? '';
      const tag = () =>
        handleJobStarted(h.deps, h.config, {
          instanceId: taker,
          at: h.clock.now(),
          deadline: h.clock.now() + 5_000,
        });
      if (order === 'tag-first') {
        expect((await tag()).kind).toBe('marked-busy');
        expect(await deliver(h, queued)).toMatchObject({ kind: 'covered' });
      } else {
        await deliver(h, queued);
        expect((await tag()).kind).toBe('marked-busy');
      }
      expect((await tag()).kind, 'a repeated tag').toBe('no-change');
      await deliver(h, inProgress);
      const starts = h.compute.callCount('start') + h.compute.callCount('launchEphemeral');
      expect(starts - before, order).toBe(1);
      expect(await h.store.getInstance(taker), order).toMatchObject({
        state: 'busy',
        servingJob: inProgress.jobId,
      });
    }
  });
});

describe('one start per hot hit, whatever the order of its events', () => {
  type Delivery = 'queued' | 'in_progress' | 'tag';
  const permutations = (items: readonly Delivery[]): Delivery[][] =>
    items.length <= 1
      ? [[...items]]
      : items.flatMap((first, i) =>
          permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [first, ...rest]),
        );

  async function hotHit(h: Harness) {
    const { jobId, events } = queueJob(h);
    const queued = events.find((e) => e.action === 'queued');
    const inProgress = events.find((e) => e.action === 'in_progress');
    if (queued === undefined || inProgress === undefined) throw new Error('no events');
    const taker = inProgress.runnerName?.slice(4) ?? '';
    const send: Record<Delivery, (copy: number) => Promise<unknown>> = {
      queued: (copy) => deliver(h, { ...queued, deliveryId: `${queued.deliveryId}-${copy}` }),
      in_progress: (copy) => deliver(h, { ...inProgress, deliveryId: `${inProgress.deliveryId}-${copy}` }),
      tag: () =>
        handleJobStarted(h.deps, h.config, {
          instanceId: taker,
          at: h.clock.now(),
          deadline: h.clock.now() + 5_000,
        }),
    };
    return { jobId, taker, send };
  }

  const starts = (h: Harness) => h.compute.callCount('start') + h.compute.callCount('launchEphemeral');

  it('starts exactly one runner when queued, in_progress and the job-started tag race, in any order, duplicated', async () => {
    for (const order of permutations(['queued', 'in_progress', 'tag']))
      for (const racing of [false, true])
        for (const duplicated of [false, true]) {
          const what = `${order.join(' → ')}${racing ? ', racing' : ''}${duplicated ? ', duplicated' : ''}`;
          const h = hotHarness();
          await hotReady(h, 2);
          const before = starts(h);
          const { jobId, taker, send } = await hotHit(h);
          const deliveries = duplicated ? [...order, ...order] : order;
          // Racing: every handler runs at once and their store calls interleave (the fakes yield at
          // every call), as concurrent Lambda invocations do.
          if (racing) await Promise.all(deliveries.map((d, i) => send[d](i)));
          else for (const [i, d] of deliveries.entries()) await send[d](i);
          expect(starts(h) - before, what).toBe(1);
          expect(await h.store.getInstance(taker), what).toMatchObject({ state: 'busy', servingJob: jobId });
          // The tier is back at its target: the taken runner's replacement and the other idle one.
          const untaken = (await live(h)).filter((i) => ['claimed', 'starting', 'idle'].includes(i.state));
          expect(untaken, what).toHaveLength(2);
        }
  });

  it('withdraws a job cancelled before pickup from the pairing, so the next take still refills the tier', async () => {
    const h = hotHarness();
    await hotReady(h, 2);
    // A job queued and cancelled (superseded by a push) before any runner took it.
    const cancelled: WorkflowJobEvent = {
      deliveryId: 'cancelled-queued',
      action: 'queued',
      jobId: 990_001,
      runId: 990_001,
      repository,
      labels,
      createdAt: h.clock.now(),
    };
    await deliver(h, cancelled);
    for (const copy of [0, 1])
      await deliver(h, {
        ...cancelled,
        deliveryId: `cancelled-completed-${copy}`,
        action: 'completed',
        conclusion: 'cancelled',
        completedAt: h.clock.now(),
      });
    expect(await h.store.addToCounter(hotPairsCounter('linux-x64'), 0)).toBe(0);
    // The next hot hit reported first by its runner starts its refill, not a pairing with that job.
    const before = starts(h);
    const { send } = await hotHit(h);
    expect(await send.tag(0)).toMatchObject({ refill: { kind: 'refilled' } });
    await send.queued(0);
    await send.in_progress(0);
    expect(starts(h) - before).toBe(1);
  });

  it("starts a queued job's runner when the runner's half it pairs with belongs to no taken runner", async () => {
    const h = hotHarness();
    await hotReady(h, 2);
    // A start outside the pairing (the reconciler's) left a runner's half with no runner behind it.
    await h.store.addToCounter(hotPairsCounter('linux-x64'), -1);
    const before = starts(h);
    const { send } = await hotHit(h);
    expect(await send.queued(0)).toMatchObject({ kind: 'provisioned' });
    expect(starts(h) - before).toBe(1);
    expect(h.metrics.total('HotPairsStale')).toBe(1);
    // A runner's half that does have a runner behind it still covers the job: one start in all.
    const g = hotHarness();
    await hotReady(g, 2);
    const first = starts(g);
    const hit = await hotHit(g);
    await hit.send.tag(0);
    expect(await hit.send.queued(0)).toMatchObject({ kind: 'covered' });
    expect(starts(g) - first).toBe(1);
  });

  it('starts one runner per job when two hot hits interleave their events', async () => {
    const h = hotHarness();
    await hotReady(h, 2);
    const before = starts(h);
    const first = await hotHit(h);
    const second = await hotHit(h);
    expect(first.taker).not.toBe(second.taker);
    // Job 1's queued with job 2's tag, job 2's queued with job 1's in_progress, then the rest.
    await Promise.all([first.send.queued(0), second.send.tag(0)]);
    await Promise.all([second.send.queued(0), first.send.in_progress(0)]);
    await Promise.all([first.send.tag(0), second.send.in_progress(0)]);
    expect(starts(h) - before).toBe(2);
  });
});

describe('hot runners age out, drain and are replaced', () => {
  it('replaces an idle runner past its maximum idle age', async () => {
    const h = hotHarness({ maxIdleMinutes: 30 });
    const idle = await hotReady(h);
    await readyInstances(h, [subnetA, subnetB]);
    h.clock.advance(31 * 60_000);
    const [result] = await tune(h);
    expect(result?.hot).toMatchObject({ replaced: 2, started: 2 });
    for (const old of idle) expect((await h.store.getInstance(old.id))?.state).toBe('terminated');
    // Deregistered before it was retired, so GitHub can hand it nothing more.
    expect(h.github.callsOf('deleteRunner')).toHaveLength(2);
  });

  it('replaces an idle runner built from an outdated image', async () => {
    const h = hotHarness();
    const idle = await hotReady(h);
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    h.compute.publishImage('x64', 'ami-0newer');
    const [result] = await tune(h);
    expect(result?.hot?.replaced).toBe(2);
    for (const old of idle) expect((await h.store.getInstance(old.id))?.state).toBe('terminated');
  });

  it('drains the tier when its window closes, and the event paths see zero at once', async () => {
    const h = hotHarness({ maxIdleMinutes: 1440 });
    await hotReady(h);
    h.clock.advance(10 * 3_600_000); // Monday 19:00: the window closed
    const pool = poolOf(h.config);
    const record = JSON.parse((await h.store.getMarker(hotMarker(pool.name))) ?? '{}');
    expect(currentHotTarget(pool, h.clock.now(), { ...record, at: h.clock.now() })).toBe(0);
    const [result] = await tune(h);
    expect(result?.hot).toMatchObject({ target: 0, drained: 2, started: 0, idle: 0 });
  });

  it('replaces an idle hot runner whose spot instance is about to be reclaimed', async () => {
    const h = hotHarness({ fill: ['spot'] });
    const idle = await hotReady(h);
    const victim = idle[0];
    if (victim === undefined) throw new Error('no idle runner');
    const outcome = await handleSpotInterruption(h.deps, victim.id, {
      config: h.config,
      deadline: h.clock.now() + 5_000,
    });
    expect(outcome).toEqual({ kind: 'hot-runner-replaced', refilled: true });
    expect((await h.store.getInstance(victim.id))?.state).toBe('terminated');
    expect((await live(h)).filter((i) => i.tier === 'hot' && i.state !== 'busy')).toHaveLength(2);
  });

  it('the reconciler turns a hot runner whose running event was missed idle, and refills a short tier', async () => {
    const h = hotHarness();
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    await tune(h);
    for (const i of h.compute.allInstances()) if (i.state === 'pending') h.compute.markRunning(i.id);
    h.clock.advance(60_000);
    const report = await reconcile(h.deps, h.config, { deadline: h.clock.now() + 30_000 });
    expect(report.actions.filter((a) => a.kind === 'mark-idle' && a.done)).toHaveLength(2);
    expect((await live(h)).filter((i) => i.state === 'idle')).toHaveLength(2);
  });
});

describe('the balance by count', () => {
  const pool = poolOf(testConfig({ hot: { maximum: 4 } }));

  it('weighs untaken runners against waiting jobs plus the hot target', () => {
    const instances = [
      instance({ state: 'idle', tier: 'hot' }),
      instance({ state: 'starting' }),
      instance({ state: 'busy', servingJob: 1 }),
      instance({ state: 'busy', jobStartedAt: monday0900 }), // took a job we cannot name yet
    ];
    const jobs = [job({ state: 'queued' }), job({ state: 'provisioned' }), job({ state: 'running' })];
    expect(balanceRunners(pool, instances, jobs, 2)).toMatchObject({
      waiting: 2,
      takenUnknown: 1,
      deficit: 1, // (2 − 1) + 2 − 2
      surplus: 0,
    });
    expect(balanceRunners(pool, instances, [], 0)).toMatchObject({ deficit: 0, surplus: 2 });
  });
});

describe('the tier a job was served from', () => {
  const instance = (patch: Partial<InstanceRecord>): InstanceRecord =>
    ({ id: 'i-1', role: 'pool', tier: 'hot', ...patch }) as InstanceRecord;
  const idleAt = Date.UTC(2026, 0, 5, 9, 0, 0, 400);

  it('is hot only when the runner was online before the job was queued', () => {
    expect(tierOf(instance({ idleAt }), idleAt + 60_000)).toBe('hot');
    // GitHub's created_at is truncated to the second: the same second still counts.
    expect(tierOf(instance({ idleAt }), idleAt - 400)).toBe('hot');
  });

  it("is the instance's own tier when a burst took the runner the moment it booted", () => {
    expect(tierOf(instance({ idleAt }), idleAt - 20_000)).toBe('warm');
    expect(tierOf(instance({ idleAt, role: 'ephemeral' }), idleAt - 20_000)).toBe('cold');
    expect(tierOf(instance({ role: 'ephemeral' }), idleAt)).toBe('cold');
  });
});
