import { describe, expect, it } from 'vitest';
import { tagKeys } from '../../../scheduler/adapters/tags.js';
import { ComputeError } from '../../../scheduler/ports/compute.js';
import { InMemoryCompute } from '../../../stand-ins/in-memory/in-memory-compute.js';
import { contractPool, describeComputeContract, subnetZones } from '../../contracts/compute.contract.js';

describeComputeContract('InMemoryCompute', async ({ clock, project, subnetZones, images }) => {
  const compute = new InMemoryCompute({ clock, project, subnetZones, images });
  return {
    compute,
    exhaustCapacity: (fault) => compute.exhaustCapacity(fault),
    boot: async (id) => compute.markRunning(id),
    powerOff: async (id) => compute.powerOff(id),
    inspect: async (id) => compute.instance(id),
    guestTag: async (id, key, value) => compute.guestTag(id, key, value),
    foreignInstance: async (subnetId) =>
      compute.seedInstance({ instanceType: 't3.micro', subnetId, tags: { team: 'data' } }).id,
    totalInstances: async () => compute.allInstances().length,
    publishImage: async (architecture, imageId) => compute.publishImage(architecture, imageId),
    cleanup: async () => {},
  };
});

describe('InMemoryCompute test controls', () => {
  const make = () => {
    let now = 1_000;
    const clock = { now: () => now };
    const compute = new InMemoryCompute({ clock, subnetZones });
    return { compute, advance: (ms: number) => (now += ms) };
  };

  it('hands out deterministic ids and counts calls per operation', async () => {
    const { compute } = make();
    const token = 't1';
    const outcome = await compute.launchForPool({
      pool: contractPool,
      count: 2,
      subnetIds: [],
      clientToken: token,
    });
    expect(outcome.kind === 'launched' && outcome.instances.map((i) => i.id)).toEqual([
      'i-00000000000000001',
      'i-00000000000000002',
    ]);
    await compute.start('i-00000000000000001');
    expect(compute.callCount('launchForPool')).toBe(1);
    expect(compute.callCount('start')).toBe(1);
    expect(compute.calls().map((c) => c.operation)).toEqual(['launchForPool', 'start']);
  });

  it('resets LaunchTime on start and keeps terminated instances listed for an hour', async () => {
    const { compute, advance } = make();
    const outcome = await compute.launchForPool({
      pool: contractPool,
      count: 1,
      subnetIds: [],
      clientToken: 't',
    });
    const id = outcome.kind === 'launched' ? (outcome.instances[0]?.id ?? '') : '';
    compute.markRunning(id);
    compute.powerOff(id);
    advance(5_000);
    await compute.start(id);
    expect(compute.instance(id)?.launchedAt).toBe(6_000);
    await compute.terminate([id]);
    advance(59 * 60 * 1000);
    expect((await compute.listInstances()).map((i) => i.state)).toEqual(['terminated']);
    advance(60 * 1000);
    expect(await compute.listInstances()).toEqual([]);
  });

  it('restores capacity by selector', async () => {
    const { compute } = make();
    compute.exhaustCapacity({ market: 'spot' });
    const request = { pool: contractPool, market: 'spot' as const, clientToken: 'a' };
    expect((await compute.launchEphemeral(request)).kind).toBe('insufficient-capacity');
    compute.restoreCapacity({ market: 'spot' });
    // The failed fleet is recorded under its token, as EC2 records an instant fleet.
    expect((await compute.launchEphemeral(request)).kind).toBe('insufficient-capacity');
    expect((await compute.launchEphemeral({ ...request, clientToken: 'b' })).kind).toBe('launched');
  });

  it('publishes a new spec without touching existing instances', async () => {
    const { compute } = make();
    const before = await compute.currentSpec(contractPool, 'm7i.large');
    const outcome = await compute.launchForPool({
      pool: contractPool,
      count: 1,
      subnetIds: [],
      clientToken: 'x',
    });
    compute.publishSpec({ imageId: 'ami-0000000000000000b' });
    const after = await compute.currentSpec(contractPool, 'm7i.large');
    expect(after).toBe('ami-0000000000000000b:2:m7i.large');
    const id = outcome.kind === 'launched' ? (outcome.instances[0]?.id ?? '') : '';
    expect(compute.instance(id)?.tags[tagKeys.spec]).toBe(before);
  });

  it('throws an injected fault once, as a ComputeError with its cause', async () => {
    const { compute } = make();
    const cause = new Error('ECONNRESET');
    compute.failNext('listInstances', cause);
    const error = await compute.listInstances().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as ComputeError).cause).toBe(cause);
    expect(await compute.listInstances()).toEqual([]);
  });

  it('terminates an ephemeral instance when its guest powers off', async () => {
    const { compute } = make();
    const outcome = await compute.launchEphemeral({ pool: contractPool, market: 'spot', clientToken: 'e' });
    const id = outcome.kind === 'launched' ? (outcome.instances[0]?.id ?? '') : '';
    compute.markRunning(id);
    compute.powerOff(id);
    expect(compute.instance(id)?.state).toBe('terminated');
  });
});
