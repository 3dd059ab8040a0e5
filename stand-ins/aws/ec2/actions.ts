/**
 * The EC2 actions the control plane uses, each turning Query parameters into the XML body EC2 returns
 * (field names and `<item>` lists as @aws-sdk/client-ec2's deserializer reads them), or throwing an
 * Ec2Fault with EC2's error code and status.
 *
 * Gotchas kept from EC2:
 * - StartInstances on a running or pending instance succeeds and reports it as it is; only stopping,
 *   shutting-down and terminated ones are IncorrectInstanceState.
 * - A client token returns the first request's instances; the same token with other parameters is
 *   IdempotentParameterMismatch. A request that failed records nothing, except an instant fleet, which
 *   exists (with its errors) even when it launched nothing.
 * - An instant fleet reports each override it could not use in `errorSet` and still answers 200.
 * - A one-time spot instance cannot be stopped, and shuts down by terminating.
 * - Any unknown id in StartInstances, StopInstances, TerminateInstances or DescribeInstances fails the
 *   whole call with InvalidInstanceID.NotFound, naming the unknown ids.
 * - Network interfaces (the request's or the template's) carry the subnet and security groups: an
 *   instance-level SubnetId or SecurityGroupId beside them is InvalidParameterCombination. A fleet
 *   override's subnet is merged into the template's interface 0 instead.
 * - A type EC2 does not offer in a zone is `Unsupported` (400, not a capacity error); a root volume
 *   smaller than the image's snapshot is InvalidBlockDeviceMapping. In an instant fleet both are one
 *   more `errorSet` entry.
 * - A block device mapping in the request replaces the template's for that device: leaving out
 *   `Encrypted` there launches an unencrypted volume.
 * - An ImageId in RunInstances or in a fleet override replaces the template's. A malformed one fails
 *   the whole call (InvalidAMIID.Malformed); a registered image of the wrong architecture for the type
 *   fails RunInstances, and is one more entry in an instant fleet's `errorSet`.
 */
import { randomUUID } from 'node:crypto';
import type { QueryParams } from './query.js';
import {
  architectureOfType,
  Ec2Fault,
  type EmulatedInstance,
  type LaunchTemplateVersionData,
  type Market,
  type NetworkInterfaceSpec,
  notFound,
  type ShutdownBehavior,
  stateCodes,
  type World,
} from './world.js';
import { el, escapeXml, items, leaf, tagSet } from './xml.js';

export const ownerId = '123456789012';
const vpcId = 'vpc-0123456789abcdef0';

export interface ActionContext {
  readonly world: World;
  readonly params: QueryParams;
  /** Takes resource tokens (RunInstances, TerminateInstances …); throws RequestLimitExceeded if short. */
  takeResource(bucket: string, min: number, max: number): number;
}

export type ActionHandler = (context: ActionContext) => string;

export const actions: Readonly<Record<string, ActionHandler>> = {
  RunInstances: runInstances,
  CreateFleet: createFleet,
  StartInstances: startInstances,
  StopInstances: stopInstances,
  TerminateInstances: terminateInstances,
  ModifyInstanceAttribute: modifyInstanceAttribute,
  DescribeInstances: describeInstances,
  CreateTags: createTags,
  DescribeLaunchTemplateVersions: describeLaunchTemplateVersions,
  DescribeSubnets: describeSubnets,
  DescribeInstanceTypeOfferings: describeInstanceTypeOfferings,
  DescribeImages: describeImages,
};

export const mutatingActions: ReadonlySet<string> = new Set([
  'RunInstances',
  'CreateFleet',
  'StartInstances',
  'StopInstances',
  'TerminateInstances',
  'ModifyInstanceAttribute',
  'CreateTags',
]);

// ---- RunInstances ----

interface RunResult {
  readonly reservationId: string;
  readonly instanceIds: readonly string[];
}

