import { describe, expect, it } from 'vitest';
import { StaticConfigSource } from '../../../stand-ins/in-memory/static-config-source.js';
import { describeConfigSourceContract, poolsDocument } from '../../contracts/config-source.contract.js';

describeConfigSourceContract('StaticConfigSource', async ({ clock, initial, ttlMs }) => {
  const source = new StaticConfigSource(initial, { clock, ttlMs });
  return {
    source,
    publish: async (document) => {
      source.set(document);
    },
    cleanup: async () => {},
  };
});

describe('StaticConfigSource without a TTL', () => {
  it('sees each set document on the next load, and says at once whether it will be accepted', async () => {
    const source = new StaticConfigSource(poolsDocument({ defaultSize: 1 }));
    expect((await source.load()).pools[0]?.defaultSize).toBe(1);
    expect(source.set(poolsDocument({ defaultSize: 7 })).ok).toBe(true);
    expect((await source.load()).pools[0]?.defaultSize).toBe(7);
    const rejected = source.set(poolsDocument({ defaultSize: 99, maximum: 10 }));
    expect(rejected.ok).toBe(false);
    expect((await source.load()).pools[0]?.defaultSize).toBe(7);
    expect(source.lastRejection()?.problems).toStrictEqual(rejected.ok ? [] : rejected.problems);
  });
});
