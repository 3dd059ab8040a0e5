/**
 * The difference between the live pool config and a new one, as a reviewer wants to read it: pools
 * matched by name (order does not matter), one line per changed field with before → after, and the
 * settings. Both sides are compared after validation, so a default spelled out or left implicit is no
 * change.
 */
import type { PoolConfig, PoolsConfig } from '../../scheduler/core/pool-config.js';

export type DiffLine =
  | { readonly kind: 'added'; readonly pool: string; readonly summary: string }
  | { readonly kind: 'removed'; readonly pool: string; readonly summary: string }
  | { readonly kind: 'changed'; readonly path: string; readonly before: string; readonly after: string };

export function diffPoolsConfig(live: PoolsConfig, next: PoolsConfig): DiffLine[] {
  const lines: DiffLine[] = [];
  const liveByName = new Map(live.pools.map((p) => [p.name, p]));
  const nextByName = new Map(next.pools.map((p) => [p.name, p]));
  for (const pool of live.pools)
    if (!nextByName.has(pool.name))
      lines.push({ kind: 'removed', pool: pool.name, summary: summarizePool(pool) });
  for (const pool of next.pools) {
    const before = liveByName.get(pool.name);
    if (before === undefined) lines.push({ kind: 'added', pool: pool.name, summary: summarizePool(pool) });
    else lines.push(...diffFields(`pool "${pool.name}"`, before, pool));
  }
  lines.push(...diffFields('settings', live.settings, next.settings));
  return lines;
}

function diffFields(prefix: string, before: object, after: object): DiffLine[] {
  const lines: DiffLine[] = [];
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key];
    const y = b[key];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const nested = isPlainObject(x) && isPlainObject(y);
    if (nested) lines.push(...diffFields(`${prefix}.${key}`, x, y));
    else lines.push({ kind: 'changed', path: `${prefix}.${key}`, before: show(x), after: show(y) });
  }
  return lines;
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

export function summarizePool(pool: PoolConfig): string {
  const windows = pool.schedule.length === 0 ? '' : `, ${pool.schedule.length} schedule window(s)`;
  return (
    `labels ${pool.labels.join(',')}; ${pool.instanceTypes.join('/')} in ${pool.subnets.length} subnet(s); ` +
    `size ${pool.defaultSize}, max ${pool.maximum}${windows}`
  );
}

export function formatDiff(lines: readonly DiffLine[]): string {
  return lines
    .map((line) => {
      if (line.kind === 'added') return `  + pool "${line.pool}": ${line.summary}`;
      if (line.kind === 'removed') return `  - pool "${line.pool}": ${line.summary}`;
      return `  ~ ${line.path}: ${line.before} → ${line.after}`;
    })
    .join('\n');
}
