/**
 * Cost attribution: a day's usage in, per-repository and per-organization cost out, summing to the total
 * to the cent.
 *
 * - A job costs its own run: billed instance seconds × the hourly price of its type on its market
 *   (`pool` instances are on-demand; spot at the table's share of on-demand; see prices.ts).
 * - A pool's overhead for the day (warm-up, hot-tier idle, stopped-volume storage, instances retired
 *   unused, runs whose job record is gone) is shared among the jobs that pool ran that day in proportion
 *   to their instance seconds — whatever their market: the pool exists to serve its labels. A pool that
 *   ran no job that day leaves its overhead on the `(unattributed)` row, so the rows still sum to the total.
 * - Rounding: each row's exact dollar amount is rounded to cents by the largest-remainder method: the
 *   total is the exact sum rounded half up to a cent, every row gets its amount rounded down, and the
 *   cents still missing go one each to the rows with the largest remainders (ties: the larger amount, then
 *   the name). So the rows sum to the total exactly, no row is negative, and no row is more than a
 *   cent away from its exact share. An organization's cents are the sum of its repositories' cents.
 *
 * Memory is bounded by repositories × pools, not by jobs: jobs are folded into a `CostAccumulator` a
 * page at a time.
 */
import {
  type CostMarket,
  costMarkets,
  type JobUsage,
  type OverheadCategory,
  type OverheadUsage,
  overheadCategories,
} from './cost-usage.js';
import { ebsUsdPerSecond, hourlyPrice } from './prices.js';
import type { Repository } from './types.js';

/** The row that holds overhead of pools that ran no job that day. */
export const unattributedRepository = '(unattributed)';

export type SecondsByMarket = Readonly<Record<CostMarket, number>>;

export interface CostRow {
  /** `owner/name`, or `(unattributed)`. */
  readonly repository: string;
  readonly organization: string;
  readonly jobs: number;
  /** Billed instance seconds of its jobs' own runs, by market. */
  readonly instanceSeconds: SecondsByMarket;
  /** Exact dollars, before rounding: its jobs' runs and its share of overhead. */
  readonly computeUsd: number;
  readonly overheadUsd: number;
  /** Rounded by the largest-remainder method: the rows' cents sum to the total's. */
  readonly costCents: number;
}

export interface OrganizationRow {
  readonly organization: string;
  readonly jobs: number;
  readonly instanceSeconds: SecondsByMarket;
  readonly computeUsd: number;
  readonly overheadUsd: number;
  readonly costCents: number;
}

export interface OverheadLine {
  readonly category: OverheadCategory;
  /** Instance-seconds, or volume-seconds for `storage`. */
  readonly seconds: number;
  readonly usd: number;
}

export interface CostTotals {
  readonly jobs: number;
  readonly instanceSeconds: SecondsByMarket;
  readonly computeUsd: number;
  readonly overheadUsd: number;
  readonly costCents: number;
  readonly overhead: readonly OverheadLine[];
}

export interface CostAttribution {
  readonly currency: 'USD';
  readonly totals: CostTotals;
  /** Most expensive first (ties by name). */
  readonly repositories: readonly CostRow[];
  readonly organizations: readonly OrganizationRow[];
  /** Completed jobs with no usage booked (cancelled before a runner took them, or not yet booked). */
  readonly jobsWithoutUsage: number;
  /** Instance types or pools priced with a stand-in (not in the price table, or gone from the config). */
  readonly assumptions: readonly string[];
}

export interface PricingContext {
  /** The volume size of a pool's instances, from the pool config; undefined for a pool not configured. */
  readonly volumeGb: (pool: string) => number | undefined;
}

/** Used for `storage` of a pool no longer in the config. */
export const assumedVolumeGb = 40;

interface Cell {
  jobs: number;
  seconds: Record<CostMarket, number>;
  computeUsd: number;
}

const zeroSeconds = (): Record<CostMarket, number> => ({ pool: 0, spot: 0, 'on-demand': 0 });

/** Folds a day's jobs in, page by page; keeps one cell per (pool, repository). */
export class CostAccumulator {
  private readonly cells = new Map<string, Map<string, Cell>>();
  private readonly unlisted = new Set<string>();
  private withoutUsage = 0;
  private readonly owners = new Map<string, string>();

