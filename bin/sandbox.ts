/**
 * `npm start`: the whole control plane on this machine — every AWS service and GitHub played by a
 * peer on 127.0.0.1, the real handlers and adapters in between — with a live dashboard, and by
 * default a demo workday driven through the GitHub emulator.
 *
 *   npm start                     the demo (seeded), dashboard on http://127.0.0.1:8080/
 *   npm start -- --no-demo        the stack alone, for webhooks sent from outside
 *   npm start -- --help           every flag
 *
 * Stops cleanly on Ctrl-C (SIGINT) or SIGTERM: the demo, the timers, every server; nothing is left
 * listening. A second Ctrl-C exits at once.
 */
import { createServer } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { InMemoryMetrics } from '../stand-ins/in-memory/in-memory-metrics.js';
import { mountDashboard } from './sandbox/dashboard/serve.js';
import { type DemoReport, runDemoWorkload } from './sandbox/demo-workload.js';
import { demoDayStart, scaledClock } from './sandbox/scaled-clock.js';
import { mountApi, type SandboxApi } from './sandbox/server-api.js';
import { type Sandbox, startSandbox } from './sandbox/stack.js';

// The SDK's notice about future Node versions says nothing about the sandbox; keep the output readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const defaultPort = 8080;
/** The default config's schedule is in Paris: the demo's clock reads there too. */
const demoTimeZone = 'Europe/Paris';

interface Options {
  readonly demo: boolean;
  readonly port: number;
  readonly speed?: number;
  readonly seed: number;
  readonly quiet: boolean;
}

class SandboxStartError extends Error {
  override readonly name = 'SandboxStartError';
}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

function speedFactor(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 50)
    throw new InvalidArgumentError(
      'speed must be a number from 0.1 to 50 (1 is EC2 and GitHub in real time).',
    );
  return n;
}

function parseOptions(argv: readonly string[]): Options {
  const program = new Command()
    .name('npm start --')
    .description(
      'Run the warm-pool runners control plane on this machine: the real handlers against local ' +
        'stand-ins for DynamoDB, EC2, SSM, Secrets Manager, EventBridge and GitHub, with a live dashboard.',
    )
    .option('--no-demo', 'serve the stack without the demo workload (send webhooks from outside)')
    .option(
      '-p, --port <port>',
      `port of the dashboard, API and webhook; 0 picks a free one (env PORT, default ${defaultPort})`,
      integer('port', 0, 65_535),
    )
    .option(
      '--speed <factor>',
      'how much faster than real time EC2, GitHub and the clock run (default 2 with the demo, 1 without)',
      speedFactor,
    )
    .option(
      '--seed <n>',
      'seed of the demo workload: the same seed plays the same day',
      integer('seed', 0, 2 ** 31),
      1,
    )
    .option('-q, --quiet', 'print the URLs only, not the progress lines')
    .addHelpText(
      'after',
      '\nEnvironment: PORT, WEBHOOK_SECRET (generated when unset), ALLOWED_OWNERS (comma list; any\n' +
        "organization is accepted when unset), LOG_LEVEL (the handlers' logs: DEBUG, INFO, WARN, ERROR).\n",
    )
    .showHelpAfterError('(add --help for usage)');
  program.parse(argv, { from: 'user' });
  const opts = program.opts<{
    demo: boolean;
    port?: number;
    speed?: number;
    seed: number;
    quiet?: boolean;
  }>();
  const envPort = process.env.PORT;
  let port = opts.port;
  if (port === undefined && envPort !== undefined && envPort !== '') {
    try {
      port = integer('PORT', 0, 65_535)(envPort);
    } catch (error) {
      program.error(`error: ${(error as Error).message}`);
    }
  }
  return {
    demo: opts.demo,
    port: port ?? defaultPort,
    ...(opts.speed !== undefined && { speed: opts.speed }),
    seed: opts.seed,
    quiet: opts.quiet === true,
  };
}

