/**
 * The cost report: reads a day (or a range of days) of usage from the store and attributes it
 * (cost-attribution.ts); publishes the daily report as a `CostReport` event and as metrics.
 *
 * Reading: the day's completed jobs are one range query on the jobs-by-state index (`completed` ×
 * `updatedAt`), a page at a time, folded into an accumulator: memory is bounded by repositories × pools
 * whatever the number of jobs. A job belongs to the UTC day its completion was recorded. The overhead is
 * the day's usage counter, one read.
 *
 * Metric (CloudWatch keeps every dimension value as its own series, billed): `DailyCostCents` once with no
 * dimension (the total), once per repository for the top N by cost plus `other` for the rest, and once
 * per organization. The event carries the same top N plus `other`, so it stays far below EventBridge's
 * 256 KB entry limit whatever the number of repositories.
 */
import type { CostReportEvent, Events } from '../ports/events.js';
import type { Metrics } from '../ports/metrics.js';
import type { PoolStore } from '../ports/pool-store.js';
import { CostAccumulator, type CostAttribution, topRepositories } from './cost-attribution.js';
import { dayBounds, type OverheadUsage, usageDay } from './cost-usage.js';
import type { PoolsConfig } from './pool-config.js';

export interface CostReport extends CostAttribution {
  /** First and last UTC day covered, inclusive (`YYYY-MM-DD`). */
  readonly from: string;
  readonly to: string;
}

/** Longest range one report reads: completed jobs are kept for days, not months. */
export const maxReportDays = 31;

const pageSize = 500;

/** The days from `from` to `to` inclusive; a bad day, a reversed or an over-long range is an error. */
export function daysBetween(from: string, to: string): string[] {
  const start = dayBounds(from).from;
  const end = dayBounds(to).from;
  if (end < start) throw new RangeError(`the range ends (${to}) before it starts (${from})`);
  const count = (end - start) / 86_400_000 + 1;
  if (count > maxReportDays)
    throw new RangeError(`a report covers at most ${maxReportDays} days (asked ${count})`);
  return Array.from({ length: count }, (_, i) => usageDay(start + i * 86_400_000));
}

/** The UTC day before the one `now` falls in: what the daily run reports. */
export function previousDay(now: number): string {
  return usageDay(dayBounds(usageDay(now)).from - 86_400_000);
}

export async function readCostReport(
  deps: { readonly store: PoolStore },
  config: PoolsConfig,
  range: { readonly from: string; readonly to: string },
): Promise<CostReport> {
  const days = daysBetween(range.from, range.to);
  const accumulator = new CostAccumulator();
  const overhead: OverheadUsage[] = [];
  for (const day of days) {
    const { from, to } = dayBounds(day);
    let cursor: string | undefined;
    do {
      const page = await deps.store.listJobsUpdated({
        state: 'completed',
        from,
        to,
        pageSize,
        ...(cursor !== undefined && { cursor }),
      });
      for (const job of page.jobs) accumulator.addJob(job);
      cursor = page.cursor;
    } while (cursor !== undefined);
    overhead.push(...(await deps.store.getUsage(day)));
  }
  const volumes = new Map(config.pools.map((p) => [p.name, p.volumeSizeGb]));
  return {
    from: range.from,
    to: range.to,
    ...accumulator.attribute(overhead, { volumeGb: (pool) => volumes.get(pool) }),
  };
}

/** The event a daily report publishes (see events.ts). */
export function costReportEvent(report: CostReport, top: number): CostReportEvent {
  return {
    type: 'CostReport',
    day: report.from,
    ...(report.to !== report.from && { to: report.to }),
    currency: 'USD',
    totalCents: report.totals.costCents,
    jobs: report.totals.jobs,
    jobsWithoutUsage: report.jobsWithoutUsage,
    instanceSeconds: report.totals.instanceSeconds,
    overhead: report.totals.overhead.map((o) => ({
      category: o.category,
      seconds: o.seconds,
      usd: Math.round(o.usd * 1e6) / 1e6,
    })),
    repositories: topRepositories(report.repositories, top),
    organizations: topOrganizations(report, maxEventOrganizations),
    assumptions: report.assumptions,
  };
}

const maxEventOrganizations = 100;

function topOrganizations(report: CostReport, n: number) {
  const top = report.organizations
    .slice(0, n)
    .map((o) => ({ organization: o.organization, costCents: o.costCents, jobs: o.jobs }));
  const rest = report.organizations.slice(n);
  return rest.length === 0
    ? top
    : [
        ...top,
        {
          organization: 'other',
          costCents: rest.reduce((c, o) => c + o.costCents, 0),
          jobs: rest.reduce((c, o) => c + o.jobs, 0),
        },
      ];
}

export const costMetricName = 'DailyCostCents';

/** Publishes a day's report: the `CostReport` event and the `DailyCostCents` metric. */
export async function publishCostReport(
  deps: { readonly events: Events; readonly metrics: Metrics },
  report: CostReport,
  options: { readonly topRepositories: number },
): Promise<void> {
  deps.metrics.gauge(costMetricName, report.totals.costCents);
  for (const row of topRepositories(report.repositories, options.topRepositories))
    deps.metrics.gauge(costMetricName, row.costCents, { Repository: row.repository });
  for (const row of report.organizations)
    deps.metrics.gauge(costMetricName, row.costCents, { Organization: row.organization });
  await deps.events.publish([costReportEvent(report, options.topRepositories)]);
}
