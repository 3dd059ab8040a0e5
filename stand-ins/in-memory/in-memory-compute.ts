/**
 * InMemoryCompute: the Compute port with EC2's semantics and no network, for the core's unit, property
 * and model-based tests and for the simulator. It passes the same contract suite as Ec2Compute against
 * the EC2 emulator, so what holds here holds there.
 *
 * Semantics kept from EC2 (and from Ec2Compute's use of it):
 * - Instances carry EC2 states. Launches and starts return `pending`; tests move instances on with
 *   `markRunning`, `powerOff` (the guest shuts down: stopped, or terminated for an instance whose
 *   shutdown behaviour is terminate, as every ephemeral one is) and `setState`.
 * - Capacity is per instance type and availability zone and can be exhausted separately for starts and
 *   for launches, and for on-demand and spot (`exhaustCapacity`). A stopped instance is pinned to its
 *   type and zone: it cannot start while that pair has no capacity; `changeType` works only when stopped.
 * - Pool launches spread `count` round-robin over the requested subnets; each subnet tries the pool's
 *   types in order, and a subnet with no capacity for any type is skipped (a partial launch is still
 *   `launched`). Ephemeral launches try types × subnets, type-major, and take the first with capacity.
 * - Client tokens: pool launches are idempotent per (token, subnet), as Ec2Compute derives one token per
 *   subnet; an ephemeral spot launch records its outcome under the token, as an instant fleet does, even
 *   when it launched nothing; an on-demand one records only a success, as RunInstances does.
 * - `terminate` ignores unknown and already terminated ids. Terminated instances stay listed for an hour.
 * - LaunchTime is reset by every start, as EC2 reports it.
 * - Images: each architecture has its image, and a launch uses its pool's, as Ec2Compute passes it.
 *   The spec is `<image of the architecture>:<template version>:<type>`: `publishImage` changes the
 *   spec of one architecture (the image pipeline published), `publishSpec` a new launch template version
 *   (every architecture). Instances keep the image and spec they were launched with.
 */

import { spreadOver } from '../../scheduler/adapters/ec2-spread.js';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { architectureOfType, type PoolConfig } from '../../scheduler/core/pool-config.js';
import type { InstanceRole, Market } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import {
  type ChangeTypeOutcome,
  type Compute,
  ComputeError,
  type EphemeralLaunchRequest,
  type LaunchedInstance,
  type LaunchOutcome,
  type ObservedInstance,
  type PoolLaunchRequest,
  type StartOptions,
  type StartOutcome,
} from '../../scheduler/ports/compute.js';

export type Ec2State = ObservedInstance['state'];
export type ShutdownBehavior = 'stop' | 'terminate';
export type ComputeOperation = keyof Compute;
export type Architecture = PoolConfig['architecture'];

export interface FakeInstance {
  readonly id: string;
  readonly state: Ec2State;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly market: Market;
  /** The AMI the instance was launched from. */
  readonly imageId: string;
  readonly spec: string;
  /** Epoch ms of the last launch or start, as EC2's LaunchTime. */
  readonly launchedAt: number;
  readonly firstLaunchedAt: number;
  readonly stateChangedAt: number;
  readonly shutdownBehavior: ShutdownBehavior;
  readonly tags: Readonly<Record<string, string>>;
}

/** Which capacity is missing; an absent field matches everything. */
export interface CapacitySelector {
  readonly instanceType?: string;
  readonly availabilityZone?: string;
  readonly market?: Market;
  readonly operation?: 'start' | 'launch';
}

export interface CallRecord {
  readonly operation: ComputeOperation;
  readonly at: number;
  readonly args: readonly unknown[];
}

