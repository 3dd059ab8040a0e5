/**
 * EC2 state changes and spot interruption warnings, as the lifecycle handler receives them.
 *
 *   running  launching → warming (first boot: the agent warms up); starting: the job's boot phase;
 *            a hot-tier runner starting → idle (registered, waiting for any matching job)
 *   stopped  warming/launching → ready (the agent warmed up and powered off: claimable now), unless
 *            the agent tagged a failure reason (`wpr:agent-reason`) before powering off: then the
 *            instance is retired and counted (WarmupFailures), never claimable
 *            claimed/starting/idle/busy → recycled (the agent powers off after its one job, or gave up)
 *   terminated / shutting-down → terminated in the store, whatever the state (spot reclaimed, a
 *            person, the reconciler); a pool instance lost this way is replaced by the tuner
 *
 * Events arrive at least once and out of order; each is a conditional transition from the state the
 * record is in, so a stale or repeated event finds nothing to do. A `stopped` from before the start
 * (the warm-up power-off, delivered again) would otherwise recycle a starting instance: the event time
 * is compared with the start. Unknown instances are left to the
 * reconciler, which compares EC2 with the store.
 *
 * State-change events come for every instance in the region, and most are not ours: an unknown
 * instance costs one store read and nothing else (the pool config is loaded only when a recycle needs
 * it, EC2 is asked for the agent's reason only for a pool instance that stopped while warming).
 */
import { bookInstanceUsage } from './cost-usage.js';
import type { CoreDeps } from './deps.js';
import { hasHotTier, refillHotTier } from './hot-tier.js';
import type { PoolsConfig } from './pool-config.js';
import { handOverFailed, release, retire } from './provision.js';
import { serveWaitingJobs } from './quota-waiters.js';
import { releaseHolds } from './quotas.js';
import { recycleInstance, releaseUnusedRunner } from './recycle.js';
import type { InstanceRecord } from './types.js';

/** Time the lifecycle handler gives to serving a job that waited on a quota the instance freed. */
export const quotaWakeBudgetMs = 8_000;

/** Event time truncation (1 s) plus the longest the webhook takes from start call to record (~9 s). */
export const startRecordSlackMs = 15_000;

export type Ec2State = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

export type InstanceEventOutcome =
  | { kind: 'unknown-instance' }
  | { kind: 'no-change'; state: string }
  | { kind: 'transitioned'; from: string; to: string }
  | { kind: 'recycled'; replacementLaunched: boolean }
  | { kind: 'warm-up-failed'; reason: string; retired: boolean }
  | { kind: 'replaced-early' }
  | { kind: 'marked-interrupted' }
  /** An idle hot runner's spot instance will be reclaimed: it was released and the tier refilled. */
  | { kind: 'hot-runner-replaced'; refilled: boolean };

/**
 * Reasons the agent tags when an instance powers off as it should. The agent tags only failures today
 * (`agent-error`, `runner-failed`, …); any reason not listed here is a failure.
 */
export const agentSuccessReasons: ReadonlySet<string> = new Set(['warmed', 'warm-up-done', 'job-done']);

/** Whether the agent's reason says the boot failed (no reason: it did not). */
export function agentFailed(reason: string | undefined): reason is string {
  return reason !== undefined && !agentSuccessReasons.has(reason);
}

