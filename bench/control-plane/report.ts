/**
 * Turns the scenario's raw measurements into the control-plane figures, judges them against the goals
 * and prints them.
 *
 * Definitions (docs/performance.md explains them at length):
 * - total: from the start of the handler invocation to its answer, as API Gateway's integration latency
 *   would count it (the wait for a free slot is reported apart as `queued`).
 * - own: the invocation's on-CPU time, from the tracer's async hook; `io`: the time at least one of its
 *   outbound calls was in flight; `wait` = total − own − io: time it was ready to run while the one
 *   thread ran something else (other invocations, the peers), a cost of the single-process sandbox.
 * - hot path: the `queued` webhook invocations; job life: every webhook and lifecycle invocation;
 *   all-in: every request the peers logged (schedules included) except those made outside any handler
 *   (the emulated instance agents polling for their config).
 */
import { availableParallelism, cpus } from 'node:os';
import type { PeerCallCounts } from '../../bin/sandbox/stack.js';
import { dynamoWriteOperations } from '../../stand-ins/aws/dynalite.js';
import type { JobOutcome, PhaseWindow, ScenarioResult } from './scenario.js';
import { type Distribution, distribution, round } from './stats.js';
import { type InvocationRecord, inFlightMs, type OutboundCall, type PeerName } from './tracer.js';

export interface Timing {
  readonly count: number;
  readonly totalMs: Distribution;
  readonly ownMs: Distribution;
  readonly ioMs: Distribution;
  readonly waitMs: Distribution;
  readonly queuedMs: Distribution;
}

export interface CallsPerJob {
  readonly github: number;
  readonly ec2: number;
  readonly dynamodb: number;
  readonly dynamodbWrites: number;
  readonly ssm: number;
  readonly eventBridge: number;
  readonly secretsManager: number;
}

export interface CallProfile {
  readonly perJob: CallsPerJob;
  /** Of the DynamoDB writes, those whose condition failed (a lost race, an event already recorded). */
  readonly dynamodbFailedWritesPerJob?: number;
  /** Calls per job by peer and operation. */
  readonly operations: Record<string, Record<string, number>>;
}

export interface ScheduleCost {
  readonly runs: number;
  readonly callsPerRun: number;
  /** By peer and operation. */
  readonly operationsPerRun: Record<string, Record<string, number>>;
  /** Conditional writes per run that found the item changed (a handler got there first). */
  readonly dynamodbFailedWritesPerRun: number;
}

export interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly actual: string;
  readonly pass: boolean;
}