  addJob(job: { readonly repository: Repository; readonly usage?: JobUsage }): void {
    const usage = job.usage;
    if (usage === undefined) {
      this.withoutUsage++;
      return;
    }
    const repository = `${job.repository.owner}/${job.repository.name}`;
    this.owners.set(repository, job.repository.owner);
    const byRepo = this.cells.get(usage.pool) ?? new Map<string, Cell>();
    this.cells.set(usage.pool, byRepo);
    const cell = byRepo.get(repository) ?? { jobs: 0, seconds: zeroSeconds(), computeUsd: 0 };
    byRepo.set(repository, cell);
    const price = hourlyPrice(usage.instanceType, usage.market === 'spot' ? 'spot' : 'on-demand');
    if (!price.listed) this.unlisted.add(usage.instanceType);
    const seconds = Math.max(0, usage.seconds);
    cell.jobs++;
    cell.seconds[usage.market] += seconds;
    cell.computeUsd += (price.usd / 3600) * seconds;
  }

  /** Attributes the day's overhead and rounds; the accumulator can be read again afterwards. */
  attribute(overhead: readonly OverheadUsage[], pricing: PricingContext): CostAttribution {
    const assumptions = new Set([...this.unlisted].map((t) => `instance type ${t}: not in the price table`));
    const overheadByPool = new Map<string, number>();
    const overheadLines = new Map<OverheadCategory, { seconds: number; usd: number }>();
    for (const line of overhead) {
      const usd = overheadUsd(line, pricing, assumptions);
      overheadByPool.set(line.pool, (overheadByPool.get(line.pool) ?? 0) + usd);
      const sum = overheadLines.get(line.category) ?? { seconds: 0, usd: 0 };
      sum.seconds += line.seconds;
      sum.usd += usd;
      overheadLines.set(line.category, sum);
    }

    const rows = new Map<string, { organization: string; cell: Cell; overheadUsd: number }>();
    const rowOf = (repository: string, organization: string) => {
      let row = rows.get(repository);
      if (row === undefined) {
        row = { organization, cell: { jobs: 0, seconds: zeroSeconds(), computeUsd: 0 }, overheadUsd: 0 };
        rows.set(repository, row);
      }
      return row;
    };
    for (const [pool, byRepo] of this.cells) {
      const poolOverhead = overheadByPool.get(pool) ?? 0;
      overheadByPool.delete(pool);
      const poolSeconds = [...byRepo.values()].reduce((n, c) => n + totalSeconds(c.seconds), 0);
      const poolJobs = [...byRepo.values()].reduce((n, c) => n + c.jobs, 0);
      for (const [repository, cell] of byRepo) {
        const row = rowOf(repository, this.owners.get(repository) ?? repository.split('/')[0] ?? '');
        row.cell.jobs += cell.jobs;
        for (const m of costMarkets) row.cell.seconds[m] += cell.seconds[m];
        row.cell.computeUsd += cell.computeUsd;
        // By instance seconds; a pool whose jobs all ran zero seconds shares by job count instead.
        const weight = poolSeconds > 0 ? totalSeconds(cell.seconds) / poolSeconds : cell.jobs / poolJobs;
        row.overheadUsd += poolOverhead * weight;
      }
    }
    const leftOver = [...overheadByPool.values()].reduce((n, usd) => n + usd, 0);
    if (leftOver > 0) rowOf(unattributedRepository, unattributedRepository).overheadUsd += leftOver;

    const entries = [...rows.entries()].map(([repository, row]) => ({
      repository,
      organization: row.organization,
      jobs: row.cell.jobs,
      instanceSeconds: { ...row.cell.seconds },
      computeUsd: row.cell.computeUsd,
      overheadUsd: row.overheadUsd,
    }));
    const parts = entries.map((e) => ({
      key: e.repository,
      exactCents: (e.computeUsd + e.overheadUsd) * 100,
    }));
    const totalCents = Math.round(parts.reduce((n, p) => n + p.exactCents, 0));
    const cents = largestRemainder(parts, totalCents);
    const repositories: CostRow[] = entries
      .map((e) => ({ ...e, costCents: cents.get(e.repository) ?? 0 }))
      .sort(byCostThenName((r) => r.repository));

    const organizations = new Map<
      string,
      { jobs: number; seconds: Record<CostMarket, number>; compute: number; overhead: number; cents: number }
    >();
    for (const r of repositories) {
      const o = organizations.get(r.organization) ?? {
        jobs: 0,
        seconds: zeroSeconds(),
        compute: 0,
        overhead: 0,
        cents: 0,
      };
      o.jobs += r.jobs;
      for (const m of costMarkets) o.seconds[m] += r.instanceSeconds[m];
      o.compute += r.computeUsd;
      o.overhead += r.overheadUsd;
      o.cents += r.costCents;
      organizations.set(r.organization, o);
    }

    const totalsSeconds = zeroSeconds();
    for (const r of repositories) for (const m of costMarkets) totalsSeconds[m] += r.instanceSeconds[m];
    return {
      currency: 'USD',
      totals: {
        jobs: repositories.reduce((n, r) => n + r.jobs, 0),
        instanceSeconds: totalsSeconds,
        computeUsd: repositories.reduce((n, r) => n + r.computeUsd, 0),
        overheadUsd: repositories.reduce((n, r) => n + r.overheadUsd, 0),
        costCents: totalCents,
        overhead: overheadCategories.flatMap((category) => {
          const line = overheadLines.get(category);
          return line === undefined ? [] : [{ category, seconds: line.seconds, usd: line.usd }];
        }),
      },
      repositories,
      organizations: [...organizations.entries()]
        .map(([organization, o]) => ({
          organization,
          jobs: o.jobs,
          instanceSeconds: o.seconds,
          computeUsd: o.compute,
          overheadUsd: o.overhead,
          costCents: o.cents,
        }))
        .sort(byCostThenName((o) => o.organization)),
      jobsWithoutUsage: this.withoutUsage,
      assumptions: [...assumptions].sort(),
    };
  }
}

