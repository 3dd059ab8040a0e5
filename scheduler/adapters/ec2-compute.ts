/**
 * Ec2Compute: the Compute port on the EC2 API.
 *
 * - Pool launches: RunInstances from the launch template (pinned to the version the spec names) with the
 *   image of the pool's architecture, on-demand, stop on shutdown, the pool's volume size, tags on
 *   instance and volume. `count` is spread round-robin over the subnets, one call per subnet; each subnet
 *   tries the pool's types in order and a subnet with no capacity for any of them is skipped (the tuner
 *   tops up on its next run).
 * - Ephemeral spot: one CreateFleet of type instant, price-capacity-optimized, over types × subnets,
 *   each override naming the image; the request's token is the fleet's client token. One-time spot
 *   from a fleet always terminates.
 * - Network: a template with a network interface (public-IP mode: groups and the public address on
 *   interface 0) makes EC2 refuse an instance-level subnet (InvalidParameterCombination), so each
 *   RunInstances then carries a copy of that interface with its subnet; fleets merge an override's
 *   subnet into the template's interface themselves.
 * - Volumes: every launch sizes the root volume, and a mapping given at launch replaces the
 *   template's, so it always says `Encrypted: true` (the IAM policy refuses unencrypted volumes).
 * - `Unsupported` (a type not offered in a zone) is a refusal like no capacity: the next type or
 *   zone is tried.
 * - Hot runners carry the agent's idle bound (`wpr:max-idle-seconds`): in the launch's tags, or with one
 *   CreateTags once StartInstances accepted a pool instance's start.
 * - Ephemeral on-demand: RunInstances over types × subnets (type-major) with terminate on shutdown,
 *   not CreateFleet, because a fleet takes its shutdown behaviour from the launch template, which says
 *   stop for the pool; RunInstances can say terminate.
 *
 * Images: one launch template serves every pool, and its own image is the x64 one, so every launch
 * names the image of its pool's architecture (`images`). An image given as an SSM parameter (the
 * pipeline's `<prefix>/ami/<arch>`) is read here with GetParameter and passed as a concrete AMI id,
 * although RunInstances and instant-fleet overrides would also take `resolve:ssm:<name>`: the spec must
 * name the AMI an instance is really built from. With `resolve:ssm:` EC2 would resolve the parameter at
 * launch, after the spec was read, so an image published in between would launch under the old spec
 * (and be rolled for nothing) or a stale spec would be tagged as current. Read here, one value serves
 * both the launch and its spec, `currentSpec` changes for the architecture whose image was published
 * and only for it, and the pool tuner rolls exactly those instances. Each parameter is read at most
 * once per `specCacheMs` (Parameter Store allows 40 reads/s per account); a failed read keeps the last
 * AMI id read, so a throttled Parameter Store never stops a launch that already worked once.
 *
 * Idempotency: a retried launch never launches twice. Every RunInstances of one logical launch in one
 * subnet carries the same client token (derived from the request's token and the subnet), whatever type
 * it tries. EC2 answers a repeated token with the original instances, or, when the earlier success was
 * for another type, template version or image, with IdempotentParameterMismatch — then the instances
 * are found with the `client-token` filter. A failed RunInstances records nothing, so trying on is safe.
 *
 * Subnets of a pool launch are launched in parallel; if one fails with a fault, the others' instances
 * are not in the (thrown) outcome, but the same request token finds them again on retry.
 *
 * Errors: throttling is retried by the SDK client (see ec2-client.ts: adaptive mode, capacity errors
 * not retried); capacity and state refusals become outcomes; anything else is a ComputeError with the
 * SDK error as cause. `launchedAt` of a launch is the Clock's time; `listInstances` reports EC2's
 * LaunchTime, which EC2 resets on every start.
 */

import { createHash } from 'node:crypto';
import {
  type _InstanceType,
  CreateFleetCommand,
  type CreateFleetCommandInput,
  type CreateFleetCommandOutput,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  type Instance,
  ModifyInstanceAttributeCommand,
  paginateDescribeInstances,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { PoolConfig } from '../core/pool-config.js';
import type { InstanceRole, Market } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
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
} from '../ports/compute.js';
import { callTimeLeft } from './call-deadline.js';
import { capacityErrorCodes } from './ec2-client.js';
import { spreadOver } from './ec2-spread.js';
import { tagKeys } from './tags.js';

