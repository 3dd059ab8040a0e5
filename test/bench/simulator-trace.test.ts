/**
 * The trace generator: reproducible from its seed, and shaped like an organization's week — busy
 * working hours, quiet nights and weekends, matrix bursts within GitHub's 256-job cap.
 */
import { describe, expect, it } from 'vitest';
import { generateTrace, localMidnight } from '../../bench/traces/generate.js';
import { localTime } from '../../scheduler/core/schedule.js';

describe('generateTrace', () => {
  const week = generateTrace({ seed: 7, days: 7 });

  it('is reproducible from its seed, and another seed gives another trace', () => {
    expect(generateTrace({ seed: 7, days: 7 })).toEqual(week);
    const other = generateTrace({ seed: 8, days: 7 });
    expect(other.jobs.length).not.toBe(week.jobs.length);
  });

  it('spans whole local days and keeps its jobs inside them, oldest first', () => {
    expect(week.start).toBe(localMidnight('2026-01-05', 'Europe/Paris'));
    expect(week.end - week.start).toBe(7 * 86_400_000);
    expect(week.jobs.every((j) => j.createdAt >= week.start && j.createdAt < week.end)).toBe(true);
    expect(week.jobs.every((j, i) => i === 0 || (week.jobs[i - 1]?.createdAt ?? 0) <= j.createdAt)).toBe(
      true,
    );
  });

  it('makes a mid-size organization: a few thousand jobs a week, durations within GitHub limits', () => {
    expect(week.jobs.length).toBeGreaterThan(3_000);
    expect(week.jobs.length).toBeLessThan(8_000);
    expect(week.jobs.every((j) => j.durationS >= 15 && j.durationS <= 6 * 3600)).toBe(true);
    const durations = week.jobs.map((j) => j.durationS).sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(120);
    expect(median).toBeLessThan(480);
  });

  it('peaks on working days and in working hours, and is quiet on weekends and at night', () => {
    const perDay = new Map<string, number>();
    const perHour = new Array<number>(24).fill(0);
    for (const j of week.jobs) {
      const { weekday, minute } = localTime(j.createdAt, 'Europe/Paris');
      perDay.set(weekday, (perDay.get(weekday) ?? 0) + 1);
      const h = Math.floor(minute / 60);
      if (weekday !== 'sat' && weekday !== 'sun') perHour[h] = (perHour[h] ?? 0) + 1;
    }
    const weekday = ['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => perDay.get(d) ?? 0);
    const weekend = ['sat', 'sun'].map((d) => perDay.get(d) ?? 0);
    expect(Math.min(...weekday)).toBeGreaterThan(3 * Math.max(...weekend));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(weekday)).toBeGreaterThan(5 * mean(weekend));
    const morning = (perHour[10] ?? 0) + (perHour[14] ?? 0);
    const night = (perHour[3] ?? 0) + (perHour[4] ?? 0);
    expect(morning).toBeGreaterThan(10 * Math.max(1, night));
  });

  it('fans runs out into matrices of 20 to 256 jobs queued within seconds', () => {
    const runs = new Map<number, number[]>();
    for (const j of week.jobs) runs.set(j.runId ?? -1, [...(runs.get(j.runId ?? -1) ?? []), j.createdAt]);
    const matrices = [...runs.values()].filter((times) => times.length >= 20);
    expect(matrices.length).toBeGreaterThan(3);
    expect(Math.max(...[...runs.values()].map((t) => t.length))).toBeLessThanOrEqual(256);
    for (const times of matrices) expect(Math.max(...times) - Math.min(...times)).toBeLessThan(5_000);
  });

  it('reads local midnight across time zones', () => {
    expect(localMidnight('2026-01-05', 'Europe/Paris')).toBe(Date.UTC(2026, 0, 4, 23));
    expect(localMidnight('2026-07-06', 'America/New_York')).toBe(Date.UTC(2026, 6, 6, 4));
    expect(localMidnight('2026-01-05', 'UTC')).toBe(Date.UTC(2026, 0, 5));
    expect(() => localMidnight('5 Jan', 'UTC')).toThrow(/YYYY-MM-DD/);
  });
});
