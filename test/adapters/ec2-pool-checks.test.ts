/**
 * checkPoolsOnEc2 against the EC2 and SSM emulators: what a pool config asks of the account that the
 * schema cannot see (subnets, type offerings per zone, the image and its root snapshot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { checkPoolsOnEc2 } from '../../scheduler/adapters/ec2-pool-checks.js';
import { type PoolsConfig, poolsConfigSchema } from '../../scheduler/core/pool-config.js';
import { Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { subnetZones } from '../contracts/compute.contract.js';

const [subnetA, subnetB] = Object.keys(subnetZones) as [string, string, string];
const x64Image = 'ami-0aaaaaaaaaaaaaaa1';
const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

function config(pool: Record<string, unknown> = {}): PoolsConfig {
  return poolsConfigSchema.parse({
    pools: [
      {
        name: 'linux-x64',
        labels: ['linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: [subnetA, subnetB],
        volumeSizeGb: 40,
        defaultSize: 1,
        maximum: 4,
        ...pool,
      },
    ],
  });
}

async function setup(rootGb = 30) {
  const ec2 = await Ec2Emulator.start({ subnets: subnetZones, imageRootGb: { [x64Image]: rootGb } });
  const ssm = await startSsmPeer({ throttle: false });
  ssm.put('/wpr/ami/x64', x64Image);
  const client = createEc2Client({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  open.push(async () => {
    client.destroy();
    await ec2.close();
    await ssm.close();
  });
  const check = (c: PoolsConfig) =>
    checkPoolsOnEc2({ ec2: client, ssm: ssm.client, imageParameter: (arch) => `/wpr/ami/${arch}` }, c);
  return { ec2, ssm, check };
}

describe('checkPoolsOnEc2', () => {
  it('finds nothing wrong with a pool EC2 can launch', async () => {
    const { check } = await setup();
    expect(await check(config())).toEqual({ errors: [], warnings: [] });
  });

  it('refuses a volume smaller than the image root snapshot', async () => {
    const { check } = await setup(50);
    expect((await check(config())).errors).toEqual([
      'pool "linux-x64": volumeSizeGb: 40 is smaller than the root snapshot of its image ami-0aaaaaaaaaaaaaaa1 (50 GiB); EC2 refuses such a launch',
    ]);
  });

  it('refuses a type offered in none of the zones, and warns of one missing in some', async () => {
    const { ec2, check } = await setup();
    ec2.withdrawOffering('m7i.large', 'us-east-1a');
    ec2.withdrawOffering('m6i.large', 'us-east-1a');
    ec2.withdrawOffering('m6i.large', 'us-east-1b');
    expect(await check(config())).toEqual({
      errors: [
        'pool "linux-x64": instanceTypes: m6i.large is not offered in any of its zones (us-east-1a, us-east-1b)',
      ],
      warnings: [
        'pool "linux-x64": instanceTypes: m7i.large is not offered in us-east-1a; launches there use the next type',
      ],
    });
  });

  it('refuses a subnet that does not exist, and checks the others', async () => {
    const { check } = await setup();
    const report = await check(config({ subnets: [subnetA, 'subnet-0ffffffffffffffff'] }));
    expect(report.errors).toEqual(['pool "linux-x64": subnets: subnet-0ffffffffffffffff does not exist']);
  });

  it('warns of an architecture whose first image is not built yet, and refuses an image that does not exist', async () => {
    const { ssm, check } = await setup();
    const arm = config({ name: 'linux-arm64', architecture: 'arm64', instanceTypes: ['m7g.large'] });
    expect((await check(arm)).warnings).toEqual([
      'pool "linux-arm64": no arm64 image yet (/wpr/ami/arm64 does not exist): the pool launches nothing until the image pipeline publishes one',
    ]);
    ssm.put('/wpr/ami/x64', 'ami-0ffffffffffffffff');
    expect((await check(config())).errors).toEqual([
      'pool "linux-x64": /wpr/ami/x64 names ami-0ffffffffffffffff, which does not exist',
    ]);
  });
});
