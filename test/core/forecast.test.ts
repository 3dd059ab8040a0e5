/**
 * Demand learned by hour of week: buckets in the pool's time zone, peaks kept per bucket, a quantile over
 * past weeks with a lead time, a compact marker that survives a round trip and is discarded when it
 * cannot be trusted, and the pool tuner learning a recurring peak through the store.
 */
import { describe, expect, it } from 'vitest';
import {
  type DemandHistory,
  demandMarker,
  emptyHistory,
  forecastDemand,
  hourOfWeek,
  hoursPerWeek,
  parseHistory,
  quantile,
  recordDemand,
  serializeHistory,
} from '../../scheduler/core/forecast.js';
import { tunePools } from '../../scheduler/core/tune-pools.js';
import { makeHarness, readyInstances, subnetA, subnetB, testConfig } from './support.js';

const utc = (y: number, mo: number, d: number, h: number, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
const weekMs = 7 * 24 * 3_600_000;
/** Monday 5 January 2026 00:00 UTC. */
const monday = utc(2026, 1, 5, 0);

function observe(history: DemandHistory, entries: [number, number][], keepWeeks = 4): DemandHistory {
  return entries.reduce((h, [at, demand]) => recordDemand(h, at, demand, keepWeeks), history);
}

describe('hourOfWeek', () => {
  it('counts hours from Monday 00:00 local time', () => {
    expect(hourOfWeek(monday, 'UTC').hour).toBe(0);
    expect(hourOfWeek(monday + 30 * 60_000, 'UTC').hour).toBe(0);
    expect(hourOfWeek(utc(2026, 1, 6, 10, 15), 'UTC').hour).toBe(24 + 10);
    expect(hourOfWeek(utc(2026, 1, 11, 23, 59), 'UTC').hour).toBe(167);
    expect(hourOfWeek(utc(2026, 1, 12, 0), 'UTC')).toEqual({
      week: hourOfWeek(monday, 'UTC').week + 1,
      hour: 0,
    });
  });

  it('reads the hour in the pool time zone, across a DST change', () => {
    // 08:30 UTC is 09:30 in Paris in winter and 10:30 in summer: the bucket follows the local clock.
    expect(hourOfWeek(utc(2026, 1, 5, 8, 30), 'Europe/Paris').hour).toBe(9);
    expect(hourOfWeek(utc(2026, 3, 30, 7, 30), 'Europe/Paris').hour).toBe(9); // Monday after the change
    // Sunday 23:30 UTC is already Monday 00:30 in Paris: a new local week.
    const sunday = utc(2026, 1, 11, 23, 30);
    expect(hourOfWeek(sunday, 'Europe/Paris')).toEqual({ week: hourOfWeek(monday, 'UTC').week + 1, hour: 0 });
    // 02:00 in New York on a Sunday is 07:00 UTC in winter.
    expect(hourOfWeek(utc(2026, 1, 11, 7, 0), 'America/New_York').hour).toBe(6 * 24 + 2);
  });
});

describe('quantile', () => {
  it('interpolates between ranks and handles edge cases', () => {
    expect(quantile([], 0.5)).toBeUndefined();
    expect(quantile([7], 0.9)).toBe(7);
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 1)).toBe(4);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 20, 30, 40, 50], 0.9)).toBeCloseTo(46);
  });
});