export interface InMemoryComputeOptions {
  readonly clock: Clock;
  /** Subnet id → availability zone, for every subnet a pool may name. */
  readonly subnetZones: Readonly<Record<string, string>>;
  /** Value of the project tag; instances without it are invisible to `listInstances`. */
  readonly project?: string;
  /** Value of the deployment tag on every launch (`launchedHere`); default `local`. */
  readonly deploymentId?: string;
  /** The image of each architecture; `ami-00000000000000001` (x64) and `ami-00000000000000a01` (arm64). */
  readonly images?: Partial<Record<Architecture, string>>;
  readonly launchTemplateVersion?: number;
  /** Id generator; the default is a deterministic counter (`i-00000000000000001`, …). */
  readonly nextId?: () => string;
}

type MutableInstance = {
  -readonly [K in keyof FakeInstance]: FakeInstance[K];
};

const terminatedVisibleMs = 60 * 60 * 1000;

export class InMemoryCompute implements Compute {
  readonly project: string;
  readonly deploymentId: string;
  private readonly clock: Clock;
  private readonly subnetZones: Readonly<Record<string, string>>;
  private readonly nextId: () => string;
  private readonly instances = new Map<string, MutableInstance>();
  private readonly noCapacity: CapacitySelector[] = [];
  private readonly tokens = new Map<string, LaunchOutcome>();
  private readonly faults = new Map<ComputeOperation, Error[]>();
  private readonly log: CallRecord[] = [];
  private readonly images: Record<Architecture, string>;
  private templateVersion: number;
  private counter = 0;

  constructor(options: InMemoryComputeOptions) {
    this.clock = options.clock;
    this.subnetZones = options.subnetZones;
    this.project = options.project ?? 'wpr';
    this.deploymentId = options.deploymentId ?? 'local';
    this.images = {
      x64: options.images?.x64 ?? 'ami-00000000000000001',
      arm64: options.images?.arm64 ?? 'ami-00000000000000a01',
    };
    this.templateVersion = options.launchTemplateVersion ?? 1;
    this.nextId = options.nextId ?? (() => `i-${(++this.counter).toString(16).padStart(17, '0')}`);
  }

  // ---- the port ----

  async launchForPool(request: PoolLaunchRequest): Promise<LaunchOutcome> {
    this.record('launchForPool', [request]);
    const subnets = request.subnetIds.length > 0 ? request.subnetIds : request.pool.subnets;
    const launched: LaunchedInstance[] = [];
    const refusals: string[] = [];
    spreadOver(request.count, subnets).forEach(([subnetId, count]) => {
      const key = `pool|${request.clientToken}|${subnetId}`;
      const earlier = this.tokens.get(key);
      if (earlier?.kind === 'launched') {
        launched.push(...earlier.instances.map((i) => this.toLaunched(this.mustGet(i.id))));
        return;
      }
      const zone = this.zoneOf(subnetId);
      const type = request.pool.instanceTypes.find((t) =>
        this.hasCapacity({
          instanceType: t,
          availabilityZone: zone,
          market: 'on-demand',
          operation: 'launch',
        }),
      );
      if (type === undefined) {
        refusals.push(`no on-demand capacity for ${request.pool.instanceTypes.join('/')} in ${zone}`);
        return;
      }
      const instances = Array.from({ length: count }, () =>
        this.create(request.pool, type, subnetId, 'on-demand', 'pool', 'stop'),
      );
      this.tokens.set(key, { kind: 'launched', instances });
      launched.push(...instances);
    });
    if (launched.length === 0 && refusals.length > 0)
      return { kind: 'insufficient-capacity', message: refusals.join('; ') };
    return { kind: 'launched', instances: launched };
  }

