/**
 * `npx tsx bench/cost-report.ts [--jobs 20000] [--repositories 500]`: the daily cost report over a large
 * day, against dynalite through the production DynamoDB adapter. Seeds a day of completed jobs with
 * booked usage (spread over repositories of three organizations, three pools and the three markets) and
 * the day's overhead counter, then times `readCostReport` (pages of 500 on the jobs-by-state index, folded
 * into the accumulator) and samples the heap while it runs. Prints the figures; the seeding is not timed.
 *
 * The heap figure includes dynalite itself (it runs in this process) and the SDK's responses: an upper
 * bound on what the report function holds. Run with `node --expose-gc --import tsx` for a steadier baseline.
 */
import { Command, InvalidArgumentError } from 'commander';
import { DynamoDbPoolStore } from '../scheduler/adapters/dynamodb-pool-store.js';
import { readCostReport } from '../scheduler/core/cost-report.js';
import type { CostMarket } from '../scheduler/core/cost-usage.js';
import { validatePoolsConfig } from '../scheduler/core/pool-config.js';
import type { JobRecord } from '../scheduler/core/types.js';
import { startDynalite } from '../stand-ins/aws/dynalite.js';

const whole = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number.');
  return n;
};
const options = new Command()
  .option('--jobs <n>', 'completed jobs in the day', whole, 20_000)
  .option('--repositories <n>', 'distinct repositories', whole, 500)
  .parse()
  .opts<{ jobs: number; repositories: number }>();

const day = '2026-03-09';
const dayStart = Date.UTC(2026, 2, 9);
const pools = ['linux-x64', 'linux-arm64', 'gpu'];
const markets: CostMarket[] = ['pool', 'pool', 'pool', 'spot', 'on-demand'];
const types: Record<string, string> = {
  'linux-x64': 'm7i.large',
  'linux-arm64': 'm7g.large',
  gpu: 'x9.unlisted',
};
const config = validatePoolsConfig({
  pools: pools.map((name, i) => ({
    name,
    labels: [name],
    architecture: name === 'linux-arm64' ? 'arm64' : 'x64',
    instanceTypes: [name === 'linux-arm64' ? 'm7g.large' : 'm7i.large'],
    subnets: ['subnet-0a000000000000001'],
    defaultSize: 2 + i,
    maximum: 50,
  })),
});
if (!config.ok) throw new Error(config.problems.join('\n'));

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  const peer = await startDynalite();
  const tableName = await peer.createTable();
  const clock = { now: () => dayStart + 86_400_000 + 30 * 60_000 };
  const store = new DynamoDbPoolStore({ client: peer.client, tableName, clock });

  const seedStarted = performance.now();
  let next = 0;
  const seedOne = async (i: number) => {
    const pool = pools[i % pools.length] ?? 'linux-x64';
    const repository = i % options.repositories;
    const job: JobRecord = {
      id: 10_000_000 + i,
      runId: 1_000 + Math.floor(i / 20),
      repository: {
        owner: ['acme', 'globex', 'initech'][repository % 3] ?? 'acme',
        name: `repo-${repository}`,
      },
      labels: ['self-hosted', pool],
      pool,
      state: 'completed',
      version: 4,
      phases: { createdAt: dayStart + i * 4_000, inProgressAt: dayStart + i * 4_000 + 8_000 },
      attempts: [{ step: 'pool', at: dayStart + i * 4_000, outcome: 'ok' }],
      reprovisions: 0,
      deliveries: [`d-${i}-q`, `d-${i}-p`, `d-${i}-c`],
      updatedAt: dayStart + Math.floor((i * 86_400_000) / options.jobs),
      usage: {
        instanceId: `i-${i.toString(16).padStart(17, '0')}`,
        pool,
        market: markets[i % markets.length] ?? 'pool',
        instanceType: types[pool] ?? 'm7i.large',
        seconds: 60 + ((i * 7919) % 3_600),
        endedAt: dayStart + i * 4_000 + 600_000,
      },
    };
    await store.createJob(job);
  };
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < options.jobs) await seedOne(next++);
    }),
  );
  await store.addUsage(
    day,
    pools.flatMap((pool) => [
      {
        pool,
        category: 'warmup' as const,
        market: 'pool' as const,
        instanceType: types[pool] ?? 'm7i.large',
        seconds: 40_000,
      },
      {
        pool,
        category: 'storage' as const,
        market: 'pool' as const,
        instanceType: types[pool] ?? 'm7i.large',
        seconds: 900_000,
      },
      {
        pool,
        category: 'hot-idle' as const,
        market: 'spot' as const,
        instanceType: types[pool] ?? 'm7i.large',
        seconds: 20_000,
      },
    ]),
  );
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  gc?.();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 20);
  const queries = peer.callCounts().Query ?? 0;
  const started = performance.now();
  const report = await readCostReport(
    { store },
    config.ok ? config.config : { pools: [], settings: {} as never },
    {
      from: day,
      to: day,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  const pages = (peer.callCounts().Query ?? 0) - queries;

  const sum = report.repositories.reduce((n, r) => n + r.costCents, 0);
  console.log(
    `cost report over ${report.totals.jobs.toLocaleString('en-US')} jobs, ${report.repositories.length} repositories, ${report.organizations.length} organizations (seeded in ${seedSeconds.toFixed(1)} s)`,
  );
  console.log(
    `  time:   ${seconds.toFixed(2)} s for ${pages} pages of ≤ 500 (${Math.round(report.totals.jobs / seconds).toLocaleString('en-US')} jobs/s against dynalite)`,
  );
  console.log(
    `  heap:   ${mb(peak - baseline)} peak above the baseline of ${mb(baseline)} (dynalite and SDK responses included)${gc ? '' : ' — run with --expose-gc for a steadier baseline'}`,
  );
  console.log(
    `  total:  $${(report.totals.costCents / 100).toFixed(2)}; repository cents sum to ${sum} (total ${report.totals.costCents})`,
  );
  await peer.close();
  if (sum !== report.totals.costCents) process.exitCode = 1;
}

await main();
