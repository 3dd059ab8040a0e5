/**
 * The same simulation on several seeds (each its own generated week: other arrivals, other webhook
 * incidents, other capacity outages), and per policy the spread of each figure across them: the
 * smallest, the median and the largest, with every seed's value kept.
 */
import type { Goal, PolicySummary } from './report.js';

export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly bySeed: readonly number[];
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median =
    sorted.length === 0
      ? Number.NaN
      : sorted.length % 2 === 1
        ? (sorted[Math.floor(mid)] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    min: sorted[0] ?? Number.NaN,
    median,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    bySeed: values,
  };
}

export interface PolicySpread {
  readonly p50S: Spread;
  readonly p95S: Spread;
  readonly p99S: Spread;
  readonly costPerJob: Spread;
  readonly completedOverWorkP95S: Spread;
  readonly hotHitRate: Spread;
}

export interface SeedRun {
  readonly seed: number;
  readonly jobs: number;
  readonly incidents: { readonly count: number; readonly minutes: number };
  readonly policies: Readonly<Record<string, PolicySummary>>;
  readonly goals: readonly Goal[];
}

/** Per policy present in every seed's run, the spread of its headline figures. */
export function spreadOverSeeds(runs: readonly SeedRun[]): Record<string, PolicySpread> {
  const names = Object.keys(runs[0]?.policies ?? {}).filter((name) => runs.every((r) => name in r.policies));
  const out: Record<string, PolicySpread> = {};
  for (const name of names) {
    const of = (pick: (p: PolicySummary) => number) =>
      spread(runs.map((r) => pick(r.policies[name] as PolicySummary)));
    out[name] = {
      p50S: of((p) => p.p50S),
      p95S: of((p) => p.p95S),
      p99S: of((p) => p.p99S),
      costPerJob: of((p) => p.costPerJob),
      completedOverWorkP95S: of((p) => p.completed.overWorkP95S),
      hotHitRate: of((p) => p.hotHitRate),
    };
  }
  return out;
}
