/**
 * The tuning tables: each variant of ours and of tiered is a run of its own through the core, on the
 * same trace, with the settings it was given over the sizing.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../bench/simulator/run-simulation.js';

describe('tuning variants', () => {
  it('runs each variant of ours and of tiered once, with its own settings', {
    timeout: 120_000,
  }, async () => {
    const result = await simulate({
      seed: 11,
      days: 1,
      jobsPerWeekday: 120,
      policies: ['ours', 'tiered'],
      runningScales: [],
      oursVariants: [{ forecastQuantile: 0.5 }],
      tieredVariants: [{ hotMax: 1 }, { hotFill: ['pool', 'spot', 'on-demand'] }],
    });
    expect(result.oursTuning.map((v) => v.settings)).toEqual([{ forecastQuantile: 0.5 }]);
    expect(result.tieredTuning.map((v) => v.settings)).toEqual([
      { hotMax: 1 },
      { hotFill: ['pool', 'spot', 'on-demand'] },
    ]);
    for (const v of [...result.oursTuning, ...result.tieredTuning]) {
      expect(v.p95S).toBeGreaterThan(0);
      expect(v.costPerJob).toBeGreaterThan(0);
    }
    // A tier capped at one runner takes fewer jobs than the tier as sized.
    const capped = result.tieredTuning[0];
    expect(capped?.hotHitRate).toBeLessThan(result.policies.tiered?.hotHitRate ?? 0);
  });
});
