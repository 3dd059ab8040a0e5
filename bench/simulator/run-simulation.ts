/**
 * One simulation: a trace (generated or replayed from a CSV), the four policies side by side on it, the
 * running pool also at other sizes (its cost curve), the summaries, the goals and the chart.
 *
 * Ours learns from demand: it starts with the history its tuner would have kept from the weeks before
 * the simulated span (earlier weeks of the same generated organization, or the part of a CSV before the
 * simulated days), never from the simulated span itself.
 */
import type { DemandHistory } from '../../scheduler/core/forecast.js';
import { matchPool } from '../../scheduler/core/labels.js';
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import { localTime } from '../../scheduler/core/schedule.js';
import { readTraceCsv } from '../traces/csv.js';
import { defaultTraceOptions, generateTrace, type TraceOptions } from '../traces/generate.js';
import { dayMs, type Trace } from '../traces/trace.js';
import { defaultOutageRates, type OutageRates } from './capacity.js';
import { runCorePolicy } from './core-world.js';
import { explain } from './explain.js';
import { demandHistoryFromJobs } from './history.js';
import type { PolicyRun } from './outcome.js';
import {
  coldSpotConfig,
  defaultSizing,
  oursConfig,
  type PolicyName,
  type PolicyTuning,
  policyTitles,
  runningPoolConfig,
  stoppedStaticConfig,
  tieredConfig,
} from './policies.js';
import { type Prices, referencePrices } from './prices.js';
import { referenceTimings, type Timings } from './reference-timings.js';
import {
  type ColdDiskPoint,
  type CurvePoint,
  coldDiskSweep,
  type Goal,
  judgeGoals,
  judgeTieredGoals,
  type PolicySummary,
  summarise,
} from './report.js';
import { runRunningPool } from './running-pool.js';
import { type ChartPoint, latencyCostSvg } from './svg-chart.js';
import {
  type PendingSweep,
  pendingToRunningAt,
  type RunningAtP95,
  runningPoolAtP95,
  type SweepPoint,
  sweepPoint,
} from './sweeps.js';
import type { Outage } from './webhook-delivery.js';

export interface SimulationOptions {
  readonly seed: number;
  /** Days simulated (a generated trace has exactly these; a CSV's last ones are simulated). */
  readonly days: number;
  readonly tracePath?: string;
  readonly timeZone?: string;
  readonly jobsPerWeekday?: number;
  readonly sizing?: Partial<PolicyTuning>;
  /** Running pool sizes tried for its cost curve, as multiples of the static schedule. */
  readonly runningScales?: readonly number[];
  readonly timings?: Timings;
  readonly prices?: Prices;
  readonly outages?: OutageRates;
  /** Which policies to run (all by default). */
  readonly policies?: readonly PolicyName[];
  /**
   * Other settings of ours to run on the same trace, for the tuning table: a list, or a function of the
   * sizes derived from the trace (see `tuningVariants`).
   */
  readonly oursVariants?:
    | readonly Partial<PolicyTuning>[]
    | ((tuning: PolicyTuning) => readonly Partial<PolicyTuning>[]);
  readonly log?: (line: string) => void;
  /** Other settings of tiered to run on the same trace (see `tieredVariants`). */
  readonly tieredVariants?:
    | readonly Partial<PolicyTuning>[]
    | ((tuning: PolicyTuning) => readonly Partial<PolicyTuning>[]);
  /** Medians of pending → running to rerun every policy at (REFERENCE: 4.9 s against 16.5 s). */
  readonly pendingToRunningMedians?: readonly number[];
  /** The policy whose p95 the running idle pool is sized to (default ours). */
  readonly equalLatencyPolicy?: PolicyName;
  /** Scenario: GitHub holds every webhook for this many hours from Tuesday 10:00 (organization time). */
  readonly webhookOutageHours?: number;
}

/** The cold-disk penalties the report sweeps (seconds a job on a cold disk runs longer). */
export const coldDiskPenalties: readonly number[] = [0, 30, 60, 120, 180, 300];

/** Tuesday 10:00 in the organization's time zone, or the trace's first day's when it has no Tuesday. */
function outageAt(trace: Trace, hours: number): Outage {
  for (let day = trace.start; day < trace.end; day += dayMs) {
    const noon = day + 12 * 3_600_000;
    if (localTime(noon, trace.timeZone).weekday === 'tue') return { from: day + 10 * 3_600_000, hours };
  }
  return { from: trace.start + 10 * 3_600_000, hours };
}

