/**
 * The convergence plan, case by case: launches to the target into the least-filled subnets, scale-in
 * of ready instances only (outdated first, then the oldest, from the fullest zone), rolling a few
 * outdated instances per run, and the maximum and batch limits. Properties live in
 * pool-plan.property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceState } from '../../scheduler/core/lifecycle.js';
import { type PlanInput, planConvergence, planLaunchSubnets } from '../../scheduler/core/pool-plan.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import { instance, poolDocument, subnetA, subnetB, subnetC, validConfig } from './support.js';

const config = validConfig({
  pools: [poolDocument({ subnets: [subnetA, subnetB, subnetC], maximum: 10 })],
  settings: { rollBatchSize: 2, launchBatchSize: 5 },
});
const pool = config.pools[0] as (typeof config.pools)[number];
const zoneOf = { [subnetA]: 'us-east-1a', [subnetB]: 'us-east-1b', [subnetC]: 'us-east-1c' } as const;

function at(subnet: keyof typeof zoneOf, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return instance({ subnetId: subnet, availabilityZone: zoneOf[subnet], ...overrides });
}

function plan(instances: InstanceRecord[], target: number, extra: Partial<PlanInput> = {}) {
  return planConvergence({
    pool,
    settings: config.settings,
    target,
    instances,
    isCurrent: (i) => i.spec === 'current',
    ...extra,
  });
}

const ids = (p: ReturnType<typeof plan>) => p.retire.map((r) => [r.instance.id, r.reason]);

describe('planConvergence: growing', () => {
  it('launches up to the target, spreading over the subnets in config order', () => {
    const p = plan([], 4);
    expect(p).toMatchObject({ pool: 'linux-x64', target: 4, capacity: 0, retire: [] });
    expect(p.launchSubnets).toEqual([subnetA, subnetB, subnetC, subnetA]);
  });

  it('fills the emptiest subnets first', () => {
    const p = plan([at(subnetA), at(subnetA), at(subnetB, { state: 'warming' })], 6);
    expect(p.launchSubnets).toEqual([subnetC, subnetB, subnetC]);
  });

  it('counts launching and warming instances as capacity, and serving or ephemeral ones not', () => {
    const instances = [
      at(subnetA, { state: 'launching' }),
      at(subnetB, { state: 'warming' }),
      at(subnetC, { state: 'claimed' }),
      at(subnetC, { state: 'starting' }),
      at(subnetC, { state: 'busy' }),
      at(subnetC, { state: 'recycling' }),
      at(subnetC, { state: 'retiring' }),
      at(subnetC, { role: 'ephemeral', market: 'spot' }),
    ];
    const p = plan(instances, 3);
    expect(p.capacity).toBe(2);
    expect(p.launchSubnets).toEqual([subnetC]);
  });

  it('launches at most launchBatchSize per run', () => {
    expect(plan([], 9).launchSubnets).toHaveLength(5);
  });

  it('never plans beyond the maximum, even for a target over it', () => {
    const instances = Array.from({ length: 8 }, () => at(subnetA, { state: 'warming' }));
    expect(plan(instances, 20).launchSubnets).toHaveLength(2);
    expect(
      plan(
        Array.from({ length: 11 }, () => at(subnetA, { state: 'warming' })),
        20,
      ).launchSubnets,
    ).toEqual([]);
  });

  it('ignores instances in subnets the pool no longer lists when spreading', () => {
    expect(planLaunchSubnets(pool, [at(subnetA), instance({ subnetId: 'subnet-0000000f' })], 2)).toEqual([
      subnetB,
      subnetC,
    ]);
  });
});

describe('planConvergence: shrinking', () => {
  it('retires ready instances down to the target, the oldest first', () => {
    const old = at(subnetA, { launchedAt: 1 });
    const mid = at(subnetA, { launchedAt: 2 });
    const young = at(subnetA, { launchedAt: 3 });
    const p = plan([young, old, mid], 1);
    expect(ids(p)).toEqual([
      [old.id, 'scale-in'],
      [mid.id, 'scale-in'],
    ]);
    expect(p.launchSubnets).toEqual([]);
  });

  it('takes outdated instances first, however young', () => {
    const old = at(subnetA, { launchedAt: 1 });
    const outdatedYoung = at(subnetA, { launchedAt: 9, spec: 'previous' });
    expect(ids(plan([old, outdatedYoung], 1))).toEqual([[outdatedYoung.id, 'outdated']]);
  });

  it('takes from the zone with the most instances, so zones stay balanced', () => {
    const a1 = at(subnetA, { launchedAt: 1 });
    const b1 = at(subnetB, { launchedAt: 2 });
    const b2 = at(subnetB, { launchedAt: 3 });
    const c1 = at(subnetC, { launchedAt: 4 });
    const c2 = at(subnetC, { launchedAt: 5 });
    const c3 = at(subnetC, { launchedAt: 6 });
    const p = plan([a1, b1, b2, c1, c2, c3], 3);
    // c is fullest (3): its oldest goes; then b and c tie at 2: the older of their oldest (b1) goes; ...
    expect(ids(p)).toEqual([
      [c1.id, 'scale-in'],
      [b1.id, 'scale-in'],
      [c2.id, 'scale-in'],
    ]);
    const kept = [a1, b2, c3];
    expect(new Set(kept.map((i) => i.availabilityZone)).size).toBe(3);
  });

  it('counts warming instances in zone balance but retires only ready ones', () => {
    const warmingA = [at(subnetA, { state: 'warming' }), at(subnetA, { state: 'launching' })];
    const readyB = at(subnetB);
    const readyA = at(subnetA);
    const p = plan([...warmingA, readyA, readyB], 2);
    // a has 3, b has 1: the ready instance in a goes, then b's ready one as the only candidate left.
    expect(ids(p)).toEqual([
      [readyA.id, 'scale-in'],
      [readyB.id, 'scale-in'],
    ]);
  });

  it.each(['claimed', 'starting', 'busy', 'launching', 'warming'] as InstanceState[])(
    'never retires a %s instance, even far above target',
    (state) => {
      const instances = Array.from({ length: 5 }, () => at(subnetA, { state }));
      expect(plan(instances, 0).retire).toEqual([]);
    },
  );
});

describe('planConvergence: rolling a new spec', () => {
  it('replaces at most rollBatchSize outdated instances per run, oldest first, launching their replacements', () => {
    const outdated = [3, 1, 4, 2].map((t, i) =>
      at(i % 2 ? subnetB : subnetA, { launchedAt: t, spec: 'previous' }),
    );
    const p = plan(outdated, 4);
    expect(p.retire.map((r) => [r.instance.launchedAt, r.reason])).toEqual([
      [1, 'outdated'],
      [2, 'outdated'],
    ]);
    expect(p.launchSubnets).toHaveLength(2);
  });

  it('treats outdated instances retired by scale-in as part of the roll', () => {
    const instances = [1, 2, 3, 4].map((t) => at(subnetA, { launchedAt: t, spec: 'previous' }));
    const p = plan(instances, 1);
    expect(p.retire.map((r) => r.reason)).toEqual(['outdated', 'outdated', 'outdated']);
    expect(p.launchSubnets).toEqual([]);
  });

  it('rolls only ready instances', () => {
    const p = plan(
      [at(subnetA, { state: 'warming', spec: 'previous' }), at(subnetB, { spec: 'previous' })],
      2,
    );
    expect(p.retire.map((r) => r.instance.state)).toEqual(['ready']);
  });

  it('launches more than the launch batch to replace what it rolls', () => {
    const outdated = Array.from({ length: 10 }, (_, i) => at(subnetA, { launchedAt: i, spec: 'previous' }));
    const p = planConvergence({
      pool,
      settings: { ...config.settings, launchBatchSize: 1, rollBatchSize: 2 },
      target: 10,
      instances: outdated,
      isCurrent: (i) => i.spec === 'current',
    });
    expect(p.retire).toHaveLength(2);
    expect(p.launchSubnets).toHaveLength(2);
  });
});

describe('planConvergence: at target', () => {
  it('does nothing when the pool is at its target with current instances', () => {
    const p = plan([at(subnetA), at(subnetB), at(subnetC, { state: 'warming' })], 3);
    expect(p).toEqual({ pool: 'linux-x64', target: 3, capacity: 3, launchSubnets: [], retire: [] });
  });
});
