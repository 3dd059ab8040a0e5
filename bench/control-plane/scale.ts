/**
 * The control-plane benchmark's scale scenario: an organization's day of CI (bench/control-plane/day.ts:
 * 20,000 jobs over two organizations, matrices up to 256) through the sandbox stack — real handlers,
 * real adapters, every peer on 127.0.0.1 — once per App count (one App, then two), so the figures sit
 * side by side.
 *
 * Time may be compressed by `timeScale` (0.5: a minute lasts 30 s). The sandbox's clock, EC2's
 * durations, GitHub's clock and with it its JIT-mint limit (counted on that clock), the job durations
 * and the tuner's and reconciler's schedules are all scaled by it, so every time the control plane
 * records is in real-world-equivalent time. What is not scaled is our own processing: the handlers, the
 * peers and the network on one 2-core machine take their wall time, which a compressed clock stretches
 * by 1 / timeScale — the reason the presets keep real time (see presets.ts) and why the backlog of
 * deliveries waiting for a handler slot is reported beside every latency.
 *
 * A whole day is a day of wall time; the sandbox runs the busiest window of the day (the
 * `windowMinutes` holding the most jobs), where GitHub's limits bind, and the rest of the day is
 * described from the plan's arithmetic, never as a measurement.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadavg } from 'node:os';
import { scaledClock } from '../../bin/sandbox/scaled-clock.js';
import { seededRandom } from '../../bin/sandbox/seeded-random.js';
import { type PeerCallCounts, type SandboxOptions, startSandbox } from '../../bin/sandbox/stack.js';
import type { JitConfig } from '../../scheduler/ports/github-runners.js';
import { busiestWindow, type DayPlan, type DayWindow, planDay } from './day.js';
import {
  allAnswered,
  benchPoolConfig,
  compressedSandbox,
  describe,
  type JobOutcome,
  jobOutcomes,
  poolName,
  quiescent,
  Schedules,
  Semaphore,
  sampleMemory,
  sleep,
  until,
  warmPool,
} from './scenario.js';
import { type InvocationRecord, type OutboundCall, Tracer } from './tracer.js';

const labels = ['self-hosted', 'linux', 'x64'];
/** 00:00 UTC of the benchmark's day, a Tuesday: the sandbox clock reads the window's time of day. */
export const scaleDayStart = Date.parse('2026-03-10T00:00:00Z');

