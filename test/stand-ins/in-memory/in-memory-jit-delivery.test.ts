import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';
import { InMemoryJitDelivery } from '../../../stand-ins/in-memory/in-memory-jit-delivery.js';
import { describeJitDeliveryContract } from '../../contracts/jit-delivery.contract.js';

describeJitDeliveryContract('InMemoryJitDelivery', async ({ clock }) => {
  const delivery = new InMemoryJitDelivery(clock);
  return {
    delivery,
    read: async (id) => delivery.read(id),
    take: async (id) => delivery.take(id),
    cleanup: async () => {},
  };
});

describe('InMemoryJitDelivery test controls', () => {
  it('fails the next call of an operation once, then works again', async () => {
    const delivery = new InMemoryJitDelivery(new FixedClock());
    delivery.failNext('deliver', new Error('throttled'));
    await expect(delivery.deliver('i-1', 'config')).rejects.toThrow('throttled');
    expect(delivery.read('i-1')).toBeUndefined();
    await delivery.deliver('i-1', 'config');
    expect(delivery.read('i-1')).toBe('config');
    expect(delivery.deliveryCount()).toBe(1);
  });
});
