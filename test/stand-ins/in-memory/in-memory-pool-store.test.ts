import { describe, expect, it } from 'vitest';
import { InMemoryPoolStore } from '../../../stand-ins/in-memory/in-memory-pool-store.js';
import {
  describePoolStoreContract,
  instance,
  job,
  ManualClock,
} from '../../contracts/pool-store.contract.js';

describePoolStoreContract('InMemoryPoolStore', async ({ clock }) => ({
  store: new InMemoryPoolStore({ clock }),
  cleanup: async () => {},
}));

describe('InMemoryPoolStore staging', () => {
  it('lets a write staged with beforeNextWrite lose to the competing write', async () => {
    const store = new InMemoryPoolStore({ clock: new ManualClock(0) });
    await store.putInstance(instance({ id: 'i-1' }));
    store.beforeNextWrite(async () => {
      const rival = await store.transitionInstance({
        id: 'i-1',
        from: 'ready',
        expectedVersion: 1,
        to: 'claimed',
        patch: { provisionedFor: 2 },
      });
      expect(rival.kind).toBe('ok');
    });
    const staged = await store.transitionInstance({
      id: 'i-1',
      from: 'ready',
      expectedVersion: 1,
      to: 'claimed',
      patch: { provisionedFor: 1 },
    });
    expect(staged).toStrictEqual({ kind: 'conflict' });
    expect((await store.getInstance('i-1'))?.provisionedFor).toBe(2);

    // The hook ran once: the next write is not intercepted.
    const release = await store.transitionInstance({
      id: 'i-1',
      from: 'claimed',
      expectedVersion: 2,
      to: 'ready',
    });
    expect(release.kind).toBe('ok');
  });

  it('lets a staged create lose to a competing create of the same job', async () => {
    const store = new InMemoryPoolStore();
    store.beforeNextWrite(async () => {
      expect(await store.createJob(job({ id: 8, deliveries: ['rival'] }))).toBe('created');
    });
    expect(await store.createJob(job({ id: 8, deliveries: ['staged'] }))).toBe('exists');
    expect((await store.getJob(8))?.deliveries).toEqual(['rival']);
  });

  it('runs a persistent beforeWrite hook for job updates too', async () => {
    const seen: unknown[] = [];
    const store = new InMemoryPoolStore({ beforeWrite: (target) => void seen.push(target) });
    await store.createJob(job({ id: 3 }));
    await store.updateJob({ id: 3, expectedVersion: 1, to: 'provisioned' });
    expect(seen).toEqual([
      { kind: 'job', id: 3 },
      { kind: 'job', id: 3 },
    ]);
  });

  it('throws an injected fault once and changes nothing', async () => {
    const store = new InMemoryPoolStore();
    const fault = new Error('store unavailable');
    store.failNextWith(fault);
    await expect(store.putInstance(instance({ id: 'i-1' }))).rejects.toBe(fault);
    expect(await store.getInstance('i-1')).toBeUndefined();
  });

  it('returns frozen records', async () => {
    const store = new InMemoryPoolStore();
    await store.createJob(job({ id: 1 }));
    const read = await store.getJob(1);
    expect(Object.isFrozen(read)).toBe(true);
    expect(Object.isFrozen(read?.phases)).toBe(true);
  });
});