export interface SimulationResult {
  readonly trace: {
    readonly source: string;
    readonly jobs: number;
    readonly skippedJobs: number;
    readonly days: number;
    readonly timeZone: string;
    readonly historyWeeks: number;
  };
  readonly sizing: PolicyTuning;
  readonly policies: Record<string, PolicySummary>;
  readonly runningCurve: CurvePoint[];
  readonly oursTuning: OursVariant[];
  /** Tiered with other settings on the same trace: fill source, tier size. */
  readonly tieredTuning: TieredVariant[];
  /** Per policy, the cold-disk penalty swept over `coldDiskPenalties` (re-priced after the run). */
  readonly coldDisk: Record<string, ColdDiskPoint[]>;
  /** The policies rerun with pending → running at other medians. */
  readonly pendingToRunning: PendingSweep[];
  /** The running idle pool sized to the p95 of `policy`, for cost at equal latency. */
  readonly runningAtEqualP95?: RunningAtP95 & { readonly policy: string };
  /** GitHub's webhook incidents in the simulated span (the same for every policy). */
  readonly incidents: { readonly count: number; readonly minutes: number };
  readonly goals: Goal[];
  /** Why the figures are what they are (see explain.ts). */
  readonly explanations: string[];
  readonly runs: Record<string, PolicyRun>;
  readonly svg: string;
}

export interface TieredVariant {
  readonly settings: Partial<PolicyTuning>;
  readonly p50S: number;
  readonly p95S: number;
  readonly costPerJob: number;
  readonly idleCostPerDay: number;
  readonly hotHitRate: number;
  readonly overWorkP95S: number;
  readonly coldDiskShare: number;
}

/**
 * The settings the tiered table compares: the hot tier filled from the stopped pool first (warm disks,
 * on-demand price) instead of spot; the tier at half and at twice its size.
 */
export function tieredVariants(tuning: PolicyTuning): Partial<PolicyTuning>[] {
  return [
    { hotFill: ['pool', 'spot', 'on-demand'] },
    {
      hotMax: Math.max(1, Math.round(tuning.hotMax / 2)),
      hotMin: Math.max(1, Math.round(tuning.hotMin / 2)),
    },
    { hotMax: tuning.hotMax * 2, hotMin: tuning.hotMin * 2 },
  ];
}

export interface OursVariant {
  readonly settings: Partial<PolicyTuning>;
  readonly p50S: number;
  readonly p95S: number;
  readonly poolServedP50S: number;
  readonly costPerJob: number;
  readonly idleCostPerDay: number;
  readonly poolHitRate: number;
  readonly largestTarget: number;
}

/**
 * The settings the tuning table compares ours with: the product's defaults (quantile 0.9, the tuner's
 * 30-minute lead, the reconciler's 60 s), a lower quantile, and a cap as high as the static pool.
 */
export function tuningVariants(tuning: PolicyTuning): Partial<PolicyTuning>[] {
  return [
    { forecastQuantile: 0.9, forecastLeadMinutes: 30 },
    { forecastQuantile: 0.25 },
    { oursMaximum: tuning.daySize },
    { pendingJobSeconds: 60 },
  ];
}

export const allPolicies: readonly PolicyName[] = [
  'cold-spot',
  'running-idle-pool',
  'stopped-static',
  'ours',
  'tiered',
];
const colors: Record<PolicyName, string> = {
  'cold-spot': '#4c78a8',
  'running-idle-pool': '#e45756',
  'stopped-static': '#f2a33a',
  ours: '#54a24b',
  tiered: '#b279a2',
};

function shiftDate(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * dayMs).toISOString().slice(0, 10);
}

interface Prepared {
  readonly trace: Trace;
  readonly history: readonly { jobs: Trace['jobs']; start: number; end: number }[];
}

