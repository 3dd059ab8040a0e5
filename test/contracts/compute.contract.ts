/**
 * The Compute contract: what the in-memory fake and Ec2Compute against the EC2 emulator must both do.
 * Each subject brings a way to inject capacity faults and to play the guest (boot, power off), because
 * the interesting behaviour of Compute is how it reacts to EC2 refusing.
 *
 * The pools used here have two types each, one pool x64 and one arm64, and three subnets in three zones;
 * subjects must know those subnets (`subnetZones`) and start with `images` as each architecture's image.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { type PoolConfig, poolsConfigSchema } from '../../scheduler/core/pool-config.js';
import type { Market } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type { Compute, LaunchedInstance, ObservedInstance } from '../../scheduler/ports/compute.js';

export const contractProject = 'wpr-contract';
export const subnetZones: Readonly<Record<string, string>> = {
  'subnet-0a000000000000001': 'us-east-1a',
  'subnet-0b000000000000002': 'us-east-1b',
  'subnet-0c000000000000003': 'us-east-1c',
};
const [subnetA, subnetB, subnetC] = Object.keys(subnetZones) as [string, string, string];

const [x64Pool, arm64Pool] = poolsConfigSchema.parse({
  pools: [
    {
      name: 'linux-x64',
      labels: ['self-hosted', 'linux-x64'],
      architecture: 'x64',
      instanceTypes: ['m7i.large', 'm6i.large'],
      subnets: [subnetA, subnetB, subnetC],
      volumeSizeGb: 40,
      defaultSize: 4,
      maximum: 20,
    },
    {
      name: 'linux-arm64',
      labels: ['self-hosted', 'linux-arm64'],
      architecture: 'arm64',
      instanceTypes: ['m7g.large', 'c7g.large'],
      subnets: [subnetA, subnetB, subnetC],
      volumeSizeGb: 30,
      defaultSize: 2,
      maximum: 10,
    },
  ],
}).pools as [PoolConfig, PoolConfig];
export const contractPool: PoolConfig = x64Pool;
export const contractArmPool: PoolConfig = arm64Pool;

export type Architecture = PoolConfig['architecture'];

/** The image of each architecture when a subject starts. */
export const contractImages: Readonly<Record<Architecture, string>> = {
  x64: 'ami-0aaaaaaaaaaaaaaa1',
  arm64: 'ami-0bbbbbbbbbbbbbbb1',
};

/** Missing capacity; an absent field matches everything. */
export interface CapacityFault {
  readonly instanceType?: string;
  readonly availabilityZone?: string;
  readonly market?: Market;
  readonly operation?: 'start' | 'launch';
}

