/**
 * Converging a pool to its target: a pure plan of launches and retirements.
 *
 * Counts only the pool's warm capacity (launching, warming, ready); claimed and busy instances are
 * serving jobs and are never retired here. Scale-in retires ready instances with an outdated spec
 * first, then the oldest, taking from the zone with the most so zones stay balanced. Rolling replaces
 * at most `rollBatchSize` outdated ready instances per run, launching their replacements in the same
 * run, so a new image reaches the pool a few instances at a time without emptying it.
 */
import { poolCapacityStates } from './lifecycle.js';
import type { PoolConfig, Settings } from './pool-config.js';
import type { InstanceRecord } from './types.js';

export interface ConvergencePlan {
  readonly pool: string;
  readonly target: number;
  readonly capacity: number;
  /** One subnet per instance to launch. */
  readonly launchSubnets: readonly string[];
  readonly retire: readonly { instance: InstanceRecord; reason: 'scale-in' | 'outdated' }[];
}

export interface PlanInput {
  readonly pool: PoolConfig;
  readonly settings: Settings;
  readonly target: number;
  readonly instances: readonly InstanceRecord[];
  /** Whether an instance's spec is what new instances of its type get today. */
  readonly isCurrent: (instance: InstanceRecord) => boolean;
}

export function planConvergence(input: PlanInput): ConvergencePlan {
  const { pool, settings, target } = input;
  const capacity = input.instances.filter((i) => i.role === 'pool' && poolCapacityStates.includes(i.state));
  const ready = capacity.filter((i) => i.state === 'ready');
  const retire: ConvergencePlan['retire'][number][] = [];

  if (capacity.length > target) {
    const excess = capacity.length - target;
    const remaining = [...capacity];
    const candidates = [...ready];
    for (let n = 0; n < excess && candidates.length > 0; n++) {
      const pick = pickForScaleIn(candidates, remaining, input.isCurrent);
      candidates.splice(candidates.indexOf(pick), 1);
      remaining.splice(remaining.indexOf(pick), 1);
      retire.push({ instance: pick, reason: input.isCurrent(pick) ? 'scale-in' : 'outdated' });
    }
  }

  // Roll outdated ready instances a few at a time; the launch below replaces each one retired.
  const alreadyRetired = new Set(retire.map((r) => r.instance.id));
  const outdated = ready.filter((i) => !input.isCurrent(i) && !alreadyRetired.has(i.id));
  const roll = outdated.sort(byAge).slice(0, Math.max(0, settings.rollBatchSize - retire.length));
  for (const instance of roll) retire.push({ instance, reason: 'outdated' });

  const after = capacity.length - retire.length;
  const launch = Math.max(
    0,
    Math.min(target - after, settings.launchBatchSize + roll.length, pool.maximum - after),
  );

  const kept = capacity.filter((i) => !retire.some((r) => r.instance.id === i.id));
  return {
    pool: pool.name,
    target,
    capacity: capacity.length,
    launchSubnets: planLaunchSubnets(pool, kept, launch),
    retire,
  };
}

function byAge(a: InstanceRecord, b: InstanceRecord): number {
  return a.launchedAt - b.launchedAt || a.id.localeCompare(b.id);
}

function pickForScaleIn(
  candidates: readonly InstanceRecord[],
  remaining: readonly InstanceRecord[],
  isCurrent: (i: InstanceRecord) => boolean,
): InstanceRecord {
  const outdated = candidates.filter((i) => !isCurrent(i));
  const pool = outdated.length > 0 ? outdated : candidates;
  const perZone = countByZone(remaining);
  return [...pool].sort(
    (a, b) => (perZone.get(b.availabilityZone) ?? 0) - (perZone.get(a.availabilityZone) ?? 0) || byAge(a, b),
  )[0] as InstanceRecord;
}

function countByZone(instances: readonly InstanceRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const i of instances) counts.set(i.availabilityZone, (counts.get(i.availabilityZone) ?? 0) + 1);
  return counts;
}

/**
 * Subnets for `count` new instances, each to the subnet whose pool has the fewest instances so far,
 * ties broken by config order (subnets are per zone, so this balances zones).
 */
export function planLaunchSubnets(
  pool: PoolConfig,
  existing: readonly InstanceRecord[],
  count: number,
): string[] {
  const perSubnet = new Map(pool.subnets.map((s) => [s, 0]));
  for (const i of existing)
    if (perSubnet.has(i.subnetId)) perSubnet.set(i.subnetId, (perSubnet.get(i.subnetId) ?? 0) + 1);
  const chosen: string[] = [];
  for (let n = 0; n < count; n++) {
    let best = pool.subnets[0] as string;
    for (const s of pool.subnets) if ((perSubnet.get(s) ?? 0) < (perSubnet.get(best) ?? 0)) best = s;
    chosen.push(best);
    perSubnet.set(best, (perSubnet.get(best) ?? 0) + 1);
  }
  return chosen;
}
