/**
 * Pool targets by time of day, read in each window's own time zone: whole-hour and half-hour offsets,
 * weekdays, overnight windows, and the days the clocks change in Europe, the US and on Lord Howe
 * Island (a half-hour DST shift). Instants are written in UTC with the local time they stand for.
 */
import { describe, expect, it } from 'vitest';
import type { PoolConfig, ScheduleWindow } from '../../scheduler/core/pool-config.js';
import { localTime, poolTarget, scheduledSize, windowOpen } from '../../scheduler/core/schedule.js';
import { poolDocument, validConfig } from './support.js';

const utc = (y: number, mo: number, d: number, h: number, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
const minutesBefore = (epochMs: number, n = 1) => epochMs - n * 60_000;

function win(overrides: Partial<ScheduleWindow>): ScheduleWindow {
  return {
    days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    from: '08:00',
    to: '18:00',
    timezone: 'UTC',
    size: 4,
    ...overrides,
  };
}

function poolWith(document: Record<string, unknown>): PoolConfig {
  const [pool] = validConfig({ pools: [poolDocument(document)] }).pools;
  if (pool === undefined) throw new Error('no pool');
  return pool;
}

/** Asserts the window opens exactly at `opens` and closes exactly at `closes` (both UTC instants). */
function expectOpenBetween(window: ScheduleWindow, opens: number, closes: number): void {
  expect(
    windowOpen(window, minutesBefore(opens)),
    `closed a minute before ${new Date(opens).toISOString()}`,
  ).toBe(false);
  expect(windowOpen(window, opens), `open at ${new Date(opens).toISOString()}`).toBe(true);
  expect(
    windowOpen(window, minutesBefore(closes)),
    `open a minute before ${new Date(closes).toISOString()}`,
  ).toBe(true);
  expect(windowOpen(window, closes), `closed at ${new Date(closes).toISOString()}`).toBe(false);
}

describe('localTime', () => {
  it('reads weekday and minute in the zone', () => {
    expect(localTime(utc(2026, 1, 5, 9, 15), 'UTC')).toEqual({ weekday: 'mon', minute: 9 * 60 + 15 });
    // 23:30 UTC on Monday is already Tuesday 05:00 in Kolkata (UTC+5:30).
    expect(localTime(utc(2026, 1, 5, 23, 30), 'Asia/Kolkata')).toEqual({ weekday: 'tue', minute: 5 * 60 });
    // Midnight is minute 0, not 24:00.
    expect(localTime(utc(2026, 1, 5, 23, 0), 'Europe/Paris')).toEqual({ weekday: 'tue', minute: 0 });
  });
});

describe('windows by time zone', () => {
  it('Europe/Paris in winter is UTC+1, in summer UTC+2', () => {
    const w = win({ timezone: 'Europe/Paris' });
    expectOpenBetween(w, utc(2026, 1, 5, 7), utc(2026, 1, 5, 17)); // Monday in January
    expectOpenBetween(w, utc(2026, 7, 6, 6), utc(2026, 7, 6, 16)); // Monday in July
  });

  it('America/New_York in winter is UTC−5, in summer UTC−4', () => {
    const w = win({ timezone: 'America/New_York' });
    expectOpenBetween(w, utc(2026, 1, 5, 13), utc(2026, 1, 5, 23));
    expectOpenBetween(w, utc(2026, 7, 6, 12), utc(2026, 7, 6, 22));
  });

  it('Asia/Kolkata is UTC+5:30 all year', () => {
    const w = win({ timezone: 'Asia/Kolkata', from: '09:00', to: '17:00' });
    expectOpenBetween(w, utc(2026, 1, 5, 3, 30), utc(2026, 1, 5, 11, 30));
    expectOpenBetween(w, utc(2026, 7, 6, 3, 30), utc(2026, 7, 6, 11, 30));
  });

  it('a window is listed by the local weekday, which may differ from the UTC one', () => {
    // Monday 06:00–10:00 in Kolkata starts on Monday 00:30 UTC; Sunday 23:00 UTC is Monday 04:30 there.
    const w = win({ timezone: 'Asia/Kolkata', days: ['mon'], from: '04:00', to: '10:00' });
    expect(windowOpen(w, utc(2026, 1, 4, 23))).toBe(true); // Sunday in UTC
    expect(windowOpen(w, utc(2026, 1, 5, 23))).toBe(false); // Tuesday 04:30 locally
  });
});

describe('windows by weekday', () => {
  it('is open only on the listed days', () => {
    const w = win({ days: ['mon', 'wed'] });
    const at10 = (day: number) => utc(2026, 1, day, 10); // 5 January 2026 is a Monday
    expect([5, 6, 7, 8, 9, 10, 11].map((d) => windowOpen(w, at10(d)))).toEqual([
      true,
      false,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('runs an overnight window into the next day, listed under the day it starts', () => {
    const friday = win({ days: ['fri'], from: '22:00', to: '06:00' });
    expect(windowOpen(friday, utc(2026, 1, 9, 21, 59))).toBe(false); // Friday 21:59
    expect(windowOpen(friday, utc(2026, 1, 9, 22))).toBe(true); // Friday 22:00
    expect(windowOpen(friday, utc(2026, 1, 10, 0))).toBe(true); // Saturday 00:00
    expect(windowOpen(friday, utc(2026, 1, 10, 5, 59))).toBe(true); // Saturday 05:59
    expect(windowOpen(friday, utc(2026, 1, 10, 6))).toBe(false); // Saturday 06:00
    expect(windowOpen(friday, utc(2026, 1, 10, 22, 30))).toBe(false); // Saturday night: not listed
    expect(windowOpen(friday, utc(2026, 1, 9, 3))).toBe(false); // Friday early: Thursday's part
    expect(windowOpen(friday, utc(2026, 1, 8, 23))).toBe(false); // Thursday night

    // The Saturday-morning part belongs to Friday: a window listed for Saturday does not cover it.
    const saturday = win({ days: ['sat'], from: '22:00', to: '06:00' });
    expect(windowOpen(saturday, utc(2026, 1, 10, 5))).toBe(false);
    expect(windowOpen(saturday, utc(2026, 1, 11, 3))).toBe(true); // Sunday 03:00
  });

  it('wraps Sunday night into Monday', () => {
    const sunday = win({ days: ['sun'], from: '20:00', to: '02:00' });
    expect(windowOpen(sunday, utc(2026, 1, 12, 1))).toBe(true); // Monday 01:00
    expect(windowOpen(sunday, utc(2026, 1, 5, 1))).toBe(true);
    expect(windowOpen(sunday, utc(2026, 1, 6, 1))).toBe(false); // Tuesday 01:00
  });

  it('treats "to" 00:00 as the end of the day', () => {
    const evening = win({ days: ['mon'], from: '18:00', to: '00:00' });
    expectOpenBetween(evening, utc(2026, 1, 5, 18), utc(2026, 1, 6, 0));
  });
});

describe('the days the clocks change', () => {
  const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as ScheduleWindow['days'];

  it('Europe spring forward (29 March 2026): 08:00 local is 07:00 UTC before, 06:00 UTC from that day', () => {
    const w = win({ days: everyDay, timezone: 'Europe/Paris' });
    expectOpenBetween(w, utc(2026, 3, 28, 7), utc(2026, 3, 28, 17)); // Saturday, CET
    expectOpenBetween(w, utc(2026, 3, 29, 6), utc(2026, 3, 29, 16)); // Sunday, CEST already
    expectOpenBetween(w, utc(2026, 3, 30, 6), utc(2026, 3, 30, 16)); // Monday
  });

  it('Europe fall back (25 October 2026): 08:00 local is 06:00 UTC before, 07:00 UTC from that day', () => {
    const w = win({ days: everyDay, timezone: 'Europe/Paris' });
    expectOpenBetween(w, utc(2026, 10, 24, 6), utc(2026, 10, 24, 16)); // Saturday, CEST
    expectOpenBetween(w, utc(2026, 10, 25, 7), utc(2026, 10, 25, 17)); // Sunday, CET
  });

  it('US spring forward (8 March 2026) and fall back (1 November 2026) in New York', () => {
    const w = win({ timezone: 'America/New_York' });
    expectOpenBetween(w, utc(2026, 3, 6, 13), utc(2026, 3, 6, 23)); // Friday, EST
    expectOpenBetween(w, utc(2026, 3, 9, 12), utc(2026, 3, 9, 22)); // Monday, EDT
    expectOpenBetween(w, utc(2026, 10, 30, 12), utc(2026, 10, 30, 22)); // Friday, EDT
    expectOpenBetween(w, utc(2026, 11, 2, 13), utc(2026, 11, 2, 23)); // Monday, EST
  });

  it('a window starting in the skipped hour opens at the first instant after it', () => {
    // Paris, 29 March 2026: 01:59 CET (00:59 UTC) is followed by 03:00 CEST (01:00 UTC).
    const from0230 = win({ days: ['sun'], from: '02:30', to: '05:00', timezone: 'Europe/Paris' });
    expect(windowOpen(from0230, utc(2026, 3, 29, 0, 59))).toBe(false);
    expect(windowOpen(from0230, utc(2026, 3, 29, 1))).toBe(true);
    expect(windowOpen(from0230, utc(2026, 3, 29, 3))).toBe(false); // 05:00 CEST
    // A window wholly inside the skipped hour never opens that day.
    const skipped = win({ days: ['sun'], from: '02:00', to: '03:00', timezone: 'Europe/Paris' });
    for (let m = -120; m <= 120; m += 5)
      expect(windowOpen(skipped, utc(2026, 3, 29, 1) + m * 60_000), `minute ${m}`).toBe(false);
    // New York, 8 March 2026: 01:59 EST (06:59 UTC) is followed by 03:00 EDT (07:00 UTC).
    const newYork = win({ days: ['sun'], from: '02:15', to: '04:00', timezone: 'America/New_York' });
    expect(windowOpen(newYork, utc(2026, 3, 8, 6, 59))).toBe(false);
    expect(windowOpen(newYork, utc(2026, 3, 8, 7))).toBe(true);
  });

  it('a window on the repeated hour is open for both of its passes', () => {
    // Paris, 25 October 2026: 02:00–03:00 local runs from 00:00 to 02:00 UTC (CEST, then CET).
    const paris = win({ days: ['sun'], from: '02:00', to: '03:00', timezone: 'Europe/Paris' });
    expectOpenBetween(paris, utc(2026, 10, 25, 0), utc(2026, 10, 25, 2));
    // New York, 1 November 2026: 01:00–02:00 local runs from 05:00 to 07:00 UTC (EDT, then EST).
    const newYork = win({ days: ['sun'], from: '01:00', to: '02:00', timezone: 'America/New_York' });
    expectOpenBetween(newYork, utc(2026, 11, 1, 5), utc(2026, 11, 1, 7));
  });

  it('Lord Howe Island shifts by half an hour (UTC+11 in summer, UTC+10:30 in winter)', () => {
    const w = win({ timezone: 'Australia/Lord_Howe' });
    // Friday 3 April 2026, still +11: 08:00 local is 21:00 UTC the day before.
    expectOpenBetween(w, utc(2026, 4, 2, 21), utc(2026, 4, 3, 7));
    // Monday 6 April 2026, after the change on Sunday 5 April: +10:30.
    expectOpenBetween(w, utc(2026, 4, 5, 21, 30), utc(2026, 4, 6, 7, 30));
    // On 5 April, 02:00 +11 (15:00 UTC) becomes 01:30 +10:30: 01:30–02:00 local happens twice.
    const repeated = win({ days: ['sun'], from: '01:30', to: '02:00', timezone: 'Australia/Lord_Howe' });
    expectOpenBetween(repeated, utc(2026, 4, 4, 14, 30), utc(2026, 4, 4, 15, 30));
    // On 4 October 2026, 02:00 +10:30 (15:30 UTC) becomes 02:30 +11: 02:00–02:30 local never happens.
    const skipped = win({ days: ['sun'], from: '02:00', to: '02:30', timezone: 'Australia/Lord_Howe' });
    for (let m = -60; m <= 60; m += 5)
      expect(windowOpen(skipped, utc(2026, 10, 3, 15, 30) + m * 60_000), `minute ${m}`).toBe(false);
  });
});

describe('scheduledSize and poolTarget', () => {
  const pool = poolWith({
    defaultSize: 2,
    maximum: 10,
    schedule: [
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', timezone: 'UTC', size: 6 },
      { days: ['mon'], from: '09:00', to: '10:00', timezone: 'UTC', size: 9 },
      { days: ['mon'], from: '09:30', to: '12:00', timezone: 'UTC', size: 3 },
    ],
  });

  it('uses the default when no window is open', () => {
    expect(scheduledSize(pool, utc(2026, 1, 5, 7))).toBe(2);
    expect(scheduledSize(pool, utc(2026, 1, 10, 12))).toBe(2); // Saturday
  });

  it('takes the largest of the open windows', () => {
    expect(scheduledSize(pool, utc(2026, 1, 5, 8, 30))).toBe(6);
    expect(scheduledSize(pool, utc(2026, 1, 5, 9, 45))).toBe(9); // three windows open
    expect(scheduledSize(pool, utc(2026, 1, 5, 10, 30))).toBe(6); // the 3 does not lower the 6
    expect(scheduledSize(pool, utc(2026, 1, 6, 9, 45))).toBe(6);
  });

  it('a window may lower the size below the default', () => {
    const nightly = poolWith({
      defaultSize: 4,
      schedule: [{ days: ['sat', 'sun'], from: '00:00', to: '23:59', timezone: 'UTC', size: 0 }],
    });
    expect(scheduledSize(nightly, utc(2026, 1, 10, 12))).toBe(0);
    expect(scheduledSize(nightly, utc(2026, 1, 9, 12))).toBe(4);
  });

  it('caps at the maximum even for a config that skipped validation', () => {
    const unchecked: PoolConfig = { ...pool, maximum: 5 };
    expect(scheduledSize(unchecked, utc(2026, 1, 5, 9, 45))).toBe(5);
    expect(poolTarget(unchecked, utc(2026, 1, 5, 9, 45))).toBe(5);
    expect(poolTarget({ ...pool, defaultSize: 8, maximum: 5 }, utc(2026, 1, 5, 7))).toBe(5);
  });

  it('ignores the forecast unless the pool learns from demand', () => {
    expect(poolTarget(pool, utc(2026, 1, 5, 7), 7)).toBe(2);
    expect(poolTarget(pool, utc(2026, 1, 5, 7))).toBe(2);
  });

  it('raises the target to the forecast when enabled, rounding up, capped at the maximum', () => {
    const learning: PoolConfig = { ...pool, forecast: { ...pool.forecast, enabled: true } };
    expect(poolTarget(learning, utc(2026, 1, 5, 7), 4.2)).toBe(5);
    expect(poolTarget(learning, utc(2026, 1, 5, 9, 45), 4.2)).toBe(9); // never lowers the schedule
    expect(poolTarget(learning, utc(2026, 1, 5, 7), 40)).toBe(10);
    expect(poolTarget(learning, utc(2026, 1, 5, 7))).toBe(2); // no forecast yet: the schedule
  });
});