export interface ControlPlaneReport {
  readonly jobs: number;
  readonly poolSize: number;
  readonly matrices: readonly number[];
  readonly concurrency: number | 'unbounded';
  readonly timeScale: number;
  /** Webhook handler time per event during the burst, every action. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ownP50Ms: number;
  readonly ownP99Ms: number;
  /** Hot path (the `queued` webhook), per job. */
  readonly githubCallsPerJob: number;
  readonly ec2CallsPerJob: number;
  readonly dynamoWritesPerJob: number;
  readonly dynamoCallsPerJob: number;
  readonly ssmCallsPerJob: number;
  readonly describeInstancesOnHotPath: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly conflictsPerClaim: number;
  readonly peakRssMb: number;
  readonly machine: {
    readonly cpus: number;
    readonly model: string;
    readonly node: string;
    /** 1-minute load average at the start of the run. */
    readonly loadAverage: number;
  };
  readonly webhook: Readonly<Record<string, Timing>>;
  readonly lifecycle: Timing;
  /** The same handlers one invocation at a time (nothing else in flight). */
  readonly serial: {
    readonly jobs: number;
    readonly webhook: Readonly<Record<string, Timing>>;
    /** total − io per invocation: the other way to get own time, valid only when nothing else runs. */
    readonly ownBySubtractionMs: Distribution;
  };
  readonly hotPath: CallProfile & {
    readonly invocations: number;
    /** EC2 calls in one `queued` invocation: how many made 0, 1, 2, … */
    readonly ec2CallsPerInvocation: Record<string, number>;
    /** DynamoDB writes in one `queued` invocation: how many made 4, 5, … */
    readonly dynamoWritesPerInvocation: Record<string, number>;
    /** A few `queued` invocations over the EC2 or write budget, as their call sequences. */
    readonly overBudget: readonly string[];
    readonly outcomes: Record<string, number>;
  };
  readonly jobLife: CallProfile & {
    /** The same, split by handler and event (`webhook queued`, `lifecycle stopped`, …). */
    readonly byEvent: Record<string, CallsPerJob>;
    /** Lifecycle invocations for states the deployed rule does not deliver (not counted above). */
    readonly sandboxOnly: CallsPerJob;
  };
  readonly allIn: CallProfile & {
    readonly schedules: Record<string, ScheduleCost>;
    /** Requests made outside any handler (the emulated agents), excluded above. */
    readonly agents: Record<string, number>;
  };
  /** Peer logs against the tracer's attribution: logged = attributed + unattributed when nothing is missed. */
  readonly reconciliation: Record<
    string,
    {
      logged: number;
      attributed: number;
      unattributed: number;
      /**
       * Calls that failed with no answer (e.g. a kept-alive socket the peer had closed: the SDK retries
       * on a new one). Each may or may not have reached the peer's log.
       */
      unanswered: number;
    }
  >;
  readonly sources: Record<string, number>;
  /** From the job records' ladder attempts. */
  readonly ladder: {
    /** Lost claim races per job: how many jobs lost 0, 1, 2, … */
    readonly lostRacesPerJob: Record<string, number>;
    /** Jobs that left the pool for spot or on-demand after lost races, never having found it empty. */
    readonly leftPoolAfterRaces: number;
  };
  readonly claims: number;
  readonly lostRaces: number;
  readonly failedDeliveries: number;
  readonly settled: boolean;
  readonly burstSeconds: number;
  readonly webhooksPerSecond: number;
  readonly goals: readonly Goal[];
}

/**
 * The states the deployed EventBridge rule delivers to the lifecycle handler
 * (infra/constructs/instance-event-rules.ts; the test keeps the two equal). The sandbox delivers every
 * state; the others (`pending`, `stopping`) cost a read each there and nothing in AWS, so job-life
 * figures leave them out and `sandboxOnly` shows them.
 */
export const deliveredStates: readonly string[] = ['running', 'stopped', 'shutting-down', 'terminated'];

const peers: readonly PeerName[] = ['github', 'ec2', 'dynamodb', 'ssm', 'eventBridge', 'secretsManager'];