function runInstances({ world, params, takeResource }: ActionContext): string {
  const minCount = params.int('MinCount');
  const maxCount = params.int('MaxCount');
  if (minCount === undefined || maxCount === undefined)
    throw new Ec2Fault('MissingParameter', 'The request must contain the parameters MinCount and MaxCount');
  if (!(minCount >= 1 && maxCount >= minCount))
    throw new Ec2Fault('InvalidParameterValue', `Invalid MinCount ${minCount} / MaxCount ${maxCount}`);
  const clientToken = params.get('ClientToken');
  checkClientToken(clientToken);

  const template = launchTemplateOf(world, params.sub('LaunchTemplate'));
  const imageId = params.get('ImageId') ?? template?.data.imageId;
  if (imageId === undefined)
    throw new Ec2Fault('MissingParameter', 'The request must contain the parameter ImageId');
  const instanceType = params.get('InstanceType') ?? template?.data.instanceType ?? 'm1.small';
  world.checkImageId(imageId);
  const mismatch = world.architectureMismatch(imageId, instanceType);
  if (mismatch !== undefined) throw mismatch;
  const network = networkOf(params, template?.data);
  const subnetId = network.subnetId;
  if (subnetId === undefined)
    throw new Ec2Fault('MissingParameter', 'No subnet given, and the emulated account has no default VPC');
  const availabilityZone = world.zoneOf(subnetId);
  const market: Market = params.get('InstanceMarketOptions.MarketType') === 'spot' ? 'spot' : 'on-demand';
  const spotType = params.get('InstanceMarketOptions.SpotOptions.SpotInstanceType') ?? 'one-time';
  const shutdownBehavior = shutdownOf(
    params.get('InstanceInitiatedShutdownBehavior') ?? template?.data.shutdownBehavior ?? 'stop',
  );
  if (market === 'spot' && spotType === 'one-time' && shutdownBehavior === 'stop')
    throw new Ec2Fault(
      'InvalidParameterCombination',
      'The parameter instanceInitiatedShutdownBehavior=stop is not supported for one-time Spot Instances.',
    );

  if (clientToken !== undefined) {
    const earlier = world.tokens.get(`run|${clientToken}`);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== params.fingerprint()) throw idempotentMismatch(clientToken);
      const result = earlier.result as RunResult;
      return reservationXml(
        result.reservationId,
        result.instanceIds.map((id) => world.instances.get(id)).filter((i) => i !== undefined),
      );
    }
  }
  const root = rootVolumeOf(params.structs('BlockDeviceMapping'), template?.data);
  world.checkRootVolume(imageId, root.sizeGb);
  if (!world.isOffered(instanceType, availabilityZone))
    throw world.unsupportedFault(instanceType, availabilityZone);
  if (!world.hasCapacity({ instanceType, availabilityZone, market, operation: 'launch' }))
    throw world.capacityFault(instanceType, availabilityZone);
  const count = takeResource('RunInstances', minCount, maxCount);

  const tags = withTemplateTags(tagSpecifications(params, 'instance'), template);
  const volumeTags = tagSpecifications(params, 'volume');
  const volumeSizeGb = root.sizeGb;
  const reservationId = world.nextId('r');
  const instances = Array.from({ length: count }, () =>
    world.create({
      reservationId,
      imageId,
      instanceType,
      subnetId,
      market,
      shutdownBehavior: market === 'spot' && spotType === 'one-time' ? 'terminate' : shutdownBehavior,
      tags,
      volumeTags,
      ...(volumeSizeGb !== undefined ? { volumeSizeGb } : {}),
      volumeEncrypted: root.encrypted,
      publicIp: network.publicIp,
      securityGroupIds: network.groups,
      ...(clientToken !== undefined ? { clientToken } : {}),
      ...(template !== undefined ? { launchTemplate: { id: template.id, version: template.version } } : {}),
    }),
  );
  if (clientToken !== undefined)
    world.tokens.set(`run|${clientToken}`, {
      fingerprint: params.fingerprint(),
      result: { reservationId, instanceIds: instances.map((i) => i.id) } satisfies RunResult,
    });
  return reservationXml(reservationId, instances);
}

function reservationXml(reservationId: string, instances: readonly EmulatedInstance[]): string {
  return `${leaf('reservationId', reservationId)}${leaf('ownerId', ownerId)}${el('groupSet')}${items(
    'instancesSet',
    instances,
    instanceXml,
  )}`;
}

// ---- CreateFleet ----

interface FleetOverride {
  readonly templateId: string;
  readonly templateName: string;
  readonly version: number;
  readonly versionText: string;
  readonly imageId: string;
  /** The override's own ImageId, which the answer echoes. */
  readonly imageOverride: string | undefined;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly priority: number | undefined;
  readonly volumeSizeGb: number | undefined;
  readonly volumeEncrypted: boolean;
  readonly shutdownBehavior: ShutdownBehavior | undefined;
  /** From the template's interface 0: the override's subnet goes on it, as EC2 Fleet merges them. */
  readonly publicIp: boolean;
  readonly groups: readonly string[];
}

