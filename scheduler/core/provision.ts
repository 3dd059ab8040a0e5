/**
 * Providing a runner for a queued job: the claim and the fallback ladder.
 *
 *   pool: claim a ready (stopped) instance and start it; a capacity refusal releases the claim and
 *         tries another ready instance, preferring zones that have not refused
 *   pool-resized: claim a ready instance whose type/zone refused, change its type while stopped
 *         (same architecture, from the pool's types) and start it
 *   spot: one-time spot across types × subnets (an instant fleet)
 *   on-demand: the same, on-demand
 *   pending: nothing worked, or the time budget ran out; the reconciler provides one later
 *
 * Invariants: an instance is claimed only by a conditional write ready → claimed, so two jobs never
 * get one instance; a lost race is a normal outcome and the next candidate is tried. The JIT config is
 * minted only once an instance has accepted its start (never in advance: GitHub drops registrations
 * that stay offline) and is delivered to that instance alone. Every step is recorded on the job.
 *
 * Gotcha: StartInstances accepted does not mean booted; the agent polls for its config while booting,
 * so minting and delivering overlap the boot and stay off the pickup's critical path.
 */
import type { LaunchedInstance } from '../ports/compute.js';
import {
  GitHubError,
  type JitConfig,
  type RunnerScope,
  UnknownRunnerGroupError,
} from '../ports/github-runners.js';
import { bookInstanceUsage } from './cost-usage.js';
import { type CoreDeps, runnerName, runnerScope } from './deps.js';
import { runnerLabels } from './labels.js';
import type { PoolConfig } from './pool-config.js';
import { releaseHolds } from './quotas.js';
import type {
  HotFillSource,
  InstanceRecord,
  JobRecord,
  LadderAttempt,
  LadderStep,
  Repository,
  RunnerSource,
} from './types.js';

/**
 * Ready instances read per claim query. Each claimer picks among them at random, so the claimers of a
 * burst spread over the whole window instead of all fighting for the oldest few, and tries the ones it
 * read before it reads the (eventually consistent) index again.
 */
export const claimCandidates = 40;
/**
 * Claim attempts per job before the ladder moves on (each lost race or refusal is one). A lost race
 * costs one failed conditional write; in a burst on an index that still lists instances claimed a
 * moment ago, a claimer may have to try every candidate it read before it finds the one still ready,
 * so this matches the window; the webhook's deadline bounds the time all the same.
 */
export const maxClaimAttempts = claimCandidates;
/** How long a zone that refused a start is avoided. */
export const capacityMemoryMs = 5 * 60_000;

export type ProvisionOutcome =
  | {
      kind: 'provisioned';
      instanceId: string;
      source: RunnerSource;
      attempts: LadderAttempt[];
      claimedAt: number;
      startIssuedAt: number;
    }
  | {
      kind: 'pending';
      reason: 'exhausted' | 'out-of-time' | 'github-failed' | 'unserved-owner';
      attempts: LadderAttempt[];
    };

export interface ProvisionRequest {
  readonly pool: PoolConfig;
  readonly job: JobRecord;
  /** Epoch ms after which no new ladder step starts (the webhook must answer well inside 10 s). */
  readonly deadline: number;
  /**
   * Skip spot (a re-run after a spot interruption goes to on-demand). Absent: the run's re-run marker
   * decides, read only when the ladder gets to spot, so a job served from the pool never pays for it.
   */
  readonly avoidSpot?: boolean;
  /** Quota units the job took (see quotas.ts): the instance that gets its runner holds them. */
  readonly quotaHolds?: readonly string[];
  /** The size the job asked for: its runner runs on that type and carries the size label. */
  readonly size?: JobSize;
}

/** A size label of the pool and its instance type (`sizes` in the pool config). */
export interface JobSize {
  readonly label: string;
  readonly instanceType: string;
}

/**
 * A runner for the pool's hot tier: not for one job, but to wait registered and idle for any matching
 * job. Its sources are the pool's `hot.fill` policy, in order; `job` is the queued job whose arrival
 * made the tier short, when there is one (its boot is not that job's boot phase: the job was taken by a
 * runner already online).
 */
export interface HotFillRequest {
  readonly pool: PoolConfig;
  readonly deadline: number;
  /** Idempotency: the same token never launches a second fresh instance (EC2 client token). */
  readonly token: string;
  /** Org-scoped runners serve every repository; repository scope has no hot tier. */
  readonly repository: Repository;
  readonly job?: JobRecord;
}

