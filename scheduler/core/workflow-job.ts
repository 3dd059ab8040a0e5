/**
 * The `workflow_job` webhook as a use case: queued, waiting, in_progress, completed.
 *
 * Idempotent on the job id (the job record is created with a conditional put) and on the delivery id
 * (recorded on the job), and tolerant of order: an event never moves a job backwards, and an event
 * for a job we have not seen yet creates the record in the state it reports, so a late `queued` is
 * recognised as stale and provides no runner. Jobs whose labels no pool serves are ignored.
 *
 * GitHub binds runners to labels, not to jobs: the runner provided for job A may take job B. So
 * `in_progress` records which runner (and so which instance) took the job, whichever it was
 * provided for; an instance left idle by such a swap is released by the reconciler.
 */

import { GitHubError } from '../ports/github-runners.js';
import type { JobUpdate } from '../ports/pool-store.js';
import { type CoreDeps, instanceOfRunner } from './deps.js';
import {
  hotTierRunner,
  hotUntaken,
  isUntaken,
  pairStart,
  readHotTarget,
  refillForPair,
  servedByHotTier,
  takenUnknownOf,
  tierOf,
  withdrawCancelledJob,
} from './hot-tier.js';
import { matchPool, sizeOfJob } from './labels.js';
import { canTransitionJob, type JobState, jobProgress } from './lifecycle.js';
import type { PoolConfig, PoolsConfig } from './pool-config.js';
import {
  onDemandMarker,
  type ProvisionOutcome,
  provisionHotRunner,
  provisionRunner,
  rerunMarker,
} from './provision.js';

export { onDemandMarker, rerunMarker };

import { serveWaitingJobs } from './quota-waiters.js';
import {
  chargeRunningJob,
  giveBack,
  hasQuotas,
  type QuotaGate,
  recordQuotaWait,
  takeQuotas,
  waitKeyOf,
} from './quotas.js';
import { recycleInstance, releaseUnusedRunner } from './recycle.js';
import type { InstanceRecord, JobRecord, WorkflowJobEvent } from './types.js';

export type WorkflowJobOutcome =
  | { kind: 'ignored'; reason: 'no-pool' }
  | { kind: 'duplicate'; jobId: number; state: JobState }
  | { kind: 'recorded'; jobId: number; pool: string; state: JobState }
  | { kind: 'provisioned'; jobId: number; pool: string; instanceId: string; source: string }
  | { kind: 'pending'; jobId: number; pool: string; reason: string }
  /** The pool's runners already cover this job and the hot target (a surplus from an earlier event). */
  | { kind: 'covered'; jobId: number; pool: string };

export interface WorkflowJobContext {
  readonly config: PoolsConfig;
  /** Epoch ms after which no new provisioning step starts. */
  readonly deadline: number;
  /** When the webhook reached us (for the latency phases). */
  readonly receivedAt: number;
}

const maxAdvanceAttempts = 5;

/** The job kept changing under us: a fault (the webhook answers 5xx and GitHub's delivery can be redelivered). */
export class JobContentionError extends Error {
  override readonly name = 'JobContentionError';
  constructor(readonly jobId: number) {
    super(`job ${jobId} kept changing while recording an event`);
  }
}

const stateOfAction: Record<WorkflowJobEvent['action'], JobState> = {
  waiting: 'waiting',
  queued: 'queued',
  in_progress: 'running',
  completed: 'completed',
};

