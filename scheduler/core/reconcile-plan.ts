/**
 * What the reconciler repairs, decided from one snapshot of the store, EC2, GitHub and the pending
 * JIT configs. Pure: the same snapshot always gives the same actions.
 *
 * Webhooks get lost, handlers die between two writes, EC2 events arrive late or never, people
 * terminate instances by hand. Each rule below closes one of those gaps; every action it produces is
 * carried out with a conditional write, so an action made stale by a concurrent handler does nothing.
 *
 * Runners are matched to jobs by count, per pool, not one to one: GitHub hands any matching runner
 * any queued job, so the question is only whether a pool has fewer idle runners than jobs waiting
 * (provide more) or more (release the surplus).
 */
import type { ObservedInstance } from '../ports/compute.js';
import type { RegisteredRunner } from '../ports/github-runners.js';
import type { PendingJitConfig } from '../ports/jit-delivery.js';
import { hotOwner, instanceOfRunner, type RunnerSettings } from './deps.js';
import { agentFailed, startRecordSlackMs } from './instance-events.js';
import { liveInstanceStates, servingStates } from './lifecycle.js';
import type { PoolsConfig } from './pool-config.js';
import { handOverFailed } from './provision.js';
import type { InstanceRecord, JobRecord } from './types.js';

export interface ReconcileSnapshot {
  readonly now: number;
  readonly config: PoolsConfig;
  readonly runners: RunnerSettings;
  /** Live instances in the store. */
  readonly instances: readonly InstanceRecord[];
  /** The project's instances as EC2 reports them. */
  readonly observed: readonly ObservedInstance[];
  /** Jobs queued, provisioned or running. */
  readonly jobs: readonly JobRecord[];
  /** Our runners registered with GitHub (name prefix). */
  readonly registeredRunners: readonly RegisteredRunner[];
  readonly pendingJit: readonly PendingJitConfig[];
  /** Each pool's hot target now (absent: no hot tier); idle runners up to it are not surplus. */
  readonly hotTargets?: Readonly<Record<string, number>>;
}

export type ReconcileAction =
  | { kind: 'mark-terminated'; instance: InstanceRecord; reason: string }
  | { kind: 'mark-ready'; instance: InstanceRecord; reason: string }
  | { kind: 'mark-idle'; instance: InstanceRecord; reason: string }
  | { kind: 'retire'; instance: InstanceRecord; reason: string }
  | { kind: 'release'; instance: InstanceRecord; reason: string }
  | { kind: 'recycle'; instance: InstanceRecord; reason: string }
  | { kind: 'terminate-orphan'; instanceId: string; reason: string }
  | { kind: 'delete-runner'; runner: RegisteredRunner; reason: string }
  | { kind: 'remove-jit'; instanceId: string; reason: string }
  | { kind: 'reprovision'; job: JobRecord; reason: string }
  | { kind: 'check-job'; job: JobRecord; reason: string };

/** A claim whose StartInstances never followed is a handler that died mid-way. */
export const claimStallMs = 120_000;
/** Recycling or retiring longer than this: the handler died between terminate and the last write. */
export const leavingStallMs = 300_000;
/** Idle runners younger than this are not surplus yet: their job's webhook may still be in flight. */
export const idleSettleMs = 60_000;
/**
 * A job is given at most this many runners after its first, when it never took one: GitHub does not
 * route some jobs to our runners at all (a repository outside the runner group), and each runner holds
 * an instance until the claim timeout. Past the cap the job is no longer waiting for us.
 */
export const maxReprovisions = 3;
/** A hot runner still `starting` this long after EC2 reports it running missed its event. */
export const hotIdleMissedMs = 30_000;
/** A running job whose instance is gone is checked with GitHub after this long. */
export const runningCheckMs = 30 * 60_000;

export function planReconcile(snapshot: ReconcileSnapshot): ReconcileAction[] {
  return [
    ...instanceRepairs(snapshot),
    ...orphanInstances(snapshot),
    ...runnerBalance(snapshot),
    ...orphanRunners(snapshot),
    ...staleJitConfigs(snapshot),
    ...runningJobChecks(snapshot),
  ];
}

