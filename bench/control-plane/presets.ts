/**
 * The benchmark's sizes. `full` is the burst (1,000 jobs over a pool of 100, within 10 minutes
 * on a 2-core machine); `quick` fits `npm run bench -- --quick` into a minute; `tiny` is for the test.
 */
import type { BurstRecoveryOptions } from './burst-recovery.js';
import type { ScaleOptions } from './scale.js';
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

type ScaleSizing = Omit<ScaleOptions, 'log' | 'seed'>;

const scaleCommon = {
  jobs: 20_000,
  // Real time. The factor must leave the sandbox faster than GitHub's limit in real-world terms, or both
  // App counts measure this machine: here (2 shared cores) the single process answers about six
  // deliveries a second, one App may mint three a second (180 a minute) and two Apps six. At 0.5 the
  // sandbox would count for three a second — as slow as one App — and one App and two would look alike.
  timeScale: 1,
  appCounts: [1, 2],
  organizations: ['acme', 'globex'],
  jitMintsPerMinutePerApp: 180,
  // Jobs end soon after they start: a job's length changes neither mints nor describe calls, only how
  // many instances are alive at once.
  jobDurationMs: [2_000, 10_000] as const,
  concurrency: 16,
  reconcilerEveryMs: 30_000,
  tunerEveryMs: 60_000,
};

/**
 * The scale scenario's sizes: `scale` is the day (20,000 jobs) with its busiest 5 minutes run
 * once per App count (about 15 minutes in all); `scale-quick` its busiest 2 minutes; `scale-tiny` a
 * 120-job day on a clock ten times faster, for the test.
 */
export const scalePresets: Readonly<Record<'scale' | 'scale-quick' | 'scale-tiny', ScaleSizing>> = {
  scale: { ...scaleCommon, windowMinutes: 5, poolSize: 100, timeoutMs: 600_000 },
  'scale-quick': { ...scaleCommon, windowMinutes: 2, poolSize: 60, timeoutMs: 300_000 },
  'scale-tiny': {
    ...scaleCommon,
    jobs: 120,
    windowMinutes: 1,
    appCounts: [1],
    timeScale: 0.1,
    poolSize: 10,
    jobDurationMs: [1_000, 3_000],
    timeoutMs: 60_000,
  },
};

type RecoverySizing = Omit<BurstRecoveryOptions, 'log' | 'seed'>;

const recoveryCommon = {
  lostShare: 0.1,
  concurrency: 16,
  reconcilerEveryMs: 30_000,
  tunerEveryMs: 60_000,
  jobDurationMs: [5_000, 30_000] as const,
};

/**
 * The burst-recovery scenario's sizes: `recovery` is the 500-job burst in real time (the
 * reconciler's 30 s cadence is the figure, and a compressed clock would stretch the single process's
 * backlog by as much); `recovery-tiny` is for the test.
 */
export const recoveryPresets: Readonly<Record<'recovery' | 'recovery-tiny', RecoverySizing>> = {
  recovery: {
    ...recoveryCommon,
    jobs: 500,
    poolSize: 100,
    timeScale: 1,
    arrivalMs: 10_000,
    timeoutMs: 600_000,
  },
  'recovery-tiny': {
    ...recoveryCommon,
    jobs: 20,
    poolSize: 10,
    timeScale: 0.1,
    arrivalMs: 2_000,
    jobDurationMs: [1_000, 3_000],
    timeoutMs: 60_000,
  },
};
