/**
 * Demand learned by hour of the week: a pool's peak demand per hour of week (168 buckets) for the last
 * few weeks, and a forecast for an instant = a quantile, over past weeks, of the peak in this hour and in
 * the hours up to a lead time ahead, so that the pool is warm before a recurring peak, not after it.
 *
 * Demand is what the pool tuner sees on each run: jobs waiting for a runner plus instances serving jobs.
 * Each bucket keeps the largest observation, so one run per minute is enough to catch an hour's peak.
 *
 * Hours are read in the pool's time zone (its first schedule window's, else UTC), as people work by the
 * local clock: across a DST change, "Monday 09:00" stays the Monday morning peak. A week starts on
 * Monday 00:00 local time. On the night the clocks go back, the repeated hour shares one bucket; on the
 * night they go forward, the skipped hour stays unobserved.
 *
 * The history is a small JSON document (a few kB), kept in the store as the marker `demand#<pool>`.
 * Invariants: unobserved buckets are `null`, never 0 (an hour the tuner did not run says nothing about
 * demand); only whole past weeks feed a forecast, so the current week never forecasts itself; a
 * history from another time zone or a document that does not parse is discarded, not trusted.
 */
import type { PoolConfig } from './pool-config.js';

export const hoursPerWeek = 168;
const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
/** 1970-01-01 was a Thursday: days since the epoch + 3 counts from a Monday. */
const mondayShift = 3;

/** Peak demand per hour of week (index 0 = Monday 00:00–01:00 local); null where nothing was observed. */
export type WeekDemand = readonly (number | null)[];

export interface DemandHistory {
  readonly timeZone: string;
  /** Local weeks (see `weekOfHour`) → their peaks, oldest first. */
  readonly weeks: readonly { readonly week: number; readonly peaks: WeekDemand }[];
}

export interface HourOfWeek {
  /** Local weeks since the Monday 1970-01-05. */
  readonly week: number;
  /** 0 = Monday 00:00–01:00 local, 167 = Sunday 23:00–24:00. */
  readonly hour: number;
}

export function demandMarker(pool: string): string {
  return `demand#${pool}`;
}

/** The zone the pool's people work in: its schedule's, else UTC. */
export function demandTimeZone(pool: PoolConfig): string {
  return pool.schedule[0]?.timezone ?? 'UTC';
}

export function emptyHistory(timeZone: string): DemandHistory {
  return { timeZone, weeks: [] };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local wall-clock time as if it were UTC epoch ms (the instant plus the zone's offset then). */
function wallClock(epochMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return epochMs;
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(epochMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
  );
}

export function hourOfWeek(epochMs: number, timeZone: string): HourOfWeek {
  const wall = wallClock(epochMs, timeZone);
  const days = Math.floor(wall / dayMs) + mondayShift;
  const hourOfDay = Math.floor((wall - Math.floor(wall / dayMs) * dayMs) / hourMs);
  return { week: Math.floor(days / 7), hour: (((days % 7) + 7) % 7) * 24 + hourOfDay };
}

/**
 * The history with one more observation: the bucket of `epochMs` keeps the larger of its peak and
 * `demand`. Weeks older than `keepWeeks` before the current one are dropped.
 */
export function recordDemand(
  history: DemandHistory,
  epochMs: number,
  demand: number,
  keepWeeks: number,
): DemandHistory {
  const { week, hour } = hourOfWeek(epochMs, history.timeZone);
  const kept = history.weeks.filter((w) => w.week >= week - keepWeeks && w.week <= week);
  const current = kept.find((w) => w.week === week);
  const peaks = current === undefined ? Array<number | null>(hoursPerWeek).fill(null) : [...current.peaks];
  peaks[hour] = Math.max(peaks[hour] ?? 0, Math.max(0, demand));
  const weeks = [...kept.filter((w) => w.week !== week), { week, peaks }].sort((a, b) => a.week - b.week);
  return { timeZone: history.timeZone, weeks };
}

/** Linear interpolation between the closest ranks (the usual "type 7" sample quantile). */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const low = sorted[Math.floor(rank)] as number;
  const high = sorted[Math.ceil(rank)] as number;
  return low + (high - low) * (rank - Math.floor(rank));
}

export interface ForecastOptions {
  /** Weeks before the current one to learn from. */
  readonly weeks: number;
  /** How far ahead to look, so the pool is warm before a peak: the hours up to now + lead count too. */
  readonly leadMs?: number;
}

/** How far ahead the tuner looks by default: warming an instance takes minutes, a peak arrives at once. */
export const defaultForecastLeadMs = 30 * 60_000;

/**
 * The demand to be ready for at `epochMs`: for this hour and each hour up to `leadMs` ahead, the
 * `q`-quantile over the past weeks that observed it of that hour's peak; the largest of those.
 * Undefined when no past week observed any of those hours (the schedule alone then decides).
 */
export function forecastDemand(
  history: DemandHistory,
  epochMs: number,
  q: number,
  options: ForecastOptions,
): number | undefined {
  const lead = Math.max(0, options.leadMs ?? defaultForecastLeadMs);
  const instants: number[] = [];
  for (let t = epochMs; t < epochMs + lead; t += hourMs) instants.push(t);
  instants.push(epochMs + lead);
  let best: number | undefined;
  for (const instant of instants) {
    const { week, hour } = hourOfWeek(instant, history.timeZone);
    const past = history.weeks
      .filter((w) => w.week < week && w.week >= week - options.weeks)
      .map((w) => w.peaks[hour])
      .filter((v): v is number => typeof v === 'number');
    const value = quantile(past, q);
    if (value !== undefined) best = Math.max(best ?? 0, value);
  }
  return best;
}

/** Compact JSON: `{"v":1,"tz":"…","w":[[week,[peaks…]],…]}`. */
export function serializeHistory(history: DemandHistory): string {
  return JSON.stringify({ v: 1, tz: history.timeZone, w: history.weeks.map((w) => [w.week, w.peaks]) });
}

/**
 * Reads a stored history for a pool in `timeZone`. A missing, malformed or other-zone document gives an
 * empty history: the tuner then follows the schedule and learns again, rather than stopping.
 */
export function parseHistory(text: string | undefined, timeZone: string): DemandHistory {
  if (text === undefined) return emptyHistory(timeZone);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return emptyHistory(timeZone);
  }
  const d = document as { v?: unknown; tz?: unknown; w?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.v !== 1 || d.tz !== timeZone || !Array.isArray(d.w))
    return emptyHistory(timeZone);
  const weeks: { week: number; peaks: (number | null)[] }[] = [];
  for (const entry of d.w) {
    if (!Array.isArray(entry) || entry.length !== 2) return emptyHistory(timeZone);
    const [week, peaks] = entry as [unknown, unknown];
    if (!Number.isInteger(week) || !Array.isArray(peaks) || peaks.length !== hoursPerWeek)
      return emptyHistory(timeZone);
    if (!peaks.every((p) => p === null || (typeof p === 'number' && Number.isFinite(p) && p >= 0)))
      return emptyHistory(timeZone);
    weeks.push({ week: week as number, peaks: peaks as (number | null)[] });
  }
  return { timeZone, weeks: weeks.sort((a, b) => a.week - b.week) };
}