/** A RunInstances takes up to about a second; one is not started with less time left under a deadline. */
const minLaunchCallMs = 1_500;

export type Architecture = PoolConfig['architecture'];

/**
 * Where the image of an architecture comes from: an SSM String parameter holding the AMI id (the image
 * pipeline publishes `<prefix>/ami/<arch>`), or a fixed AMI id.
 */
export type ImageReference = { readonly parameterName: string } | { readonly imageId: string };

export interface Ec2ComputeOptions {
  readonly client: EC2Client;
  readonly launchTemplate: { readonly id: string } | { readonly name: string };
  /** The image every launch of a pool of each architecture uses. */
  readonly images: Readonly<Record<Architecture, ImageReference>>;
  /** Reads the image parameters; required when an image is a parameter. */
  readonly ssm?: SSMClient;
  /** Value of the project tag on everything launched; `listInstances` sees only these. */
  readonly project: string;
  /**
   * This deployment's id, tagged `wpr:deployment` on every launch; `listInstances` reports whether an
   * instance carries it (`launchedHere`). Absent: no tag, and every project instance counts as ours.
   */
  readonly deploymentId?: string;
  readonly clock: Clock;
  /** Subnet → availability zone; subnets not listed are looked up once with DescribeSubnets. */
  readonly subnetZones?: Readonly<Record<string, string>>;
  /** How long the launch template's latest version and each image parameter are trusted. Default one minute. */
  readonly specCacheMs?: number;
  /** The image's root device, whose size the pool sets. Default `/dev/xvda` (Amazon Linux). */
  readonly rootDeviceName?: string;
  /** DescribeInstances page size (5–1000). Default 1000. */
  readonly pageSize?: number;
}

/** What a launch is built from; its spec is `<imageId>:<version>:<instance type>`. */
interface LaunchSpec {
  readonly imageId: string;
  /** The launch template version. */
  readonly version: number;
  /** The template version's interface 0, when it has one (public-IP mode): copied into each launch. */
  readonly networkInterface?: TemplateInterface;
}

/** What a RunInstances interface takes over from the template's interface 0. */
interface TemplateInterface {
  readonly Groups?: string[];
  readonly AssociatePublicIpAddress?: boolean;
  readonly DeleteOnTermination?: boolean;
}

interface TemplateVersion {
  readonly version: number;
  readonly networkInterface?: TemplateInterface;
}

interface Cached<T> {
  value: Promise<T>;
  fetchedAt: number;
}

const amiId = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

const notFoundCodes = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);
const ec2States = new Set<ObservedInstance['state']>([
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
]);

export class Ec2Compute implements Compute {
  private readonly client: EC2Client;
  private readonly clock: Clock;
  private readonly project: string;
  private readonly specCacheMs: number;
  private readonly rootDeviceName: string;
  private readonly pageSize: number;
  private readonly zones: Map<string, string>;
  private template: Cached<TemplateVersion> | undefined;
  private readonly imageCache = new Map<Architecture, Cached<string>>();
  /** The last AMI id read per architecture, served when a later read fails. */
  private readonly lastImage = new Map<Architecture, string>();

  constructor(private readonly options: Ec2ComputeOptions) {
    if (options.ssm === undefined)
      for (const [architecture, image] of Object.entries(options.images))
        if ('parameterName' in image)
          throw new ComputeError(
            `the ${architecture} image is the parameter ${image.parameterName}, but no SSM client was given`,
          );
    this.client = options.client;
    this.clock = options.clock;
    this.project = options.project;
    this.specCacheMs = options.specCacheMs ?? 60_000;
    this.rootDeviceName = options.rootDeviceName ?? '/dev/xvda';
    this.pageSize = options.pageSize ?? 1000;
    this.zones = new Map(Object.entries(options.subnetZones ?? {}));
  }

