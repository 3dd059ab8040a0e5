/**
 * What every launch must say for EC2 to take it and for the instance to be what the pool expects:
 * public-IP mode (a template with a network interface), encrypted root volumes, shutdown behaviour of
 * one-time launches, types EC2 does not offer in a zone, and the fleet's allocation strategy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { Ec2Compute } from '../../scheduler/adapters/ec2-compute.js';
import type { LaunchOutcome } from '../../scheduler/ports/compute.js';
import {
  defaultLaunchTemplate,
  Ec2Emulator,
  type Ec2EmulatorOptions,
  type LaunchTemplateSeed,
} from '../../stand-ins/aws/ec2/index.js';
import { contractPool as pool, subnetZones } from '../contracts/compute.contract.js';

const [subnetA, subnetB] = Object.keys(subnetZones) as [string, string, string];
const image = defaultLaunchTemplate.versions[0]?.imageId ?? '';
const group = 'sg-0123456789abcdef0';
const clock = { now: () => Date.UTC(2026, 0, 5, 9) };

/** The template as CDK synthesizes it in public-IP mode: groups and the address on interface 0. */
const publicIpTemplate: LaunchTemplateSeed = {
  ...defaultLaunchTemplate,
  versions: [
    {
      imageId: image,
      shutdownBehavior: 'stop',
      rootVolumeEncrypted: true,
      networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: true, groups: [group] }],
    },
  ],
};
/** The private template: instance-level groups, no interface. */
const privateTemplate: LaunchTemplateSeed = {
  ...defaultLaunchTemplate,
  versions: [
    { imageId: image, shutdownBehavior: 'stop', rootVolumeEncrypted: true, securityGroupIds: [group] },
  ],
};

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

async function setup(options: Ec2EmulatorOptions = {}) {
  const emulator = await Ec2Emulator.start({ subnets: subnetZones, throttling: false, ...options });
  const client = createEc2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  const compute = new Ec2Compute({
    client,
    launchTemplate: { id: defaultLaunchTemplate.id },
    images: { x64: { imageId: image }, arm64: { imageId: 'ami-0fedcba9876543210' } },
    project: 'wpr-test',
    clock,
    subnetZones,
  });
  open.push(async () => {
    client.destroy();
    await emulator.close();
  });
  return { emulator, compute };
}

function launchedIds(outcome: LaunchOutcome): string[] {
  if (outcome.kind !== 'launched') throw new Error(`not launched: ${outcome.message}`);
  return outcome.instances.map((i) => i.id);
}

describe('public-IP mode', () => {
  it('is refused by EC2 when a launch names a subnet beside the template’s interface', async () => {
    const { emulator } = await setup({ launchTemplates: [publicIpTemplate] });
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'RunInstances',
        MinCount: '1',
        MaxCount: '1',
        'LaunchTemplate.LaunchTemplateId': defaultLaunchTemplate.id,
        SubnetId: subnetA,
      }),
    });
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('<Code>InvalidParameterCombination</Code>');
    expect(body).toContain(
      'Network interfaces and an instance-level subnet ID may not be specified on the same request',
    );
  });

  it('launches pool and on-demand instances with a per-launch interface carrying subnet, groups and address', async () => {
    const { emulator, compute } = await setup({ launchTemplates: [publicIpTemplate] });
    const [poolId] = launchedIds(
      await compute.launchForPool({ pool, count: 1, subnetIds: [subnetB], clientToken: 'p' }),
    );
    const [onDemandId] = launchedIds(
      await compute.launchEphemeral({ pool, market: 'on-demand', clientToken: 'od' }),
    );
    for (const id of [poolId, onDemandId]) {
      const seen = emulator.instance(id ?? '');
      expect(seen?.publicIpAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(seen?.securityGroupIds).toEqual([group]);
    }
    expect(emulator.instance(poolId ?? '')?.subnetId).toBe(subnetB);
    const [call] = emulator.calls('RunInstances');
    expect(call?.params).toMatchObject({
      'NetworkInterface.1.DeviceIndex': '0',
      'NetworkInterface.1.SubnetId': subnetB,
      'NetworkInterface.1.SecurityGroupId.1': group,
      'NetworkInterface.1.AssociatePublicIpAddress': 'true',
    });
    expect(call?.params.SubnetId).toBeUndefined();
  });

  it('launches spot from the fleet with the override subnet on the template’s interface', async () => {
    const { emulator, compute } = await setup({ launchTemplates: [publicIpTemplate] });
    const [id] = launchedIds(await compute.launchEphemeral({ pool, market: 'spot', clientToken: 's' }));
    expect(emulator.instance(id ?? '')).toMatchObject({ securityGroupIds: [group], subnetId: subnetA });
    expect(emulator.instance(id ?? '')?.publicIpAddress).toBeDefined();
  });

  it('keeps the instance-level subnet for a private template', async () => {
    const { emulator, compute } = await setup({ launchTemplates: [privateTemplate] });
    const [id] = launchedIds(
      await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'p' }),
    );
    expect(emulator.instance(id ?? '')).toMatchObject({ subnetId: subnetA, securityGroupIds: [group] });
    expect(emulator.instance(id ?? '')?.publicIpAddress).toBeUndefined();
    expect(emulator.calls('RunInstances')[0]?.params.SubnetId).toBe(subnetA);
  });
});

