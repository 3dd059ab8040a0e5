/**
 * The Events contract: what InMemoryEvents and EventBridgeEvents (against the EventBridge peer) both do.
 * Publishing is best effort: refused events are counted, never thrown. Subscribers see each published
 * event whole; across batches the order is not promised (EventBridge does not promise it either).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DomainEvent, Events } from '../../scheduler/ports/events.js';

export interface EventsSubject {
  readonly events: Events;
  /** What a subscriber to the bus has received. */
  received(): Promise<DomainEvent[]>;
  /** The next `count` events are refused by the bus, for good (not a transient error). */
  refuseNext(count: number): void;
  /** Events reported as not published. */
  failures(): number;
  cleanup(): Promise<void>;
}

export const sampleEvents: readonly DomainEvent[] = [
  {
    type: 'JobProvisioned',
    jobId: 9_001,
    pool: 'linux-x64',
    instanceId: 'i-0a1b2c3d4e5f60001',
    source: 'pool',
  },
  { type: 'JobPending', jobId: 9_002, pool: 'linux-x64', reason: 'pool empty, fallback exhausted' },
  {
    type: 'FallbackTaken',
    jobId: 9_003,
    pool: 'linux-x64',
    step: 'spot',
    reason: 'InsufficientInstanceCapacity',
  },
  {
    type: 'InstanceRecycled',
    instanceId: 'i-0a1b2c3d4e5f60002',
    pool: 'linux-x64',
    replacementLaunched: true,
  },
  { type: 'InstanceRetired', instanceId: 'i-0a1b2c3d4e5f60003', pool: 'linux-x64', reason: 'outdated spec' },
  { type: 'PoolResized', pool: 'linux-x64', target: 6, launched: 4, retired: 0 },
  { type: 'OrphanReaped', kind: 'jit-config', id: 'i-0a1b2c3d4e5f60004', reason: 'instance gone' },
  { type: 'JobReprovisioned', jobId: 9_004, pool: 'linux-x64', reason: 'no runner after 60 s' },
  { type: 'DeliveryRedelivered', deliveryId: 12_345_678, guid: '0b9a7c30-1f2e-11ef-8d4a-5c1b2a3d4e5f' },
  {
    type: 'CostReport',
    day: '2026-01-05',
    currency: 'USD',
    totalCents: 1_234,
    jobs: 42,
    jobsWithoutUsage: 1,
    instanceSeconds: { pool: 3_600, spot: 1_200, 'on-demand': 60 },
    overhead: [{ category: 'warmup', seconds: 600, usd: 0.0168 }],
    repositories: [
      { repository: 'acme/widgets', costCents: 1_000, jobs: 40 },
      { repository: 'other', costCents: 234, jobs: 2 },
    ],
    organizations: [{ organization: 'acme', costCents: 1_234, jobs: 42 }],
    assumptions: [],
  },
];

const byContent = (events: readonly DomainEvent[]) => [...events].map((e) => JSON.stringify(e)).sort();

export function describeEventsContract(name: string, make: () => Promise<EventsSubject>): void {
  describe(`Events contract: ${name}`, () => {
    let subject: EventsSubject;

    beforeEach(async () => {
      subject = await make();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('delivers every kind of event whole', async () => {
      await subject.events.publish(sampleEvents);
      expect(byContent(await subject.received())).toStrictEqual(byContent(sampleEvents));
      expect(subject.failures()).toBe(0);
    });

    it('delivers a burst larger than one call carries', async () => {
      const burst: DomainEvent[] = Array.from({ length: 23 }, (_, i) => ({
        type: 'JobProvisioned',
        jobId: 10_000 + i,
        pool: 'linux-x64',
        instanceId: `i-0a1b2c3d4e5f6${String(i).padStart(4, '0')}`,
        source: 'pool',
      }));
      await subject.events.publish(burst);
      expect(byContent(await subject.received())).toStrictEqual(byContent(burst));
    });

    it('publishes nothing for an empty list', async () => {
      await subject.events.publish([]);
      expect(await subject.received()).toStrictEqual([]);
      expect(subject.failures()).toBe(0);
    });

    it('counts refused events instead of throwing, and delivers the rest', async () => {
      subject.refuseNext(2);
      await expect(subject.events.publish(sampleEvents.slice(0, 5))).resolves.toBeUndefined();
      expect(subject.failures()).toBe(2);
      expect(byContent(await subject.received())).toStrictEqual(byContent(sampleEvents.slice(2, 5)));
    });
  });
}
