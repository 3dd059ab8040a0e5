/**
 * `npm run bench:simulate`: the policy simulator. Runs the four strategies on one job trace (a generated
 * mid-size organization's week by default, or your own history with --trace), prints a table and the
 * goals, and writes bench/results/simulation.json and bench/results/latency-vs-cost.svg.
 *
 *   tsx bench/simulate.ts                 a week, ~5,000 jobs (a few minutes)
 *   tsx bench/simulate.ts --quick         a shorter trace (well under a minute)
 *   tsx bench/simulate.ts --trace jobs.csv --timezone Europe/Paris --days 7
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { allPolicies, type SimulationResult, simulate, tuningVariants } from './simulator/run-simulation.js';
import { TraceFormatError } from './traces/csv.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
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
  .option('--quick', 'a shorter trace (two working days of a smaller organization)', false)
  .option('--seed <n>', 'seed of the trace and of every random draw', positiveInt, 1)
  .option('--days <n>', 'days to simulate', positiveInt)
  .option('--trace <file.csv>', 'replay a CSV of jobs (created_at, labels, duration_s)')
  .option('--timezone <zone>', "the organization's time zone (schedules, generated peaks)")
  .option('--jobs-per-weekday <n>', 'size of the generated organization', positiveInt)
  .option('--quantile <q>', 'ours: forecast quantile', unitInterval)
  .option('--lead <minutes>', 'ours: forecast look-ahead in minutes', positiveInt)
  .option('--maximum <n>', 'ours: pool maximum', positiveInt)
  .option('--out <dir>', 'where to write the results', 'bench/results');

function table(result: SimulationResult): string {
  const header = ['policy', 'jobs', 'p50 s', 'p95 s', 'p99 s', '$/job', 'idle $/day', 'fallback', 'pool hit'];
  const rows = Object.entries(result.policies).map(([name, p]) => [
    name,
    String(p.jobs),
    p.p50S.toFixed(1),
    p.p95S.toFixed(1),
    p.p99S.toFixed(1),
    p.costPerJob.toFixed(4),
    p.idleCostPerDay.toFixed(2),
    `${(p.fallbackShare * 100).toFixed(0)} %`,
    `${(p.poolHitRate * 100).toFixed(0)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{
    quick: boolean;
    seed: number;
    days?: number;
    trace?: string;
    timezone?: string;
    jobsPerWeekday?: number;
    quantile?: number;
    lead?: number;
    maximum?: number;
    out: string;
  }>();
  const began = performance.now();
  const sizing = {
    ...(o.quantile !== undefined && { forecastQuantile: o.quantile }),
    ...(o.lead !== undefined && { forecastLeadMinutes: o.lead }),
    ...(o.maximum !== undefined && { oursMaximum: o.maximum }),
  };
  const result = await simulate({
    seed: o.seed,
    days: o.days ?? (o.quick ? 2 : 7),
    ...(o.trace !== undefined && { tracePath: o.trace }),
    ...(o.timezone !== undefined && { timeZone: o.timezone }),
    ...(o.jobsPerWeekday !== undefined
      ? { jobsPerWeekday: o.jobsPerWeekday }
      : o.quick && o.trace === undefined
        ? { jobsPerWeekday: 500 }
        : {}),
    sizing,
    ...(o.quick ? { runningScales: [0, 0.05, 0.25, 1] } : { oursVariants: tuningVariants }),
    log: (line) => console.log(line),
  });

  console.log(`\nTrace: ${result.trace.source}`);
  console.log(
    `  ${result.trace.jobs} jobs over ${result.trace.days.toFixed(1)} days` +
      (result.trace.skippedJobs > 0
        ? ` (${result.trace.skippedJobs} jobs for labels no pool serves left out)`
        : '') +
      `; ours learned from ${result.trace.historyWeeks} earlier week(s)`,
  );
  console.log(`  pools: ${JSON.stringify(result.sizing)}\n`);
  console.log(table(result));
  console.log('\nRunning idle pool at other sizes (× the static schedule): p95 s / $ per job');
  for (const c of result.runningCurve)
    console.log(`  ×${c.scale}: ${c.p95S.toFixed(1)} s / $${c.costPerJob.toFixed(4)}`);
  if (result.oursTuning.length > 0) {
    console.log('\nOurs with other settings (same trace): p50 / p95 s, $ per job, pool hit, largest target');
    for (const v of result.oursTuning)
      console.log(
        `  ${JSON.stringify(v.settings)}: ${v.p50S.toFixed(1)} / ${v.p95S.toFixed(1)} s, $${v.costPerJob.toFixed(4)}, ${(v.poolHitRate * 100).toFixed(0)} %, ${v.largestTarget}`,
      );
  }
  console.log('\nGoals:');
  for (const g of result.goals) console.log(`  [${g.met ? 'met' : 'NOT met'}] ${g.goal}\n      ${g.detail}`);
  console.log('\nWhy:');
  for (const line of result.explanations) console.log(`  - ${line}`);

  mkdirSync(o.out, { recursive: true });
  const command = `tsx bench/simulate.ts ${process.argv.slice(2).join(' ')}`.trim();
  const document = {
    simulation: {
      command,
      seed: o.seed,
      trace: result.trace,
      sizing: result.sizing,
      policies: result.policies,
      runningPoolCurve: result.runningCurve,
      oursTuning: result.oursTuning,
      goals: result.goals,
      explanations: result.explanations,
      policyNames: allPolicies,
    },
  };
  writeFileSync(join(o.out, 'simulation.json'), `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(join(o.out, 'latency-vs-cost.svg'), result.svg);
  console.log(
    `\nWrote ${join(o.out, 'simulation.json')} and ${join(o.out, 'latency-vs-cost.svg')} in ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof TraceFormatError) console.error(error.message);
  else console.error(error);
  process.exitCode = 1;
});
