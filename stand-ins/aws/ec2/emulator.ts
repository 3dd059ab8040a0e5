/**
 * Ec2Emulator: an EC2 Query API peer on 127.0.0.1 for the real Ec2Compute adapter, the lifecycle
 * handler's tests and the local sandbox. It speaks the protocol as @aws-sdk/client-ec2 does (POST,
 * form-encoded `Action=…&Version=2016-11-15`, XML answers and errors with EC2's HTTP statuses) for the
 * actions in actions.ts, and models what the control plane must cope with:
 * - the instance state machine with timings from /work/shared/REFERENCE.md, scaled by `timeScale`
 *   (0.01 makes a 5 s boot take 50 ms); token buckets refill on the same scaled clock;
 * - throttling: one request bucket per action (mutating 200 refilling 5/s, non-mutating 100 refilling
 *   20/s) and resource buckets (RunInstances 1000 instances refilling 2/s; Stop/TerminateInstances 1000
 *   refilling 20/s), answering RequestLimitExceeded (503) when empty;
 * - capacity faults per instance type, zone, market and operation; instances that never boot;
 *   injected errors; the guest powering off; spot interruptions;
 * - images: an ImageId given to RunInstances or a fleet override is what the instance is built from
 *   (and what DescribeInstances reports); images registered with their architecture (`images`,
 *   `registerImage`) refuse instance types of the other architecture, as EC2 does;
 * - an event per state change (`onEvent`), convertible to EventBridge's JSON with `toEventBridgeEvent`.
 *
 * Times reported to callers (LaunchTime, event times) come from `now`, Date.now by default.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ActionContext, actions, mutatingActions } from './actions.js';
import type { Ec2EmulatorEvent } from './eventbridge.js';
import { QueryParams } from './query.js';
import { type BucketConfig, TokenBucket } from './token-bucket.js';
import {
  type CapacitySelector,
  defaultTimings,
  Ec2Fault,
  type Ec2State,
  type EmulatedInstance,
  type ImageArchitecture,
  type InstanceUsage,
  type LaunchTemplateVersionData,
  type Market,
  type ShutdownBehavior,
  type Timings,
  World,
} from './world.js';
import { errorXml, successXml } from './xml.js';

export type Ec2Action = keyof typeof actions;

export interface Ec2EmulatorOptions {
  /** Multiplies every emulated duration (timings, latency, bucket refill periods). Default 1. */
  readonly timeScale?: number;
  readonly timings?: Partial<Timings>;
  /** Extra response delay per action in emulated ms (see `referenceLatencyMs`). Default none. */
  readonly latencyMs?: Partial<Record<Ec2Action, number>>;
  /** Subnet id → availability zone. */
  readonly subnets?: Readonly<Record<string, string>>;
  readonly launchTemplates?: readonly LaunchTemplateSeed[];
  /** AMI id → architecture: launches of these images are checked against the instance type's. */
  readonly images?: Readonly<Record<string, ImageArchitecture>>;
  /** AMI id → root snapshot size in GiB: a smaller root volume is refused (InvalidBlockDeviceMapping). */
  readonly imageRootGb?: Readonly<Record<string, number>>;
  /** `false` turns throttling off; otherwise bucket overrides by name (an action, or `resource:<action>`). */
  readonly throttling?: false | Readonly<Record<string, BucketConfig>>;
  readonly now?: () => number;
  readonly port?: number;
}

/** API latencies from /work/shared/REFERENCE.md, for a sandbox that should feel like EC2. */
export const referenceLatencyMs: Partial<Record<Ec2Action, number>> = {
  RunInstances: 3_000,
  CreateFleet: 3_000,
  StartInstances: 1_900,
};

export const defaultSubnets: Readonly<Record<string, string>> = {
  'subnet-0a000000000000001': 'us-east-1a',
  'subnet-0b000000000000002': 'us-east-1b',
  'subnet-0c000000000000003': 'us-east-1c',
};

export interface LaunchTemplateSeed {
  readonly id: string;
  readonly name: string;
  readonly versions: readonly LaunchTemplateVersionData[];
  readonly defaultVersion?: number;
}

export const defaultLaunchTemplate: LaunchTemplateSeed = {
  id: 'lt-0123456789abcdef0',
  name: 'wpr-runner',
  versions: [{ imageId: 'ami-0123456789abcdef0', shutdownBehavior: 'stop' }],
};