export function buildReport(result: ScenarioResult): ControlPlaneReport {
  const { burst, probe } = result;
  const jobs = burst.jobs.length;
  const webhooks = burst.invocations.filter((i) => i.handler === 'webhook');
  const queued = webhooks.filter((i) => i.detail === 'queued');
  const allLifecycle = burst.invocations.filter((i) => i.handler === 'lifecycle');
  const delivered = (i: InvocationRecord) => deliveredStates.includes(i.detail ?? '');
  const lifecycle = allLifecycle.filter(delivered);
  const sandboxOnly = allLifecycle.filter((i) => !delivered(i));
  const allWebhooks = timing(webhooks);
  const probeWebhooks = probe.invocations.filter((i) => i.handler === 'webhook');

  const hot = callProfile(
    queued.flatMap((i) => i.calls),
    jobs,
  );
  const life = callProfile(
    [...webhooks, ...lifecycle].flatMap((i) => i.calls),
    jobs,
  );
  const agents = agentCalls(burst);
  const allIn = peerProfile(burst.peerCalls, agents, jobs);
  const describeInstances = queued.flatMap((i) => i.calls).filter((c) => c.operation === 'DescribeInstances');

  const duplicates = duplicateCount([...burst.jobs, ...probe.jobs], result.jobsPerInstance);
  const lost = [...burst.jobs, ...probe.jobs].filter(
    (j) => j.status !== 'completed' || j.conclusion !== 'success',
  ).length;
  const conflictsPerClaim = result.claims === 0 ? 0 : round(result.lostRaces / result.claims, 3);

  const report = {
    jobs,
    poolSize: result.options.poolSize,
    matrices: result.matrices,
    concurrency: Number.isFinite(result.options.concurrency)
      ? result.options.concurrency
      : ('unbounded' as const),
    timeScale: result.options.timeScale,
    p50Ms: allWebhooks.totalMs.p50,
    p99Ms: allWebhooks.totalMs.p99,
    ownP50Ms: allWebhooks.ownMs.p50,
    ownP99Ms: allWebhooks.ownMs.p99,
    githubCallsPerJob: hot.perJob.github,
    ec2CallsPerJob: hot.perJob.ec2,
    dynamoWritesPerJob: hot.perJob.dynamodbWrites,
    dynamoCallsPerJob: hot.perJob.dynamodb,
    ssmCallsPerJob: hot.perJob.ssm,
    describeInstancesOnHotPath: describeInstances.length,
    duplicates,
    lost,
    conflictsPerClaim,
    peakRssMb: Math.round(result.peakRssBytes / 2 ** 20),
    machine: { ...machine(), loadAverage: round(result.loadAverage, 2) },
    webhook: { all: allWebhooks, ...byDetail(webhooks) },
    lifecycle: timing(lifecycle),
    serial: {
      jobs: probe.jobs.length,
      webhook: { all: timing(probeWebhooks), ...byDetail(probeWebhooks) },
      ownBySubtractionMs: distribution(
        probeWebhooks.map((i) => Math.max(0, duration(i) - inFlightMs(i.calls, i.endedAt ?? i.startedAt))),
      ),
    },
    hotPath: {
      ...hot,
      invocations: queued.length,
      ec2CallsPerInvocation: countBy(
        queued.map((i) => String(i.calls.filter((c) => c.peer === 'ec2').length)),
      ),
      dynamoWritesPerInvocation: countBy(
        queued.map((i) =>
          String(
            i.calls.filter((c) => c.peer === 'dynamodb' && dynamoWriteOperations.has(c.operation)).length,
          ),
        ),
      ),
      outcomes: countBy(queued.map(outcomeOf)),
      overBudget: overBudget(queued),
    },
    jobLife: {
      ...life,
      byEvent: byEvent([...webhooks, ...lifecycle], jobs),
      sandboxOnly: callProfile(
        sandboxOnly.flatMap((i) => i.calls),
        jobs,
      ).perJob,
    },
    allIn: { ...allIn, schedules: scheduleCosts(burst.invocations), agents: flatCounts(agents) },
    reconciliation: reconcile(burst),
    sources: countBy(burst.jobs.map((j) => j.record?.source ?? '(none recorded)')),
    ladder: ladderOf(burst.jobs),
    claims: result.claims,
    lostRaces: result.lostRaces,
    failedDeliveries: result.failedDeliveries,
    settled: burst.settled,
    burstSeconds: round(burst.wallMs / 1000, 1),
    webhooksPerSecond: round(webhooks.length / (burst.wallMs / 1000), 1),
  };
  return { ...report, goals: judge(report) };
}

/**
 * Calls a warm container makes once per cache lifetime, not once per job: the installation token
 * (an hour), the secrets (per cold start), the pool config (30 s), the launch template (a minute).
 * The per-job goals are judged without them; the figures show them apart.
 */
