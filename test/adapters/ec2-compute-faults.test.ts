/**
 * Ec2Compute beyond the contract: how it uses EC2 (tokens, template versions, images, fleet shape), and
 * how it copes with throttling, lost responses and errors, against the EC2 and SSM emulators.
 */
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { Ec2Compute, type Ec2ComputeOptions } from '../../scheduler/adapters/ec2-compute.js';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { ComputeError } from '../../scheduler/ports/compute.js';
import {
  defaultLaunchTemplate,
  Ec2Emulator,
  type Ec2EmulatorOptions,
} from '../../stand-ins/aws/ec2/index.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import {
  contractArmPool as armPool,
  contractPool as pool,
  subnetZones,
} from '../contracts/compute.contract.js';

const [subnetA, subnetB, subnetC] = Object.keys(subnetZones) as [string, string, string];
const project = 'wpr-test';
// The x64 image is the template's own, as in the deployed template; the arm64 one is the other image.
const x64Image = defaultLaunchTemplate.versions[0]?.imageId ?? '';
const armImage = 'ami-0fedcba9876543210';
const imageParameters = { x64: '/wpr/ami/x64', arm64: '/wpr/ami/arm64' } as const;

let now = Date.UTC(2026, 0, 5, 9);
const clock = { now: () => now };
const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

async function setup(
  options: { emulator?: Ec2EmulatorOptions; maxAttempts?: number; compute?: Partial<Ec2ComputeOptions> } = {},
) {
  const emulator = await Ec2Emulator.start({
    subnets: subnetZones,
    images: { [x64Image]: 'x86_64', [armImage]: 'arm64' },
    ...options.emulator,
  });
  const ssm: SsmPeer = await startSsmPeer({ now: () => now, throttle: false });
  ssm.put(imageParameters.x64, x64Image);
  ssm.put(imageParameters.arm64, armImage);
  const client = createEc2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
  });
  const compute = new Ec2Compute({
    client,
    launchTemplate: { id: defaultLaunchTemplate.id },
    images: {
      x64: { parameterName: imageParameters.x64 },
      arm64: { parameterName: imageParameters.arm64 },
    },
    ssm: ssm.client,
    project,
    clock,
    subnetZones,
    ...options.compute,
  });
  open.push(async () => {
    client.destroy();
    await emulator.close();
    await ssm.close();
  });
  return { emulator, compute, ssm };
}

function ids(outcome: Awaited<ReturnType<Ec2Compute['launchForPool']>>): string[] {
  if (outcome.kind !== 'launched') throw new Error(`not launched: ${outcome.message}`);
  return outcome.instances.map((i) => i.id).sort();
}

