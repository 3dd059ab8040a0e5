/**
 * The workflow_job use case on fakes. Events come from the GitHub fake where GitHub's own order is
 * the point (a runner taking a job emits in_progress, a cancellation emits completed without a
 * runner) and are written by hand where the test reorders or duplicates them.
 */
import { describe, expect, it } from 'vitest';
import { handleSpotInterruption } from '../../scheduler/core/instance-events.js';
import type { WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob, rerunMarker } from '../../scheduler/core/workflow-job.js';
import {
  type Harness,
  job,
  jobEvent,
  makeHarness,
  monday0900,
  mustInstance,
  mustJob,
  readyInstances,
  repository,
  subnetA,
  subnetB,
  testConfig,
} from './support.js';

const labels = ['self-hosted', 'linux', 'x64'];

function deliver(h: Harness, event: WorkflowJobEvent) {
  const now = h.clock.now();
  return handleWorkflowJob(h.deps, { config: h.config, deadline: now + 8_000, receivedAt: now }, event);
}

/** GitHub queues a job; returns its id and the queued webhook (not yet delivered). */
function queue(h: Harness, runId?: number): { jobId: number; queued: WorkflowJobEvent } {
  const queued = h.github.queueJob({ repository, labels, ...(runId !== undefined && { runId }) });
  const event = h.github.takeEvents().find((e) => e.action === 'queued' && e.jobId === queued.id);
  if (event === undefined) throw new Error('no queued event');
  return { jobId: queued.id, queued: event };
}

/** The agent boots, fetches its config and connects; returns the in_progress webhook if it took a job. */
function bootRunner(h: Harness, instanceId: string): WorkflowJobEvent | undefined {
  h.compute.markRunning(instanceId);
  expect(h.jit.take(instanceId)).toBeDefined();
  h.github.connect(`wpr-${instanceId}`);
  return h.github.takeEvents().find((e) => e.action === 'in_progress');
}

function takeCompleted(h: Harness): WorkflowJobEvent {
  const event = h.github.takeEvents().find((e) => e.action === 'completed');
  if (event === undefined) throw new Error('no completed event');
  return event;
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing value');
  return value;
}

describe('workflow_job queued', () => {
  it('records the job and provides a runner from the pool', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    const outcome = await deliver(h, queued);

    expect(outcome).toEqual({
      kind: 'provisioned',
      jobId,
      pool: 'linux-x64',
      instanceId: a?.id,
      source: 'pool',
    });
    const record = await mustJob(h, jobId);
    expect(record).toMatchObject({
      state: 'provisioned',
      pool: 'linux-x64',
      source: 'pool',
      provisionedInstance: a?.id,
      deliveries: [queued.deliveryId],
      reprovisions: 0,
      phases: {
        createdAt: monday0900,
        receivedAt: monday0900,
        claimedAt: monday0900,
        startIssuedAt: monday0900,
      },
    });
    expect(record.attempts.map((x) => [x.step, x.outcome])).toEqual([['pool', 'ok']]);
    expect(h.events.ofType('JobProvisioned')).toEqual([
      { type: 'JobProvisioned', jobId, pool: 'linux-x64', instanceId: a?.id, source: 'pool' },
    ]);
  });

  it('records a job left pending with its attempts', async () => {
    const h = makeHarness({ config: testConfig({ fallback: { spot: false, onDemand: false } }) });
    const { jobId, queued } = queue(h);
    const outcome = await deliver(h, queued);
    expect(outcome).toEqual({ kind: 'pending', jobId, pool: 'linux-x64', reason: 'exhausted' });
    const record = await mustJob(h, jobId);
    expect(record.state).toBe('queued');
    expect(record.attempts.map((x) => x.step)).toEqual(['pool', 'spot', 'on-demand', 'pending']);
    expect(h.events.ofType('JobPending')).toEqual([
      { type: 'JobPending', jobId, pool: 'linux-x64', reason: 'exhausted' },
    ]);
    expect(h.metrics.total('JobsPending')).toBe(1);
  });

  it('ignores a job whose labels no pool serves', async () => {
    const h = makeHarness();
    const outcome = await deliver(h, jobEvent('queued', { jobId: 1, labels: ['ubuntu-latest'] }));
    expect(outcome).toEqual({ kind: 'ignored', reason: 'no-pool' });
    expect(await h.store.getJob(1)).toBeUndefined();
    expect(h.compute.calls()).toEqual([]);
  });

  it('does nothing for a duplicate delivery', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    const again = await deliver(h, queued);

    expect(again).toEqual({ kind: 'duplicate', jobId, state: 'provisioned' });
    expect(h.compute.callCount('start')).toBe(1);
    expect(h.github.callsOf('createJitConfig')).toHaveLength(1);
    expect((await mustJob(h, jobId)).deliveries).toEqual([queued.deliveryId]);
  });

  it('does nothing for a queued event sent again under a new delivery id once provisioned', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    const again = await deliver(h, { ...queued, deliveryId: 'another-delivery' });
    expect(again).toEqual({ kind: 'duplicate', jobId, state: 'provisioned' });
    expect(h.compute.callCount('start')).toBe(1);
  });

  it('holds a waiting job until it is queued', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const waiting = await deliver(h, jobEvent('waiting', { jobId: 11 }));
    expect(waiting).toEqual({ kind: 'recorded', jobId: 11, pool: 'linux-x64', state: 'waiting' });
    expect(h.compute.callCount('start')).toBe(0);

    const queued = await deliver(h, jobEvent('queued', { jobId: 11 }));
    expect(queued).toMatchObject({ kind: 'provisioned', instanceId: a?.id });
    expect((await mustJob(h, 11)).state).toBe('provisioned');
  });
});

