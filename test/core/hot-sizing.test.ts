/**
 * Sizing the hot tier: windows and their bounds, the cost model (the k-th runner kept only while its
 * expected saving pays its hour), the hard cap and the daily budget; and, as properties, that the
 * target always stays in [0, maximum], is zero outside windows unless configured, never grows when a
 * waiting second is worth less, and is zero once the budget is spent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyHistory, hoursPerWeek, recordDemand } from '../../scheduler/core/forecast.js';
import {
  budgetDay,
  expectedSecondsSaved,
  hotRunnerHourlyUsd,
  pastPeaks,
  poissonAtLeast,
  refillSeconds,
  sizeHotTier,
} from '../../scheduler/core/hot-sizing.js';
import { monday0900, poolOf, testConfig } from './support.js';

const workdays = ['mon', 'tue', 'wed', 'thu', 'fri'];

function hotPool(hot: Record<string, unknown>) {
  return poolOf(testConfig({ hot }));
}

const window = { days: workdays, from: '08:00', to: '19:00', timezone: 'UTC' };

describe('hot tier sizing: windows, caps and budget', () => {
  it("keeps a window's max while it is open and nothing outside it by default", () => {
    const pool = hotPool({ maximum: 5, windows: [{ ...window, max: 3 }] });
    expect(sizeHotTier({ pool, now: monday0900, pastPeaks: [], spentTodayUsd: 0 })).toMatchObject({
      target: 3,
      inWindow: true,
    });
    const night = monday0900 + 12 * 3_600_000; // Monday 21:00
    expect(sizeHotTier({ pool, now: night, pastPeaks: [], spentTodayUsd: 0 })).toMatchObject({
      target: 0,
      inWindow: false,
    });
  });

  it('keeps `outsideWindows` runners when configured', () => {
    const pool = hotPool({ maximum: 5, outsideWindows: 1, windows: [{ ...window, max: 3 }] });
    const night = monday0900 + 12 * 3_600_000;
    expect(sizeHotTier({ pool, now: night, pastPeaks: [], spentTodayUsd: 0 }).target).toBe(1);
  });

  it('caps at the hard maximum and at what the rest of the daily budget affords for an hour', () => {
    const pool = hotPool({ maximum: 5, dailyBudgetUsd: 1, windows: [{ ...window, max: 5 }] });
    const hourly = hotRunnerHourlyUsd(pool);
    const sized = sizeHotTier({ pool, now: monday0900, pastPeaks: [], spentTodayUsd: 1 - 2.5 * hourly });
    expect(sized).toMatchObject({ target: 2, budgetCap: 2 });
    expect(sizeHotTier({ pool, now: monday0900, pastPeaks: [], spentTodayUsd: 1 }).target).toBe(0);
  });

  it('prices a hot runner at its first fill source: spot at the spot share, a pool instance on-demand', () => {
    const onDemand = hotRunnerHourlyUsd(hotPool({ maximum: 1 }));
    const spot = hotRunnerHourlyUsd(hotPool({ maximum: 1, fill: ['spot', 'pool'] }));
    expect(spot).toBeLessThan(onDemand);
    expect(onDemand).toBeCloseTo(0.1008 + (30 * 0.08) / 730, 6);
  });
});

describe('hot tier sizing: the cost model', () => {
  const model = { valuePerWaitSecondUsd: 0.001, secondsSavedPerHit: 17, jobMinutes: 10 };

  it('expects the k-th runner to save seconds when k or more jobs arrive within one refill time', () => {
    // Peak 60 busy runners of 10-minute jobs: 0.1 job/s; within a 30 s refill, Poisson with mean 3.
    // 120 refill intervals an hour × 17 s × P(N ≥ k): P(N ≥ 1) = 1 − e^−3, P(N ≥ 4) = 1 − 13 e^−3.
    expect(expectedSecondsSaved(1, [60], model, 30)).toBeCloseTo(120 * 17 * (1 - Math.exp(-3)), 6);
    expect(expectedSecondsSaved(4, [60], model, 30)).toBeCloseTo(120 * 17 * (1 - 13 * Math.exp(-3)), 6);
    // A week without demand halves it; no history, no saving.
    expect(expectedSecondsSaved(4, [60, 0], model, 30)).toBeCloseTo(60 * 17 * (1 - 13 * Math.exp(-3)), 6);
    expect(expectedSecondsSaved(1, [], model, 30)).toBe(0);
    expect(poissonAtLeast(0, 3)).toBe(1);
    expect(poissonAtLeast(2, 0)).toBe(0);
  });

  it('keeps the k-th runner only while its saving pays its running hour: the arrivals within a refill, not the busy peak', () => {
    const pool = (costModel: Record<string, unknown>) =>
      hotPool({ maximum: 20, windows: [{ ...window, min: 0, max: 20 }], costModel });
    // Filled from the pool first: a 20 s refill, an on-demand hour of $0.1041. At a peak of 60 busy
    // runners (0.1 job/s) a refill interval sees Poisson(2) arrivals; 180 intervals an hour × 17 s ×
    // $0.001 pays the hour while P(N ≥ k) ≥ 0.0340: P(N ≥ 5) = 0.0527 does, P(N ≥ 6) = 0.0166 does not.
    // The busy peak (60) and the window's max (20) would both keep the tier at its cap of 20.
    const busyHour = sizeHotTier({
      pool: pool(model),
      now: monday0900,
      pastPeaks: [60, 60],
      spentTodayUsd: 0,
    });
    expect(busyHour).toMatchObject({ target: 5, modelled: 5 });
    // A quiet hour (6 busy at peak, Poisson(0.2)): one runner pays (P = 0.181), a second does not (0.0175).
    const quiet = sizeHotTier({ pool: pool(model), now: monday0900, pastPeaks: [6], spentTodayUsd: 0 });
    expect(quiet.target).toBe(1);
    // A slower refill (60 s: Poisson(6), 60 intervals) needs a deeper tier: P(N ≥ 9) = 0.153 ≥ 0.102,
    // P(N ≥ 10) = 0.084 is not.
    const slow = sizeHotTier({
      pool: pool({ ...model, refillSeconds: 60 }),
      now: monday0900,
      pastPeaks: [60],
      spentTodayUsd: 0,
    });
    expect(slow.target).toBe(9);
  });

  it('takes the refill time from the first fill source unless configured', () => {
    const fromPool = hotPool({ maximum: 1, costModel: model }).hot;
    const fromSpot = hotPool({ maximum: 1, fill: ['spot', 'pool'], costModel: model }).hot;
    const set = hotPool({ maximum: 1, costModel: { ...model, refillSeconds: 45 } }).hot;
    if (fromPool === undefined || fromSpot === undefined || set === undefined) throw new Error('no hot tier');
    expect([refillSeconds(fromPool), refillSeconds(fromSpot), refillSeconds(set)]).toEqual([20, 30, 45]);
  });

  it("holds the window's min even when the model says no runner pays, and its max when all do", () => {
    const cheap = hotPool({
      maximum: 10,
      windows: [{ ...window, min: 1, max: 3 }],
      costModel: { ...model, valuePerWaitSecondUsd: 0 },
    });
    expect(sizeHotTier({ pool: cheap, now: monday0900, pastPeaks: [8], spentTodayUsd: 0 }).target).toBe(1);
    const dear = hotPool({
      maximum: 10,
      windows: [{ ...window, min: 1, max: 3 }],
      costModel: { ...model, valuePerWaitSecondUsd: 1 },
    });
    expect(sizeHotTier({ pool: dear, now: monday0900, pastPeaks: [8], spentTodayUsd: 0 }).target).toBe(3);
  });

  it("reads this hour of week's peaks from the demand history, past weeks only", () => {
    let history = emptyHistory('UTC');
    const week = 7 * 24 * 3_600_000;
    history = recordDemand(history, monday0900 - 2 * week, 4, 4);
    history = recordDemand(history, monday0900 - week, 6, 4);
    history = recordDemand(history, monday0900, 9, 4); // this week: not a forecast of itself
    expect(pastPeaks(history, monday0900, 4)).toEqual([4, 6]);
    expect(pastPeaks(history, monday0900 + 3_600_000, 4)).toEqual([]);
    expect(hoursPerWeek).toBe(168);
  });

  it('names the UTC day the budget is for', () => {
    expect(budgetDay(monday0900)).toBe('2026-01-05');
  });
});

describe('hot tier sizing: properties', () => {
  const arbitraryPool = fc.record({
    maximum: fc.integer({ min: 0, max: 20 }),
    max: fc.integer({ min: 0, max: 20 }),
    min: fc.integer({ min: 0, max: 20 }),
    outside: fc.integer({ min: 0, max: 20 }),
    value: fc.double({ min: 0, max: 0.05, noNaN: true }),
    budget: fc.option(fc.double({ min: 0.01, max: 50, noNaN: true }), { nil: undefined }),
  });

  it('stays in [0, maximum], zero outside windows unless configured, monotone in value, zero once spent', () => {
    fc.assert(
      fc.property(
        arbitraryPool,
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 7 * 24 - 1 }),
        fc.double({ min: 0, max: 60, noNaN: true }),
        (p, peaks, hour, spent) => {
          const maximum = p.maximum;
          const max = Math.min(p.max, maximum);
          const min = Math.min(p.min, max);
          const outside = Math.min(p.outside, maximum);
          const hot = (value: number) =>
            hotPool({
              maximum,
              outsideWindows: outside,
              windows: [{ ...window, min, max }],
              costModel: { valuePerWaitSecondUsd: value },
              ...(p.budget !== undefined && { dailyBudgetUsd: p.budget }),
            });
          const now = monday0900 + hour * 3_600_000;
          const sized = sizeHotTier({ pool: hot(p.value), now, pastPeaks: peaks, spentTodayUsd: spent });
          expect(Number.isInteger(sized.target)).toBe(true);
          expect(sized.target).toBeGreaterThanOrEqual(0);
          expect(sized.target).toBeLessThanOrEqual(maximum);
          if (!sized.inWindow) expect(sized.target).toBeLessThanOrEqual(outside);
          if (p.budget !== undefined && spent >= p.budget) expect(sized.target).toBe(0);
          const richer = sizeHotTier({ pool: hot(p.value * 2), now, pastPeaks: peaks, spentTodayUsd: spent });
          expect(richer.target).toBeGreaterThanOrEqual(sized.target);
        },
      ),
      { numRuns: 300 },
    );
  });
});
