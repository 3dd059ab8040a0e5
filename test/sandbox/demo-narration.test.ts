/**
 * The demo's line for a pool left with no ready instance: drained by jobs, or emptied into the hot
 * tier (a small pool filling the tier is not a burst, and the demo must not say it is).
 */
import { describe, expect, it } from 'vitest';
import { emptyPoolLine, poolUse } from '../../bin/sandbox/demo-workload.js';
import type { InstanceRecord } from '../../scheduler/core/types.js';
import { instance } from '../contracts/pool-store.contract.js';

const pool = { name: 'linux-x64', target: 2 };
const of = (overrides: Partial<InstanceRecord> & Pick<InstanceRecord, 'id'>) =>
  instance({ pool: 'linux-x64', role: 'pool', ...overrides });

describe('demo narration of an empty pool', () => {
  it('says the hot tier took the pool when no job runs on it', () => {
    const instances = [
      of({ id: 'i-1', state: 'idle', tier: 'hot' }),
      of({ id: 'i-2', state: 'starting', tier: 'hot' }),
      of({ id: 'i-3', state: 'ready' }),
      of({ id: 'i-4', state: 'busy', tier: 'hot', servingJob: 7, pool: 'linux-arm64' }),
    ];
    const use = poolUse('linux-x64', instances);
    expect(use).toEqual({ jobs: 0, hot: 2 });
    const line = emptyPoolLine(pool, use);
    expect(line).toMatch(/^linux-x64: 0 of 2 ready — all 2 went to the hot tier/);
    expect(line).not.toMatch(/drained/);
  });

  it('says the pool drained when jobs took it, counting the hot runners beside them', () => {
    const instances = [
      of({ id: 'i-1', state: 'busy', tier: 'hot', servingJob: 1 }),
      of({ id: 'i-2', state: 'busy', tier: 'hot', jobStartedAt: 5 }),
      of({ id: 'i-3', state: 'starting', provisionedFor: 3 }),
      of({ id: 'i-4', state: 'idle', tier: 'hot' }),
      of({ id: 'i-5', state: 'starting', role: 'ephemeral', market: 'spot' }),
    ];
    const use = poolUse('linux-x64', instances);
    expect(use).toEqual({ jobs: 3, hot: 1 });
    expect(emptyPoolLine(pool, use)).toBe(
      'linux-x64: warm pool drained — 0 of 2 ready, 3 on jobs, 1 in the hot tier; further jobs fall back down the ladder',
    );
  });
});