/** What the subject's EC2 (real or fake) holds about an instance. */
export interface InspectedInstance {
  readonly state: ObservedInstance['state'];
  readonly instanceType: string;
  readonly subnetId: string;
  readonly market: Market;
  readonly shutdownBehavior: 'stop' | 'terminate';
  readonly imageId: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ComputeSubject {
  readonly compute: Compute;
  exhaustCapacity(fault: CapacityFault): void;
  /** The instance finishes booting: pending → running. */
  boot(instanceId: string): Promise<void>;
  /** The guest shuts down and the instance settles (stopped, or terminated per its shutdown behaviour). */
  powerOff(instanceId: string): Promise<void>;
  inspect(instanceId: string): Promise<InspectedInstance | undefined>;
  /** The guest tags its own instance (the agent's reason before a failed power-off). */
  guestTag(instanceId: string, key: string, value: string): Promise<void>;
  /** Creates a running instance without the project tag (another team's). */
  foreignInstance(subnetId: string): Promise<string>;
  /** How many instances the subject's EC2 holds in total, terminated included. */
  totalInstances(): Promise<number>;
  /** The image pipeline publishes a new image of one architecture. */
  publishImage(architecture: Architecture, imageId: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ComputeSubjectContext {
  readonly clock: Clock;
  readonly project: string;
  readonly subnetZones: Readonly<Record<string, string>>;
  readonly images: Readonly<Record<Architecture, string>>;
}

class StepClock implements Clock {
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

let tokenCounter = 0;
const freshToken = (label: string) => `${label}-${process.pid}-${++tokenCounter}`;

export function describeComputeContract(
  name: string,
  make: (context: ComputeSubjectContext) => Promise<ComputeSubject>,
): void {
  describe(`Compute contract: ${name}`, () => {
    let subject: ComputeSubject;
    let compute: Compute;
    let clock: StepClock;

    beforeEach(async () => {
      clock = new StepClock(Date.UTC(2026, 0, 5, 9, 0, 0));
      subject = await make({ clock, project: contractProject, subnetZones, images: contractImages });
      compute = subject.compute;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    async function launchStopped(): Promise<LaunchedInstance> {
      const outcome = await compute.launchForPool({
        pool: contractPool,
        count: 1,
        subnetIds: [subnetA],
        clientToken: freshToken('stopped'),
      });
      if (outcome.kind !== 'launched') throw new Error(`launch refused: ${outcome.message}`);
      const [launched] = outcome.instances;
      if (launched === undefined) throw new Error('launch returned no instance');
      await subject.boot(launched.id);
      await subject.powerOff(launched.id);
      return launched;
    }

    describe('launchForPool', () => {
      it('launches the count asked, spread over the subnets, tagged for the pool', async () => {
        const outcome = await compute.launchForPool({
          pool: contractPool,
          count: 5,
          subnetIds: [subnetB, subnetA, subnetC],
          clientToken: freshToken('pool'),
        });
        expect(outcome.kind).toBe('launched');
        if (outcome.kind !== 'launched') return;
        expect(outcome.instances).toHaveLength(5);
        const perSubnet = (s: string) => outcome.instances.filter((i) => i.subnetId === s).length;
        // Round-robin in preference order: the first subnets take the remainder.
        expect([perSubnet(subnetB), perSubnet(subnetA), perSubnet(subnetC)]).toEqual([2, 2, 1]);
        const spec = await compute.currentSpec(contractPool, 'm7i.large');
        for (const launched of outcome.instances) {
          expect(launched).toMatchObject({ instanceType: 'm7i.large', market: 'on-demand', spec });
          expect(launched.availabilityZone).toBe(subnetZones[launched.subnetId]);
          const seen = await subject.inspect(launched.id);
          expect(seen).toMatchObject({
            state: 'pending',
            instanceType: 'm7i.large',
            subnetId: launched.subnetId,
            market: 'on-demand',
            shutdownBehavior: 'stop',
          });
          expect(seen?.tags).toMatchObject({
            [tagKeys.project]: contractProject,
            [tagKeys.pool]: 'linux-x64',
            [tagKeys.role]: 'pool',
            [tagKeys.spec]: spec,
          });
        }
        expect(new Set(outcome.instances.map((i) => i.id)).size).toBe(5);
      });

      it('never launches twice for the same client token', async () => {
        const request = {
          pool: contractPool,
          count: 3,
          subnetIds: [subnetA, subnetB],
          clientToken: freshToken('retry'),
        };
        const first = await compute.launchForPool(request);
        const second = await compute.launchForPool(request);
        expect(first.kind).toBe('launched');
        expect(second.kind).toBe('launched');
        if (first.kind !== 'launched' || second.kind !== 'launched') return;
        const ids = (o: typeof first) => o.instances.map((i) => i.id).sort();
        expect(ids(second)).toEqual(ids(first));
        expect(await subject.totalInstances()).toBe(3);
        // A new token is a new request.
        const third = await compute.launchForPool({ ...request, clientToken: freshToken('retry') });
        expect(third.kind === 'launched' && third.instances).toHaveLength(3);
        expect(await subject.totalInstances()).toBe(6);
      });

      it('falls back to the next type in a zone short of the first, and skips a zone with none', async () => {
        subject.exhaustCapacity({ instanceType: 'm7i.large', availabilityZone: 'us-east-1a' });
        subject.exhaustCapacity({ availabilityZone: 'us-east-1b', operation: 'launch' });
        const outcome = await compute.launchForPool({
          pool: contractPool,
          count: 3,
          subnetIds: [subnetA, subnetB, subnetC],
          clientToken: freshToken('short'),
        });
        expect(outcome.kind).toBe('launched');
        if (outcome.kind !== 'launched') return;
        expect(outcome.instances.map((i) => [i.subnetId, i.instanceType]).sort()).toEqual(
          [
            [subnetA, 'm6i.large'],
            [subnetC, 'm7i.large'],
          ].sort(),
        );
      });

      it('reports insufficient capacity when no subnet can take any type', async () => {
        subject.exhaustCapacity({ market: 'on-demand', operation: 'launch' });
        const outcome = await compute.launchForPool({
          pool: contractPool,
          count: 2,
          subnetIds: [subnetA, subnetB],
          clientToken: freshToken('none'),
        });
        expect(outcome.kind).toBe('insufficient-capacity');
        expect(await subject.totalInstances()).toBe(0);
      });
    });

    describe('start', () => {
      it('starts a stopped instance', async () => {
        const launched = await launchStopped();
        expect((await subject.inspect(launched.id))?.state).toBe('stopped');
        expect(await compute.start(launched.id)).toEqual({ kind: 'started' });
        expect((await subject.inspect(launched.id))?.state).toMatch(/^(pending|running)$/);
      });

      it('refuses to start an instance that is not stopped', async () => {
        const outcome = await compute.launchForPool({
          pool: contractPool,
          count: 1,
          subnetIds: [subnetA],
          clientToken: freshToken('running'),
        });
        const id = outcome.kind === 'launched' ? outcome.instances[0]?.id : undefined;
        if (id === undefined) throw new Error('no instance');
        await subject.boot(id);
        expect((await compute.start(id)).kind).toBe('incorrect-state');
        await compute.terminate([id]);
        expect((await compute.start(id)).kind).toBe('incorrect-state');
      });

      it('reports insufficient capacity when the type has none left in its zone', async () => {
        const launched = await launchStopped();
        subject.exhaustCapacity({
          instanceType: 'm7i.large',
          availabilityZone: 'us-east-1a',
          operation: 'start',
        });
        const outcome = await compute.start(launched.id);
        expect(outcome.kind).toBe('insufficient-capacity');
        expect((await subject.inspect(launched.id))?.state).toBe('stopped');
      });

      it("tags a hot runner's idle bound once its start is accepted, and never on a refused start", async () => {
        const hot = await launchStopped();
        expect(await compute.start(hot.id, { maxIdleSeconds: 15_000 })).toEqual({ kind: 'started' });
        expect((await subject.inspect(hot.id))?.tags[tagKeys.maxIdleSeconds]).toBe('15000');
        const plain = await launchStopped();
        await compute.start(plain.id);
        expect((await subject.inspect(plain.id))?.tags[tagKeys.maxIdleSeconds]).toBeUndefined();
        const refused = await launchStopped();
        subject.exhaustCapacity({
          instanceType: 'm7i.large',
          availabilityZone: 'us-east-1a',
          operation: 'start',
        });
        expect((await compute.start(refused.id, { maxIdleSeconds: 15_000 })).kind).toBe(
          'insufficient-capacity',
        );
        expect((await subject.inspect(refused.id))?.tags[tagKeys.maxIdleSeconds]).toBeUndefined();
      });

      it('reports an unknown instance as not found', async () => {
        expect(await compute.start('i-0123456789abcdef0')).toEqual({ kind: 'not-found' });
      });
    });

    describe('changeType', () => {
      it('changes the type of a stopped instance, which then starts where the old type could not', async () => {
        const launched = await launchStopped();
        subject.exhaustCapacity({
          instanceType: 'm7i.large',
          availabilityZone: 'us-east-1a',
          operation: 'start',
        });
        expect(await compute.changeType(launched.id, 'm6i.large')).toEqual({ kind: 'changed' });
        expect((await subject.inspect(launched.id))?.instanceType).toBe('m6i.large');
        expect(await compute.start(launched.id)).toEqual({ kind: 'started' });
      });

      it('refuses to change a running instance', async () => {
        const outcome = await compute.launchForPool({
          pool: contractPool,
          count: 1,
          subnetIds: [subnetB],
          clientToken: freshToken('resize'),
        });
        const id = outcome.kind === 'launched' ? outcome.instances[0]?.id : undefined;
        if (id === undefined) throw new Error('no instance');
        await subject.boot(id);
        expect((await compute.changeType(id, 'm6i.large')).kind).toBe('incorrect-state');
        expect((await subject.inspect(id))?.instanceType).toBe('m7i.large');
      });

      it('refuses a type of another architecture than its image, and leaves it as it was', async () => {
        const launched = await launchStopped();
        expect((await compute.changeType(launched.id, 'm7g.large')).kind).toBe('unsupported');
        expect((await subject.inspect(launched.id))?.instanceType).toBe('m7i.large');
        expect(await compute.changeType(launched.id, 'm7i.2xlarge')).toEqual({ kind: 'changed' });
        expect((await subject.inspect(launched.id))?.instanceType).toBe('m7i.2xlarge');
      });

      it('reports an unknown instance as not found', async () => {
        expect(await compute.changeType('i-0123456789abcdef0', 'm6i.large')).toEqual({ kind: 'not-found' });
      });
    });

    describe('launchEphemeral', () => {
      it('launches one spot instance in the first type and subnet with capacity', async () => {
        subject.exhaustCapacity({ instanceType: 'm7i.large', market: 'spot' });
        subject.exhaustCapacity({ availabilityZone: 'us-east-1a', market: 'spot' });
        const outcome = await compute.launchEphemeral({
          pool: contractPool,
          market: 'spot',
          clientToken: freshToken('spot'),
        });
        expect(outcome.kind).toBe('launched');
        if (outcome.kind !== 'launched') return;
        expect(outcome.instances).toHaveLength(1);
        const [launched] = outcome.instances;
        expect(launched).toMatchObject({ instanceType: 'm6i.large', subnetId: subnetB, market: 'spot' });
        const seen = await subject.inspect(launched?.id ?? '');
        expect(seen).toMatchObject({ market: 'spot', shutdownBehavior: 'terminate' });
        expect(seen?.tags).toMatchObject({
          [tagKeys.project]: contractProject,
          [tagKeys.pool]: 'linux-x64',
          [tagKeys.role]: 'ephemeral',
        });
      });

      it("launches a hot runner with its idle bound in the launch's tags, spot or on-demand", async () => {
        for (const market of ['spot', 'on-demand'] as const) {
          const outcome = await compute.launchEphemeral({
            pool: contractPool,
            market,
            clientToken: freshToken(`hot-${market}`),
            maxIdleSeconds: 15_000,
          });
          if (outcome.kind !== 'launched') throw new Error(`${market}: ${outcome.kind}`);
          const seen = await subject.inspect(outcome.instances[0]?.id ?? '');
          expect(seen?.tags, market).toMatchObject({
            [tagKeys.maxIdleSeconds]: '15000',
            [tagKeys.role]: 'ephemeral',
          });
        }
      });

      it('launches on-demand with terminate on shutdown', async () => {
        subject.exhaustCapacity({ instanceType: 'm7i.large', market: 'on-demand' });
        const outcome = await compute.launchEphemeral({
          pool: contractPool,
          market: 'on-demand',
          clientToken: freshToken('od'),
        });
        expect(outcome.kind).toBe('launched');
        if (outcome.kind !== 'launched') return;
        const [launched] = outcome.instances;
        expect(launched).toMatchObject({ instanceType: 'm6i.large', market: 'on-demand' });
        const seen = await subject.inspect(launched?.id ?? '');
        expect(seen).toMatchObject({ market: 'on-demand', shutdownBehavior: 'terminate' });
        expect(seen?.tags[tagKeys.role]).toBe('ephemeral');
        await subject.boot(launched?.id ?? '');
        await subject.powerOff(launched?.id ?? '');
        expect((await subject.inspect(launched?.id ?? ''))?.state).toBe('terminated');
      });

      it('reports insufficient capacity when every type and subnet is exhausted', async () => {
        subject.exhaustCapacity({ market: 'spot' });
        subject.exhaustCapacity({ market: 'on-demand', operation: 'launch' });
        for (const market of ['spot', 'on-demand'] as const) {
          const outcome = await compute.launchEphemeral({
            pool: contractPool,
            market,
            clientToken: freshToken('exhausted'),
          });
          expect(outcome.kind).toBe('insufficient-capacity');
        }
        expect(await subject.totalInstances()).toBe(0);
      });

      it('never launches twice for the same client token', async () => {
        for (const market of ['spot', 'on-demand'] as const) {
          const request = { pool: contractPool, market, clientToken: freshToken('eph') };
          const first = await compute.launchEphemeral(request);
          const second = await compute.launchEphemeral(request);
          expect(first.kind === 'launched' && first.instances.map((i) => i.id)).toEqual(
            second.kind === 'launched' && second.instances.map((i) => i.id),
          );
        }
        expect(await subject.totalInstances()).toBe(2);
      });
    });

    describe('terminate', () => {
      it('terminates, and ignores instances already gone or never known', async () => {
        const launched = await launchStopped();
        await compute.terminate([launched.id]);
        expect((await subject.inspect(launched.id))?.state).toMatch(/^(shutting-down|terminated)$/);
        await compute.terminate([launched.id, 'i-0123456789abcdef0']);
        await compute.terminate([]);
        expect((await subject.inspect(launched.id))?.state).toMatch(/^(shutting-down|terminated)$/);
      });
    });

    describe('listInstances', () => {
      it("lists the project's instances only, with their pool and state", async () => {
        const stopped = await launchStopped();
        const spot = await compute.launchEphemeral({
          pool: contractPool,
          market: 'spot',
          clientToken: freshToken('list'),
        });
        const foreign = await subject.foreignInstance(subnetB);
        const listed = await compute.listInstances();
        const byId = new Map(listed.map((i) => [i.id, i]));
        expect(byId.has(foreign)).toBe(false);
        expect(byId.get(stopped.id)).toMatchObject({
          pool: 'linux-x64',
          state: 'stopped',
          instanceType: 'm7i.large',
        });
        const spotId = spot.kind === 'launched' ? spot.instances[0]?.id : undefined;
        expect(spotId && byId.get(spotId)).toMatchObject({ pool: 'linux-x64', state: 'pending' });
        expect(listed).toHaveLength(2);
      });
    });

    describe('agentReason', () => {
      it('reads the reason the agent tagged, in agentReason and in listInstances', async () => {
        const clean = await launchStopped();
        const failed = await launchStopped();
        await subject.guestTag(failed.id, tagKeys.agentReason, 'warm-up-failed');
        expect(await compute.agentReason(clean.id)).toBeUndefined();
        expect(await compute.agentReason(failed.id)).toBe('warm-up-failed');
        const listed = await compute.listInstances();
        expect(listed.find((i) => i.id === failed.id)?.agentReason).toBe('warm-up-failed');
        expect(listed.find((i) => i.id === clean.id)?.agentReason).toBeUndefined();
      });

      it('reads nothing for an instance EC2 does not know', async () => {
        expect(await compute.agentReason('i-0123456789abcdef9')).toBeUndefined();
      });
    });

    describe('currentSpec', () => {
      it('names the image, the launch template version and the type', async () => {
        const a = await compute.currentSpec(contractPool, 'm7i.large');
        const b = await compute.currentSpec(contractPool, 'm6i.large');
        expect(a).toMatch(/^ami-[0-9a-f]+:\d+:m7i\.large$/);
        expect(b.replace('m6i.large', 'm7i.large')).toBe(a);
      });

      it("names the image of the pool's architecture", async () => {
        expect(await compute.currentSpec(contractPool, 'm7i.large')).toMatch(
          new RegExp(`^${contractImages.x64}:\\d+:m7i\\.large$`),
        );
        const arm = await compute.currentSpec(contractArmPool, 'm7g.large');
        expect(arm).toMatch(new RegExp(`^${contractImages.arm64}:\\d+:m7g\\.large$`));
        // Same template version: only the image differs.
        expect(arm.split(':')[1]).toBe((await compute.currentSpec(contractPool, 'm7i.large')).split(':')[1]);
      });

      it('changes for the architecture whose image is published, and only for it', async () => {
        const x64Before = await compute.currentSpec(contractPool, 'm7i.large');
        const armBefore = await compute.currentSpec(contractArmPool, 'm7g.large');
        const launched = await compute.launchForPool({
          pool: contractArmPool,
          count: 1,
          subnetIds: [subnetA],
          clientToken: freshToken('before'),
        });
        const next = 'ami-0bbbbbbbbbbbbbbb2';
        await subject.publishImage('arm64', next);
        // Within a few minutes of publishing (a subject may trust what it read for a while).
        clock.advance(5 * 60_000);
        expect(await compute.currentSpec(contractPool, 'm7i.large')).toBe(x64Before);
        expect(await compute.currentSpec(contractArmPool, 'm7g.large')).toBe(
          armBefore.replace(contractImages.arm64, next),
        );
        const after = await compute.launchForPool({
          pool: contractArmPool,
          count: 1,
          subnetIds: [subnetB],
          clientToken: freshToken('after'),
        });
        expect(after.kind === 'launched' && after.instances[0]?.spec).toBe(
          armBefore.replace(contractImages.arm64, next),
        );
        const [afterId = ''] = after.kind === 'launched' ? after.instances.map((i) => i.id) : [];
        expect((await subject.inspect(afterId))?.imageId).toBe(next);
        // The instance launched before keeps the image and spec it was built from.
        const [beforeId = ''] = launched.kind === 'launched' ? launched.instances.map((i) => i.id) : [];
        expect(await subject.inspect(beforeId)).toMatchObject({
          imageId: contractImages.arm64,
          tags: { [tagKeys.spec]: armBefore },
        });
      });
    });

    describe("each pool's image", () => {
      it("launches pool instances of each architecture from that architecture's image", async () => {
        for (const [pool, type, image] of [
          [contractPool, 'm7i.large', contractImages.x64],
          [contractArmPool, 'm7g.large', contractImages.arm64],
        ] as const) {
          const outcome = await compute.launchForPool({
            pool,
            count: 2,
            subnetIds: [subnetA, subnetB],
            clientToken: freshToken(pool.name),
          });
          expect(outcome.kind).toBe('launched');
          if (outcome.kind !== 'launched') return;
          const spec = await compute.currentSpec(pool, type);
          expect(spec.startsWith(`${image}:`)).toBe(true);
          for (const launched of outcome.instances) {
            expect(launched).toMatchObject({ instanceType: type, spec });
            expect(await subject.inspect(launched.id)).toMatchObject({
              imageId: image,
              instanceType: type,
              tags: { [tagKeys.pool]: pool.name, [tagKeys.spec]: spec },
            });
          }
        }
      });

      it("launches ephemeral spot and on-demand instances from the pool's image", async () => {
        for (const market of ['spot', 'on-demand'] as const) {
          const outcome = await compute.launchEphemeral({
            pool: contractArmPool,
            market,
            clientToken: freshToken(`arm-${market}`),
          });
          expect(outcome.kind).toBe('launched');
          const [launched] = outcome.kind === 'launched' ? outcome.instances : [];
          expect(launched).toMatchObject({
            instanceType: 'm7g.large',
            market,
            spec: await compute.currentSpec(contractArmPool, 'm7g.large'),
          });
          expect(await subject.inspect(launched?.id ?? '')).toMatchObject({
            imageId: contractImages.arm64,
            market,
            shutdownBehavior: 'terminate',
          });
        }
      });
    });
  });
}