function createFleet({ world, params }: ActionContext): string {
  const type = params.get('Type') ?? 'maintain';
  if (type !== 'instant')
    throw new Ec2Fault(
      'InvalidParameterValue',
      `Fleet type ${type} is not supported by this emulator (only instant)`,
    );
  const clientToken = params.get('ClientToken');
  checkClientToken(clientToken);
  if (clientToken !== undefined) {
    const earlier = world.tokens.get(`fleet|${clientToken}`);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== params.fingerprint()) throw idempotentMismatch(clientToken);
      return earlier.result as string;
    }
  }

  const total = params.int('TargetCapacitySpecification.TotalTargetCapacity');
  if (total === undefined || !(total >= 1))
    throw new Ec2Fault('InvalidParameterValue', 'TotalTargetCapacity must be at least 1');
  const market: Market =
    params.get('TargetCapacitySpecification.DefaultTargetCapacityType') === 'on-demand'
      ? 'on-demand'
      : 'spot';
  const overrides = params.structs('LaunchTemplateConfigs').flatMap((config) => {
    const spec = config.sub('LaunchTemplateSpecification');
    const template = launchTemplateOf(world, spec);
    if (template === undefined)
      throw new Ec2Fault(
        'MissingParameter',
        'Each LaunchTemplateConfigs needs a LaunchTemplateSpecification',
      );
    const listed = config.structs('Overrides');
    const primary = template.data.networkInterfaces?.find((n) => n.deviceIndex === 0);
    return (listed.length > 0 ? listed : [config.sub('none')]).map(
      (o): FleetOverride => ({
        templateId: template.id,
        templateName: template.name,
        version: template.version,
        versionText: spec.get('Version') ?? String(template.version),
        imageId: o.get('ImageId') ?? template.data.imageId,
        imageOverride: o.get('ImageId'),
        instanceType: o.get('InstanceType') ?? template.data.instanceType ?? 'm1.small',
        subnetId: o.get('SubnetId') ?? '',
        priority: o.int('Priority'),
        ...(() => {
          const root = rootVolumeOf(o.structs('BlockDeviceMapping'), template.data);
          return { volumeSizeGb: root.sizeGb, volumeEncrypted: root.encrypted };
        })(),
        shutdownBehavior: template.data.shutdownBehavior,
        publicIp: primary?.associatePublicIpAddress === true,
        groups: primary?.groups ?? template.data.securityGroupIds ?? [],
      }),
    );
  });
  if (overrides.length === 0)
    throw new Ec2Fault('MissingParameter', 'The request must contain the parameter LaunchTemplateConfigs');
  for (const o of overrides) {
    world.zoneOf(o.subnetId);
    // A malformed image fails the request; a mismatched architecture only its override (below).
    world.checkImageId(o.imageId);
  }

  // capacity-optimized would pick the deepest pool; the emulator has no depth, so it keeps the given
  // order (EC2 does not promise one). `prioritized` sorts by Priority, lower first, as EC2 does.
  const strategy =
    market === 'spot'
      ? (params.get('SpotOptions.AllocationStrategy') ?? 'lowest-price')
      : (params.get('OnDemandOptions.AllocationStrategy') ?? 'lowest-price');
  const ordered =
    strategy === 'prioritized'
      ? [...overrides].sort(
          (a, b) => (a.priority ?? Number.MAX_SAFE_INTEGER) - (b.priority ?? Number.MAX_SAFE_INTEGER),
        )
      : overrides;

  const fleetId = `fleet-${randomUUID()}`;
  const tags = tagSpecifications(params, 'instance');
  const errors: { override: FleetOverride; code: string; message: string }[] = [];
  const launched: { override: FleetOverride; ids: string[] }[] = [];
  let remaining = total;
  for (const override of ordered) {
    if (remaining === 0) break;
    const mismatch = world.architectureMismatch(override.imageId, override.instanceType);
    if (mismatch !== undefined) {
      errors.push({ override, code: mismatch.code, message: mismatch.message });
      continue;
    }
    const availabilityZone = world.zoneOf(override.subnetId);
    try {
      world.checkRootVolume(override.imageId, override.volumeSizeGb);
    } catch (error) {
      const fault = error as Ec2Fault;
      errors.push({ override, code: fault.code, message: fault.message });
      continue;
    }
    if (!world.isOffered(override.instanceType, availabilityZone)) {
      const fault = world.unsupportedFault(override.instanceType, availabilityZone);
      errors.push({ override, code: fault.code, message: fault.message });
      continue;
    }
    const wanted = {
      instanceType: override.instanceType,
      availabilityZone,
      market,
      operation: 'launch',
    } as const;
    if (!world.hasCapacity(wanted)) {
      const fault = world.capacityFault(override.instanceType, availabilityZone);
      errors.push({ override, code: fault.code, message: fault.message });
      continue;
    }
    const ids = Array.from({ length: remaining }, () =>
      world.create({
        reservationId: world.nextId('r'),
        imageId: override.imageId,
        instanceType: override.instanceType,
        subnetId: override.subnetId,
        market,
        // A one-time spot instance from a fleet cannot be stopped: it always terminates.
        shutdownBehavior: market === 'spot' ? 'terminate' : (override.shutdownBehavior ?? 'stop'),
        tags: new Map([
          ...withTemplateTags(tags, { id: override.templateId, version: override.version }),
          ['aws:ec2:fleet-id', fleetId],
        ]),
        ...(override.volumeSizeGb !== undefined ? { volumeSizeGb: override.volumeSizeGb } : {}),
        volumeEncrypted: override.volumeEncrypted,
        publicIp: override.publicIp,
        securityGroupIds: override.groups,
        ...(clientToken !== undefined ? { clientToken } : {}),
        launchTemplate: { id: override.templateId, version: override.version },
        fleetId,
      }),
    ).map((i) => i.id);
    launched.push({ override, ids });
    remaining = 0;
  }

  const lifecycle = market === 'spot' ? 'spot' : 'on-demand';
  const overridesXml = (o: FleetOverride) =>
    el(
      'launchTemplateAndOverrides',
      el(
        'launchTemplateSpecification',
        leaf('launchTemplateId', o.templateId),
        leaf('launchTemplateName', o.templateName),
        leaf('version', o.versionText),
      ),
      el(
        'overrides',
        leaf('instanceType', o.instanceType),
        leaf('imageId', o.imageOverride),
        leaf('subnetId', o.subnetId),
        leaf('priority', o.priority),
      ),
    );
  const body =
    leaf('fleetId', fleetId) +
    items(
      'errorSet',
      errors,
      (e) =>
        `${overridesXml(e.override)}${leaf('lifecycle', lifecycle)}${leaf('errorCode', e.code)}${leaf('errorMessage', e.message)}`,
    ) +
    items(
      'fleetInstanceSet',
      launched,
      (l) =>
        `${overridesXml(l.override)}${leaf('lifecycle', lifecycle)}${items('instanceIds', l.ids, escapeXml)}` +
        `${leaf('instanceType', l.override.instanceType)}`,
    );
  if (clientToken !== undefined)
    world.tokens.set(`fleet|${clientToken}`, { fingerprint: params.fingerprint(), result: body });
  return body;
}

