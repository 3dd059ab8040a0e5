/**
 * Demand-learned sizing in the simulator: the history a pool's tuner keeps, replayed from earlier weeks
 * of a generated organization, forecasts the working-day peak and not the night or the weekend; and the
 * real pool tuner, driven by the simulator, raises the pool before the morning peak.
 */
import { describe, expect, it } from 'vitest';
import { defaultOutageRates } from '../../bench/simulator/capacity.js';
import { runCorePolicy } from '../../bench/simulator/core-world.js';
import { demandHistoryFromJobs } from '../../bench/simulator/history.js';
import { defaultSizing, oursConfig } from '../../bench/simulator/policies.js';
import { referencePrices } from '../../bench/simulator/prices.js';
import { referenceTimings } from '../../bench/simulator/reference-timings.js';
import { generateTrace, localMidnight } from '../../bench/traces/generate.js';
import type { Trace } from '../../bench/traces/trace.js';
import { forecastDemand } from '../../scheduler/core/forecast.js';

const zone = 'Europe/Paris';
const hour = 3_600_000;
const options = { timeZone: zone, jobsPerWeekday: 600 };
/** Four weeks before Monday 2 February 2026, each its own draw of the same organization. */
const past = ['2026-01-05', '2026-01-12', '2026-01-19', '2026-01-26'].map((startDate, i) =>
  generateTrace({ ...options, seed: 20 + i, days: 7, startDate }),
);
const monday = localMidnight('2026-02-02', zone);
const history = demandHistoryFromJobs(
  past.flatMap((t) => t.jobs),
  { start: past[0]?.start ?? 0, end: monday },
  { timeZone: zone, keepWeeks: 4 },
);

describe('the forecast learns a recurring peak', () => {
  const at = (dayOffset: number, h: number) =>
    forecastDemand(history, monday + dayOffset * 24 * hour + h * hour, 0.5, { weeks: 4, leadMs: 0 }) ?? 0;

  it('sees the working-day peak, and not the night or the weekend', () => {
    expect(history.weeks).toHaveLength(4);
    for (const day of [0, 1, 2, 3, 4]) {
      expect(at(day, 10)).toBeGreaterThan(8 * Math.max(1, at(day, 3)));
      expect(at(day, 10)).toBeGreaterThan(4 * Math.max(1, at(5, 10)));
    }
  });

  it('raises the pool through the real tuner before the morning peak of the next week', async () => {
    // Tuesday 05:00–10:00 of the simulated week: a trickle, then the morning.
    const tuesday = generateTrace({ ...options, seed: 99, days: 2, startDate: '2026-02-02' });
    const from = monday + 24 * hour + 5 * hour;
    const trace: Trace = {
      ...tuesday,
      jobs: tuesday.jobs.filter((j) => j.createdAt >= from && j.createdAt < from + 5 * hour),
      start: from,
      end: from + 5 * hour,
    };
    const sizing = { ...defaultSizing(trace), oursDaySize: 2, oursNightSize: 1, oursMaximum: 200 };
    const run = await runCorePolicy({
      policy: 'ours',
      trace,
      config: oursConfig(trace, sizing),
      seed: 3,
      timings: referenceTimings,
      prices: referencePrices,
      outages: defaultOutageRates,
      start: from,
      forecastLeadMs: 60 * 60_000,
      history: { 'linux-x64': history },
    });
    const targetAt = (h: number) => {
      const t = from + (h - 5) * hour;
      return [...run.targets].reverse().find(([when]) => when <= t)?.[1] ?? -1;
    };
    expect(targetAt(5.5)).toBeLessThanOrEqual(2); // early: the floor
    expect(targetAt(8.5)).toBeGreaterThan(10); // before the 09:00 peak, from the history
    expect(targetAt(8.5)).toBe(
      Math.ceil(forecastDemand(history, from + 3.5 * hour, 0.5, { weeks: 4, leadMs: hour }) ?? 0),
    );
    expect(run.jobs).toHaveLength(trace.jobs.length);
  });
});
