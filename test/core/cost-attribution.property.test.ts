import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CostAccumulator,
  largestRemainder,
  topRepositories,
  unattributedRepository,
} from '../../scheduler/core/cost-attribution.js';
import type { CostMarket, JobUsage, OverheadUsage } from '../../scheduler/core/cost-usage.js';
import { ebsUsdPerSecond } from '../../scheduler/core/prices.js';
import type { Repository } from '../../scheduler/core/types.js';

const pools = ['linux-x64', 'linux-arm64', 'gpu'];
const markets: CostMarket[] = ['pool', 'spot', 'on-demand'];
const types = ['m7i.large', 'm7g.large', 'c7g.large', 'x9.unlisted'];

const jobArb = fc.record({
  repository: fc.record({
    owner: fc.constantFrom('acme', 'globex', 'initech'),
    name: fc.constantFrom('web', 'api', 'infra', 'docs', 'ml'),
  }),
  usage: fc.option(
    fc.record({
      instanceId: fc.constant('i-0abc'),
      pool: fc.constantFrom(...pools),
      market: fc.constantFrom(...markets),
      instanceType: fc.constantFrom(...types),
      seconds: fc.oneof(fc.constant(0), fc.integer({ min: 60, max: 200_000 })),
      endedAt: fc.constant(0),
    }),
    { nil: undefined },
  ),
});

const overheadArb = fc.record({
  pool: fc.constantFrom(...pools, 'retired-pool'),
  category: fc.constantFrom('warmup', 'hot-idle', 'storage', 'unused', 'unattributed' as const),
  market: fc.constantFrom(...markets),
  instanceType: fc.constantFrom(...types),
  seconds: fc.integer({ min: 0, max: 3_000_000 }),
}) as fc.Arbitrary<OverheadUsage>;

const pricing = { volumeGb: (pool: string) => (pool === 'retired-pool' ? undefined : 40) };

function attribute(
  jobs: readonly { repository: Repository; usage?: JobUsage | undefined }[],
  overhead: readonly OverheadUsage[],
) {
  const accumulator = new CostAccumulator();
  for (const job of jobs)
    accumulator.addJob(
      job.usage === undefined
        ? { repository: job.repository }
        : { repository: job.repository, usage: job.usage },
    );
  return accumulator.attribute(overhead, pricing);
}