describe('Ec2Compute launches', () => {
  it('launches pool instances from the pinned template version with volume, tags and stop on shutdown', async () => {
    const { emulator, compute } = await setup();
    // A new template version whose own image is another: the launch still names the pool's image.
    emulator.publishLaunchTemplateVersion(defaultLaunchTemplate.id, { imageId: 'ami-0000000000000000b' });
    const outcome = await compute.launchForPool({ pool, count: 2, subnetIds: [subnetC], clientToken: 'p-1' });
    const [id] = ids(outcome);
    const seen = emulator.instance(id ?? '');
    expect(seen).toMatchObject({
      imageId: x64Image,
      launchTemplate: { id: defaultLaunchTemplate.id, version: 2 },
      volumeSizeGb: pool.volumeSizeGb,
      shutdownBehavior: 'stop',
      subnetId: subnetC,
    });
    const spec = `${x64Image}:2:m7i.large`;
    expect(seen?.tags[tagKeys.spec]).toBe(spec);
    const ours = Object.fromEntries(Object.entries(seen?.tags ?? {}).filter(([k]) => k.startsWith('wpr:')));
    expect(Object.keys(ours)).toHaveLength(4);
    expect(seen?.volumeTags).toEqual(ours);
    expect(outcome.kind === 'launched' && outcome.instances[0]?.spec).toBe(spec);
    expect(outcome.kind === 'launched' && outcome.instances[0]?.launchedAt).toBe(now);
    // One call per subnet: MinCount 1 lets EC2 launch fewer when short, MaxCount is the subnet's share.
    expect(emulator.calls('RunInstances').map((c) => [c.params.MinCount, c.params.MaxCount])).toEqual([
      ['1', '2'],
    ]);
  });

  it('finds the earlier instances when a retried request now gets another type', async () => {
    const { emulator, compute } = await setup();
    emulator.exhaustCapacity({ instanceType: 'm7i.large', availabilityZone: 'us-east-1a' });
    const request = { pool, count: 2, subnetIds: [subnetA], clientToken: 'p-2' };
    const first = await compute.launchForPool(request);
    emulator.restoreCapacity();
    // m7i.large now fits, but the token already launched m6i.large: EC2 says mismatch, the adapter looks.
    const second = await compute.launchForPool(request);
    expect(ids(second)).toEqual(ids(first));
    expect(second.kind === 'launched' && second.instances.map((i) => i.spec)).toEqual([
      'ami-0123456789abcdef0:1:m6i.large',
      'ami-0123456789abcdef0:1:m6i.large',
    ]);
    expect(emulator.instances()).toHaveLength(2);
    expect(emulator.calls('RunInstances').map((c) => c.error)).toEqual([
      'InsufficientInstanceCapacity',
      undefined,
      'IdempotentParameterMismatch',
    ]);
  });

  it('asks for a spot instant fleet over every type × subnet, price-capacity-optimized, with the request token', async () => {
    const { emulator, compute } = await setup();
    emulator.exhaustCapacity({ market: 'spot', availabilityZone: 'us-east-1a' });
    const outcome = await compute.launchEphemeral({ pool, market: 'spot', clientToken: 'job-42-attempt-1' });
    expect(outcome.kind).toBe('launched');
    const [call] = emulator.calls('CreateFleet');
    expect(call?.params).toMatchObject({
      Type: 'instant',
      ClientToken: 'job-42-attempt-1',
      'SpotOptions.AllocationStrategy': 'price-capacity-optimized',
      'TargetCapacitySpecification.TotalTargetCapacity': '1',
      'TargetCapacitySpecification.DefaultTargetCapacityType': 'spot',
      'LaunchTemplateConfigs.1.LaunchTemplateSpecification.Version': '1',
      'LaunchTemplateConfigs.1.Overrides.6.InstanceType': 'm6i.large',
      'LaunchTemplateConfigs.1.Overrides.6.SubnetId': subnetC,
    });
    expect(call?.params['LaunchTemplateConfigs.1.Overrides.7.InstanceType']).toBeUndefined();
    const [launched] = outcome.kind === 'launched' ? outcome.instances : [];
    expect(launched).toMatchObject({ subnetId: subnetB, availabilityZone: 'us-east-1b', market: 'spot' });
    expect(emulator.instance(launched?.id ?? '')?.volumeSizeGb).toBe(pool.volumeSizeGb);
  });

  it('reports a fleet refused for other reasons than capacity as a ComputeError', async () => {
    const { compute } = await setup({ compute: { launchTemplate: { id: 'lt-0000000000000dead' } } });
    const error = await compute
      .launchEphemeral({ pool, market: 'spot', clientToken: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as ComputeError).message).toContain('InvalidLaunchTemplateId.NotFound');
  });

  it('does not retry capacity errors: one RunInstances per type and subnet', async () => {
    const { emulator, compute } = await setup();
    emulator.exhaustCapacity({ operation: 'launch' });
    const outcome = await compute.launchForPool({
      pool,
      count: 3,
      subnetIds: pool.subnets,
      clientToken: 'p-3',
    });
    expect(outcome.kind).toBe('insufficient-capacity');
    expect(emulator.callCount('RunInstances')).toBe(pool.instanceTypes.length * pool.subnets.length);
  });

  it('learns subnet zones with DescribeSubnets when not told, once per subnet', async () => {
    const { emulator, compute } = await setup({ compute: { subnetZones: {} } });
    for (const token of ['e-1', 'e-2'])
      expect(await compute.launchEphemeral({ pool, market: 'spot', clientToken: token })).toMatchObject({
        kind: 'launched',
        instances: [{ availabilityZone: 'us-east-1a' }],
      });
    expect(emulator.callCount('DescribeSubnets')).toBe(1);
  });
});

