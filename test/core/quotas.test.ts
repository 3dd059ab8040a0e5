/**
 * Quotas per repository and organization on fakes: a job over a quota waits (queued, with the quota and
 * its figures; an event; a metric) and is served when a unit comes back — its repository's earlier job
 * completing — or by the reconciler; units go back when no runner was found; a runner taken by another
 * repository's job moves its units; per-day caps; the reconciler repairs a counter that drifted.
 */
import { describe, expect, it } from 'vitest';
import { refillHotTier } from '../../scheduler/core/hot-tier.js';
import { handleInstanceStateChange } from '../../scheduler/core/instance-events.js';
import { quotaSettleMs } from '../../scheduler/core/quotas.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import type { Repository, WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import {
  type Harness,
  makeHarness,
  mustInstance,
  mustJob,
  poolOf,
  readyInstances,
  subnetA,
  subnetB,
  testConfig,
} from './support.js';

const labels = ['self-hosted', 'linux', 'x64'];
const widgets: Repository = { owner: 'acme', name: 'widgets' };
const gadgets: Repository = { owner: 'acme', name: 'gadgets' };
const monorepo: Repository = { owner: 'acme', name: 'monorepo' };

function harness(quotas: Record<string, unknown>, pool: Record<string, unknown> = {}): Harness {
  return makeHarness({ config: testConfig({ quotas, maximum: 20, ...pool }) });
}

function deliver(h: Harness, event: WorkflowJobEvent) {
  const now = h.clock.now();
  return handleWorkflowJob(h.deps, { config: h.config, deadline: now + 8_000, receivedAt: now }, event);
}

/** GitHub queues a job of `repository` and its queued webhook is delivered. */
async function queue(h: Harness, repository: Repository) {
  const queued = h.github.queueJob({ repository, labels });
  const event = h.github.takeEvents().find((e) => e.action === 'queued' && e.jobId === queued.id);
  if (event === undefined) throw new Error('no queued event');
  return { jobId: queued.id, outcome: await deliver(h, event) };
}

/** The instance boots and its runner takes a job; the in_progress webhook is delivered. */
async function runOn(h: Harness, instanceId: string) {
  h.compute.markRunning(instanceId);
  h.jit.take(instanceId);
  h.github.connect(`wpr-${instanceId}`);
  for (const event of h.github.takeEvents().filter((e) => e.action === 'in_progress'))
    await deliver(h, event);
}

async function finish(h: Harness, jobId: number) {
  h.github.finishJob(jobId);
  for (const event of h.github.takeEvents().filter((e) => e.action === 'completed')) await deliver(h, event);
}

async function counts(h: Harness): Promise<Record<string, number>> {
  return Object.fromEntries((await h.store.listQuotas('linux-x64')).map((q) => [q.key, q.count]));
}

function reconcileNow(h: Harness) {
  return reconcile(h.deps, h.config, { deadline: h.clock.now() + 60_000 });
}

describe('repository quota', () => {
  it('makes a job over quota wait, then serves it when the earlier job of its repository completes', async () => {
    const h = harness({ repository: { instances: 1 } });
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    const first = await queue(h, widgets);
    expect(first.outcome.kind).toBe('provisioned');
    const second = await queue(h, widgets);
    expect(second.outcome).toMatchObject({ kind: 'pending', reason: 'quota: repository' });

    const waiting = await mustJob(h, second.jobId);
    expect(waiting.state).toBe('queued');
    expect(waiting.quotaWait).toMatchObject({
      quota: 'repository',
      subject: 'acme/widgets',
      limit: 1,
      held: 1,
    });
    expect(h.events.ofType('JobWaitingOnQuota')).toEqual([
      {
        type: 'JobWaitingOnQuota',
        jobId: second.jobId,
        pool: 'linux-x64',
        repository: 'acme/widgets',
        quota: 'repository',
        subject: 'acme/widgets',
        limit: 1,
        held: 1,
      },
    ]);
    expect(h.metrics.total('JobsWaitingOnQuota', { Pool: 'linux-x64', Quota: 'repository' })).toBe(1);
    expect(h.compute.calls('start')).toHaveLength(1);
    // Another repository of the organization is not held back.
    expect((await queue(h, gadgets)).outcome.kind).toBe('provisioned');

    const firstInstance = (await mustJob(h, first.jobId)).provisionedInstance ?? '';
    expect((await mustInstance(h, firstInstance)).quotaHolds).toEqual(['repo#acme/widgets']);
    await runOn(h, firstInstance);
    await finish(h, first.jobId);

    const served = await mustJob(h, second.jobId);
    expect(served.state).toBe('provisioned');
    expect(served.quotaWait).toBeUndefined();
    expect(await counts(h)).toMatchObject({ 'repo#acme/widgets': 1, 'repo#acme/gadgets': 1 });
    expect((await h.store.listQuotas('linux-x64')).every((q) => q.waiting.length === 0)).toBe(true);
    expect(h.metrics.total('QuotaWaitersServed')).toBe(1);
  });

  it('serves a waiting job when the instance that held the unit stops (the lifecycle event)', async () => {
    const h = harness({ repository: { instances: 1 } });
    await readyInstances(h, [subnetA, subnetB]);
    const first = await queue(h, widgets);
    const second = await queue(h, widgets);
    const instanceId = (await mustJob(h, first.jobId)).provisionedInstance ?? '';
    await runOn(h, instanceId);
    h.compute.powerOff(instanceId);
    await handleInstanceStateChange(h.deps, h.config, { instanceId, state: 'stopped', at: h.clock.now() });
    expect((await mustJob(h, second.jobId)).state).toBe('provisioned');
  });

  it('applies a per-repository override, names compared without case', async () => {
    const h = harness({ repository: { instances: 1 }, repositories: { 'Acme/MonoRepo': { instances: 2 } } });
    await readyInstances(h, [subnetA, subnetB, subnetA, subnetB]);
    expect((await queue(h, monorepo)).outcome.kind).toBe('provisioned');
    expect((await queue(h, monorepo)).outcome.kind).toBe('provisioned');
    expect((await queue(h, monorepo)).outcome.kind).toBe('pending');
    expect(await counts(h)).toEqual({ 'repo#acme/monorepo': 2 });
  });

  it('gives the units back when no runner could be found', async () => {
    const h = harness(
      { repository: { instances: 1 }, organization: { instances: 5 } },
      { fallback: { spot: false, onDemand: false } },
    );
    const { outcome } = await queue(h, widgets);
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'exhausted' });
    expect(await counts(h)).toEqual({ 'repo#acme/widgets': 0, 'org#acme': 0 });
  });
});

