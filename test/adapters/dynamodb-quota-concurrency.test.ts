/**
 * Quotas under concurrent webhooks, through the real use case on the DynamoDB adapter (dynalite): many
 * `queued` webhooks of two repositories of one organization arrive at once; the repository quota (3)
 * and the organization quota (5) each hold exactly — never one more runner — and every job over them
 * waits, recorded on its job and on the counter, none dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbPoolStore } from '../../scheduler/adapters/dynamodb-pool-store.js';
import { launchPoolInstances } from '../../scheduler/core/recycle.js';
import type { Repository, WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import { type DynalitePeer, startDynalite } from '../../stand-ins/aws/dynalite.js';
import { makeHarness, subnetA, subnetB, testConfig } from '../core/support.js';

const labels = ['self-hosted', 'linux', 'x64'];
const repositories: Repository[] = [
  { owner: 'acme', name: 'widgets' },
  { owner: 'acme', name: 'gadgets' },
];
const perRepository = 8;

describe('quotas under concurrent webhooks (DynamoDbPoolStore on dynalite)', () => {
  let peer: DynalitePeer;
  beforeAll(async () => {
    peer = await startDynalite();
  });
  afterAll(async () => {
    await peer.close();
  });

  it('never lets racing webhooks pass a repository or organization quota', async () => {
    const config = testConfig({
      maximum: 20,
      quotas: { repository: { instances: 3 }, organization: { instances: 5 } },
    });
    const h = makeHarness({ config });
    const store = new DynamoDbPoolStore({
      client: peer.client,
      tableName: await peer.createTable(),
      clock: h.clock,
    });
    const deps = { ...h.deps, store };
    // Plenty of warm instances: only the quotas can hold jobs back.
    const subnets = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? subnetA : subnetB));
    await launchPoolInstances(deps, 'linux-x64', config, subnets, 'seed');
    for (const instance of await store.listPoolInstances('linux-x64')) {
      h.compute.markRunning(instance.id);
      h.compute.powerOff(instance.id);
      await store.transitionInstance({ id: instance.id, from: 'launching', expectedVersion: 1, to: 'ready' });
    }

    const events: WorkflowJobEvent[] = [];
    for (let n = 0; n < perRepository; n++)
      for (const repository of repositories) {
        const job = h.github.queueJob({ repository, labels });
        const queued = h.github.takeEvents().find((e) => e.jobId === job.id && e.action === 'queued');
        if (queued) events.push(queued);
      }
    const now = h.clock.now();
    const outcomes = await Promise.all(
      events.map((event) =>
        handleWorkflowJob(deps, { config, deadline: now + 60_000, receivedAt: now }, event),
      ),
    );

    const provisioned = outcomes.filter((o) => o.kind === 'provisioned');
    expect(provisioned).toHaveLength(5);
    const byRepository = (name: string) =>
      events.filter((e, i) => e.repository.name === name && outcomes[i]?.kind === 'provisioned').length;
    expect(byRepository('widgets')).toBeLessThanOrEqual(3);
    expect(byRepository('gadgets')).toBeLessThanOrEqual(3);
    expect(outcomes.filter((o) => o.kind === 'pending' && o.reason.startsWith('quota:'))).toHaveLength(
      events.length - 5,
    );

    const counters = Object.fromEntries((await store.listQuotas('linux-x64')).map((q) => [q.key, q]));
    expect(counters['org#acme']?.count).toBe(5);
    expect(counters['repo#acme/widgets']?.count).toBe(byRepository('widgets'));
    expect(counters['repo#acme/gadgets']?.count).toBe(byRepository('gadgets'));
    // The instances agree: five hold a unit of the organization, each of its repository.
    const holding = (await store.listPoolInstances('linux-x64')).filter((i) => i.quotaHolds !== undefined);
    expect(holding).toHaveLength(5);
    expect(holding.every((i) => i.quotaHolds?.includes('org#acme'))).toBe(true);
    // Every job held back is queued, says why, and is listed to be woken.
    const waiting = events.filter((_, i) => outcomes[i]?.kind === 'pending').map((e) => e.jobId);
    for (const jobId of waiting) {
      const job = await store.getJob(jobId);
      expect(job?.state).toBe('queued');
      expect(job?.quotaWait).toBeDefined();
    }
    const listed = Object.values(counters).flatMap((q) => q.waiting);
    expect(listed.sort()).toEqual([...waiting].sort());
  }, 120_000);
});