export async function handleInstanceStateChange(
  deps: CoreDeps,
  config: PoolsConfig | (() => Promise<PoolsConfig>),
  change: { instanceId: string; state: Ec2State; at?: number },
): Promise<InstanceEventOutcome> {
  const instance = await deps.store.getInstance(change.instanceId);
  if (instance === undefined) return { kind: 'unknown-instance' };
  const poolsConfig = () => (typeof config === 'function' ? config() : Promise.resolve(config));
  const now = deps.clock.now();
  // An event from before the instance's start (its warm-up boot or stop, delivered again or late)
  // says nothing about the boot that serves a job. EventBridge stamps events to the second, and
  // `startIssuedAt` is written after the start call and the JIT hand-over, so only an event clearly
  // older than that window counts as stale.
  const beforeStart =
    change.at !== undefined &&
    instance.startIssuedAt !== undefined &&
    change.at < instance.startIssuedAt - startRecordSlackMs;

  switch (change.state) {
    case 'running':
      if (instance.state === 'launching') return move(deps, instance, 'warming');
      if (beforeStart) return { kind: 'no-change', state: instance.state };
      if (instance.tier === 'hot' && (instance.state === 'starting' || instance.state === 'claimed'))
        return hotRunnerRunning(deps, instance, change.at ?? now);
      // `claimed`: the start was issued but the handler has not recorded it yet (a fast boot).
      if (instance.state === 'starting' || instance.state === 'busy' || instance.state === 'claimed') {
        await recordRunning(deps, instance, change.at ?? now);
        return { kind: 'no-change', state: instance.state };
      }
      return { kind: 'no-change', state: instance.state };
    case 'stopped':
      if (instance.state === 'warming' || instance.state === 'launching') {
        if (instance.role === 'ephemeral') return { kind: 'no-change', state: instance.state };
        // A warm-up that failed must not join the pool: claimed, it would warm up again (or worse)
        // instead of running the job.
        const reason = await deps.compute.agentReason(instance.id);
        if (agentFailed(reason)) return retireFailedWarmUp(deps, instance, reason);
        return move(deps, instance, 'ready', undefined, change.at);
      }
      if (instance.state === 'claimed' && instance.startIssuedAt === undefined)
        return { kind: 'no-change', state: instance.state }; // claimed, start not yet issued: still stopped
      if (beforeStart) return { kind: 'no-change', state: instance.state };
      if (handOverFailed(instance)) {
        // Started, but no runner config ever reached it: the agent powered off untouched. Still warm.
        await release(deps, instance, {});
        return { kind: 'transitioned', from: instance.state, to: 'ready' };
      }
      if (['starting', 'busy', 'claimed', 'idle'].includes(instance.state)) {
        const loaded = await poolsConfig();
        const outcome = await recycleInstance(deps, loaded, instance, 'powered off after its job');
        // Its quota units are back: a job of its repository or organization waiting on them goes now.
        const pool = loaded.pools.find((p) => p.name === instance.pool);
        if (outcome.kind === 'recycled' && instance.quotaHolds?.length && pool !== undefined)
          await serveWaitingJobs(deps, loaded, pool, { deadline: now + quotaWakeBudgetMs, limit: 1 });
        return outcome.kind === 'recycled'
          ? { kind: 'recycled', replacementLaunched: outcome.replacementLaunched }
          : { kind: 'no-change', state: instance.state };
      }
      return { kind: 'no-change', state: instance.state };
    case 'shutting-down':
    case 'terminated':
      if (instance.state === 'terminated') return { kind: 'no-change', state: instance.state };
      return move(
        deps,
        instance,
        'terminated',
        `terminated outside the control plane while ${instance.state}`,
        change.at,
      );
    default:
      return { kind: 'no-change', state: instance.state };
  }
}

/** Retires a pool instance whose warm-up failed, and counts it per pool (the alarm reads the count). */
export async function retireFailedWarmUp(
  deps: CoreDeps,
  instance: InstanceRecord,
  agentReason: string,
): Promise<InstanceEventOutcome> {
  const retired = await retire(deps, instance, `warm-up failed: ${agentReason}`);
  // Counted by whoever retires it: a repeated event or the reconciler finds it retired already.
  if (retired) deps.metrics.count('WarmupFailures', 1, { Pool: instance.pool });
  return { kind: 'warm-up-failed', reason: agentReason, retired };
}

async function move(
  deps: CoreDeps,
  instance: InstanceRecord,
  to: 'warming' | 'ready' | 'terminated',
  reason?: string,
  /** When EC2 says the change happened (the warm-up's end, for cost). */
  at?: number,
): Promise<InstanceEventOutcome> {
  const now = deps.clock.now();
  const result = await deps.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to,
    patch: {
      stateChangedAt: now,
      ...(reason !== undefined && { reason }),
      ...(to === 'ready' && { readyAt: Math.min(at ?? now, now) }),
    },
  });
  // Terminated from outside (spot reclaimed, a person): booked here. One the control plane was already
  // recycling or retiring is booked by that writer, whichever of the two records `terminated`.
  const leaving = instance.state === 'recycling' || instance.state === 'retiring';
  if (result.kind === 'ok' && to === 'terminated' && !leaving)
    await bookInstanceUsage(deps, instance, at ?? now);
  // Terminated from outside while serving a job: its quota units go back (the reconciler serves waiters).
  if (result.kind === 'ok') await releaseHolds(deps, instance);
  return result.kind === 'ok'
    ? { kind: 'transitioned', from: instance.state, to }
    : { kind: 'no-change', state: instance.state };
}

/**
 * The boot phase of the job this instance was provided for. The webhook handler may be writing the
 * same job at this moment (recording the start), so a lost conditional write is retried on a fresh read.
 */
async function recordRunning(deps: CoreDeps, instance: InstanceRecord, at: number): Promise<void> {
  // A hot refill's boot is not its job's: that job was taken by a runner already online.
  if (instance.provisionedFor === undefined || instance.tier === 'hot') return;
  for (let attempt = 0; attempt < 3; attempt++) {
    const job = await deps.store.getJob(instance.provisionedFor);
    if (job === undefined || job.phases.instanceRunningAt !== undefined) return;
    const written = await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      patch: { phases: { instanceRunningAt: at } },
    });
    if (written.kind === 'ok') return; // the boot phase is measured with the others at pickup
  }
}

