/**
 * The end-to-end scenario against every peer, through the real handlers: a pool of 5 ready
 * instances; a burst of 40 jobs including a matrix of 20; 10 % of deliveries duplicated, two
 * delivered out of order, one job cancelled, capacity errors in one zone, 10 % of webhooks never
 * delivered. Every job runs exactly once, the reconciler recovers the lost webhooks, the pool returns
 * to its target, and no instance, runner or JIT parameter is left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import { e2eConfig, labels, pool, repository, seeded, waitFor } from './support.js';

const config = e2eConfig({ defaultSize: 5 }, { pendingJobSeconds: 5, claimTimeoutSeconds: 30 });

describe('end to end: a burst with faults', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({
      poolConfig: config,
      timeScale: 0.02,
      warmupMs: 20,
      configGraceMs: 8_000,
      schedules: false,
    });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it('runs every job exactly once and leaves nothing behind', async () => {
    const { store } = sandbox.plane.deps;
    const { github, ec2 } = sandbox;
    await sandbox.runTuner();
    await waitFor(async () => (await store.listReady(pool, 10)).length === 5, 'pool of 5 warmed');

    // Faults: no capacity in one zone; one webhook in ten never delivered (until redelivered).
    ec2.exhaustCapacity({ availabilityZone: 'us-east-1a' });
    github.dropDeliveries(0.1, { random: seeded(7) });

    // Two deliveries out of order: the queued webhooks of a two-job run arrive last first.
    github.holdDeliveries();
    const early = await github.queueWorkflowRun({
      repository,
      jobs: [
        { labels, durationMs: 200 },
        { labels, durationMs: 200 },
      ],
    });
    await github.releaseDeliveries((held) => [...held].reverse());

    // The burst: a matrix of 20 and 18 single-job runs, all at once.
    const runs = await Promise.all([
      github.queueWorkflowRun({
        repository,
        workflowName: 'matrix',
        jobs: Array.from({ length: 20 }, () => ({ labels, durationMs: 300 })),
      }),
      ...Array.from({ length: 18 }, () =>
        github.queueWorkflowRun({ repository, jobs: [{ labels, durationMs: 300 }] }),
      ),
    ]);
    const jobIds = [...early.jobIds, ...runs.flatMap((r) => r.jobIds)];
    expect(jobIds).toHaveLength(40);
    const cancelled = runs.at(-1)?.jobIds[0] as number;
    await github.cancelJob(cancelled);

    // One delivery in ten sent twice.
    const delivered = github
      .deliveryLog()
      .filter((d) => d.statusCode >= 200 && d.statusCode < 300 && d.action === 'queued');
    for (const d of delivered.filter((_, i) => i % 10 === 0)) await github.duplicateDelivery(d.guid);
    const dropped = github.deliveryLog().filter((d) => d.statusCode >= 400).length;
    expect(dropped).toBeGreaterThan(0);

    // The schedules run until every job has finished.
    const finished = () => jobIds.every((id) => github.jobState(id)?.status === 'completed');
    const until = Date.now() + 90_000;
    while (!finished() && Date.now() < until) {
      await sandbox.runReconciler();
      await sandbox.runTuner();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(
      jobIds.filter((id) => github.jobState(id)?.status !== 'completed'),
      'jobs never run',
    ).toEqual([]);

    // Every job ran exactly once, each on its own runner; the cancelled one never ran.
    const ran = jobIds.filter((id) => id !== cancelled);
    for (const id of ran) expect(github.jobState(id)?.conclusion, `job ${id}`).toBe('success');
    const runners = ran.map((id) => github.jobState(id)?.runnerName);
    expect(new Set(runners).size).toBe(ran.length);
    expect(github.jobState(cancelled)?.conclusion).toBe('cancelled');

    // Capacity comes back; the pool refills to its target and the reconciler cleans up.
    ec2.restoreCapacity();
    github.dropDeliveries(0);
    const settled = async () => {
      await sandbox.lifecycleIdle();
      const live = await store.listLiveInstances();
      const alive = ec2.instances().filter((i) => i.state !== 'terminated' && i.state !== 'shutting-down');
      const registered = await sandbox.plane.deps.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-');
      const jit = sandbox.ssm.parameters().filter((p) => p.name.startsWith('/wpr/jit/'));
      // A lost `completed` webhook is recovered by the reconciler's redelivery, too.
      const recorded = await Promise.all(ran.map(async (id) => (await store.getJob(id))?.state));
      return (
        recorded.every((state) => state === 'completed') &&
        live.length === 5 &&
        live.every((i) => i.state === 'ready') &&
        alive.length === 5 &&
        alive.every((i) => i.state === 'stopped') &&
        registered.length === 0 &&
        jit.length === 0
      );
    };
    const cleanUntil = Date.now() + 60_000;
    while (!(await settled()) && Date.now() < cleanUntil) {
      await sandbox.runReconciler();
      await sandbox.runTuner();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const live = await store.listLiveInstances();
    expect(live.map((i) => i.state)).toEqual(Array(5).fill('ready'));
    const alive = ec2.instances().filter((i) => i.state !== 'terminated' && i.state !== 'shutting-down');
    expect(alive.map((i) => i.id).sort(), 'no orphan instance').toEqual(live.map((i) => i.id).sort());
    expect(
      await sandbox.plane.deps.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-'),
      'no runner left',
    ).toEqual([]);
    expect(
      sandbox.ssm.parameters().filter((p) => p.name.startsWith('/wpr/jit/')),
      'no JIT config left',
    ).toEqual([]);

    // Every job record has its latency phases, and the source of its runner when we provided one.
    for (const id of ran) {
      const job = await store.getJob(id);
      expect(job?.state, `job ${id}`).toBe('completed');
      for (const phase of ['receivedAt', 'inProgressAt', 'completedAt'] as const)
        expect(job?.phases[phase], `job ${id} ${phase}`).toBeTypeOf('number');
      if (job?.provisionedInstance !== undefined) {
        expect(job.source).toMatch(/^(pool|pool-resized|spot|on-demand)$/);
        expect(job.phases.claimedAt).toBeTypeOf('number');
        expect(job.phases.startIssuedAt).toBeTypeOf('number');
      }
    }
    // The ladder was exercised: the refusing zone, and a fallback past the pool of 5.
    const sources = await Promise.all(ran.map(async (id) => (await store.getJob(id))?.source));
    expect(sources.filter((s) => s === 'spot' || s === 'on-demand').length).toBeGreaterThan(0);
    expect(
      ec2.calls('StartInstances').some((c) => c.error === 'InsufficientInstanceCapacity') ||
        ec2.calls('RunInstances').some((c) => c.error === 'InsufficientInstanceCapacity'),
    ).toBe(true);
  }, 240_000);
});
