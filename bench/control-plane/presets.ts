/**
 * The benchmark's sizes. `full` is the burst (1,000 jobs over a pool of 100, within 10 minutes
 * on a 2-core machine); `quick` fits `npm run bench -- --quick` into a minute; `tiny` is for the test.
 */
import type { ScenarioOptions } from './scenario.js';

export type Preset = 'full' | 'quick' | 'tiny';

type Sizing = Omit<ScenarioOptions, 'log' | 'seed'>;

const common = {
  // EC2 at 1/50 of its pace: a 5 s boot takes 100 ms, so 1,000 jobs' instances come and go in minutes.
  timeScale: 0.02,
  jobDurationMs: [200, 1_000] as const,
  spotOutage: true,
  concurrency: 16,
};

export const presets: Readonly<Record<Preset, Sizing>> = {
  full: { ...common, jobs: 1_000, poolSize: 100, probeJobs: 30, arrivalMs: 5_000, timeoutMs: 420_000 },
  quick: { ...common, jobs: 200, poolSize: 40, probeJobs: 8, arrivalMs: 2_000, timeoutMs: 40_000 },
  tiny: {
    ...common,
    jobs: 20,
    poolSize: 5,
    probeJobs: 2,
    arrivalMs: 200,
    jobDurationMs: [50, 150],
    timeoutMs: 30_000,
  },
};
