import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { Ec2Compute } from '../../scheduler/adapters/ec2-compute.js';
import { defaultLaunchTemplate, Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { describeComputeContract } from '../contracts/compute.contract.js';

const imageParameter = (architecture: string) => `/wpr-contract/ami/${architecture}`;

describeComputeContract(
  'Ec2Compute against the EC2 and SSM emulators',
  async ({ clock, project, subnetZones, images }) => {
    // Timings at their defaults: instances move only when the test plays the guest (settle).
    // The emulator knows each image's architecture, so an image launched on the wrong type fails.
    const emulator = await Ec2Emulator.start({
      subnets: subnetZones,
      images: { [images.x64]: 'x86_64', [images.arm64]: 'arm64' },
    });
    const ssm = await startSsmPeer({ now: () => clock.now() });
    ssm.put(imageParameter('x64'), images.x64);
    ssm.put(imageParameter('arm64'), images.arm64);
    const client = createEc2Client({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    const compute = new Ec2Compute({
      client,
      launchTemplate: { id: defaultLaunchTemplate.id },
      images: {
        x64: { parameterName: imageParameter('x64') },
        arm64: { parameterName: imageParameter('arm64') },
      },
      ssm: ssm.client,
      project,
      clock,
      subnetZones,
      // Small pages so listInstances has to follow NextToken.
      pageSize: 5,
    });
    return {
      compute,
      exhaustCapacity: (fault) => emulator.exhaustCapacity(fault),
      boot: async (id) => {
        emulator.settle(id);
        await emulator.waitForState(id, 'running');
      },
      powerOff: async (id) => {
        emulator.guestPowerOff(id);
        emulator.settle(id);
      },
      inspect: async (id) => emulator.instance(id),
      guestTag: async (id, key, value) => emulator.guestTag(id, key, value),
      foreignInstance: async (subnetId) =>
        emulator.seedInstance({ instanceType: 't3.micro', subnetId, tags: { team: 'data' } }).id,
      totalInstances: async () => emulator.instances().length,
      publishImage: async (architecture, imageId) => {
        emulator.registerImage(imageId, architecture === 'arm64' ? 'arm64' : 'x86_64');
        ssm.put(imageParameter(architecture), imageId);
      },
      cleanup: async () => {
        client.destroy();
        await emulator.close();
        await ssm.close();
      },
    };
  },
);