// ---- start / stop / terminate / modify ----

function startInstances({ world, params }: ActionContext): string {
  const instances = existing(world, params.list('InstanceId'));
  for (const instance of instances) {
    if (['stopping', 'shutting-down', 'terminated'].includes(instance.state))
      throw new Ec2Fault(
        'IncorrectInstanceState',
        `The instance '${instance.id}' is not in a state from which it can be started.`,
      );
  }
  for (const instance of instances) {
    const wanted = {
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      market: instance.market,
      operation: 'start',
    } as const;
    if (instance.state === 'stopped' && !world.hasCapacity(wanted))
      throw world.capacityFault(instance.instanceType, instance.availabilityZone);
  }
  const changes = instances.map((instance) => {
    const previous = instance.state;
    if (previous === 'stopped') world.start(instance);
    return { instance, previous };
  });
  return stateChanges(changes);
}

function stopInstances({ world, params, takeResource }: ActionContext): string {
  const instances = existing(world, params.list('InstanceId'));
  for (const instance of instances) {
    if (instance.market === 'spot' && instance.shutdownBehavior === 'terminate')
      throw new Ec2Fault(
        'UnsupportedOperation',
        `You can't stop the Spot Instance '${instance.id}' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.`,
      );
    if (instance.state === 'shutting-down' || instance.state === 'terminated')
      throw new Ec2Fault(
        'IncorrectInstanceState',
        `This instance '${instance.id}' is not in a state from which it can be stopped.`,
      );
  }
  takeResource('StopInstances', instances.length, instances.length);
  const changes = instances.map((instance) => {
    const previous = instance.state;
    if (previous === 'pending' || previous === 'running')
      world.stop(instance, `User initiated (${new Date(world.now()).toISOString()})`, {
        code: 'Client.UserInitiatedShutdown',
        message: 'Client.UserInitiatedShutdown: User initiated shutdown',
      });
    return { instance, previous };
  });
  return stateChanges(changes);
}

function terminateInstances({ world, params, takeResource }: ActionContext): string {
  const instances = existing(world, params.list('InstanceId'));
  takeResource('TerminateInstances', instances.length, instances.length);
  const changes = instances.map((instance) => {
    const previous = instance.state;
    if (previous !== 'shutting-down' && previous !== 'terminated')
      world.terminate(instance, `User initiated (${new Date(world.now()).toISOString()})`, {
        code: 'Client.UserInitiatedShutdown',
        message: 'Client.UserInitiatedShutdown: User initiated shutdown',
      });
    return { instance, previous };
  });
  return stateChanges(changes);
}

