/** The pool config diff `runners pools apply` shows, and the latency phases `status` and the API report. */
import { describe, expect, it } from 'vitest';
import { diffPoolsConfig, formatDiff } from '../../bin/cli/config-diff.js';
import { jobLatency, percentiles } from '../../bin/cli/state-snapshot.js';
import { validatePoolsConfig } from '../../scheduler/core/pool-config.js';

const valid = (document: unknown) => {
  const result = validatePoolsConfig(document);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config;
};
const pool = {
  name: 'linux-x64',
  labels: ['linux', 'x64'],
  architecture: 'x64',
  instanceTypes: ['m7i.large'],
  subnets: ['subnet-0a000000000000001'],
  defaultSize: 2,
  maximum: 4,
};

describe('the pool config diff', () => {
  it('matches pools by name, one line per changed field, nested objects by field', () => {
    const before = valid({ pools: [pool, { ...pool, name: 'old', labels: ['old'] }] });
    const after = valid({
      pools: [
        { ...pool, name: 'gpu', labels: ['gpu'] },
        { ...pool, defaultSize: 3, fallback: { spot: false } },
      ],
      settings: { pendingJobSeconds: 30 },
    });
    expect(formatDiff(diffPoolsConfig(before, after)).split('\n')).toEqual([
      '  - pool "old": labels old; m7i.large in 1 subnet(s); size 2, max 4',
      '  + pool "gpu": labels gpu; m7i.large in 1 subnet(s); size 2, max 4',
      '  ~ pool "linux-x64".defaultSize: 2 → 3',
      '  ~ pool "linux-x64".fallback.spot: true → false',
      '  ~ settings.pendingJobSeconds: 60 → 30',
    ]);
  });

  it('sees no change in a default spelled out, or in the order of pools', () => {
    const other = { ...pool, name: 'b', labels: ['b'] };
    const before = valid({ pools: [pool, other] });
    const after = valid({ pools: [other, { ...pool, volumeSizeGb: 30, schedule: [] }] });
    expect(diffPoolsConfig(before, after)).toEqual([]);
  });
});

describe('job latency phases', () => {
  it('measures each phase between its two recorded instants, leaving out missing or negative ones', () => {
    expect(
      jobLatency({
        createdAt: 0,
        receivedAt: 400,
        claimedAt: 450,
        startIssuedAt: 2_400,
        inProgressAt: 7_000,
      }),
    ).toEqual({ delivery: 400, claim: 50, start: 1_950, queuedToRunning: 7_000 });
    // Another job's runner took this one before its own instance was recorded running.
    expect(
      jobLatency({ startIssuedAt: 5_000, instanceRunningAt: 9_000, inProgressAt: 8_000 }).pickup,
    ).toBeUndefined();
  });

  it('reports nearest-rank percentiles: every figure was measured', () => {
    expect(percentiles([])).toEqual({ count: 0 });
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ count: 5, p50: 3, p95: 5, max: 5 });
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(hundred)).toEqual({ count: 100, p50: 50, p95: 95, max: 100 });
  });
});