export interface ScaleOptions {
  /** Jobs in the day. */
  readonly jobs: number;
  /** How much of the day, its busiest part, runs through the sandbox (real-world minutes). */
  readonly windowMinutes: number;
  /** 0.5: a real-world minute lasts 30 s of wall time. Scales EC2, GitHub's clock and limit, the schedules. */
  readonly timeScale: number;
  /** One sandbox per entry, in order: the App counts compared. */
  readonly appCounts: readonly number[];
  /** Organizations served; the day's jobs are spread over them. */
  readonly organizations: readonly string[];
  /** GitHub's JIT-mint limit per App per (real-world) minute. */
  readonly jitMintsPerMinutePerApp: number;
  /** Ready instances when the window starts. */
  readonly poolSize: number;
  /** How long a job runs once a runner took it, real-world ms: uniform in [min, max]. */
  readonly jobDurationMs: readonly [number, number];
  /** Webhook invocations in flight at once (the rest wait for a slot: the single process's backlog). */
  readonly concurrency: number;
  /** The reconciler's and tuner's cadence in real-world ms (deployed: 30 s and 60 s). */
  readonly reconcilerEveryMs: number;
  readonly tunerEveryMs: number;
  /** Give up waiting for the window's jobs after this long (wall ms, per App count). */
  readonly timeoutMs: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

/** One JIT mint the control plane asked for, as its GitHub port saw it. */
export interface MintRecord {
  /** Sandbox-clock ms (real-world equivalent) when the answer came. */
  readonly at: number;
  readonly runnerName: string;
  /**
   * 'ok'; the HTTP status of a refusal (403/429: a rate limit); or 'no status' for an error without one
   * (a call aborted at the handler's deadline, a network failure).
   */
  readonly outcome: 'ok' | number | 'no status';
  /** The handler that asked: webhook (the hot path) or a schedule. */
  readonly handler: string;
}

/** What GitHub (the emulator) counted for one App while the window ran. */
export interface AppMintCounts {
  readonly appId: number;
  /** Mints accepted in each minute of the sandbox clock, from the window's start. */
  readonly mintsPerMinute: readonly number[];
  /** The most mints accepted in any sliding minute (the whole run: the warm-up mints none). */
  readonly peakMintsInAMinute: number;
  /** Mints refused by the secondary limit during the window. */
  readonly mintsThrottled: number;
}

export interface VariantResult {
  readonly apps: number;
  readonly jobs: readonly (JobOutcome & { readonly queuedAt: number })[];
  readonly mints: readonly MintRecord[];
  readonly appMints: readonly AppMintCounts[];
  readonly invocations: readonly InvocationRecord[];
  readonly unattributed: readonly OutboundCall[];
  readonly peerCalls: PeerCallCounts;
  readonly jobsPerInstance: ReadonlyMap<string, number>;
  readonly reconcilerRuns: number;
  /** Sandbox-clock ms from the window's first job to its last job's completion. */
  readonly spanMs: number;
  readonly settled: boolean;
  readonly wallMs: number;
  readonly peakRssBytes: number;
}

export interface ScaleResult {
  readonly options: Omit<ScaleOptions, 'log'>;
  readonly plan: DayPlan;
  readonly window: DayWindow;
  readonly variants: readonly VariantResult[];
  readonly loadAverage: number;
}

export async function runScaleScenario(options: ScaleOptions): Promise<ScaleResult> {
  const { log: _, ...rest } = options;
  const plan = planDay({
    jobs: options.jobs,
    random: seededRandom(options.seed),
    organizations: organizationsOf(options.organizations),
  });
  const window = busiestWindow(plan, options.windowMinutes * 60_000);
  const loadAverage = loadavg()[0] ?? 0;
  const variants: VariantResult[] = [];
  for (const apps of options.appCounts) variants.push(await runVariant(apps, window, options));
  return { options: rest, plan, window, variants, loadAverage };
}

function organizationsOf(logins: readonly string[]) {
  // Working hours: the first organization in Paris, the second in New York, more in between.
  const offsets = [1, -5, 0, -8];
  return logins.map((login, i) => ({
    login,
    share: i === 0 ? 0.6 : 0.4 / Math.max(1, logins.length - 1),
    utcOffsetHours: offsets[i % offsets.length] ?? 0,
  }));
}

/** The sandbox serving these organizations, each an installation of every one of `apps` Apps. */
export function sandboxAppsOptions(apps: number, organizations: readonly string[]): Partial<SandboxOptions> {
  return { apps, organizations };
}

async function runVariant(apps: number, window: DayWindow, options: ScaleOptions): Promise<VariantResult> {
  const { log, timeScale } = options;
  const began = performance.now();
  const wall = (realMs: number) => realMs * timeScale;
  const clock = scaledClock(scaleDayStart + window.fromMs, 1 / timeScale);
  const random = seededRandom(options.seed + apps);
  const memory = sampleMemory();
  const jobsPerInstance = new Map<string, number>();
  const handlerOf = new AsyncLocalStorage<string>();
  const webhookSlots = new Semaphore(options.concurrency);
  let tracer: Tracer | undefined;
  const sandbox = await startSandbox({
    poolConfig: scalePoolConfig(options.poolSize),
    clock,
    timeScale,
    ...compressedSandbox(wall),
    ...sandboxAppsOptions(apps, options.organizations),
    // GitHub's limits on the sandbox clock: a minute of it is a real-world minute whatever the factor.
    githubLimits: { jitMintsPerMinutePerApp: options.jitMintsPerMinutePerApp, timeScale: 1 },
    instrument: async (invocation, invoke) => {
      const arrived = performance.now();
      const release = invocation.handler === 'webhook' ? await webhookSlots.acquire() : undefined;
      try {
        const run = () => handlerOf.run(invocation.handler, invoke);
        if (tracer === undefined) return await run();
        return await tracer.run({ ...describe(invocation), queuedMs: performance.now() - arrived }, run);
      } finally {
        release?.();
      }
    },
    onAgentOutcome: (instanceId, outcome) => {
      if (outcome === 'ran-job') jobsPerInstance.set(instanceId, (jobsPerInstance.get(instanceId) ?? 0) + 1);
    },
  });
  const mints: MintRecord[] = [];
  recordMints(
    sandbox.plane.deps.github,
    mints,
    () => clock.now(),
    () => handlerOf.getStore() ?? 'other',
  );
  // GitHub calls are not attributed to invocations here (several Apps route through several Octokit
  // clients): the mints are recorded at the port above, and only EC2's calls are read from the tracer.
  let reconcilerRuns = 0;
  const schedules = new Schedules(
    sandbox,
    { tunerMs: wall(options.tunerEveryMs), reconcilerMs: wall(options.reconcilerEveryMs) },
    (schedule) => {
      if (schedule === 'reconciler') reconcilerRuns++;
    },
  );
  try {
    log(`${apps} App(s): warming a pool of ${options.poolSize}`);
    await warmPool(sandbox, options.poolSize);
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    tracer = new Tracer({
      github: sandbox.github.url,
      ec2: sandbox.ec2.url,
      dynamodb: sandbox.dynamo.endpoint,
      ssm: sandbox.ssm.endpoint,
      secretsManager: sandbox.secrets.endpoint,
      eventBridge: sandbox.events.endpoint,
    });
    tracer.start();
    const start = sandbox.peerCalls();
    const mintsBefore = mints.length;
    const countersBefore = sandbox.github.rateLimitCounters().apps;
    const firstAt = clock.now();
    schedules.start();
    log(
      `${apps} App(s): ${window.jobs} jobs in ${window.runs.length} runs over ${options.windowMinutes} min ` +
        `(${((options.windowMinutes * 60 * timeScale) / 60).toFixed(1)} min of wall time)`,
    );
    const queued = window.runs.map(async (run, index) => {
      await sleep(wall(run.atMs - window.fromMs));
      const queuedAt = clock.now();
      const { jobIds } = await sandbox.github.queueWorkflowRun({
        repository: { owner: run.org, name: run.repository },
        workflowName: `run-${index + 1}`,
        jobs: Array.from({ length: run.jobs }, () => ({
          labels,
          durationMs: Math.round(wall(between(options.jobDurationMs, random))),
        })),
      });
      return jobIds.map((id) => ({ id, queuedAt }));
    });
    const jobs = (await Promise.all(queued)).flat();
    const ids = jobs.map((j) => j.id);
    const done = await until(() => allAnswered(sandbox, ids), options.timeoutMs);
    log(`${apps} App(s): ${done ? 'every job completed' : 'timed out waiting for the jobs'}`);
    const lastAt = Math.max(firstAt, ...ids.map((id) => sandbox.github.jobState(id)?.startedAt ?? 0));
    const settled = done && (await until(async () => quiescent(sandbox), 60_000));
    schedules.stop();
    await schedules.idle();
    await until(async () => quiescent(sandbox), 15_000);
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    await until(() => tracer?.callsInFlight() === 0, 5_000);
    const now = sandbox.peerCalls();
    const outcomes = await jobOutcomes(sandbox, ids);
    const queuedAt = new Map(jobs.map((j) => [j.id, j.queuedAt]));
    const appMints = sandbox.github.rateLimitCounters().apps.map((app) => {
      const before = countersBefore.find((b) => b.appId === app.appId);
      const from = before?.mintsPerMinute.length ?? 0;
      return {
        appId: app.appId,
        // The minute the window started in may hold a warm-up mint or two: it is counted from its start.
        mintsPerMinute: app.mintsPerMinute.slice(Math.max(0, from - 1)),
        peakMintsInAMinute: app.peakMintsInAMinute,
        mintsThrottled: app.mintsThrottled - (before?.mintsThrottled ?? 0),
      };
    });
    return {
      apps,
      jobs: outcomes.map((o) => ({ ...o, queuedAt: queuedAt.get(o.id) ?? firstAt })),
      mints: mints.slice(mintsBefore),
      appMints,
      invocations: [...tracer.invocations],
      unattributed: [...tracer.unattributed],
      peerCalls: deltaOf(start, now),
      jobsPerInstance,
      reconcilerRuns,
      spanMs: lastAt - firstAt,
      settled,
      wallMs: performance.now() - began,
      peakRssBytes: memory.stop(),
    };
  } finally {
    schedules.stop();
    memory.stop();
    tracer?.stop();
    await sandbox.close();
  }
}

/** The bench pool, its instances' types and subnets, with the tuner refilling a batch per run. */
function scalePoolConfig(poolSize: number): unknown {
  const config = benchPoolConfig(poolSize) as {
    pools: { name: string; maximum: number }[];
    settings: Record<string, unknown>;
  };
  const pool = config.pools.find((p) => p.name === poolName);
  if (pool !== undefined) pool.maximum = poolSize;
  return config;
}

/**
 * Records every JIT mint the control plane asks for, through its GitHub port: when the answer came,
 * for which runner (its name carries the instance id), which handler asked, and whether GitHub refused.
 */
function recordMints(
  github: { createJitConfig: (...args: never[]) => Promise<JitConfig> },
  into: MintRecord[],
  now: () => number,
  handler: () => string,
): void {
  const port = github as unknown as {
    createJitConfig: (
      scope: unknown,
      request: { runnerName: string },
    ) => Promise<JitConfig & { app?: string }>;
  };
  const mint = port.createJitConfig.bind(port);
  port.createJitConfig = async (scope, request) => {
    const by = handler();
    try {
      const config = await mint(scope, request);
      into.push({
        at: now(),
        runnerName: request.runnerName,
        outcome: 'ok',
        handler: by,
      });
      return config;
    } catch (error) {
      const status = (error as { status?: number }).status;
      into.push({
        at: now(),
        runnerName: request.runnerName,
        outcome: typeof status === 'number' ? status : 'no status',
        handler: by,
      });
      throw error;
    }
  };
}

function deltaOf(start: PeerCallCounts, now: PeerCallCounts): PeerCallCounts {
  const delta = (peer: keyof PeerCallCounts) => {
    const counts: Record<string, number> = {};
    for (const [operation, n] of Object.entries(now[peer])) {
      const d = n - (start[peer][operation] ?? 0);
      if (d > 0) counts[operation] = d;
    }
    return counts;
  };
  return {
    github: delta('github'),
    ec2: delta('ec2'),
    dynamodb: delta('dynamodb'),
    ssm: delta('ssm'),
    secretsManager: delta('secretsManager'),
    eventBridge: delta('eventBridge'),
  };
}

function between([min, max]: readonly [number, number], random: () => number): number {
  return Math.round(min + (max - min) * random());
}