/** Who a runner is for, as the ladder needs it. */
interface Purpose {
  readonly pool: PoolConfig;
  readonly deadline: number;
  readonly jobId?: number;
  readonly runId?: number;
  /** The job's name in its run: its re-run after a spot interruption goes to on-demand. */
  readonly jobName?: string;
  readonly repository: Repository;
  /** EC2 client token base: a retried call never launches a second instance. */
  readonly token: string;
  readonly tier?: 'hot';
  /** A hot runner's agent idle bound (see `hotIdleBoundSeconds`). */
  readonly maxIdleSeconds?: number;
  readonly sources: readonly HotFillSource[];
  readonly avoidSpot?: boolean;
  readonly quotaHolds?: readonly string[];
  readonly size?: JobSize;
}

const jobLadder: readonly HotFillSource[] = ['pool', 'spot', 'on-demand'];

type Started = { instance: InstanceRecord; source: RunnerSource; claimedAt: number; startIssuedAt: number };

export async function provisionRunner(deps: CoreDeps, request: ProvisionRequest): Promise<ProvisionOutcome> {
  const { job } = request;
  return climbLadder(deps, {
    pool: request.pool,
    deadline: request.deadline,
    jobId: job.id,
    runId: job.runId,
    ...(job.name !== undefined && { jobName: job.name }),
    repository: job.repository,
    // One token per job, provisioning round (and market, added at launch).
    token: `${job.id}-${job.reprovisions}`,
    sources: jobLadder,
    ...(request.avoidSpot !== undefined && { avoidSpot: request.avoidSpot }),
    ...(request.quotaHolds !== undefined && { quotaHolds: request.quotaHolds }),
    ...(request.size !== undefined && { size: request.size }),
  });
}

/** Starts one hot-tier runner from the pool's fill policy (see HotFillRequest). */
export async function provisionHotRunner(deps: CoreDeps, request: HotFillRequest): Promise<ProvisionOutcome> {
  const bound = hotIdleBoundSeconds(request.pool);
  return climbLadder(deps, {
    pool: request.pool,
    deadline: request.deadline,
    ...(request.job !== undefined && { jobId: request.job.id, runId: request.job.runId }),
    repository: request.repository,
    token: request.token,
    tier: 'hot',
    ...(bound !== undefined && { maxIdleSeconds: bound }),
    sources: request.pool.hot?.fill ?? jobLadder,
  });
}

/**
 * The agent's idle bound for a hot runner: the tier's maximum idle age, which the control plane enforces
 * (the tuner replaces an idle runner past it), plus the agent's default bound as a margin, so the control
 * plane's replacement — which deregisters the runner first — always comes before the agent's own stop,
 * as the agent itself does when it falls back to the pool config (ami/README.md, the watchdog contract).
 */
export function hotIdleBoundSeconds(pool: PoolConfig): number | undefined {
  return pool.hot === undefined ? undefined : pool.hot.maxIdleMinutes * 60 + agentDefaultIdleSeconds;
}

/** The agent's default idle bound (ami/README.md: `WPR_MAX_IDLE_SECONDS`, 600 s). */
export const agentDefaultIdleSeconds = 600;

function startOptions(request: Purpose): { maxIdleSeconds: number } | undefined {
  return request.maxIdleSeconds === undefined ? undefined : { maxIdleSeconds: request.maxIdleSeconds };
}

