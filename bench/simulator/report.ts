/**
 * From runs to figures: per policy the pickup (GitHub `created_at` → job running) percentiles, queued →
 * completed beside it (what a cold disk adds shows there), the cost per job and of idling per day, how
 * often the pool served; then the goals, judged as stated.
 */
import type { JobOutcome, PolicyRun } from './outcome.js';
import { computeCost, type Prices, volumeCost } from './prices.js';

/** Sample quantile, linear between closest ranks, of values sorted ascending. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = q * (sorted.length - 1);
  const low = sorted[Math.floor(rank)] as number;
  const high = sorted[Math.ceil(rank)] as number;
  return low + (high - low) * (rank - Math.floor(rank));
}

function sortedSeconds(values: Iterable<number>): number[] {
  return [...values].map((ms) => ms / 1000).sort((a, b) => a - b);
}

export interface PolicySummary {
  readonly title: string;
  readonly jobs: number;
  readonly p50S: number;
  readonly p95S: number;
  readonly p99S: number;
  readonly costPerJob: number;
  readonly idleCostPerDay: number;
  /** Share of jobs that ran on a launch made for them rather than on a pool runner. */
  readonly fallbackShare: number;
  /** Share of jobs whose own request was served from the pool (claim or idle runner). */
  readonly poolHitRate: number;
  /** Share of jobs taken by a runner already online and idle when they were queued. */
  readonly hotHitRate: number;
  /** Pickup of the jobs an idle runner took at once, and of the others. */
  readonly byHotHit: {
    readonly hit: { readonly jobs: number; readonly p50S: number; readonly p95S: number };
    readonly missed: { readonly jobs: number; readonly p50S: number; readonly p95S: number };
  };
  /**
   * Queued (`created_at`) → completed, and the part of it that is not the job's own work on a warm
   * disk (pickup + the cold-disk penalty): what the organization waits beyond the work itself.
   */
  readonly completed: {
    readonly p50S: number;
    readonly p95S: number;
    readonly overWorkP50S: number;
    readonly overWorkP95S: number;
    readonly meanOverWorkS: number;
  };
  /** Share of jobs that ran on a disk that was not pre-warmed, and their mean penalty. */
  readonly coldDiskShare: number;
  readonly meanColdPenaltyS: number;
  readonly totalCost: number;
  readonly days: number;
  /** Jobs that ran on a pool runner: pickup from `created_at`, and from their webhook's arrival. */
  readonly poolServed: {
    readonly jobs: number;
    readonly p50S: number;
    readonly p95S: number;
    readonly fromWebhookP50S?: number;
    readonly fromWebhookP95S?: number;
  };
  /** Share of jobs picked up later than 60 s (the webhook tail and what it sets off). */
  readonly over60sShare: number;
  /**
   * Of the jobs picked up later than 60 s, the share whose own `queued` webhook was on time (within
   * 10 s): their runner was taken by an older job whose webhook was late, and they waited for the
   * reconciler to provide another.
   */
  readonly lateWithTimelyWebhookShare?: number;
  readonly ranOn: Readonly<Record<string, number>>;
  readonly cost: {
    readonly compute: number;
    readonly volume: number;
    readonly job: number;
    readonly idle: number;
  };
  readonly counters: Readonly<Record<string, number>>;
  readonly simulatedEvents: number;
  readonly wallSeconds: number;
}