  async launchEphemeral(request: EphemeralLaunchRequest): Promise<LaunchOutcome> {
    this.record('launchEphemeral', [request]);
    const key = `ephemeral|${request.clientToken}`;
    const earlier = this.tokens.get(key);
    if (earlier !== undefined) {
      return earlier.kind === 'launched'
        ? { kind: 'launched', instances: earlier.instances.map((i) => this.toLaunched(this.mustGet(i.id))) }
        : earlier;
    }
    const { pool, market } = request;
    for (const instanceType of pool.instanceTypes) {
      for (const subnetId of pool.subnets) {
        const zone = this.zoneOf(subnetId);
        if (!this.hasCapacity({ instanceType, availabilityZone: zone, market, operation: 'launch' }))
          continue;
        const instance = this.create(pool, instanceType, subnetId, market, 'ephemeral', 'terminate');
        if (request.maxIdleSeconds !== undefined) {
          const created = this.mustGet(instance.id);
          created.tags = { ...created.tags, [tagKeys.maxIdleSeconds]: String(request.maxIdleSeconds) };
        }
        const outcome: LaunchOutcome = { kind: 'launched', instances: [instance] };
        this.tokens.set(key, outcome);
        return outcome;
      }
    }
    const outcome: LaunchOutcome = {
      kind: 'insufficient-capacity',
      message: `no ${market} capacity for ${pool.instanceTypes.join('/')} in ${pool.subnets.join('/')}`,
    };
    if (market === 'spot') this.tokens.set(key, outcome);
    return outcome;
  }

  async start(instanceId: string, options?: StartOptions): Promise<StartOutcome> {
    this.record('start', options === undefined ? [instanceId] : [instanceId, options]);
    const instance = this.instances.get(instanceId);
    if (instance === undefined) return { kind: 'not-found' };
    if (instance.state !== 'stopped')
      return {
        kind: 'incorrect-state',
        message: `The instance '${instanceId}' is not in a state from which it can be started.`,
      };
    const selector = {
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      market: instance.market,
      operation: 'start',
    } as const;
    if (!this.hasCapacity(selector))
      return {
        kind: 'insufficient-capacity',
        message: `We currently do not have sufficient ${instance.instanceType} capacity in the Availability Zone you requested (${instance.availabilityZone}).`,
      };
    this.move(instance, 'pending');
    instance.launchedAt = this.clock.now();
    // As the adapter: tagged once the start is accepted, never on a refused start.
    if (options?.maxIdleSeconds !== undefined)
      instance.tags = { ...instance.tags, [tagKeys.maxIdleSeconds]: String(options.maxIdleSeconds) };
    return { kind: 'started' };
  }

  async changeType(instanceId: string, instanceType: string): Promise<ChangeTypeOutcome> {
    this.record('changeType', [instanceId, instanceType]);
    const instance = this.instances.get(instanceId);
    if (instance === undefined) return { kind: 'not-found' };
    if (instance.state !== 'stopped')
      return {
        kind: 'incorrect-state',
        message: `The instance '${instanceId}' is not in the 'stopped' state.`,
      };
    // Its disk holds its image's architecture, as EC2 checks it.
    if (architectureOfType(instanceType) !== architectureOfType(instance.instanceType))
      return {
        kind: 'unsupported',
        message: `The requested instance type's architecture (${architectureOfType(instanceType)}) does not match the architecture of ${instanceId}'s image`,
      };
    instance.instanceType = instanceType;
    return { kind: 'changed' };
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    this.record('terminate', [instanceIds]);
    for (const id of instanceIds) {
      const instance = this.instances.get(id);
      if (instance !== undefined && instance.state !== 'terminated') this.move(instance, 'terminated');
    }
  }

  async currentSpec(pool: PoolConfig, instanceType: string): Promise<string> {
    this.record('currentSpec', [pool, instanceType]);
    return this.specOf(pool.architecture, instanceType);
  }

  async listInstances(): Promise<ObservedInstance[]> {
    this.record('listInstances', []);
    const now = this.clock.now();
    return [...this.instances.values()]
      .filter((i) => i.tags[tagKeys.project] === this.project)
      .filter((i) => i.state !== 'terminated' || now - i.stateChangedAt < terminatedVisibleMs)
      .map((i) => ({
        id: i.id,
        pool: i.tags[tagKeys.pool],
        state: i.state,
        launchedAt: i.launchedAt,
        instanceType: i.instanceType,
        ...(i.tags[tagKeys.agentReason] !== undefined ? { agentReason: i.tags[tagKeys.agentReason] } : {}),
        ...(i.tags[tagKeys.jobStarted] !== undefined ? { jobStarted: true } : {}),
        launchedHere: i.tags[tagKeys.deployment] === this.deploymentId,
      }));
  }