describe('workflow_job out of order', () => {
  it('records in_progress before queued, gives the job whose runner was taken a new one at once, and provides no runner for the late queued', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    await deliver(h, jobEvent('queued', { jobId: 20 })); // a provided for job 20
    const startsBefore = h.compute.callCount('start');

    // GitHub handed a's runner job 21, whose queued webhook is late.
    const running = await deliver(
      h,
      jobEvent('in_progress', {
        jobId: 21,
        runnerName: `wpr-${a?.id}`,
        runnerId: 1,
        startedAt: monday0900 + 5,
      }),
    );
    expect(running).toEqual({ kind: 'recorded', jobId: 21, pool: 'linux-x64', state: 'running' });
    expect(await mustJob(h, 21)).toMatchObject({
      state: 'running',
      runnerName: `wpr-${a?.id}`,
      instanceId: a?.id,
      phases: { inProgressAt: monday0900 + 5 },
    });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({ state: 'busy', servingJob: 21 });
    // Job 20 lost its runner to 21, which had none of its own: 20 gets one now, not from the reconciler.
    expect(h.compute.callCount('start')).toBe(startsBefore + 1);
    expect(await mustJob(h, 20)).toMatchObject({
      state: 'provisioned',
      reprovisions: 1,
      provisionedInstance: b?.id,
    });

    const late = await deliver(h, jobEvent('queued', { jobId: 21 }));
    expect(late).toEqual({ kind: 'duplicate', jobId: 21, state: 'running' });
    expect(h.compute.callCount('start')).toBe(startsBefore + 1);
    expect(h.github.callsOf('createJitConfig')).toHaveLength(2);
  });

  it('gives no new runner when the job that took the runner had its own still untaken (GitHub hands that one over)', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    await deliver(h, jobEvent('queued', { jobId: 20 })); // a for 20 (random 0 picks the first)
    await deliver(h, jobEvent('queued', { jobId: 21 })); // b for 21
    const startsBefore = h.compute.callCount('start');
    const took = (await mustJob(h, 20)).provisionedInstance === a?.id ? a : b;
    await deliver(h, jobEvent('in_progress', { jobId: 21, runnerName: `wpr-${took?.id}`, runnerId: 1 }));
    expect(h.compute.callCount('start')).toBe(startsBefore);
    expect(await mustJob(h, 20)).toMatchObject({ state: 'provisioned', reprovisions: 0 });
  });

  it('records completed before queued, and provides no runner for the late queued', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    const done = await deliver(h, jobEvent('completed', { jobId: 30, conclusion: 'cancelled' }));
    expect(done).toEqual({ kind: 'recorded', jobId: 30, pool: 'linux-x64', state: 'completed' });
    expect(await mustJob(h, 30)).toMatchObject({ state: 'completed', conclusion: 'cancelled' });

    expect(await deliver(h, jobEvent('queued', { jobId: 30 }))).toEqual({
      kind: 'duplicate',
      jobId: 30,
      state: 'completed',
    });
    expect(await deliver(h, jobEvent('in_progress', { jobId: 30, runnerName: 'wpr-i-0abc' }))).toEqual({
      kind: 'duplicate',
      jobId: 30,
      state: 'completed',
    });
    expect(h.compute.callCount('start')).toBe(0);
    expect(h.compute.callCount('launchEphemeral')).toBe(0);
    expect(h.github.callsOf('createJitConfig')).toHaveLength(0);
  });

  it('never moves a running job back to queued', async () => {
    const h = makeHarness();
    await deliver(h, jobEvent('in_progress', { jobId: 40, runnerName: 'GitHub Actions 7' }));
    expect(await deliver(h, jobEvent('waiting', { jobId: 40 }))).toMatchObject({ kind: 'duplicate' });
    const record = await mustJob(h, 40);
    expect(record.state).toBe('running');
    expect(record.instanceId).toBeUndefined(); // not one of our runners
  });
});

