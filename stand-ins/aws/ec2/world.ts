/**
 * The emulated account's EC2 state: instances and their state machine, subnets, launch templates,
 * capacity, client tokens. No protocol here (see actions.ts); the HTTP server is in emulator.ts.
 *
 * State machine (as EC2): pending → running → stopping → stopped → pending …, and any live state →
 * shutting-down → terminated. Timed transitions run on timers scaled by `timeScale`; `settle` runs a
 * pending one at once. An instance that "never boots" stays in pending until settled or terminated.
 * Every state change is emitted to the listeners, in order.
 *
 * Billing, as EC2 bills Linux: an instance's usage runs from each `running` until it leaves `running`
 * (stopping or shutting-down: neither is billed), per second with a minimum of one minute per run.
 * `usage` is what Cost Explorer would later show; real EC2 has no API for it.
 *
 * Images: any well-formed AMI id launches (the emulator does not model image existence), except that an
 * image registered with its architecture launches only on instance types of that architecture, as EC2
 * refuses an arm64 AMI on an x86 type and the reverse.
 */
import type { Ec2EmulatorEvent } from './eventbridge.js';

export type Ec2State = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
export type Market = 'on-demand' | 'spot';
export type ShutdownBehavior = 'stop' | 'terminate';
/** An AMI's or an instance type's architecture, as EC2 names it. */
export type ImageArchitecture = 'x86_64' | 'arm64';

export const stateCodes: Readonly<Record<Ec2State, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface EmulatedInstance {
  readonly id: string;
  readonly reservationId: string;
  readonly imageId: string;
  instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  state: Ec2State;
  stateReason: { code: string; message: string } | undefined;
  stateTransitionReason: string;
  /** Epoch ms; reset by every start, as EC2 reports it. */
  launchTime: number;
  stateChangedAt: number;
  readonly market: Market;
  readonly shutdownBehavior: ShutdownBehavior;
  readonly tags: Map<string, string>;
  readonly volumeTags: Map<string, string>;
  readonly volumeSizeGb: number | undefined;
  /** Whether the root volume is encrypted (the request's mapping, else the template's). */
  readonly volumeEncrypted: boolean;
  /** A public IPv4 address, when interface 0 asked for one. */
  readonly publicIpAddress: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly clientToken: string | undefined;
  readonly launchTemplate: { id: string; version: number } | undefined;
  readonly fleetId: string | undefined;
  readonly spotInstanceRequestId: string | undefined;
  /** Never leaves pending on its own. */
  stuck: boolean;
  /** Each time it was running: from entering `running` to leaving it (open while still running). */
  readonly runs: { from: number; to?: number }[];
}

/** What EC2 bills an instance for: its runs, each at least a minute, in whole seconds. */
export interface InstanceUsage {
  readonly instanceId: string;
  readonly market: Market;
  readonly instanceType: string;
  readonly runs: readonly { readonly from: number; readonly to?: number; readonly billedSeconds: number }[];
  readonly billedSeconds: number;
}

/** Which capacity is missing; an absent field matches everything. */
export interface CapacitySelector {
  readonly instanceType?: string;
  readonly availabilityZone?: string;
  readonly market?: Market;
  readonly operation?: 'start' | 'launch';
}

/** A network interface as a launch template or a RunInstances request describes it. */
export interface NetworkInterfaceSpec {
  readonly deviceIndex: number;
  readonly subnetId?: string;
  readonly groups?: readonly string[];
  readonly associatePublicIpAddress?: boolean;
  readonly deleteOnTermination?: boolean;
}

export interface LaunchTemplateVersionData {
  readonly imageId: string;
  readonly instanceType?: string;
  readonly shutdownBehavior?: ShutdownBehavior;
  /** Instance-level security groups (a template without network interfaces). */
  readonly securityGroupIds?: readonly string[];
  /** A template in public-IP mode carries its groups and the public address on interface 0. */
  readonly networkInterfaces?: readonly NetworkInterfaceSpec[];
  /** The root volume's encryption as the template sets it. */
  readonly rootVolumeEncrypted?: boolean;
}

