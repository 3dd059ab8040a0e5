/**
 * The reconciler: gathers one snapshot, plans with planReconcile and carries the actions out, each on
 * its own so that one failure does not stop the rest. Then it asks GitHub for webhook deliveries that
 * failed and redelivers them (GitHub never retries a failed delivery by itself), and refills hot tiers
 * that are short.
 *
 * Job checks (a GET of the job, then maybe a JIT mint) run in parallel, a few at a time, within a
 * GitHub request budget per hour kept in the marker `reconciler#github-budget`, so that after a burst
 * with lost webhooks every stuck job is looked at in the next run or two rather than twenty a run, while
 * the webhook path keeps most of the App's rate limit. Oldest jobs first.
 */

import type { HookDelivery, RegisteredRunner, RunnerScope } from '../ports/github-runners.js';
import { bookInstanceUsage } from './cost-usage.js';
import { type CoreDeps, ownerRunners } from './deps.js';
import { hasHotTier, readHotTarget, refillHotTier } from './hot-tier.js';
import type { PoolsConfig } from './pool-config.js';
import { handOverFailed, release, retire } from './provision.js';
import { serveWaitingJobs } from './quota-waiters.js';
import { hasQuotas, planQuotaRepairs, releaseHolds } from './quotas.js';
import { maxReprovisions, planReconcile, type ReconcileAction } from './reconcile-plan.js';
import { recycleInstance, releaseUnusedRunner } from './recycle.js';
import type { JobRecord } from './types.js';
import { provisionForJob } from './workflow-job.js';

export interface ReconcileReport {
  readonly actions: readonly {
    kind: ReconcileAction['kind'] | 'hot-refill' | 'repair-quota' | 'serve-waiting';
    target: string;
    reason: string;
    done: boolean;
  }[];
  readonly redelivered: number;
  readonly failures: readonly string[];
}

export interface ReconcileOptions {
  /** Epoch ms after which no new provisioning starts (the schedule's own timeout). */
  readonly deadline: number;
  /**
   * How far back the first run looks for failed deliveries, before any cursor is saved: about as far as
   * the deploy (15 min by default), not the three days GitHub keeps, which after a first deploy are
   * full of deliveries to a URL that did not exist yet.
   */
  readonly deliveryLookbackMs?: number;
  /** At most this many GitHub job look-ups this run, whatever the hourly budget leaves. */
  readonly maxJobChecks?: number;
}

const cursorMarker = 'reconciler#deliveries-cursor';
export const githubBudgetMarker = 'reconciler#github-budget';
/** GitHub requests one job check may cost: the job's GET, then a JIT mint if it needs a runner. */
export const requestsPerJobCheck = 2;

