/**
 * A working day of CI for the scale scenario: `jobs` jobs over several organizations, in workflow runs
 * of 1 to 256 jobs (GitHub's matrix cap), arriving along each organization's working hours in its own
 * time zone. Pure and seeded: the same seed gives the same day, so one App and two Apps see the same
 * jobs at the same instants.
 *
 * The run sizes are skewed as CI is: most runs are a few jobs, a few are wide matrices. The large ones
 * are what meets GitHub's JIT-mint limit (about 180 a minute per App): a 256-job matrix asks for 256
 * runners at once.
 */

export interface Organization {
  readonly login: string;
  /** Share of the day's jobs. */
  readonly share: number;
  /** Hours from UTC of its working day (Paris +1, New York −5). */
  readonly utcOffsetHours: number;
}

export const defaultOrganizations: readonly Organization[] = [
  { login: 'acme', share: 0.6, utcOffsetHours: 1 },
  { login: 'globex', share: 0.4, utcOffsetHours: -5 },
];

/**
 * Relative arrivals per local hour of a weekday: quiet nights (scheduled builds), a morning ramp, a
 * lunch dip, the afternoon peak.
 */
export const localHourWeights: readonly number[] = [
  0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 1, 4, 8, 10, 9, 5, 7, 10, 10, 9, 6, 3, 1.5, 0.8, 0.5, 0.4, 0.3,
];

export interface PlannedRun {
  /** Milliseconds after 00:00 UTC of the day. */
  readonly atMs: number;
  readonly org: string;
  readonly repository: string;
  readonly jobs: number;
}

export interface DayPlan {
  readonly jobs: number;
  readonly organizations: readonly Organization[];
  /** Sorted by arrival. */
  readonly runs: readonly PlannedRun[];
}

const dayMs = 86_400_000;
const hourMs = 3_600_000;
/** GitHub's cap on the jobs of one matrix. */
export const maxMatrix = 256;

/** A run's size: 70 % 1–4 jobs, 20 % 5–20, 8 % 21–100, 2 % 101–256. */
export function runSize(random: () => number): number {
  const band = random();
  const pick = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  if (band < 0.7) return pick(1, 4);
  if (band < 0.9) return pick(5, 20);
  if (band < 0.98) return pick(21, 100);
  return pick(101, maxMatrix);
}

export function planDay(options: {
  readonly jobs: number;
  readonly random: () => number;
  readonly organizations?: readonly Organization[];
  /** Repositories per organization the runs are spread over. */
  readonly repositories?: number;
}): DayPlan {
  const organizations = options.organizations ?? defaultOrganizations;
  const { random } = options;
  if (!Number.isInteger(options.jobs) || options.jobs <= 0)
    throw new RangeError(`jobs must be a positive integer, got ${options.jobs}`);
  const shares = organizations.reduce((sum, o) => sum + o.share, 0);
  if (organizations.length === 0 || !(shares > 0))
    throw new RangeError('at least one organization with a positive share');
  const repositories = options.repositories ?? 20;
  const hours = cumulative(localHourWeights);
  const runs: PlannedRun[] = [];
  let left = options.jobs;
  while (left > 0) {
    const jobs = Math.min(left, runSize(random));
    left -= jobs;
    const org = pickOrganization(organizations, shares, random);
    const localHour = pickIndex(hours, random);
    const utcHour = (((localHour - org.utcOffsetHours) % 24) + 24) % 24;
    const atMs = Math.min(dayMs - 1, Math.floor(utcHour * hourMs + random() * hourMs));
    runs.push({
      atMs,
      org: org.login,
      repository: `service-${1 + Math.floor(random() * repositories)}`,
      jobs,
    });
  }
  runs.sort((a, b) => a.atMs - b.atMs);
  return { jobs: options.jobs, organizations, runs };
}

export interface DayWindow {
  readonly fromMs: number;
  readonly toMs: number;
  readonly runs: readonly PlannedRun[];
  readonly jobs: number;
}

/** The `windowMs` of the day holding the most jobs (the window starts at a run's arrival). */
export function busiestWindow(plan: DayPlan, windowMs: number): DayWindow {
  const { runs } = plan;
  let best = { from: 0, to: 0, jobs: -1 };
  let end = 0;
  let jobs = 0;
  for (let start = 0; start < runs.length; start++) {
    const from = runs[start]?.atMs ?? 0;
    while (end < runs.length && (runs[end]?.atMs ?? 0) < from + windowMs) jobs += runs[end++]?.jobs ?? 0;
    if (jobs > best.jobs) best = { from: start, to: end, jobs };
    jobs -= runs[start]?.jobs ?? 0;
  }
  const fromMs = runs[best.from]?.atMs ?? 0;
  return {
    fromMs,
    toMs: fromMs + windowMs,
    runs: runs.slice(best.from, best.to),
    jobs: Math.max(0, best.jobs),
  };
}

export interface DayShape {
  readonly runs: number;
  readonly largestRun: number;
  readonly runsOver100: number;
  /** Jobs queued per UTC hour. */
  readonly jobsPerHour: readonly number[];
  /** The most jobs queued in one minute of the day. */
  readonly peakJobsPerMinute: number;
  /** Minutes of the day in which more jobs were queued than `limit` mints a minute allow, per limit. */
  readonly minutesOver: Readonly<Record<string, number>>;
}

/** The plan's arithmetic (not a measurement): how the demand for mints meets per-minute limits. */
export function dayShape(plan: DayPlan, limits: readonly number[]): DayShape {
  const perHour = Array.from({ length: 24 }, () => 0);
  const perMinute = new Map<number, number>();
  for (const run of plan.runs) {
    const hour = Math.floor(run.atMs / hourMs);
    perHour[hour] = (perHour[hour] ?? 0) + run.jobs;
    const minute = Math.floor(run.atMs / 60_000);
    perMinute.set(minute, (perMinute.get(minute) ?? 0) + run.jobs);
  }
  const minutes = [...perMinute.values()];
  return {
    runs: plan.runs.length,
    largestRun: Math.max(0, ...plan.runs.map((r) => r.jobs)),
    runsOver100: plan.runs.filter((r) => r.jobs > 100).length,
    jobsPerHour: perHour,
    peakJobsPerMinute: Math.max(0, ...minutes),
    minutesOver: Object.fromEntries(limits.map((l) => [String(l), minutes.filter((n) => n > l).length])),
  };
}

function cumulative(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((w) => {
    sum += w / total;
    return sum;
  });
}

function pickIndex(cdf: readonly number[], random: () => number): number {
  const r = random();
  const index = cdf.findIndex((c) => r < c);
  return index === -1 ? cdf.length - 1 : index;
}

function pickOrganization(
  organizations: readonly Organization[],
  shares: number,
  random: () => number,
): Organization {
  let r = random() * shares;
  for (const org of organizations) {
    r -= org.share;
    if (r < 0) return org;
  }
  return organizations[organizations.length - 1] as Organization;
}