  async launchForPool(request: PoolLaunchRequest): Promise<LaunchOutcome> {
    const { pool } = request;
    const launch = await this.launchSpec(pool);
    const subnets = request.subnetIds.length > 0 ? request.subnetIds : pool.subnets;
    const refusals: string[] = [];
    const perSubnet = await Promise.all(
      spreadOver(request.count, subnets).map(async ([subnetId, count]) => {
        const clientToken = derivedToken(request.clientToken, subnetId);
        for (const instanceType of pool.instanceTypes) {
          const spec = specOf(launch, instanceType);
          const result = await this.runInstances(
            {
              ...this.runInput(launch, pool, 'pool', spec, subnetId),
              InstanceType: instanceType as _InstanceType,
              MinCount: 1,
              MaxCount: count,
              ClientToken: clientToken,
              InstanceInitiatedShutdownBehavior: 'stop',
            },
            'on-demand',
            spec,
          );
          if (result.kind === 'launched') return result.instances;
          refusals.push(result.message);
        }
        return [];
      }),
    );
    const instances = perSubnet.flat();
    if (instances.length === 0 && refusals.length > 0)
      return { kind: 'insufficient-capacity', message: refusals.join('; ') };
    return { kind: 'launched', instances };
  }

  async launchEphemeral(request: EphemeralLaunchRequest): Promise<LaunchOutcome> {
    const launch = await this.launchSpec(request.pool);
    return request.market === 'spot'
      ? this.launchSpotFleet(request, launch)
      : this.launchOnDemand(request, launch);
  }

  async start(instanceId: string, options?: StartOptions): Promise<StartOutcome> {
    const started = await this.startInstance(instanceId);
    if (started.kind === 'started' && options?.maxIdleSeconds !== undefined)
      await this.tagIdleBound(instanceId, options.maxIdleSeconds);
    return started;
  }

  /**
   * A hot runner's idle bound, tagged once StartInstances was accepted (never on a refused start: the
   * instance goes back to the pool and serves a plain job next). The agent reads the tag when its runner
   * starts, seconds into the boot, and again when its bound expires, so a tag landing after boot still
   * counts. Best effort: without it the agent bounds a hot pool's idle runner by the pool config's
   * `maxIdleMinutes` (ami/README.md), the same bound the control plane keeps.
   */
  private async tagIdleBound(instanceId: string, seconds: number): Promise<void> {
    try {
      await this.client.send(
        new CreateTagsCommand({
          Resources: [instanceId],
          Tags: [{ Key: tagKeys.maxIdleSeconds, Value: String(Math.round(seconds)) }],
        }),
      );
    } catch {
      // See above: the agent falls back to the pool config.
    }
  }

  private async startInstance(instanceId: string): Promise<StartOutcome> {
    try {
      const output = await this.client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
      const previous = output.StartingInstances?.[0]?.PreviousState?.Name;
      if (previous === 'stopped') return { kind: 'started' };
      // A retried call finds the instance already pending from the attempt whose answer was lost.
      if (previous === 'pending' && (output.$metadata.attempts ?? 1) > 1) return { kind: 'started' };
      return {
        kind: 'incorrect-state',
        message: `instance ${instanceId} is ${previous ?? 'in an unknown state'}`,
      };
    } catch (error) {
      const code = errorCode(error);
      if (capacityErrorCodes.has(code))
        return { kind: 'insufficient-capacity', message: errorMessage(error) };
      if (code === 'IncorrectInstanceState') return { kind: 'incorrect-state', message: errorMessage(error) };
      if (notFoundCodes.has(code)) return { kind: 'not-found' };
      throw computeError('StartInstances', error);
    }
  }

