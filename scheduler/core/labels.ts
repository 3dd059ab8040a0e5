/**
 * Label matching as GitHub does it: a runner can take a job when every label of the job is one of
 * the runner's labels, compared case-insensitively; `self-hosted` is implied for our runners.
 * When several pools could serve a job, the one with the fewest labels (the tightest fit) wins, then
 * config order, so the choice is stable.
 */
import { normalizedLabels, type PoolConfig, type PoolsConfig } from './pool-config.js';

const implied = ['self-hosted'];

export function runnerLabels(pool: PoolConfig): string[] {
  return [...new Set([...implied, ...normalizedLabels(pool.labels)])];
}

export function poolServes(pool: PoolConfig, jobLabels: readonly string[]): boolean {
  const offered = new Set(runnerLabels(pool));
  return normalizedLabels(jobLabels).every((label) => offered.has(label));
}

/** The pool for a job's labels, or undefined when none serves them (the job is not ours). */
export function matchPool(config: PoolsConfig, jobLabels: readonly string[]): PoolConfig | undefined {
  // A job with no labels at all, or only `self-hosted`, names no pool: it is not ours to serve.
  if (normalizedLabels(jobLabels).filter((l) => !implied.includes(l)).length === 0) return undefined;
  let best: { pool: PoolConfig; size: number } | undefined;
  for (const pool of config.pools) {
    if (!poolServes(pool, jobLabels)) continue;
    // Tightness is what the runner carries: `self-hosted` and a repeated label count once.
    const size = runnerLabels(pool).length;
    if (best === undefined || size < best.size) best = { pool, size };
  }
  return best?.pool;
}
