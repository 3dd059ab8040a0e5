/**
 * The JitDelivery contract: what the in-memory fake and the SSM adapter (against the SSM peer) both do.
 * A subject also exposes the instance agent's side (`read`, `take`) so the hand-over is tested end to
 * end: a config delivered to one instance is readable there, once, and by no other instance.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JitDelivery } from '../../scheduler/ports/jit-delivery.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';

export interface JitDeliverySubject {
  readonly delivery: JitDelivery;
  /** What the instance's agent would read, decrypted, without taking it. */
  read(instanceId: string): Promise<string | undefined>;
  /** What the agent does on boot: read the config and delete it. */
  take(instanceId: string): Promise<string | undefined>;
  cleanup(): Promise<void>;
}

const start = Date.UTC(2026, 0, 5, 9, 0, 0);
// Shaped like real encoded JIT configs: long base64, so a prefix of one is not another.
const configFor = (n: number) =>
  Buffer.from(`{"runner":"wpr-${n}","credentials":"${'x'.repeat(40)}${n}"}`).toString('base64');

export function describeJitDeliveryContract(
  name: string,
  make: (context: { clock: FixedClock }) => Promise<JitDeliverySubject>,
): void {
  describe(`JitDelivery contract: ${name}`, () => {
    let subject: JitDeliverySubject;
    let delivery: JitDelivery;
    let clock: FixedClock;

    beforeEach(async () => {
      clock = new FixedClock(start);
      subject = await make({ clock });
      delivery = subject.delivery;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('starts with nothing pending', async () => {
      expect(await delivery.listPending()).toStrictEqual([]);
    });

    it('hands a config to its instance and lists it as pending since the delivery', async () => {
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(1));
      expect(await subject.read('i-0a1b2c3d4e5f60001')).toBe(configFor(1));
      expect(await delivery.listPending()).toStrictEqual([
        { instanceId: 'i-0a1b2c3d4e5f60001', createdAt: start },
      ]);
    });

    it('keeps each instance to its own config', async () => {
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(1));
      clock.advance(1_000);
      await delivery.deliver('i-0a1b2c3d4e5f60002', configFor(2));
      expect(await subject.read('i-0a1b2c3d4e5f60001')).toBe(configFor(1));
      expect(await subject.read('i-0a1b2c3d4e5f60002')).toBe(configFor(2));
      expect(await subject.read('i-0a1b2c3d4e5f60003')).toBeUndefined();
      const pending = await delivery.listPending();
      expect(pending.sort((a, b) => a.createdAt - b.createdAt)).toStrictEqual([
        { instanceId: 'i-0a1b2c3d4e5f60001', createdAt: start },
        { instanceId: 'i-0a1b2c3d4e5f60002', createdAt: start + 1_000 },
      ]);
    });

    it('replaces the config on a redelivery to the same instance', async () => {
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(1));
      clock.advance(5_000);
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(2));
      expect(await subject.read('i-0a1b2c3d4e5f60001')).toBe(configFor(2));
      expect(await delivery.listPending()).toStrictEqual([
        { instanceId: 'i-0a1b2c3d4e5f60001', createdAt: start + 5_000 },
      ]);
    });

    it('is taken once: the agent reads and deletes it, and it is no longer pending', async () => {
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(1));
      expect(await subject.take('i-0a1b2c3d4e5f60001')).toBe(configFor(1));
      expect(await subject.take('i-0a1b2c3d4e5f60001')).toBeUndefined();
      expect(await delivery.listPending()).toStrictEqual([]);
    });

    it('removes a config, and removing one that is gone is not an error', async () => {
      await delivery.deliver('i-0a1b2c3d4e5f60001', configFor(1));
      await delivery.remove('i-0a1b2c3d4e5f60001');
      expect(await subject.read('i-0a1b2c3d4e5f60001')).toBeUndefined();
      await expect(delivery.remove('i-0a1b2c3d4e5f60001')).resolves.toBeUndefined();
      await expect(delivery.remove('i-0a1b2c3d4e5f69999')).resolves.toBeUndefined();
      expect(await delivery.listPending()).toStrictEqual([]);
    });

    it('lists every pending config, however many there are', async () => {
      const ids = Array.from({ length: 57 }, (_, i) => `i-0a1b2c3d4e5f6${String(i).padStart(4, '0')}`);
      for (const [i, id] of ids.entries()) await delivery.deliver(id, configFor(i));
      const pending = await delivery.listPending();
      expect(pending.map((p) => p.instanceId).sort()).toStrictEqual(ids);
    });

    it('refuses an instance id that could name another parameter, and an empty config', async () => {
      await expect(delivery.deliver('../config', configFor(1))).rejects.toThrow();
      await expect(delivery.deliver('i-1/other', configFor(1))).rejects.toThrow();
      await expect(delivery.deliver('', configFor(1))).rejects.toThrow();
      await expect(delivery.deliver('i-0a1b2c3d4e5f60001', '')).rejects.toThrow();
      expect(await delivery.listPending()).toStrictEqual([]);
    });
  });
}
