/**
 * The ports the core is given in the simulator: the in-memory fakes (the same ones the core's tests
 * use, which pass the adapters' contract suites), each call taking the time the real service takes.
 * A call parks its use case for a latency drawn from the reference timings and then acts on the fake,
 * so the effect lands when the real call would return. Compute also tells the world what EC2 would now
 * do on its own (boot a launched or started instance, report a termination).
 */
import type { InstanceRole } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type {
  ChangeTypeOutcome,
  Compute,
  EphemeralLaunchRequest,
  LaunchedInstance,
  LaunchOutcome,
  ObservedInstance,
  PoolLaunchRequest,
  StartOutcome,
} from '../../scheduler/ports/compute.js';
import type { DomainEvent, Events } from '../../scheduler/ports/events.js';
import {
  GitHubError,
  type GitHubJob,
  type GitHubRunners,
  type HookDelivery,
  type JitConfig,
  type RegisteredRunner,
  type RunnerScope,
} from '../../scheduler/ports/github-runners.js';
import type { JitDelivery, PendingJitConfig } from '../../scheduler/ports/jit-delivery.js';
import type { MetricDimensions, Metrics } from '../../scheduler/ports/metrics.js';
import type {
  InstanceTransition,
  JobUpdate,
  PoolStore,
  WriteResult,
} from '../../scheduler/ports/pool-store.js';
import type { InMemoryCompute } from '../../stand-ins/in-memory/in-memory-compute.js';
import type { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';
import type { InMemoryJitDelivery } from '../../stand-ins/in-memory/in-memory-jit-delivery.js';
import type { InMemoryPoolStore } from '../../stand-ins/in-memory/in-memory-pool-store.js';
import type { EventLoop } from './event-loop.js';
import type { Distribution, Random } from './random.js';
import type { Timings } from './reference-timings.js';

/** Draws latencies for the port calls. */
export class Latency {
  constructor(
    private readonly loop: EventLoop,
    private readonly random: Random,
  ) {}

  wait(distribution: Distribution): Promise<void> {
    return this.loop.sleep(distribution(this.random));
  }
}

export class SimPoolStore implements PoolStore {
  constructor(
    private readonly inner: InMemoryPoolStore,
    private readonly latency: Latency,
    private readonly timings: Timings,
  ) {}

  private async call<T>(run: () => Promise<T>): Promise<T> {
    await this.latency.wait(this.timings.dynamoDbCall);
    return run();
  }

  putInstance(...args: Parameters<PoolStore['putInstance']>) {
    return this.call(() => this.inner.putInstance(...args));
  }
  getInstance(id: string) {
    return this.call(() => this.inner.getInstance(id));
  }
  transitionInstance(t: InstanceTransition) {
    return this.call(() => this.inner.transitionInstance(t));
  }
  listReady(pool: string, limit: number) {
    return this.call(() => this.inner.listReady(pool, limit));
  }
  listPoolInstances(pool: string) {
    return this.call(() => this.inner.listPoolInstances(pool));
  }
  listLiveInstances() {
    return this.call(() => this.inner.listLiveInstances());
  }
  createJob(...args: Parameters<PoolStore['createJob']>) {
    return this.call(() => this.inner.createJob(...args));
  }
  getJob(id: number) {
    return this.call(() => this.inner.getJob(id));
  }
  updateJob(update: JobUpdate): Promise<WriteResult<import('../../scheduler/core/types.js').JobRecord>> {
    return this.call(() => this.inner.updateJob(update));
  }
  listJobs(...args: Parameters<PoolStore['listJobs']>) {
    return this.call(() => this.inner.listJobs(...args));
  }
  listWaitingJobs(...args: Parameters<PoolStore['listWaitingJobs']>) {
    return this.call(() => this.inner.listWaitingJobs(...args));
  }
  takeQuota(...args: Parameters<PoolStore['takeQuota']>) {
    return this.call(() => this.inner.takeQuota(...args));
  }
  chargeQuota(...args: Parameters<PoolStore['chargeQuota']>) {
    return this.call(() => this.inner.chargeQuota(...args));
  }
  giveBackQuota(...args: Parameters<PoolStore['giveBackQuota']>) {
    return this.call(() => this.inner.giveBackQuota(...args));
  }
  listQuotas(pool: string) {
    return this.call(() => this.inner.listQuotas(pool));
  }
  repairQuota(...args: Parameters<PoolStore['repairQuota']>) {
    return this.call(() => this.inner.repairQuota(...args));
  }
  waitOnQuota(...args: Parameters<PoolStore['waitOnQuota']>) {
    return this.call(() => this.inner.waitOnQuota(...args));
  }
  stopWaitingOnQuota(...args: Parameters<PoolStore['stopWaitingOnQuota']>) {
    return this.call(() => this.inner.stopWaitingOnQuota(...args));
  }
  listJobsUpdated(...args: Parameters<PoolStore['listJobsUpdated']>) {
    return this.call(() => this.inner.listJobsUpdated(...args));
  }
  addUsage(...args: Parameters<PoolStore['addUsage']>) {
    return this.call(() => this.inner.addUsage(...args));
  }
  getUsage(day: string) {
    return this.call(() => this.inner.getUsage(day));
  }
  getMarker(name: string) {
    return this.call(() => this.inner.getMarker(name));
  }
  putMarker(name: string, value: string) {
    return this.call(() => this.inner.putMarker(name, value));
  }
  addToCounter(name: string, delta: number) {
    return this.call(() => this.inner.addToCounter(name, delta));
  }
}

/** What EC2 does by itself after a call: the world plays it. */
export interface Ec2Hooks {
  launched(instance: LaunchedInstance, role: InstanceRole, volumeGb: number): void;
  started(instanceId: string): void;
  terminated(instanceId: string): void;
}

export class SimCompute implements Compute {
  private readonly known = new Set<string>();

  constructor(
    private readonly inner: InMemoryCompute,
    private readonly latency: Latency,
    private readonly timings: Timings,
    private readonly hooks: Ec2Hooks,
  ) {}

  async launchForPool(request: PoolLaunchRequest): Promise<LaunchOutcome> {
    await this.latency.wait(this.timings.runInstances);
    const outcome = await this.inner.launchForPool(request);
    if (outcome.kind === 'launched') this.noteLaunches(outcome.instances, 'pool', request.pool.volumeSizeGb);
    return outcome;
  }

  async launchEphemeral(request: EphemeralLaunchRequest): Promise<LaunchOutcome> {
    await this.latency.wait(request.market === 'spot' ? this.timings.createFleet : this.timings.runInstances);
    const outcome = await this.inner.launchEphemeral(request);
    if (outcome.kind === 'launched')
      this.noteLaunches(outcome.instances, 'ephemeral', request.pool.volumeSizeGb);
    return outcome;
  }

  async start(instanceId: string): Promise<StartOutcome> {
    await this.latency.wait(this.timings.startInstances);
    const outcome = await this.inner.start(instanceId);
    if (outcome.kind === 'started') this.hooks.started(instanceId);
    return outcome;
  }

  async changeType(instanceId: string, instanceType: string): Promise<ChangeTypeOutcome> {
    await this.latency.wait(this.timings.ec2OtherCall);
    return this.inner.changeType(instanceId, instanceType);
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    await this.latency.wait(this.timings.ec2OtherCall);
    const live = instanceIds.filter((id) => {
      const state = this.inner.instance(id)?.state;
      return state !== undefined && state !== 'terminated';
    });
    await this.inner.terminate(instanceIds);
    for (const id of live) this.hooks.terminated(id);
  }

  async currentSpec(...args: Parameters<Compute['currentSpec']>): Promise<string> {
    await this.latency.wait(this.timings.ssmCall);
    return this.inner.currentSpec(...args);
  }

  async listInstances(): Promise<ObservedInstance[]> {
    await this.latency.wait(this.timings.ec2OtherCall);
    return this.inner.listInstances();
  }

  async agentReason(instanceId: string): Promise<string | undefined> {
    await this.latency.wait(this.timings.ec2OtherCall);
    return this.inner.agentReason(instanceId);
  }

  private noteLaunches(instances: readonly LaunchedInstance[], role: InstanceRole, volumeGb: number): void {
    for (const instance of instances) {
      // A retried call with the same client token returns the instances it launched before.
      if (this.known.has(instance.id)) continue;
      this.known.add(instance.id);
      this.hooks.launched(instance, role, volumeGb);
    }
  }
}

/**
 * GitHub's secondary rate limit on JIT config mints, per App (REFERENCE: 900 points a minute per
 * endpoint, a POST costs 5, so ~180 mints a minute): the mints accepted in the last sliding minute.
 * A refused request does not count (ASSUMPTION: GitHub does not document whether it does).
 */
export class MintLimit {
  private readonly accepted: number[] = [];
  private head = 0;

  constructor(private readonly perMinute: number) {}

  /** Whether a mint at `now` (epoch ms) is accepted; an accepted one counts from then on. */
  take(now: number): boolean {
    this.forget(now);
    if (this.accepted.length - this.head >= this.perMinute) return false;
    this.accepted.push(now);
    return true;
  }

  /** The first instant a mint would be accepted again. */
  nextFree(now: number): number {
    this.forget(now);
    if (this.accepted.length - this.head < this.perMinute) return now;
    return (this.accepted[this.accepted.length - this.perMinute] as number) + 60_000;
  }

  private forget(now: number): void {
    while (this.head < this.accepted.length && (this.accepted[this.head] as number) <= now - 60_000)
      this.head++;
    if (this.head > 4096) {
      this.accepted.splice(0, this.head);
      this.head = 0;
    }
  }
}

export class SimGitHub implements GitHubRunners {
  private readonly mints: MintLimit;

  constructor(
    private readonly inner: InMemoryGitHub,
    private readonly latency: Latency,
    private readonly timings: Timings,
    private readonly clock: Clock,
    private readonly count: (name: string) => void = () => {},
  ) {
    this.mints = new MintLimit(timings.jitMintsPerMinute);
  }

  /**
   * Over the secondary limit GitHub answers 403 with a `retry-after` of about a minute; the adapter
   * (scheduler/adapters/github-app-auth.ts) waits only up to 10 s for it, so the core sees the 403.
   */
  async createJitConfig(
    scope: RunnerScope,
    request: { runnerName: string; labels: readonly string[] },
  ): Promise<JitConfig> {
    await this.latency.wait(this.timings.jitMint);
    if (!this.mints.take(this.clock.now())) {
      this.count('github:mint-secondary-limit');
      throw new GitHubError('You have exceeded a secondary rate limit', 403);
    }
    return this.inner.createJitConfig(scope, request);
  }
  async deleteRunner(scope: RunnerScope, runnerId: number): Promise<'deleted' | 'not-found'> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.deleteRunner(scope, runnerId);
  }
  async listRunners(scope: RunnerScope, namePrefix: string): Promise<RegisteredRunner[]> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.listRunners(scope, namePrefix);
  }
  async listRunnerGroups(org: string): Promise<string[]> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.listRunnerGroups(org);
  }
  async getJob(...args: Parameters<GitHubRunners['getJob']>): Promise<GitHubJob | undefined> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.getJob(...args);
  }
  async rerunJob(...args: Parameters<GitHubRunners['rerunJob']>): Promise<void> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.rerunJob(...args);
  }
  async listDeliveries(since: number): Promise<HookDelivery[]> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.listDeliveries(since);
  }
  async redeliver(delivery: { readonly app: string; readonly id: number }): Promise<void> {
    await this.latency.wait(this.timings.gitHubCall);
    return this.inner.redeliver(delivery);
  }
}