const cacheRefreshes: Readonly<Record<string, ReadonlySet<string>>> = {
  github: new Set(['POST /app/installations/{id}/access_tokens']),
  ec2: new Set(['DescribeLaunchTemplateVersions', 'DescribeSubnets']),
  ssm: new Set(['GetParameter']),
  secretsManager: new Set(['GetSecretValue']),
};

function refreshesPerJob(profile: CallProfile, peer: string): number {
  const operations = profile.operations[peer] ?? {};
  const cached = cacheRefreshes[peer] ?? new Set();
  return round(
    Object.entries(operations)
      .filter(([operation]) => cached.has(operation))
      .reduce((sum, [, n]) => sum + n, 0),
    3,
  );
}

function judge(r: Omit<ControlPlaneReport, 'goals'>): Goal[] {
  const goal = (name: string, target: string, actual: number, pass: boolean, unit = ''): Goal => ({
    goal: name,
    target,
    actual: `${actual}${unit}`,
    pass,
  });
  const perJob = (name: string, peer: string, total: number, limit: number): Goal => {
    const refreshes = refreshesPerJob(r.hotPath, peer);
    const steady = round(total - refreshes, 3);
    return {
      goal: name,
      target: `≤ ${limit}`,
      actual: refreshes > 0 ? `${steady} (+ ${refreshes} cache refreshes per job)` : `${steady}`,
      pass: steady <= limit,
    };
  };
  return [
    perJob('GitHub calls per job, hot path', 'github', r.githubCallsPerJob, 1),
    perJob('EC2 calls per job, hot path', 'ec2', r.ec2CallsPerJob, 2),
    goal('DynamoDB writes per job, hot path', '≤ 4', r.dynamoWritesPerJob, r.dynamoWritesPerJob <= 4),
    goal(
      'DescribeInstances on the hot path',
      '0',
      r.describeInstancesOnHotPath,
      r.describeInstancesOnHotPath === 0,
    ),
    goal('webhook own time p99', '≤ 300 ms', r.ownP99Ms, r.ownP99Ms <= 300, ' ms'),
    goal('duplicate runners', '0', r.duplicates, r.duplicates === 0),
    goal('lost jobs', '0', r.lost, r.lost === 0),
  ];
}

function duration(i: InvocationRecord): number {
  return (i.endedAt ?? i.startedAt) - i.startedAt;
}

function timing(invocations: readonly InvocationRecord[]): Timing {
  const io = invocations.map((i) => inFlightMs(i.calls, i.endedAt ?? i.startedAt));
  return {
    count: invocations.length,
    totalMs: distribution(invocations.map(duration)),
    ownMs: distribution(invocations.map((i) => i.cpuMs)),
    ioMs: distribution(io),
    waitMs: distribution(invocations.map((i, n) => Math.max(0, duration(i) - i.cpuMs - (io[n] ?? 0)))),
    queuedMs: distribution(invocations.map((i) => i.queuedMs ?? 0)),
  };
}

function byDetail(invocations: readonly InvocationRecord[]): Record<string, Timing> {
  const groups = new Map<string, InvocationRecord[]>();
  for (const i of invocations) {
    const key = i.detail ?? '(other)';
    const list = groups.get(key) ?? [];
    list.push(i);
    groups.set(key, list);
  }
  return Object.fromEntries([...groups].map(([key, list]) => [key, timing(list)]));
}

function emptyPerJob(): Record<keyof CallsPerJob, number> {
  return { github: 0, ec2: 0, dynamodb: 0, dynamodbWrites: 0, ssm: 0, eventBridge: 0, secretsManager: 0 };
}

function callProfile(calls: readonly OutboundCall[], jobs: number): CallProfile {
  const failedWrites = calls.filter(
    (c) => c.peer === 'dynamodb' && dynamoWriteOperations.has(c.operation) && c.status === 400,
  ).length;
  return { ...profileOf(countCalls(calls), jobs), dynamodbFailedWritesPerJob: perJobOf(failedWrites, jobs) };
}