function modifyInstanceAttribute({ world, params }: ActionContext): string {
  const instanceId = params.get('InstanceId');
  if (instanceId === undefined)
    throw new Ec2Fault('MissingParameter', 'The request must contain the parameter InstanceId');
  const instance = world.mustGet(instanceId);
  const instanceType = params.get('InstanceType.Value');
  if (instanceType === undefined)
    throw new Ec2Fault(
      'InvalidParameterCombination',
      'This emulator supports only the InstanceType attribute',
    );
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType))
    throw new Ec2Fault(
      'InvalidInstanceAttributeValue',
      `Value (${instanceType}) for parameter instanceType is invalid.`,
    );
  if (instance.state !== 'stopped')
    throw new Ec2Fault(
      'IncorrectInstanceState',
      `The instance '${instance.id}' is not in the 'stopped' state.`,
    );
  // The root volume holds the image's architecture: EC2 refuses a type of the other one.
  const imageArchitecture = world.images.get(instance.imageId);
  const typeArchitecture = architectureOfType(instanceType);
  if (imageArchitecture !== undefined && imageArchitecture !== typeArchitecture)
    throw new Ec2Fault(
      'InvalidParameterValue',
      `The requested instance type's architecture (${typeArchitecture}) does not match the architecture ` +
        `in the manifest for ${instance.imageId} (${imageArchitecture})`,
    );
  instance.instanceType = instanceType;
  return leaf('return', true) ?? '';
}

function stateChanges(
  changes: readonly { instance: EmulatedInstance; previous: EmulatedInstance['state'] }[],
): string {
  return items(
    'instancesSet',
    changes,
    ({ instance, previous }) =>
      `${leaf('instanceId', instance.id)}${stateXml('currentState', instance.state)}${stateXml('previousState', previous)}`,
  );
}

// ---- DescribeInstances ----

/** What each supported filter compares; EC2 filter values accept `*` and `?` wildcards. */
const filterAttributes: Readonly<Record<string, (i: EmulatedInstance) => (string | undefined)[]>> = {
  'instance-id': (i) => [i.id],
  'instance-state-name': (i) => [i.state],
  'instance-type': (i) => [i.instanceType],
  'subnet-id': (i) => [i.subnetId],
  'availability-zone': (i) => [i.availabilityZone],
  'client-token': (i) => [i.clientToken],
  'image-id': (i) => [i.imageId],
  'instance-lifecycle': (i) => [i.market === 'spot' ? 'spot' : undefined],
  'tag-key': (i) => [...i.tags.keys()],
};

function filterMatcher(pattern: string): (actual: string | undefined) => boolean {
  if (!/[*?]/.test(pattern)) return (actual) => actual === pattern;
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return (actual) => actual !== undefined && regex.test(actual);
}

function describeInstances({ world, params }: ActionContext): string {
  const ids = params.list('InstanceId');
  const maxResults = params.int('MaxResults');
  if (maxResults !== undefined && ids.length > 0)
    throw new Ec2Fault(
      'InvalidParameterCombination',
      'The parameter instancesSet cannot be used with the parameter maxResults',
    );
  if (maxResults !== undefined && !(maxResults >= 5 && maxResults <= 1000))
    throw new Ec2Fault(
      'InvalidParameterValue',
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
    );
  let instances = ids.length > 0 ? existing(world, ids) : world.visible();
  for (const filter of params.structs('Filter')) {
    const name = filter.get('Name') ?? '';
    const values = filter.list('Value');
    const attribute = name.startsWith('tag:')
      ? (i: EmulatedInstance) => [i.tags.get(name.slice(4))]
      : filterAttributes[name];
    if (attribute === undefined)
      throw new Ec2Fault('InvalidParameterValue', `The filter '${name}' is invalid`);
    const matchers = values.map(filterMatcher);
    instances = instances.filter((i) => attribute(i).some((actual) => matchers.some((m) => m(actual))));
  }

  const offset = decodeNextToken(params.get('NextToken'));
  const page =
    maxResults === undefined ? instances.slice(offset) : instances.slice(offset, offset + maxResults);
  const nextOffset = offset + page.length;
  const reservations = new Map<string, EmulatedInstance[]>();
  for (const instance of page)
    reservations.set(instance.reservationId, [...(reservations.get(instance.reservationId) ?? []), instance]);
  return (
    items('reservationSet', [...reservations], ([reservationId, members]) =>
      reservationXml(reservationId, members),
    ) + (leaf('nextToken', nextOffset < instances.length ? encodeNextToken(nextOffset) : undefined) ?? '')
  );
}

function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {}
  throw new Ec2Fault('InvalidParameterValue', `Invalid value '${token}' for nextToken`);
}

// ---- tags, templates, subnets ----