/**
 * A hot runner's instance is running: its runner registers within seconds and waits for any matching
 * job. `starting@v → idle@v+1`. Booted before its start was recorded (still `claimed`): noted in place
 * (`idleAt`), and the hand-over, which re-reads on the conflict this causes, moves it on to idle.
 * Racing the hand-over's own write (claimed → starting between our read and our write) is a lost write
 * here, so it is decided again on a fresh read. A runner that took a job meanwhile is busy: left alone.
 */
async function hotRunnerRunning(
  deps: CoreDeps,
  first: InstanceRecord,
  at: number,
): Promise<InstanceEventOutcome> {
  let instance: InstanceRecord | undefined = first;
  for (let attempt = 0; attempt < 3 && instance !== undefined; attempt++) {
    if (instance.servingJob !== undefined || instance.jobStartedAt !== undefined)
      return { kind: 'no-change', state: instance.state };
    if (instance.state === 'starting') {
      const result = await deps.store.transitionInstance({
        id: instance.id,
        from: 'starting',
        expectedVersion: instance.version,
        to: 'idle',
        patch: { idleAt: Math.max(at, instance.startIssuedAt ?? at), stateChangedAt: deps.clock.now() },
      });
      if (result.kind === 'ok') return { kind: 'transitioned', from: 'starting', to: 'idle' };
    } else if (instance.state === 'claimed') {
      if (instance.idleAt !== undefined) return { kind: 'no-change', state: instance.state };
      const result = await deps.store.transitionInstance({
        id: instance.id,
        from: 'claimed',
        expectedVersion: instance.version,
        to: 'claimed',
        patch: { idleAt: at },
      });
      if (result.kind === 'ok') return { kind: 'no-change', state: 'claimed' };
    } else return { kind: 'no-change', state: instance.state };
    instance = await deps.store.getInstance(first.id);
  }
  return { kind: 'no-change', state: instance?.state ?? first.state };
}

/**
 * A spot instance will be reclaimed in two minutes: remember it, so its job can be re-run. An idle
 * hot runner on it has no job to lose: it is released (deregistered first, so GitHub hands it nothing
 * more) and the tier refilled at once.
 */
export async function handleSpotInterruption(
  deps: CoreDeps,
  instanceId: string,
  hot?: { readonly config: PoolsConfig; readonly deadline: number },
): Promise<InstanceEventOutcome> {
  const instance = await deps.store.getInstance(instanceId);
  if (instance === undefined) return { kind: 'unknown-instance' };
  const pool = hot?.config.pools.find((p) => p.name === instance.pool);
  if (hot !== undefined && pool !== undefined && instance.state === 'idle' && hasHotTier(deps, pool)) {
    const released = await releaseUnusedRunner(deps, instance.id, 'spot interruption while idle');
    if (released) {
      const refill = await refillHotTier(deps, pool, {
        deadline: hot.deadline,
        limit: 1,
        token: `hot-after-${instance.id}`,
      });
      return {
        kind: 'hot-runner-replaced',
        refilled: refill.kind === 'refilled' && refill.started.length > 0,
      };
    }
  }
  if (instance.interruptedAt !== undefined || instance.state === 'terminated')
    return { kind: 'no-change', state: instance.state };
  const result = await deps.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to: instance.state,
    patch: { interruptedAt: deps.clock.now() },
  });
  return result.kind === 'ok' ? { kind: 'marked-interrupted' } : { kind: 'no-change', state: instance.state };
}

/**
 * EC2 recommends rebalancing a spot instance: it is at elevated risk of interruption, often well before
 * the two-minute warning. An instance that serves no job yet is given up now, while replacing it costs
 * nothing: a ready one is retired (the tuner refills the pool), one started for a job whose runner has
 * taken nothing is released (its runner deregistered, the instance retired) and the reconciler provides
 * the job a runner elsewhere. An instance running a job is left to finish it.
 */
export async function handleRebalanceRecommendation(
  deps: CoreDeps,
  instanceId: string,
): Promise<InstanceEventOutcome> {
  const instance = await deps.store.getInstance(instanceId);
  if (instance === undefined) return { kind: 'unknown-instance' };
  if (instance.market !== 'spot' || instance.servingJob !== undefined)
    return { kind: 'no-change', state: instance.state };
  const reason = 'spot rebalance recommendation';
  if (instance.state === 'ready' || instance.state === 'warming' || instance.state === 'launching')
    return (await retire(deps, instance, reason))
      ? { kind: 'replaced-early' }
      : { kind: 'no-change', state: instance.state };
  // An idle hot runner is released too; the tier is refilled by the next tuner or reconciler run.
  if (instance.state === 'starting' || instance.state === 'claimed' || instance.state === 'idle')
    return (await releaseUnusedRunner(deps, instance.id, reason))
      ? { kind: 'replaced-early' }
      : { kind: 'no-change', state: instance.state };
  return { kind: 'no-change', state: instance.state };
}
