/**
 * The cost estimate: compute while running at the market's rate with EC2's one-minute minimum per
 * start, gp3 volumes for as long as an instance exists, and what the idle pool would have cost running.
 */
import { describe, expect, it } from 'vitest';
import { CostMeter, type MeteredInstance } from '../../bin/sandbox/cost-meter.js';
import {
  ebsUsdPerSecond,
  hourlyPrice,
  onDemandHourlyUsd,
  spotShareOfOnDemand,
} from '../../bin/sandbox/prices.js';

const gb = () => 30;
const instance = (patch: Partial<MeteredInstance> = {}): MeteredInstance => ({
  id: 'i-1',
  pool: 'linux-x64',
  state: 'busy',
  market: 'on-demand',
  instanceType: 'm7i.large',
  ...patch,
});

describe('the cost meter', () => {
  it('bills a run shorter than a minute as a minute, at the on-demand rate', () => {
    const meter = new CostMeter();
    meter.sample([instance()], gb, 0);
    meter.sample([instance()], gb, 20_000);
    meter.sample([instance({ state: 'recycling' })], gb, 30_000);
    const cost = meter.estimate();
    expect(cost.computeUsd.onDemand).toBeCloseTo((0.1008 / 3600) * 60, 10);
    expect(cost.instanceHours.onDemand).toBeCloseTo(60 / 3600, 10);
    expect(cost.computeUsd.spot).toBe(0);
    expect(cost.coveredMs).toBe(30_000);
  });

  it('bills spot at its share of on-demand, and a run longer than a minute by the second', () => {
    const meter = new CostMeter();
    const spot = instance({ market: 'spot' });
    meter.sample([spot], gb, 0);
    meter.sample([spot], gb, 90_000);
    meter.sample([], gb, 100_000);
    expect(meter.estimate().computeUsd.spot).toBeCloseTo((0.1008 * spotShareOfOnDemand * 100) / 3600, 10);
  });

  it('charges a stopped pool instance its volume only, and counts what running would have cost', () => {
    const meter = new CostMeter();
    const ready = instance({ state: 'ready' });
    meter.sample([ready], gb, 0);
    meter.sample([ready], gb, 3_600_000);
    const cost = meter.estimate();
    expect(cost.computeUsd.onDemand).toBe(0);
    expect(cost.ebsIdleUsd).toBeCloseTo(ebsUsdPerSecond(30) * 3600, 12);
    expect(cost.ebsIdleUsd).toBeCloseTo((30 * 0.08) / 730, 12);
    expect(cost.runningPoolEquivalentUsd).toBeCloseTo(0.1008, 10);
    expect(cost.totalUsd).toBeCloseTo(cost.ebsIdleUsd, 12);
  });

  it('says when a price was estimated for an unlisted type', () => {
    const meter = new CostMeter();
    meter.sample([instance({ instanceType: 'x9z.huge' })], gb, 0);
    meter.sample([instance({ instanceType: 'x9z.huge' })], gb, 120_000);
    expect(meter.estimate().approximate).toBe(true);
    expect(hourlyPrice('x9z.huge', 'on-demand').listed).toBe(false);
    expect(Object.keys(onDemandHourlyUsd)).toEqual(['m7i.large', 'm6i.large', 'm7g.large', 'c7g.large']);
  });
});