describe('cost attribution (property)', () => {
  it('per-repository and per-organization cents sum to the total, never negative, each within a cent', () => {
    fc.assert(
      fc.property(
        fc.array(jobArb, { maxLength: 60 }),
        fc.array(overheadArb, { maxLength: 12 }),
        (jobs, overhead) => {
          const report = attribute(jobs, overhead);
          const exact = report.repositories.reduce((n, r) => n + r.computeUsd + r.overheadUsd, 0);
          expect(report.totals.costCents).toBe(Math.round(exact * 100));
          expect(report.repositories.reduce((n, r) => n + r.costCents, 0)).toBe(report.totals.costCents);
          expect(report.organizations.reduce((n, r) => n + r.costCents, 0)).toBe(report.totals.costCents);
          for (const row of report.repositories) {
            expect(row.costCents).toBeGreaterThanOrEqual(0);
            expect(row.overheadUsd).toBeGreaterThanOrEqual(0);
            expect(Math.abs(row.costCents - (row.computeUsd + row.overheadUsd) * 100)).toBeLessThan(1);
          }
          // Every dollar of overhead lands on some row.
          const overheadUsd = report.totals.overhead.reduce((n, o) => n + o.usd, 0);
          expect(report.totals.overheadUsd).toBeCloseTo(overheadUsd, 6);
          expect(report.jobsWithoutUsage).toBe(jobs.filter((j) => j.usage === undefined).length);
        },
      ),
    );
  });

  it("splits a pool's overhead in proportion to its jobs' instance seconds", () => {
    fc.assert(
      fc.property(
        fc.array(jobArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (jobs, warmupSeconds) => {
          const inPool = jobs.map((j) => ({
            repository: j.repository,
            usage: {
              instanceId: 'i-1',
              pool: 'linux-x64',
              market: 'pool' as const,
              instanceType: 'm7i.large',
              seconds: 60 + (j.usage?.seconds ?? 0),
              endedAt: 0,
            },
          }));
          const overhead: OverheadUsage = {
            pool: 'linux-x64',
            category: 'warmup',
            market: 'pool',
            instanceType: 'm7i.large',
            seconds: warmupSeconds,
          };
          const report = attribute(inPool, [overhead]);
          const totalSeconds = inPool.reduce((n, j) => n + j.usage.seconds, 0);
          const overheadUsd = report.totals.overheadUsd;
          for (const row of report.repositories) {
            expect(row.repository).not.toBe(unattributedRepository);
            expect(row.overheadUsd / overheadUsd).toBeCloseTo(row.instanceSeconds.pool / totalSeconds, 9);
          }
        },
      ),
    );
  });

  it('does not depend on the order jobs are read in (pages in any order)', () => {
    fc.assert(
      fc.property(
        fc.array(jobArb, { maxLength: 40 }),
        fc.array(overheadArb, { maxLength: 6 }),
        fc.integer(),
        (jobs, overhead, seed) => {
          const shuffled = [...jobs].sort(
            (a, b) => ((JSON.stringify(a).length * seed) % 7) - ((JSON.stringify(b).length * seed) % 7),
          );
          const a = attribute(jobs, overhead);
          const b = attribute(shuffled, overhead);
          expect(b.repositories.map((r) => [r.repository, r.costCents])).toEqual(
            a.repositories.map((r) => [r.repository, r.costCents]),
          );
        },
      ),
    );
  });
});

describe('cost attribution (examples)', () => {
  const acme = (name: string): Repository => ({ owner: 'acme', name });
  const usage = (market: CostMarket, seconds: number, pool = 'linux-x64'): JobUsage => ({
    instanceId: 'i-1',
    pool,
    market,
    instanceType: 'm7i.large',
    seconds,
    endedAt: 0,
  });

  it('prices runs by market and shares the pool overhead by seconds', () => {
    const report = attribute(
      [
        { repository: acme('web'), usage: usage('pool', 3_600) }, // $0.1008
        { repository: acme('api'), usage: usage('spot', 1_800) }, // 0.1008 × 0.35 / 2 = $0.01764
        { repository: { owner: 'globex', name: 'app' }, usage: usage('on-demand', 1_800) }, // $0.0504
      ],
      [
        { pool: 'linux-x64', category: 'warmup', market: 'pool', instanceType: 'm7i.large', seconds: 7_200 }, // $0.2016
        {
          pool: 'linux-x64',
          category: 'storage',
          market: 'pool',
          instanceType: 'm7i.large',
          seconds: 2_628_000,
        }, // 40 GB a month: $3.20
        {
          pool: 'retired-pool',
          category: 'storage',
          market: 'pool',
          instanceType: 'm7i.large',
          seconds: 2_628_000,
        },
      ],
    );
    const overhead = 0.2016 + 3.2;
    const row = (name: string) => report.repositories.find((r) => r.repository === name);
    expect(row('acme/web')?.computeUsd).toBeCloseTo(0.1008, 9);
    expect(row('acme/web')?.overheadUsd).toBeCloseTo(overhead / 2, 9);
    expect(row('acme/api')?.computeUsd).toBeCloseTo(0.01764, 9);
    expect(row('acme/api')?.overheadUsd).toBeCloseTo(overhead / 4, 9);
    expect(row('globex/app')?.computeUsd).toBeCloseTo(0.0504, 9);
    // A pool with no job that day: its overhead stays visible, on its own row.
    expect(row(unattributedRepository)?.overheadUsd).toBeCloseTo(ebsUsdPerSecond(40) * 2_628_000, 9);
    expect(report.totals.instanceSeconds).toEqual({ pool: 3_600, spot: 1_800, 'on-demand': 1_800 });
    expect(report.organizations.map((o) => o.organization)).toEqual([
      unattributedRepository,
      'acme',
      'globex',
    ]);
    expect(report.totals.costCents).toBe(Math.round((0.1008 + 0.01764 + 0.0504 + overhead + 3.2) * 100));
    expect(report.assumptions).toEqual(['pool retired-pool: not in the pool config, volume assumed 40 GB']);
  });

  it('rounds by largest remainder: three thirds of a dollar are 33 + 33 + 34 cents', () => {
    const cents = largestRemainder(
      [
        { key: 'a', exactCents: 100 / 3 },
        { key: 'b', exactCents: 100 / 3 },
        { key: 'c', exactCents: 100 / 3 + 1e-9 },
      ],
      100,
    );
    expect([...cents.entries()]).toEqual([
      ['a', 33],
      ['b', 33],
      ['c', 34],
    ]);
    expect(() => largestRemainder([{ key: 'a', exactCents: 1.5 }], 5)).toThrow(RangeError);
  });

  it('keeps the top N repositories and sums the rest as other', () => {
    const jobs = ['a', 'b', 'c', 'd'].map((name, i) => ({
      repository: acme(name),
      usage: usage('pool', 3_600 * (i + 1)),
    }));
    const report = attribute(jobs, []);
    expect(topRepositories(report.repositories, 2)).toEqual([
      // 40.32, 30.24, 20.16 and 10.08 cents: 101 in all, the extra cent to the largest remainder.
      { repository: 'acme/d', costCents: 41, jobs: 1 },
      { repository: 'acme/c', costCents: 30, jobs: 1 },
      { repository: 'other', costCents: 30, jobs: 2 },
    ]);
    expect(topRepositories(report.repositories, 4).map((r) => r.repository)).not.toContain('other');
    expect(() => topRepositories(report.repositories, -1)).toThrow(RangeError);
  });
});