  async agentReason(instanceId: string): Promise<string | undefined> {
    this.record('agentReason', [instanceId]);
    return this.instances.get(instanceId)?.tags[tagKeys.agentReason];
  }

  // ---- test controls ----

  /** Makes capacity matching the selector unavailable until restored. */
  exhaustCapacity(selector: CapacitySelector = {}): void {
    this.noCapacity.push({ ...selector });
  }

  /** Removes the rules equal to the selector, or every rule when called without one. */
  restoreCapacity(selector?: CapacitySelector): void {
    if (selector === undefined) {
      this.noCapacity.length = 0;
      return;
    }
    const same = (a: CapacitySelector) =>
      a.instanceType === selector.instanceType &&
      a.availabilityZone === selector.availabilityZone &&
      a.market === selector.market &&
      a.operation === selector.operation;
    for (let i = this.noCapacity.length - 1; i >= 0; i--) {
      const rule = this.noCapacity[i];
      if (rule !== undefined && same(rule)) this.noCapacity.splice(i, 1);
    }
  }

  /** The next call of `operation` throws `error` (wrapped in a ComputeError unless it is one). */
  failNext(operation: ComputeOperation, error: Error = new Error('injected fault')): void {
    const queue = this.faults.get(operation) ?? [];
    queue.push(error);
    this.faults.set(operation, queue);
  }

  /**
   * A new launch template version (and, with `imageId`, a new x64 image, the template's own):
   * `currentSpec` changes for every architecture; existing instances keep theirs.
   */
  publishSpec(change: { imageId?: string; launchTemplateVersion?: number }): void {
    if (change.imageId !== undefined) this.images.x64 = change.imageId;
    this.templateVersion = change.launchTemplateVersion ?? this.templateVersion + 1;
  }

  /** The image pipeline published a new image of one architecture: only that architecture's spec changes. */
  publishImage(architecture: Architecture, imageId: string): void {
    this.images[architecture] = imageId;
  }

  /** pending → running, as EC2 does a few seconds after a launch or start. */
  markRunning(instanceId: string): void {
    const instance = this.mustGet(instanceId);
    if (instance.state !== 'pending')
      throw new Error(`markRunning: ${instanceId} is ${instance.state}, not pending`);
    this.move(instance, 'running');
  }

  /** The guest tags its own instance (the agent's `wpr:agent-reason` before a failed power-off). */
  guestTag(instanceId: string, key: string, value: string): void {
    const instance = this.mustGet(instanceId);
    instance.tags = { ...instance.tags, [key]: value };
  }

  /** The guest shuts itself down: stopped, or terminated when its shutdown behaviour says so. */
  powerOff(instanceId: string): void {
    const instance = this.mustGet(instanceId);
    if (instance.state !== 'running')
      throw new Error(`powerOff: ${instanceId} is ${instance.state}, not running`);
    this.move(instance, instance.shutdownBehavior === 'terminate' ? 'terminated' : 'stopped');
  }

  /** Any EC2 state, for situations the helpers above do not reach (a spot reclaim, a stuck stop). */
  setState(instanceId: string, state: Ec2State): void {
    this.move(this.mustGet(instanceId), state);
  }

  /** Adds an instance that no call of this port created (another team's, or one launched by hand). */
  seedInstance(seed: {
    instanceType: string;
    subnetId: string;
    state?: Ec2State;
    market?: Market;
    tags?: Record<string, string>;
    shutdownBehavior?: ShutdownBehavior;
  }): FakeInstance {
    const now = this.clock.now();
    const architecture = architectureOfType(seed.instanceType);
    const instance: MutableInstance = {
      id: this.nextId(),
      state: seed.state ?? 'running',
      instanceType: seed.instanceType,
      subnetId: seed.subnetId,
      availabilityZone: this.zoneOf(seed.subnetId),
      market: seed.market ?? 'on-demand',
      imageId: this.images[architecture],
      spec: this.specOf(architecture, seed.instanceType),
      launchedAt: now,
      firstLaunchedAt: now,
      stateChangedAt: now,
      shutdownBehavior: seed.shutdownBehavior ?? 'stop',
      tags: { ...(seed.tags ?? {}) },
    };
    this.instances.set(instance.id, instance);
    return { ...instance };
  }

