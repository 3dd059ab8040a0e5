/**
 * The ConfigSource contract: what StaticConfigSource and SsmConfigSource (against the SSM peer) both do.
 * The subject is made with a first document and a TTL; `publish` writes a new document where the source
 * reads it (the SSM parameter, or the fake's `set`), and the clock decides when the cache expires.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidPoolConfigError } from '../../scheduler/core/pool-config.js';
import type { ConfigSource } from '../../scheduler/ports/config-source.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';

export interface ConfigSourceSubject {
  readonly source: ConfigSource;
  /** Writes a new document: JSON text as is, anything else serialized as JSON. */
  publish(document: unknown): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ConfigSourceSetup {
  readonly clock: FixedClock;
  /** The document in place when the source is made (JSON text or a value). */
  readonly initial: unknown;
  readonly ttlMs: number;
}

const start = Date.UTC(2026, 0, 5, 9, 0, 0);
const ttlMs = 30_000;

export function poolsDocument(overrides: { defaultSize?: number; maximum?: number } = {}) {
  return {
    pools: [
      {
        name: 'linux-x64',
        labels: ['self-hosted', 'linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: ['subnet-0123abcd', 'subnet-4567ef01'],
        defaultSize: overrides.defaultSize ?? 2,
        maximum: overrides.maximum ?? 10,
        schedule: [
          {
            days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            from: '08:00',
            to: '18:00',
            timezone: 'Europe/Paris',
            size: 6,
          },
        ],
      },
    ],
  };
}

export function describeConfigSourceContract(
  name: string,
  make: (setup: ConfigSourceSetup) => Promise<ConfigSourceSubject>,
): void {
  describe(`ConfigSource contract: ${name}`, () => {
    let subject: ConfigSourceSubject | undefined;
    let clock: FixedClock;

    const setUp = async (initial: unknown) => {
      clock = new FixedClock(start);
      subject = await make({ clock, initial, ttlMs });
      return subject;
    };
    afterEach(async () => {
      await subject?.cleanup();
      subject = undefined;
    });

    it('loads a valid document with its defaults filled in', async () => {
      const { source } = await setUp(poolsDocument());
      const config = await source.load();
      expect(config.pools.map((p) => p.name)).toStrictEqual(['linux-x64']);
      expect(config.pools[0]?.volumeSizeGb).toBe(30);
      expect(config.pools[0]?.fallback).toStrictEqual({
        resize: true,
        spot: true,
        onDemand: true,
        rerunInterrupted: true,
      });
      expect(config.settings.claimTimeoutSeconds).toBe(600);
      expect(source.lastRejection()).toBeUndefined();
    });

    it('accepts the document as JSON text, as it is stored', async () => {
      const { source } = await setUp(JSON.stringify(poolsDocument({ defaultSize: 3 })));
      expect((await source.load()).pools[0]?.defaultSize).toBe(3);
    });

    it('serves the cached config until the TTL, then the new one', async () => {
      const { source, publish } = await setUp(poolsDocument({ defaultSize: 2 }));
      expect((await source.load()).pools[0]?.defaultSize).toBe(2);
      await publish(poolsDocument({ defaultSize: 5 }));
      clock.advance(ttlMs - 1);
      expect((await source.load()).pools[0]?.defaultSize).toBe(2);
      clock.advance(1);
      expect((await source.load()).pools[0]?.defaultSize).toBe(5);
    });

    it('keeps the last good config when a newer document is invalid, and reports why', async () => {
      const { source, publish } = await setUp(poolsDocument({ defaultSize: 2 }));
      const good = await source.load();
      await publish(poolsDocument({ defaultSize: 40, maximum: 20 }));
      clock.advance(ttlMs);
      expect(await source.load()).toStrictEqual(good);
      expect(source.lastRejection()).toStrictEqual({
        at: start + ttlMs,
        problems: [expect.stringMatching(/^pool "linux-x64": defaultSize: 40 is over its maximum 20/)],
      });
    });

    it('reports a rejected document once, at the time it was first read', async () => {
      const { source, publish } = await setUp(poolsDocument());
      await source.load();
      await publish('{"pools": [');
      clock.advance(ttlMs);
      await source.load();
      const first = source.lastRejection();
      expect(first?.at).toBe(start + ttlMs);
      expect(first?.problems).toHaveLength(1);
      expect(first?.problems[0]).toMatch(/^\(root\): not valid JSON/);
      clock.advance(ttlMs);
      await source.load();
      expect(source.lastRejection()).toStrictEqual(first);
    });

    it('takes a corrected document after a rejected one, and clears the rejection', async () => {
      const { source, publish } = await setUp(poolsDocument({ defaultSize: 2 }));
      await source.load();
      await publish({ pools: 'none' });
      clock.advance(ttlMs);
      expect((await source.load()).pools[0]?.defaultSize).toBe(2);
      expect(source.lastRejection()?.at).toBe(start + ttlMs);
      await publish(poolsDocument({ defaultSize: 4 }));
      clock.advance(ttlMs);
      expect((await source.load()).pools[0]?.defaultSize).toBe(4);
      // Nothing is wrong any more: the dashboard and the tuner's log stop reporting it.
      expect(source.lastRejection()).toBeUndefined();
    });

    it('throws InvalidPoolConfigError, with every problem, when no document was ever good', async () => {
      const doc = poolsDocument({ defaultSize: 40, maximum: 20 });
      const invalid = { ...doc, pools: [{ ...doc.pools[0], subnets: ['vpc-1'] }] };
      const { source, publish } = await setUp(invalid);
      const error = await source.load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidPoolConfigError);
      // Every problem at once, each naming the pool and the field (the wording is the schema's).
      const { problems } = error as InvalidPoolConfigError;
      expect(problems).toHaveLength(2);
      expect(problems).toStrictEqual(
        expect.arrayContaining([
          expect.stringMatching(/^pool "linux-x64": subnets\[0\]: is not a subnet id/),
          expect.stringMatching(/^pool "linux-x64": defaultSize: 40 is over its maximum 20/),
        ]),
      );
      expect(source.lastRejection()?.problems).toStrictEqual(problems);
      // Still nothing good after the TTL: still an error, until a good document arrives.
      clock.advance(ttlMs);
      await expect(source.load()).rejects.toBeInstanceOf(InvalidPoolConfigError);
      await publish(poolsDocument());
      clock.advance(ttlMs);
      expect((await source.load()).pools).toHaveLength(1);
    });
  });
}
