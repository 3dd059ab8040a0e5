/**
 * The control-plane benchmark's scenario, run against the sandbox stack (every peer on 127.0.0.1, the
 * real handlers, the real adapters): a warm pool smaller than the burst; matrices of 50 to 256 jobs
 * queued at the GitHub emulator within a few seconds, so that signed webhooks reach the webhook handler
 * over HTTP, at most `concurrency` at a time; spot capacity gone while the third quarter of the jobs is
 * provisioned, so the ladder goes past spot to on-demand; then a serial probe that replays a few jobs
 * one handler invocation at a time.
 *
 * It returns raw measurements (every invocation, every call, the peers' logs, what GitHub and EC2 saw);
 * report.ts turns them into figures. Phases are cut at quiescent points, so that an invocation and the
 * calls it makes belong to one phase.
 */
import { AsyncResource } from 'node:async_hooks';
import { loadavg } from 'node:os';
import type { Octokit } from '@octokit/rest';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { seededRandom } from '../../bin/sandbox/seeded-random.js';
import {
  type HandlerInstrument,
  type HandlerInvocation,
  type PeerCallCounts,
  type Sandbox,
  sandboxSubnets,
  startSandbox,
} from '../../bin/sandbox/stack.js';
import type { JobRecord } from '../../scheduler/core/types.js';
import { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { type InvocationInfo, type InvocationRecord, type OutboundCall, Tracer } from './tracer.js';

export const poolName = 'linux-x64';
const labels = ['self-hosted', 'linux', 'x64'];
const repository = { owner: 'acme', name: 'app' };

/**
 * The sandbox settings the compressed scenarios (scale, burst recovery) share: EC2's guest boot and the
 * agent's warm-up at their reference durations on the compressed clock (`wall` turns real-world ms into
 * wall ms), no schedules (each scenario drives the reconciler itself), quiet logs, in-memory metrics.
 */
export function compressedSandbox(wall: (realMs: number) => number) {
  return {
    guestBootMs: { warm: wall(3_000), cold: wall(13_000) },
    warmupMs: wall(2_000),
    configGraceMs: wall(30_000),
    schedules: false,
    webhookTimeoutMs: 280_000,
    metrics: new InMemoryMetrics(),
    logLevel: 'ERROR' as const,
  };
}

export interface ScenarioOptions {
  /** Jobs in the burst. */
  readonly jobs: number;
  /** Ready instances in the warm pool when the burst starts. */
  readonly poolSize: number;
  /** Jobs replayed one invocation at a time after the burst. */
  readonly probeJobs: number;
  /**
   * Webhook invocations in flight at once during the burst (the rest wait their turn, as requests
   * waiting for a free Lambda environment). Infinity lets every delivery in at once.
   */
  readonly concurrency: number;
  /** Scales EC2's durations (0.02: a 5 s boot takes 100 ms). */
  readonly timeScale: number;
  /** How long the pool store's indexes lag behind its writes, as DynamoDB GSIs do (wall ms). Default 0. */
  readonly indexLagMs?: number;
  /** Over how long the matrices are queued. */
  readonly arrivalMs: number;
  /** How long a job runs once a runner took it: uniform in [min, max]. */
  readonly jobDurationMs: readonly [number, number];
  /** Spot capacity missing while the third quarter of the jobs is provisioned. */
  readonly spotOutage: boolean;
  /** Give up waiting for the burst to finish after this long. */
  readonly timeoutMs: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface PhaseWindow {
  readonly invocations: readonly InvocationRecord[];
  readonly unattributed: readonly OutboundCall[];
  /** Requests each peer logged during the phase. */
  readonly peerCalls: PeerCallCounts;
  readonly wallMs: number;
}

export interface JobOutcome {
  readonly id: number;
  readonly status: string | undefined;
  readonly conclusion: string | null | undefined;
  readonly runnerName: string | null | undefined;
  /** `in_progress` webhooks GitHub sent for the job (a job started twice would have two). */
  readonly starts: number;
  readonly record: JobRecord | undefined;
}

export interface ScenarioResult {
  readonly options: Omit<ScenarioOptions, 'log'>;
  readonly matrices: readonly number[];
  readonly burst: PhaseWindow & { readonly jobs: readonly JobOutcome[]; readonly settled: boolean };
  readonly probe: PhaseWindow & { readonly jobs: readonly JobOutcome[] };
  /** Jobs each instance's runner ran, from the agents' reports (an instance that ran two is a duplicate). */
  readonly jobsPerInstance: ReadonlyMap<string, number>;
  /** Webhook deliveries GitHub recorded as failed (non-2xx or timed out) during the burst. */
  readonly failedDeliveries: number;
  readonly lostRaces: number;
  readonly claims: number;
  readonly peakRssBytes: number;
  /** The machine's 1-minute load average when the run started (other work slows every figure). */
  readonly loadAverage: number;
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { log } = options;
  const random = seededRandom(options.seed);
  const metrics = new InMemoryMetrics();
  const jobsPerInstance = new Map<string, number>();
  const memory = sampleMemory();
  const loadAverage = loadavg()[0] ?? 0;

  let tracer: Tracer | undefined;
  let phase = 'warmup';
  const webhookSlots = new Semaphore(options.concurrency);
  // The serial probe: one handler invocation at a time, across all handlers.
  let serial: Semaphore | undefined;
  const instrument: HandlerInstrument = async (invocation, invoke) => {
    const arrived = performance.now();
    const gate = serial ?? (invocation.handler === 'webhook' ? webhookSlots : undefined);
    const release = await gate?.acquire();
    try {
      if (tracer === undefined) return await invoke();
      const info = { ...describe(invocation), phase, queuedMs: performance.now() - arrived };
      return await tracer.run(info, invoke);
    } finally {
      release?.();
    }
  };

  const sandbox = await startSandbox({
    poolConfig: benchPoolConfig(options.poolSize),
    timeScale: options.timeScale,
    ...(options.indexLagMs !== undefined && { indexLagMs: options.indexLagMs }),
    warmupMs: 20,
    configGraceMs: 30_000,
    schedules: false,
    // Deliveries wait for a free slot here, which Lambda would not make them do: GitHub's 10 s limit
    // would count that wait against the handler.
    webhookTimeoutMs: 280_000,
    metrics,
    logLevel: 'ERROR',
    instrument,
    onAgentOutcome: (instanceId, outcome) => {
      if (outcome === 'ran-job') jobsPerInstance.set(instanceId, (jobsPerInstance.get(instanceId) ?? 0) + 1);
    },
  });
  tracer = new Tracer({
    github: sandbox.github.url,
    ec2: sandbox.ec2.url,
    dynamodb: sandbox.dynamo.endpoint,
    ssm: sandbox.ssm.endpoint,
    secretsManager: sandbox.secrets.endpoint,
    eventBridge: sandbox.events.endpoint,
  });
  tracer.start();
  keepGitHubCallsInContext(sandbox);
  const schedules = new Schedules(sandbox);
  try {
    log(`warming a pool of ${options.poolSize}`);
    await warmPool(sandbox, options.poolSize);

    // ---- the burst ----
    const matrices = matrixSizes(options.jobs, random);
    log(`burst: ${options.jobs} jobs in matrices of ${matrices.join(', ')} over ${options.arrivalMs} ms`);
    phase = 'burst';
    // No invocation of the warm-up may still be running at the cut: its calls would count on one side.
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    await until(() => tracer?.callsInFlight() === 0, 5_000);
    const burstStart = snapshot(sandbox, tracer);
    schedules.start();
    const outage = options.spotOutage ? spotOutage(sandbox, tracer, options.jobs) : undefined;
    const runs = matrices.map(async (size, index) => {
      await sleep((options.arrivalMs * index) / Math.max(1, matrices.length - 1));
      return sandbox.github.queueWorkflowRun({
        repository,
        workflowName: `matrix-${index + 1}`,
        jobs: Array.from({ length: size }, () => ({
          labels,
          durationMs: between(options.jobDurationMs, random),
        })),
      });
    });
    const jobIds = (await Promise.all(runs)).flatMap((r) => r.jobIds);
    log(`burst queued: ${jobIds.length} jobs; waiting for them to run`);
    const done = await until(() => allAnswered(sandbox, jobIds), options.timeoutMs);
    outage?.stop();
    log(done ? 'every job completed; letting the pool settle' : 'timed out waiting for the jobs');
    const settled =
      done && (await until(async () => quiescent(sandbox), Math.max(15_000, options.timeoutMs / 4)));
    schedules.stop();
    await schedules.idle();
    // The schedules' last runs may have launched instances: let those settle too, so that no invocation
    // is still making calls when the phase is cut (the peers' logs and the attribution must match).
    await until(async () => quiescent(sandbox), 15_000);
    // EC2 events of those last changes may still be in the lifecycle handler, mid-call.
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    // A call counts at the peer once it arrives, in the attribution once it is sent: none in between.
    await until(() => tracer?.callsInFlight() === 0, 5_000);
    const burstWindow = window(sandbox, tracer, burstStart);
    const failedDeliveries = sandbox.github
      .deliveryLog()
      .filter((d) => d.statusCode < 200 || d.statusCode >= 300).length;

    // ---- the serial probe ----
    log(`serial probe: ${options.probeJobs} jobs, one invocation at a time`);
    await warmPool(sandbox, options.poolSize);
    phase = 'probe';
    serial = new Semaphore(1);
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    await until(() => tracer?.callsInFlight() === 0, 5_000);
    const probeStart = snapshot(sandbox, tracer);
    const probeIds: number[] = [];
    for (let n = 0; n < options.probeJobs; n++) {
      const { jobIds: ids } = await sandbox.github.queueWorkflowRun({
        repository,
        workflowName: 'probe',
        jobs: [{ labels, durationMs: options.jobDurationMs[0] }],
      });
      probeIds.push(...ids);
      await until(() => allAnswered(sandbox, ids), 30_000);
    }
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();
    await until(() => tracer?.callsInFlight() === 0, 5_000);
    const probeWindow = window(sandbox, tracer, probeStart);
    phase = 'after';
    serial = undefined;

    const outcomes = async (ids: readonly number[]) => jobOutcomes(sandbox, ids);
    return {
      options: withoutLog(options),
      matrices,
      burst: { ...burstWindow, jobs: await outcomes(jobIds), settled },
      probe: { ...probeWindow, jobs: await outcomes(probeIds) },
      jobsPerInstance,
      failedDeliveries,
      lostRaces: metrics.total('LostRaces'),
      claims: metrics.total('Claims'),
      peakRssBytes: memory.stop(),
      loadAverage,
    };
  } finally {
    schedules.stop();
    memory.stop();
    tracer.stop();
    await sandbox.close();
  }
}

/** One pool; its target is the pool size at any hour, launched in one batch. */
export function benchPoolConfig(poolSize: number): unknown {
  return {
    pools: [
      {
        name: poolName,
        labels: ['linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: Object.keys(sandboxSubnets),
        defaultSize: poolSize,
        maximum: Math.max(poolSize, 1),
      },
    ],
    settings: {
      pendingJobSeconds: 5,
      claimTimeoutSeconds: 60,
      orphanGraceSeconds: 60,
      warmupTimeoutSeconds: 300,
      launchBatchSize: 100,
    },
  };
}

/** Matrix sizes between 50 and 256 (GitHub's cap) adding up to `jobs`; fewer than 50 jobs make one run. */
export function matrixSizes(jobs: number, random: () => number): number[] {
  const sizes: number[] = [];
  let left = jobs;
  while (left > 0) {
    if (left <= 256 && (left < 100 || random() < 0.25)) {
      sizes.push(left);
      break;
    }
    const size = Math.min(left - 50, 50 + Math.floor(random() * 207));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

export function describe(invocation: HandlerInvocation): InvocationInfo {
  if (invocation.handler === 'webhook') {
    const payload = webhookPayload(invocation.event);
    return {
      handler: 'webhook',
      ...(payload.action !== undefined && { detail: payload.action }),
      ...(payload.jobId !== undefined && { jobId: payload.jobId }),
    };
  }
  if (invocation.handler === 'lifecycle') {
    const detail = invocation.event.detail as { state?: string };
    return { handler: 'lifecycle', detail: detail.state ?? invocation.event['detail-type'] };
  }
  return { handler: invocation.handler };
}

function webhookPayload(event: APIGatewayProxyEventV2): { action?: string; jobId?: number } {
  try {
    const text = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
    const body = JSON.parse(text) as { action?: string; workflow_job?: { id?: number } };
    return {
      ...(body.action !== undefined && { action: body.action }),
      ...(body.workflow_job?.id !== undefined && { jobId: body.workflow_job.id }),
    };
  } catch {
    return {};
  }
}

/**
 * No spot capacity while the third quarter of the burst's jobs is provisioned (counted by `queued`
 * invocations started), so the ladder's last rung is taken too. Counting by progress rather than by
 * time keeps the share the same whatever the machine's speed.
 */
function spotOutage(sandbox: Sandbox, tracer: Tracer, jobs: number): { stop(): void } {
  const from = tracer.invocations.length;
  let state: 'before' | 'during' | 'after' = 'before';
  const timer = setInterval(() => {
    const started = tracer.invocations
      .slice(from)
      .filter((i) => i.handler === 'webhook' && i.detail === 'queued').length;
    if (state === 'before' && started >= jobs / 2) {
      sandbox.ec2.exhaustCapacity({ market: 'spot' });
      state = 'during';
    } else if (state === 'during' && started >= (jobs * 3) / 4) {
      sandbox.ec2.restoreCapacity();
      state = 'after';
    }
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      sandbox.ec2.restoreCapacity();
    },
  };
}

/**
 * Octokit's throttling plugin queues requests in Bottleneck, which starts a queued request from
 * whatever callback freed its slot: in one process, another invocation's. Binding each request's fetch
 * to its caller's context, from the outermost request hook, keeps the call (and the CPU spent sending it)
 * on the invocation that made it. The adapter reaches its Octokit through a source that may build a new
 * one (a rotated App key): every Octokit the source hands out gets the hook, once.
 */
export function keepGitHubCallsInContext(sandbox: Sandbox): void {
  const source = Reflect.get(sandbox.plane.deps.github, 'source') as
    | { current: () => Promise<Octokit> }
    | undefined;
  if (typeof source?.current !== 'function')
    throw new Error('the GitHub adapter no longer holds an Octokit `source`');
  const hooked = new WeakSet<Octokit>();
  const current = source.current.bind(source);
  source.current = async () => {
    const octokit = await current();
    if (!hooked.has(octokit)) {
      hooked.add(octokit);
      octokit.hook.before('request', (options) => {
        const fetch = (options.request?.fetch as typeof globalThis.fetch | undefined) ?? globalThis.fetch;
        options.request = { ...options.request, fetch: AsyncResource.bind(fetch) };
      });
    }
    return octokit;
  };
}

export async function warmPool(sandbox: Sandbox, size: number): Promise<void> {
  const { store } = sandbox.plane.deps;
  const ready = async () => (await store.listReady(poolName, size + 10)).length >= size;
  const deadline = Date.now() + 120_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`the pool did not warm to ${size} ready instances`);
    await sandbox.runTuner();
    await sleep(200);
    await sandbox.lifecycleIdle();
  }
}

/** Every job completed at GitHub, and its `completed` webhook was answered. */
export function allAnswered(sandbox: Sandbox, jobIds: readonly number[]): boolean {
  if (!jobIds.every((id) => sandbox.github.jobState(id)?.status === 'completed')) return false;
  const answered = new Set(
    sandbox.github
      .deliveryLog()
      .filter((d) => d.action === 'completed')
      .map((d) => d.jobId),
  );
  return jobIds.every((id) => answered.has(id));
}

/** No instance between states: every one is stopped (in the pool) or gone. */
export async function quiescent(sandbox: Sandbox): Promise<boolean> {
  await sandbox.lifecycleIdle();
  return sandbox.ec2.instances().every((i) => i.state === 'stopped' || i.state === 'terminated');
}

export async function jobOutcomes(sandbox: Sandbox, ids: readonly number[]): Promise<JobOutcome[]> {
  const starts = new Map<number, number>();
  for (const d of sandbox.github.deliveryLog())
    if (d.action === 'in_progress' && !d.redelivery && d.jobId !== undefined)
      starts.set(d.jobId, (starts.get(d.jobId) ?? 0) + 1);
  const outcomes: JobOutcome[] = [];
  for (const id of ids) {
    const state = sandbox.github.jobState(id);
    outcomes.push({
      id,
      status: state?.status,
      conclusion: state?.conclusion,
      runnerName: state?.runnerName,
      starts: starts.get(id) ?? 0,
      record: await sandbox.plane.deps.store.getJob(id),
    });
  }
  return outcomes;
}

interface Snapshot {
  readonly invocations: number;
  readonly unattributed: number;
  readonly peerCalls: PeerCallCounts;
  readonly at: number;
}

function snapshot(sandbox: Sandbox, tracer: Tracer): Snapshot {
  return {
    invocations: tracer.invocations.length,
    unattributed: tracer.unattributed.length,
    peerCalls: sandbox.peerCalls(),
    at: performance.now(),
  };
}

function window(sandbox: Sandbox, tracer: Tracer, start: Snapshot): PhaseWindow {
  const now = sandbox.peerCalls();
  const delta = (peer: keyof PeerCallCounts) => {
    const counts: Record<string, number> = {};
    for (const [operation, n] of Object.entries(now[peer])) {
      const d = n - (start.peerCalls[peer][operation] ?? 0);
      if (d > 0) counts[operation] = d;
    }
    return counts;
  };
  return {
    invocations: tracer.invocations.slice(start.invocations),
    unattributed: tracer.unattributed.slice(start.unattributed),
    peerCalls: {
      github: delta('github'),
      ec2: delta('ec2'),
      dynamodb: delta('dynamodb'),
      ssm: delta('ssm'),
      secretsManager: delta('secretsManager'),
      eventBridge: delta('eventBridge'),
    },
    wallMs: performance.now() - start.at,
  };
}

/**
 * The tuner's and reconciler's schedules, scaled down with EC2's time: by default the tuner every 2 s
 * and the reconciler every 3 s, never two runs of one at once. `onRun` hears of each run as it starts.
 */
export class Schedules {
  private timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly sandbox: Pick<Sandbox, 'runTuner' | 'runReconciler'>,
    private readonly every_: { readonly tunerMs: number; readonly reconcilerMs: number } = {
      tunerMs: 2_000,
      reconcilerMs: 3_000,
    },
    private readonly onRun: (schedule: 'tuner' | 'reconciler') => void = () => undefined,
  ) {}

  start(): void {
    this.timers = [
      this.every(this.every_.tunerMs, () => {
        this.onRun('tuner');
        return this.sandbox.runTuner();
      }),
      this.every(this.every_.reconcilerMs, () => {
        this.onRun('reconciler');
        return this.sandbox.runReconciler();
      }),
    ];
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private every(ms: number, task: () => Promise<unknown>): NodeJS.Timeout {
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      const run = task()
        .catch(() => undefined)
        .finally(() => {
          busy = false;
          this.running.delete(run);
        });
      this.running.add(run);
    }, ms);
  }
}

/** At most `slots` holders at once; the others wait in arrival order. */
export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number) {}

  async acquire(): Promise<() => void> {
    if (this.held >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) this.held--;
      else next(); // the slot passes straight to the next in line
    };
  }
}

export function sampleMemory(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return peak;
    },
  };
}

export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return condition();
}

function between([min, max]: readonly [number, number], random: () => number): number {
  return Math.round(min + (max - min) * random());
}

function withoutLog(options: ScenarioOptions): Omit<ScenarioOptions, 'log'> {
  const { log: _, ...rest } = options;
  return rest;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