export function summarise(run: PolicyRun, title: string): PolicySummary {
  const days = (run.end - run.start) / 86_400_000;
  const pickups = sortedSeconds(run.jobs.map((j) => j.startedAt - j.createdAt));
  const pool = run.jobs.filter((j) => j.ranOn === 'pool');
  const poolPickups = sortedSeconds(pool.map((j) => j.startedAt - j.createdAt));
  const fromWebhook = sortedSeconds(
    pool.filter((j) => j.poolHit && j.receivedAt !== undefined).map((j) => j.startedAt - (j.receivedAt ?? 0)),
  );
  const ranOn: Record<string, number> = {};
  for (const j of run.jobs) ranOn[j.ranOn] = (ranOn[j.ranOn] ?? 0) + 1;
  const n = Math.max(1, run.jobs.length);
  const cold = run.jobs.filter((j) => (j.coldPenaltyS ?? 0) > 0);
  return {
    title,
    jobs: run.jobs.length,
    p50S: percentile(pickups, 0.5),
    p95S: percentile(pickups, 0.95),
    p99S: percentile(pickups, 0.99),
    costPerJob: run.bill.total / n,
    idleCostPerDay: run.bill.idle / days,
    fallbackShare: (run.jobs.length - pool.length) / n,
    poolHitRate: run.jobs.filter((j) => j.poolHit).length / n,
    hotHitRate: run.jobs.filter((j) => j.hotHit === true).length / n,
    byHotHit: {
      hit: pickupOf(run.jobs.filter((j) => j.hotHit === true)),
      missed: pickupOf(run.jobs.filter((j) => j.hotHit !== true)),
    },
    completed: completion(run.jobs),
    coldDiskShare: cold.length / n,
    meanColdPenaltyS: cold.reduce((sum, j) => sum + (j.coldPenaltyS ?? 0), 0) / Math.max(1, cold.length),
    totalCost: run.bill.total,
    days,
    poolServed: {
      jobs: pool.length,
      p50S: percentile(poolPickups, 0.5),
      p95S: percentile(poolPickups, 0.95),
      ...(fromWebhook.length > 0 && {
        fromWebhookP50S: percentile(fromWebhook, 0.5),
        fromWebhookP95S: percentile(fromWebhook, 0.95),
      }),
    },
    over60sShare: pickups.filter((s) => s > 60).length / n,
    ...lateness(run),
    ranOn,
    cost: { compute: run.bill.compute, volume: run.bill.volume, job: run.bill.job, idle: run.bill.idle },
    counters: run.counters,
    simulatedEvents: run.events,
    wallSeconds: run.wallMs / 1000,
  };
}

function pickupOf(jobs: readonly JobOutcome[]): { jobs: number; p50S: number; p95S: number } {
  const sorted = sortedSeconds(jobs.map((j) => j.startedAt - j.createdAt));
  return { jobs: jobs.length, p50S: percentile(sorted, 0.5), p95S: percentile(sorted, 0.95) };
}

function completion(jobs: readonly JobOutcome[]): PolicySummary['completed'] {
  const done = jobs.filter((j) => j.completedAt !== undefined);
  const total = sortedSeconds(done.map((j) => (j.completedAt ?? 0) - j.createdAt));
  const over = sortedSeconds(done.map((j) => (j.completedAt ?? 0) - j.createdAt - (j.workS ?? 0) * 1000));
  return {
    p50S: percentile(total, 0.5),
    p95S: percentile(total, 0.95),
    overWorkP50S: percentile(over, 0.5),
    overWorkP95S: percentile(over, 0.95),
    meanOverWorkS: over.reduce((a, b) => a + b, 0) / Math.max(1, over.length),
  };
}

/** One point of the cold-disk sweep: the run's figures had every cold job paid `penaltyS` instead. */
export interface ColdDiskPoint {
  readonly penaltyS: number;
  readonly overWorkP50S: number;
  readonly overWorkP95S: number;
  readonly costPerJob: number;
}

/**
 * The cold-disk penalty swept over a range after the run: each cold job's drawn penalty replaced by
 * the value, its instance's compute and volume re-priced for the difference. The pickups are the
 * run's: a longer job on a one-job instance changes no other job's pickup; on a hot runner it would
 * hold the runner a little longer, which this re-pricing leaves out (an approximation, said so).
 */
export function coldDiskSweep(
  run: PolicyRun,
  prices: Prices,
  volumeGb: number,
  penalties: readonly number[],
): ColdDiskPoint[] {
  const n = Math.max(1, run.jobs.length);
  const perSecond = (market: 'on-demand' | 'spot') =>
    computeCost({ ...prices, minimumBilledSeconds: 0 }, market, 3600) / 3600 +
    volumeCost(prices, volumeGb, 1);
  return penalties.map((penaltyS) => {
    let extra = 0;
    const jobs = run.jobs.map((j) => {
      const drawn = j.coldPenaltyS ?? 0;
      if (drawn === 0 || j.completedAt === undefined) return j;
      extra += (penaltyS - drawn) * perSecond(j.market ?? 'spot');
      return { ...j, completedAt: j.completedAt + (penaltyS - drawn) * 1000, coldPenaltyS: penaltyS };
    });
    const c = completion(jobs);
    return {
      penaltyS,
      overWorkP50S: c.overWorkP50S,
      overWorkP95S: c.overWorkP95S,
      costPerJob: (run.bill.total + extra) / n,
    };
  });
}

