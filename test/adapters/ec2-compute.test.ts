import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { Ec2Compute } from '../../scheduler/adapters/ec2-compute.js';
import { describeComputeContract } from '../contracts/compute.contract.js';
import { defaultLaunchTemplate, Ec2Emulator } from '../peers/ec2/index.js';

describeComputeContract('Ec2Compute against the EC2 emulator', async ({ clock, project, subnetZones }) => {
  // Timings at their defaults: instances move only when the test plays the guest (settle).
  const emulator = await Ec2Emulator.start({ subnets: subnetZones });
  const client = createEc2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  const compute = new Ec2Compute({
    client,
    launchTemplate: { id: defaultLaunchTemplate.id },
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
    foreignInstance: async (subnetId) =>
      emulator.seedInstance({ instanceType: 't3.micro', subnetId, tags: { team: 'data' } }).id,
    totalInstances: async () => emulator.instances().length,
    cleanup: async () => {
      client.destroy();
      await emulator.close();
    },
  };
});