export async function handleWorkflowJob(
  deps: CoreDeps,
  context: WorkflowJobContext,
  event: WorkflowJobEvent,
): Promise<WorkflowJobOutcome> {
  // Any job of a run finishing (ours or not) may be the last one: a refused re-run can go now.
  if (event.action === 'completed') await retryPendingRerun(deps, event);
  const pool = matchPool(context.config, event.labels);
  if (pool === undefined) return { kind: 'ignored', reason: 'no-pool' };

  const reported = stateOfAction[event.action];
  const fresh = newJobRecord(deps, context, event, pool, reported);
  const created = await deps.store.createJob(fresh);
  let job: JobRecord = fresh;
  // The state the job had before this event, when it was known already (for the hot tier's pairing).
  let before: JobState | undefined;
  if (created === 'exists') {
    // Another writer (the provisioning of this job, a boot phase, a concurrent delivery) may bump
    // the job between our read and our write: re-read and decide again, so that a lost race is never
    // answered as a duplicate — GitHub would then never redeliver an event we did not record.
    let advanced: JobRecord | undefined;
    for (let attempt = 0; attempt < maxAdvanceAttempts && advanced === undefined; attempt++) {
      const existing = await deps.store.getJob(event.jobId);
      if (existing === undefined) return { kind: 'duplicate', jobId: event.jobId, state: reported };
      if (existing.deliveries.includes(event.deliveryId) || !movesForward(existing.state, reported))
        return { kind: 'duplicate', jobId: existing.id, state: existing.state };
      advanced = await advance(deps, existing, event, reported);
      before = existing.state;
    }
    if (advanced === undefined) throw new JobContentionError(event.jobId);
    job = advanced;
  }

  switch (reported) {
    case 'waiting':
      return { kind: 'recorded', jobId: job.id, pool: pool.name, state: job.state };
    case 'queued':
      return pairedByHotTier(deps, pool, job)
        ? provisionWithHotTier(deps, context, pool, job)
        : provisionForJob(deps, context, pool, job);
    case 'running':
      // This event is the job's first news as waiting-or-beyond when no `queued` recorded it before:
      // it then carries the job's half of its one start (see hot-tier.ts, `pairStart`).
      await markInstanceBusy(deps, context, pool, job, {
        jobHalf: before === undefined || before === 'waiting',
      });
      return { kind: 'recorded', jobId: job.id, pool: pool.name, state: job.state };
    case 'completed':
      // Its `queued` added the job's half of a start; no runner took it, so no runner's half will come.
      if (
        (before === 'queued' || before === 'provisioned') &&
        !event.runnerName &&
        pairedByHotTier(deps, pool, job)
      )
        await withdrawCancelledJob(deps, pool.name);
      await finishJob(deps, context, pool, job, event);
      return { kind: 'recorded', jobId: job.id, pool: pool.name, state: job.state };
    default:
      return { kind: 'recorded', jobId: job.id, pool: pool.name, state: job.state };
  }
}

function movesForward(current: JobState, reported: JobState): boolean {
  return jobProgress[reported] > jobProgress[current] && canTransitionJob(current, reported);
}

function newJobRecord(
  deps: CoreDeps,
  context: WorkflowJobContext,
  event: WorkflowJobEvent,
  pool: PoolConfig,
  state: JobState,
): JobRecord {
  const ranOn = instanceOfRunner(deps.runners, event.runnerName);
  return {
    id: event.jobId,
    runId: event.runId,
    ...(event.name !== undefined && { name: event.name }),
    repository: event.repository,
    labels: event.labels,
    pool: pool.name,
    state,
    version: 1,
    phases: {
      ...(event.createdAt !== undefined && { createdAt: event.createdAt }),
      receivedAt: context.receivedAt,
      // A `completed` carries `started_at` too: the pickup phase survives a lost `in_progress`.
      ...((state === 'running' || state === 'completed') &&
        event.startedAt !== undefined && { inProgressAt: event.startedAt }),
      ...(state === 'completed' && { completedAt: event.completedAt ?? context.receivedAt }),
    },
    ...(event.runnerName !== undefined && state !== 'queued' && { runnerName: event.runnerName }),
    ...(ranOn !== undefined && { instanceId: ranOn }),
    ...(event.conclusion !== undefined && { conclusion: event.conclusion }),
    attempts: [],
    reprovisions: 0,
    deliveries: [event.deliveryId],
    updatedAt: context.receivedAt,
  };
}

