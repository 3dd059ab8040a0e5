/**
 * The burst-recovery scenario (issue #13): a burst of matrix jobs during which a share of GitHub's
 * webhook deliveries is lost — recorded as failed at GitHub, never seen by the webhook handler, as when
 * API Gateway or the network fails. The jobs whose `queued` delivery was lost have no record and no
 * runner until the reconciler (on its deployed 30 s cadence) finds the failed deliveries and has GitHub
 * redeliver them. Measured: from the burst's first job to the last such job running at GitHub, in
 * real-world-equivalent seconds, and how many reconciler runs that took.
 *
 * The sandbox stack as in the burst scenario (real handlers and adapters, peers on 127.0.0.1), on a
 * clock scaled by `timeScale` with EC2's durations, the job durations and the schedules (1: real time).
 */
import { loadavg } from 'node:os';
import { scaledClock } from '../../bin/sandbox/scaled-clock.js';
import { seededRandom } from '../../bin/sandbox/seeded-random.js';
import { startSandbox } from '../../bin/sandbox/stack.js';
import { duplicateCount, machine } from './report.js';
import {
  benchPoolConfig,
  compressedSandbox,
  jobOutcomes,
  matrixSizes,
  quiescent,
  Schedules,
  Semaphore,
  sleep,
  until,
  warmPool,
} from './scenario.js';
import { type Distribution, distribution, round } from './stats.js';

const labels = ['self-hosted', 'linux', 'x64'];
const repository = { owner: 'acme', name: 'app' };