async function climbLadder(deps: CoreDeps, request: Purpose): Promise<ProvisionOutcome> {
  const { pool } = request;
  const attempts: LadderAttempt[] = [];
  // Checked before anything starts: a runner with nowhere to register would only cost an instance.
  if (runnerScope(deps.runners, request.repository, pool) === undefined) {
    deps.metrics.count('UnservedOwner', 1, { Pool: pool.name });
    attempts.push({
      step: 'pending',
      at: deps.clock.now(),
      outcome: 'skipped',
      detail: `owner ${request.repository.owner} is not served by this deployment`,
    });
    return { kind: 'pending', reason: 'unserved-owner', attempts };
  }
  const outOfTime = () => deps.clock.now() >= request.deadline;
  const note = (step: LadderStep, outcome: LadderAttempt['outcome'], extra: Partial<LadderAttempt> = {}) => {
    attempts.push({ step, at: deps.clock.now(), outcome, ...extra });
    if (outcome !== 'ok' && outcome !== 'empty')
      deps.metrics.count('Fallbacks', 1, { Pool: pool.name, Step: step });
  };
  const refused = new Set<string>(); // `${type}@${zone}` that answered InsufficientInstanceCapacity

  let started: Started | undefined;
  for (const source of request.sources) {
    if (started !== undefined || outOfTime()) break;
    if (source === 'pool') {
      started = await claimFromPool(deps, request, note, refused, outOfTime);
      if (started === undefined && pool.fallback.resize && refused.size > 0 && !outOfTime())
        started = await claimAndResize(deps, request, note, refused);
      continue;
    }
    const market = source;
    const allowed =
      market === 'spot' ? pool.fallback.spot && !(await avoidSpot(deps, request)) : pool.fallback.onDemand;
    if (!allowed) {
      note(market, 'skipped', { detail: 'disabled for this pool' });
      continue;
    }
    started = await launchEphemeral(deps, request, market, note);
  }

  if (started === undefined) {
    const reason = outOfTime() ? 'out-of-time' : 'exhausted';
    note('pending', reason === 'out-of-time' ? 'out-of-time' : 'empty');
    return { kind: 'pending', reason, attempts };
  }

  const handedOver = await handOverRunner(deps, request, started, outOfTime);
  if (!handedOver) {
    note(started.source, 'failed', {
      instanceId: started.instance.id,
      detail: 'JIT config could not be minted or delivered',
    });
    return { kind: 'pending', reason: 'github-failed', attempts };
  }
  return {
    kind: 'provisioned',
    instanceId: started.instance.id,
    source: started.source,
    attempts,
    claimedAt: started.claimedAt,
    startIssuedAt: started.startIssuedAt,
  };
}

type Note = (step: LadderStep, outcome: LadderAttempt['outcome'], extra?: Partial<LadderAttempt>) => void;

/** Claims a ready instance and starts it, moving to other candidates on lost races and refusals. */
async function claimFromPool(
  deps: CoreDeps,
  request: Purpose,
  note: Note,
  refused: Set<string>,
  outOfTime: () => boolean,
): Promise<Started | undefined> {
  const { pool } = request;
  const skip = new Set<string>();
  const usable = (c: InstanceRecord) =>
    !skip.has(c.id) && !refused.has(`${c.instanceType}@${c.availabilityZone}`);
  // Candidates already read, in this claimer's random order: tried before the index is read again
  // (the index is eventually consistent, so a fresh read right after a lost race shows the same ones).
  let queue: InstanceRecord[] = [];
  for (let attempt = 0; attempt < maxClaimAttempts && !outOfTime(); attempt++) {
    const step: LadderStep = refused.size > 0 ? 'pool-other-zone' : 'pool';
    const now = deps.clock.now();
    queue = queue.filter(usable);
    if (queue.length === 0) {
      const candidates = (await deps.store.listReady(pool.name, claimCandidates + skip.size)).filter(usable);
      const fresh = candidates.filter((c) => !zoneRefusedRecently(c, refused, now));
      queue = fresh.length > 0 ? fresh : candidates;
    }
    // A random one of those read: claimers of a burst, all reading the same list, rarely pick alike
    // in a window wider than the burst, and one that lost does not walk into its neighbour's pick.
    const [candidate] = queue.splice(Math.floor(deps.random() * queue.length), 1);
    if (candidate === undefined) {
      note(step, 'empty');
      return undefined;
    }
    const claimedAt = deps.clock.now();
    const claim = await claimInstance(deps, candidate, request, claimedAt);
    if (claim.kind !== 'ok') {
      deps.metrics.count('LostRaces', 1, { Pool: pool.name });
      note(step, 'lost-race', { instanceId: candidate.id });
      skip.add(candidate.id);
      continue;
    }
    deps.metrics.count('Claims', 1, { Pool: pool.name });
    // A sized job: the stopped instance takes the size's type before it starts (EC2 allows it only
    // while stopped, and only within the image's architecture).
    const resize = request.size !== undefined && request.size.instanceType !== candidate.instanceType;
    if (resize && request.size !== undefined) {
      const changed = await deps.compute.changeType(candidate.id, request.size.instanceType);
      if (changed.kind !== 'changed') {
        note('pool-resized', 'failed', {
          instanceId: candidate.id,
          instanceType: request.size.instanceType,
          detail: changed.kind,
        });
        skip.add(candidate.id);
        await release(deps, claim.record, {});
        continue;
      }
    }
    const instance =
      resize && request.size ? { ...claim.record, instanceType: request.size.instanceType } : claim.record;
    const start = await deps.compute.start(candidate.id, startOptions(request));
    if (start.kind === 'started') {
      note(resize ? 'pool-resized' : step, 'ok', {
        instanceId: candidate.id,
        instanceType: instance.instanceType,
      });
      return {
        instance,
        source: resize ? 'pool-resized' : 'pool',
        claimedAt,
        startIssuedAt: deps.clock.now(),
      };
    }
    skip.add(candidate.id);
    if (start.kind === 'insufficient-capacity') {
      deps.metrics.count('CapacityErrors', 1, { Pool: pool.name });
      refused.add(`${instance.instanceType}@${candidate.availabilityZone}`);
      queue = []; // read again: candidates in other zones now come first
      note(step, 'capacity', { instanceId: candidate.id, instanceType: instance.instanceType });
      // Still stopped and pristine: straight back to the pool, remembered as refused for a while (with
      // the type EC2 now gives it).
      await release(deps, claim.record, {
        capacityErrorAt: deps.clock.now(),
        ...(resize && { instanceType: instance.instanceType }),
      });
    } else {
      // Not stopped after all (or gone): it cannot serve; the reconciler's view of EC2 settles it.
      note(step, 'failed', { instanceId: candidate.id, detail: start.kind });
      await retire(deps, claim.record, `start refused: ${start.kind}`);
    }
  }
  return undefined;
}

