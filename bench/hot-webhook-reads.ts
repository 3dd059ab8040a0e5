/**
 * `npx tsx bench/hot-webhook-reads.ts`: what one `queued` webhook of a pool with a hot tier reads from
 * the store, against the backlog of waiting jobs (this pool's and another's).
 *
 * The webhook runs the real use case (`handleWorkflowJob`) over the in-memory store, wrapped so that
 * every call and every record it returns is counted. Two idle hot runners wait; the job takes one and
 * its one start is a refill of the tier. For comparison, "balance by backlog" is what the balance read
 * before the pool's view of waiting jobs: `listJobs('queued')` and `listJobs('provisioned')` of every
 * pool, on every such webhook (and on every `in_progress` and job-started tag that refilled the tier).
 */

import { validatePoolsConfig } from '../scheduler/core/pool-config.js';
import type { InstanceRecord, JobRecord } from '../scheduler/core/types.js';
import { handleWorkflowJob } from '../scheduler/core/workflow-job.js';
import type { PoolStore } from '../scheduler/ports/pool-store.js';
import { FixedClock } from '../stand-ins/in-memory/fixed-clock.js';
import { InMemoryCompute } from '../stand-ins/in-memory/in-memory-compute.js';
import { InMemoryEvents } from '../stand-ins/in-memory/in-memory-events.js';
import { InMemoryGitHub } from '../stand-ins/in-memory/in-memory-github.js';
import { InMemoryJitDelivery } from '../stand-ins/in-memory/in-memory-jit-delivery.js';
import { InMemoryMetrics } from '../stand-ins/in-memory/in-memory-metrics.js';
import { InMemoryPoolStore } from '../stand-ins/in-memory/in-memory-pool-store.js';

const now = Date.UTC(2026, 0, 5, 10, 0, 0); // a Monday, 10:00 UTC
const subnetZones = { 'subnet-0000000a': 'us-east-1a' };
const repository = { owner: 'acme', name: 'app' };

const validated = validatePoolsConfig({
  pools: [
    {
      name: 'linux-x64',
      labels: ['linux', 'x64'],
      architecture: 'x64',
      instanceTypes: ['m7i.large'],
      subnets: ['subnet-0000000a'],
      defaultSize: 0,
      maximum: 10,
      hot: {
        maximum: 2,
        windows: [{ days: ['mon'], from: '08:00', to: '18:00', timezone: 'UTC', max: 2 }],
        fill: ['spot'],
      },
    },
    {
      name: 'linux-arm64',
      labels: ['linux', 'arm64'],
      architecture: 'arm64',
      instanceTypes: ['m7g.large'],
      subnets: ['subnet-0000000a'],
      defaultSize: 0,
      maximum: 10,
    },
  ],
});
if (!validated.ok) throw new Error(validated.problems.join('\n'));
const config = validated.config;

interface Reads {
  calls: number;
  records: number;
}

/** The store, counting every read call and the records it returns. */
function counting(store: PoolStore, reads: Reads): PoolStore {
  const readMethods = new Set([
    'getInstance',
    'getJob',
    'getMarker',
    'listReady',
    'listPoolInstances',
    'listLiveInstances',
    'listJobs',
    'listWaitingJobs',
  ]);
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || !readMethods.has(String(key))) return value;
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        reads.calls++;
        reads.records += Array.isArray(result) ? result.length : result === undefined ? 0 : 1;
        return result;
      };
    },
  });
}

function waitingJob(id: number, pool: string): JobRecord {
  return {
    id,
    runId: id,
    repository,
    labels: pool === 'linux-x64' ? ['linux', 'x64'] : ['linux', 'arm64'],
    pool,
    state: id % 2 === 0 ? 'queued' : 'provisioned',
    version: 1,
    phases: { createdAt: now - 60_000, receivedAt: now - 59_000 },
    attempts: [],
    reprovisions: 0,
    deliveries: [`d-${id}`],
    updatedAt: now - 59_000,
  };
}

function idleHotRunner(id: string): InstanceRecord {
  return {
    id,
    pool: 'linux-x64',
    state: 'idle',
    version: 3,
    role: 'ephemeral',
    market: 'spot',
    instanceType: 'm7i.large',
    subnetId: 'subnet-0000000a',
    availabilityZone: 'us-east-1a',
    spec: 'spec',
    launchedAt: now - 600_000,
    stateChangedAt: now - 500_000,
    tier: 'hot',
    idleAt: now - 500_000,
    runnerName: `wpr-${id}`,
  };
}

async function measure(backlog: number): Promise<{ webhook: Reads; byBacklog: Reads }> {
  const clock = new FixedClock(now);
  const store = new InMemoryPoolStore({ clock });
  for (const id of ['i-0000000000000001a', 'i-0000000000000002a']) await store.putInstance(idleHotRunner(id));
  // The backlog: half waits in the hot pool (the tier is short of it), half in the other pool.
  for (let i = 0; i < backlog; i++)
    await store.createJob(waitingJob(10_000 + i, i % 2 === 0 ? 'linux-x64' : 'linux-arm64'));
  const webhook: Reads = { calls: 0, records: 0 };
  const deps = {
    store: counting(store, webhook),
    compute: new InMemoryCompute({ clock, subnetZones }),
    github: new InMemoryGitHub({ clock }),
    jit: new InMemoryJitDelivery(clock),
    clock,
    metrics: new InMemoryMetrics(),
    events: new InMemoryEvents(),
    random: () => 0.5,
    runners: { owners: [{ owner: 'acme', scope: 'org' as const, namePrefix: 'wpr' }] },
  };
  await handleWorkflowJob(
    deps,
    { config, deadline: now + 8_000, receivedAt: now },
    {
      deliveryId: 'queued-1',
      action: 'queued',
      jobId: 1,
      runId: 1,
      repository,
      labels: ['linux', 'x64'],
      createdAt: now - 1_000,
    },
  );
  const byBacklog: Reads = { calls: 2, records: 0 };
  byBacklog.records = (await store.listJobs('queued')).length + (await store.listJobs('provisioned')).length;
  return { webhook, byBacklog };
}

console.log(
  'one `queued` webhook of a hot-tier pool (two idle hot runners; the job takes one, one refill):\n',
);
console.log(
  'waiting jobs (both pools) | store reads now: calls / records | before (+ the balance by backlog)',
);
for (const backlog of [0, 100, 1_000, 5_000]) {
  const { webhook, byBacklog } = await measure(backlog);
  const before = `${webhook.calls + byBacklog.calls} / ${webhook.records + byBacklog.records}`;
  console.log(
    `${String(backlog).padStart(25)} | ${`${webhook.calls} / ${webhook.records}`.padStart(33)} | ${before.padStart(31)}`,
  );
}