export async function reconcile(
  deps: CoreDeps,
  config: PoolsConfig,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const hotPools = config.pools.filter((p) => hasHotTier(deps, p));
  const hotTargets = Object.fromEntries(
    await Promise.all(hotPools.map(async (p) => [p.name, await readHotTarget(deps, p)] as const)),
  );
  const [instances, observed, queued, provisioned, running, pendingJit] = await Promise.all([
    deps.store.listLiveInstances(),
    deps.compute.listInstances(),
    deps.store.listJobs('queued'),
    deps.store.listJobs('provisioned'),
    deps.store.listJobs('running'),
    deps.jit.listPending(),
  ]);
  const { registered, failures: listingFailures } = await registeredRunners(deps, [
    ...queued,
    ...provisioned,
    ...running,
  ]);
  const registeredRunnerList = registered.map((r) => r.runner);
  const actions = planReconcile({
    now: deps.clock.now(),
    config,
    runners: deps.runners,
    instances,
    observed,
    jobs: [...queued, ...provisioned, ...running],
    registeredRunners: registeredRunnerList,
    pendingJit,
    hotTargets,
  });

  // Jobs still waiting for a runner past the pending delay, per pool: the stuck-jobs alarm reads this.
  const pendingMs = config.settings.pendingJobSeconds * 1000;
  for (const pool of config.pools) {
    const stuck = queued.filter(
      (j) => j.pool === pool.name && j.quotaWait === undefined && deps.clock.now() - j.updatedAt > pendingMs,
    ).length;
    deps.metrics.gauge('StuckJobs', stuck, { Pool: pool.name });
    if (hasQuotas(pool))
      deps.metrics.gauge(
        'JobsWaitingOnQuota',
        queued.filter((j) => j.pool === pool.name && j.quotaWait).length,
        {
          Pool: pool.name,
        },
      );
  }

  const report: {
    kind: ReconcileReport['actions'][number]['kind'];
    target: string;
    reason: string;
    done: boolean;
  }[] = [];
  const failures: string[] = [...listingFailures];
  const carryOut = async (action: ReconcileAction) => {
    try {
      const done = await apply(deps, config, action, options, registered);
      report.push({ kind: action.kind, target: targetOf(action), reason: action.reason, done });
      if (done) countRepair(deps, action);
    } catch (error) {
      failures.push(`${action.kind} ${targetOf(action)}: ${(error as Error).message}`);
    }
  };
  const isCheck = (a: ReconcileAction) => a.kind === 'check-job' || a.kind === 'reprovision';
  const checks = actions.filter(isCheck);
  for (const action of actions) if (!isCheck(action)) await carryOut(action);

  // Job checks: oldest first, in parallel, within what the hour's GitHub budget leaves.
  const budget = await readGitHubBudget(deps);
  const affordable = Math.floor(
    Math.max(0, config.settings.reconcileGitHubRequestsPerHour - budget.used) / requestsPerJobCheck,
  );
  const allowed = checks
    .sort((a, b) => ('job' in a && 'job' in b ? a.job.updatedAt - b.job.updatedAt : 0))
    .slice(0, Math.min(affordable, options.maxJobChecks ?? Number.POSITIVE_INFINITY));
  if (allowed.length < checks.length) deps.metrics.count('JobChecksDeferred', checks.length - allowed.length);
  const concurrency = config.settings.reconcileConcurrency;
  for (let i = 0; i < allowed.length && deps.clock.now() < options.deadline; i += concurrency)
    await Promise.all(allowed.slice(i, i + concurrency).map(carryOut));
  if (allowed.length > 0) await spendGitHubBudget(deps, budget, allowed.length * requestsPerJobCheck);

  // Quota counters that drifted from the instances holding them (a handler died between two writes)
  // are set right; then jobs waiting on a quota with a unit free are served.
  for (const pool of config.pools.filter(hasQuotas))
    try {
      const counters = await deps.store.listQuotas(pool.name);
      for (const repair of planQuotaRepairs(deps.clock.now(), pool.name, instances, counters)) {
        const done =
          (await deps.store.repairQuota(
            pool.name,
            repair.key,
            repair.seen,
            repair.count,
            deps.clock.now(),
          )) === 'ok';
        report.push({
          kind: 'repair-quota',
          target: `${pool.name} ${repair.key}`,
          reason: `counted ${repair.seen?.count ?? 0}, instances hold ${repair.count}`,
          done,
        });
        if (done) deps.metrics.count('QuotaCountersRepaired', 1, { Pool: pool.name });
      }
      const served = await serveWaitingJobs(deps, config, pool, {
        deadline: options.deadline,
        limit: config.settings.launchBatchSize,
      });
      if (served > 0)
        report.push({ kind: 'serve-waiting', target: pool.name, reason: 'quota free', done: true });
    } catch (error) {
      failures.push(`quotas ${pool.name}: ${(error as Error).message}`);
    }

  // Hot tiers short of their target (a refill that found no capacity, a runner lost): start the rest.
  for (const pool of hotPools)
    try {
      const refill = await refillHotTier(deps, pool, {
        deadline: options.deadline,
        limit: config.settings.launchBatchSize,
        token: `hot-reconcile-${pool.name}-${Math.floor(deps.clock.now() / 30_000)}`,
      });
      if (refill.kind === 'refilled')
        for (const s of refill.started)
          report.push({ kind: 'hot-refill', target: s.instanceId, reason: 'hot tier short', done: true });
    } catch (error) {
      failures.push(`hot refill ${pool.name}: ${(error as Error).message}`);
    }

  let redelivered = 0;
  try {
    redelivered = await redeliverFailed(deps, {
      deadline: options.deadline,
      firstLookbackMs: options.deliveryLookbackMs ?? firstDeliveryLookbackMs,
    });
  } catch (error) {
    failures.push(`redelivery: ${(error as Error).message}`);
  }
  return { actions: report, redelivered, failures };
}