/** The runner's name and where it registers, recorded on the instance before any GitHub call. */
function runnerIdentity(
  deps: CoreDeps,
  purpose: Purpose,
  instanceId: string,
): { runnerName?: string; runnerFor: Repository } {
  const name = runnerName(deps.runners, purpose.repository.owner, instanceId);
  return { ...(name !== undefined && { runnerName: name }), runnerFor: purpose.repository };
}

/** Two webhooks may pick the same candidate: ready@v → claimed@v+1 succeeds for exactly one. */
function claimInstance(deps: CoreDeps, candidate: InstanceRecord, purpose: Purpose, claimedAt: number) {
  return deps.store.transitionInstance({
    id: candidate.id,
    from: 'ready',
    expectedVersion: candidate.version,
    to: 'claimed',
    patch: {
      ...(purpose.jobId !== undefined && { provisionedFor: purpose.jobId }),
      ...(purpose.tier !== undefined && { tier: purpose.tier }),
      ...(purpose.size !== undefined && { size: purpose.size.label }),
      ...runnerIdentity(deps, purpose, candidate.id),
      stateChangedAt: claimedAt,
    },
  });
}

/**
 * One re-run after an interruption per workflow run: `pending:<job id>` while GitHub refuses it (the run
 * is still going), `requested:<job id>` once accepted.
 */
export function rerunMarker(runId: number): string {
  return `rerun#${runId}`;
}

/** The re-run of this job of this run goes to on-demand capacity; its other jobs keep using spot. */
export function onDemandMarker(runId: number, jobName: string): string {
  return `rerun-on-demand#${runId}#${jobName}`;
}

async function avoidSpot(deps: CoreDeps, request: Purpose): Promise<boolean> {
  if (request.avoidSpot !== undefined) return request.avoidSpot;
  if (request.runId === undefined || request.jobName === undefined || request.tier === 'hot') return false;
  return (await deps.store.getMarker(onDemandMarker(request.runId, request.jobName))) !== undefined;
}

function zoneRefusedRecently(c: InstanceRecord, refused: Set<string>, now: number): boolean {
  for (const key of refused) if (key.endsWith(`@${c.availabilityZone}`)) return true;
  return c.capacityErrorAt !== undefined && now - c.capacityErrorAt < capacityMemoryMs;
}