describe('organization quota', () => {
  it('holds back every repository of the organization and gives back the repository unit it took', async () => {
    const h = harness({ repository: { instances: 5 }, organization: { instances: 2 } });
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    expect((await queue(h, widgets)).outcome.kind).toBe('provisioned');
    expect((await queue(h, gadgets)).outcome.kind).toBe('provisioned');
    const third = await queue(h, monorepo);
    expect(third.outcome).toMatchObject({ kind: 'pending', reason: 'quota: organization' });
    expect((await mustJob(h, third.jobId)).quotaWait).toMatchObject({ subject: 'acme', limit: 2, held: 2 });
    expect(await counts(h)).toEqual({
      'org#acme': 2,
      'repo#acme/gadgets': 1,
      'repo#acme/widgets': 1,
      'repo#acme/monorepo': 0,
    });
  });
});

describe('runners taken by another job', () => {
  it('moves the units of a runner to the repository of the job it runs', async () => {
    const h = harness({ repository: { instances: 3 } });
    const [x] = await readyInstances(h, [subnetA]);
    const a = await queue(h, widgets);
    expect((await mustInstance(h, x?.id ?? '')).quotaHolds).toEqual(['repo#acme/widgets']);
    // GitHub hands the runner to a job of another repository (org-scoped runners serve any of them).
    const b = h.github.queueJob({ repository: gadgets, labels });
    h.github.takeEvents();
    await deliver(h, {
      deliveryId: 'in-progress-b',
      action: 'in_progress',
      jobId: b.id,
      runId: b.runId,
      repository: gadgets,
      labels,
      runnerName: `wpr-${x?.id}`,
      startedAt: h.clock.now(),
    });
    expect((await mustInstance(h, x?.id ?? '')).quotaHolds).toEqual(['repo#acme/gadgets']);
    const after = await counts(h);
    expect(after['repo#acme/gadgets']).toBe(1);
    // Job A lost its runner and was given another one, which holds A's unit again.
    expect((await mustJob(h, a.jobId)).reprovisions).toBe(1);
    expect(after['repo#acme/widgets']).toBe(1);
  });
});

describe('hot tier', () => {
  it('charges the job a hot runner took when its in_progress arrives, past the limit if need be', async () => {
    const h = harness(
      { repository: { instances: 1, jobsPerDay: 5 } },
      { hot: { maximum: 1, outsideWindows: 1, fill: ['pool'] } },
    );
    await readyInstances(h, [subnetA, subnetB, subnetA]);
    const refill = await refillHotTier(h.deps, poolOf(h.config), {
      deadline: h.clock.now() + 8_000,
      limit: 1,
      token: 'hot',
    });
    const hotId = refill.kind === 'refilled' ? (refill.started[0]?.instanceId ?? '') : '';
    h.compute.markRunning(hotId);
    await handleInstanceStateChange(h.deps, h.config, {
      instanceId: hotId,
      state: 'running',
      at: h.clock.now(),
    });
    expect((await mustInstance(h, hotId)).quotaHolds).toBeUndefined(); // idle: holds nothing
    // GitHub hands the job to the idle hot runner at once, quota or not.
    const { jobId } = await queue(h, widgets);
    h.github.connect(`wpr-${hotId}`);
    for (const event of h.github.takeEvents().filter((e) => e.action === 'in_progress'))
      await deliver(h, event);
    const ran = await mustInstance(h, hotId);
    expect(ran.servingJob).toBe(jobId);
    expect(ran.quotaHolds).toEqual(['repo#acme/widgets']);
    expect(await counts(h)).toMatchObject({ 'repo#acme/widgets': 1, 'day#2026-01-05#repo#acme/widgets': 1 });
    expect((await mustJob(h, jobId)).quotaDay).toBe('2026-01-05');
    expect(h.metrics.total('QuotaChargedAfterPickup')).toBe(1);
  });
});