/** Moves a known job forward to what the event reports; undefined when another writer got there first. */
async function advance(
  deps: CoreDeps,
  job: JobRecord,
  event: WorkflowJobEvent,
  to: JobState,
): Promise<JobRecord | undefined> {
  const now = deps.clock.now();
  const ranOn = instanceOfRunner(deps.runners, event.runnerName);
  const result = await deps.store.updateJob({
    id: job.id,
    expectedVersion: job.version,
    to,
    deliveryId: event.deliveryId,
    patch: {
      updatedAt: now,
      ...(event.runnerName !== undefined && to !== 'queued' && { runnerName: event.runnerName }),
      ...(ranOn !== undefined && { instanceId: ranOn }),
      ...(event.conclusion !== undefined && { conclusion: event.conclusion }),
      phases: {
        ...(to === 'running' && { inProgressAt: event.startedAt ?? now }),
        ...(to === 'completed' && { completedAt: event.completedAt ?? now }),
        ...(to === 'completed' &&
          job.phases.inProgressAt === undefined &&
          event.startedAt !== undefined && { inProgressAt: event.startedAt }),
      },
    },
  });
  return result.kind === 'ok' ? result.record : undefined;
}

/** A sized job needs a runner carrying its size label: the hot tier's runners cannot take it. */
function pairedByHotTier(deps: CoreDeps, pool: PoolConfig, job: JobRecord): boolean {
  return servedByHotTier(deps, pool, job) && sizeOfJob(pool, job.labels) === undefined;
}

/**
 * A queued job in a pool with a hot tier: its one start, unless the runner it took was reported first
 * (the agent's job-started tag or `in_progress` then started it: see `pairStart`), or the pool's
 * untaken runners already cover the jobs waiting (this one included) and the hot target. The start is a
 * refill of the tier when a hot runner is idle (GitHub hands this job to it), else the job's own runner
 * up the usual ladder.
 */
async function provisionWithHotTier(
  deps: CoreDeps,
  context: Pick<WorkflowJobContext, 'deadline' | 'config'>,
  pool: PoolConfig,
  job: JobRecord,
): Promise<WorkflowJobOutcome> {
  // The job's half of its one start: the runner it took may have been reported (and replaced) first.
  const paired = (await pairStart(deps, pool.name, 'job')) === 'second';
  // A paired job is usually covered and needs only the instances: the target is read only otherwise.
  const [instances, readTarget] = await Promise.all([
    deps.store.listPoolInstances(pool.name),
    paired ? undefined : readHotTarget(deps, pool),
  ]);
  // A runner's half is only ever waiting while its runner is busy with a job no `in_progress` named
  // yet. With none such, the half this job paired with was left by a start outside the pairing (the
  // reconciler's, a replacement's): it is used up now, and this job still needs its start.
  if (paired && takenUnknownOf(pool, instances) > 0) {
    deps.metrics.count('JobsCoveredByHotTier', 1, { Pool: pool.name });
    return { kind: 'covered', jobId: job.id, pool: pool.name };
  }
  if (paired) deps.metrics.count('HotPairsStale', 1, { Pool: pool.name });
  // Decided on the tier alone (see `refillForPair` for why not on the count of waiting jobs).
  const target = readTarget ?? (await readHotTarget(deps, pool));
  const hot = hotUntaken(pool, instances);
  const hotIdle = hot.some((i) => i.state === 'idle');
  // This job takes one of the idle ones: the tier needs no refill when it holds its target without it.
  if (hotIdle && hot.length - 1 >= target) {
    deps.metrics.count('JobsCoveredByHotTier', 1, { Pool: pool.name });
    return { kind: 'covered', jobId: job.id, pool: pool.name };
  }
  return provisionForJob(deps, context, pool, job, { hotRefill: hotIdle });
}