function instanceRepairs(s: ReconcileSnapshot): ReconcileAction[] {
  const { settings } = s.config;
  const observed = new Map(s.observed.map((o) => [o.id, o]));
  const actions: ReconcileAction[] = [];
  for (const instance of s.instances) {
    const ec2 = observed.get(instance.id);
    const age = s.now - instance.stateChangedAt;
    if (ec2 === undefined || ec2.state === 'terminated' || ec2.state === 'shutting-down') {
      // DescribeInstances is eventually consistent: a brand-new instance may not be listed yet.
      if (ec2 !== undefined || s.now - instance.launchedAt > settings.orphanGraceSeconds * 1000)
        actions.push({
          kind: 'mark-terminated',
          instance,
          reason: ec2 ? `EC2 reports ${ec2.state}` : 'unknown to EC2',
        });
      continue;
    }
    const watchdog = watchdogRetirement(s, instance, ec2);
    if (watchdog !== undefined) {
      actions.push({ kind: 'retire', instance, reason: watchdog });
      continue;
    }
    switch (instance.state) {
      case 'launching':
      case 'warming':
        if (ec2.state === 'stopped' && instance.role === 'pool' && agentFailed(ec2.agentReason))
          actions.push({ kind: 'retire', instance, reason: `warm-up failed: ${ec2.agentReason}` });
        else if (ec2.state === 'stopped' && instance.role === 'pool')
          actions.push({ kind: 'mark-ready', instance, reason: 'warmed up and stopped (event missed)' });
        else if (s.now - instance.launchedAt > settings.warmupTimeoutSeconds * 1000)
          actions.push({ kind: 'retire', instance, reason: 'warm-up timed out' });
        break;
      case 'claimed':
        if (handOverFailed(instance)) {
          // Started without a runner config: it powers off untouched and goes back to the pool.
          if (ec2.state === 'stopped' && age > idleSettleMs)
            actions.push({ kind: 'release', instance, reason: 'powered off untouched (event missed)' });
          else if (ec2.state !== 'stopped' && age > settings.claimTimeoutSeconds * 1000)
            actions.push({ kind: 'retire', instance, reason: 'did not power off without a runner config' });
        } else if (instance.startIssuedAt !== undefined) {
          // Started, its hand-over never recorded either way: the handler died in between.
          if (age > settings.claimTimeoutSeconds * 1000)
            actions.push({ kind: 'retire', instance, reason: 'runner hand-over never recorded' });
        }
        // The handler writes the claim, then calls StartInstances, then records the start: one that died
        // in between leaves a claim with no start recorded whose instance may have booted (and powered
        // off again). EC2 resets LaunchTime on every start, so only an instance whose LaunchTime is from
        // before the claim is certainly untouched and may go back to the pool; any other is retired.
        else if (age > claimStallMs)
          actions.push(
            ec2.state === 'stopped' && neverStartedSince(ec2, instance.stateChangedAt)
              ? { kind: 'release', instance, reason: 'claim never started' }
              : {
                  kind: 'retire',
                  instance,
                  reason:
                    ec2.state === 'stopped'
                      ? 'claim stalled after its start (not pristine)'
                      : 'claim stalled while running',
                },
          );
        break;
      case 'starting':
      case 'idle':
      case 'busy':
        if (
          instance.state === 'starting' &&
          instance.tier === 'hot' &&
          ec2.state === 'running' &&
          instance.servingJob === undefined &&
          instance.jobStartedAt === undefined &&
          age > hotIdleMissedMs
        ) {
          actions.push({ kind: 'mark-idle', instance, reason: 'hot runner running (event missed)' });
          break;
        }
        if (ec2.state === 'stopped') {
          // EC2 and the store are read concurrently: an instance started between the two reads looks
          // stopped for a moment; recycling it would kill the runner its job is waiting for.
          if (age > idleSettleMs)
            actions.push({ kind: 'recycle', instance, reason: 'powered off (event missed)' });
        } else if (instance.state === 'starting' && age > settings.claimTimeoutSeconds * 1000)
          actions.push({ kind: 'retire', instance, reason: 'runner took no job before the claim timeout' });
        break;
      case 'recycling':
      case 'retiring':
        if (age > leavingStallMs)
          actions.push({ kind: 'retire', instance, reason: `stalled while ${instance.state}` });
        break;
      default:
        break;
    }
  }
  return actions;
}