function prepareTrace(options: SimulationOptions, weeks: number): Prepared {
  if (options.tracePath !== undefined) {
    const whole = readTraceCsv(options.tracePath, {
      ...(options.timeZone !== undefined && { timeZone: options.timeZone }),
    });
    const end = whole.end;
    const start = Math.max(whole.start, end - options.days * dayMs);
    const trace: Trace = { ...whole, jobs: whole.jobs.filter((j) => j.createdAt >= start), start, end };
    const before = whole.jobs.filter((j) => j.createdAt < start);
    return { trace, history: before.length > 0 ? [{ jobs: before, start: whole.start, end: start }] : [] };
  }
  const traceOptions: Partial<TraceOptions> = {
    seed: options.seed,
    days: options.days,
    ...(options.timeZone !== undefined && { timeZone: options.timeZone }),
    ...(options.jobsPerWeekday !== undefined && { jobsPerWeekday: options.jobsPerWeekday }),
  };
  const trace = generateTrace(traceOptions);
  // Earlier weeks of the same organization: same shape, other draws.
  const history = Array.from({ length: weeks }, (_, i) => {
    const w = weeks - i;
    const earlier = generateTrace({
      ...traceOptions,
      seed: options.seed + 7919 * w,
      days: 7,
      startDate: shiftDate(defaultTraceOptions.startDate, -7 * w),
    });
    return { jobs: earlier.jobs, start: earlier.start, end: earlier.end };
  });
  return { trace, history };
}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const log = options.log ?? (() => {});
  const timings = options.timings ?? referenceTimings;
  const prices = options.prices ?? referencePrices;
  const outages = options.outages ?? defaultOutageRates;
  const wanted = new Set(options.policies ?? allPolicies);

  const forecastWeeks = options.sizing?.forecastWeeks ?? 4;
  const prepared = prepareTrace(options, forecastWeeks);
  const sizing: PolicyTuning = { ...defaultSizing(prepared.trace), ...options.sizing };
  const ours = oursConfig(prepared.trace, sizing);
  const servedJobs = prepared.trace.jobs.filter((j) => matchPool(ours, j.labels) !== undefined);
  const trace: Trace = { ...prepared.trace, jobs: servedJobs };
  const skippedJobs = prepared.trace.jobs.length - servedJobs.length;
  if (trace.jobs.length === 0) throw new Error(`no job of the trace asks for the pool's labels`);

  const historyJobs = prepared.history.flatMap((h) => h.jobs).filter((j) => matchPool(ours, j.labels));
  const historySpan = {
    start: Math.min(...prepared.history.map((h) => h.start), trace.start),
    end: trace.start,
  };
  const histories: Record<string, DemandHistory> =
    prepared.history.length > 0
      ? {
          'linux-x64': demandHistoryFromJobs(historyJobs, historySpan, {
            timeZone: trace.timeZone,
            keepWeeks: forecastWeeks,
          }),
        }
      : {};
  const historyWeeks = Math.round((historySpan.end - historySpan.start) / (7 * dayMs));

  const start = trace.start - 3_600_000; // an hour for the pools to fill before the first job
  const base = { trace, seed: options.seed, prices, start };
  const outage =
    options.webhookOutageHours === undefined ? undefined : outageAt(trace, options.webhookOutageHours);
  const scenario = outage === undefined ? {} : { webhookOutage: outage };
  /** One policy on this trace, with the given timings (the reference ones, or a sweep's). */
  const policyRun = (name: PolicyName, t: Timings, label: string = name): Promise<PolicyRun> => {
    const common = { ...base, ...scenario, timings: t, policy: label };
    switch (name) {
      case 'cold-spot':
        return runCorePolicy({ ...common, config: coldSpotConfig(trace, sizing), outages });
      case 'running-idle-pool':
        return runRunningPool({ ...common, config: runningPoolConfig(trace, sizing) });
      case 'stopped-static':
        return runCorePolicy({ ...common, config: stoppedStaticConfig(trace, sizing), outages });
      case 'ours':
        return runCorePolicy({
          ...common,
          config: ours,
          outages,
          forecastLeadMs: sizing.forecastLeadMinutes * 60_000,
          history: histories,
        });
      case 'tiered':
        return runCorePolicy({
          ...common,
          config: tieredConfig(trace, sizing),
          outages,
          forecastLeadMs: sizing.forecastLeadMinutes * 60_000,
          history: histories,
        });
    }
  };

  const runs: Record<string, PolicyRun> = {};
  for (const name of allPolicies) {
    if (!wanted.has(name)) continue;
    log(`  ${name}: ${trace.jobs.length} jobs…`);
    const r = await policyRun(name, timings);
    runs[name] = r;
    log(`  ${name}: done in ${(r.wallMs / 1000).toFixed(1)} s (${r.events} events)`);
  }

  const policies: Record<string, PolicySummary> = {};
  for (const [name, r] of Object.entries(runs))
    policies[name] = summarise(r, policyTitles[name as PolicyName]);

  const runningCurve: CurvePoint[] = [];
  if (wanted.has('running-idle-pool')) {
    for (const scale of options.runningScales ?? [0, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 1.5]) {
      const r =
        scale === 1 && runs['running-idle-pool'] !== undefined
          ? runs['running-idle-pool']
          : await runRunningPool({
              ...base,
              ...scenario,
              timings,
              policy: `running-idle-pool-x${scale}`,
              config: runningPoolConfig(trace, sizing, scale),
            });
      const summary = summarise(r, '');
      runningCurve.push({ scale, p95S: summary.p95S, costPerJob: summary.costPerJob });
    }
  }

  // One run of a policy with some settings changed from the sizing, for the tuning tables.
  const runVariant = async (
    policy: 'ours-variant' | 'tiered-variant',
    variant: Partial<PolicyTuning>,
    configFor: (trace: Trace, tuning: PolicyTuning) => PoolsConfig,
  ) => {
    const tuning = { ...sizing, ...variant };
    log(`  ${policy === 'ours-variant' ? 'ours' : 'tiered'} with ${JSON.stringify(variant)}…`);
    const r = await runCorePolicy({
      ...base,
      ...scenario,
      timings,
      policy,
      config: configFor(trace, tuning),
      outages,
      forecastLeadMs: tuning.forecastLeadMinutes * 60_000,
      history: histories,
    });
    return { r, v: summarise(r, '') };
  };

  const oursTuning: OursVariant[] = [];
  const variants =
    typeof options.oursVariants === 'function' ? options.oursVariants(sizing) : (options.oursVariants ?? []);
  for (const variant of variants) {
    const { r, v } = await runVariant('ours-variant', variant, oursConfig);
    oursTuning.push({
      settings: variant,
      p50S: v.p50S,
      p95S: v.p95S,
      poolServedP50S: v.poolServed.p50S,
      costPerJob: v.costPerJob,
      idleCostPerDay: v.idleCostPerDay,
      poolHitRate: v.poolHitRate,
      largestTarget: r.counters.maxTarget ?? 0,
    });
  }

  const tieredTuning: TieredVariant[] = [];
  const tieredVariants =
    typeof options.tieredVariants === 'function'
      ? options.tieredVariants(sizing)
      : (options.tieredVariants ?? []);
  for (const variant of wanted.has('tiered') ? tieredVariants : []) {
    const { v } = await runVariant('tiered-variant', variant, tieredConfig);
    tieredTuning.push({
      settings: variant,
      p50S: v.p50S,
      p95S: v.p95S,
      costPerJob: v.costPerJob,
      idleCostPerDay: v.idleCostPerDay,
      hotHitRate: v.hotHitRate,
      overWorkP95S: v.completed.overWorkP95S,
      coldDiskShare: v.coldDiskShare,
    });
  }

  const coldDisk: Record<string, ColdDiskPoint[]> = {};
  for (const [name, r] of Object.entries(runs))
    coldDisk[name] = coldDiskSweep(r, prices, sizing.volumeSizeGb, coldDiskPenalties);

  const pendingToRunning: PendingSweep[] = [];
  for (const medianS of options.pendingToRunningMedians ?? []) {
    const swept = { ...timings, pendingToRunning: pendingToRunningAt(medianS) };
    const points: Record<string, SweepPoint> = {};
    for (const name of allPolicies) {
      if (!wanted.has(name)) continue;
      log(`  ${name} with pending → running at ${medianS} s…`);
      points[name] = sweepPoint(await policyRun(name, swept, `${name}@pending-${medianS}`));
    }
    pendingToRunning.push({ medianS, policies: points });
  }

  const equalTo = options.equalLatencyPolicy ?? (wanted.has('tiered') ? 'tiered' : 'ours');
  const target = policies[equalTo];
  const runningAtEqualP95 =
    target !== undefined && wanted.has('running-idle-pool')
      ? {
          policy: equalTo,
          ...(await runningPoolAtP95(target.p95S, sizing.daySize, (scale) =>
            runRunningPool({
              ...base,
              ...scenario,
              timings,
              policy: `running-idle-pool-at-p95-x${scale}`,
              config: runningPoolConfig(trace, sizing, scale),
            }),
          )),
        }
      : undefined;

  const goals = [
    ...judgeTieredGoals(
      policies,
      runningAtEqualP95 !== undefined && runningAtEqualP95.policy === 'tiered'
        ? runningAtEqualP95
        : undefined,
    ),
    ...judgeGoals(policies, runningCurve),
  ];
  const points: ChartPoint[] = Object.entries(policies).map(([name, p]) => ({
    label: policyTitles[name as PolicyName].replace(/ \(.*\)$/, ''),
    costPerJob: p.costPerJob,
    p95S: p.p95S,
    color: colors[name as PolicyName],
  }));
  const svg = latencyCostSvg(
    points,
    runningCurve,
    `p95 pickup against cost per job — ${trace.jobs.length} jobs, ${(trace.end - trace.start) / dayMs} days, seed ${options.seed}`,
  );
  return {
    trace: {
      source: trace.source,
      jobs: trace.jobs.length,
      skippedJobs,
      days: (trace.end - trace.start) / dayMs,
      timeZone: trace.timeZone,
      historyWeeks,
    },
    sizing,
    policies,
    runningCurve,
    oursTuning,
    tieredTuning,
    coldDisk,
    pendingToRunning,
    ...(runningAtEqualP95 !== undefined && { runningAtEqualP95 }),
    incidents: Object.values(runs)[0]?.incidents ?? { count: 0, minutes: 0 },
    goals,
    explanations: explain(timings, prices, trace, policies, sizing.volumeSizeGb),
    runs,
    svg,
  };
}