describe('recordDemand', () => {
  it('keeps the peak of each hour and leaves unobserved hours null', () => {
    const h = observe(emptyHistory('UTC'), [
      [monday + 5 * 60_000, 3],
      [monday + 20 * 60_000, 9],
      [monday + 50 * 60_000, 4],
      [monday + 3_600_000, 2],
    ]);
    expect(h.weeks).toHaveLength(1);
    const peaks = h.weeks[0]?.peaks ?? [];
    expect(peaks).toHaveLength(hoursPerWeek);
    expect(peaks.slice(0, 3)).toEqual([9, 2, null]);
    expect(peaks.filter((p) => p === null)).toHaveLength(hoursPerWeek - 2);
  });

  it('never records a negative demand and drops weeks beyond what it keeps', () => {
    let h = recordDemand(emptyHistory('UTC'), monday, -5, 2);
    expect(h.weeks[0]?.peaks[0]).toBe(0);
    for (let w = 1; w <= 5; w++) h = recordDemand(h, monday + w * weekMs, w, 2);
    const first = hourOfWeek(monday, 'UTC').week;
    expect(h.weeks.map((w) => w.week - first)).toEqual([3, 4, 5]);
  });

  it('does not change the history it was given', () => {
    const before = observe(emptyHistory('UTC'), [[monday, 1]]);
    const text = serializeHistory(before);
    recordDemand(before, monday, 50, 4);
    expect(serializeHistory(before)).toBe(text);
  });
});

describe('forecastDemand', () => {
  const tuesday10 = monday + 24 * 3_600_000 + 10 * 3_600_000;

  /** Four past weeks: Tuesday 10:00 peaks at 20, 30, 25, 40; other observed hours at 2. */
  function learned(): DemandHistory {
    let h = emptyHistory('UTC');
    [20, 30, 25, 40].forEach((peak, w) => {
      const base = w * weekMs;
      h = observe(
        h,
        [
          [base + tuesday10 - 2 * 3_600_000, 2],
          [base + tuesday10 - 3_600_000, 2],
          [base + tuesday10 + 10 * 60_000, peak],
          [base + tuesday10 + 3_600_000, 2],
        ],
        4,
      );
    });
    return h;
  }

  it('is undefined without a past week for these hours', () => {
    expect(forecastDemand(emptyHistory('UTC'), tuesday10, 0.9, { weeks: 4 })).toBeUndefined();
    // The current week alone is not history: it never forecasts itself.
    const thisWeek = observe(emptyHistory('UTC'), [[tuesday10, 12]]);
    expect(forecastDemand(thisWeek, tuesday10 + 60_000, 0.9, { weeks: 4, leadMs: 0 })).toBeUndefined();
  });

  it('learns a recurring peak: the quantile over past weeks of that hour', () => {
    const h = learned();
    const nextTuesday10 = tuesday10 + 4 * weekMs;
    const q = (v: number) => forecastDemand(h, nextTuesday10 + 5 * 60_000, v, { weeks: 4, leadMs: 0 });
    expect(q(0)).toBe(20);
    expect(q(0.5)).toBe(27.5);
    expect(q(1)).toBe(40);
    // Two hours before the peak, quiet.
    expect(forecastDemand(h, nextTuesday10 - 2 * 3_600_000, 0.9, { weeks: 4, leadMs: 0 })).toBe(2);
  });

  it('looks ahead by the lead time, so the pool is warm before the peak', () => {
    const h = learned();
    const before = tuesday10 + 4 * weekMs - 20 * 60_000; // 09:40
    expect(forecastDemand(h, before, 1, { weeks: 4, leadMs: 10 * 60_000 })).toBe(2);
    expect(forecastDemand(h, before, 1, { weeks: 4, leadMs: 30 * 60_000 })).toBe(40);
  });

  it('learns only from the configured number of past weeks', () => {
    const h = learned();
    const at = tuesday10 + 4 * weekMs;
    expect(forecastDemand(h, at, 1, { weeks: 1, leadMs: 0 })).toBe(40);
    expect(forecastDemand(h, at, 0, { weeks: 2, leadMs: 0 })).toBe(25);
  });
});

