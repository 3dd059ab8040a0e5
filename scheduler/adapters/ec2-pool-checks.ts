/**
 * What the schema cannot know about a pool config, asked of EC2 and Parameter Store before a document is
 * applied (`runners pools apply`, `runners pools validate --check-aws`):
 *
 * - subnets: each must exist (its zone is what the type offerings are checked in);
 * - instance types: offered in the pool's zones (DescribeInstanceTypeOfferings). A type offered in none
 *   of them is an error (every launch of it would be `Unsupported`); one missing in some zones only a
 *   warning (launches there move on to the next type, as for no capacity);
 * - the image of the pool's architecture (`<prefix>/ami/<arch>`): missing is a warning (an architecture
 *   whose first image is not built yet launches nothing until it is); a root volume smaller than the
 *   image's root snapshot is an error (EC2 refuses it: InvalidBlockDeviceMapping).
 *
 * Problems name the pool and the field, like the schema's. Read-only: Describe calls and GetParameter.
 */
import {
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { PoolConfig, PoolsConfig } from '../core/pool-config.js';

export interface PoolCheckReport {
  /** The document must not be applied. */
  readonly errors: readonly string[];
  /** Worth knowing; the pool works, only less well. */
  readonly warnings: readonly string[];
}

export interface PoolCheckOptions {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  /** The parameter the image pipeline publishes each architecture's AMI id to. */
  readonly imageParameter: (architecture: PoolConfig['architecture']) => string;
  /** The image's root device, which every launch sizes. Default `/dev/xvda`. */
  readonly rootDeviceName?: string;
}

export async function checkPoolsOnEc2(
  options: PoolCheckOptions,
  config: PoolsConfig,
): Promise<PoolCheckReport> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const zones = await subnetZones(options.ec2, [...new Set(config.pools.flatMap((p) => p.subnets))]);
  const images = new Map<string, Promise<ImageCheck>>();
  for (const pool of config.pools) {
    const where = `pool "${pool.name}"`;
    const poolZones = new Map<string, string>();
    for (const subnet of pool.subnets) {
      const zone = zones.get(subnet);
      if (zone === undefined) errors.push(`${where}: subnets: ${subnet} does not exist`);
      else poolZones.set(zone, subnet);
    }
    if (poolZones.size > 0) {
      const offered = await offerings(options.ec2, pool.instanceTypes, [...poolZones.keys()]);
      for (const type of pool.instanceTypes) {
        const missing = [...poolZones.keys()].filter((z) => !offered.has(`${type}|${z}`)).sort();
        if (missing.length === poolZones.size)
          errors.push(
            `${where}: instanceTypes: ${type} is not offered in any of its zones (${missing.join(', ')})`,
          );
        else if (missing.length > 0)
          warnings.push(
            `${where}: instanceTypes: ${type} is not offered in ${missing.join(', ')}; launches there use the next type`,
          );
      }
    }
    const parameter = options.imageParameter(pool.architecture);
    let check = images.get(parameter);
    if (check === undefined) {
      check = imageOf(options, parameter);
      images.set(parameter, check);
    }
    const image = await check;
    if (image.kind === 'missing')
      warnings.push(
        `${where}: no ${pool.architecture} image yet (${parameter} does not exist): the pool launches nothing ` +
          'until the image pipeline publishes one',
      );
    else if (image.kind === 'unknown')
      errors.push(`${where}: ${parameter} names ${image.imageId}, which does not exist`);
    else if (image.rootGb !== undefined && pool.volumeSizeGb < image.rootGb)
      errors.push(
        `${where}: volumeSizeGb: ${pool.volumeSizeGb} is smaller than the root snapshot of its image ` +
          `${image.imageId} (${image.rootGb} GiB); EC2 refuses such a launch`,
      );
  }
  return { errors, warnings };
}

type ImageCheck =
  | { kind: 'found'; imageId: string; rootGb: number | undefined }
  | { kind: 'missing' }
  | { kind: 'unknown'; imageId: string };

async function imageOf(options: PoolCheckOptions, parameter: string): Promise<ImageCheck> {
  let imageId: string | undefined;
  try {
    imageId = (await options.ssm.send(new GetParameterCommand({ Name: parameter }))).Parameter?.Value;
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return { kind: 'missing' };
    throw error;
  }
  if (imageId === undefined) return { kind: 'missing' };
  try {
    const { Images } = await options.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const image = Images?.[0];
    if (image === undefined) return { kind: 'unknown', imageId };
    const device = options.rootDeviceName ?? '/dev/xvda';
    const root = image.BlockDeviceMappings?.find((m) => m.DeviceName === device);
    return { kind: 'found', imageId, rootGb: root?.Ebs?.VolumeSize };
  } catch (error) {
    const code = (error as Error).name;
    if (code === 'InvalidAMIID.NotFound' || code === 'InvalidAMIID.Malformed')
      return { kind: 'unknown', imageId };
    throw error;
  }
}

/** Subnet → zone for the subnets that exist (an unknown one fails DescribeSubnets: asked one by one then). */
async function subnetZones(ec2: EC2Client, subnets: readonly string[]): Promise<Map<string, string>> {
  const zones = new Map<string, string>();
  if (subnets.length === 0) return zones;
  const record = (list: Subnet[] | undefined) => {
    for (const s of list ?? [])
      if (s.SubnetId !== undefined && s.AvailabilityZone !== undefined)
        zones.set(s.SubnetId, s.AvailabilityZone);
  };
  try {
    record((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [...subnets] }))).Subnets);
    return zones;
  } catch (error) {
    if ((error as Error).name !== 'InvalidSubnetID.NotFound') throw error;
  }
  for (const subnet of subnets)
    try {
      record((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets);
    } catch (error) {
      if ((error as Error).name !== 'InvalidSubnetID.NotFound') throw error;
    }
  return zones;
}

async function offerings(
  ec2: EC2Client,
  types: readonly string[],
  zones: readonly string[],
): Promise<Set<string>> {
  const offered = new Set<string>();
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstanceTypeOfferingsCommand({
        LocationType: 'availability-zone',
        Filters: [
          { Name: 'instance-type', Values: [...types] },
          { Name: 'location', Values: [...zones] },
        ],
        ...(nextToken === undefined ? {} : { NextToken: nextToken }),
      }),
    );
    for (const o of page.InstanceTypeOfferings ?? [])
      if (o.InstanceType !== undefined && o.Location !== undefined)
        offered.add(`${o.InstanceType}|${o.Location}`);
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return offered;
}