interface ScopedRunner {
  readonly runner: RegisteredRunner;
  readonly scope: RunnerScope;
}

/** Repositories whose runners one run lists, in repository scope (one GitHub call each). */
export const maxRepositoriesListed = 20;

/**
 * Our runners registered with GitHub, each with where it is registered. Each organization served in
 * organization scope is one listing, under its own name prefix; in repository scope each repository
 * has its own list, so the repositories of the jobs still in play are listed (the ones an orphan runner
 * can belong to while its job waits). A listing that fails (an App removed from an organization, a
 * repository renamed) hides only its own runners and is reported; absence never leads to an action.
 */
async function registeredRunners(
  deps: CoreDeps,
  jobs: readonly JobRecord[],
): Promise<{ registered: ScopedRunner[]; failures: string[] }> {
  const listings: { scope: RunnerScope; prefix: string; where: string }[] = [];
  for (const owner of deps.runners.owners)
    if (owner.scope === 'org')
      listings.push({
        scope: { kind: 'org', org: owner.owner },
        prefix: `${owner.namePrefix}-`,
        where: `organization ${owner.owner}`,
      });
  const repositories = new Map<string, { scope: RunnerScope; prefix: string; where: string }>();
  for (const job of jobs) {
    const owner = ownerRunners(deps.runners, job.repository.owner);
    const key = `${job.repository.owner}/${job.repository.name}`.toLowerCase();
    if (owner?.scope === 'repo' && !repositories.has(key))
      repositories.set(key, {
        scope: { kind: 'repo', repository: job.repository },
        prefix: `${owner.namePrefix}-`,
        where: `repository ${key}`,
      });
  }
  listings.push(...[...repositories.values()].slice(0, maxRepositoriesListed));
  const listed = await Promise.allSettled(
    listings.map(async ({ scope, prefix }) =>
      (await deps.github.listRunners(scope, prefix)).map((runner) => ({ runner, scope })),
    ),
  );
  const failures = listed.flatMap((r, i) =>
    r.status === 'rejected'
      ? [`list runners of ${listings[i]?.where}: ${(r.reason as Error | undefined)?.message ?? r.reason}`]
      : [],
  );
  return { registered: listed.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])), failures };
}

function targetOf(action: ReconcileAction): string {
  if ('instance' in action) return action.instance.id;
  if ('instanceId' in action) return action.instanceId;
  if ('runner' in action) return action.runner.name;
  return `job ${action.job.id}`;
}

function countRepair(deps: CoreDeps, action: ReconcileAction): void {
  if (action.kind === 'terminate-orphan') deps.metrics.count('OrphansReaped', 1, { Kind: 'instance' });
  else if (action.kind === 'delete-runner') deps.metrics.count('OrphansReaped', 1, { Kind: 'runner' });
  else if (action.kind === 'remove-jit') deps.metrics.count('OrphansReaped', 1, { Kind: 'jit-config' });
  else if (action.kind === 'reprovision' || action.kind === 'check-job')
    deps.metrics.count('JobsReprovisioned', 1);
  else deps.metrics.count('InstancesRepaired', 1, { Action: action.kind });
}

