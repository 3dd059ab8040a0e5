/**
 * `npm run bench:simulate`: the policy simulator. Runs the strategies on one job trace (a generated
 * mid-size organization's week by default, or your own history with --trace), on three seeds by
 * default (`--seeds`), prints a table per seed, the spread across seeds and the goals, and writes
 * simulation.json and latency-vs-cost.svg to `--out` (bench/results by default).
 *
 *   tsx bench/simulate.ts                 a week on seeds 1, 2, 3 (several minutes)
 *   tsx bench/simulate.ts --quick         a shorter trace, one seed (seconds)
 *   tsx bench/simulate.ts --seed 4 --out /tmp/sim
 *   tsx bench/simulate.ts --trace jobs.csv --timezone Europe/Paris --days 7
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  allPolicies,
  coldDiskPenalties,
  type SimulationResult,
  simulate,
  tieredVariants,
  tuningVariants,
} from './simulator/run-simulation.js';
import { type SeedRun, spreadOverSeeds } from './simulator/seeds.js';
import { TraceFormatError } from './traces/csv.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

function seedList(value: string): number[] {
  const seeds = value.split(',').map((v) => positiveInt(v.trim()));
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError(`"${value}" lists a seed twice`);
  return seeds;
}

function secondsList(value: string): number[] {
  return value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!(n > 0)) throw new InvalidArgumentError(`"${v}" is not a positive number of seconds`);
    return n;
  });
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`"${value}" is not a positive number`);
  return n;
}

function unitInterval(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`"${value}" is not a number in [0, 1]`);
  return n;
}

const program = new Command()
  .name('bench:simulate')
  .description('Discrete-event simulation of runner pool policies: pickup latency against cost.')
  .option('--quick', 'a shorter trace (two working days of a smaller organization), one seed', false)
  .option(
    '--seed <n>',
    'seed of the trace and of every random draw (the one whose figures are shown first)',
    positiveInt,
    1,
  )
  .option(
    '--seeds <list>',
    'seeds to run, comma-separated (default: the seed and the next two; --quick: the seed)',
    seedList,
  )
  .option('--days <n>', 'days to simulate', positiveInt)
  .option('--trace <file.csv>', 'replay a CSV of jobs (created_at, labels, duration_s)')
  .option('--timezone <zone>', "the organization's time zone (schedules, generated peaks)")
  .option('--jobs-per-weekday <n>', 'size of the generated organization', positiveInt)
  .option('--quantile <q>', 'ours: forecast quantile', unitInterval)
  .option('--lead <minutes>', 'ours: forecast look-ahead in minutes', positiveInt)
  .option('--maximum <n>', 'ours: pool maximum', positiveInt)
  .option(
    '--pending-sweep <seconds>',
    'medians of pending → running to rerun every policy at, on the first seed (e.g. 4.9,16.5)',
    secondsList,
  )
  .option('--no-tiered-variants', "skip tiered's variants (fill source, tier size) on the first seed")
  .option(
    '--ours-variants',
    "also run ours with other settings on the first seed (the stopped pool's tuning table)",
    false,
  )
  .option(
    '--webhook-outage <hours>',
    'scenario: GitHub holds every webhook this long from Tuesday 10:00',
    positiveNumber,
  )
  .option('--out <dir>', 'where to write the results', 'bench/results');

type Options = {
  quick: boolean;
  seed: number;
  seeds?: number[];
  days?: number;
  trace?: string;
  timezone?: string;
  jobsPerWeekday?: number;
  quantile?: number;
  lead?: number;
  maximum?: number;
  pendingSweep?: number[];
  oursVariants: boolean;
  tieredVariants: boolean;
  webhookOutage?: number;
  out: string;
};

const s = (v: number) => v.toFixed(1);
const usd = (v: number) => v.toFixed(4);
const pct = (v: number) => `${(v * 100).toFixed(0)} %`;

function render(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function table(result: SimulationResult): string {
  const header = [
    'policy',
    'jobs',
    'p50 s',
    'p95 s',
    'p99 s',
    'done+ p95 s',
    '$/job',
    'idle $/day',
    'hot hit',
    'pool hit',
    'cold disk',
  ];
  const rows = Object.entries(result.policies).map(([name, p]) => [
    name,
    String(p.jobs),
    s(p.p50S),
    s(p.p95S),
    s(p.p99S),
    s(p.completed.overWorkP95S),
    usd(p.costPerJob),
    p.idleCostPerDay.toFixed(2),
    pct(p.hotHitRate),
    pct(p.poolHitRate),
    pct(p.coldDiskShare),
  ]);
  return render(header, rows);
}

function spreadTable(spread: ReturnType<typeof spreadOverSeeds>): string {
  const range = (v: { min: number; median: number; max: number }, f: (n: number) => string) =>
    `${f(v.median)} (${f(v.min)}–${f(v.max)})`;
  const rows = Object.entries(spread).map(([name, p]) => [
    name,
    range(p.p50S, s),
    range(p.p95S, s),
    range(p.completedOverWorkP95S, s),
    range(p.costPerJob, usd),
  ]);
  return render(['policy', 'p50 s', 'p95 s', 'done+ p95 s', '$/job'], rows);
}

/** What one seed's run keeps for the multi-seed part of the document. */
function seedRun(seed: number, r: SimulationResult): SeedRun {
  return { seed, jobs: r.trace.jobs, incidents: r.incidents, policies: r.policies, goals: r.goals };
}