/** Calls by peer and operation (calls to anything but a peer left out). */
function byEvent(invocations: readonly InvocationRecord[], jobs: number): Record<string, CallsPerJob> {
  const groups = new Map<string, OutboundCall[]>();
  for (const i of invocations) {
    const key = `${i.handler} ${i.detail ?? ''}`.trim();
    const calls = groups.get(key) ?? [];
    calls.push(...i.calls);
    groups.set(key, calls);
  }
  return Object.fromEntries([...groups].map(([key, calls]) => [key, callProfile(calls, jobs).perJob]));
}

function countCalls(calls: readonly OutboundCall[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const call of calls) {
    if (call.peer === 'other') continue;
    const byOperation = counts[call.peer] ?? {};
    byOperation[call.operation] = (byOperation[call.operation] ?? 0) + 1;
    counts[call.peer] = byOperation;
  }
  return counts;
}

function profileOf(counts: Record<string, Record<string, number>>, jobs: number): CallProfile {
  const perJob = emptyPerJob();
  const operations: Record<string, Record<string, number>> = {};
  for (const [peer, byOperation] of Object.entries(counts)) {
    for (const [operation, n] of Object.entries(byOperation)) {
      if (n <= 0) continue;
      operations[peer] = { ...operations[peer], [operation]: perJobOf(n, jobs) };
      if (peer in perJob) perJob[peer as keyof CallsPerJob] += n;
      if (peer === 'dynamodb' && dynamoWriteOperations.has(operation)) perJob.dynamodbWrites += n;
    }
  }
  for (const key of Object.keys(perJob) as (keyof CallsPerJob)[]) perJob[key] = perJobOf(perJob[key], jobs);
  return { perJob, operations };
}

function perJobOf(n: number, jobs: number): number {
  return jobs === 0 ? 0 : round(n / jobs, 3);
}

/** Requests made outside any handler, by peer and operation, named as the peers name them. */
function agentCalls(window: PhaseWindow): Record<string, Record<string, number>> {
  return countCalls(window.unattributed);
}

/** Every request the peers logged, less the agents', per job. */
function peerProfile(
  logged: PeerCallCounts,
  agents: Record<string, Record<string, number>>,
  jobs: number,
): CallProfile {
  const counts: Record<string, Record<string, number>> = {};
  for (const peer of peers) {
    const byOperation: Record<string, number> = {};
    for (const [operation, n] of Object.entries(logged[peer])) {
      byOperation[operation] = n - (agents[peer]?.[operation] ?? 0);
    }
    counts[peer] = byOperation;
  }
  return profileOf(counts, jobs);
}

function reconcile(window: PhaseWindow): ControlPlaneReport['reconciliation'] {
  const attributed = window.invocations.flatMap((i) => i.calls);
  return Object.fromEntries(
    peers.map((peer) => [
      peer,
      {
        logged: Object.values(window.peerCalls[peer]).reduce((a, b) => a + b, 0),
        attributed: attributed.filter((c) => c.peer === peer).length,
        unattributed: window.unattributed.filter((c) => c.peer === peer).length,
        unanswered: [...attributed, ...window.unattributed].filter(
          (c) => c.peer === peer && c.failed && c.status === undefined,
        ).length,
      },
    ]),
  );
}

function scheduleCosts(invocations: readonly InvocationRecord[]): Record<string, ScheduleCost> {
  const costs: Record<string, ScheduleCost> = {};
  for (const handler of ['tuner', 'reconciler'] as const) {
    const runs = invocations.filter((i) => i.handler === handler);
    const calls = runs.flatMap((i) => i.calls);
    // A run's calls "per job" with one job per run is its calls per run.
    const { operations, dynamodbFailedWritesPerJob } = callProfile(calls, runs.length);
    costs[handler] = {
      runs: runs.length,
      callsPerRun: runs.length === 0 ? 0 : round(calls.length / runs.length, 1),
      operationsPerRun: operations,
      dynamodbFailedWritesPerRun: dynamodbFailedWritesPerJob ?? 0,
    };
  }
  return costs;
}