function createTags({ world, params }: ActionContext): string {
  const ids = params.list('ResourceId');
  const instances = ids.map((id) => world.get(id));
  const missing = ids.filter((_, n) => instances[n] === undefined);
  if (missing.length > 0) throw notFound(missing);
  const tags = params.structs('Tag');
  for (const instance of instances) {
    if (instance === undefined) continue;
    const changed: string[] = [];
    for (const tag of tags) {
      const key = tag.get('Key') ?? '';
      const value = tag.get('Value') ?? '';
      if (instance.tags.get(key) !== value) changed.push(key);
      instance.tags.set(key, value);
    }
    // Setting a tag to the value it has changes nothing, and AWS publishes no event for it.
    if (changed.length === 0) continue;
    const version = (tagVersions.get(instance) ?? 0) + 1;
    tagVersions.set(instance, version);
    world.emit({
      kind: 'tag-change',
      instanceId: instance.id,
      changedKeys: changed,
      tags: Object.fromEntries(instance.tags),
      version,
      at: world.now(),
    });
  }
  return leaf('return', true) ?? '';
}

/** Each instance's tag version, as the tag-change event carries it. */
const tagVersions = new WeakMap<object, number>();

function describeLaunchTemplateVersions({ world, params }: ActionContext): string {
  const id = params.get('LaunchTemplateId');
  const name = params.get('LaunchTemplateName');
  if (id === undefined && name === undefined)
    throw new Ec2Fault('MissingParameter', 'The request must contain LaunchTemplateId or LaunchTemplateName');
  const template = world.template(id !== undefined ? { id } : { name: name ?? '' });
  const wanted = params.list('LaunchTemplateVersion');
  const numbers =
    wanted.length > 0
      ? wanted.map((v) => world.templateVersion(template, v)[0])
      : template.versions.map((_, n) => n + 1);
  return items('launchTemplateVersionSet', numbers, (version) => {
    const data = template.versions[version - 1];
    return (
      leaf('launchTemplateId', template.id) +
      leaf('launchTemplateName', template.name) +
      leaf('versionNumber', version) +
      leaf('createTime', new Date(template.createdAt).toISOString()) +
      leaf('createdBy', `arn:aws:iam::${ownerId}:root`) +
      leaf('defaultVersion', version === template.defaultVersion) +
      el(
        'launchTemplateData',
        leaf('imageId', data?.imageId),
        leaf('instanceType', data?.instanceType),
        leaf('instanceInitiatedShutdownBehavior', data?.shutdownBehavior),
        data?.securityGroupIds === undefined
          ? undefined
          : items('securityGroupIdSet', data.securityGroupIds, escapeXml),
        data?.networkInterfaces === undefined
          ? undefined
          : items(
              'networkInterfaceSet',
              data.networkInterfaces,
              (n) =>
                leaf('associatePublicIpAddress', n.associatePublicIpAddress) +
                leaf('deleteOnTermination', n.deleteOnTermination) +
                leaf('deviceIndex', n.deviceIndex) +
                // This list's members are <groupId>, not <item>.
                (n.groups === undefined ? '' : el('groupSet', ...n.groups.map((g) => leaf('groupId', g)))) +
                leaf('subnetId', n.subnetId),
            ),
      )
    );
  });
}

function describeSubnets({ world, params }: ActionContext): string {
  const ids = params.list('SubnetId');
  const subnets = ids.length > 0 ? ids : [...world.subnets.keys()];
  const zones = subnets.map((id) => [id, world.zoneOf(id)] as const);
  return items(
    'subnetSet',
    zones,
    ([id, zone]) =>
      `${leaf('subnetId', id)}${leaf('state', 'available')}${leaf('vpcId', vpcId)}${leaf('availabilityZone', zone)}` +
      `${leaf('availabilityZoneId', `use1-az${zone.charCodeAt(zone.length - 1) - 96}`)}${leaf('ownerId', ownerId)}`,
  );
}

/**
 * Offerings per availability zone. The emulator has no catalogue: it offers the types the filter names
 * (or a few common ones) in every zone, except those withdrawn with `withdrawOffering`.
 */
const commonTypes = ['m7i.large', 'm6i.large', 'c7i.large', 'm7g.large', 'c7g.large', 't3.micro'];

function describeInstanceTypeOfferings({ world, params }: ActionContext): string {
  const locationType = params.get('LocationType') ?? 'region';
  if (locationType !== 'availability-zone')
    throw new Ec2Fault(
      'InvalidParameterValue',
      `LocationType ${locationType} is not supported by this emulator (only availability-zone)`,
    );
  let types = commonTypes;
  let zones = [...new Set(world.subnets.values())].sort();
  for (const filter of params.structs('Filter')) {
    const name = filter.get('Name') ?? '';
    const values = filter.list('Value');
    if (name === 'instance-type') types = values;
    else if (name === 'location') zones = zones.filter((z) => values.includes(z));
    else throw new Ec2Fault('InvalidParameterValue', `The filter '${name}' is invalid`);
  }
  const offerings = types.flatMap((t) =>
    zones.filter((z) => world.isOffered(t, z)).map((z) => [t, z] as const),
  );
  return items(
    'instanceTypeOfferingSet',
    offerings,
    ([t, z]) =>
      `${leaf('instanceType', t)}${leaf('locationType', 'availability-zone')}${leaf('location', z)}`,
  );
}