/** Provides a runner for a queued job and records the outcome on the job. */
export async function provisionForJob(
  deps: CoreDeps,
  context: Pick<WorkflowJobContext, 'deadline' | 'config'>,
  pool: PoolConfig,
  job: JobRecord,
  options: { readonly hotRefill?: boolean } = {},
): Promise<WorkflowJobOutcome> {
  // A refill of the hot tier is for the tier, not this job: it takes no quota (the job a hot runner
  // takes is charged at its `in_progress`). The job's own runner takes its units first, or waits.
  let gate: QuotaGate = { kind: 'open', holds: [], dayKeys: [] };
  if (!options.hotRefill && hasQuotas(pool)) {
    gate = await takeQuotas(deps, pool, job);
    if (gate.kind === 'waiting') {
      await recordQuotaWait(deps, pool, job, gate.wait);
      return { kind: 'pending', jobId: job.id, pool: pool.name, reason: `quota: ${gate.wait.quota}` };
    }
  }
  const size = sizeOfJob(pool, job.labels);
  const outcome: ProvisionOutcome = options.hotRefill
    ? await provisionHotRunner(deps, {
        pool,
        job,
        deadline: context.deadline,
        token: `${job.id}-${job.reprovisions}-hot`,
        repository: job.repository,
      })
    : await provisionRunner(deps, {
        pool,
        job,
        deadline: context.deadline,
        quotaHolds: gate.holds,
        ...(size !== undefined && { size }),
      });
  if (options.hotRefill) {
    outcome.attempts.unshift({ step: 'hot', at: deps.clock.now(), outcome: 'ok' });
    if (outcome.kind === 'provisioned') deps.metrics.count('HotRefills', 1, { Pool: pool.name });
  }
  if (outcome.kind === 'provisioned') {
    const recorded = await recordProvisioned(deps, job, {
      attempts: outcome.attempts,
      patch: {
        source: outcome.source,
        provisionedInstance: outcome.instanceId,
        updatedAt: deps.clock.now(),
        phases: { claimedAt: outcome.claimedAt, startIssuedAt: outcome.startIssuedAt },
        ...(gate.kind === 'open' && gate.day !== undefined && { quotaDay: gate.day }),
      },
      ...(job.quotaWait !== undefined && { clear: ['quotaWait'] as const }),
    });
    const waitedOn = waitKeyOf(job);
    if (waitedOn !== undefined && job.quotaWait !== undefined) {
      await deps.store.stopWaitingOnQuota(pool.name, waitedOn, job.id);
      deps.metrics.duration('QuotaWait', deps.clock.now() - job.quotaWait.since, { Pool: pool.name });
    }
    // Cancelled while its runner was being provided: the `completed` found no instance to give back,
    // so the runner is released now rather than after the reconciler's settle time.
    if (recorded?.state === 'completed' && recorded.runnerName === undefined)
      await releaseUnusedRunner(deps, outcome.instanceId, `job ${job.id} completed before pickup`);
    await deps.events.publish([
      {
        type: 'JobProvisioned',
        jobId: job.id,
        pool: pool.name,
        instanceId: outcome.instanceId,
        source: outcome.source,
      },
      ...outcome.attempts
        .filter((a) => a.outcome !== 'ok' && a.outcome !== 'empty')
        .map((a) => ({
          type: 'FallbackTaken' as const,
          jobId: job.id,
          pool: pool.name,
          step: a.step,
          reason: a.outcome,
        })),
    ]);
    return {
      kind: 'provisioned',
      jobId: job.id,
      pool: pool.name,
      instanceId: outcome.instanceId,
      source: outcome.source,
    };
  }
  // No runner got the units: they go back at once.
  if (gate.kind === 'open') await giveBack(deps, pool.name, [...gate.holds, ...gate.dayKeys]);
  await deps.store.updateJob({
    id: job.id,
    expectedVersion: job.version,
    attempts: outcome.attempts,
    patch: { updatedAt: deps.clock.now() },
  });
  deps.metrics.count('JobsPending', 1, { Pool: pool.name });
  await deps.events.publish([{ type: 'JobPending', jobId: job.id, pool: pool.name, reason: outcome.reason }]);
  return { kind: 'pending', jobId: job.id, pool: pool.name, reason: outcome.reason };
}