/** A ready instance whose type/zone had no capacity, given another allowed type while stopped. */
async function claimAndResize(
  deps: CoreDeps,
  request: Purpose,
  note: Note,
  refused: Set<string>,
): Promise<Started | undefined> {
  const { pool } = request;
  const candidates = await deps.store.listReady(pool.name, claimCandidates);
  for (const candidate of candidates) {
    // A sized job may only take its size's type; others any other type of the pool.
    const types = request.size === undefined ? pool.instanceTypes : [request.size.instanceType];
    const type = types.find(
      (t) => t !== candidate.instanceType && !refused.has(`${t}@${candidate.availabilityZone}`),
    );
    if (type === undefined) continue;
    const claimedAt = deps.clock.now();
    const claim = await claimInstance(deps, candidate, request, claimedAt);
    if (claim.kind !== 'ok') {
      note('pool-resized', 'lost-race', { instanceId: candidate.id });
      continue;
    }
    const changed = await deps.compute.changeType(candidate.id, type);
    if (changed.kind !== 'changed') {
      note('pool-resized', 'failed', { instanceId: candidate.id, instanceType: type, detail: changed.kind });
      await release(deps, claim.record, {});
      continue;
    }
    // The instance keeps its disk; its spec no longer matches, so the tuner will roll it after this job.
    const resized = { ...claim.record, instanceType: type };
    const start = await deps.compute.start(candidate.id, startOptions(request));
    if (start.kind === 'started') {
      note('pool-resized', 'ok', { instanceId: candidate.id, instanceType: type });
      return { instance: resized, source: 'pool-resized', claimedAt, startIssuedAt: deps.clock.now() };
    }
    refused.add(`${type}@${candidate.availabilityZone}`);
    note('pool-resized', start.kind === 'insufficient-capacity' ? 'capacity' : 'failed', {
      instanceId: candidate.id,
      instanceType: type,
    });
    await release(deps, resized, { instanceType: type, capacityErrorAt: deps.clock.now() });
  }
  if (candidates.length === 0) note('pool-resized', 'empty');
  return undefined;
}

async function launchEphemeral(
  deps: CoreDeps,
  request: Purpose,
  market: 'spot' | 'on-demand',
  note: Note,
): Promise<Started | undefined> {
  const { pool } = request;
  const claimedAt = deps.clock.now();
  // One token per purpose and market: a retried call never launches a second instance.
  const clientToken = `${request.token}-${market}`;
  // A sized job's fallback launches its size's type only.
  const shape = request.size === undefined ? pool : { ...pool, instanceTypes: [request.size.instanceType] };
  const launch = await deps.compute.launchEphemeral({
    pool: shape,
    market,
    clientToken,
    ...(request.maxIdleSeconds !== undefined && { maxIdleSeconds: request.maxIdleSeconds }),
  });
  if (launch.kind !== 'launched' || launch.instances[0] === undefined) {
    if (launch.kind === 'insufficient-capacity') deps.metrics.count('CapacityErrors', 1, { Pool: pool.name });
    note(market, 'capacity');
    return undefined;
  }
  const launched = launch.instances[0];
  const record = ephemeralRecord(deps, pool.name, launched, request);
  await deps.store.putInstance(record);
  note(market, 'ok', { instanceId: launched.id, instanceType: launched.instanceType });
  return { instance: record, source: market, claimedAt, startIssuedAt: deps.clock.now() };
}

function ephemeralRecord(
  deps: CoreDeps,
  pool: string,
  launched: LaunchedInstance,
  purpose: Purpose,
): InstanceRecord {
  const now = deps.clock.now();
  return {
    id: launched.id,
    pool,
    state: 'starting',
    version: 1,
    role: 'ephemeral',
    market: launched.market,
    instanceType: launched.instanceType,
    subnetId: launched.subnetId,
    availabilityZone: launched.availabilityZone,
    spec: launched.spec,
    launchedAt: launched.launchedAt,
    stateChangedAt: now,
    ...(purpose.jobId !== undefined && { provisionedFor: purpose.jobId }),
    ...(purpose.tier !== undefined && { tier: purpose.tier }),
    ...(purpose.size !== undefined && { size: purpose.size.label }),
    ...runnerIdentity(deps, purpose, launched.id),
    startIssuedAt: now,
  };
}

/** Mint and delivery tries per provisioning, while the deadline allows (a secondary limit, a throttle). */
export const handOverAttempts = 2;
/** Marks a started pool instance whose runner could not be handed over: it powers off untouched. */
export const handOverFailedReason = 'runner hand-over failed';