async function apply(
  deps: CoreDeps,
  config: PoolsConfig,
  action: ReconcileAction,
  options: ReconcileOptions,
  registered: readonly ScopedRunner[],
): Promise<boolean> {
  switch (action.kind) {
    case 'mark-terminated': {
      const r = await deps.store.transitionInstance({
        id: action.instance.id,
        from: action.instance.state,
        expectedVersion: action.instance.version,
        to: 'terminated',
        patch: { reason: action.reason, stateChangedAt: deps.clock.now() },
      });
      if (r.kind === 'ok') await releaseHolds(deps, action.instance);
      // Gone from EC2 unseen: booked until now, as a termination seen from outside (instance-events.ts);
      // one being recycled or retired is booked by that writer.
      const leaving = action.instance.state === 'recycling' || action.instance.state === 'retiring';
      if (r.kind === 'ok' && !leaving) await bookInstanceUsage(deps, action.instance, deps.clock.now());
      return r.kind === 'ok';
    }
    case 'mark-idle': {
      const r = await deps.store.transitionInstance({
        id: action.instance.id,
        from: action.instance.state,
        expectedVersion: action.instance.version,
        to: 'idle',
        patch: { idleAt: deps.clock.now(), stateChangedAt: deps.clock.now() },
      });
      return r.kind === 'ok';
    }
    case 'mark-ready': {
      const r = await deps.store.transitionInstance({
        id: action.instance.id,
        from: action.instance.state,
        expectedVersion: action.instance.version,
        to: 'ready',
        // The warm-up's end is not known more closely than this (its stop event was missed).
        patch: { stateChangedAt: deps.clock.now(), readyAt: deps.clock.now() },
      });
      return r.kind === 'ok';
    }
    case 'retire':
      if (action.instance.state === 'recycling' || action.instance.state === 'retiring') {
        // Finish what a handler started: terminate (idempotent) and record it.
        await deps.compute.terminate([action.instance.id]);
        const r = await deps.store.transitionInstance({
          id: action.instance.id,
          from: action.instance.state,
          expectedVersion: action.instance.version,
          to: 'terminated',
          patch: { stateChangedAt: deps.clock.now() },
        });
        return r.kind === 'ok';
      }
      // A runner was handed over: deregister it first (GitHub refuses while it runs a job). A claim that
      // never recorded its start is retired as it is: releasing it would put a running instance back in
      // the pool as ready.
      if (
        action.instance.state === 'starting' ||
        (action.instance.state === 'claimed' && action.instance.startIssuedAt !== undefined)
      )
        return releaseUnusedRunner(deps, action.instance.id, action.reason);
      return retire(deps, action.instance, action.reason);
    case 'release':
      if (
        action.instance.state === 'claimed' &&
        (action.instance.startIssuedAt === undefined || handOverFailed(action.instance))
      ) {
        await release(deps, action.instance, {});
        return true;
      }
      return releaseUnusedRunner(deps, action.instance.id, action.reason);
    case 'recycle':
      return (await recycleInstance(deps, config, action.instance, action.reason)).kind === 'recycled';
    case 'terminate-orphan':
      await deps.compute.terminate([action.instanceId]);
      await deps.events.publish([
        { type: 'OrphanReaped', kind: 'instance', id: action.instanceId, reason: action.reason },
      ]);
      return true;
    case 'delete-runner': {
      // Where it is registered: the organization, or (repository scope) the repository it was listed in.
      const scope = registered.find((r) => r.runner.id === action.runner.id)?.scope;
      if (scope === undefined) return false;
      await deps.github.deleteRunner(scope, action.runner.id);
      await deps.events.publish([
        { type: 'OrphanReaped', kind: 'runner', id: action.runner.name, reason: action.reason },
      ]);
      return true;
    }
    case 'remove-jit':
      await deps.jit.remove(action.instanceId);
      await deps.events.publish([
        { type: 'OrphanReaped', kind: 'jit-config', id: action.instanceId, reason: action.reason },
      ]);
      return true;
    case 'check-job':
      return checkJob(deps, config, action.job, action.reason, options);
    case 'reprovision':
      return reprovision(deps, config, action.job, action.reason, options);
  }
}