describe('workflow_job in_progress and completed', () => {
  it('marks the instance busy and records the runner', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    const inProgress = must(bootRunner(h, a?.id ?? ''));
    await deliver(h, inProgress);

    expect(await mustJob(h, jobId)).toMatchObject({
      state: 'running',
      runnerName: `wpr-${a?.id}`,
      instanceId: a?.id,
      phases: { inProgressAt: monday0900 },
    });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({ state: 'busy', servingJob: jobId });
  });

  it('recycles the instance after its job and launches a replacement while below target', async () => {
    const h = makeHarness(); // linux-x64 targets 2 at this hour
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    await deliver(h, must(bootRunner(h, a?.id ?? '')));
    h.github.finishJob(jobId);
    const completed = takeCompleted(h);
    expect(await deliver(h, completed)).toEqual({
      kind: 'recorded',
      jobId,
      pool: 'linux-x64',
      state: 'completed',
    });

    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'terminated',
      reason: 'job completed',
    });
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('terminated');
    expect(await mustJob(h, jobId)).toMatchObject({ state: 'completed', conclusion: 'success' });
    const live = await h.store.listPoolInstances('linux-x64');
    const replacement = live.find((i) => i.id !== b?.id);
    // Where a was: b keeps us-east-1b, so the replacement goes to us-east-1a.
    expect(replacement).toMatchObject({ state: 'launching', role: 'pool', subnetId: subnetA });
    expect(h.events.ofType('InstanceRecycled')).toEqual([
      { type: 'InstanceRecycled', instanceId: a?.id, pool: 'linux-x64', replacementLaunched: true },
    ]);
  });

  it('launches no replacement when the pool is at its target', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB, subnetA]);
    const launchesBefore = h.compute.callCount('launchForPool');
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    await deliver(h, must(bootRunner(h, a?.id ?? '')));
    h.github.finishJob(jobId);
    await deliver(h, takeCompleted(h));

    expect(h.compute.callCount('launchForPool')).toBe(launchesBefore);
    expect(h.events.ofType('InstanceRecycled')).toEqual([
      { type: 'InstanceRecycled', instanceId: a?.id, pool: 'linux-x64', replacementLaunched: false },
    ]);
  });

  it('does nothing for a second completed', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB, subnetA]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    await deliver(h, must(bootRunner(h, a?.id ?? '')));
    h.github.finishJob(jobId);
    const completed = takeCompleted(h);
    await deliver(h, completed);
    expect(await deliver(h, { ...completed, deliveryId: 'again' })).toEqual({
      kind: 'duplicate',
      jobId,
      state: 'completed',
    });
    expect(h.compute.callCount('terminate')).toBe(1);
  });

  it('recycles an instance whose runner ran a job before its start was recorded', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    // A handler claimed and started a, handed over the runner, and died before recording the start.
    await h.store.transitionInstance({
      id: a?.id ?? '',
      from: 'ready',
      expectedVersion: a?.version ?? 0,
      to: 'claimed',
      patch: { provisionedFor: 60, runnerName: `wpr-${a?.id}` },
    });
    await h.store.createJob(job({ id: 60, state: 'queued' }));
    const runner = `wpr-${a?.id}`;
    // The in_progress webhook is lost; completed arrives.
    await deliver(h, jobEvent('completed', { jobId: 60, runnerName: runner, conclusion: 'success' }));
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'terminated',
      reason: 'job completed',
    });

    // Had in_progress arrived, the claimed instance would have gone straight to busy.
    const [b] = await readyInstances(h, [subnetB]);
    await h.store.transitionInstance({
      id: b?.id ?? '',
      from: 'ready',
      expectedVersion: b?.version ?? 0,
      to: 'claimed',
      patch: { provisionedFor: 61 },
    });
    await deliver(h, jobEvent('in_progress', { jobId: 61, runnerName: `wpr-${b?.id}` }));
    expect(await mustInstance(h, b?.id ?? '')).toMatchObject({ state: 'busy', servingJob: 61 });
  });

  it('gives a claimed, never started instance back to the pool when its job is cancelled', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    // A handler claimed a for job 50 and died before starting it.
    await h.store.transitionInstance({
      id: a?.id ?? '',
      from: 'ready',
      expectedVersion: a?.version ?? 0,
      to: 'claimed',
      patch: { provisionedFor: 50, runnerName: `wpr-${a?.id}` },
    });
    await h.store.createJob(job({ id: 50, state: 'provisioned', provisionedInstance: a?.id ?? '' }));
    await deliver(h, jobEvent('completed', { jobId: 50, conclusion: 'cancelled' }));

    const released = await mustInstance(h, a?.id ?? '');
    expect(released.state).toBe('ready');
    expect(released.provisionedFor).toBeUndefined();
    expect(h.compute.callCount('terminate')).toBe(0);
  });

  it('releases the runner at once when the job is cancelled while its runner is being provided', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    // The cancel's `completed` arrives while the webhook for `queued` is minting the runner.
    const createJitConfig = h.github.createJitConfig.bind(h.github);
    h.github.createJitConfig = async (...args) => {
      h.github.cancelJob(jobId);
      await deliver(h, takeCompleted(h));
      return createJitConfig(...args);
    };
    expect(await deliver(h, queued)).toMatchObject({ kind: 'provisioned', instanceId: a?.id });

    expect(await mustJob(h, jobId)).toMatchObject({ state: 'completed', provisionedInstance: a?.id });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'terminated',
      reason: `job ${jobId} completed before pickup`,
    });
    expect(await h.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-')).toEqual([]);
    expect(await h.jit.listPending()).toEqual([]);
  });

  it('retires a started instance whose job was cancelled before pickup, and deletes its runner', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    const { jobId, queued } = queue(h);
    await deliver(h, queued);
    const runnerId = (await mustInstance(h, a?.id ?? '')).runnerId;
    h.github.cancelJob(jobId);
    const completed = takeCompleted(h);
    expect(completed.runnerName).toBeUndefined();
    await deliver(h, completed);

    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'terminated',
      reason: `job ${jobId} cancelled before pickup`,
    });
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('terminated');
    expect(h.github.callsOf('deleteRunner').map((c) => c.args[1])).toEqual([runnerId]);
    expect(await h.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-')).toEqual([]);
    expect(await h.jit.listPending()).toEqual([]);
  });
});

