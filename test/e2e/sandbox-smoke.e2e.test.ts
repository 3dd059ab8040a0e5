/**
 * The sandbox stack end to end in its simplest form: the pool warms up through the real tuner,
 * lifecycle handler and agent; one job is queued at the GitHub emulator, its webhook reaches the real
 * webhook handler, an instance is started, the agent takes its JIT config and the runner runs the job;
 * the instance is recycled and the pool refilled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { waitFor } from './support.js';

const config = {
  pools: [
    {
      name: 'linux-x64',
      labels: ['linux', 'x64'],
      architecture: 'x64',
      instanceTypes: ['m7i.large'],
      subnets: ['subnet-0a000000000000001', 'subnet-0b000000000000002'],
      defaultSize: 2,
      maximum: 4,
    },
  ],
};

describe('sandbox stack', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ poolConfig: config, timeScale: 0.02, warmupMs: 20, schedules: false });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it('warms the pool, runs a job on it and refills the pool', async () => {
    const store = sandbox.plane.deps.store;
    await sandbox.runTuner();
    await waitFor(async () => (await store.listReady('linux-x64', 10)).length === 2, 'pool warmed');

    const { jobIds } = await sandbox.github.queueWorkflowRun({
      repository: { owner: 'acme', name: 'app' },
      jobs: [{ labels: ['self-hosted', 'linux', 'x64'], durationMs: 50 }],
    });
    const jobId = jobIds[0] as number;
    await waitFor(async () => sandbox.github.jobState(jobId)?.status === 'completed', 'job completed');
    await waitFor(async () => (await store.getJob(jobId))?.state === 'completed', 'job recorded completed');
    const job = await store.getJob(jobId);
    expect(job?.source).toBe('pool');
    expect(sandbox.github.jobState(jobId)?.conclusion).toBe('success');
    for (const phase of [
      'receivedAt',
      'claimedAt',
      'startIssuedAt',
      'instanceRunningAt',
      'inProgressAt',
      'completedAt',
    ] as const)
      expect(job?.phases[phase], phase).toBeTypeOf('number');

    // Pickup latency reaches the metrics, by pool and source, with every phase of the path.
    const metrics = sandbox.metrics as InMemoryMetrics;
    expect(metrics.recorded.filter((m) => m.name === 'PickupLatency').map((m) => m.dimensions)).toEqual([
      { Pool: 'linux-x64', Source: 'pool' },
    ]);
    const phases = new Set(
      metrics.recorded.filter((m) => m.name === 'PhaseLatency').map((m) => m.dimensions.Phase),
    );
    expect([...phases].sort()).toEqual(['boot', 'claim', 'pickup', 'start', 'webhook']);

    // The job's instance is terminated and a replacement warms up.
    await sandbox.lifecycleIdle();
    await waitFor(async () => (await store.listReady('linux-x64', 10)).length === 2, 'pool refilled');
    expect(sandbox.ec2.instance(job?.provisionedInstance as string)?.state).toMatch(
      /shutting-down|terminated/,
    );
  }, 60_000);
});
