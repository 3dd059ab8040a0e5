import { describe, expect, it } from 'vitest';
import { InMemoryEvents } from '../../../stand-ins/in-memory/in-memory-events.js';
import { describeEventsContract, sampleEvents } from '../../contracts/events.contract.js';

describeEventsContract('InMemoryEvents', async () => {
  const events = new InMemoryEvents();
  return {
    events,
    received: async () => events.published,
    refuseNext: (count) => events.failNext(count),
    failures: () => events.failed(),
    cleanup: async () => {},
  };
});

describe('InMemoryEvents', () => {
  it('narrows by type and keeps its own copy of each event', async () => {
    const events = new InMemoryEvents();
    const resized = { type: 'PoolResized' as const, pool: 'linux-x64', target: 3, launched: 1, retired: 0 };
    await events.publish([...sampleEvents.slice(0, 2), resized]);
    resized.target = 99;
    expect(events.ofType('PoolResized')).toStrictEqual([{ ...resized, target: 3 }]);
    expect(events.ofType('JobPending').map((e) => e.jobId)).toStrictEqual([9_002]);
  });
});
