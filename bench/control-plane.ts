/**
 * `npm run bench:control-plane`: part 1 of the benchmarks, the control plane measured. A burst of
 * matrix jobs is queued at the GitHub emulator, whose signed webhooks reach the real webhook handler over
 * HTTP; the real adapters talk to every peer on 127.0.0.1 (see bench/control-plane/scenario.ts). Prints
 * handler time per event, calls per job, conflicts, duplicates and lost jobs against the goals, and
 * writes bench/results/latest.json.
 *
 *   tsx bench/control-plane.ts            1,000 jobs over a pool of 100 (a few minutes)
 *   tsx bench/control-plane.ts --quick    200 jobs over a pool of 40 (well under a minute)
 *   tsx bench/control-plane.ts --scenario scale      a day of 20,000 jobs: its busiest 10 minutes with
 *                                                     one App, then two (about 12 minutes)
 *   tsx bench/control-plane.ts --scenario recovery   500 jobs, 10 % of webhooks lost (a few minutes)
 *
 * Exits non-zero when a job was lost or ran twice; goals missed are reported, not fatal.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  type BurstRecoveryReport,
  formatBurstRecovery,
  runBurstRecovery,
} from './control-plane/burst-recovery.js';
import { presets, recoveryPresets, scalePresets } from './control-plane/presets.js';
import { buildReport, type ControlPlaneReport, formatReport } from './control-plane/report.js';
import { defaultResultsDir, writeLatest, writeScenarios } from './control-plane/results.js';
import { runScaleScenario, type ScaleOptions } from './control-plane/scale.js';
import { buildScaleReport, formatScaleReport, type ScaleReport } from './control-plane/scale-report.js';
import { runScenario, type ScenarioOptions } from './control-plane/scenario.js';

export interface ControlPlaneBenchOptions extends Partial<Omit<ScenarioOptions, 'log'>> {
  readonly preset?: keyof typeof presets;
  readonly log?: (line: string) => void;
}

/** Runs the scenario at a preset's size (overridable field by field) and builds the report. */
export async function runControlPlaneBench(
  options: ControlPlaneBenchOptions = {},
): Promise<ControlPlaneReport> {
  const { preset = 'full', log = () => undefined, ...overrides } = options;
  const result = await runScenario({ ...presets[preset], seed: 1, ...overrides, log });
  return buildReport(result);
}

export interface ScaleBenchOptions extends Partial<Omit<ScaleOptions, 'log'>> {
  readonly preset?: keyof typeof scalePresets;
  readonly log?: (line: string) => void;
}

/** The scale scenario at a preset's size (overridable field by field), one App count after another. */
export async function runScaleBench(options: ScaleBenchOptions = {}): Promise<ScaleReport> {
  const { preset = 'scale', log = () => undefined, ...overrides } = options;
  return buildScaleReport(await runScaleScenario({ ...scalePresets[preset], seed: 1, ...overrides, log }));
}

export interface RecoveryBenchOptions extends Partial<Omit<Parameters<typeof runBurstRecovery>[0], 'log'>> {
  readonly preset?: keyof typeof recoveryPresets;
  readonly log?: (line: string) => void;
}

/** The burst-recovery scenario at a preset's size. */
export async function runRecoveryBench(options: RecoveryBenchOptions = {}): Promise<BurstRecoveryReport> {
  const { preset = 'recovery', log = () => undefined, ...overrides } = options;
  return runBurstRecovery({ ...recoveryPresets[preset], seed: 1, ...overrides, log });
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

function concurrency(value: string): number {
  if (value === 'unbounded') return Number.POSITIVE_INFINITY;
  return positiveInt(value);
}

function scale(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`"${value}" is not a number in (0, 1]`);
  return n;
}

function appCounts(value: string): number[] {
  const counts = value.split(',').map((v) => Number(v.trim()));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 4))
    throw new InvalidArgumentError(`"${value}" is not a list of App counts from 1 to 4 (e.g. 1,2)`);
  return counts;
}

