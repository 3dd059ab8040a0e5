/**
 * What `runners status` and GET /api/state show of a pool's hot tier: idle, starting and busy runners
 * against the target (the tuner's, clamped to the windows open now), hits by tier, and cost per day.
 */
import { describe, expect, it } from 'vitest';
import { readSnapshot } from '../../bin/cli/state-snapshot.js';
import { formatStatus } from '../../bin/cli/status-command.js';
import { hotRunnerHourlyUsd } from '../../scheduler/core/hot-sizing.js';
import { hotMarker } from '../../scheduler/core/hot-tier.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { InMemoryPoolStore } from '../../stand-ins/in-memory/in-memory-pool-store.js';
import { instance, job, monday0900, poolOf, testConfig } from '../core/support.js';

describe('the hot tier in the status snapshot', () => {
  it('counts idle, starting and busy hot runners, hits by tier, and the cost of the tier per day', async () => {
    const config = testConfig({
      hot: {
        maximum: 4,
        windows: [{ days: ['mon'], from: '08:00', to: '18:00', timezone: 'UTC', max: 3 }],
      },
    });
    const clock = new FixedClock(monday0900);
    const store = new InMemoryPoolStore({ clock });
    for (const record of [
      instance({ id: 'i-0000000000000a1', state: 'idle', tier: 'hot', idleAt: monday0900 }),
      instance({ id: 'i-0000000000000a2', state: 'idle', tier: 'hot', idleAt: monday0900 }),
      instance({ id: 'i-0000000000000a3', state: 'starting', tier: 'hot' }),
      instance({ id: 'i-0000000000000a4', state: 'busy', tier: 'hot', servingJob: 1 }),
      instance({ id: 'i-0000000000000a5', state: 'ready' }),
    ])
      await store.putInstance(record);
    await store.createJob(job({ id: 1, state: 'running', pickupTier: 'hot' }));
    await store.createJob(job({ id: 2, state: 'completed', pickupTier: 'warm' }));
    await store.createJob(job({ id: 3, state: 'completed', pickupTier: 'hot' }));
    await store.putMarker(
      hotMarker('linux-x64'),
      JSON.stringify({ target: 3, at: monday0900 - 30_000, day: '2026-01-05', spentUsd: 0.42 }),
    );

    const snapshot = await readSnapshot(store, config, monday0900);
    const [x64, arm64] = snapshot.pools;
    expect(x64?.hot).toEqual({
      target: 3,
      idle: 2,
      starting: 1,
      busy: 1,
      hits: { hot: 2, warm: 1, cold: 0 },
      usdPerDay: Math.round(3 * hotRunnerHourlyUsd(poolOf(config)) * 24 * 100) / 100,
      spentTodayUsd: 0.42,
    });
    expect(arm64?.hot).toBeUndefined();
    expect(snapshot.instances.find((i) => i.id === 'i-0000000000000a1')?.tier).toBe('hot');

    const text = formatStatus({
      ...snapshot,
      source: { kind: 'sandbox', url: 'http://x' },
      jobStatesRead: [],
    });
    expect(text).toMatch(/Hot tier \(registered idle runners\)/);
    expect(text).toMatch(/linux-x64\s+3\s+2\s+1\s+1\s+2\/1\/0/);
  });

  it('shows a closed window as a zero target at once, whatever the tuner wrote an hour ago', async () => {
    const config = testConfig({
      hot: { maximum: 4, windows: [{ days: ['mon'], from: '08:00', to: '09:00', timezone: 'UTC', max: 3 }] },
    });
    const store = new InMemoryPoolStore({ clock: new FixedClock(monday0900) });
    await store.putMarker(
      hotMarker('linux-x64'),
      JSON.stringify({ target: 3, at: monday0900 - 60_000, day: '2026-01-05', spentUsd: 0 }),
    );
    const snapshot = await readSnapshot(store, config, monday0900);
    expect(snapshot.pools[0]?.hot?.target).toBe(0);
  });
});
