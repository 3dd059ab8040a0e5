/**
 * `npm run bench`: both parts of the benchmarks, then bench/results/latest.json with both sets of figures.
 *
 *   part 1  bench/control-plane.ts  the control plane measured against its peers on 127.0.0.1
 *   part 2  bench/simulate.ts       the policy simulator (bench/results/simulation.json)
 *
 * `--quick` runs both at their small sizes side by side (each is single-threaded, and the machine has
 * two cores), so the whole takes about a minute; part 1's timings are then indicative only. Without it
 * the parts run one after the other. Each part runs in its own process, so that part 1's peak memory is
 * its own. A missing or failing part is reported and the other part's figures are kept. `--scale` then
 * runs part 1's organization-scale scenarios (one App against two; burst recovery), each alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { defaultResultsDir, readLatest, writeLatest } from './control-plane/results.js';

const controlPlaneScript = 'bench/control-plane.ts';
const simulatorScript = 'bench/simulate.ts';

interface PartOutcome {
  readonly name: string;
  readonly code: number | null;
  readonly output: string;
  readonly seconds: number;
}

/** Runs a TypeScript script under tsx; streams its output, or keeps it to print later. */
function runPart(
  name: string,
  script: string,
  args: readonly string[],
  stream: boolean,
): Promise<PartOutcome> {
  const began = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const take = (chunk: Buffer) => {
    if (stream) process.stdout.write(chunk);
    else output += chunk.toString('utf8');
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', (chunk: Buffer) => {
    // The AWS SDK's notice about future Node versions says nothing about the benchmark.
    const text = chunk.toString('utf8');
    if (
      /NodeVersionSupportWarning|versions published after|will require node|To continue receiving|security updates|a\.co\/|trace-warnings/.test(
        text,
      )
    )
      return;
    take(chunk);
  });
  return new Promise((resolve) => {
    child.on('close', (code) =>
      resolve({ name, code, output, seconds: Math.round((performance.now() - began) / 1000) }),
    );
  });
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench')
    .description('Part 1, the control plane measured; part 2, the policy simulator.')
    .option('--quick', 'small sizes, both parts side by side (about a minute)', false)
    .option(
      '--scale',
      "then part 1's organization-scale scenarios: one App against two, and burst recovery (+15 min; with --quick, +5)",
      false,
    )
    .option('--out <dir>', 'where the results go', defaultResultsDir)
    .parse();
  const o = program.opts<{ quick: boolean; scale: boolean; out: string }>();
  const args = [...(o.quick ? ['--quick'] : []), '--out', o.out];
  const began = Date.now();

  const parts: Promise<PartOutcome>[] = [];
  console.log(`Part 1: the control plane (${controlPlaneScript})\n`);
  const part1 = runPart('control plane', controlPlaneScript, args, true);
  parts.push(part1);
  let part2: Promise<PartOutcome> | undefined;
  const simulatorExists = existsSync(simulatorScript);
  if (simulatorExists) {
    if (o.quick) part2 = runPart('simulator', simulatorScript, args, false);
    else {
      await part1;
      console.log(`\nPart 2: the policy simulator (${simulatorScript})\n`);
      part2 = runPart('simulator', simulatorScript, args, true);
    }
    parts.push(part2);
  }

  const [first, second] = await Promise.all(parts);
  if (o.quick && second !== undefined) {
    console.log(`\nPart 2: the policy simulator (${simulatorScript}, ran alongside part 1)\n`);
    process.stdout.write(second.output);
  }
  // One after the other, alone on the machine: each compares figures read on a compressed clock.
  const scenarios: PartOutcome[] = [];
  if (o.scale)
    for (const scenario of ['scale', 'recovery']) {
      console.log(`\nPart 1, scenario ${scenario} (${controlPlaneScript} --scenario ${scenario})\n`);
      scenarios.push(
        await runPart(
          `control plane, ${scenario}`,
          controlPlaneScript,
          ['--scenario', scenario, ...args],
          true,
        ),
      );
    }

  console.log('\nSummary');
  for (const part of [first, second, ...scenarios]) {
    if (part === undefined) continue;
    console.log(
      `  ${part.name}: ${part.code === 0 ? 'done' : `FAILED (exit ${part.code})`} in ${part.seconds} s`,
    );
  }
  if (!simulatorExists)
    console.log(
      `  simulator: not run — ${simulatorScript} does not exist yet; latest.json keeps "simulation": null`,
    );
  else {
    const written = existsSync(`${o.out}/simulation.json`) ? statSync(`${o.out}/simulation.json`).mtimeMs : 0;
    if (written < began)
      console.log(
        `  simulator: ${o.out}/simulation.json was not written by this run; its figures are not merged`,
      );
  }

  // Merge what this run produced; a stale simulation.json from an earlier run is left out.
  const fresh =
    simulatorExists &&
    existsSync(`${o.out}/simulation.json`) &&
    statSync(`${o.out}/simulation.json`).mtimeMs >= began;
  const previous = readLatest(o.out);
  const controlPlane =
    previous?.controlPlane != null &&
    'jobs' in previous.controlPlane &&
    Date.parse(previous.generatedAt) >= began
      ? previous.controlPlane
      : null;
  if (controlPlane === null) console.log(`  control plane: no figures from this run`);
  const command = `tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim();
  const latest = writeLatest(o.out, command, controlPlane, { includeSimulation: fresh });
  console.log(
    `  wrote ${o.out}/latest.json: control plane ${latest.controlPlane === null ? 'missing' : 'included'}, ` +
      `simulation ${latest.simulation === null ? 'missing' : 'included'} (${Math.round((Date.now() - began) / 1000)} s in all)`,
  );
  if ([first, second, ...scenarios].some((p) => p !== undefined && p.code !== 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
