/**
 * After a job: the instance that ran it is thrown away (busy → recycling → terminated) and, while its
 * pool is below target, a replacement is launched at once rather than at the next tuner run.
 * A runner provided but never used (its job was cancelled, or another runner took it) is released:
 * an instance still stopped goes back to the pool; one that booted is retired, since a booted
 * instance is no longer pristine.
 *
 * Both the `completed` webhook and the EC2 `stopped` event lead here; whichever comes second finds
 * the instance already recycling or terminated and does nothing.
 */
import { GitHubError, type RunnerScope } from '../ports/github-runners.js';
import { bookInstanceUsage } from './cost-usage.js';
import { type CoreDeps, runnerScope } from './deps.js';
import { poolCapacityStates } from './lifecycle.js';
import type { PoolsConfig } from './pool-config.js';
import { planLaunchSubnets } from './pool-plan.js';
import { release, retire } from './provision.js';
import { releaseHolds } from './quotas.js';
import { poolTarget } from './schedule.js';
import type { InstanceRecord } from './types.js';

export type RecycleOutcome =
  | { kind: 'recycled'; replacementLaunched: boolean }
  | { kind: 'already-gone' }
  | { kind: 'lost-race' };

export async function recycleInstance(
  deps: CoreDeps,
  config: PoolsConfig,
  instance: InstanceRecord,
  reason: string,
  /** The job its runner ran, when the caller knows it and the record may not (a lost `in_progress`). */
  servedJob?: number,
): Promise<RecycleOutcome> {
  if (instance.state === 'recycling' || instance.state === 'retiring' || instance.state === 'terminated')
    return { kind: 'already-gone' };
  if (!['busy', 'starting', 'claimed', 'idle'].includes(instance.state)) return { kind: 'already-gone' };
  const now = deps.clock.now();
  const recycling = await deps.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to: 'recycling',
    patch: { reason, stateChangedAt: now },
  });
  if (recycling.kind !== 'ok') return { kind: 'lost-race' };
  await releaseHolds(deps, instance);
  await deps.compute.terminate([instance.id]);
  await deps.store.transitionInstance({
    id: instance.id,
    from: 'recycling',
    expectedVersion: recycling.record.version,
    to: 'terminated',
    patch: { stateChangedAt: deps.clock.now() },
  });
  // Billing stops with the terminate call: the run ends when the recycle began.
  await bookInstanceUsage(deps, instance, now, servedJob);
  const replacementLaunched =
    instance.role === 'pool' ? await refillPool(deps, config, instance.pool) : false;
  await deps.events.publish([
    { type: 'InstanceRecycled', instanceId: instance.id, pool: instance.pool, replacementLaunched },
  ]);
  return { kind: 'recycled', replacementLaunched };
}

/** Launches one instance for the pool when it is below its target now. */
export async function refillPool(deps: CoreDeps, config: PoolsConfig, poolName: string): Promise<boolean> {
  const pool = config.pools.find((p) => p.name === poolName);
  if (pool === undefined) return false;
  const instances = await deps.store.listPoolInstances(pool.name);
  const capacity = instances.filter((i) => i.role === 'pool' && poolCapacityStates.includes(i.state));
  if (capacity.length >= poolTarget(pool, deps.clock.now())) return false;
  const subnets = planLaunchSubnets(pool, capacity, 1);
  const launched = await launchPoolInstances(
    deps,
    pool.name,
    config,
    subnets,
    `refill-${poolName}-${deps.clock.now()}`,
  );
  return launched > 0;
}

/**
 * Launches warm-pool instances, one per entry of `subnetIds` (a subnet appears once per instance to
 * put there), and records them as launching; returns how many were launched.
 *
 * One launch call per subnet with its count: the port spreads a call over distinct subnets and makes
 * it idempotent per (token, subnet), so a subnet listed twice in one call would get its instance once.
 */
export async function launchPoolInstances(
  deps: CoreDeps,
  poolName: string,
  config: PoolsConfig,
  subnetIds: readonly string[],
  clientToken: string,
): Promise<number> {
  const pool = config.pools.find((p) => p.name === poolName);
  if (pool === undefined || subnetIds.length === 0) return 0;
  const perSubnet = new Map<string, number>();
  for (const subnetId of subnetIds) perSubnet.set(subnetId, (perSubnet.get(subnetId) ?? 0) + 1);
  let launched = 0;
  for (const [subnetId, count] of perSubnet) {
    const outcome = await deps.compute.launchForPool({ pool, count, subnetIds: [subnetId], clientToken });
    if (outcome.kind !== 'launched') {
      deps.metrics.count('CapacityErrors', 1, { Pool: pool.name });
      continue;
    }
    const now = deps.clock.now();
    for (const instance of outcome.instances) {
      await deps.store.putInstance({
        id: instance.id,
        pool: pool.name,
        state: 'launching',
        version: 1,
        role: 'pool',
        market: instance.market,
        instanceType: instance.instanceType,
        subnetId: instance.subnetId,
        availabilityZone: instance.availabilityZone,
        spec: instance.spec,
        launchedAt: instance.launchedAt,
        stateChangedAt: now,
      });
    }
    launched += outcome.instances.length;
  }
  return launched;
}

/**
 * Gives back a runner that no job used. Returns true when the instance was released or retired.
 * The runner is deregistered first: GitHub refuses (422) when it has just taken a job, and then the
 * instance is busy, not unused, and is left alone.
 */
export async function releaseUnusedRunner(
  deps: CoreDeps,
  instanceId: string,
  reason: string,
): Promise<boolean> {
  const instance = await deps.store.getInstance(instanceId);
  if (instance === undefined || instance.servingJob !== undefined) return false;
  if (instance.state === 'claimed' && instance.startIssuedAt === undefined) {
    await release(deps, instance, {});
    await deps.jit.remove(instance.id);
    return true;
  }
  if (instance.state !== 'starting' && instance.state !== 'claimed' && instance.state !== 'idle')
    return false;
  if (instance.runnerId !== undefined) {
    const scope = await registeredScope(deps, instance);
    if (scope !== undefined) {
      try {
        await deps.github.deleteRunner(scope, instance.runnerId);
      } catch (error) {
        if (error instanceof GitHubError && error.status === 422) return false; // it is running a job
        throw error;
      }
    }
  }
  const retired = await retire(deps, instance, reason);
  if (retired) await deps.jit.remove(instance.id);
  return retired;
}

/**
 * Where an instance's runner is registered: from the repository it was registered for (kept on the
 * instance, so it outlives the job record), else, for records from before that was kept, from the job it
 * was provided for. Undefined when neither says (a repository-scope runner whose job is gone): GitHub
 * removes an ephemeral runner that never connects after a day, and the reconciler's listing finds it.
 */
async function registeredScope(deps: CoreDeps, instance: InstanceRecord): Promise<RunnerScope | undefined> {
  if (instance.runnerFor !== undefined) return runnerScope(deps.runners, instance.runnerFor);
  const job =
    instance.provisionedFor === undefined ? undefined : await deps.store.getJob(instance.provisionedFor);
  if (job !== undefined) return runnerScope(deps.runners, job.repository);
  // Only one organization: its runner is registered there whatever the job was.
  const [only] = deps.runners.owners;
  return deps.runners.owners.length === 1 && only?.scope === 'org'
    ? runnerScope(deps.runners, { owner: only.owner, name: '' })
    : undefined;
}
