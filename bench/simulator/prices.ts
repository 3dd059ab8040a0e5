/**
 * Prices, from /work/shared/REFERENCE.md (AWS pricing pages, us-east-1):
 * - m6i.large on-demand $0.096/h; spot "~$0.03–0.04/h", i.e. ~35 % of on-demand (the discount is
 *   typically 50–70 %; 35 % of the price sits inside the quoted spot range);
 * - gp3 storage $0.08/GB-month, for every volume that exists, attached to a running or a stopped
 *   instance (a stopped instance pays its EBS only);
 * - Linux is billed per second with a one-minute minimum per start.
 * Every pool here uses large (2 vCPU, 8 GiB) x86 instances; the other types a pool lists for its
 * fallback ladder are priced as the m6i.large, the only one the reference prices.
 */
import type { Market } from '../../scheduler/core/types.js';

export interface Prices {
  readonly onDemandPerHour: number;
  readonly spotPerHour: number;
  readonly gp3PerGbMonth: number;
  readonly minimumBilledSeconds: number;
}

export const referencePrices: Prices = {
  onDemandPerHour: 0.096,
  spotPerHour: 0.096 * 0.35,
  gp3PerGbMonth: 0.08,
  minimumBilledSeconds: 60,
};

/** AWS prices a GB-month over 730 hours. */
const hoursPerMonth = 730;

export function computeCost(prices: Prices, market: Market, seconds: number): number {
  const hourly = market === 'spot' ? prices.spotPerHour : prices.onDemandPerHour;
  return (hourly * Math.max(prices.minimumBilledSeconds, seconds)) / 3600;
}

export function volumeCost(prices: Prices, gigabytes: number, seconds: number): number {
  return (prices.gp3PerGbMonth * gigabytes * seconds) / (hoursPerMonth * 3600);
}