function share(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError(`"${value}" is not a share in [0, 1)`);
  return n;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench:control-plane')
    .description('The control plane against its peers: handler time, calls per job, conflicts, duplicates.')
    .addOption(
      new Option('--scenario <name>', 'burst, scale (one App against two) or recovery (lost webhooks)')
        .choices(['burst', 'scale', 'recovery'])
        .default('burst'),
    )
    .option('--quick', 'the smaller size of the scenario (burst: 200 jobs, under a minute)', false)
    .option('--jobs <n>', 'jobs in the burst (scale: in the day)', positiveInt)
    .option('--apps <list>', 'scale: the App counts compared, one sandbox each (default 1,2)', appCounts)
    .option('--window <minutes>', "scale: how much of the day's busiest part runs", positiveInt)
    .option('--lost <share>', 'recovery: share of webhook deliveries lost (default 0.1)', share)
    .option('--pool <n>', 'ready instances when the burst starts', positiveInt)
    .option('--probe <n>', 'jobs replayed one invocation at a time', positiveInt)
    .option('--concurrency <n>', "webhook invocations at once during the burst, or 'unbounded'", concurrency)
    .option('--time-scale <x>', "EC2's pace (0.02: a 5 s boot takes 100 ms)", scale)
    .option('--seed <n>', 'seed of the matrix sizes and job durations', positiveInt, 1)
    .option(
      '--index-lag-ms <ms>',
      "the pool store's index lag behind writes, as a DynamoDB GSI's (0: none)",
      positiveInt,
    )
    .option('--out <dir>', 'where latest.json goes', defaultResultsDir)
    .parse();
  const o = program.opts<{
    scenario: 'burst' | 'scale' | 'recovery';
    apps?: number[];
    window?: number;
    lost?: number;
    quick: boolean;
    jobs?: number;
    pool?: number;
    probe?: number;
    concurrency?: number;
    timeScale?: number;
    indexLagMs?: number;
    seed: number;
    out: string;
  }>();
  const began = performance.now();
  const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(1)} s] ${line}`);
  const command = `tsx bench/control-plane.ts ${process.argv.slice(2).join(' ')}`.trim();
  if (o.scenario === 'scale') {
    const report = await runScaleBench({
      preset: o.quick ? 'scale-quick' : 'scale',
      seed: o.seed,
      ...(o.jobs !== undefined && { jobs: o.jobs }),
      ...(o.apps !== undefined && { appCounts: o.apps }),
      ...(o.window !== undefined && { windowMinutes: o.window }),
      ...(o.pool !== undefined && { poolSize: o.pool }),
      ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
      ...(o.timeScale !== undefined && { timeScale: o.timeScale }),
      log,
    });
    console.log(`\n${formatScaleReport(report)}\n`);
    writeScenarios(o.out, command, { scale: report });
    console.log(
      `Wrote controlPlane.scale to ${o.out}/latest.json in ${((performance.now() - began) / 1000).toFixed(0)} s`,
    );
    if (report.duplicates > 0 || report.lost > 0) process.exitCode = 1;
    return;
  }
  if (o.scenario === 'recovery') {
    const report = await runRecoveryBench({
      preset: 'recovery',
      seed: o.seed,
      ...(o.quick && { jobs: 200, poolSize: 40 }),
      ...(o.jobs !== undefined && { jobs: o.jobs }),
      ...(o.pool !== undefined && { poolSize: o.pool }),
      ...(o.lost !== undefined && { lostShare: o.lost }),
      ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
      ...(o.timeScale !== undefined && { timeScale: o.timeScale }),
      log,
    });
    console.log(`\n${formatBurstRecovery(report)}\n`);
    writeScenarios(o.out, command, { burstRecovery: report });
    console.log(
      `Wrote controlPlane.burstRecovery to ${o.out}/latest.json in ${((performance.now() - began) / 1000).toFixed(0)} s`,
    );
    if (report.duplicates > 0 || report.lost > 0) process.exitCode = 1;
    return;
  }
  const report = await runControlPlaneBench({
    preset: o.quick ? 'quick' : 'full',
    seed: o.seed,
    ...(o.jobs !== undefined && { jobs: o.jobs }),
    ...(o.pool !== undefined && { poolSize: o.pool }),
    ...(o.probe !== undefined && { probeJobs: o.probe }),
    ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
    ...(o.timeScale !== undefined && { timeScale: o.timeScale }),
    ...(o.indexLagMs !== undefined && { indexLagMs: o.indexLagMs }),
    log,
  });
  console.log(`\n${formatReport(report)}\n`);
  const latest = writeLatest(o.out, command, report);
  console.log(
    `Wrote ${o.out}/latest.json in ${((performance.now() - began) / 1000).toFixed(0)} s` +
      (latest.simulation === null ? '' : ` (simulation figures merged from ${o.out}/simulation.json)`),
  );
  if (report.duplicates > 0 || report.lost > 0) process.exitCode = 1;
}

// Run as a script, not when imported (bench/run.ts and the test import runControlPlaneBench).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/control-plane.ts')) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
