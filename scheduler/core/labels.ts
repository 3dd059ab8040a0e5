/**
 * Label matching as GitHub does it: a runner can take a job when every label of the job is one of
 * the runner's labels, compared case-insensitively; `self-hosted` is implied for our runners.
 * When several pools could serve a job, the one with the fewest labels (the tightest fit) wins, then
 * config order, so the choice is stable.
 *
 * Sizes: a pool may declare size labels (`sizes`); a job carrying the pool's labels plus one of them
 * is the pool's, and its runner carries that label too. A runner without it (the hot tier's, any
 * base runner) cannot take the sized job — GitHub requires every label of the job — so such runners
 * never count as covering it. A sized runner can take a base job of the pool, as GitHub sees it.
 */
import { normalizedLabels, type PoolConfig, type PoolsConfig } from './pool-config.js';

const implied = ['self-hosted'];

export function runnerLabels(pool: PoolConfig): string[] {
  return [...new Set([...implied, ...normalizedLabels(pool.labels)])];
}

export function poolServes(pool: PoolConfig, jobLabels: readonly string[]): boolean {
  const offered = new Set(runnerLabels(pool));
  const extra = [...new Set(normalizedLabels(jobLabels).filter((label) => !offered.has(label)))];
  return extra.length === 0 || (extra.length === 1 && sizeNamed(pool, extra[0] ?? '') !== undefined);
}

/** The size a job asks for in its pool (its one label beyond the pool's), or undefined for a base job. */
export function sizeOfJob(
  pool: PoolConfig,
  jobLabels: readonly string[],
): { label: string; instanceType: string } | undefined {
  const offered = new Set(runnerLabels(pool));
  for (const label of normalizedLabels(jobLabels)) {
    if (offered.has(label)) continue;
    return sizeNamed(pool, label);
  }
  return undefined;
}

function sizeNamed(pool: PoolConfig, label: string): { label: string; instanceType: string } | undefined {
  for (const [name, size] of Object.entries(pool.sizes ?? {}))
    if (name.trim().toLowerCase() === label) return { label: name, instanceType: size.instanceType };
  return undefined;
}

/** The pool for a job's labels, or undefined when none serves them (the job is not ours). */
export function matchPool(config: PoolsConfig, jobLabels: readonly string[]): PoolConfig | undefined {
  // A job with no labels at all, or only `self-hosted`, names no pool: it is not ours to serve.
  if (normalizedLabels(jobLabels).filter((l) => !implied.includes(l)).length === 0) return undefined;
  let best: { pool: PoolConfig; size: number } | undefined;
  for (const pool of config.pools) {
    if (!poolServes(pool, jobLabels)) continue;
    // Tightness is what the runner carries: `self-hosted` and a repeated label count once, and a size
    // label one more.
    const size = runnerLabels(pool).length + (sizeOfJob(pool, jobLabels) === undefined ? 0 : 1);
    if (best === undefined || size < best.size) best = { pool, size };
  }
  return best?.pool;
}