/**
 * Records the runner provided for a job. A fast runner can take the job (`in_progress`, even
 * `completed`) before this write: then the job keeps its later state and gains the provisioning
 * facts, on a fresh read, so that its latency phases stay whole.
 */
async function recordProvisioned(
  deps: CoreDeps,
  job: JobRecord,
  update: Pick<JobUpdate, 'attempts' | 'patch' | 'clear'>,
): Promise<JobRecord | undefined> {
  let current: JobRecord | undefined = job;
  for (let attempt = 0; attempt < 3 && current !== undefined; attempt++) {
    const written = await deps.store.updateJob({
      id: current.id,
      expectedVersion: current.version,
      ...(current.state === 'queued' && { to: 'provisioned' as const }),
      ...update,
    });
    if (written.kind === 'ok') return written.record;
    if (written.kind !== 'conflict') return current;
    current = await deps.store.getJob(job.id);
  }
  return current;
}

/**
 * A runner of ours took the job: its instance is busy with it (or, when the agent's tag said so
 * first, learns which job). When the runner had been provided for another job A, A has lost its
 * runner: it gets one at once rather than at the reconciler's next look (see `replaceTakenRunner`).
 */
async function markInstanceBusy(
  deps: CoreDeps,
  context: Pick<WorkflowJobContext, 'deadline' | 'config'>,
  pool: PoolConfig,
  job: JobRecord,
  pairing: { readonly jobHalf: boolean },
): Promise<void> {
  const instance = job.instanceId === undefined ? undefined : await deps.store.getInstance(job.instanceId);
  recordPickup(deps, pool, job, instance);
  if (instance === undefined) return;
  if (!isUntaken(instance) && !(instance.state === 'busy' && instance.servingJob === undefined)) {
    if (servedByHotTier(deps, pool, job))
      await pairPickup(deps, context, pool, job, instance, { took: false, jobHalf: pairing.jobHalf });
    return;
  }
  // The runner is busy with this job from now on. The agent's tag may move it to busy between our read
  // and our write: then write again on a fresh read, so that it still learns which job it runs.
  let current: InstanceRecord | undefined = instance;
  let took = false;
  let busy: InstanceRecord | undefined;
  for (let attempt = 0; attempt < 3 && current !== undefined; attempt++) {
    const untaken = isUntaken(current);
    if (!untaken && !(current.state === 'busy' && current.servingJob === undefined)) break;
    const marked = await deps.store.transitionInstance({
      id: current.id,
      from: current.state,
      expectedVersion: current.version,
      to: 'busy',
      patch: { servingJob: job.id, ...(untaken && { stateChangedAt: deps.clock.now() }) },
    });
    if (marked.kind !== 'conflict') {
      took = marked.kind === 'ok' && untaken;
      if (marked.kind === 'ok') busy = marked.record;
      break;
    }
    current = await deps.store.getInstance(instance.id);
  }
  const tier = tierOf(instance, job.phases.createdAt);
  if (tier !== undefined) {
    deps.metrics.count('Pickups', 1, { Pool: pool.name, Tier: tier });
    await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      patch: { pickupTier: tier },
    });
  }
  // The runner's instance now holds the units of the job it runs (a hot hit is counted here).
  if (busy !== undefined) await chargeRunningJob(deps, pool, busy, job.id);
  // Only the write that took the runner accounts for it: a repeated `in_progress` finds it busy.
  // Only a job of the hot organization pairs its halves; another owner's job and runner are matched
  // one to one by the ladder, as in a pool without a hot tier.
  const runnerPool = context.config.pools.find((p) => p.name === instance.pool);
  const hotJob = servedByHotTier(deps, pool, job);
  const hotRunner = runnerPool !== undefined && hotTierRunner(deps, runnerPool, instance);
  if (hotJob || hotRunner)
    await pairPickup(deps, context, pool, job, instance, {
      took: took && hotRunner,
      jobHalf: pairing.jobHalf && hotJob,
    });
  // A runner provided for another job, outside the tier's pairing: that job gets one now.
  if (runnerPool === undefined || hotRunner) return;
  if (took && instance.provisionedFor !== undefined && instance.provisionedFor !== job.id)
    await replaceTakenRunner(deps, context, runnerPool, instance.provisionedFor, job);
}