/**
 * The images the emulator knows (registered with an architecture or a root size): the root device is
 * /dev/xvda, its snapshot of the registered size (8 GiB, Amazon Linux's, when none was given). An
 * unknown id fails the call, as EC2 does for an explicit ImageId.
 */
function describeImages({ world, params }: ActionContext): string {
  const ids = params.list('ImageId');
  const known = (id: string) => world.images.has(id) || world.imageRootGb.has(id);
  for (const id of ids) world.checkImageId(id);
  const missing = ids.filter((id) => !known(id));
  if (missing.length > 0)
    throw new Ec2Fault('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`);
  const listed = ids.length > 0 ? ids : [...new Set([...world.images.keys(), ...world.imageRootGb.keys()])];
  return items('imagesSet', listed, (id) => {
    const sizeGb = world.imageRootGb.get(id) ?? 8;
    return (
      leaf('imageId', id) +
      leaf('imageState', 'available') +
      leaf('imageOwnerId', ownerId) +
      leaf('architecture', world.images.get(id) ?? 'x86_64') +
      leaf('imageType', 'machine') +
      leaf('rootDeviceType', 'ebs') +
      leaf('rootDeviceName', '/dev/xvda') +
      items(
        'blockDeviceMapping',
        [sizeGb],
        (size) =>
          leaf('deviceName', '/dev/xvda') +
          el(
            'ebs',
            leaf('snapshotId', `snap-${id.slice(4).padEnd(17, '0')}`),
            leaf('volumeSize', size),
            leaf('deleteOnTermination', true),
            leaf('volumeType', 'gp3'),
            leaf('encrypted', false),
          ),
      ) +
      leaf('virtualizationType', 'hvm') +
      leaf('hypervisor', 'xen')
    );
  });
}

// ---- shared ----

/**
 * Where an instance is attached, from the request and its template, with EC2's refusals: interfaces
 * (the request's, else the template's) carry the subnet and groups, so an instance-level subnet or
 * security group beside them is InvalidParameterCombination — whether they came from the request or
 * from the template.
 */
function networkOf(
  params: QueryParams,
  template: LaunchTemplateVersionData | undefined,
): { subnetId: string | undefined; groups: readonly string[]; publicIp: boolean } {
  const requested = params.structs('NetworkInterface').map((n): NetworkInterfaceSpec => {
    const subnet = n.get('SubnetId');
    const publicIp = n.bool('AssociatePublicIpAddress');
    return {
      deviceIndex: n.int('DeviceIndex') ?? 0,
      groups: n.list('SecurityGroupId'),
      ...(subnet !== undefined ? { subnetId: subnet } : {}),
      ...(publicIp !== undefined ? { associatePublicIpAddress: publicIp } : {}),
    };
  });
  const interfaces = requested.length > 0 ? requested : (template?.networkInterfaces ?? []);
  const requestGroups = params.list('SecurityGroupId');
  const instanceGroups = requestGroups.length > 0 ? requestGroups : (template?.securityGroupIds ?? []);
  const subnetId = params.get('SubnetId');
  if (interfaces.length === 0) return { subnetId, groups: instanceGroups, publicIp: false };
  if (subnetId !== undefined)
    throw new Ec2Fault(
      'InvalidParameterCombination',
      'Network interfaces and an instance-level subnet ID may not be specified on the same request',
    );
  if (instanceGroups.length > 0)
    throw new Ec2Fault(
      'InvalidParameterCombination',
      'Network interfaces and an instance-level security groups may not be specified on the same request',
    );
  const primary = interfaces.find((n) => n.deviceIndex === 0);
  return {
    subnetId: primary?.subnetId,
    groups: primary?.groups ?? [],
    publicIp: primary?.associatePublicIpAddress === true,
  };
}

/**
 * The root volume's size and encryption. A mapping in the request replaces the template's for that
 * device, field by field left out included: without its own `Encrypted` the volume is not encrypted
 * (the emulated account has no default EBS encryption), whatever the template said.
 */
function rootVolumeOf(
  mappings: readonly QueryParams[],
  template: LaunchTemplateVersionData | undefined,
): { sizeGb: number | undefined; encrypted: boolean } {
  const ebs = mappings.find((m) => m.has('Ebs'));
  if (ebs === undefined) return { sizeGb: undefined, encrypted: template?.rootVolumeEncrypted ?? false };
  return { sizeGb: ebs.int('Ebs.VolumeSize'), encrypted: ebs.bool('Ebs.Encrypted') ?? false };
}

function launchTemplateOf(
  world: World,
  spec: QueryParams,
): { id: string; name: string; version: number; data: ReturnType<World['templateVersion']>[1] } | undefined {
  const id = spec.get('LaunchTemplateId');
  const name = spec.get('LaunchTemplateName');
  if (id === undefined && name === undefined) return undefined;
  const template = world.template(id !== undefined ? { id } : { name: name ?? '' });
  const [version, data] = world.templateVersion(template, spec.get('Version'));
  return { id: template.id, name: template.name, version, data };
}

function tagSpecifications(params: QueryParams, resourceType: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of params.structs('TagSpecification')) {
    if (spec.get('ResourceType') !== resourceType) continue;
    for (const tag of spec.structs('Tag')) tags.set(tag.get('Key') ?? '', tag.get('Value') ?? '');
  }
  return tags;
}