describe('the stored history', () => {
  it('survives a round trip and stays small', () => {
    let h = emptyHistory('Europe/Paris');
    for (let m = 0; m < 5 * 7 * 24 * 60; m += 7) h = recordDemand(h, monday + m * 60_000, (m % 97) + 0.5, 4);
    const text = serializeHistory(h);
    expect(parseHistory(text, 'Europe/Paris')).toEqual(h);
    expect(text.length).toBeLessThan(6_000);
  });

  it('is discarded when it cannot be trusted', () => {
    const good = serializeHistory(observe(emptyHistory('UTC'), [[monday, 3]]));
    expect(parseHistory(good, 'UTC').weeks).toHaveLength(1);
    expect(parseHistory(undefined, 'UTC')).toEqual(emptyHistory('UTC'));
    expect(parseHistory('{not json', 'UTC')).toEqual(emptyHistory('UTC'));
    expect(parseHistory(good, 'Europe/Paris')).toEqual(emptyHistory('Europe/Paris')); // other zone
    expect(parseHistory('{"v":2,"tz":"UTC","w":[]}', 'UTC').weeks).toEqual([]);
    expect(parseHistory('{"v":1,"tz":"UTC","w":[[1,[1,2]]]}', 'UTC').weeks).toEqual([]);
    const negative = good.replace('[3', '[-3');
    expect(parseHistory(negative, 'UTC').weeks).toEqual([]);
  });
});

describe('tunePools learning from demand', () => {
  const config = () => testConfig({ defaultSize: 1, maximum: 20, forecast: { enabled: true, weeks: 4 } });

  it('records the demand it sees (instances serving + jobs waiting) in the pool marker', async () => {
    const h = makeHarness({ config: config() });
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    for (const instance of [a, b]) {
      if (instance === undefined) throw new Error('no instance');
      await h.store.transitionInstance({
        id: instance.id,
        from: 'ready',
        expectedVersion: instance.version,
        to: 'claimed',
      });
    }
    await h.store.createJob({
      id: 1,
      runId: 1,
      repository: { owner: 'acme', name: 'app' },
      labels: ['linux', 'x64'],
      pool: 'linux-x64',
      state: 'queued',
      version: 1,
      phases: {},
      attempts: [],
      reprovisions: 0,
      deliveries: ['d'],
      updatedAt: h.clock.now(),
    });
    await tunePools(h.deps, h.config);
    const history = parseHistory(await h.store.getMarker(demandMarker('linux-x64')), 'UTC');
    const { hour } = hourOfWeek(h.clock.now(), 'UTC');
    expect(history.weeks[0]?.peaks[hour]).toBe(3);
    // A pool that does not learn keeps no history.
    expect(await h.store.getMarker(demandMarker('linux-arm64'))).toBeUndefined();
  });

  it('raises the target before a peak seen in past weeks, and not on other days', async () => {
    const h = makeHarness({ config: config() });
    // Four past weeks saw 12 jobs at Monday 09:00–10:00 (the harness clock is Monday 09:00).
    let history = emptyHistory('UTC');
    for (let w = 1; w <= 4; w++) history = recordDemand(history, h.clock.now() - w * weekMs + 60_000, 12, 4);
    await h.store.putMarker(demandMarker('linux-x64'), serializeHistory(history));

    h.clock.advance(-20 * 60_000); // 08:40: the peak is within the lead time
    const [before] = await tunePools(h.deps, h.config);
    expect(before).toMatchObject({ target: 12, forecast: 12, launched: 12 });

    h.clock.advance(24 * 3_600_000); // Tuesday 08:40: nothing learned for this hour
    const [tuesday] = await tunePools(h.deps, h.config);
    expect(tuesday?.target).toBe(1);
    expect(tuesday?.forecast).toBeUndefined();
  });

  it('caps the learned target at the pool maximum, and an explicit forecast skips the history', async () => {
    const h = makeHarness({ config: config() });
    let history = emptyHistory('UTC');
    for (let w = 1; w <= 4; w++) history = recordDemand(history, h.clock.now() - w * weekMs, 500, 4);
    await h.store.putMarker(demandMarker('linux-x64'), serializeHistory(history));
    const [capped] = await tunePools(h.deps, h.config);
    expect(capped?.target).toBe(20);

    const marker = await h.store.getMarker(demandMarker('linux-x64'));
    const [given] = await tunePools(h.deps, h.config, { forecasts: { 'linux-x64': 3 } });
    expect(given?.target).toBe(3);
    expect(await h.store.getMarker(demandMarker('linux-x64'))).toBe(marker);
  });
});