describe('per-day caps', () => {
  it('counts jobs per UTC day and serves the job over the cap the next day', async () => {
    const h = harness({ repository: { jobsPerDay: 2 } });
    await readyInstances(h, [subnetA, subnetB, subnetA, subnetB]);
    const served = [await queue(h, widgets), await queue(h, widgets)];
    expect(served.map((s) => s.outcome.kind)).toEqual(['provisioned', 'provisioned']);
    // Finishing does not give a day's count back.
    for (const s of served) {
      await runOn(h, (await mustJob(h, s.jobId)).provisionedInstance ?? '');
      await finish(h, s.jobId);
    }
    const third = await queue(h, widgets);
    expect(third.outcome).toMatchObject({ kind: 'pending', reason: 'quota: repository-day' });
    expect((await mustJob(h, third.jobId)).quotaWait).toMatchObject({ limit: 2, held: 2 });

    await reconcileNow(h);
    expect((await mustJob(h, third.jobId)).state).toBe('queued');
    h.clock.advance(15 * 60 * 60_000); // Tuesday 00:00 UTC
    await reconcileNow(h);
    const next = await mustJob(h, third.jobId);
    expect(next.state).toBe('provisioned');
    expect(next.quotaDay).toBe('2026-01-06');
  });
});

describe('reconciler', () => {
  it('repairs a counter that drifted from the instances holding it, once it has settled, and serves the waiting job', async () => {
    const h = harness({ repository: { instances: 1 } });
    await readyInstances(h, [subnetA, subnetB]);
    // A handler died after taking a unit and before any instance held it.
    await h.store.takeQuota('linux-x64', 'repo#acme/widgets', 1, h.clock.now());
    const job = await queue(h, widgets);
    expect(job.outcome.kind).toBe('pending');

    await reconcileNow(h);
    expect(await counts(h)).toEqual({ 'repo#acme/widgets': 1 }); // too recent to tell from a take in flight
    h.clock.advance(quotaSettleMs + 1_000);
    const report = await reconcileNow(h);
    expect(report.actions).toContainEqual(
      expect.objectContaining({ kind: 'repair-quota', target: 'linux-x64 repo#acme/widgets', done: true }),
    );
    expect((await mustJob(h, job.jobId)).state).toBe('provisioned');
    expect(await counts(h)).toEqual({ 'repo#acme/widgets': 1 });
    expect(h.metrics.total('QuotaCountersRepaired')).toBe(1);
  });

  it('gives back the units of an instance terminated behind its back', async () => {
    const h = harness({ repository: { instances: 1 } });
    await readyInstances(h, [subnetA, subnetB]);
    const first = await queue(h, widgets);
    const second = await queue(h, widgets);
    const instanceId = (await mustJob(h, first.jobId)).provisionedInstance ?? '';
    await h.compute.terminate([instanceId]); // a person, say; the EC2 event is lost
    h.clock.advance(2 * 60_000);
    await reconcileNow(h);
    expect((await mustInstance(h, instanceId)).state).toBe('terminated');
    // The unit came back, and the older job, whose runner was lost, took it for its new runner.
    const reprovisioned = await mustJob(h, first.jobId);
    expect(reprovisioned.provisionedInstance).not.toBe(instanceId);
    expect((await mustInstance(h, reprovisioned.provisionedInstance ?? '')).quotaHolds).toEqual([
      'repo#acme/widgets',
    ]);
    expect((await mustJob(h, second.jobId)).quotaWait).toBeDefined();
    expect(await counts(h)).toEqual({ 'repo#acme/widgets': 1 });
  });

  it('does not reprovision nor abandon a job that waits on a quota', async () => {
    const h = harness({ repository: { instances: 1 } });
    await readyInstances(h, [subnetA, subnetB]);
    await queue(h, widgets);
    const waiting = await queue(h, widgets);
    for (let run = 0; run < 5; run++) {
      h.clock.advance(5 * 60_000);
      await reconcileNow(h);
    }
    const job = await mustJob(h, waiting.jobId);
    expect(job.state).toBe('queued');
    expect(job.reprovisions).toBe(0);
    expect(h.events.ofType('JobAbandoned')).toEqual([]);
    expect(h.events.ofType('JobWaitingOnQuota')).toHaveLength(1);
  });
});