/** EC2 tags every instance launched from a template with the template and version it came from. */
function withTemplateTags(
  tags: ReadonlyMap<string, string>,
  template: { id: string; version: number } | undefined,
): Map<string, string> {
  if (template === undefined) return new Map(tags);
  return new Map([
    ...tags,
    ['aws:ec2launchtemplate:id', template.id],
    ['aws:ec2launchtemplate:version', String(template.version)],
  ]);
}

function shutdownOf(value: string): ShutdownBehavior {
  if (value === 'stop' || value === 'terminate') return value;
  throw new Ec2Fault(
    'InvalidParameterValue',
    `Invalid value '${value}' for instanceInitiatedShutdownBehavior`,
  );
}

function checkClientToken(token: string | undefined): void {
  if (token !== undefined && (token.length > 64 || !/^[\x20-\x7e]+$/.test(token)))
    throw new Ec2Fault('InvalidParameterValue', 'The client token must be 1 to 64 ASCII characters');
}

function idempotentMismatch(token: string): Ec2Fault {
  return new Ec2Fault(
    'IdempotentParameterMismatch',
    `The client token '${token}' has already been used with different request parameters.`,
  );
}

function existing(world: World, ids: readonly string[]): EmulatedInstance[] {
  if (ids.length === 0) return [];
  const found = ids.map((id) => world.get(id));
  const missing = ids.filter((_, n) => found[n] === undefined);
  if (missing.length > 0) throw notFound(missing);
  return found.filter((i) => i !== undefined);
}

function stateXml(name: string, state: EmulatedInstance['state']): string {
  return el(name, leaf('code', stateCodes[state]), leaf('name', state));
}

function instanceXml(i: EmulatedInstance): string {
  const ip = `10.0.${Number.parseInt(i.id.slice(-4), 16) % 250}.${(Number.parseInt(i.id.slice(-2), 16) % 250) + 4}`;
  return (
    leaf('instanceId', i.id) +
    leaf('imageId', i.imageId) +
    stateXml('instanceState', i.state) +
    leaf('privateDnsName', `ip-${ip.replaceAll('.', '-')}.ec2.internal`) +
    leaf('dnsName', '') +
    leaf('reason', i.stateTransitionReason) +
    leaf('amiLaunchIndex', 0) +
    el('productCodes') +
    leaf('instanceType', i.instanceType) +
    leaf('launchTime', new Date(i.launchTime).toISOString()) +
    el(
      'placement',
      leaf('availabilityZone', i.availabilityZone),
      leaf('groupName', ''),
      leaf('tenancy', 'default'),
    ) +
    el('monitoring', leaf('state', 'disabled')) +
    leaf('subnetId', i.subnetId) +
    leaf('vpcId', vpcId) +
    leaf('privateIpAddress', ip) +
    leaf('ipAddress', i.publicIpAddress) +
    items('groupSet', i.securityGroupIds, (g) => `${leaf('groupId', g)}${leaf('groupName', g)}`) +
    (i.stateReason === undefined
      ? ''
      : el('stateReason', leaf('code', i.stateReason.code), leaf('message', i.stateReason.message))) +
    leaf('architecture', architectureOfType(i.instanceType)) +
    leaf('rootDeviceType', 'ebs') +
    leaf('rootDeviceName', '/dev/xvda') +
    leaf('instanceLifecycle', i.market === 'spot' ? 'spot' : undefined) +
    leaf('spotInstanceRequestId', i.spotInstanceRequestId) +
    leaf('clientToken', i.clientToken) +
    tagSet(i.tags) +
    leaf('virtualizationType', 'hvm') +
    leaf('hypervisor', 'xen')
  );
}