export interface BurstRecoveryOptions {
  readonly jobs: number;
  /** Share of webhook deliveries lost (every action; redeliveries get through). */
  readonly lostShare: number;
  readonly poolSize: number;
  /** 1: real time; 0.5: a minute lasts 30 s (EC2, GitHub's clock, job durations, schedules). */
  readonly timeScale: number;
  /** Over how long the matrices are queued (real-world ms). */
  readonly arrivalMs: number;
  /** Real-world ms a job runs once a runner took it: uniform in [min, max]. */
  readonly jobDurationMs: readonly [number, number];
  readonly concurrency: number;
  /** The deployed cadences (real-world ms): the reconciler every 30 s, the tuner every minute. */
  readonly reconcilerEveryMs: number;
  readonly tunerEveryMs: number;
  /** Give up after this long (wall ms). */
  readonly timeoutMs: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface BurstRecoveryReport {
  readonly jobs: number;
  readonly matrices: readonly number[];
  readonly lostShare: number;
  readonly timeScale: number;
  readonly reconcilerEverySeconds: number;
  /** Deliveries lost on purpose (never reached the handler), by action. */
  readonly lostDeliveries: Readonly<Record<string, number>>;
  /**
   * First deliveries the handler itself failed (an error or its own deadline: the single process
   * overloaded), by action; the reconciler redelivers these too.
   */
  readonly failedDeliveries: Readonly<Record<string, number>>;
  /** Jobs whose `queued` delivery was lost: nothing knew of them until the reconciler. */
  readonly lostJobs: number;
  /** Real-world-equivalent seconds from the burst's first job to the last first-time `queued` delivery answered. */
  readonly burstAbsorbedSeconds: number;
  /** From the burst's first job to the last lost job running at GitHub. */
  readonly lastLostJobRunningSeconds: number;
  /** From the burst's first job to the last job of the burst running at GitHub. */
  readonly lastJobRunningSeconds: number;
  /** Queued → running at GitHub, per lost job. */
  readonly lostJobWaitSeconds: Distribution;
  /** Reconciler runs started from the burst until the last lost job ran. */
  readonly reconcilerRuns: number;
  /** Runs that redelivered something, and how much each. */
  readonly redeliveriesPerRun: readonly number[];
  readonly redelivered: number;
  /**
   * GitHub's JIT-mint limit (180 a minute per App) during the burst: mints refused, and the most
   * accepted in a sliding minute. A refused mint leaves its job pending for the reconciler too.
   */
  readonly mintsThrottled: number;
  readonly peakMintsInAMinute: number;
  readonly duplicates: number;
  readonly lost: number;
  /**
   * Job records still open (not `completed`) some reconciler runs after every job completed at GitHub:
   * a `completed` delivery not yet redelivered. The jobs ran; their instances are recycled late.
   */
  readonly recordsOpen: number;
  readonly settled: boolean;
  readonly wallSeconds: number;
  readonly machine: ReturnType<typeof machine> & { readonly loadAverage: number };
}

/** The status GitHub records for a lost delivery here: one the sandbox's own server never answers. */
const lostStatus = 504;

interface ReconcilerRun {
  readonly at: number;
  endedAt: number | undefined;
  redelivered: number;
}

export async function runBurstRecovery(options: BurstRecoveryOptions): Promise<BurstRecoveryReport> {
  const { log, timeScale } = options;
  const began = performance.now();
  const loadAverage = loadavg()[0] ?? 0;
  const wall = (realMs: number) => realMs * timeScale;
  const clock = scaledClock(Date.now(), 1 / timeScale);
  const random = seededRandom(options.seed);
  const jobsPerInstance = new Map<string, number>();
  const webhookSlots = new Semaphore(options.concurrency);
  const sandbox = await startSandbox({
    poolConfig: benchPoolConfig(options.poolSize),
    clock,
    timeScale,
    ...compressedSandbox(wall),
    instrument: async (invocation, invoke) => {
      const release = invocation.handler === 'webhook' ? await webhookSlots.acquire() : undefined;
      try {
        return await invoke();
      } finally {
        release?.();
      }
    },
    onAgentOutcome: (instanceId, outcome) => {
      if (outcome === 'ran-job') jobsPerInstance.set(instanceId, (jobsPerInstance.get(instanceId) ?? 0) + 1);
    },
  });
  const runs: ReconcilerRun[] = [];
  const schedules = new Schedules(
    {
      runTuner: () => sandbox.runTuner(),
      runReconciler: async () => {
        const run: ReconcilerRun = { at: clock.now(), endedAt: undefined, redelivered: 0 };
        runs.push(run);
        const totals = (await sandbox.runReconciler()) as { redelivered?: number };
        run.endedAt = clock.now();
        run.redelivered = totals.redelivered ?? 0;
        return totals;
      },
    },
    { tunerMs: wall(options.tunerEveryMs), reconcilerMs: wall(options.reconcilerEveryMs) },
  );
  try {
    log(`warming a pool of ${options.poolSize}`);
    await warmPool(sandbox, options.poolSize);
    await sandbox.lifecycleIdle();
    // The reconciler's first run saves its delivery cursor: as deployed, it has run before the burst.
    await sandbox.runReconciler();
    const matrices = matrixSizes(options.jobs, random);
    const deliveriesBefore = sandbox.github.deliveryLog().length;
    sandbox.github.dropDeliveries(options.lostShare, {
      random: seededRandom(options.seed + 1),
      statusCode: lostStatus,
    });
    log(
      `burst: ${options.jobs} jobs in matrices of ${matrices.join(', ')}, ` +
        `${Math.round(options.lostShare * 100)} % of deliveries lost`,
    );
    const throttledBefore = sandbox.github.rateLimitCounters().apps.reduce((n, a) => n + a.mintsThrottled, 0);
    const burstAt = clock.now();
    schedules.start();
    const queued = matrices.map(async (size, index) => {
      await sleep(wall((options.arrivalMs * index) / Math.max(1, matrices.length - 1)));
      return sandbox.github.queueWorkflowRun({
        repository,
        workflowName: `matrix-${index + 1}`,
        jobs: Array.from({ length: size }, () => ({
          labels,
          durationMs: Math.round(wall(between(options.jobDurationMs, random))),
        })),
      });
    });
    const ids = (await Promise.all(queued)).flatMap((r) => r.jobIds);
    const deliveries = () => sandbox.github.deliveryLog().slice(deliveriesBefore);
    const done = await until(
      () => ids.every((id) => sandbox.github.jobState(id)?.status === 'completed'),
      options.timeoutMs,
    );
    log(done ? 'every job ran; waiting for the records to close' : 'timed out waiting for the jobs');
    sandbox.github.dropDeliveries(0);
    // Then each record closes once its `completed` delivery got through, redelivered if lost: a few
    // reconciler runs at most. Records found closed are not read again.
    const closed = new Set<number>();
    const recordsClosed = async () => {
      for (const id of ids.filter((i) => !closed.has(i)))
        if ((await sandbox.plane.deps.store.getJob(id))?.state === 'completed') closed.add(id);
        else return false;
      return true;
    };
    await until(recordsClosed, wall(4 * options.reconcilerEveryMs) + 10_000);
    const settled = done && (await until(async () => quiescent(sandbox), 30_000));
    schedules.stop();
    await schedules.idle();
    await sandbox.lifecycleIdle();
    await sandbox.github.idle();

    const log_ = deliveries();
    const firstQueued = log_.filter((d) => d.action === 'queued' && !d.redelivery);
    const lostJobIds = new Set(firstQueued.filter((d) => d.statusCode === lostStatus).map((d) => d.jobId));
    const lostDeliveries: Record<string, number> = {};
    const failedDeliveries: Record<string, number> = {};
    for (const d of log_) {
      if (d.redelivery || ok(d.statusCode)) continue;
      const counts = d.statusCode === lostStatus ? lostDeliveries : failedDeliveries;
      counts[d.action ?? 'other'] = (counts[d.action ?? 'other'] ?? 0) + 1;
    }
    const startedAt = (id: number) => sandbox.github.jobState(id)?.startedAt ?? Number.NaN;
    const lostIds = ids.filter((id) => lostJobIds.has(id));
    const lastLost = Math.max(burstAt, ...lostIds.map(startedAt));
    const lastAny = Math.max(burstAt, ...ids.map(startedAt));
    const runsUntil = runs.filter((r) => r.at >= burstAt && r.at <= lastLost);
    const outcomes = await jobOutcomes(sandbox, ids);
    const counters = sandbox.github.rateLimitCounters().apps;
    const seconds = (ms: number) => round(ms / 1000, 1);
    return {
      jobs: ids.length,
      matrices,
      lostShare: options.lostShare,
      timeScale,
      reconcilerEverySeconds: options.reconcilerEveryMs / 1000,
      lostDeliveries,
      failedDeliveries,
      lostJobs: lostIds.length,
      burstAbsorbedSeconds: seconds(Math.max(burstAt, ...firstQueued.map((d) => d.deliveredAt)) - burstAt),
      lastLostJobRunningSeconds: seconds(lastLost - burstAt),
      lastJobRunningSeconds: seconds(lastAny - burstAt),
      lostJobWaitSeconds: distribution(
        lostIds.map((id) => (startedAt(id) - (sandbox.github.jobState(id)?.createdAt ?? 0)) / 1000),
        1,
      ),
      reconcilerRuns: runsUntil.length,
      redeliveriesPerRun: runs.filter((r) => r.at >= burstAt && r.redelivered > 0).map((r) => r.redelivered),
      redelivered: runs.reduce((n, r) => n + (r.at >= burstAt ? r.redelivered : 0), 0),
      mintsThrottled: counters.reduce((n, a) => n + a.mintsThrottled, 0) - throttledBefore,
      peakMintsInAMinute: Math.max(0, ...counters.map((a) => a.peakMintsInAMinute)),
      duplicates: duplicateCount(outcomes, jobsPerInstance),
      lost: outcomes.filter((j) => j.status !== 'completed' || j.conclusion !== 'success').length,
      recordsOpen: ids.length - closed.size,
      settled,
      wallSeconds: round((performance.now() - began) / 1000, 1),
      machine: { ...machine(), loadAverage: round(loadAverage, 2) },
    };
  } finally {
    schedules.stop();
    await sandbox.close();
  }
}

function ok(statusCode: number): boolean {
  return statusCode >= 200 && statusCode < 300;
}

function between([min, max]: readonly [number, number], random: () => number): number {
  return Math.round(min + (max - min) * random());
}

export function formatBurstRecovery(r: BurstRecoveryReport): string {
  const counts = (c: Readonly<Record<string, number>>) =>
    Object.entries(c)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const d = (x: Distribution) => `${x.p50} / ${x.p95} / ${x.max} s`;
  return [
    `Burst recovery: ${r.jobs} jobs in matrices of ${r.matrices.join(', ')}, ${Math.round(r.lostShare * 100)} % of webhook deliveries lost`,
    `  time ×${r.timeScale}; figures in real-world-equivalent seconds; reconciler every ${r.reconcilerEverySeconds} s`,
    `  machine: ${r.machine.cpus} CPUs, ${r.machine.model}, node ${r.machine.node}, load ${r.machine.loadAverage}`,
    `  deliveries lost: ${counts(r.lostDeliveries)}; jobs whose queued delivery was lost: ${r.lostJobs}`,
    `  first deliveries the overloaded handler failed (redelivered as well): ${counts(r.failedDeliveries)}`,
    `  burst absorbed (every first queued delivery answered): ${r.burstAbsorbedSeconds} s`,
    `  last lost job running: ${r.lastLostJobRunningSeconds} s after the burst began, after ${r.reconcilerRuns} reconciler run(s)`,
    `  last job of the burst running: ${r.lastJobRunningSeconds} s; lost jobs queued → running p50 / p95 / max ${d(r.lostJobWaitSeconds)}`,
    `  redelivered ${r.redelivered} (per run that redelivered: ${r.redeliveriesPerRun.join(', ') || 'none'})`,
    `  GitHub's mint limit: ${r.mintsThrottled} mints throttled, at most ${r.peakMintsInAMinute} accepted in a minute`,
    `  duplicates ${r.duplicates}, lost ${r.lost}; job records still open at the end ${r.recordsOpen}` +
      `${r.settled ? '' : '; the pool did not settle'}; ${r.wallSeconds} s of wall time`,
  ].join('\n');
}