describe('every launch', () => {
  it('encrypts the root volume it sizes (pool, on-demand and spot)', async () => {
    const { emulator, compute } = await setup({ launchTemplates: [privateTemplate] });
    const ids = [
      ...launchedIds(await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'p' })),
      ...launchedIds(await compute.launchEphemeral({ pool, market: 'on-demand', clientToken: 'od' })),
      ...launchedIds(await compute.launchEphemeral({ pool, market: 'spot', clientToken: 's' })),
    ];
    for (const id of ids)
      expect(emulator.instance(id)).toMatchObject({ volumeEncrypted: true, volumeSizeGb: pool.volumeSizeGb });
    const fleet = emulator.calls('CreateFleet')[0]?.params ?? {};
    const overrides = Object.keys(fleet).filter((k) =>
      /Overrides\.\d+\.BlockDeviceMapping\.1\.Ebs\.Encrypted$/.test(k),
    );
    expect(overrides).toHaveLength(pool.instanceTypes.length * pool.subnets.length);
  });

  it('terminates one-time spot and on-demand instances on shutdown, stops pool ones', async () => {
    const { emulator, compute } = await setup();
    const [poolId] = launchedIds(
      await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'p' }),
    );
    const [od] = launchedIds(await compute.launchEphemeral({ pool, market: 'on-demand', clientToken: 'od' }));
    const [spot] = launchedIds(await compute.launchEphemeral({ pool, market: 'spot', clientToken: 's' }));
    expect(emulator.instance(poolId ?? '')?.shutdownBehavior).toBe('stop');
    expect(emulator.instance(od ?? '')?.shutdownBehavior).toBe('terminate');
    expect(emulator.instance(spot ?? '')?.shutdownBehavior).toBe('terminate');
  });

  it('asks spot fleets for price-capacity-optimized allocation', async () => {
    const { emulator, compute } = await setup();
    await compute.launchEphemeral({ pool, market: 'spot', clientToken: 's' });
    expect(emulator.calls('CreateFleet')[0]?.params['SpotOptions.AllocationStrategy']).toBe(
      'price-capacity-optimized',
    );
  });
});

describe('a type EC2 does not offer in a zone', () => {
  it('is refused as Unsupported, and the launch moves on to the next type and zone', async () => {
    const { emulator, compute } = await setup();
    emulator.withdrawOffering('m7i.large', 'us-east-1a');
    const outcome = await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'p' });
    expect(outcome).toMatchObject({ kind: 'launched', instances: [{ instanceType: 'm6i.large' }] });
    expect(emulator.calls('RunInstances')[0]?.error).toBe('Unsupported');
    const od = await compute.launchEphemeral({ pool, market: 'on-demand', clientToken: 'od' });
    expect(od).toMatchObject({
      kind: 'launched',
      instances: [{ instanceType: 'm7i.large', subnetId: subnetB }],
    });
  });

  it('is a refusal, not a fault, when no type is offered anywhere', async () => {
    const { emulator, compute } = await setup();
    for (const type of pool.instanceTypes)
      for (const zone of Object.values(subnetZones)) emulator.withdrawOffering(type, zone);
    const outcome = await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'p' });
    expect(outcome.kind).toBe('insufficient-capacity');
    expect(outcome.kind === 'insufficient-capacity' && outcome.message).toContain(
      'is not supported in your requested Availability Zone',
    );
    expect((await compute.launchEphemeral({ pool, market: 'spot', clientToken: 's' })).kind).toBe(
      'insufficient-capacity',
    );
  });
});