describe('workflow_job after a spot interruption', () => {
  /** A job provided on spot (the pool is empty), interrupted, run and finished with `conclusion`. */
  async function interruptedJob(h: Harness, runId: number) {
    const { jobId, queued } = queue(h, runId);
    const outcome = await deliver(h, queued);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'spot' });
    const instanceId = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    expect(await handleSpotInterruption(h.deps, instanceId)).toEqual({ kind: 'marked-interrupted' });
    await deliver(h, must(bootRunner(h, instanceId)));
    return { jobId, instanceId };
  }

  it('re-runs a failed job once, and the re-run skips spot', async () => {
    const h = makeHarness();
    const { jobId, instanceId } = await interruptedJob(h, 800);
    h.github.finishJob(jobId, 'failure');
    const events = h.github.takeEvents();
    await deliver(h, must(events.find((e) => e.action === 'completed')));

    expect(h.github.callsOf('rerunJob').map((c) => c.args)).toEqual([[repository, jobId]]);
    expect(await h.store.getMarker(rerunMarker(800))).toBe(`requested:${jobId}`);
    expect(h.metrics.total('InterruptedJobsRerun')).toBe(1);
    expect((await mustInstance(h, instanceId)).state).toBe('terminated');

    const rerun = must(h.github.takeEvents().find((e) => e.action === 'queued'));
    expect(rerun.runId).toBe(800);
    const outcome = await deliver(h, rerun);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'on-demand' });
    expect((await mustJob(h, rerun.jobId)).attempts.map((x) => [x.step, x.outcome])).toEqual([
      ['pool', 'empty'],
      ['spot', 'skipped'],
      ['on-demand', 'ok'],
    ]);
  });

  it('re-runs at most once per workflow run', async () => {
    const h = makeHarness();
    const first = await interruptedJob(h, 801);
    const second = await interruptedJob(h, 801);
    h.github.finishJob(first.jobId, 'failure');
    h.github.finishJob(second.jobId, 'failure');
    const completed = h.github.takeEvents().filter((e) => e.action === 'completed');
    expect(completed).toHaveLength(2);
    for (const event of completed) await deliver(h, event);

    expect(h.github.callsOf('rerunJob')).toHaveLength(1);
    expect((await mustInstance(h, second.instanceId)).state).toBe('terminated');
  });

  it('does not re-run a job that succeeded anyway, or when the pool opts out', async () => {
    const h = makeHarness();
    const ok = await interruptedJob(h, 802);
    h.github.finishJob(ok.jobId, 'success');
    await deliver(h, takeCompleted(h));
    expect(h.github.callsOf('rerunJob')).toHaveLength(0);

    const optedOut = makeHarness({ config: testConfig({ fallback: { rerunInterrupted: false } }) });
    const failed = await interruptedJob(optedOut, 803);
    optedOut.github.finishJob(failed.jobId, 'failure');
    await deliver(optedOut, takeCompleted(optedOut));
    expect(optedOut.github.callsOf('rerunJob')).toHaveLength(0);
    expect(await optedOut.store.getMarker(rerunMarker(803))).toBeUndefined();
    expect((await mustInstance(optedOut, failed.instanceId)).state).toBe('terminated');
  });

  it('still recycles the instance when GitHub refuses the re-run (other jobs of the run still going)', async () => {
    const h = makeHarness();
    const { jobId, instanceId } = await interruptedJob(h, 805);
    h.github.finishJob(jobId, 'failure');
    h.github.injectFault('rerunJob', { kind: 'status', status: 403 });
    await deliver(h, takeCompleted(h));
    expect(h.metrics.total('InterruptedJobsRerunRefused')).toBe(1);
    expect((await mustInstance(h, instanceId)).state).toBe('terminated');
  });

  it('asks again for a re-run GitHub refused once the run finishes, and only that job skips spot', async () => {
    const h = makeHarness();
    // A sibling job of the run (another name) is still queued: GitHub refuses the re-run meanwhile.
    const sibling = h.github.queueJob({ repository, labels: ['windows'], runId: 806, name: 'lint' });
    h.github.takeEvents();
    const { jobId } = await interruptedJob(h, 806);
    h.github.finishJob(jobId, 'failure');
    await deliver(h, takeCompleted(h));
    expect(h.metrics.total('InterruptedJobsRerunRefused')).toBe(1);
    expect(await h.store.getMarker(rerunMarker(806))).toBe(`pending:${jobId}`);

    // The last job of the run completes (a job no pool serves): the re-run goes now.
    h.github.cancelJob(sibling.id);
    expect(await deliver(h, takeCompleted(h))).toEqual({ kind: 'ignored', reason: 'no-pool' });
    expect(h.github.callsOf('rerunJob').map((c) => c.args)).toEqual([
      [repository, jobId],
      [repository, jobId],
    ]);
    expect(await h.store.getMarker(rerunMarker(806))).toBe(`requested:${jobId}`);
    expect(h.metrics.total('InterruptedJobsRerun')).toBe(1);
    const rerun = must(h.github.takeEvents().find((e) => e.action === 'queued'));
    expect(await deliver(h, rerun)).toMatchObject({ kind: 'provisioned', source: 'on-demand' });
  });

  it('keeps spot for the other jobs of a run whose interrupted job was re-run', async () => {
    const h = makeHarness();
    const { jobId } = await interruptedJob(h, 807);
    h.github.finishJob(jobId, 'failure');
    await deliver(h, takeCompleted(h));
    h.github.takeEvents();
    const other = h.github.queueJob({ repository, labels, runId: 807, name: 'deploy' });
    const queued = must(h.github.takeEvents().find((e) => e.jobId === other.id));
    expect(await deliver(h, queued)).toMatchObject({ kind: 'provisioned', source: 'spot' });
  });

  it('does not re-run a failed job whose instance was not interrupted', async () => {
    const h = makeHarness();
    const { jobId, queued } = queue(h, 804);
    const outcome = await deliver(h, queued);
    const instanceId = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    await deliver(h, must(bootRunner(h, instanceId)));
    h.github.finishJob(jobId, 'failure');
    await deliver(h, takeCompleted(h));
    expect(h.github.callsOf('rerunJob')).toHaveLength(0);
  });
});