interface GitHubBudget {
  readonly hour: number;
  readonly used: number;
}

async function readGitHubBudget(deps: CoreDeps): Promise<GitHubBudget> {
  const hour = Math.floor(deps.clock.now() / 3_600_000);
  try {
    const stored = JSON.parse(
      (await deps.store.getMarker(githubBudgetMarker)) ?? 'null',
    ) as GitHubBudget | null;
    if (stored !== null && stored.hour === hour && typeof stored.used === 'number') return stored;
  } catch {
    // A marker that does not parse is a fresh hour: the budget errs towards checking jobs.
  }
  return { hour, used: 0 };
}

/** Two runs overlapping may each add their share: the later write wins and the hour looks lighter. */
async function spendGitHubBudget(deps: CoreDeps, budget: GitHubBudget, requests: number): Promise<void> {
  await deps.store.putMarker(
    githubBudgetMarker,
    JSON.stringify({ hour: budget.hour, used: budget.used + requests }),
  );
}

/** Asks GitHub where a job stands before providing it another runner. */
async function checkJob(
  deps: CoreDeps,
  config: PoolsConfig,
  job: JobRecord,
  reason: string,
  options: ReconcileOptions,
): Promise<boolean> {
  const remote = await deps.github.getJob(job.repository, job.id);
  if (remote === undefined || remote.status === 'completed') {
    const r = await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      to: 'completed',
      patch: {
        updatedAt: deps.clock.now(),
        conclusion: remote?.conclusion ?? 'unknown',
        phases: { completedAt: deps.clock.now() },
      },
    });
    return r.kind === 'ok';
  }
  if (remote.status === 'in_progress') {
    const r = await deps.store.updateJob({
      id: job.id,
      expectedVersion: job.version,
      to: 'running',
      patch: {
        updatedAt: deps.clock.now(),
        ...(remote.runnerName !== null && { runnerName: remote.runnerName }),
        phases: { inProgressAt: deps.clock.now() },
      },
    });
    return r.kind === 'ok';
  }
  if (job.state === 'running') return false;
  return reprovision(deps, config, job, reason, options);
}

async function reprovision(
  deps: CoreDeps,
  config: PoolsConfig,
  job: JobRecord,
  reason: string,
  options: ReconcileOptions,
): Promise<boolean> {
  const pool = config.pools.find((p) => p.name === job.pool);
  if (pool === undefined) return false;
  if (job.reprovisions >= maxReprovisions) return abandon(deps, pool.name, job);
  const requeued = await deps.store.updateJob({
    id: job.id,
    expectedVersion: job.version,
    to: 'queued',
    patch: { reprovisions: job.reprovisions + 1, updatedAt: deps.clock.now() },
  });
  if (requeued.kind !== 'ok') return false;
  await deps.events.publish([{ type: 'JobReprovisioned', jobId: job.id, pool: pool.name, reason }]);
  const outcome = await provisionForJob(deps, { config, deadline: options.deadline }, pool, requeued.record);
  return outcome.kind === 'provisioned';
}

/** The job never took any of the runners it was given: stop giving it more, and say so once. */
async function abandon(deps: CoreDeps, pool: string, job: JobRecord): Promise<boolean> {
  const marked = await deps.store.updateJob({
    id: job.id,
    expectedVersion: job.version,
    patch: { reprovisions: job.reprovisions + 1, updatedAt: deps.clock.now() },
  });
  if (marked.kind !== 'ok') return false;
  deps.metrics.count('JobsAbandoned', 1, { Pool: pool });
  await deps.events.publish([
    {
      type: 'JobAbandoned',
      jobId: job.id,
      pool,
      repository: `${job.repository.owner}/${job.repository.name}`,
      reprovisions: job.reprovisions,
    },
  ]);
  return false;
}