/** Fails early with a clear message rather than an unhandled EADDRINUSE once the peers are up. */
async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SandboxStartError(
          error.code === 'EADDRINUSE'
            ? `port ${port} is already in use: choose another with --port or PORT (0 picks a free one)`
            : `cannot listen on 127.0.0.1:${port} (${error.code ?? error.message})`,
          { cause: error },
        ),
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const speed = options.speed ?? (options.demo ? 2 : 1);
  const say = (line: string) => {
    if (!options.quiet) console.log(line);
  };
  await assertPortFree(options.port);

  const startedAt = performance.now();
  say(
    'starting the sandbox: DynamoDB (dynalite), EC2, SSM, Secrets Manager, EventBridge and GitHub stand-ins…',
  );
  const clock = scaledClock(options.demo ? demoDayStart : Date.now(), speed);
  const metrics = new InMemoryMetrics();
  const secret = process.env.WEBHOOK_SECRET;
  const level = process.env.LOG_LEVEL?.toUpperCase();
  const sandbox = await startSandbox({
    port: options.port,
    ...(secret !== undefined && secret !== '' && { webhookSecret: secret }),
    clock,
    metrics,
    // Every duration in EC2's and GitHub's own time, divided by the speed (see scaled-clock.ts).
    timeScale: 1 / speed,
    ec2LatencyMs: { RunInstances: 3_000, CreateFleet: 3_000, StartInstances: 1_900 },
    // OS boot to ready: ~3 s for a warmed instance resumed from stopped; a first boot from the AMI
    // adds ~10 s (cloud-init, volume blocks loaded lazily), the gap between a ~15 s warm start and
    // a ~25 s fresh launch in published measurements.
    guestBootMs: { warm: clock.real(3_000), cold: clock.real(13_000) },
    warmupMs: clock.real(2_000),
    configGraceMs: clock.real(30_000),
    tunerEveryMs: clock.real(5_000),
    reconcilerEveryMs: clock.real(10_000),
    allowedOwners: process.env.ALLOWED_OWNERS ?? '',
    logLevel: level === 'DEBUG' || level === 'INFO' || level === 'WARN' ? level : 'ERROR',
  });
  const api = mountApi({
    sandbox,
    recorded: () => metrics.recorded,
    clock,
    info: { speed, demo: options.demo, ...(options.demo && { seed: options.seed, timeZone: demoTimeZone }) },
  });
  mountDashboard(sandbox);
  say(`ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  printBanner(sandbox, {
    secretFromEnv: secret !== undefined && secret !== '',
    speed,
    clockAt: clock.now(),
    timeZone: options.demo ? demoTimeZone : undefined,
  });

  const stopping = new AbortController();
  const demo = options.demo
    ? runDemoWorkload({
        sandbox,
        clock,
        seed: options.seed,
        signal: stopping.signal,
        timeZone: demoTimeZone,
        log: say,
      }).then(
        (report) => report,
        (error: unknown) => {
          console.error(`demo stopped: ${(error as Error).message}`);
          return undefined;
        },
      )
    : Promise.resolve(undefined);
  void demo.then(async (report) => {
    if (report === undefined || report.aborted) return;
    await printSummary(api, report, say);
    say(`the sandbox keeps running — ${sandbox.url}/ — Ctrl-C stops it`);
  });

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        console.error(`${signal} again: exiting now`);
        process.exit(130);
      }
      console.log(`\n${signal}: stopping the sandbox…`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  stopping.abort();
  await demo;
  api.close();
  await sandbox.close();
  console.log('sandbox stopped');
}

function printBanner(
  sandbox: Sandbox,
  info: { secretFromEnv: boolean; speed: number; clockAt: number; timeZone: string | undefined },
): void {
  const clock = new Intl.DateTimeFormat('en-GB', {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
    ...(info.timeZone !== undefined && { timeZone: info.timeZone }),
  }).format(info.clockAt);
  const settings = sandbox.plane.settings;
  const lines = [
    '',
    'Warm-pool runners — local sandbox',
    `  dashboard       ${sandbox.url}/`,
    `  webhook URL     ${sandbox.webhookUrl}`,
    `  webhook secret  ${sandbox.webhookSecret}  (${info.secretFromEnv ? 'from WEBHOOK_SECRET' : 'generated; set WEBHOOK_SECRET to choose it'})`,
    `  state API       ${sandbox.url}/api/state`,
    `  pool config     SSM parameter ${settings.POOL_CONFIG_PARAMETER} at AWS_ENDPOINT_URL_SSM=${sandbox.ssm.endpoint}`,
    `  pool store      DynamoDB table ${settings.TABLE_NAME} at AWS_ENDPOINT_URL_DYNAMODB=${sandbox.dynamo.endpoint}`,
    `  clock           ${clock}${info.speed === 1 ? '' : `, running ×${info.speed}`}`,
    '',
    `  npx runners status --sandbox ${sandbox.url}`,
    `  npx runners replay payload.json --url ${sandbox.webhookUrl} --secret <webhook secret>`,
    '',
    'Ctrl-C stops the sandbox.',
    '',
  ];
  // The banner is printed even with --quiet: it is what a script starting the sandbox reads.
  console.log(lines.join('\n'));
}

async function printSummary(api: SandboxApi, report: DemoReport, say: (line: string) => void): Promise<void> {
  const state = await api.state();
  const seconds = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);
  const pool = state.latency.timeToStartBySource.pool;
  const spot = state.latency.timeToStartBySource.spot;
  say('');
  say('summary of the day');
  say(
    `  jobs            ${state.jobTotal} recorded, ${report.jobsCompleted} completed, ${report.cancelled} cancelled`,
  );
  say(
    `  runners from    ${Object.entries(state.runnerSources)
      .map(([source, n]) => `${source} ${n}`)
      .join(', ')}`,
  );
  say(
    `  time to start   warm pool p50 ${seconds(pool?.p50)} p95 ${seconds(pool?.p95)}; spot p50 ${seconds(spot?.p50)}`,
  );
  say(
    `  capacity errors ${state.metrics.capacityErrors.total}; webhooks redelivered ${state.metrics.webhooksRedelivered}`,
  );
  say(
    `  cost (est.)     $${state.cost.totalUsd.toFixed(4)} — idle pool volumes $${state.cost.ebsIdleUsd.toFixed(4)} ` +
      `vs $${state.cost.runningPoolEquivalentUsd.toFixed(4)} had the pool waited running`,
  );
  say('');
}

main().catch((error: unknown) => {
  // A start-up problem the user can fix is one line; anything else keeps its stack for a bug report.
  console.error(error instanceof SandboxStartError ? `sandbox: ${error.message}` : error);
  process.exitCode = 1;
});