export interface Goal {
  readonly goal: string;
  readonly met: boolean;
  readonly detail: string;
}

/** A point of the running pool's cost curve, at one pool size. */
export interface CurvePoint {
  readonly scale: number;
  readonly p95S: number;
  readonly costPerJob: number;
}

/**
 * The running pool's cost per job at a given p95, interpolated along its curve (p95 falls as the pool
 * grows); undefined when that p95 is outside what the curve reaches.
 */
export function costAtP95(curve: readonly CurvePoint[], p95S: number): number | undefined {
  const points = [...curve].sort((a, b) => a.p95S - b.p95S);
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i] as CurvePoint;
    const b = points[i + 1] as CurvePoint;
    if (p95S >= a.p95S && p95S <= b.p95S) {
      const t = b.p95S === a.p95S ? 0 : (p95S - a.p95S) / (b.p95S - a.p95S);
      return a.costPerJob + t * (b.costPerJob - a.costPerJob);
    }
  }
  const only = points.length === 1 ? points[0] : undefined;
  return only !== undefined && only.p95S === p95S ? only.costPerJob : undefined;
}

function lateness(run: PolicyRun): { lateWithTimelyWebhookShare?: number } {
  const late = run.jobs.filter((j) => j.startedAt - j.createdAt > 60_000 && j.receivedAt !== undefined);
  if (late.length === 0) return {};
  const timely = late.filter((j) => (j.receivedAt ?? 0) - j.createdAt <= 10_000).length;
  return { lateWithTimelyWebhookShare: timely / late.length };
}

const s = (v: number) => `${v.toFixed(1)} s`;
const usd = (v: number) => `$${v.toFixed(4)}`;
const pct = (v: number) => `${(v * 100).toFixed(0)} %`;

/**
 * The hot tier's goals (issue 13), for one seed: queued → running p50 ≤ 3 s and p95 ≤ 15 s; cost per
 * job ≤ 15 % of the running idle pool's (at its schedule's sizes) and ≤ 3× cold spot's. Each detail
 * gives the figure and, when missed, by how much.
 */
export function judgeTieredGoals(
  policies: Readonly<Record<string, PolicySummary>>,
  equalP95?: { readonly p95S: number; readonly costPerJob: number; readonly reached: boolean },
): Goal[] {
  const t = policies.tiered;
  if (t === undefined) return [];
  const goals: Goal[] = [];
  const hit = t.byHotHit.hit;
  const missed = t.byHotHit.missed;
  goals.push({
    goal: 'tiered: p50 ≤ 3 s queued → running',
    met: t.p50S <= 3,
    detail:
      `p50 ${s(t.p50S)}${t.p50S > 3 ? ` (${s(t.p50S - 3)} over)` : ''}; ${pct(t.hotHitRate)} of jobs were taken by an idle hot runner, ` +
      `those at p50 ${s(hit.p50S)} (the runner's own connect → assigned time); the others at p50 ${s(missed.p50S)}`,
  });
  goals.push({
    goal: 'tiered: p95 ≤ 15 s queued → running',
    met: t.p95S <= 15,
    detail:
      `p95 ${s(t.p95S)}${t.p95S > 15 ? ` (${s(t.p95S - 15)} over)` : ''}; the ${pct(1 - t.hotHitRate)} of jobs no idle hot runner took ` +
      `started at p50 ${s(missed.p50S)}, p95 ${s(missed.p95S)}`,
  });
  const running = policies['running-idle-pool'];
  if (running !== undefined) {
    const share = t.costPerJob / running.costPerJob;
    goals.push({
      goal: "tiered: cost per job ≤ 15 % of running-idle-pool's",
      met: share <= 0.15,
      detail:
        `${usd(t.costPerJob)} against ${usd(running.costPerJob)}: ${pct(share)}` +
        (equalP95 === undefined
          ? ''
          : `; a running idle pool sized to tiered's p95 (${s(t.p95S)}) ${equalP95.reached ? 'costs' : 'does not reach it; at its largest size tried it costs'} ${usd(equalP95.costPerJob)}/job (p95 ${s(equalP95.p95S)}): tiered is ${pct(t.costPerJob / equalP95.costPerJob)} of that`),
    });
  }
  const cold = policies['cold-spot'];
  if (cold !== undefined) {
    const times = t.costPerJob / cold.costPerJob;
    goals.push({
      goal: "tiered: cost per job ≤ 3× cold-spot's",
      met: times <= 3,
      detail: `${usd(t.costPerJob)} against ${usd(cold.costPerJob)}: ${times.toFixed(2)}×${times > 3 ? ` (${usd(t.costPerJob - 3 * cold.costPerJob)}/job over); idle runners (hot tier and stopped pool) cost ${usd(t.idleCostPerDay)}/day` : ''}`,
    });
  }
  return goals;
}