const nonMutatingBucket: BucketConfig = { capacity: 100, refillPerSecond: 20 };
const mutatingBucket: BucketConfig = { capacity: 200, refillPerSecond: 5 };
const resourceBuckets: Readonly<Record<string, BucketConfig>> = {
  'resource:RunInstances': { capacity: 1000, refillPerSecond: 2 },
  'resource:StopInstances': { capacity: 1000, refillPerSecond: 20 },
  'resource:TerminateInstances': { capacity: 1000, refillPerSecond: 20 },
};

export interface CallRecord {
  readonly action: string;
  readonly at: number;
  readonly params: Readonly<Record<string, string>>;
  /** The error code answered, if any. */
  readonly error?: string;
}

/** An instance as tests inspect it. */
export interface InstanceView {
  readonly id: string;
  readonly state: Ec2State;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly imageId: string;
  readonly market: Market;
  readonly shutdownBehavior: ShutdownBehavior;
  readonly tags: Readonly<Record<string, string>>;
  readonly volumeTags: Readonly<Record<string, string>>;
  readonly volumeSizeGb: number | undefined;
  readonly volumeEncrypted: boolean;
  readonly publicIpAddress: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly clientToken: string | undefined;
  readonly launchTemplate: { id: string; version: number } | undefined;
  readonly fleetId: string | undefined;
  readonly launchTime: number;
  readonly stuckInPending: boolean;
}

export interface InjectedError {
  readonly code: string;
  readonly message?: string;
  readonly status?: number;
  /** Do the work, then answer with the error: a response lost after EC2 acted. */
  readonly afterProcessing?: boolean;
}

export class Ec2Emulator {
  readonly url: string;
  private readonly world: World;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly bucketOverrides: Readonly<Record<string, BucketConfig>>;
  private readonly injected = new Map<string, InjectedError[]>();
  private readonly log: CallRecord[] = [];
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(
    private readonly server: Server,
    port: number,
    private readonly options: Ec2EmulatorOptions,
    world: World,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.world = world;
    this.bucketOverrides = options.throttling === false ? {} : (options.throttling ?? {});
  }

  static async start(options: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
    const now = options.now ?? Date.now;
    const world = new World({ ...defaultTimings, ...options.timings }, options.timeScale ?? 1, now);
    for (const [subnet, zone] of Object.entries(options.subnets ?? defaultSubnets))
      world.subnets.set(subnet, zone);
    for (const t of options.launchTemplates ?? [defaultLaunchTemplate])
      world.templates.push({
        id: t.id,
        name: t.name,
        versions: [...t.versions],
        defaultVersion: t.defaultVersion ?? 1,
        createdAt: now(),
      });
    for (const [imageId, architecture] of Object.entries(options.images ?? {}))
      world.images.set(imageId, architecture);
    for (const [imageId, sizeGb] of Object.entries(options.imageRootGb ?? {}))
      world.imageRootGb.set(imageId, sizeGb);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const emulator = new Ec2Emulator(server, (server.address() as AddressInfo).port, options, world);
    server.on('request', (req, res) => void emulator.handle(req, res));
    server.on('connection', (socket) => {
      emulator.sockets.add(socket);
      socket.on('close', () => emulator.sockets.delete(socket));
    });
    return emulator;
  }