describe('Ec2Compute under throttling and lost responses', () => {
  it('retries RequestLimitExceeded until the RunInstances bucket refills, launching once', async () => {
    const { emulator, compute } = await setup();
    // An empty resource bucket: the first attempt is throttled, a later one finds a token.
    emulator.configureBucket('resource:RunInstances', { capacity: 10, refillPerSecond: 20 }, 0);
    const outcome = await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'thr' });
    expect(ids(outcome)).toHaveLength(1);
    const calls = emulator.calls('RunInstances');
    expect(calls[0]?.error).toBe('RequestLimitExceeded');
    expect(calls.at(-1)?.error).toBeUndefined();
    expect(new Set(calls.map((c) => c.params.ClientToken)).size).toBe(1);
    expect(emulator.instances()).toHaveLength(1);
  });

  it('retries a throttled describe until the request bucket refills', async () => {
    const { emulator, compute } = await setup();
    emulator.configureBucket('DescribeInstances', { capacity: 1, refillPerSecond: 20 }, 0);
    expect(await compute.listInstances()).toEqual([]);
    expect(emulator.calls('DescribeInstances')[0]?.error).toBe('RequestLimitExceeded');
  });

  it('launches once when the response to a launch is lost and the SDK retries it', async () => {
    const { emulator, compute } = await setup();
    emulator.failNext('RunInstances', { code: 'InternalError', status: 500, afterProcessing: true });
    const outcome = await compute.launchForPool({
      pool,
      count: 2,
      subnetIds: [subnetB],
      clientToken: 'lost',
    });
    expect(ids(outcome)).toHaveLength(2);
    expect(emulator.instances()).toHaveLength(2);
    expect(emulator.calls('RunInstances').map((c) => c.error)).toEqual(['InternalError', undefined]);
  });

  it('reports a start whose first answer was lost as started', async () => {
    const { emulator, compute } = await setup();
    const [id = ''] = ids(
      await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 's' }),
    );
    emulator.settle(id);
    emulator.guestPowerOff(id);
    emulator.settle(id);
    emulator.failNext('StartInstances', { code: 'InternalError', status: 500, afterProcessing: true });
    expect(await compute.start(id)).toEqual({ kind: 'started' });
    expect(emulator.calls('StartInstances').map((c) => c.error)).toEqual(['InternalError', undefined]);
  });
});

describe('Ec2Compute error mapping', () => {
  it('turns an unexpected EC2 error into a ComputeError carrying the SDK error', async () => {
    const { emulator, compute } = await setup();
    emulator.failNext('StartInstances', {
      code: 'UnauthorizedOperation',
      status: 403,
      message: 'not allowed',
    });
    const error = await compute.start('i-0123456789abcdef0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    const cause = (error as ComputeError).cause;
    expect(cause).toBeInstanceOf(EC2ServiceException);
    expect(cause).toMatchObject({ name: 'UnauthorizedOperation', message: 'not allowed' });
    expect((cause as EC2ServiceException).$metadata.httpStatusCode).toBe(403);
  });

  it('gives up on a persistent server error after the configured attempts', async () => {
    const { emulator, compute } = await setup({ maxAttempts: 2 });
    emulator.failNext('DescribeInstances', { code: 'InternalError', status: 500 }, 5);
    const error = await compute.listInstances().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    expect(emulator.callCount('DescribeInstances')).toBe(2);
  });

  it('maps state errors of a resize and unknown ids of a terminate', async () => {
    const { emulator, compute } = await setup();
    const [id = ''] = ids(
      await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 't' }),
    );
    expect(await compute.changeType(id, 'm6i.large')).toMatchObject({ kind: 'incorrect-state' });
    await compute.terminate([id, 'i-0000000000000dead', 'i-0000000000000beef']);
    expect(emulator.instance(id)?.state).toBe('shutting-down');
    expect(emulator.calls('TerminateInstances').map((c) => c.error)).toEqual([
      'InvalidInstanceID.NotFound',
      undefined,
    ]);
  });
});

