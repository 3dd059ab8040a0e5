/**
 * Properties of the convergence plan over random pools: it never retires an instance that serves a
 * job (or anything not ready), never plans beyond the maximum, scales in outdated-first then oldest
 * and keeps balanced zones balanced, launches into the least-filled subnets, rolls at most
 * rollBatchSize per run, and is deterministic whatever order the store lists instances in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instanceStates, poolCapacityStates } from '../../scheduler/core/lifecycle.js';
import type { PoolConfig, Settings } from '../../scheduler/core/pool-config.js';
import { type ConvergencePlan, type PlanInput, planConvergence } from '../../scheduler/core/pool-plan.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import { instance, poolDocument, subnetA, subnetB, subnetC, validConfig } from './support.js';

const numRuns = 300;
const allSubnets = [subnetA, subnetB, subnetC] as const;
const zoneOf: Record<string, string> = {
  [subnetA]: 'us-east-1a',
  [subnetB]: 'us-east-1b',
  [subnetC]: 'us-east-1c',
  'subnet-0000000f': 'us-east-1f',
};

interface Scenario {
  readonly pool: PoolConfig;
  readonly settings: Settings;
  readonly target: number;
  readonly instances: InstanceRecord[];
}

const poolArb = fc
  .record({
    subnets: fc.integer({ min: 1, max: 3 }),
    maximum: fc.integer({ min: 0, max: 20 }),
    rollBatchSize: fc.integer({ min: 1, max: 5 }),
    launchBatchSize: fc.integer({ min: 1, max: 10 }),
  })
  .map(({ subnets, maximum, rollBatchSize, launchBatchSize }) => {
    const config = validConfig({
      pools: [poolDocument({ subnets: allSubnets.slice(0, subnets), defaultSize: 0, maximum })],
      settings: { rollBatchSize, launchBatchSize },
    });
    return { pool: config.pools[0] as PoolConfig, settings: config.settings };
  });

const instanceArb = (pool: PoolConfig) =>
  fc
    .record({
      state: fc.constantFrom(...instanceStates.filter((s) => s !== 'terminated')),
      ephemeral: fc.boolean(),
      // Now and then an instance in a subnet the pool no longer lists.
      subnet: fc.oneof(
        { weight: 9, arbitrary: fc.constantFrom(...pool.subnets) },
        { weight: 1, arbitrary: fc.constant('subnet-0000000f') },
      ),
      launchedAt: fc.integer({ min: 0, max: 50 }), // many ties, so id order matters
      outdated: fc.boolean(),
    })
    .map((r) =>
      instance({
        state: r.state,
        role: r.ephemeral ? 'ephemeral' : 'pool',
        subnetId: r.subnet,
        availabilityZone: zoneOf[r.subnet] as string,
        launchedAt: r.launchedAt,
        spec: r.outdated ? 'previous' : 'current',
      }),
    );

const scenarioArb: fc.Arbitrary<Scenario> = poolArb.chain(({ pool, settings }) =>
  fc.record({
    pool: fc.constant(pool),
    settings: fc.constant(settings),
    // Past the maximum too: the plan must cap it.
    target: fc.integer({ min: 0, max: pool.maximum + 3 }),
    instances: fc.array(instanceArb(pool), { maxLength: 25 }),
  }),
);

const isCurrent = (i: InstanceRecord) => i.spec === 'current';

function run(s: Scenario, instances = s.instances): ConvergencePlan {
  const input: PlanInput = { pool: s.pool, settings: s.settings, target: s.target, instances, isCurrent };
  return planConvergence(input);
}

const capacityOf = (instances: readonly InstanceRecord[]) =>
  instances.filter((i) => i.role === 'pool' && poolCapacityStates.includes(i.state));

describe('planConvergence properties', () => {
  it('retires only ready pool instances, each once: never a claimed, starting or busy one', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = run(s);
        for (const { instance: i } of plan.retire) {
          expect(i.state).toBe('ready');
          expect(i.role).toBe('pool');
        }
        const retired = plan.retire.map((r) => r.instance.id);
        expect(new Set(retired).size).toBe(retired.length);
      }),
      { numRuns },
    );
  });

  it('never plans beyond the maximum or the target', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = run(s);
        const after = plan.capacity - plan.retire.length;
        expect(plan.capacity).toBe(capacityOf(s.instances).length);
        if (plan.launchSubnets.length > 0) {
          expect(after + plan.launchSubnets.length).toBeLessThanOrEqual(s.pool.maximum);
          expect(after + plan.launchSubnets.length).toBeLessThanOrEqual(s.target);
        }
      }),
      { numRuns },
    );
  });

  it('scales in only as far as the target and replaces what it rolls', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = run(s);
        const excess = Math.max(0, plan.capacity - s.target);
        const scaleIns = Math.min(excess, plan.retire.length);
        const rolled = plan.retire.length - scaleIns;
        // Everything retired beyond the excess is an outdated instance being rolled.
        for (const r of plan.retire.slice(scaleIns)) expect(r.reason).toBe('outdated');
        // Rolling is bounded by rollBatchSize (scale-ins of outdated instances count towards it).
        expect(plan.retire.length).toBeLessThanOrEqual(Math.max(excess, s.settings.rollBatchSize));
        expect(rolled).toBeLessThanOrEqual(s.settings.rollBatchSize);
        // Reasons say what the instance is.
        for (const r of plan.retire) expect(r.reason).toBe(isCurrent(r.instance) ? 'scale-in' : 'outdated');
        // Below target, each rolled instance is replaced unless the maximum or target forbids it.
        const after = plan.capacity - plan.retire.length;
        const wanted = Math.min(s.target, s.pool.maximum) - after;
        expect(plan.launchSubnets.length).toBe(
          Math.max(0, Math.min(wanted, s.settings.launchBatchSize + rolled)),
        );
      }),
      { numRuns },
    );
  });

  it('scales in outdated instances before current ones', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = run(s);
        const excess = Math.max(0, plan.capacity - s.target);
        const scaleIns = plan.retire.slice(0, excess);
        if (!scaleIns.some((r) => isCurrent(r.instance))) return;
        const outdatedReady = capacityOf(s.instances).filter((i) => i.state === 'ready' && !isCurrent(i));
        const picked = new Set(scaleIns.map((r) => r.instance.id));
        for (const i of outdatedReady) expect(picked.has(i.id), `outdated ${i.id} kept`).toBe(true);
      }),
      { numRuns },
    );
  });

  it('scales in the oldest first within one zone', () => {
    const oneZone = poolArb.chain(({ pool, settings }) =>
      fc.record({
        pool: fc.constant<PoolConfig>({ ...pool, subnets: [subnetA] }),
        settings: fc.constant(settings),
        target: fc.integer({ min: 0, max: 10 }),
        ages: fc.array(fc.integer({ min: 0, max: 1_000 }), { maxLength: 15 }),
      }),
    );
    fc.assert(
      fc.property(oneZone, ({ pool, settings, target, ages }) => {
        const instances = ages.map((launchedAt) => instance({ launchedAt, subnetId: subnetA }));
        const plan = run({ pool, settings, target, instances });
        const byAge = [...instances].sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
        expect(plan.retire.map((r) => r.instance.id)).toEqual(
          byAge.slice(0, Math.max(0, instances.length - target)).map((i) => i.id),
        );
      }),
      { numRuns },
    );
  });

  it('keeps balanced zones balanced when it scales in', () => {
    const balanced = poolArb
      .filter(({ pool }) => pool.subnets.length > 1)
      .chain(({ pool, settings }) =>
        fc.record({
          pool: fc.constant(pool),
          settings: fc.constant(settings),
          base: fc.integer({ min: 0, max: 5 }),
          extra: fc.array(fc.boolean(), { minLength: pool.subnets.length, maxLength: pool.subnets.length }),
          target: fc.integer({ min: 0, max: 18 }),
          ages: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 20, maxLength: 20 }),
        }),
      );
    fc.assert(
      fc.property(balanced, ({ pool, settings, base, extra, target, ages }) => {
        let n = 0;
        const instances = pool.subnets.flatMap((subnet, z) =>
          Array.from({ length: base + (extra[z] ? 1 : 0) }, () =>
            instance({
              subnetId: subnet,
              availabilityZone: zoneOf[subnet] as string,
              launchedAt: ages[n++] ?? 0,
            }),
          ),
        );
        const plan = run({ pool, settings, target, instances });
        const retired = new Set(plan.retire.map((r) => r.instance.id));
        const perZone = pool.subnets.map(
          (subnet) => instances.filter((i) => i.subnetId === subnet && !retired.has(i.id)).length,
        );
        expect(Math.max(...perZone) - Math.min(...perZone)).toBeLessThanOrEqual(1);
      }),
      { numRuns },
    );
  });

  it('launches each instance into a least-filled subnet of the pool', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = run(s);
        const retired = new Set(plan.retire.map((r) => r.instance.id));
        const counts = new Map(s.pool.subnets.map((subnet) => [subnet, 0]));
        for (const i of capacityOf(s.instances))
          if (!retired.has(i.id) && counts.has(i.subnetId))
            counts.set(i.subnetId, (counts.get(i.subnetId) ?? 0) + 1);
        for (const subnet of plan.launchSubnets) {
          expect(counts.has(subnet)).toBe(true);
          expect(counts.get(subnet)).toBe(Math.min(...counts.values()));
          counts.set(subnet, (counts.get(subnet) ?? 0) + 1);
        }
      }),
      { numRuns },
    );
  });

  it('is deterministic, whatever order the instances are listed in', () => {
    fc.assert(
      fc.property(
        scenarioArb.chain((s) =>
          fc.tuple(fc.constant(s), fc.shuffledSubarray(s.instances, { minLength: s.instances.length })),
        ),
        ([s, shuffled]) => {
          const first = run(s);
          expect(run(s)).toEqual(first);
          expect(run(s, shuffled)).toEqual(first);
        },
      ),
      { numRuns },
    );
  });
});
