/**
 * The PoolStore's cost-usage part of the contract: ranged, paged job queries and the daily usage
 * counter. Called from describePoolStoreContract, so the in-memory fake and the DynamoDB adapter on
 * dynalite both pass it.
 */
import { describe, expect, it } from 'vitest';
import type { OverheadUsage } from '../../scheduler/core/cost-usage.js';
import type { JobRecord } from '../../scheduler/core/types.js';
import type { PoolStore } from '../../scheduler/ports/pool-store.js';

export function describeUsageContract(
  subject: () => { store: PoolStore; advance: (ms: number) => void; start: number },
  job: (overrides: Partial<JobRecord> & Pick<JobRecord, 'id'>) => JobRecord,
): void {
  const line = (overrides: Partial<OverheadUsage>): OverheadUsage => ({
    pool: 'linux-x64',
    category: 'warmup',
    market: 'pool',
    instanceType: 'm7i.large',
    seconds: 60,
    ...overrides,
  });

  describe('cost usage', () => {
    it('pages the jobs of a state updated in [from, to), oldest first, until no cursor is left', async () => {
      const { store, start } = subject();
      for (let id = 1; id <= 7; id++)
        await store.createJob(job({ id, state: 'completed', updatedAt: start + id * 1_000 }));
      await store.createJob(job({ id: 8, state: 'running', updatedAt: start + 3_500 }));
      await store.createJob(job({ id: 9, state: 'completed', updatedAt: start + 9_000 }));

      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listJobsUpdated({
          state: 'completed',
          from: start + 2_000,
          to: start + 8_000,
          pageSize: 2,
          ...(cursor !== undefined && { cursor }),
        });
        expect(page.jobs.length).toBeLessThanOrEqual(2);
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined && pages < 10);
      // `to` is exclusive (job 8 is running, job 9 and 1 outside the range).
      expect(seen).toEqual([2, 3, 4, 5, 6, 7]);
      const all = await store.listJobsUpdated({ state: 'completed', from: start, to: start + 10_000 });
      expect(all.jobs.map((j) => j.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 9]);
      expect(all.cursor).toBeUndefined();
      expect((await store.listJobsUpdated({ state: 'completed', from: start, to: start })).jobs).toEqual([]);
    });

    it('refuses a cursor it did not hand out and a page size out of range', async () => {
      const { store, start } = subject();
      await expect(
        store.listJobsUpdated({ state: 'completed', from: start, to: start + 1, cursor: 'not-a-cursor' }),
      ).rejects.toThrow(/cursor/);
      await expect(
        store.listJobsUpdated({ state: 'completed', from: start, to: start + 1, pageSize: 0 }),
      ).rejects.toThrow(/pageSize/);
    });

    it('adds usage lines up per (pool, category, market, type) and reads the day back', async () => {
      const { store } = subject();
      expect(await store.getUsage('2026-01-05')).toEqual([]);
      await store.addUsage('2026-01-05', [
        line({}),
        line({ seconds: 30 }),
        line({ category: 'storage', seconds: 900 }),
      ]);
      await store.addUsage('2026-01-05', [
        line({ seconds: 10 }),
        line({ market: 'spot', instanceType: 'm7g.large', category: 'hot-idle', seconds: 5 }),
      ]);
      await store.addUsage('2026-01-06', [line({ pool: 'arm', seconds: 7 })]);
      const day = await store.getUsage('2026-01-05');
      expect([...day].sort((a, b) => a.category.localeCompare(b.category))).toEqual([
        line({ market: 'spot', instanceType: 'm7g.large', category: 'hot-idle', seconds: 5 }),
        line({ category: 'storage', seconds: 900 }),
        line({ seconds: 100 }),
      ]);
      expect(await store.getUsage('2026-01-06')).toEqual([line({ pool: 'arm', seconds: 7 })]);
    });

    it('loses no seconds to concurrent adds', async () => {
      const { store } = subject();
      await Promise.all(
        Array.from({ length: 20 }, () => store.addUsage('2026-01-05', [line({ seconds: 3 })])),
      );
      expect(await store.getUsage('2026-01-05')).toEqual([line({ seconds: 60 })]);
    });

    it('refuses a bad day or line and writes nothing', async () => {
      const { store } = subject();
      await expect(store.addUsage('2026-13-01', [line({})])).rejects.toThrow(/not a day/);
      await expect(store.addUsage('2026-01-05', [line({}), line({ seconds: -1 })])).rejects.toThrow(
        /seconds/,
      );
      await expect(store.addUsage('2026-01-05', [line({ pool: 'a|b' })])).rejects.toThrow(/pool/);
      await expect(store.getUsage('yesterday')).rejects.toThrow(/not a day/);
      expect(await store.getUsage('2026-01-05')).toEqual([]);
    });

    it('keeps a job usage patch and its updatedAt when the patch gives it', async () => {
      const { store, start, advance } = subject();
      await store.createJob(job({ id: 31, state: 'completed', updatedAt: start + 5 }));
      advance(60_000);
      const usage = {
        instanceId: 'i-0abc',
        pool: 'linux-x64',
        market: 'spot' as const,
        instanceType: 'm7i.large',
        source: 'spot' as const,
        seconds: 95,
        endedAt: start + 60_000,
      };
      const written = await store.updateJob({
        id: 31,
        expectedVersion: 1,
        patch: { usage, updatedAt: start + 5 },
      });
      expect(written.kind).toBe('ok');
      expect((await store.getJob(31))?.usage).toEqual(usage);
      const page = await store.listJobsUpdated({ state: 'completed', from: start, to: start + 10 });
      expect(page.jobs.map((j) => j.usage?.seconds)).toEqual([95]);
    });
  });
}
