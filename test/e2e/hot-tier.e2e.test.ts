/**
 * The hot tier end to end, against every peer through the real handlers and adapters: the tuner
 * starts two runners for the tier (ready pool instances first), they boot and go idle; a job queued
 * at GitHub is taken by one of them at once, before any webhook; the agent's job-started tag reaches
 * the lifecycle handler through the EC2 peer's "Tag Change on Resource" event and refills the tier;
 * the `queued` and `in_progress` webhooks that follow start nothing more. Exactly one start per job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import { e2eConfig, labels, pool, repository, waitFor } from './support.js';

const config = e2eConfig(
  {
    defaultSize: 3,
    // Outside any window, so the test does not depend on the day it runs.
    hot: { maximum: 2, outsideWindows: 2 },
  },
  { pendingJobSeconds: 30, claimTimeoutSeconds: 120 },
);

describe('end to end: the hot tier', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({
      poolConfig: config,
      timeScale: 0.02,
      warmupMs: 20,
      configGraceMs: 30_000,
      schedules: false,
      logLevel: 'ERROR',
    });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it("serves a job from an idle hot runner at once and refills the tier once, from the instance's own signal", async () => {
    const { store } = sandbox.plane.deps;
    const { github, ec2 } = sandbox;
    await sandbox.runTuner();
    await waitFor(async () => (await store.listReady(pool, 10)).length === 3, 'pool of 3 warmed');
    await sandbox.runTuner(); // the hot tier takes two ready instances; the pool refills behind it
    const idle = async () => (await store.listPoolInstances(pool)).filter((i) => i.state === 'idle');
    await waitFor(async () => (await idle()).length === 2, 'two hot runners idle');
    // Registered and online at GitHub before any job exists.
    await waitFor(
      async () =>
        (await sandbox.plane.deps.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-')).filter(
          (r) => r.status === 'online' && !r.busy,
        ).length === 2,
      'two runners online at GitHub',
    );
    const hot = new Set((await idle()).map((i) => i.id));
    const startsBefore = ec2.calls('StartInstances').length + ec2.calls('CreateFleet').length;

    const { jobIds } = await github.queueWorkflowRun({ repository, jobs: [{ labels, durationMs: 2_000 }] });
    const jobId = jobIds[0] as number;
    await waitFor(() => github.jobState(jobId)?.status !== 'queued', 'the job taken');
    // Runner names end with the instance id, whatever the installation's prefix.
    const taker = github.jobState(jobId)?.runnerName?.replace(/^.*-(i-[0-9a-f]+)$/, '$1') ?? '';
    expect(hot.has(taker), 'taken by a hot runner').toBe(true);

    // The agent's tag reaches the lifecycle handler: busy, and the tier refilled at once.
    await waitFor(
      async () => (await store.getInstance(taker))?.jobStartedAt !== undefined,
      'job-started signal',
    );
    await sandbox.lifecycleIdle();
    await waitFor(async () => (await idle()).length === 2, 'the tier refilled to two idle runners', 30_000);
    await waitFor(() => github.jobState(jobId)?.status === 'completed', 'the job completed', 30_000);
    await sandbox.lifecycleIdle();

    const starts = ec2.calls('StartInstances').length + ec2.calls('CreateFleet').length - startsBefore;
    expect(starts, 'one start for one job').toBe(1);
    expect(await store.getJob(jobId)).toMatchObject({ pickupTier: 'hot' });
    // Pickup was the runner already online: well under a boot's time, even at this time scale.
    const job = await store.getJob(jobId);
    expect(job?.phases.inProgressAt).toBeDefined();
  }, 120_000);
});
