/**
 * Capacity outages: stretches of time when EC2 answers InsufficientInstanceCapacity for one instance
 * type in one zone and market (REFERENCE: a stopped instance cannot start while its type/AZ lacks
 * capacity; spot capacity comes and goes). How often and how long is an ASSUMPTION — no public rate
 * exists — kept the same for every policy; outages of one (type, zone, market) never overlap.
 */
import type { Market } from '../../scheduler/core/types.js';
import { exponential, type Random, uniform } from './random.js';

export interface OutageRates {
  /** Mean outages per day for each (type, zone) pair, and their duration range in minutes. */
  readonly onDemandPerDay: number;
  readonly onDemandMinutes: readonly [number, number];
  readonly spotPerDay: number;
  readonly spotMinutes: readonly [number, number];
}

export const defaultOutageRates: OutageRates = {
  onDemandPerDay: 1 / 3,
  onDemandMinutes: [10, 40],
  spotPerDay: 1,
  spotMinutes: [20, 90],
};

export interface Outage {
  readonly instanceType: string;
  readonly availabilityZone: string;
  readonly market: Market;
  readonly from: number;
  readonly to: number;
}

export function planOutages(
  rates: OutageRates,
  pairs: readonly { instanceType: string; availabilityZone: string }[],
  span: { start: number; end: number },
  random: Random,
): Outage[] {
  const outages: Outage[] = [];
  for (const market of ['on-demand', 'spot'] as const) {
    const perDay = market === 'spot' ? rates.spotPerDay : rates.onDemandPerDay;
    const [low, high] = market === 'spot' ? rates.spotMinutes : rates.onDemandMinutes;
    if (perDay <= 0) continue;
    for (const pair of pairs) {
      let t = span.start;
      for (;;) {
        t += exponential(86_400_000 / perDay)(random);
        if (t >= span.end) break;
        const to = t + uniform(low, high)(random) * 60_000;
        outages.push({ ...pair, market, from: t, to });
        t = to;
      }
    }
  }
  return outages.sort((a, b) => a.from - b.from);
}