describe('Ec2Compute reads', () => {
  it('pages through DescribeInstances', async () => {
    const { emulator, compute } = await setup({ compute: { pageSize: 5 } });
    ids(await compute.launchForPool({ pool, count: 12, subnetIds: pool.subnets, clientToken: 'many' }));
    emulator.seedInstance({ instanceType: 't3.micro', subnetId: subnetA });
    const listed = await compute.listInstances();
    expect(listed).toHaveLength(12);
    expect(new Set(listed.map((i) => i.id)).size).toBe(12);
    expect(emulator.callCount('DescribeInstances')).toBe(3);
  });

  it('caches the template version for a while', async () => {
    const { emulator, compute } = await setup({ compute: { specCacheMs: 60_000 } });
    expect(await compute.currentSpec(pool, 'm7i.large')).toBe(`${x64Image}:1:m7i.large`);
    emulator.publishLaunchTemplateVersion(defaultLaunchTemplate.id, { imageId: 'ami-0000000000000000c' });
    now += 59_000;
    expect(await compute.currentSpec(pool, 'm7i.large')).toBe(`${x64Image}:1:m7i.large`);
    now += 1_000;
    expect(await compute.currentSpec(pool, 'm7i.large')).toBe(`${x64Image}:2:m7i.large`);
    expect(emulator.callCount('DescribeLaunchTemplateVersions')).toBe(2);
    expect(emulator.calls('DescribeLaunchTemplateVersions')[0]?.params).toMatchObject({
      'LaunchTemplateVersion.1': '$Latest',
    });
  });
});