function overheadUsd(line: OverheadUsage, pricing: PricingContext, assumptions: Set<string>): number {
  if (line.category === 'storage') {
    const gb = pricing.volumeGb(line.pool);
    if (gb === undefined)
      assumptions.add(`pool ${line.pool}: not in the pool config, volume assumed ${assumedVolumeGb} GB`);
    return ebsUsdPerSecond(gb ?? assumedVolumeGb) * line.seconds;
  }
  const price = hourlyPrice(line.instanceType, line.market === 'spot' ? 'spot' : 'on-demand');
  if (!price.listed) assumptions.add(`instance type ${line.instanceType}: not in the price table`);
  return (price.usd / 3600) * line.seconds;
}

function totalSeconds(seconds: SecondsByMarket): number {
  return seconds.pool + seconds.spot + seconds['on-demand'];
}

/**
 * Splits `total` whole cents over the parts in proportion to their exact cents (largest remainder):
 * each part gets its exact amount rounded down, then the parts with the largest remainders get one more
 * until the sum is `total`. `total` must lie within [Σ floor, Σ floor + parts] (true when it is the
 * rounded sum of the exact amounts); a total outside it is a programming fault.
 */
export function largestRemainder(
  parts: readonly { readonly key: string; readonly exactCents: number }[],
  total: number,
): Map<string, number> {
  const floors = parts.map((p) => {
    const exact = Math.max(0, p.exactCents);
    // Float noise (0.29 * 100 = 28.999999999999996) leaves a remainder near 1: that part gets its cent first.
    const floor = Math.floor(exact);
    return { key: p.key, exact, floor, remainder: exact - floor };
  });
  let missing = total - floors.reduce((n, f) => n + f.floor, 0);
  if (missing < 0 || missing > parts.length)
    throw new RangeError(
      `cannot split ${total} cents over parts summing to ${floors.reduce((n, f) => n + f.exact, 0)}`,
    );
  const order = [...floors].sort(
    (a, b) => b.remainder - a.remainder || b.exact - a.exact || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const result = new Map(floors.map((f) => [f.key, f.floor]));
  for (const f of order) {
    if (missing === 0) break;
    result.set(f.key, f.floor + 1);
    missing--;
  }
  return result;
}

function byCostThenName<
  T extends { readonly costCents: number; readonly computeUsd: number; readonly overheadUsd: number },
>(name: (row: T) => string): (a: T, b: T) => number {
  return (a, b) =>
    b.costCents - a.costCents ||
    b.computeUsd + b.overheadUsd - (a.computeUsd + a.overheadUsd) ||
    (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);
}

/**
 * The top `n` repositories by cost, each as itself, and the rest summed as `other` (absent when nothing
 * is left over): the shape of the per-repository metric, whose cardinality must stay small.
 */
export function topRepositories(
  rows: readonly CostRow[],
  n: number,
): { readonly repository: string; readonly costCents: number; readonly jobs: number }[] {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`top repositories: ${n} is not a whole number ≥ 0`);
  const sorted = [...rows].sort(byCostThenName((r) => r.repository));
  const top = sorted
    .slice(0, n)
    .map((r) => ({ repository: r.repository, costCents: r.costCents, jobs: r.jobs }));
  const rest = sorted.slice(n);
  if (rest.length === 0) return top;
  return [
    ...top,
    {
      repository: 'other',
      costCents: rest.reduce((c, r) => c + r.costCents, 0),
      jobs: rest.reduce((c, r) => c + r.jobs, 0),
    },
  ];
}
