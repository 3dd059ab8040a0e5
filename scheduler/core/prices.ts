/**
 * The price table behind every cost estimate (the pool tuner's EstimatedCost metric, the sandbox's
 * dashboard), in one place. US East (N. Virginia), Linux,
 * USD. Sources, as listed in /work/shared/REFERENCE.md: gp3 storage $0.08/GB-month (AWS EBS pricing);
 * a stopped instance pays its EBS volume only; Linux is billed per second with a one-minute minimum per
 * start; spot is typically 50–70 % below on-demand (m6i.large $0.096/h on-demand). The other on-demand
 * rates are AWS's published us-east-1 prices for the sandbox's instance types.
 *
 * An estimate, not a bill: spot prices move, and data transfer, API calls and the control plane's
 * own Lambda/DynamoDB costs are left out.
 */
import type { Market } from './types.js';

export const onDemandHourlyUsd: Readonly<Record<string, number>> = {
  'm7i.large': 0.1008,
  'm6i.large': 0.096,
  'm7g.large': 0.0816,
  'c7g.large': 0.0725,
};

/** Used for a type missing from the table (the estimate says so). */
export const fallbackHourlyUsd = 0.1;

/** Spot as a share of on-demand: the middle of REFERENCE.md's 50–70 % discount, rounded down. */
export const spotShareOfOnDemand = 0.35;

export const gp3UsdPerGbMonth = 0.08;

/** AWS prices a month as 730 hours. */
export const secondsPerMonth = 730 * 3600;

/** Linux instances are billed per second with a one-minute minimum each time they start. */
export const minimumBilledSeconds = 60;

export interface HourlyPrice {
  readonly usd: number;
  /** False when the type is not in the table and `fallbackHourlyUsd` stands in. */
  readonly listed: boolean;
}

export function hourlyPrice(instanceType: string, market: Market): HourlyPrice {
  const listed = onDemandHourlyUsd[instanceType];
  const onDemand = listed ?? fallbackHourlyUsd;
  return { usd: market === 'spot' ? onDemand * spotShareOfOnDemand : onDemand, listed: listed !== undefined };
}

/** A gp3 volume of `gb` for one second. */
export function ebsUsdPerSecond(gb: number): number {
  return (gb * gp3UsdPerGbMonth) / secondsPerMonth;
}