  instance(instanceId: string): FakeInstance | undefined {
    const instance = this.instances.get(instanceId);
    return instance === undefined ? undefined : { ...instance, tags: { ...instance.tags } };
  }

  /** Every instance ever created, terminated ones included, in creation order. */
  allInstances(): FakeInstance[] {
    return [...this.instances.values()].map((i) => ({ ...i, tags: { ...i.tags } }));
  }

  calls(operation?: ComputeOperation): readonly CallRecord[] {
    return operation === undefined ? [...this.log] : this.log.filter((c) => c.operation === operation);
  }

  callCount(operation: ComputeOperation): number {
    return this.calls(operation).length;
  }

  // ---- internals ----

  private record(operation: ComputeOperation, args: readonly unknown[]): void {
    this.log.push({ operation, at: this.clock.now(), args });
    const fault = this.faults.get(operation)?.shift();
    if (fault !== undefined)
      throw fault instanceof ComputeError
        ? fault
        : new ComputeError(`${operation} failed: ${fault.message}`, { cause: fault });
  }

  private hasCapacity(wanted: Required<CapacitySelector>): boolean {
    return !this.noCapacity.some(
      (rule) =>
        (rule.instanceType === undefined || rule.instanceType === wanted.instanceType) &&
        (rule.availabilityZone === undefined || rule.availabilityZone === wanted.availabilityZone) &&
        (rule.market === undefined || rule.market === wanted.market) &&
        (rule.operation === undefined || rule.operation === wanted.operation),
    );
  }

  private create(
    pool: PoolConfig,
    instanceType: string,
    subnetId: string,
    market: Market,
    role: InstanceRole,
    shutdownBehavior: ShutdownBehavior,
  ): LaunchedInstance {
    const now = this.clock.now();
    const spec = this.specOf(pool.architecture, instanceType);
    const instance: MutableInstance = {
      id: this.nextId(),
      state: 'pending',
      instanceType,
      subnetId,
      availabilityZone: this.zoneOf(subnetId),
      market,
      imageId: this.images[pool.architecture],
      spec,
      launchedAt: now,
      firstLaunchedAt: now,
      stateChangedAt: now,
      shutdownBehavior,
      tags: {
        [tagKeys.project]: this.project,
        [tagKeys.deployment]: this.deploymentId,
        [tagKeys.pool]: pool.name,
        [tagKeys.role]: role,
        // An instant fleet tags all its instances alike, whatever type each gets: no spec on ephemerals.
        ...(role === 'pool' ? { [tagKeys.spec]: spec } : {}),
      },
    };
    this.instances.set(instance.id, instance);
    return this.toLaunched(instance);
  }

  private toLaunched(instance: MutableInstance): LaunchedInstance {
    return {
      id: instance.id,
      instanceType: instance.instanceType,
      subnetId: instance.subnetId,
      availabilityZone: instance.availabilityZone,
      market: instance.market,
      spec: instance.spec,
      launchedAt: instance.firstLaunchedAt,
    };
  }

  private move(instance: MutableInstance, state: Ec2State): void {
    instance.state = state;
    instance.stateChangedAt = this.clock.now();
  }

  private mustGet(instanceId: string): MutableInstance {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) throw new Error(`no instance ${instanceId}`);
    return instance;
  }

  private zoneOf(subnetId: string): string {
    const zone = this.subnetZones[subnetId];
    if (zone === undefined) throw new ComputeError(`The subnet ID '${subnetId}' does not exist`);
    return zone;
  }

  private specOf(architecture: Architecture, instanceType: string): string {
    return `${this.images[architecture]}:${this.templateVersion}:${instanceType}`;
  }
}