function flatCounts(counts: Record<string, Record<string, number>>): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [peer, byOperation] of Object.entries(counts))
    for (const [operation, n] of Object.entries(byOperation)) flat[`${peer} ${operation}`] = n;
  return flat;
}

/**
 * A GitHub job started more than once, a runner that ran two jobs, an instance whose runner ran two
 * jobs: each is a duplicate.
 */
export function duplicateCount(
  jobs: readonly JobOutcome[],
  jobsPerInstance: ReadonlyMap<string, number>,
): number {
  const startedTwice = jobs.filter((j) => j.starts > 1).length;
  const runners = new Map<string, number>();
  for (const j of jobs) if (j.runnerName) runners.set(j.runnerName, (runners.get(j.runnerName) ?? 0) + 1);
  const sharedRunners = [...runners.values()].filter((n) => n > 1).length;
  const reusedInstances = [...jobsPerInstance.values()].filter((n) => n > 1).length;
  return startedTwice + sharedRunners + reusedInstances;
}

function overBudget(queued: readonly InvocationRecord[]): string[] {
  const writes = (i: InvocationRecord) =>
    i.calls.filter((c) => c.peer === 'dynamodb' && dynamoWriteOperations.has(c.operation)).length;
  const ec2 = (i: InvocationRecord) => i.calls.filter((c) => c.peer === 'ec2').length;
  const over = queued.filter((i) => ec2(i) > 2 || writes(i) > 4);
  // The most expensive first: they show best what the extra calls are.
  return over
    .sort((a, b) => ec2(b) + writes(b) - (ec2(a) + writes(a)))
    .slice(0, 3)
    .map((i) => `${outcomeOf(i)}: ${i.calls.map(describeCall).join(' → ')}`);
}

/** `UpdateItem`, or `UpdateItem 400` when the peer said no (a lost conditional write, a refusal). */
function describeCall(call: OutboundCall): string {
  if (call.failed) return `${call.operation} (no answer)`;
  return call.status !== undefined && call.status >= 300
    ? `${call.operation} ${call.status}`
    : call.operation;
}

function ladderOf(jobs: readonly JobOutcome[]): ControlPlaneReport['ladder'] {
  const poolSteps = new Set(['pool', 'pool-other-zone']);
  const lost = (j: JobOutcome) => (j.record?.attempts ?? []).filter((a) => a.outcome === 'lost-race').length;
  return {
    lostRacesPerJob: countBy(jobs.map((j) => String(lost(j)))),
    leftPoolAfterRaces: jobs.filter((j) => {
      const attempts = j.record?.attempts ?? [];
      const fellBack = j.record?.source === 'spot' || j.record?.source === 'on-demand';
      return fellBack && lost(j) > 0 && !attempts.some((a) => poolSteps.has(a.step) && a.outcome === 'empty');
    }).length,
  };
}

function outcomeOf(invocation: InvocationRecord): string {
  if (invocation.failed) return 'failed';
  const response = invocation.result as { statusCode?: number; body?: string } | undefined;
  try {
    const body = JSON.parse(response?.body ?? '{}') as { outcome?: string };
    return body.outcome ?? String(response?.statusCode ?? 'unknown');
  } catch {
    return String(response?.statusCode ?? 'unknown');
  }
}

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

export function machine(): Omit<ControlPlaneReport['machine'], 'loadAverage'> {
  return {
    cpus: availableParallelism(),
    model: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
  };
}