function compactPolicies(r: SeedRun): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(r.policies))
    out[name] = {
      p50S: p.p50S,
      p95S: p.p95S,
      p99S: p.p99S,
      costPerJob: p.costPerJob,
      idleCostPerDay: p.idleCostPerDay,
      hotHitRate: p.hotHitRate,
      poolHitRate: p.poolHitRate,
      completed: p.completed,
      coldDiskShare: p.coldDiskShare,
    };
  return out;
}

function printResult(result: SimulationResult, seed: number): void {
  console.log(`\nSeed ${seed}. Trace: ${result.trace.source}`);
  console.log(
    `  ${result.trace.jobs} jobs over ${result.trace.days.toFixed(1)} days` +
      (result.trace.skippedJobs > 0
        ? ` (${result.trace.skippedJobs} jobs for labels no pool serves left out)`
        : '') +
      `; ours learned from ${result.trace.historyWeeks} earlier week(s); GitHub webhook incidents: ${result.incidents.count}, ${result.incidents.minutes} min in all`,
  );
  console.log(`  pools: ${JSON.stringify(result.sizing)}\n`);
  console.log(table(result));
  console.log(
    "  (done+ = queued → completed minus the job's own work on a warm disk: pickup + cold-disk penalty)",
  );
}

/**
 * Writes simulation.json (and the chart) from the seeds run so far: after every seed, so that a long
 * run stopped early keeps what it finished.
 */
