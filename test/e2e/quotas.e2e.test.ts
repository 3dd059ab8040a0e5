/**
 * Quotas end to end against every peer through the real handlers: the repository may hold one
 * instance at a time, and a run queues two of its jobs at once. The second job's webhook records it
 * waiting (queued, its quota and figures on the job, an event on the bus), `GET /api/state` and
 * `runners status` show it, and it is served once the first job completes and its instance is
 * recycled — without the reconciler. A sized job of another repository resizes its warm instance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusCommand } from '../../bin/cli/status-command.js';
import { mountApi } from '../../bin/sandbox/server-api.js';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { e2eConfig, labels, pool, repository, waitFor } from './support.js';

const config = e2eConfig(
  {
    defaultSize: 3,
    quotas: { repository: { instances: 1 } },
    sizes: { large: { instanceType: 'm7i.2xlarge' } },
  },
  {},
);

describe('end to end: a repository over its quota waits, then is served', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({
      poolConfig: config,
      timeScale: 0.02,
      warmupMs: 20,
      schedules: false,
      logLevel: 'ERROR',
    });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it('records the second job waiting, shows it, and serves it when the first completes', async () => {
    const { store } = sandbox.plane.deps;
    const api = mountApi({
      sandbox,
      recorded: () => (sandbox.metrics as InMemoryMetrics).recorded,
      clock: { now: () => Date.now() },
      info: { speed: 50, demo: false },
    });
    try {
      await sandbox.runTuner();
      await waitFor(async () => (await store.listReady(pool, 10)).length === 3, 'pool of 3 warmed');

      const { jobIds } = await sandbox.github.queueWorkflowRun({
        repository,
        jobs: [
          { labels, durationMs: 1_500 },
          { labels, durationMs: 50 },
        ],
      });
      const [first, second] = jobIds as [number, number];
      // Whichever webhook came second waits.
      await waitFor(
        async () => [await store.getJob(first), await store.getJob(second)].some((j) => j?.quotaWait),
        'one job waiting on the quota',
      );
      const waiting = (await store.getJob(first))?.quotaWait ? first : second;
      const served = waiting === first ? second : first;
      expect((await store.getJob(waiting))?.quotaWait).toMatchObject({
        quota: 'repository',
        subject: 'acme/app',
        limit: 1,
        held: 1,
      });

      const state = (await (await fetch(`${sandbox.url}/api/state`)).json()) as {
        waitingOnQuota: unknown[];
      };
      expect(state.waitingOnQuota).toEqual([
        expect.objectContaining({
          pool,
          quota: 'repository',
          subject: 'acme/app',
          limit: 1,
          held: 1,
          jobs: 1,
        }),
      ]);
      let printed = '';
      await statusCommand(
        { sandbox: sandbox.url },
        {
          out: (t) => (printed += t),
          err: () => {},
          env: {},
          interactive: false,
          confirm: async () => false,
          fetch,
        },
      );
      expect(printed).toMatch(/Waiting on quotas[\s\S]*linux-x64 +repository +acme\/app +1\/1 +1/);

      const busEvents = sandbox.events
        .events('wpr-events')
        .filter((e) => e.detailType === 'JobWaitingOnQuota')
        .map((e) => e.detail as { jobId: number; quota: string });
      expect(busEvents).toContainEqual(expect.objectContaining({ jobId: waiting, quota: 'repository' }));

      // No reconciler runs in this sandbox (schedules off): only the release of the first runner can
      // serve the job that waits. GitHub may hand that runner to either job; the other then waits for it.
      for (const id of [served, waiting]) {
        await waitFor(
          async () => sandbox.github.jobState(id)?.status === 'completed',
          `job ${id} done`,
          30_000,
        );
        await waitFor(async () => (await store.getJob(id))?.state === 'completed', `job ${id} recorded`);
        expect((await store.getJob(id))?.quotaWait).toBeUndefined();
      }
      expect(busEvents.every((e) => e.jobId === first || e.jobId === second)).toBe(true);
      await sandbox.lifecycleIdle();
      const counters = await store.listQuotas(pool);
      expect(counters).toEqual([expect.objectContaining({ key: 'repo#acme/app', count: 0, waiting: [] })]);
    } finally {
      api.close();
    }
  }, 90_000);

  it('resizes a warm instance for a sized job and runs it on that type', async () => {
    const { store } = sandbox.plane.deps;
    await waitFor(async () => (await store.listReady(pool, 10)).length >= 1, 'a ready instance');
    const { jobIds } = await sandbox.github.queueWorkflowRun({
      repository: { owner: 'acme', name: 'big' },
      jobs: [{ labels: [...labels, 'large'], durationMs: 50 }],
    });
    const jobId = jobIds[0] as number;
    await waitFor(
      async () => sandbox.github.jobState(jobId)?.status === 'completed',
      'sized job done',
      30_000,
    );
    await waitFor(async () => (await store.getJob(jobId))?.state === 'completed', 'recorded completed');
    const job = await store.getJob(jobId);
    expect(job?.source).toBe('pool-resized');
    expect(sandbox.ec2.instance(job?.provisionedInstance ?? '')?.instanceType).toBe('m7i.2xlarge');
  }, 60_000);
});