/**
 * The hot tier's side of a pickup: this `in_progress` carries the runner's half of a start when its
 * write took the runner, and the job's half when no `queued` recorded the job before it. Both halves at
 * once (the webhook for `queued` came late or never) make one start, with no pairing; one half alone
 * pairs with the other event (see `pairStart`), and starts only when it comes first.
 */
async function pairPickup(
  deps: CoreDeps,
  context: Pick<WorkflowJobContext, 'deadline' | 'config'>,
  pool: PoolConfig,
  job: JobRecord,
  instance: InstanceRecord,
  halves: { readonly took: boolean; readonly jobHalf: boolean },
): Promise<void> {
  const runnerPool = context.config.pools.find((p) => p.name === instance.pool);
  const refill = (target: PoolConfig, token: string) =>
    refillForPair(deps, target, instance, { deadline: context.deadline, token, job });
  if (halves.took && halves.jobHalf && runnerPool?.name === pool.name) {
    await refill(pool, `hot-after-${instance.id}`);
    return;
  }
  if (halves.took && runnerPool !== undefined)
    if ((await pairStart(deps, runnerPool.name, 'runner')) === 'first')
      await refill(runnerPool, `hot-after-${instance.id}`);
  if (halves.jobHalf)
    if ((await pairStart(deps, pool.name, 'job')) === 'first') await refill(pool, `hot-for-${job.id}`);
}

/**
 * The runner provided for job A was taken by job B. When B had its own runner still untaken, GitHub
 * hands A that one and nothing is needed; otherwise (B's `queued` was late, lost, or found no capacity)
 * A is provided a new runner now.
 */
async function replaceTakenRunner(
  deps: CoreDeps,
  context: Pick<WorkflowJobContext, 'deadline' | 'config'>,
  pool: PoolConfig,
  lostJobId: number,
  taker: JobRecord,
): Promise<void> {
  if (taker.provisionedInstance !== undefined) {
    const own = await deps.store.getInstance(taker.provisionedInstance);
    if (own !== undefined && isUntaken(own)) return;
  }
  const lost = await deps.store.getJob(lostJobId);
  if (lost === undefined || (lost.state !== 'queued' && lost.state !== 'provisioned')) return;
  const requeued = await deps.store.updateJob({
    id: lost.id,
    expectedVersion: lost.version,
    to: 'queued',
    patch: { reprovisions: lost.reprovisions + 1, updatedAt: deps.clock.now() },
  });
  if (requeued.kind !== 'ok') return;
  deps.metrics.count('RunnersReplacedAfterSwap', 1, { Pool: pool.name });
  await deps.events.publish([
    { type: 'JobReprovisioned', jobId: lost.id, pool: pool.name, reason: `its runner took job ${taker.id}` },
  ]);
  await provisionForJob(deps, context, pool, requeued.record);
}

/**
 * Pickup latency, queued (GitHub's created_at) to in progress, by the source of the runner that took
 * the job — which may have been provided for another job — and the phases of the job's own runner.
 */
function recordPickup(
  deps: CoreDeps,
  pool: PoolConfig,
  job: JobRecord,
  ranOn: InstanceRecord | undefined,
): void {
  const { createdAt, receivedAt, claimedAt, startIssuedAt, instanceRunningAt, inProgressAt } = job.phases;
  if (inProgressAt === undefined) return;
  const source =
    ranOn === undefined
      ? job.source
      : ranOn.idleAt !== undefined
        ? 'hot'
        : ranOn.role === 'pool'
          ? 'pool'
          : ranOn.market;
  if (createdAt !== undefined && source !== undefined)
    deps.metrics.duration('PickupLatency', Math.max(0, inProgressAt - createdAt), {
      Pool: pool.name,
      Source: source,
    });
  const phases: [string, number | undefined, number | undefined][] = [
    ['webhook', createdAt, receivedAt],
    ['claim', receivedAt, claimedAt],
    ['start', claimedAt, startIssuedAt],
    ['boot', startIssuedAt, instanceRunningAt],
    ['pickup', instanceRunningAt, inProgressAt],
  ];
  for (const [phase, from, to] of phases)
    if (from !== undefined && to !== undefined)
      deps.metrics.duration('PhaseLatency', Math.max(0, to - from), { Phase: phase });
}