/**
 * Mints the JIT config and hands it to the instance, then records the runner. A pool instance's start
 * is recorded first (startIssuedAt on its claim), before any GitHub call, so a handler cut off during
 * the hand-over never leaves a started instance unrecorded.
 *
 * When GitHub cannot mint or SSM cannot take the config (secondary limits and Parameter Store's
 * throughput are both hit in a burst), the hand-over is tried again while time allows. A pool instance
 * that still has no config is kept, not thrown away: without a config its agent powers off untouched,
 * and the stopped event returns it to the pool (see instance-events.ts); the job waits for the reconciler.
 * A one-shot instance has nothing to return to and is retired.
 */
async function handOverRunner(
  deps: CoreDeps,
  request: Purpose,
  started: Started,
  outOfTime: () => boolean,
): Promise<boolean> {
  const { pool } = request;
  let instance = started.instance;
  if (instance.state === 'claimed') {
    const recorded = await deps.store.transitionInstance({
      id: instance.id,
      from: 'claimed',
      expectedVersion: instance.version,
      to: 'claimed',
      patch: { startIssuedAt: started.startIssuedAt, instanceType: instance.instanceType },
    });
    if (recorded.kind === 'ok') instance = recorded.record;
  }
  const name = runnerName(deps.runners, request.repository.owner, instance.id);
  const scope = runnerScope(deps.runners, request.repository, pool);
  // Both were checked before the ladder started; the owner's settings do not change within a call.
  if (name === undefined || scope === undefined) throw new Error('runner owner is not served');
  let config: JitConfig | undefined;
  for (let attempt = 0; attempt < handOverAttempts && config === undefined; attempt++) {
    if (attempt > 0 && outOfTime()) break;
    let minted: JitConfig | undefined;
    try {
      const labels = [...runnerLabels(pool), ...(request.size ? [request.size.label] : [])];
      minted = await deps.github.createJitConfig(scope, { runnerName: name, labels });
      await deps.jit.deliver(instance.id, minted.encodedJitConfig);
      config = minted;
    } catch (error) {
      deps.metrics.count('HandOverFailures', 1, { Pool: pool.name });
      if (error instanceof UnknownRunnerGroupError) await reportUnknownGroup(deps, pool, error);
      // GitHub refuses a name that is still registered (409). The name carries this instance's id and
      // the instance is ours alone now, so such a runner is a registration left by an earlier life of
      // it (one whose removal failed): remove it, and the next attempt registers afresh.
      if (error instanceof GitHubError && error.status === 409)
        await removeStaleRegistration(deps, scope, name, pool);
      // A registration whose config did not reach the instance must not outlive it, nor block the name.
      if (minted !== undefined) await withdrawRunner(deps, scope, instance.id, minted.runnerId);
    }
  }
  if (config === undefined) {
    if (instance.state !== 'claimed') await retire(deps, instance, 'runner registration failed');
    else
      await deps.store.transitionInstance({
        id: instance.id,
        from: 'claimed',
        expectedVersion: instance.version,
        to: 'claimed',
        patch: { reason: handOverFailedReason, stateChangedAt: deps.clock.now() },
      });
    return false;
  }
  const now = deps.clock.now();
  // A pool instance moves claimed → starting; a fresh launch is starting already and only learns its
  // runner id, without which a release could not ask GitHub whether the runner is busy before retiring it.
  // The job's quota units go on the instance with its runner: from now on the instance gives them back.
  const holds = request.quotaHolds?.length ? { quotaHolds: request.quotaHolds } : {};
  let current = instance;
  for (let attempt = 0; attempt < 3; attempt++) {
    const recorded = await deps.store.transitionInstance({
      id: current.id,
      from: current.state,
      expectedVersion: current.version,
      to: 'starting',
      patch:
        current.state === 'claimed'
          ? {
              startIssuedAt: started.startIssuedAt,
              stateChangedAt: now,
              runnerId: config.runnerId,
              instanceType: instance.instanceType,
              ...holds,
            }
          : { runnerId: config.runnerId, stateChangedAt: current.stateChangedAt, ...holds },
    });
    if (recorded.kind === 'ok') {
      // The lifecycle handler saw a hot runner's instance running before this write: idle now.
      if (recorded.record.tier === 'hot' && recorded.record.idleAt !== undefined)
        await deps.store.transitionInstance({
          id: current.id,
          from: 'starting',
          expectedVersion: recorded.record.version,
          to: 'idle',
          patch: { stateChangedAt: deps.clock.now() },
        });
      return true;
    }
    // Another writer touched it. Still claimed or starting (an in-place note such as the boot of a
    // hot runner): write again on a fresh read, so the runner id is not lost. Anything else means
    // the runner already took a job (in_progress moved it to busy): fine as it is.
    const fresh = await deps.store.getInstance(current.id);
    if (fresh === undefined || (fresh.state !== 'claimed' && fresh.state !== 'starting')) return true;
    current = fresh;
  }
  return true;
}