  async changeType(instanceId: string, instanceType: string): Promise<ChangeTypeOutcome> {
    try {
      await this.client.send(
        new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: instanceType } }),
      );
      return { kind: 'changed' };
    } catch (error) {
      const code = errorCode(error);
      if (code === 'IncorrectInstanceState') return { kind: 'incorrect-state', message: errorMessage(error) };
      if (code === 'InvalidParameterValue' || code === 'InvalidInstanceAttributeValue')
        return { kind: 'unsupported', message: errorMessage(error) };
      if (notFoundCodes.has(code)) return { kind: 'not-found' };
      throw computeError('ModifyInstanceAttribute', error);
    }
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    const unique = [...new Set(instanceIds)];
    for (let i = 0; i < unique.length; i += 1000) await this.terminateBatch(unique.slice(i, i + 1000));
  }

  async currentSpec(pool: PoolConfig, instanceType: string): Promise<string> {
    return specOf(await this.launchSpec(pool), instanceType);
  }

  async listInstances(): Promise<ObservedInstance[]> {
    const observed: ObservedInstance[] = [];
    try {
      const pages = paginateDescribeInstances(
        { client: this.client, pageSize: this.pageSize },
        { Filters: [{ Name: `tag:${tagKeys.project}`, Values: [this.project] }] },
      );
      for await (const page of pages)
        for (const reservation of page.Reservations ?? [])
          for (const instance of reservation.Instances ?? []) {
            const state = instance.State?.Name;
            if (instance.InstanceId === undefined || state === undefined || !ec2States.has(state)) continue;
            observed.push({
              id: instance.InstanceId,
              pool: tagValue(instance.Tags, tagKeys.pool),
              state,
              launchedAt: instance.LaunchTime?.getTime() ?? 0,
              instanceType: instance.InstanceType ?? '',
              ...optional('agentReason', tagValue(instance.Tags, tagKeys.agentReason)),
              ...(tagValue(instance.Tags, tagKeys.jobStarted) !== undefined ? { jobStarted: true } : {}),
              launchedHere:
                this.options.deploymentId === undefined ||
                tagValue(instance.Tags, tagKeys.deployment) === this.options.deploymentId,
            });
          }
    } catch (error) {
      throw computeError('DescribeInstances', error);
    }
    return observed;
  }

  async agentReason(instanceId: string): Promise<string | undefined> {
    try {
      const output = await this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const instance = output.Reservations?.[0]?.Instances?.[0];
      return tagValue(instance?.Tags, tagKeys.agentReason);
    } catch (error) {
      if (notFoundCodes.has(errorCode(error))) return undefined;
      throw computeError('DescribeInstances', error);
    }
  }

  // ---- launches ----

  private async launchSpotFleet(request: EphemeralLaunchRequest, launch: LaunchSpec): Promise<LaunchOutcome> {
    const { pool } = request;
    const input: CreateFleetCommandInput = {
      Type: 'instant',
      ClientToken: clientTokenOf(request.clientToken),
      TargetCapacitySpecification: {
        TotalTargetCapacity: 1,
        SpotTargetCapacity: 1,
        DefaultTargetCapacityType: 'spot',
      },
      // Deep pools first, then the cheaper of those: fewer interruptions than lowest-price, and
      // cheaper than capacity-optimized alone (AWS's recommended strategy for flexible workloads).
      SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { ...this.templateRef(), Version: String(launch.version) },
          Overrides: pool.instanceTypes.flatMap((instanceType) =>
            pool.subnets.map((SubnetId) => ({
              InstanceType: instanceType as _InstanceType,
              SubnetId,
              ImageId: launch.imageId,
              BlockDeviceMappings: this.rootVolume(pool),
            })),
          ),
        },
      ],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [...this.tags(pool, 'ephemeral'), ...idleBoundTags(request)] },
      ],
    };
    let output: CreateFleetCommandOutput;
    try {
      output = await this.client.send(new CreateFleetCommand(input));
    } catch (error) {
      throw computeError('CreateFleet', error);
    }
    const launched: LaunchedInstance[] = [];
    for (const group of output.Instances ?? []) {
      const instanceType =
        group.InstanceType ?? group.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? '';
      const subnetId = group.LaunchTemplateAndOverrides?.Overrides?.SubnetId ?? '';
      const availabilityZone = await this.zoneOf(subnetId);
      for (const id of group.InstanceIds ?? [])
        launched.push({
          id,
          instanceType,
          subnetId,
          availabilityZone,
          market: 'spot',
          spec: specOf(launch, instanceType),
          launchedAt: this.clock.now(),
        });
    }
    if (launched.length > 0) return { kind: 'launched', instances: launched };
    const errors = output.Errors ?? [];
    const other = errors.find((e) => !capacityErrorCodes.has(e.ErrorCode ?? ''));
    if (other !== undefined)
      throw new ComputeError(`CreateFleet launched nothing: ${other.ErrorCode}: ${other.ErrorMessage}`);
    return {
      kind: 'insufficient-capacity',
      message:
        errors.length > 0
          ? summarize(errors.map((e) => e.ErrorMessage ?? e.ErrorCode ?? ''))
          : 'no spot capacity',
    };
  }

  private async launchOnDemand(request: EphemeralLaunchRequest, launch: LaunchSpec): Promise<LaunchOutcome> {
    const { pool } = request;
    // One token for every attempt: whichever attempt launched first owns it, and the others then get
    // IdempotentParameterMismatch and find its instance, so a retried request never launches a second.
    const clientToken = clientTokenOf(request.clientToken);
    const refusals: string[] = [];
    for (const instanceType of pool.instanceTypes)
      for (const subnetId of pool.subnets) {
        // Under a call deadline (the webhook's), stop between launches rather than have one cut off
        // mid-call, which could leave an instance launched that no one records.
        if (callTimeLeft() < minLaunchCallMs)
          return { kind: 'insufficient-capacity', message: summarize([...refusals, 'out of time']) };
        const spec = specOf(launch, instanceType);
        const result = await this.runInstances(
          {
            ...this.runInput(launch, pool, 'ephemeral', undefined, subnetId, idleBoundTags(request)),
            InstanceType: instanceType as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
            ClientToken: clientToken,
            InstanceInitiatedShutdownBehavior: 'terminate',
          },
          'on-demand',
          spec,
        );
        if (result.kind === 'launched') return result;
        refusals.push(result.message);
      }
    return { kind: 'insufficient-capacity', message: summarize(refusals) };
  }

  /** One RunInstances; capacity refusals are outcomes, a reused token finds the earlier launch. */
  private async runInstances(
    input: RunInstancesCommandInput,
    market: Market,
    spec: string,
  ): Promise<{ kind: 'launched'; instances: LaunchedInstance[] } | { kind: 'refused'; message: string }> {
    let instances: Instance[];
    try {
      const output = await this.client.send(new RunInstancesCommand(input));
      instances = output.Instances ?? [];
    } catch (error) {
      const code = errorCode(error);
      if (capacityErrorCodes.has(code)) return { kind: 'refused', message: errorMessage(error) };
      if (code !== 'IdempotentParameterMismatch' || input.ClientToken === undefined)
        throw computeError('RunInstances', error);
      instances = await this.instancesWithToken(input.ClientToken);
    }
    const launched: LaunchedInstance[] = [];
    for (const instance of instances) {
      if (instance.InstanceId === undefined) continue;
      const subnetId = instance.SubnetId ?? input.SubnetId ?? '';
      const instanceType = instance.InstanceType ?? input.InstanceType ?? '';
      launched.push({
        id: instance.InstanceId,
        instanceType,
        subnetId,
        availabilityZone: instance.Placement?.AvailabilityZone ?? (await this.zoneOf(subnetId)),
        market,
        spec: builtFrom(instance) ?? spec,
        launchedAt: this.clock.now(),
      });
    }
    return { kind: 'launched', instances: launched };
  }

  private async instancesWithToken(clientToken: string): Promise<Instance[]> {
    try {
      const output = await this.client.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: [clientToken] }] }),
      );
      return (output.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    } catch (error) {
      throw computeError('DescribeInstances', error);
    }
  }

  private runInput(
    launch: LaunchSpec,
    pool: PoolConfig,
    role: InstanceRole,
    spec: string | undefined,
    subnetId: string,
    instanceTags: readonly Tag[] = [],
  ): Omit<RunInstancesCommandInput, 'MinCount' | 'MaxCount'> {
    const tags = this.tags(pool, role, spec);
    return {
      LaunchTemplate: { ...this.templateRef(), Version: String(launch.version) },
      // The template's own image is the x64 one; every launch names its architecture's.
      ImageId: launch.imageId,
      BlockDeviceMappings: this.rootVolume(pool),
      // A template with a network interface (public-IP mode) carries the groups there, and EC2 refuses
      // an instance-level subnet beside it: the subnet goes on a per-launch copy of that interface.
      ...(launch.networkInterface === undefined
        ? { SubnetId: subnetId }
        : { NetworkInterfaces: [{ ...launch.networkInterface, DeviceIndex: 0, SubnetId: subnetId }] }),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [...tags, ...instanceTags] },
        { ResourceType: 'volume', Tags: tags },
      ],
    };
  }

  /**
   * The pool's root volume. A mapping given at launch replaces the template's for that device, so
   * leaving `Encrypted` out would launch an unencrypted volume whatever the template says; the IAM
   * policy refuses such a launch (`ec2:Encrypted`).
   */
  private rootVolume(pool: PoolConfig) {
    return [
      {
        DeviceName: this.rootDeviceName,
        Ebs: {
          VolumeSize: pool.volumeSizeGb,
          VolumeType: 'gp3' as const,
          Encrypted: true,
          DeleteOnTermination: true,
        },
      },
    ];
  }

  private tags(pool: PoolConfig, role: InstanceRole, spec?: string): Tag[] {
    return [
      { Key: tagKeys.project, Value: this.project },
      { Key: tagKeys.pool, Value: pool.name },
      { Key: tagKeys.role, Value: role },
      ...(this.options.deploymentId === undefined
        ? []
        : [{ Key: tagKeys.deployment, Value: this.options.deploymentId }]),
      ...(spec === undefined ? [] : [{ Key: tagKeys.spec, Value: spec }]),
    ];
  }

  // ---- terminate ----

  private async terminateBatch(ids: readonly string[]): Promise<void> {
    let remaining = [...ids];
    while (remaining.length > 0) {
      try {
        await this.client.send(new TerminateInstancesCommand({ InstanceIds: remaining }));
        return;
      } catch (error) {
        // EC2 refuses the whole call if one id is unknown and names the unknown ones: drop them.
        if (!notFoundCodes.has(errorCode(error))) throw computeError('TerminateInstances', error);
        const named = new Set(errorMessage(error).match(/i-[0-9a-f]+/g) ?? []);
        const rest = remaining.filter((id) => !named.has(id));
        if (rest.length === remaining.length) throw computeError('TerminateInstances', error);
        remaining = rest;
      }
    }
  }

  // ---- template, images and subnets ----

  private templateRef(): { LaunchTemplateId: string } | { LaunchTemplateName: string } {
    const template = this.options.launchTemplate;
    return 'id' in template ? { LaunchTemplateId: template.id } : { LaunchTemplateName: template.name };
  }

  private async launchSpec(pool: PoolConfig): Promise<LaunchSpec> {
    const [template, imageId] = await Promise.all([this.templateVersion(), this.imageOf(pool.architecture)]);
    return { imageId, ...template };
  }

  private templateVersion(): Promise<TemplateVersion> {
    const now = this.clock.now();
    const cached = this.template;
    if (cached !== undefined && now - cached.fetchedAt < this.specCacheMs) return cached.value;
    const value = this.fetchTemplateVersion();
    const entry = { value, fetchedAt: now };
    this.template = entry;
    // A failed fetch is not cached.
    value.catch(() => {
      if (this.template === entry) this.template = undefined;
    });
    return value;
  }

  private async fetchTemplateVersion(): Promise<TemplateVersion> {
    try {
      const output = await this.client.send(
        new DescribeLaunchTemplateVersionsCommand({ ...this.templateRef(), Versions: ['$Latest'] }),
      );
      const latest = output.LaunchTemplateVersions?.[0];
      const version = latest?.VersionNumber;
      if (version === undefined) throw new ComputeError('the launch template has no latest version');
      const primary = latest?.LaunchTemplateData?.NetworkInterfaces?.find((n) => (n.DeviceIndex ?? 0) === 0);
      if (primary === undefined) return { version };
      return {
        version,
        networkInterface: {
          ...(primary.Groups !== undefined ? { Groups: primary.Groups } : {}),
          ...(primary.AssociatePublicIpAddress !== undefined
            ? { AssociatePublicIpAddress: primary.AssociatePublicIpAddress }
            : {}),
          DeleteOnTermination: primary.DeleteOnTermination ?? true,
        },
      };
    } catch (error) {
      if (error instanceof ComputeError) throw error;
      throw computeError('DescribeLaunchTemplateVersions', error);
    }
  }

  private imageOf(architecture: Architecture): Promise<string> {
    const image = this.options.images[architecture];
    if ('imageId' in image) return Promise.resolve(image.imageId);
    const now = this.clock.now();
    const cached = this.imageCache.get(architecture);
    if (cached !== undefined && now - cached.fetchedAt < this.specCacheMs) return cached.value;
    const value = this.readImageParameter(architecture, image.parameterName);
    const entry = { value, fetchedAt: now };
    this.imageCache.set(architecture, entry);
    value.catch(() => {
      if (this.imageCache.get(architecture) === entry) this.imageCache.delete(architecture);
    });
    return value;
  }

  private async readImageParameter(architecture: Architecture, name: string): Promise<string> {
    let value: string | undefined;
    try {
      const output = await (this.options.ssm as SSMClient).send(new GetParameterCommand({ Name: name }));
      value = output.Parameter?.Value;
    } catch (error) {
      // The image published last time still launches; the next read is a cache period away.
      const last = this.lastImage.get(architecture);
      if (last !== undefined && errorCode(error) !== 'ParameterNotFound') return last;
      throw new ComputeError(
        errorCode(error) === 'ParameterNotFound'
          ? `the ${architecture} image parameter ${name} does not exist`
          : `GetParameter ${name} failed: ${errorCode(error) || 'error'}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    if (value === undefined || !amiId.test(value))
      throw new ComputeError(
        `the ${architecture} image parameter ${name} holds no AMI id: ${value ?? '(none)'}`,
      );
    this.lastImage.set(architecture, value);
    return value;
  }

  private async zoneOf(subnetId: string): Promise<string> {
    const known = this.zones.get(subnetId);
    if (known !== undefined) return known;
    try {
      const output = await this.client.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
      const zone = output.Subnets?.[0]?.AvailabilityZone;
      if (zone === undefined) throw new ComputeError(`subnet ${subnetId} has no availability zone`);
      this.zones.set(subnetId, zone);
      return zone;
    } catch (error) {
      if (error instanceof ComputeError) throw error;
      throw computeError('DescribeSubnets', error);
    }
  }
}

/**
 * The spec an instance was built from, read from the instance: it differs from the one just asked for
 * when the instance was found through its client token, launched earlier with another type or version.
 */
function builtFrom(instance: Instance): string | undefined {
  const tagged = tagValue(instance.Tags, tagKeys.spec);
  if (tagged !== undefined) return tagged;
  const version = Number(tagValue(instance.Tags, 'aws:ec2launchtemplate:version'));
  if (instance.ImageId === undefined || instance.InstanceType === undefined || !Number.isInteger(version))
    return undefined;
  return specOf({ imageId: instance.ImageId, version }, instance.InstanceType);
}

function specOf(launch: Pick<LaunchSpec, 'imageId' | 'version'>, instanceType: string): string {
  return `${launch.imageId}:${launch.version}:${instanceType}`;
}

/** EC2 takes client tokens of up to 64 ASCII characters. */
function clientTokenOf(token: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(token) ? token : createHash('sha256').update(token).digest('hex');
}

function derivedToken(token: string, ...parts: string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([token, ...parts]))
    .digest('hex');
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** A hot runner's idle bound, tagged at launch (see `tagIdleBound`). */
function idleBoundTags(request: EphemeralLaunchRequest): Tag[] {
  return request.maxIdleSeconds === undefined
    ? []
    : [{ Key: tagKeys.maxIdleSeconds, Value: String(Math.round(request.maxIdleSeconds)) }];
}

function tagValue(tags: readonly Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

function errorCode(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function computeError(action: string, error: unknown): ComputeError {
  return new ComputeError(`${action} failed: ${errorCode(error) || 'error'}: ${errorMessage(error)}`, {
    cause: error,
  });
}

/** Distinct messages, so a types × subnets sweep does not repeat itself six times. */
function summarize(messages: readonly string[]): string {
  return [...new Set(messages)].join('; ');
}