export function judgeGoals(
  policies: Readonly<Record<string, PolicySummary>>,
  runningCurve: readonly CurvePoint[],
  ours = 'ours',
): Goal[] {
  const o = policies[ours];
  const cold = policies['cold-spot'];
  if (o === undefined) return [];
  const goals: Goal[] = [];

  const hit = o.poolServed;
  const hitMet = hit.p50S <= 10 && hit.p95S <= 15;
  goals.push({
    goal: 'pool hit: p50 ≤ 10 s and p95 ≤ 15 s (from created_at)',
    met: hitMet,
    detail:
      `jobs run on a pool instance: p50 ${s(hit.p50S)}, p95 ${s(hit.p95S)}` +
      (hit.fromWebhookP50S !== undefined && hit.fromWebhookP95S !== undefined
        ? `; counted from the webhook's arrival (without GitHub's delivery delay): p50 ${s(hit.fromWebhookP50S)}, p95 ${s(hit.fromWebhookP95S)}`
        : ''),
  });

  const running = costAtP95(runningCurve, o.p95S);
  const sameSizes = runningCurve.find((p) => p.scale === 1);
  const atSameSizes =
    sameSizes === undefined
      ? ''
      : `; at the static schedule's sizes (×1) the running pool reaches p95 ${s(sameSizes.p95S)} for ${usd(sameSizes.costPerJob)}/job: ours is ${pct(1 - o.costPerJob / sameSizes.costPerJob)} cheaper there, at its own p95`;
  if (running === undefined) {
    const reach = runningCurve.map((p) => p.p95S);
    goals.push({
      goal: 'at equal p95, ≥ 40 % cheaper than the running idle pool',
      met: false,
      detail: `not comparable: ours p95 ${s(o.p95S)} is outside the running pool's range (${s(Math.min(...reach))}–${s(Math.max(...reach))}) over the pool sizes tried${atSameSizes}`,
    });
  } else {
    const saving = 1 - o.costPerJob / running;
    goals.push({
      goal: 'at equal p95, ≥ 40 % cheaper than the running idle pool',
      met: saving >= 0.4,
      detail: `at p95 ${s(o.p95S)} the running pool costs ${usd(running)}/job (interpolated over its sizes), ours ${usd(o.costPerJob)}/job: ${saving >= 0 ? `${pct(saving)} cheaper` : `${pct(-saving)} dearer`}${atSameSizes}`,
    });
  }

  if (cold !== undefined) {
    const over = o.costPerJob / cold.costPerJob - 1;
    goals.push({
      goal: 'p95 ≤ 15 s at ≤ 10 % over the cold-spot-only cost',
      met: o.p95S <= 15 && over <= 0.1,
      detail: `p95 ${s(o.p95S)} (cold spot ${s(cold.p95S)}); ${usd(o.costPerJob)}/job against ${usd(cold.costPerJob)}/job: ${pct(over)} over`,
    });
  }
  return goals;
}