describe('Ec2Compute images', () => {
  it("names the pool's image in RunInstances and in every fleet override", async () => {
    const { emulator, compute } = await setup();
    ids(await compute.launchForPool({ pool: armPool, count: 1, subnetIds: [subnetA], clientToken: 'arm' }));
    ids(await compute.launchEphemeral({ pool: armPool, market: 'on-demand', clientToken: 'arm-od' }));
    ids(await compute.launchEphemeral({ pool: armPool, market: 'spot', clientToken: 'arm-spot' }));
    ids(await compute.launchForPool({ pool, count: 1, subnetIds: [subnetA], clientToken: 'x64' }));
    expect(emulator.calls('RunInstances').map((c) => [c.params.InstanceType, c.params.ImageId])).toEqual([
      ['m7g.large', armImage],
      ['m7g.large', armImage],
      ['m7i.large', x64Image],
    ]);
    const [fleet] = emulator.calls('CreateFleet');
    const overrides = Object.entries(fleet?.params ?? {}).filter(([k]) => /Overrides\.\d+\.ImageId$/.test(k));
    expect(overrides).toHaveLength(armPool.instanceTypes.length * armPool.subnets.length);
    expect(new Set(overrides.map(([, v]) => v))).toEqual(new Set([armImage]));
  });

  it('reads each image parameter once per cache period and then sees a new image', async () => {
    const { compute, ssm } = await setup({ compute: { specCacheMs: 60_000 } });
    const reads = () => ssm.calls('GetParameter').map((c) => c.input.Name);
    await Promise.all([
      compute.currentSpec(armPool, 'm7g.large'),
      compute.currentSpec(armPool, 'c7g.large'),
      compute.currentSpec(pool, 'm7i.large'),
    ]);
    expect(reads().sort()).toEqual([imageParameters.arm64, imageParameters.x64]);
    ssm.put(imageParameters.arm64, 'ami-0fedcba9876543211');
    now += 59_000;
    expect(await compute.currentSpec(armPool, 'm7g.large')).toBe(`${armImage}:1:m7g.large`);
    now += 1_000;
    expect(await compute.currentSpec(armPool, 'm7g.large')).toBe('ami-0fedcba9876543211:1:m7g.large');
    expect(reads()).toHaveLength(3);
  });

  it('keeps the last image read while Parameter Store fails, and reads again after the cache period', async () => {
    const { compute, ssm } = await setup({ compute: { specCacheMs: 60_000 } });
    expect(await compute.currentSpec(armPool, 'm7g.large')).toBe(`${armImage}:1:m7g.large`);
    ssm.put(imageParameters.arm64, 'ami-0fedcba9876543211');
    ssm.injectFault({ action: 'GetParameter', type: 'AccessDeniedException', status: 400, times: 1 });
    now += 60_000;
    expect(await compute.currentSpec(armPool, 'm7g.large')).toBe(`${armImage}:1:m7g.large`);
    now += 60_000;
    expect(await compute.currentSpec(armPool, 'm7g.large')).toBe('ami-0fedcba9876543211:1:m7g.large');
  });

  it('reports a missing or malformed image parameter as a ComputeError, and reads it again next time', async () => {
    const { compute, ssm } = await setup();
    ssm.put(imageParameters.arm64, 'resolve:ssm:/elsewhere');
    const malformed = await compute
      .launchForPool({ pool: armPool, count: 1, subnetIds: [subnetA], clientToken: 'bad' })
      .catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(ComputeError);
    expect((malformed as ComputeError).message).toContain(`${imageParameters.arm64} holds no AMI id`);
    // No SSM parameter is ever deleted by the pipeline; a peer without it stands for a wrong prefix.
    const { compute: elsewhere } = await setup({
      compute: { images: { x64: { parameterName: '/other/ami/x64' }, arm64: { imageId: armImage } } },
    });
    const missing = await elsewhere.currentSpec(pool, 'm7i.large').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ComputeError);
    expect((missing as ComputeError).message).toBe('the x64 image parameter /other/ami/x64 does not exist');
    // A failed read is not cached: the next call reads again and finds the fixed value.
    ssm.put(imageParameters.arm64, armImage);
    expect(
      ids(await compute.launchEphemeral({ pool: armPool, market: 'spot', clientToken: 'ok' })),
    ).toHaveLength(1);
  });

  it('launches fixed image ids without reading SSM, and needs an SSM client for parameters', async () => {
    const { emulator, compute, ssm } = await setup({
      compute: { images: { x64: { imageId: x64Image }, arm64: { imageId: armImage } } },
    });
    const [id = ''] = ids(
      await compute.launchForPool({ pool: armPool, count: 1, subnetIds: [subnetB], clientToken: 'f' }),
    );
    expect(emulator.instance(id)?.imageId).toBe(armImage);
    expect(ssm.calls('GetParameter')).toHaveLength(0);
    expect(
      () =>
        new Ec2Compute({
          client: createEc2Client({ region: 'us-east-1' }),
          launchTemplate: { id: defaultLaunchTemplate.id },
          images: { x64: { imageId: x64Image }, arm64: { parameterName: imageParameters.arm64 } },
          project,
          clock,
        }),
    ).toThrow(ComputeError);
  });

  it('would have EC2 refuse the x64 image on an arm64 type', async () => {
    // What every arm64 launch did when the template's x64 image was the only one.
    const { compute } = await setup({
      compute: { images: { x64: { imageId: x64Image }, arm64: { imageId: x64Image } } },
    });
    const error = await compute
      .launchForPool({ pool: armPool, count: 1, subnetIds: [subnetA], clientToken: 'wrong' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as ComputeError).message).toContain('InvalidParameterValue');
  });
});