  async close(): Promise<void> {
    this.world.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // ---- events ----

  /** Every state change and spot warning, in order. Returns an unsubscribe function. */
  onEvent(listener: (event: Ec2EmulatorEvent) => void): () => void {
    return this.world.onEvent(listener);
  }

  /** Resolves once the instance is in `state` (at once if it already is). */
  waitForState(instanceId: string, state: Ec2State): Promise<void> {
    if (this.world.instances.get(instanceId)?.state === state) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.world.onEvent((event) => {
        if (event.kind === 'state-change' && event.instanceId === instanceId && event.state === state) {
          off();
          resolve();
        }
      });
    });
  }

  // ---- faults ----

  exhaustCapacity(selector: CapacitySelector = {}): void {
    this.world.exhaustCapacity(selector);
  }

  /** Removes the rules equal to the selector, or all of them. */
  restoreCapacity(selector?: CapacitySelector): void {
    this.world.restoreCapacity(selector);
  }

  /** Instances launched or started from now on that match never leave pending on their own. */
  neverBoot(selector: Omit<CapacitySelector, 'operation'> = {}): void {
    this.world.neverBootMatching(selector);
  }

  /** The next `times` calls of `action` fail with this error (before any other processing). */
  failNext(action: Ec2Action, error: InjectedError, times = 1): void {
    const queue = this.injected.get(action) ?? [];
    for (let n = 0; n < times; n++) queue.push(error);
    this.injected.set(action, queue);
  }

  /** Replaces a bucket (an action's request bucket, or `resource:<action>`); `tokens` sets its level. */
  configureBucket(name: string, config: BucketConfig, tokens?: number): void {
    this.bucket(name).reconfigure(config, this.scaledNow(), tokens);
  }

  bucketLevel(name: string): number {
    return this.bucket(name).available(this.scaledNow());
  }

  // ---- the guest and the timers ----

  /** Runs the instance's pending timed transition now (or lets a never-booting one boot). */
  settle(instanceId: string): boolean {
    return this.world.settle(instanceId);
  }

  settleAll(): void {
    this.world.settleAll();
  }

  /** The OS shuts down: stopped, or terminated when the shutdown behaviour is terminate. */
  guestPowerOff(instanceId: string): void {
    const instance = this.world.mustGet(instanceId);
    if (instance.state !== 'running')
      throw new Error(`guestPowerOff: ${instanceId} is ${instance.state}, not running`);
    const reason = {
      code: 'Client.InstanceInitiatedShutdown',
      message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
    };
    if (instance.shutdownBehavior === 'terminate') this.world.terminate(instance, '', reason);
    else this.world.stop(instance, '', reason);
  }

  /** The guest tags its own instance, as the agent does with CreateTags before a failed power-off. */
  guestTag(instanceId: string, key: string, value: string): void {
    this.world.mustGet(instanceId).tags.set(key, value);
  }

  /** EC2 reclaims a spot instance: the two-minute warning, then termination. */
  interruptSpot(instanceId: string): void {
    const instance = this.world.mustGet(instanceId);
    if (instance.market !== 'spot') throw new Error(`interruptSpot: ${instanceId} is not a spot instance`);
    this.world.emit({ kind: 'spot-interruption-warning', instanceId, at: this.world.now() });
    this.world.schedule(instance, this.world.timings.spotWarningMs, () =>
      this.world.terminate(instance, 'Server.SpotInstanceTermination', {
        code: 'Server.SpotInstanceTermination',
        message: 'Server.SpotInstanceTermination: Spot instance termination',
      }),
    );
  }

  /** A new launch template version; returns its number. It becomes the default when `makeDefault`. */
  publishLaunchTemplateVersion(
    template: string,
    data: LaunchTemplateVersionData,
    makeDefault = false,
  ): number {
    const found = this.world.template(template.startsWith('lt-') ? { id: template } : { name: template });
    found.versions.push(data);
    if (makeDefault) found.defaultVersion = found.versions.length;
    return found.versions.length;
  }

  /** From now on, launches of `imageId` need an instance type of `architecture` (an image built by hand). */
  registerImage(imageId: string, architecture: ImageArchitecture, rootSnapshotGb?: number): void {
    this.world.images.set(imageId, architecture);
    if (rootSnapshotGb !== undefined) this.world.imageRootGb.set(imageId, rootSnapshotGb);
  }

  /** EC2 stops offering (or never offered) the type in the zone: launches there are `Unsupported`. */
  withdrawOffering(instanceType: string, availabilityZone: string): void {
    this.world.unoffered.add(`${instanceType}|${availabilityZone}`);
  }

  addSubnet(subnetId: string, availabilityZone: string): void {
    this.world.subnets.set(subnetId, availabilityZone);
  }

  /** An instance created outside the API under test (another team's, or launched by hand). */
  seedInstance(seed: {
    instanceType: string;
    subnetId: string;
    state?: Ec2State;
    market?: Market;
    tags?: Record<string, string>;
    shutdownBehavior?: ShutdownBehavior;
    imageId?: string;
  }): InstanceView {
    const instance = this.world.create({
      reservationId: this.world.nextId('r'),
      imageId: seed.imageId ?? defaultLaunchTemplate.versions[0]?.imageId ?? 'ami-0123456789abcdef0',
      instanceType: seed.instanceType,
      subnetId: seed.subnetId,
      market: seed.market ?? 'on-demand',
      shutdownBehavior: seed.shutdownBehavior ?? 'stop',
      tags: new Map(Object.entries(seed.tags ?? {})),
      state: seed.state ?? 'running',
    });
    return view(instance);
  }

  // ---- inspection ----

  instance(instanceId: string): InstanceView | undefined {
    const instance = this.world.instances.get(instanceId);
    return instance === undefined ? undefined : view(instance);
  }

  /** What EC2 bills each instance ever created for (its running time, a minute at least per run). */
  usage(): InstanceUsage[] {
    return [...this.world.instances.values()].map((instance) => this.world.usage(instance));
  }

  /** Every instance ever created, terminated ones included, in creation order. */
  instances(): InstanceView[] {
    return [...this.world.instances.values()].map(view);
  }

  calls(action?: string): readonly CallRecord[] {
    return action === undefined ? [...this.log] : this.log.filter((c) => c.action === action);
  }

  callCount(action: string): number {
    return this.calls(action).length;
  }

  /** Calls per action, failed ones included. */
  callCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const call of this.log) counts[call.action] = (counts[call.action] ?? 0) + 1;
    return counts;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = QueryParams.parse(Buffer.concat(chunks).toString('utf8'));
    const action = params.get('Action') ?? '';
    try {
      if (req.method !== 'POST')
        throw new Ec2Fault('InvalidAction', 'EC2 Query requests must be POSTed here');
      const latency = this.options.latencyMs?.[action as Ec2Action];
      if (latency !== undefined && latency > 0)
        await new Promise((resolve) => setTimeout(resolve, latency * this.world.timeScale));
      const handler = actions[action];
      if (handler === undefined)
        throw new Ec2Fault(
          'InvalidAction',
          `The action ${action || '(none)'} is not valid for this web service.`,
        );
      const injected = this.injected.get(action)?.shift();
      const injectedFault =
        injected === undefined
          ? undefined
          : new Ec2Fault(
              injected.code,
              injected.message ?? `Injected ${injected.code}`,
              injected.status ?? 400,
            );
      if (injectedFault !== undefined && injected?.afterProcessing !== true) throw injectedFault;
      this.throttle(action);
      const context: ActionContext = {
        world: this.world,
        params,
        takeResource: (bucket, min, max) => this.takeResource(bucket, min, max),
      };
      const body = handler(context);
      if (injectedFault !== undefined) throw injectedFault;
      this.log.push({ action, at: this.world.now(), params: params.toRecord() });
      this.reply(res, 200, successXml(action, requestId, body));
    } catch (error) {
      const fault =
        error instanceof Ec2Fault
          ? error
          : new Ec2Fault('InternalError', 'An internal error has occurred', 500);
      if (!(error instanceof Ec2Fault)) console.error('ec2 emulator fault', error);
      this.log.push({ action, at: this.world.now(), params: params.toRecord(), error: fault.code });
      this.reply(res, fault.status, errorXml(fault.code, fault.message, requestId));
    }
  }

  private reply(res: ServerResponse, status: number, xml: string): void {
    res.writeHead(status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': Buffer.byteLength(xml),
    });
    res.end(xml);
  }

  private throttle(action: string): void {
    if (this.options.throttling === false) return;
    if (!this.bucket(action).take(1, this.scaledNow())) throw requestLimitExceeded();
  }

  private takeResource(action: string, min: number, max: number): number {
    if (this.options.throttling === false || max === 0) return max;
    const taken = this.bucket(`resource:${action}`).takeBetween(min, max, this.scaledNow());
    if (taken === 0) throw requestLimitExceeded();
    return taken;
  }

  private bucket(name: string): TokenBucket {
    let bucket = this.buckets.get(name);
    if (bucket === undefined) {
      const config =
        this.bucketOverrides[name] ??
        resourceBuckets[name] ??
        (mutatingActions.has(name) ? mutatingBucket : nonMutatingBucket);
      bucket = new TokenBucket(config, this.scaledNow());
      this.buckets.set(name, bucket);
    }
    return bucket;
  }

  /** Wall time divided by the scale: at 0.01, a real 10 ms is an emulated second. */
  private scaledNow(): number {
    return performance.now() / this.world.timeScale;
  }
}

function requestLimitExceeded(): Ec2Fault {
  return new Ec2Fault('RequestLimitExceeded', 'Request limit exceeded.', 503);
}

function view(i: EmulatedInstance): InstanceView {
  return {
    id: i.id,
    state: i.state,
    instanceType: i.instanceType,
    subnetId: i.subnetId,
    availabilityZone: i.availabilityZone,
    imageId: i.imageId,
    market: i.market,
    shutdownBehavior: i.shutdownBehavior,
    tags: Object.fromEntries(i.tags),
    volumeTags: Object.fromEntries(i.volumeTags),
    volumeSizeGb: i.volumeSizeGb,
    volumeEncrypted: i.volumeEncrypted,
    publicIpAddress: i.publicIpAddress,
    securityGroupIds: i.securityGroupIds,
    clientToken: i.clientToken,
    launchTemplate: i.launchTemplate,
    fleetId: i.fleetId,
    launchTime: i.launchTime,
    stuckInPending: i.stuck,
  };
}