export interface LaunchTemplate {
  readonly id: string;
  readonly name: string;
  readonly versions: LaunchTemplateVersionData[];
  defaultVersion: number;
  readonly createdAt: number;
}

export interface Timings {
  /** pending → running. */
  readonly pendingMs: number;
  /** stopping → stopped. */
  readonly stoppingMs: number;
  /** shutting-down → terminated. */
  readonly shuttingDownMs: number;
  /** From the spot interruption warning to the instance shutting down (EC2 gives two minutes). */
  readonly spotWarningMs: number;
  /** How long a terminated instance stays visible to Describe calls (about an hour on EC2). */
  readonly terminatedVisibleMs: number;
}

/** From /work/shared/REFERENCE.md: pending → running ~5 s; stop and termination take a few seconds. */
export const defaultTimings: Timings = {
  pendingMs: 5_000,
  stoppingMs: 3_000,
  shuttingDownMs: 3_000,
  spotWarningMs: 120_000,
  terminatedVisibleMs: 3_600_000,
};

export interface NewInstance {
  readonly reservationId: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly market: Market;
  readonly shutdownBehavior: ShutdownBehavior;
  readonly tags?: ReadonlyMap<string, string>;
  readonly volumeTags?: ReadonlyMap<string, string>;
  readonly volumeSizeGb?: number;
  readonly volumeEncrypted?: boolean;
  readonly publicIp?: boolean;
  readonly securityGroupIds?: readonly string[];
  readonly clientToken?: string;
  readonly launchTemplate?: { id: string; version: number };
  readonly fleetId?: string;
  readonly state?: Ec2State;
}

export class Ec2Fault extends Error {
  override readonly name = 'Ec2Fault';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export class World {
  readonly instances = new Map<string, EmulatedInstance>();
  readonly subnets = new Map<string, string>();
  readonly templates: LaunchTemplate[] = [];
  /** AMI id → architecture, for the images whose architecture launches are checked against. */
  readonly images = new Map<string, ImageArchitecture>();
  /** AMI id → size of its root snapshot in GiB: a smaller root volume is refused, as EC2 does. */
  readonly imageRootGb = new Map<string, number>();
  /** `type|zone` pairs EC2 does not offer (a type not yet in a zone): launches there are Unsupported. */
  readonly unoffered = new Set<string>();
  /** Client token → what the first request with it did. */
  readonly tokens = new Map<string, { fingerprint: string; result: unknown }>();
  private readonly noCapacity: CapacitySelector[] = [];
  private readonly neverBoot: Omit<CapacitySelector, 'operation'>[] = [];
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; run: () => void }>();
  private readonly listeners = new Set<(event: Ec2EmulatorEvent) => void>();
  private counter = 0;
  private closed = false;

  constructor(
    readonly timings: Timings,
    readonly timeScale: number,
    readonly now: () => number,
  ) {}

  nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}-0${this.counter.toString(16).padStart(16, '0')}`;
  }

  zoneOf(subnetId: string): string {
    const zone = this.subnets.get(subnetId);
    if (zone === undefined)
      throw new Ec2Fault('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    return zone;
  }

  // ---- capacity ----

  exhaustCapacity(selector: CapacitySelector): void {
    this.noCapacity.push({ ...selector });
  }

  restoreCapacity(selector?: CapacitySelector): void {
    if (selector === undefined) {
      this.noCapacity.length = 0;
      return;
    }
    for (let i = this.noCapacity.length - 1; i >= 0; i--)
      if (sameSelector(this.noCapacity[i], selector)) this.noCapacity.splice(i, 1);
  }

  hasCapacity(wanted: Required<CapacitySelector>): boolean {
    return !this.noCapacity.some((rule) => matches(rule, wanted));
  }

  capacityFault(instanceType: string, availabilityZone: string): Ec2Fault {
    const others = [...new Set(this.subnets.values())].filter((z) => z !== availabilityZone).sort();
    return new Ec2Fault(
      'InsufficientInstanceCapacity',
      `We currently do not have sufficient ${instanceType} capacity in the Availability Zone you requested ` +
        `(${availabilityZone}). Our system will be working on provisioning additional capacity. You can ` +
        `currently get ${instanceType} capacity by not specifying an Availability Zone in your request or ` +
        `choosing ${others.join(', ')}.`,
      // EC2 sends capacity errors with a 500, so SDKs classify them as retryable server errors.
      500,
    );
  }

  neverBootMatching(selector: Omit<CapacitySelector, 'operation'>): void {
    this.neverBoot.push({ ...selector });
  }

  // ---- images ----

  /** A malformed AMI id fails the request as EC2 fails it (InvalidAMIID.Malformed). */
  checkImageId(imageId: string): void {
    if (imageId.startsWith('resolve:ssm:'))
      throw new Ec2Fault(
        'InvalidParameterValue',
        `This emulator does not resolve Systems Manager parameters (${imageId}); pass an AMI id`,
      );
    if (!/^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(imageId))
      throw new Ec2Fault('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
  }

  /** EC2's refusal of a registered image on an instance type of another architecture, if it is one. */
  architectureMismatch(imageId: string, instanceType: string): Ec2Fault | undefined {
    const imageArchitecture = this.images.get(imageId);
    const typeArchitecture = architectureOfType(instanceType);
    if (imageArchitecture === undefined || imageArchitecture === typeArchitecture) return undefined;
    return new Ec2Fault(
      'InvalidParameterValue',
      `The architecture '${typeArchitecture}' of the specified instance type does not match the ` +
        `architecture '${imageArchitecture}' of the specified AMI. Specify an instance type and an AMI ` +
        `that have matching architectures, and try again. You can use 'describe-instance-types' or ` +
        `'describe-images' to discover the architecture of the instance type or AMI.`,
    );
  }

  /** EC2's refusal of a root volume smaller than the image's snapshot. */
  checkRootVolume(imageId: string, volumeSizeGb: number | undefined): void {
    const snapshotGb = this.imageRootGb.get(imageId);
    if (snapshotGb === undefined || volumeSizeGb === undefined || volumeSizeGb >= snapshotGb) return;
    throw new Ec2Fault(
      'InvalidBlockDeviceMapping',
      // Two spaces before "snapshot", as EC2 writes it.
      `Volume of size ${volumeSizeGb}GB is smaller than  snapshot '${snapshotOf(imageId)}', expect size >= ${snapshotGb}GB`,
    );
  }

  // ---- instance type offerings ----

  isOffered(instanceType: string, availabilityZone: string): boolean {
    return !this.unoffered.has(`${instanceType}|${availabilityZone}`);
  }

  /** EC2's answer to a type it does not offer in the zone (HTTP 400, not a capacity error). */
  unsupportedFault(instanceType: string, availabilityZone: string): Ec2Fault {
    const others = [...new Set(this.subnets.values())]
      .filter((z) => z !== availabilityZone && this.isOffered(instanceType, z))
      .sort();
    return new Ec2Fault(
      'Unsupported',
      `Your requested instance type (${instanceType}) is not supported in your requested Availability Zone ` +
        `(${availabilityZone}). Please retry your request by not specifying an Availability Zone or choosing ` +
        `${others.join(', ')}.`,
    );
  }

  // ---- launch templates ----

  template(by: { id?: string; name?: string }): LaunchTemplate {
    const template = this.templates.find((t) => (by.id !== undefined ? t.id === by.id : t.name === by.name));
    if (template !== undefined) return template;
    if (by.id !== undefined)
      throw new Ec2Fault(
        'InvalidLaunchTemplateId.NotFound',
        `The specified launch template, with template ID ${by.id}, does not exist.`,
      );
    throw new Ec2Fault(
      'InvalidLaunchTemplateName.NotFoundException',
      `The specified launch template, with template name ${by.name ?? ''}, does not exist.`,
    );
  }

  /** `$Latest`, `$Default`, a number, or absent (the default version). */
  templateVersion(
    template: LaunchTemplate,
    version: string | undefined,
  ): [number, LaunchTemplateVersionData] {
    const number =
      version === undefined || version === '$Default'
        ? template.defaultVersion
        : version === '$Latest'
          ? template.versions.length
          : Number(version);
    const data = template.versions[number - 1];
    if (data === undefined || !Number.isInteger(number))
      throw new Ec2Fault(
        'InvalidLaunchTemplateId.VersionNotFound',
        `Could not find launch template version ${version ?? ''} for template ${template.id}`,
      );
    return [number, data];
  }

  // ---- instances ----

  private publicIp(): string {
    this.counter += 1;
    // 198.51.100.0/24 is documentation space: nothing real answers there.
    return `198.51.100.${this.counter % 250}`;
  }

  get(instanceId: string): EmulatedInstance | undefined {
    const instance = this.instances.get(instanceId);
    if (instance === undefined || this.expired(instance)) return undefined;
    return instance;
  }

  /** Instances as Describe calls see them: long-terminated ones are gone. */
  visible(): EmulatedInstance[] {
    return [...this.instances.values()].filter((i) => !this.expired(i));
  }

  mustGet(instanceId: string): EmulatedInstance {
    const instance = this.get(instanceId);
    if (instance === undefined) throw notFound([instanceId]);
    return instance;
  }

  create(spec: NewInstance): EmulatedInstance {
    const now = this.now();
    const availabilityZone = this.zoneOf(spec.subnetId);
    const instance: EmulatedInstance = {
      id: this.nextId('i'),
      reservationId: spec.reservationId,
      imageId: spec.imageId,
      instanceType: spec.instanceType,
      subnetId: spec.subnetId,
      availabilityZone,
      state: spec.state ?? 'pending',
      stateReason: undefined,
      stateTransitionReason: '',
      launchTime: now,
      stateChangedAt: now,
      market: spec.market,
      shutdownBehavior: spec.shutdownBehavior,
      tags: new Map(spec.tags ?? []),
      volumeTags: new Map(spec.volumeTags ?? []),
      volumeSizeGb: spec.volumeSizeGb,
      volumeEncrypted: spec.volumeEncrypted ?? false,
      publicIpAddress: spec.publicIp === true ? this.publicIp() : undefined,
      securityGroupIds: [...(spec.securityGroupIds ?? [])],
      clientToken: spec.clientToken,
      launchTemplate: spec.launchTemplate,
      fleetId: spec.fleetId,
      spotInstanceRequestId: spec.market === 'spot' ? this.nextId('sir') : undefined,
      stuck: false,
      runs: spec.state === 'running' ? [{ from: now }] : [],
    };
    this.instances.set(instance.id, instance);
    this.emit({
      kind: 'state-change',
      instanceId: instance.id,
      state: instance.state,
      previousState: undefined,
      at: now,
    });
    if (instance.state === 'pending') this.enterPending(instance);
    return instance;
  }

  /** A stopped instance starts: it is pending again, with a new LaunchTime. */
  start(instance: EmulatedInstance): void {
    instance.launchTime = this.now();
    this.move(instance, 'pending', '', undefined);
    this.enterPending(instance);
  }

  stop(instance: EmulatedInstance, reason: string, stateReason: { code: string; message: string }): void {
    this.move(instance, 'stopping', reason, stateReason);
    this.schedule(instance, this.timings.stoppingMs, () =>
      this.move(instance, 'stopped', reason, stateReason),
    );
  }

  terminate(
    instance: EmulatedInstance,
    reason: string,
    stateReason: { code: string; message: string },
  ): void {
    this.move(instance, 'shutting-down', reason, stateReason);
    this.schedule(instance, this.timings.shuttingDownMs, () =>
      this.move(instance, 'terminated', reason, stateReason),
    );
  }

  /** Runs the instance's pending timed transition now. Returns whether there was one. */
  settle(instanceId: string): boolean {
    const entry = this.timers.get(instanceId);
    const instance = this.instances.get(instanceId);
    if (entry === undefined) {
      // A stuck instance has no timer; settling it is the test saying "now it boots".
      if (instance?.state === 'pending' && instance.stuck) {
        instance.stuck = false;
        this.move(instance, 'running', '', undefined);
        return true;
      }
      return false;
    }
    clearTimeout(entry.timer);
    this.timers.delete(instanceId);
    entry.run();
    return true;
  }

  /** The instance's billed usage so far (an open run counts up to now). */
  usage(instance: EmulatedInstance): InstanceUsage {
    const runs = instance.runs.map((run) => {
      const seconds = Math.round(((run.to ?? this.now()) - run.from) / 1000);
      return { ...run, billedSeconds: Math.max(60, seconds) };
    });
    return {
      instanceId: instance.id,
      market: instance.market,
      instanceType: instance.instanceType,
      runs,
      billedSeconds: runs.reduce((n, r) => n + r.billedSeconds, 0),
    };
  }

  /** Brings every timed transition to its end, including ones the first round starts. */
  settleAll(): void {
    for (let round = 0; round < 5 && this.timers.size > 0; round++)
      for (const id of [...this.timers.keys()]) this.settle(id);
  }

  onEvent(listener: (event: Ec2EmulatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: Ec2EmulatorEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  /** Schedules `run` after `ms` of emulated time; replaces the instance's pending transition. */
  schedule(instance: EmulatedInstance, ms: number, run: () => void): void {
    const previous = this.timers.get(instance.id);
    if (previous !== undefined) clearTimeout(previous.timer);
    if (this.closed) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(instance.id);
        run();
      },
      Math.max(0, ms * this.timeScale),
    );
    timer.unref();
    this.timers.set(instance.id, { timer, run });
  }

  close(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.listeners.clear();
  }

  move(
    instance: EmulatedInstance,
    state: Ec2State,
    transitionReason: string,
    stateReason: { code: string; message: string } | undefined,
  ): void {
    const previousState = instance.state;
    instance.state = state;
    instance.stateTransitionReason = transitionReason;
    instance.stateReason = stateReason;
    instance.stateChangedAt = this.now();
    const open = instance.runs.at(-1);
    if (state === 'running' && previousState !== 'running')
      instance.runs.push({ from: instance.stateChangedAt });
    else if (
      previousState === 'running' &&
      state !== 'running' &&
      open !== undefined &&
      open.to === undefined
    )
      open.to = instance.stateChangedAt;
    if (state !== 'pending') instance.stuck = false;
    this.emit({
      kind: 'state-change',
      instanceId: instance.id,
      state,
      previousState,
      at: instance.stateChangedAt,
    });
  }

  private enterPending(instance: EmulatedInstance): void {
    const wanted = {
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      market: instance.market,
    };
    if (this.neverBoot.some((rule) => matches(rule, { ...wanted, operation: 'launch' }))) {
      instance.stuck = true;
      return;
    }
    this.schedule(instance, this.timings.pendingMs, () => this.move(instance, 'running', '', undefined));
  }

  private expired(instance: EmulatedInstance): boolean {
    return (
      instance.state === 'terminated' &&
      this.now() - instance.stateChangedAt > this.timings.terminatedVisibleMs * this.timeScale
    );
  }
}

/** Graviton families carry a `g` after the generation (m7g, c7gn, t4g), and a1 is Graviton too. */
export function architectureOfType(instanceType: string): ImageArchitecture {
  return /^([a-z]+\d+g[a-z]*|a1)\./.test(instanceType) ? 'arm64' : 'x86_64';
}

/** A stable snapshot id for an image, for error messages. */
function snapshotOf(imageId: string): string {
  return `snap-${imageId.slice(4).padEnd(17, '0')}`;
}

export function notFound(ids: readonly string[]): Ec2Fault {
  return ids.length === 1
    ? new Ec2Fault('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`)
    : new Ec2Fault('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`);
}

function matches(rule: CapacitySelector, wanted: Required<CapacitySelector>): boolean {
  return (
    (rule.instanceType === undefined || rule.instanceType === wanted.instanceType) &&
    (rule.availabilityZone === undefined || rule.availabilityZone === wanted.availabilityZone) &&
    (rule.market === undefined || rule.market === wanted.market) &&
    (rule.operation === undefined || rule.operation === wanted.operation)
  );
}

function sameSelector(a: CapacitySelector | undefined, b: CapacitySelector): boolean {
  return (
    a !== undefined &&
    a.instanceType === b.instanceType &&
    a.availabilityZone === b.availabilityZone &&
    a.market === b.market &&
    a.operation === b.operation
  );
}