/** The report as the console shows it. */
export function formatReport(r: ControlPlaneReport): string {
  const ms = (d: Distribution) => `${d.p50} / ${d.p99} ms`;
  const row = (name: string, t: Timing | undefined) =>
    t === undefined
      ? []
      : [
          `  ${name.padEnd(12)} n=${String(t.count).padStart(5)}  total ${ms(t.totalMs).padEnd(20)} own ${ms(t.ownMs).padEnd(18)} io ${ms(t.ioMs).padEnd(18)} wait ${ms(t.waitMs)}`,
        ];
  const perJob = (profile: CallProfile) => {
    const p = profile.perJob;
    const failed =
      profile.dynamodbFailedWritesPerJob === undefined
        ? ''
        : `, ${profile.dynamodbFailedWritesPerJob} failed`;
    return `GitHub ${p.github}  EC2 ${p.ec2}  DynamoDB ${p.dynamodb} (writes ${p.dynamodbWrites}${failed})  SSM ${p.ssm}  EventBridge ${p.eventBridge}`;
  };
  const lines = [
    `Control plane: ${r.jobs} jobs in matrices of ${r.matrices.join(', ')} over a pool of ${r.poolSize}`,
    `  machine: ${r.machine.cpus} CPUs, ${r.machine.model}, node ${r.machine.node}, load ${r.machine.loadAverage}; ` +
      `EC2 time x${r.timeScale}; ` +
      `webhook concurrency ${r.concurrency}`,
    `  burst ${r.burstSeconds} s, ${r.webhooksPerSecond} webhooks/s; runners from ${Object.entries(r.sources)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    'Handler time per event (p50 / p99), burst:',
    ...row('webhook', r.webhook.all),
    ...Object.entries(r.webhook)
      .filter(([k]) => k !== 'all')
      .flatMap(([k, t]) => row(`  ${k}`, t)),
    ...row('lifecycle', r.lifecycle),
    `  deliveries waited for one of the ${r.concurrency} slots: ${ms(r.webhook.all?.queuedMs ?? distribution([]))} ` +
      '(a single-process backlog; Lambda gives each delivery its own environment)',
    `Serial probe (${r.serial.jobs} jobs, one invocation at a time):`,
    ...Object.entries(r.serial.webhook)
      .filter(([k]) => k !== 'all')
      .flatMap(([k, t]) => row(`  ${k}`, t)),
    `  own by total − io: ${ms(r.serial.ownBySubtractionMs)}`,
    '',
    `Calls per job, hot path (queued webhook): ${perJob(r.hotPath)}`,
    `Calls per job, job life (webhooks + lifecycle): ${perJob(r.jobLife)}`,
    `  not counted: lifecycle events the deployed rule does not deliver (sandbox only): DynamoDB ${r.jobLife.sandboxOnly.dynamodb} per job`,
    `Calls per job, all-in (peer logs, schedules included, agents excluded): ${perJob(r.allIn)}`,
    `  EC2 calls per queued invocation: ${Object.entries(r.hotPath.ec2CallsPerInvocation)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')}; outcomes: ${Object.entries(r.hotPath.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  DynamoDB writes per queued invocation: ${Object.entries(r.hotPath.dynamoWritesPerInvocation)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')}`,
    ...r.hotPath.overBudget.map((line) => `    over budget: ${line}`),
    `Claims ${r.claims}, lost races ${r.lostRaces} (${r.conflictsPerClaim} per claim); ` +
      `${r.ladder.leftPoolAfterRaces} jobs left the pool after lost races; failed deliveries ${r.failedDeliveries}`,
    `Schedules: ${Object.entries(r.allIn.schedules)
      .map(
        ([name, c]) =>
          `${name} ${c.runs} runs × ${c.callsPerRun} calls (${c.dynamodbFailedWritesPerRun} failed conditional writes a run)`,
      )
      .join('; ')}`,
    `Duplicates ${r.duplicates}, lost ${r.lost}; peak RSS ${r.peakRssMb} MB${r.settled ? '' : '; the pool did not settle'}`,
    '',
    'Goals:',
    ...r.goals.map((g) => `  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.actual} (goal ${g.target})`),
  ];
  return lines.join('\n');
}
