/**
 * Pool target for an instant: the time-of-day windows of the pool's schedule, read in each window's
 * own time zone. Windows are wall-clock intervals, so DST needs no special case: on the night the
 * clocks change, a window simply covers one hour more or less of real time. A window whose `to` is
 * earlier than its `from` runs overnight, into the next day. Overlapping windows: the largest size.
 * No window open: the default size. The result is capped by the pool's maximum.
 */
import type { PoolConfig, ScheduleWindow, Weekday } from './pool-config.js';

const weekdayIndex: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const weekdays: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface LocalTime {
  readonly weekday: Weekday;
  /** Minutes since local midnight. */
  readonly minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

export function localTime(epochMs: number, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(epochMs).map((p) => [p.type, p.value]));
  const weekday = weekdays[weekdayIndex[parts.weekday ?? ''] ?? -1];
  if (weekday === undefined) throw new Error(`unexpected weekday "${parts.weekday}" for ${timeZone}`);
  return { weekday, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function previousDay(day: Weekday): Weekday {
  return weekdays[(weekdays.indexOf(day) + 6) % 7] as Weekday;
}

export function windowOpen(
  window: Pick<ScheduleWindow, 'days' | 'from' | 'to' | 'timezone'>,
  epochMs: number,
): boolean {
  const { weekday, minute } = localTime(epochMs, window.timezone);
  const from = minutes(window.from);
  const to = minutes(window.to);
  if (from < to) return window.days.includes(weekday) && minute >= from && minute < to;
  // Overnight: the evening part belongs to the listed day, the morning part to the day after it.
  return (
    (window.days.includes(weekday) && minute >= from) ||
    (window.days.includes(previousDay(weekday)) && minute < to)
  );
}

/** The scheduled size alone, before any forecast. */
export function scheduledSize(pool: PoolConfig, epochMs: number): number {
  const open = pool.schedule.filter((w) => windowOpen(w, epochMs));
  const size = open.length === 0 ? pool.defaultSize : Math.max(...open.map((w) => w.size));
  return Math.min(size, pool.maximum);
}

/**
 * The pool's target: the schedule, raised to the demand forecast when the pool learns from demand,
 * and capped by the maximum.
 */
export function poolTarget(pool: PoolConfig, epochMs: number, forecast?: number): number {
  const scheduled = scheduledSize(pool, epochMs);
  const learned = pool.forecast.enabled && forecast !== undefined ? Math.ceil(forecast) : 0;
  return Math.min(Math.max(scheduled, learned), pool.maximum);
}
