/**
 * The pool tuner on fakes: it converges each pool to its target for now, retires with a conditional
 * write (an instance claimed meanwhile is kept), rolls instances whose spec is outdated, and reports
 * what it did as metrics and events.
 */
import { describe, expect, it } from 'vitest';
import { tunePools } from '../../scheduler/core/tune-pools.js';
import { ComputeError } from '../../scheduler/ports/compute.js';
import {
  makeHarness,
  mustInstance,
  poolDocument,
  readyInstances,
  subnetA,
  subnetB,
  testConfig,
  validConfig,
  withCompute,
} from './support.js';

describe('tunePools', () => {
  it('launches every pool up to its target, one instance per planned subnet', async () => {
    const h = makeHarness({ config: testConfig({ defaultSize: 4 }) });
    const results = await tunePools(h.deps, h.config);

    expect(results).toEqual([
      { pool: 'linux-x64', target: 4, capacity: 0, launched: 4, retired: 0 },
      { pool: 'linux-arm64', target: 1, capacity: 0, launched: 1, retired: 0 },
    ]);
    const x64 = await h.store.listPoolInstances('linux-x64');
    expect(x64).toHaveLength(4);
    expect(h.compute.allInstances()).toHaveLength(5);
    expect(x64.filter((i) => i.subnetId === subnetA)).toHaveLength(2);
    expect(x64.filter((i) => i.subnetId === subnetB)).toHaveLength(2);
    expect(x64.every((i) => i.state === 'launching' && i.role === 'pool')).toBe(true);
    expect(h.events.ofType('PoolResized')).toEqual([
      { type: 'PoolResized', pool: 'linux-x64', target: 4, launched: 4, retired: 0 },
      { type: 'PoolResized', pool: 'linux-arm64', target: 1, launched: 1, retired: 0 },
    ]);
  });

  it('tunes every other pool when one fails, and reports the failure per pool', async () => {
    const h = makeHarness({ config: testConfig({ defaultSize: 2 }) });
    // The arm64 image is not built yet: its parameter does not exist.
    const deps = withCompute(h, {
      currentSpec: async (pool, type) => {
        if (pool.architecture === 'arm64')
          throw new ComputeError('the arm64 image parameter /wpr/ami/arm64 does not exist');
        return h.compute.currentSpec(pool, type);
      },
    });
    const results = await tunePools(deps, h.config);
    expect(results).toEqual([
      { pool: 'linux-x64', target: 2, capacity: 0, launched: 2, retired: 0 },
      {
        pool: 'linux-arm64',
        target: 1,
        capacity: 0,
        launched: 0,
        retired: 0,
        error: 'the arm64 image parameter /wpr/ami/arm64 does not exist',
      },
    ]);
    expect(h.metrics.total('PoolTuningErrors', { Pool: 'linux-arm64' })).toBe(1);
    expect(h.metrics.total('PoolTuningErrors', { Pool: 'linux-x64' })).toBe(0);
    // The failed pool still reports its state, for the pool-empty alarm.
    expect(
      h.metrics.recorded.some((m) => m.name === 'PoolReady' && m.dimensions.Pool === 'linux-arm64'),
    ).toBe(true);
  });

  it('launches nothing more on a second run: launching instances count', async () => {
    const h = makeHarness();
    await tunePools(h.deps, h.config);
    h.clock.advance(60_000);
    const again = await tunePools(h.deps, h.config);
    expect(again.map((r) => r.launched)).toEqual([0, 0]);
    expect(h.compute.allInstances()).toHaveLength(3);
    expect(h.events.ofType('PoolResized')).toHaveLength(2);
  });

  it('follows the schedule', async () => {
    const config = validConfig({
      pools: [
        poolDocument({
          defaultSize: 0,
          schedule: [{ days: ['mon'], from: '08:00', to: '18:00', timezone: 'Europe/Paris', size: 3 }],
        }),
      ],
    });
    const h = makeHarness({ config });
    expect((await tunePools(h.deps, config))[0]).toMatchObject({ target: 3, launched: 3 });
    h.clock.set(Date.UTC(2026, 0, 5, 17, 0)); // 18:00 in Paris: closed
    expect((await tunePools(h.deps, config))[0]).toMatchObject({ target: 0, launched: 0, retired: 0 });
  });

  it('retires ready instances above target', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA, subnetB, subnetA, subnetB]);
    const [x64] = await tunePools(h.deps, h.config);
    expect(x64).toEqual({ pool: 'linux-x64', target: 2, capacity: 4, launched: 0, retired: 2 });
    const live = await h.store.listPoolInstances('linux-x64');
    expect(live).toHaveLength(2);
    expect(new Set(live.map((i) => i.subnetId))).toEqual(new Set([subnetA, subnetB]));
    expect(h.events.ofType('InstanceRetired').map((e) => e.reason)).toEqual(['scale-in', 'scale-in']);
    expect(h.compute.allInstances().filter((i) => i.state === 'terminated')).toHaveLength(2);
  });

  it('keeps an instance claimed between the plan and the retirement', async () => {
    const h = makeHarness();
    const [a, , c] = await readyInstances(h, [subnetA, subnetB, subnetA]);
    // A webhook claims the instance the tuner is about to retire.
    h.store.beforeNextWrite(async (target) => {
      if (target.kind !== 'instance') return;
      const current = await mustInstance(h, target.id);
      await h.store.transitionInstance({
        id: current.id,
        from: 'ready',
        expectedVersion: current.version,
        to: 'claimed',
      });
    });
    const [x64] = await tunePools(h.deps, h.config);
    expect(x64).toMatchObject({ retired: 0 });
    const states = [(await mustInstance(h, a?.id ?? '')).state, (await mustInstance(h, c?.id ?? '')).state];
    expect(states).toContain('claimed');
    expect(states).not.toContain('terminated');
    expect(h.compute.callCount('terminate')).toBe(0);
  });

  it('rolls outdated instances a batch at a time, replacing each', async () => {
    const h = makeHarness({ config: testConfig({ defaultSize: 4 }, { rollBatchSize: 2 }) });
    const old = await readyInstances(h, [subnetA, subnetB, subnetA, subnetB]);
    h.compute.publishSpec({ imageId: 'ami-00000000000000002' });

    const [first] = await tunePools(h.deps, h.config);
    expect(first).toMatchObject({ target: 4, capacity: 4, retired: 2, launched: 2 });
    const retiredIds = h.events.ofType('InstanceRetired').map((e) => e.instanceId);
    expect(h.events.ofType('InstanceRetired').map((e) => e.reason)).toEqual(['outdated', 'outdated']);
    expect(retiredIds.every((id) => old.some((o) => o.id === id))).toBe(true);
    const fresh = (await h.store.listPoolInstances('linux-x64')).filter((i) => i.state === 'launching');
    expect(fresh.map((i) => i.spec)).toEqual([
      'ami-00000000000000002:2:m7i.large',
      'ami-00000000000000002:2:m7i.large',
    ]);

    h.clock.advance(60_000);
    const [second] = await tunePools(h.deps, h.config);
    expect(second).toMatchObject({ retired: 2, launched: 2 });
    const live = await h.store.listPoolInstances('linux-x64');
    expect(live.every((i) => i.spec.startsWith('ami-00000000000000002'))).toBe(true);
  });

  it('treats an instance of a type the pool no longer lists as outdated', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA], { instanceType: 'm5.large' });
    await readyInstances(h, [subnetB]);
    await tunePools(h.deps, h.config);
    expect(h.events.ofType('InstanceRetired')).toEqual([expect.objectContaining({ reason: 'outdated' })]);
  });

  it('raises the target to the forecast for pools that learn from demand', async () => {
    const h = makeHarness({ config: testConfig({ forecast: { enabled: true } }) });
    const results = await tunePools(h.deps, h.config, { forecasts: { 'linux-x64': 4.5, 'linux-arm64': 3 } });
    expect(results.map((r) => r.target)).toEqual([5, 1]); // arm64 does not learn
  });

  it('reports gauges per pool', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    await tunePools(h.deps, h.config);
    const gauge = (name: string) =>
      h.metrics.recorded.find(
        (m) => m.kind === 'gauge' && m.name === name && m.dimensions.Pool === 'linux-x64',
      )?.value;
    expect(gauge('PoolTarget')).toBe(2);
    expect(gauge('PoolReady')).toBe(1);
    expect(gauge('PoolWarming')).toBe(0);
    expect(gauge('PoolBusy')).toBe(0);
  });
});

describe('estimated cost', () => {
  it('prices stopped pool volumes as idle EBS and running instances by market, per minute', async () => {
    const h = makeHarness({ config: testConfig({ defaultSize: 2 }) });
    await readyInstances(h, [subnetA, subnetB]);
    await tunePools(h.deps, h.config);
    const cost = (kind: string) =>
      h.metrics.recorded
        .filter(
          (m) =>
            m.name === 'EstimatedCost' && m.dimensions.Pool === 'linux-x64' && m.dimensions.Kind === kind,
        )
        .map((m) => m.value);
    // Two ready 30 GB gp3 volumes for a minute: 2 × 30 × $0.08 / (730 × 60).
    expect(cost('ebs-idle')).toHaveLength(1);
    expect(cost('ebs-idle')[0]).toBeCloseTo((2 * 30 * 0.08) / (730 * 60), 10);
    expect(cost('on-demand')).toEqual([0]);
    expect(cost('spot')).toEqual([0]);
  });
});