/** Deliveries of one event tried this often (the original included) are given up on. */
export const maxDeliveryAttempts = 4;
/** The first run's look back for failed deliveries (no cursor yet): about as far as the deploy. */
export const firstDeliveryLookbackMs = 15 * 60_000;
/** Deliveries younger than this may still be in flight: the cursor always stays this far behind. */
const deliveryMarginMs = 15 * 60_000;

export interface RedeliveryOptions {
  /** Epoch ms after which no redelivery starts; the rest waits for the next run. */
  readonly deadline: number;
  readonly firstLookbackMs: number;
}

/**
 * Redelivers `workflow_job` deliveries that failed and have not succeeded since, each at most
 * `maxDeliveryAttempts` times in all (a redelivery can fail too), oldest first; returns how many it
 * redelivered. It stops at the deadline and saves its cursor after each redelivery, so a run cut short
 * (deadline, timeout, crash) neither loses the deliveries it did not reach nor starts over.
 */
export async function redeliverFailed(deps: CoreDeps, options: RedeliveryOptions): Promise<number> {
  const now = deps.clock.now();
  const stored = await deps.store.getMarker(cursorMarker);
  const cursor = stored === undefined ? now - options.firstLookbackMs : Number(stored);
  const deliveries = (await deps.github.listDeliveries(cursor)).filter((d) => d.event === 'workflow_job');
  const byGuid = new Map<string, HookDelivery[]>();
  for (const d of deliveries) byGuid.set(d.guid, [...(byGuid.get(d.guid) ?? []), d]);
  const firstAt = (attempts: readonly HookDelivery[]) => Math.min(...attempts.map((d) => d.deliveredAt));
  const failed = [...byGuid.entries()]
    .filter(([, attempts]) => !attempts.some((d) => d.statusCode >= 200 && d.statusCode < 300))
    .sort(([, a], [, b]) => firstAt(a) - firstAt(b));
  // Keep a margin behind now: a delivery in flight right now may still fail after this run.
  let next = now - deliveryMarginMs;
  // The first run writes its cursor even unmoved: the next run's look back would otherwise slide past it.
  let saved = stored === undefined ? undefined : cursor;
  const save = async (upTo: number) => {
    const value = Math.max(cursor, upTo);
    if (value === saved) return;
    await deps.store.putMarker(cursorMarker, String(value));
    saved = value;
  };
  let redelivered = 0;
  let deferred = 0;
  for (const [index, [guid, attempts]] of failed.entries()) {
    if (deps.clock.now() >= options.deadline) {
      // Out of time: the cursor stays at the first delivery not looked at.
      deferred = failed.length - index;
      next = Math.min(next, firstAt(attempts));
      break;
    }
    let lastAt = Math.max(...attempts.map((d) => d.deliveredAt));
    if (attempts.length < maxDeliveryAttempts) {
      const latest = attempts.reduce((a, b) => (b.deliveredAt > a.deliveredAt ? b : a));
      await deps.github.redeliver(latest);
      await deps.events.publish([{ type: 'DeliveryRedelivered', deliveryId: latest.id, guid }]);
      redelivered++;
      lastAt = now;
    }
    // While attempts of a failed delivery fall inside the next window, its first one must too, or the
    // next run would count only the recent attempts and try it again without end.
    if (lastAt >= now - deliveryMarginMs) next = Math.min(next, firstAt(attempts));
    const following = failed[index + 1];
    await save(following === undefined ? next : Math.min(next, firstAt(following[1])));
  }
  await save(next);
  if (redelivered > 0) deps.metrics.count('WebhooksRedelivered', redelivered);
  if (deferred > 0) deps.metrics.count('WebhookRedeliveriesDeferred', deferred);
  return redelivered;
}