/**
 * A finished job: the instance its runner ran on is recycled; a job that finished without a runner
 * (cancelled while queued) gives its unused runner back.
 */
async function finishJob(
  deps: CoreDeps,
  context: WorkflowJobContext,
  pool: PoolConfig,
  job: JobRecord,
  event: WorkflowJobEvent,
): Promise<void> {
  const ranOn = instanceOfRunner(deps.runners, event.runnerName);
  if (ranOn !== undefined) {
    const instance = await deps.store.getInstance(ranOn);
    if (instance !== undefined) {
      if (instance.interruptedAt !== undefined && event.conclusion !== 'success')
        await rerunAfterInterruption(deps, pool, job);
      await recycleInstance(deps, context.config, instance, 'job completed', job.id);
      // Its units are back: a job of its repository or organization waiting on a quota goes now.
      if (instance.quotaHolds?.length)
        await serveWaitingJobs(deps, context.config, pool, { deadline: context.deadline, limit: 1 });
    }
    return;
  }
  if (event.runnerName === undefined && job.provisionedInstance !== undefined)
    await releaseUnusedRunner(
      deps,
      job.provisionedInstance,
      `job ${job.id} ${event.conclusion ?? 'completed'} before pickup`,
    );
}

/**
 * A job whose spot instance was reclaimed is re-run once per run, and its re-run (the same job name in
 * the same run) goes to on-demand capacity. GitHub refuses a job re-run while other jobs of its run are
 * still going (403): the re-run is then kept pending and asked for again when a job of the run completes.
 */
async function rerunAfterInterruption(deps: CoreDeps, pool: PoolConfig, job: JobRecord): Promise<void> {
  if (!pool.fallback.rerunInterrupted) return;
  const marker = rerunMarker(job.runId);
  if ((await deps.store.getMarker(marker)) !== undefined) return; // once per run
  await deps.store.putMarker(marker, `pending:${job.id}`);
  await requestRerun(deps, job, pool.name);
}

async function retryPendingRerun(deps: CoreDeps, event: WorkflowJobEvent): Promise<void> {
  const state = await deps.store.getMarker(rerunMarker(event.runId));
  const pending = state?.startsWith('pending:') ? Number(state.slice('pending:'.length)) : undefined;
  if (pending === undefined) return;
  const job = await deps.store.getJob(pending);
  if (job === undefined) return;
  await requestRerun(deps, job, job.pool ?? 'unknown');
}

async function requestRerun(deps: CoreDeps, job: JobRecord, pool: string): Promise<void> {
  // Marked before asking: a re-run GitHub accepted but whose answer was lost still avoids spot.
  if (job.name !== undefined) await deps.store.putMarker(onDemandMarker(job.runId, job.name), String(job.id));
  try {
    await deps.github.rerunJob(job.repository, job.id);
  } catch (error) {
    // 403: other jobs of the run are still going. Either way the re-run stays pending for the next
    // completion in the run, and the instance is recycled all the same.
    const refused = error instanceof GitHubError && error.status === 403;
    deps.metrics.count(refused ? 'InterruptedJobsRerunRefused' : 'InterruptedJobsRerunFailed', 1, {
      Pool: pool,
    });
    return;
  }
  await deps.store.putMarker(rerunMarker(job.runId), `requested:${job.id}`);
  deps.metrics.count('InterruptedJobsRerun', 1, { Pool: pool });
}