/**
 * The watchdogs, independent of webhooks: an instance started for a job must be seen starting one (its
 * `in_progress` recorded, or the job-started signal the instance sets itself, recorded or still only a
 * tag) within `noJobTimeoutSeconds`
 * of its start, and no instance runs past `maxLifetimeSeconds` after its start. Either way it is
 * retired (its runner deregistered when it has taken nothing, then terminated).
 */
function watchdogRetirement(
  s: ReconcileSnapshot,
  instance: InstanceRecord,
  ec2: ObservedInstance,
): string | undefined {
  if (!servingStates.includes(instance.state)) return undefined;
  const startedAt =
    instance.startIssuedAt ?? (instance.role === 'ephemeral' ? instance.launchedAt : undefined);
  if (startedAt === undefined) return undefined;
  const { noJobTimeoutSeconds, maxLifetimeSeconds } = s.config.settings;
  const running = s.now - startedAt;
  if (running > maxLifetimeSeconds * 1000) return `ran past the maximum lifetime (${maxLifetimeSeconds} s)`;
  const jobStarted =
    instance.servingJob !== undefined || instance.jobStartedAt !== undefined || ec2.jobStarted === true;
  if (!jobStarted && running > noJobTimeoutSeconds * 1000)
    return `no job started within ${noJobTimeoutSeconds} s of its start`;
  return undefined;
}

/**
 * Whether EC2's LaunchTime (reset by every start) is clearly older than `since`: the instance has not
 * been started since. EventBridge and the Lambda clock agree to well under the slack.
 */
function neverStartedSince(ec2: ObservedInstance, since: number): boolean {
  return ec2.launchedAt < since - startRecordSlackMs;
}

function orphanInstances(s: ReconcileSnapshot): ReconcileAction[] {
  const known = new Set(s.instances.map((i) => i.id));
  const grace = s.config.settings.orphanGraceSeconds * 1000;
  // Only what this deployment launched: the project tag alone can be copied by anyone (a person, an
  // image build, another deployment of the same project); the deployment tag only at our own launches.
  return s.observed
    .filter((o) => o.launchedHere === true)
    .filter((o) => !known.has(o.id) && o.state !== 'terminated' && o.state !== 'shutting-down')
    .filter((o) => s.now - o.launchedAt > grace)
    .map((o) => ({ kind: 'terminate-orphan', instanceId: o.id, reason: 'not in the store' }) as const);
}

/** Per pool: idle runners against jobs still waiting for one. */
function runnerBalance(s: ReconcileSnapshot): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  const alreadyHandled = new Set(instanceRepairs(s).map((a) => ('instance' in a ? a.instance.id : '')));
  // GitHub knows first when a runner takes a job; its `in_progress` webhook may still be on its way.
  const busyOnGitHub = new Set(
    s.registeredRunners.filter((r) => r.busy).map((r) => instanceOfRunner(s.runners, r.name)),
  );
  // Runners registered with one owner take only that owner's jobs: with several owners, each is balanced
  // on its own (one owner: everything is that owner's, records from before owners were kept included).
  const several = s.runners.owners.length > 1;
  const ownerKey = (owner: string | undefined) => (several ? (owner ?? '').toLowerCase() : '');
  for (const pool of s.config.pools) {
    const hotKey = ownerKey(hotOwner(s.runners, pool)?.owner);
    const owners = new Set<string>([
      ...s.instances.filter((i) => i.pool === pool.name).map((i) => ownerKey(i.runnerFor?.owner)),
      ...s.jobs.filter((j) => j.pool === pool.name).map((j) => ownerKey(j.repository.owner)),
    ]);
    for (const owner of owners)
      actions.push(
        ...balanceOwner(s, { pool, owner, hot: owner === hotKey, ownerKey, alreadyHandled, busyOnGitHub }),
      );
  }
  return actions;
}