export class SimJitDelivery implements JitDelivery {
  constructor(
    private readonly inner: InMemoryJitDelivery,
    private readonly latency: Latency,
    private readonly timings: Timings,
  ) {}

  async deliver(instanceId: string, encodedJitConfig: string): Promise<void> {
    await this.latency.wait(this.timings.ssmCall);
    return this.inner.deliver(instanceId, encodedJitConfig);
  }
  async remove(instanceId: string): Promise<void> {
    await this.latency.wait(this.timings.ssmCall);
    return this.inner.remove(instanceId);
  }
  async listPending(): Promise<PendingJitConfig[]> {
    await this.latency.wait(this.timings.ssmCall);
    return this.inner.listPending();
  }
}

/** Counts what the core reports; nothing is kept per event (a week makes hundreds of thousands). */
export class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();

  count(name: string, value = 1, dimensions: MetricDimensions = {}): void {
    const key = dimensions.Step === undefined ? name : `${name}:${dimensions.Step}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + value);
  }
  duration(): void {}
  gauge(): void {}
}

export class CountingEvents implements Events {
  readonly counts = new Map<string, number>();

  async publish(events: readonly DomainEvent[]): Promise<void> {
    for (const e of events) this.counts.set(e.type, (this.counts.get(e.type) ?? 0) + 1);
  }
}