function write(
  out: string,
  seeds: readonly number[],
  results: readonly { seed: number; result: SimulationResult }[],
): void {
  const primary = results[0]?.result;
  if (primary === undefined) return;
  const bySeed = results.map(({ seed, result }) => seedRun(seed, result));
  mkdirSync(out, { recursive: true });
  const command = `tsx bench/simulate.ts ${process.argv.slice(2).join(' ')}`.trim();
  const document = {
    simulation: {
      command,
      seed: seeds[0],
      seeds: results.map((r) => r.seed),
      ...(results.length < seeds.length && { seedsAsked: seeds }),
      trace: primary.trace,
      sizing: primary.sizing,
      incidents: primary.incidents,
      policies: primary.policies,
      runningPoolCurve: primary.runningCurve,
      runningAtEqualP95: primary.runningAtEqualP95,
      oursTuning: primary.oursTuning,
      tieredTuning: primary.tieredTuning,
      coldDiskPenalties,
      coldDisk: primary.coldDisk,
      pendingToRunning: primary.pendingToRunning,
      goals: primary.goals,
      explanations: primary.explanations,
      policyNames: allPolicies,
      bySeed: bySeed.map((r) => ({
        seed: r.seed,
        jobs: r.jobs,
        incidents: r.incidents,
        policies: compactPolicies(r),
        goals: r.goals,
      })),
      spread: spreadOverSeeds(bySeed),
    },
  };
  writeFileSync(join(out, 'simulation.json'), `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(join(out, 'latency-vs-cost.svg'), primary.svg);
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<Options>();
  const began = performance.now();
  const sizing = {
    ...(o.quantile !== undefined && { forecastQuantile: o.quantile }),
    ...(o.lead !== undefined && { forecastLeadMinutes: o.lead }),
    ...(o.maximum !== undefined && { oursMaximum: o.maximum }),
  };
  const seeds = o.seeds ?? (o.quick ? [o.seed] : [o.seed, o.seed + 1, o.seed + 2]);
  const pendingSweep = o.pendingSweep ?? [];
  const results: { seed: number; result: SimulationResult }[] = [];
  for (const [index, seed] of seeds.entries()) {
    console.log(`Seed ${seed}:`);
    const first = index === 0;
    const result = await simulate({
      seed,
      days: o.days ?? (o.quick ? 2 : 7),
      ...(o.trace !== undefined && { tracePath: o.trace }),
      ...(o.timezone !== undefined && { timeZone: o.timezone }),
      ...(o.jobsPerWeekday !== undefined
        ? { jobsPerWeekday: o.jobsPerWeekday }
        : o.quick && o.trace === undefined
          ? { jobsPerWeekday: 500 }
          : {}),
      sizing,
      ...(o.quick
        ? { runningScales: [0, 0.05, 0.25, 1] }
        : first
          ? {
              ...(o.tieredVariants && { tieredVariants }),
              ...(o.oursVariants && { oursVariants: tuningVariants }),
            }
          : {}),
      ...(first && { pendingToRunningMedians: pendingSweep }),
      ...(o.webhookOutage !== undefined && { webhookOutageHours: o.webhookOutage }),
      log: (line) => console.log(line),
    });
    results.push({ seed, result });
    write(o.out, seeds, results);
  }
  const primary = results[0]?.result;
  if (primary === undefined) throw new Error('no seed was run');
  for (const { seed, result } of results) printResult(result, seed);

  console.log('\nRunning idle pool at other sizes (× the static schedule), first seed: p95 s / $ per job');
  for (const c of primary.runningCurve)
    console.log(`  ×${c.scale}: ${c.p95S.toFixed(1)} s / $${c.costPerJob.toFixed(4)}`);
  const equal = primary.runningAtEqualP95;
  if (equal !== undefined)
    console.log(
      `  sized to ${equal.policy}'s p95 (${s(primary.policies[equal.policy]?.p95S ?? Number.NaN)} s): ×${equal.scale.toFixed(3)} = ${equal.daySize} runners in working hours, p95 ${s(equal.p95S)} s, $${usd(equal.costPerJob)}/job${equal.reached ? '' : ' (not reached: the largest size tried)'}`,
    );
  if (primary.oursTuning.length > 0) {
    console.log('\nOurs with other settings (first seed): p50 / p95 s, $ per job, pool hit, largest target');
    for (const v of primary.oursTuning)
      console.log(
        `  ${JSON.stringify(v.settings)}: ${v.p50S.toFixed(1)} / ${v.p95S.toFixed(1)} s, $${v.costPerJob.toFixed(4)}, ${(v.poolHitRate * 100).toFixed(0)} %, ${v.largestTarget}`,
      );
  }
  if (primary.tieredTuning.length > 0) {
    console.log('\nTiered with other settings (first seed): p50 / p95 s, $ per job, hot hit, done+ p95 s');
    for (const v of primary.tieredTuning)
      console.log(
        `  ${JSON.stringify(v.settings)}: ${s(v.p50S)} / ${s(v.p95S)} s, $${usd(v.costPerJob)}, ${pct(v.hotHitRate)}, ${s(v.overWorkP95S)}`,
      );
  }
  console.log(
    `\nCold-disk penalty swept (first seed; ASSUMPTION, the run drew 30–120 s): done+ p95 s / $ per job at ${coldDiskPenalties.join(', ')} s`,
  );
  for (const [name, points] of Object.entries(primary.coldDisk))
    console.log(`  ${name}: ${points.map((p) => `${s(p.overWorkP95S)} / ${usd(p.costPerJob)}`).join('  ')}`);
  for (const sweep of primary.pendingToRunning) {
    console.log(`\nPending → running at a median of ${sweep.medianS} s (first seed): p50 / p95 s, $ per job`);
    for (const [name, p] of Object.entries(sweep.policies))
      console.log(`  ${name}: ${s(p.p50S)} / ${s(p.p95S)} s, $${usd(p.costPerJob)}`);
  }
  const bySeed = results.map(({ seed, result }) => seedRun(seed, result));
  const spread = spreadOverSeeds(bySeed);
  if (results.length > 1) {
    console.log(`\nAcross seeds ${seeds.join(', ')}: median (min–max)`);
    console.log(spreadTable(spread));
  }
  console.log('\nGoals:');
  for (const { seed, result } of results)
    for (const g of result.goals)
      console.log(`  seed ${seed} [${g.met ? 'met' : 'NOT met'}] ${g.goal}\n      ${g.detail}`);
  console.log('\nWhy (first seed):');
  for (const line of primary.explanations) console.log(`  - ${line}`);

  write(o.out, seeds, results);
  console.log(
    `\nWrote ${join(o.out, 'simulation.json')} and ${join(o.out, 'latency-vs-cost.svg')} in ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof TraceFormatError) console.error(error.message);
  else console.error(error);
  process.exitCode = 1;
});
