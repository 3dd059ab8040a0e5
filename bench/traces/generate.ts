/**
 * A seeded job trace with the shape public datasets show (REFERENCE: Bouzenia & Pradel ICSE '24,
 * GHALogs MSR '25; not reachable from the build machines, so only their shape is reproduced):
 * - workday peaks in the organization's time zone (morning and afternoon, a lunch dip), quiet nights,
 *   quiet weekends, and a small nightly scheduled batch;
 * - workflow runs arrive as a Poisson process whose rate follows that profile; a run fans out into jobs
 *   created within seconds of each other, a few runs into matrices of 20–256 jobs (GitHub caps a matrix
 *   at 256);
 * - job durations log-normal (median ~4 min), the jobs of a matrix alike but not equal, at most 6 h
 *   (GitHub's job limit).
 * The same options and seed always give the same trace.
 */
import { localTime } from '../../scheduler/core/schedule.js';
import { integer, lognormal, poisson, type Random, seededRandom } from '../simulator/random.js';
import { dayMs, type Trace, type TraceJob } from './trace.js';

export interface TraceOptions {
  readonly seed: number;
  readonly days: number;
  /** Epoch ms of the first day's local midnight is found from this instant's UTC date. */
  readonly startDate: string;
  readonly timeZone: string;
  /** Mean jobs on a working day (weekends get `weekendShare` of it). */
  readonly jobsPerWeekday: number;
  readonly weekendShare: number;
  readonly labels: readonly string[];
  /** Median job duration, seconds. */
  readonly medianDurationS: number;
}

export const defaultTraceOptions: TraceOptions = {
  seed: 1,
  days: 7,
  startDate: '2026-01-05', // a Monday
  timeZone: 'Europe/Paris',
  jobsPerWeekday: 1000,
  weekendShare: 0.08,
  labels: ['self-hosted', 'linux', 'x64'],
  medianDurationS: 240,
};

/** Relative run rate by local hour on a working day (1 = the busiest hours). */
const weekdayProfile = [
  0.03, 0.03, 0.05, 0.03, 0.03, 0.03, 0.05, 0.25, 0.65, 1, 1, 0.95, 0.6, 0.85, 1, 1, 0.95, 0.65, 0.35, 0.2,
  0.15, 0.12, 0.08, 0.05,
];
/** Weekends: a flat daytime trickle. */
const weekendProfile = weekdayProfile.map((_, h) => (h >= 9 && h < 20 ? 1 : 0.2));

/** Jobs per run: mostly one, some small fan-outs, a few matrices. */
function jobsInRun(random: Random): number {
  const u = random();
  if (u < 0.7) return 1;
  if (u < 0.9) return integer(2, 5, random);
  if (u < 0.97) return integer(6, 19, random);
  return Math.round(Math.min(256, Math.max(20, lognormal(40, 0.7)(random))));
}

const meanJobsPerRun = 0.7 * 1 + 0.2 * 3.5 + 0.07 * 12.5 + 0.03 * 52;

/** How far `timeZone`'s wall clock is ahead of UTC at `epochMs`. */
function offsetMs(epochMs: number, timeZone: string): number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    hourCycle: 'h23',
  });
  const p: Record<string, number> = {};
  for (const part of format.formatToParts(epochMs))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0);
  return wall - Math.floor(epochMs / 60_000) * 60_000;
}

/** Epoch ms of local midnight on `date` (YYYY-MM-DD) in `timeZone`. */
export function localMidnight(date: string, timeZone: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match === null) throw new Error(`start date "${date}" is not YYYY-MM-DD`);
  const wall = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  // The offset that counts is the one at local midnight: a second pass settles it.
  const guess = wall - offsetMs(wall, timeZone);
  return wall - offsetMs(guess, timeZone);
}

export function generateTrace(overrides: Partial<TraceOptions> = {}): Trace {
  const o = { ...defaultTraceOptions, ...overrides };
  if (!(o.days > 0)) throw new Error(`days must be positive (given ${o.days})`);
  const arrivals = seededRandom(o.seed, 'trace-arrivals');
  const shapes = seededRandom(o.seed, 'trace-shapes');
  const start = localMidnight(o.startDate, o.timeZone);
  const end = start + o.days * dayMs;
  const profileSum = weekdayProfile.reduce((a, b) => a + b, 0);
  const runsPerBusyHour = o.jobsPerWeekday / meanJobsPerRun / profileSum;
  const weekendScale = (o.weekendShare * profileSum) / weekendProfile.reduce((a, b) => a + b, 0);
  const duration = lognormal(o.medianDurationS, 0.9, { min: 15, max: 6 * 3600 });

  const jobs: TraceJob[] = [];
  let runId = 1;
  for (let minute = start; minute < end; minute += 60_000) {
    const { weekday, minute: ofDay } = localTime(minute, o.timeZone);
    const hour = Math.floor(ofDay / 60);
    const weekend = weekday === 'sat' || weekday === 'sun';
    const rate = weekend
      ? (weekendProfile[hour] ?? 0) * weekendScale * runsPerBusyHour
      : (weekdayProfile[hour] ?? 0) * runsPerBusyHour;
    const runs = poisson(rate / 60, arrivals);
    for (let r = 0; r < runs; r++) {
      const at = minute + Math.floor(arrivals() * 60_000);
      const count = jobsInRun(shapes);
      const base = duration(shapes);
      for (let j = 0; j < count; j++) {
        jobs.push({
          // A run's jobs are queued together, within a few seconds.
          createdAt: at + Math.floor(shapes() * (count > 1 ? 3_000 : 1)),
          labels: o.labels,
          durationS: Math.round(Math.min(6 * 3600, Math.max(15, base * (0.75 + 0.5 * shapes())))),
          runId,
        });
      }
      runId++;
    }
  }
  // The nightly scheduled batch: a handful of runs at 02:00 local, every day.
  for (let day = start; day < end; day += dayMs) {
    const at = day + 2 * 3_600_000;
    const runs = integer(3, 8, shapes);
    for (let r = 0; r < runs; r++) {
      const count = integer(1, 4, shapes);
      for (let j = 0; j < count; j++)
        jobs.push({
          createdAt: at + Math.floor(shapes() * 5_000),
          labels: o.labels,
          durationS: Math.round(duration(shapes)),
          runId,
        });
      runId++;
    }
  }
  jobs.sort((a, b) => a.createdAt - b.createdAt || (a.runId ?? 0) - (b.runId ?? 0));
  return {
    jobs: jobs.filter((j) => j.createdAt < end),
    start,
    end,
    timeZone: o.timeZone,
    source: `generated (seed ${o.seed}, ${o.days} days from ${o.startDate}, ${o.timeZone}, ~${o.jobsPerWeekday} jobs per weekday)`,
  };
}
