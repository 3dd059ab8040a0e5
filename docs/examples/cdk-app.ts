/**
 * A CDK app of your own with warm-pool runners in it: the whole of the user code it takes.
 * Run: `npx cdk synth --app "node --import tsx docs/examples/cdk-app.ts"` (test/infra/example-app.test.ts
 * synthesizes it). Replace the ids with yours; the pools are the starter config's.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { WarmPoolRunners } from 'warm-pool-runners';

const app = new App();
const stack = new Stack(app, 'CiRunners', { env: { account: '111111111111', region: 'eu-west-1' } });
const subnets = [
  { id: 'subnet-0a1b2c3d4e5f60001', availabilityZone: 'eu-west-1a' },
  { id: 'subnet-0a1b2c3d4e5f60002', availabilityZone: 'eu-west-1b' },
];
new WarmPoolRunners(stack, 'Runners', {
  github: { organization: 'example-org', appId: 123456, installationId: 12345678 },
  network: { vpc: Vpc.fromLookup(stack, 'Vpc', { vpcId: 'vpc-0a1b2c3d4e5f60718' }), subnets },
  pools: {
    pools: [
      {
        name: 'linux-x64',
        labels: ['self-hosted', 'linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: subnets.map((s) => s.id),
        defaultSize: 2,
        maximum: 20,
      },
    ],
  },
  image: { architectures: ['x64'] },
});
app.synth();
