/**
 * Recovery after a burst, end to end against every peer through the real handlers: 60 jobs arrive
 * while EC2 has no capacity anywhere (every webhook ends pending) and one delivery in ten is lost.
 * Capacity comes back; the reconciler must give every job a runner in one pass — every stuck job is
 * checked in parallel within the GitHub budget, and the lost deliveries are redelivered — where the
 * former cap of twenty checks a run needed three runs (six minutes at the former two-minute
 * cadence). At the deployed cadence of 30 s, recovery is the next pass, not tens of minutes.
 * The 500 jobs are counted in runs by test/core/reconcile.test.ts (one run, against twenty-five
 * with the former cap): this single-process sandbox on a 2-core machine cannot answer 500 webhooks at
 * once inside GitHub's 10 s, so `RECOVERY_JOBS=500` measures the machine more than the reconciler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import { e2eConfig, labels, pool, repository, seeded, waitFor } from './support.js';

const jobs = Number(process.env.RECOVERY_JOBS ?? 60);

const config = e2eConfig(
  { defaultSize: 2 },
  { pendingJobSeconds: 5, claimTimeoutSeconds: 120, reconcileConcurrency: 16 },
);

describe('end to end: recovery after a burst with lost webhooks', () => {
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

  it(`gives all ${jobs} stuck jobs a runner in one reconciler pass once capacity returns`, async () => {
    const { store } = sandbox.plane.deps;
    const { github, ec2 } = sandbox;
    await sandbox.runTuner();
    await waitFor(async () => (await store.listReady(pool, 10)).length === 2, 'pool of 2 warmed');

    ec2.exhaustCapacity();
    github.dropDeliveries(0.1, { random: seeded(11) });
    const runs = await Promise.all(
      Array.from({ length: jobs / 10 }, () =>
        github.queueWorkflowRun({
          repository,
          jobs: Array.from({ length: 10 }, () => ({ labels, durationMs: 100 })),
        }),
      ),
    );
    const jobIds = runs.flatMap((r) => r.jobIds);
    const failed = () =>
      github.deliveryLog().filter((d) => d.statusCode >= 400 && d.action === 'queued').length;
    expect(failed()).toBeGreaterThan(0);
    // Every delivery answered: recorded and pending, or failed (dropped, or timed out on a busy machine).
    await waitFor(
      async () => (await store.listJobs('queued')).length + failed() >= jobIds.length,
      'every delivery answered',
      120_000,
    );

    ec2.restoreCapacity();
    github.dropDeliveries(0);
    // Past the pending delay, as the reconciler sees jobs (its own clock).
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    // One pass for the test's size; the 500 jobs may take a few (each pass stops starting new
    // work before the next one is due), which is still minutes at the 30 s cadence.
    const allowedPasses = jobs <= 60 ? 1 : 4;
    let passes = 0;
    const unserved = async () => {
      const queued = new Set((await store.listJobs('queued')).map((j) => j.id));
      const recorded = await Promise.all(jobIds.map((id) => store.getJob(id)));
      return jobIds.filter((id, i) => recorded[i] === undefined || queued.has(id));
    };
    do {
      await sandbox.runReconciler();
      await sandbox.lifecycleIdle();
      passes++;
    } while ((await unserved()).length > 0 && passes < allowedPasses);
    expect(await unserved(), `jobs without a runner after ${passes} pass(es)`).toEqual([]);
    if (process.env.RECOVERY_JOBS !== undefined) console.log(`recovery: ${jobs} jobs, ${passes} pass(es)`);

    // And every job then runs, each once.
    await waitFor(
      async () => jobIds.every((id) => github.jobState(id)?.status === 'completed'),
      'every job ran',
      120_000,
    );
    const runners = jobIds.map((id) => github.jobState(id)?.runnerName);
    expect(new Set(runners).size).toBe(jobIds.length);
  }, 240_000);
});