/**
 * A runner group the pool names does not exist in the organization: a config mistake, not a transient
 * failure. Counted and published so an alarm or a subscriber names the group; the job stays pending.
 */
async function reportUnknownGroup(
  deps: CoreDeps,
  pool: PoolConfig,
  error: UnknownRunnerGroupError,
): Promise<void> {
  deps.metrics.count('UnknownRunnerGroup', 1, { Pool: pool.name });
  await deps.events
    .publish([{ type: 'RunnerGroupMissing', pool: pool.name, organization: error.org, group: error.group }])
    .catch(() => undefined);
}

/** A started pool instance that never got a runner config: it can only power off untouched. */
export function handOverFailed(instance: InstanceRecord): boolean {
  return (
    instance.state === 'claimed' &&
    instance.runnerId === undefined &&
    instance.reason === handOverFailedReason
  );
}

/** Best effort: an idle registration under the instance's own runner name goes away. */
async function removeStaleRegistration(
  deps: CoreDeps,
  scope: RunnerScope,
  name: string,
  pool: PoolConfig,
): Promise<void> {
  const registered = await deps.github.listRunners(scope, name).catch(() => []);
  for (const runner of registered.filter((r) => r.name === name && !r.busy)) {
    const removed = await deps.github.deleteRunner(scope, runner.id).catch(() => 'failed' as const);
    if (removed === 'deleted') deps.metrics.count('StaleRunnersRemoved', 1, { Pool: pool.name });
  }
}

/** Best effort: the config and the registration of a runner that was never handed over go away. */
async function withdrawRunner(
  deps: CoreDeps,
  scope: RunnerScope,
  instanceId: string,
  runnerId: number,
): Promise<void> {
  await deps.jit.remove(instanceId).catch(() => undefined);
  await deps.github.deleteRunner(scope, runnerId).catch(() => undefined);
}

/** Back to the pool: the instance never left its stopped state. */
export async function release(
  deps: CoreDeps,
  instance: InstanceRecord,
  patch: { capacityErrorAt?: number; instanceType?: string },
): Promise<void> {
  const released = await deps.store.transitionInstance({
    id: instance.id,
    from: 'claimed',
    expectedVersion: instance.version,
    to: 'ready',
    patch: { ...patch, stateChangedAt: deps.clock.now() },
    clear: [
      'provisionedFor',
      'runnerName',
      'runnerId',
      'runnerFor',
      'startIssuedAt',
      'tier',
      'reason',
      'quotaHolds',
      'size',
    ],
  });
  if (released.kind === 'ok') await releaseHolds(deps, instance);
}

/** Out of service for good: retiring, terminated in EC2, then terminated in the store. */
export async function retire(deps: CoreDeps, instance: InstanceRecord, reason: string): Promise<boolean> {
  const now = deps.clock.now();
  const retiring = await deps.store.transitionInstance({
    id: instance.id,
    from: instance.state,
    expectedVersion: instance.version,
    to: 'retiring',
    patch: { reason, stateChangedAt: now },
  });
  if (retiring.kind !== 'ok') return false;
  await releaseHolds(deps, instance);
  await deps.compute.terminate([instance.id]);
  await deps.store.transitionInstance({
    id: instance.id,
    from: 'retiring',
    expectedVersion: retiring.record.version,
    to: 'terminated',
    patch: { stateChangedAt: deps.clock.now() },
  });
  await bookInstanceUsage(deps, instance, now);
  await deps.events.publish([
    { type: 'InstanceRetired', instanceId: instance.id, pool: instance.pool, reason },
  ]);
  return true;
}