/** One owner's runners in one pool against that owner's waiting jobs (and the hot target, if its tier's). */
function balanceOwner(
  s: ReconcileSnapshot,
  group: {
    readonly pool: ReconcileSnapshot['config']['pools'][number];
    readonly owner: string;
    /** The pool's hot tier registers with this owner: its idle runners up to the target are kept. */
    readonly hot: boolean;
    readonly ownerKey: (owner: string | undefined) => string;
    readonly alreadyHandled: ReadonlySet<string>;
    readonly busyOnGitHub: ReadonlySet<string | undefined>;
  },
): ReconcileAction[] {
  const { pool, owner, hot, ownerKey, alreadyHandled, busyOnGitHub } = group;
  const actions: ReconcileAction[] = [];
  const pendingMs = s.config.settings.pendingJobSeconds * 1000;
  const idle = s.instances
    .filter((i) => i.pool === pool.name && ownerKey(i.runnerFor?.owner) === owner)
    .filter((i) => i.servingJob === undefined && !alreadyHandled.has(i.id))
    .filter((i) => !busyOnGitHub.has(i.id) && !handOverFailed(i))
    .filter((i) => i.jobStartedAt === undefined)
    .filter(
      (i) =>
        i.state === 'starting' ||
        i.state === 'idle' ||
        (i.state === 'claimed' && i.startIssuedAt !== undefined),
    )
    .sort((a, b) => a.stateChangedAt - b.stateChangedAt);
  const hotTarget = hot ? (s.hotTargets?.[pool.name] ?? 0) : 0;
  const waiting = s.jobs
    .filter((j) => j.pool === pool.name && ownerKey(j.repository.owner) === owner)
    .filter((j) => j.state === 'queued' || j.state === 'provisioned')
    .filter((j) => j.reprovisions <= maxReprovisions)
    // Waiting on a quota: no runner is owed yet; the reconciler's quota pass serves it (quotas.ts).
    .filter((j) => j.quotaWait === undefined)
    .sort((a, b) => a.updatedAt - b.updatedAt || a.id - b.id);
  if (waiting.length > idle.length) {
    // Jobs without a runner of their own first, then those whose runner went elsewhere.
    const unserved = [...waiting].sort(
      (a, b) => Number(a.state === 'provisioned') - Number(b.state === 'provisioned'),
    );
    for (const job of unserved.slice(0, waiting.length - idle.length))
      if (s.now - job.updatedAt > pendingMs)
        actions.push({
          kind: 'check-job',
          job,
          reason: job.state === 'queued' ? 'no runner yet' : 'its runner is gone',
        });
  } else if (idle.length > waiting.length + hotTarget) {
    for (const instance of idle.slice(0, idle.length - waiting.length - hotTarget))
      if (s.now - instance.stateChangedAt > idleSettleMs)
        actions.push({
          kind: 'release',
          instance,
          reason: 'runner not needed: its job was cancelled or taken',
        });
  }
  return actions;
}

function orphanRunners(s: ReconcileSnapshot): ReconcileAction[] {
  const live = new Set(s.instances.filter((i) => liveInstanceStates.includes(i.state)).map((i) => i.id));
  return s.registeredRunners
    .filter((r) => {
      const instanceId = instanceOfRunner(s.runners, r.name);
      return instanceId !== undefined && !live.has(instanceId) && !r.busy;
    })
    .map((runner) => ({ kind: 'delete-runner', runner, reason: 'no live instance' }) as const);
}

function staleJitConfigs(s: ReconcileSnapshot): ReconcileAction[] {
  const waiting = new Set(
    s.instances
      .filter((i) => i.state === 'claimed' || i.state === 'starting' || i.state === 'idle')
      .map((i) => i.id),
  );
  return s.pendingJit
    .filter((p) => !waiting.has(p.instanceId) && s.now - p.createdAt > idleSettleMs)
    .map(
      (p) =>
        ({
          kind: 'remove-jit',
          instanceId: p.instanceId,
          reason: 'its instance is not waiting for it',
        }) as const,
    );
}

/** A job running on an instance that is gone, with no `completed` for a long time: ask GitHub. */
function runningJobChecks(s: ReconcileSnapshot): ReconcileAction[] {
  const live = new Set(s.instances.map((i) => i.id));
  return s.jobs
    .filter((j) => j.state === 'running' && s.now - j.updatedAt > runningCheckMs)
    .filter((j) => j.instanceId === undefined || !live.has(j.instanceId))
    .map((job) => ({ kind: 'check-job', job, reason: 'running on an instance that is gone' }) as const);
}
