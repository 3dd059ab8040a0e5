/**
 * The simulator's `tiered` policy and the model upgrades, through the real core: a hot hit by hand
 * (picked up in the runner's connect time, no webhook on the path); the cold-disk penalty paid only
 * on a disk that was not pre-warmed; the hot tier serving through a webhook outage while the stopped
 * pool waits for it to end; idle spot runners reclaimed and replaced; GitHub's mint limit met by a
 * burst. Every run: each job runs exactly once.
 */
import { describe, expect, it } from 'vitest';
import { defaultOutageRates, type OutageRates } from '../../bench/simulator/capacity.js';
import { runCorePolicy } from '../../bench/simulator/core-world.js';
import type { PolicyRun } from '../../bench/simulator/outcome.js';
import {
  coldSpotConfig,
  defaultSizing,
  oursConfig,
  stoppedStaticConfig,
  tieredConfig,
} from '../../bench/simulator/policies.js';
import { referencePrices } from '../../bench/simulator/prices.js';
import { constant } from '../../bench/simulator/random.js';
import { referenceTimings, type Timings } from '../../bench/simulator/reference-timings.js';
import { percentile } from '../../bench/simulator/report.js';
import { noIncidents } from '../../bench/simulator/webhook-delivery.js';
import { generateTrace } from '../../bench/traces/generate.js';
import type { Trace } from '../../bench/traces/trace.js';

const hour = 3_600_000;
const noOutages: OutageRates = { ...defaultOutageRates, onDemandPerDay: 0, spotPerDay: 0 };
const labels = ['self-hosted', 'linux', 'x64'];

/** Every timing a constant, so that a timeline can be followed by hand. */
const fixed: Timings = {
  webhookDelivery: constant(2),
  webhookIncidents: noIncidents,
  runnerConnect: constant(3),
  jitMint: constant(0.7),
  runInstances: constant(2),
  createFleet: constant(3),
  startInstances: constant(2),
  pendingToRunning: constant(5),
  osBoot: constant(5),
  coldBootExtra: constant(0),
  coldDiskPenalty: constant(60),
  warmUp: constant(240),
  shutdown: constant(5),
  stateChangeEvent: constant(1),
  handlerOverhead: constant(0),
  dynamoDbCall: constant(0),
  ssmCall: constant(0),
  gitHubCall: constant(0.5),
  ec2OtherCall: constant(0.5),
  jitPoll: constant(1),
  jitGraceSeconds: 60,
  jitMintsPerMinute: 180,
  spotInterruptionPerHour: 0,
};

function expectEveryJobOnce(run: PolicyRun, trace: Trace): void {
  expect(run.jobs).toHaveLength(trace.jobs.length);
  expect(run.startedTwice).toBe(0);
  expect(run.jobs.every((j) => j.startedAt > j.createdAt)).toBe(true);
  expect(run.jobs.every((j) => j.completedAt !== undefined && j.completedAt > j.startedAt)).toBe(true);
}

describe('one job, by hand, with a 60 s cold-disk penalty', () => {
  const T = Date.UTC(2026, 0, 5, 12); // Monday noon UTC, inside the 08:00–19:00 hot window
  const trace: Trace = {
    jobs: [{ createdAt: T, labels, durationS: 600 }],
    start: T,
    end: T + 1,
    timeZone: 'UTC',
    source: 'one job',
  };
  const sizing = { ...defaultSizing(trace), daySize: 1, nightSize: 1, hotMin: 1, hotMax: 1 };
  const base = {
    trace,
    seed: 1,
    timings: fixed,
    prices: referencePrices,
    outages: noOutages,
    start: T - hour,
  };
  const spot = referencePrices.spotPerHour / 3600;

  it('tiered: a hot spot runner idle since the window opened takes it in its connect time, and pays the penalty', async () => {
    const run = await runCorePolicy({ ...base, policy: 'tiered', config: tieredConfig(trace, sizing) });
    expectEveryJobOnce(run, trace);
    // Queued at T, handed to the idle runner at once; its listener takes 3 s to pick it up. The runner
    // is on a fresh spot instance: the job runs 600 s + 60 s.
    expect(run.jobs[0]).toMatchObject({
      startedAt: T + 3_000,
      ranOn: 'spot',
      hotHit: true,
      poolHit: true,
      coldPenaltyS: 60,
      completedAt: T + 663_000,
    });
    // The tier was refilled after the hit (by the webhook, the in_progress or the instance's own signal).
    expect(run.counters.HotRefills ?? 0).toBeGreaterThanOrEqual(2);
    expect(run.hotTargets?.some(([, target]) => target === 1)).toBe(true);
  });

  it('cold spot pays the penalty: 60 s more spot compute and a later completion', async () => {
    // As in simulator.test.ts: picked up at T+18, the job now runs 660 s, done at T+678, and the
    // `completed` webhook (2 s) recycles it: TerminateInstances 0.5 s → terminated at T+680.5.
    const run = await runCorePolicy({ ...base, policy: 'cold', config: coldSpotConfig(trace, sizing) });
    expect(run.jobs[0]).toMatchObject({ startedAt: T + 18_000, completedAt: T + 678_000, coldPenaltyS: 60 });
    expect(run.bill.compute).toBeCloseTo(spot * 670.5, 10);
  });

  it('a stopped pool instance warmed its disk: no penalty', async () => {
    const run = await runCorePolicy({
      ...base,
      policy: 'static',
      config: stoppedStaticConfig(trace, sizing),
    });
    expect(run.jobs[0]).toMatchObject({ startedAt: T + 17_000, completedAt: T + 617_000, coldPenaltyS: 0 });
  });
});

/** A Monday morning of a small organization (~120 jobs, matrices included), in UTC. */
function morning(): Trace {
  const day = generateTrace({ seed: 11, days: 1, jobsPerWeekday: 500, timeZone: 'UTC' });
  const from = day.start + 9 * hour;
  const to = day.start + 11 * hour;
  return {
    ...day,
    jobs: day.jobs.filter((j) => j.createdAt >= from && j.createdAt < to),
    start: from,
    end: to,
  };
}

describe('tiered through the core, on a morning of jobs', () => {
  const trace = morning();
  const sizing = { ...defaultSizing(trace), hotMin: 8, hotMax: 8 };
  const base = {
    trace,
    seed: 3,
    timings: { ...referenceTimings, webhookIncidents: noIncidents },
    prices: referencePrices,
    outages: noOutages,
    start: trace.start - hour,
  };
  const pickups = (run: PolicyRun) =>
    run.jobs.map((j) => (j.startedAt - j.createdAt) / 1000).sort((a, b) => a - b);

  it('keeps serving through a webhook outage that blinds the stopped pool', async () => {
    // GitHub holds every webhook from the trace's start to its end (plus the drain).
    const webhookOutage = { from: trace.start, hours: (trace.end - trace.start) / hour };
    const tiered = await runCorePolicy({
      ...base,
      webhookOutage,
      policy: 'tiered',
      config: tieredConfig(trace, sizing),
    });
    const ours = await runCorePolicy({
      ...base,
      webhookOutage,
      policy: 'ours',
      config: oursConfig(trace, sizing),
    });
    expectEveryJobOnce(tiered, trace);
    expectEveryJobOnce(ours, trace);
    // The hot tier needs no webhook: a hot runner takes a job at once and the instance's own
    // job-started signal refills the tier. The stopped pool hears of a job only when the outage ends
    // (or when a runner started for another job takes it).
    expect(tiered.counters['job-started:marked-busy:refilled'] ?? 0).toBeGreaterThan(0);
    expect(tiered.jobs.filter((j) => j.hotHit).length).toBeGreaterThan(trace.jobs.length / 4);
    expect(percentile(pickups(tiered), 0.5)).toBeLessThan(60);
    expect(percentile(pickups(ours), 0.5)).toBeGreaterThan(15 * 60);
  });

  it('replaces idle spot runners reclaimed by EC2, and loses no job', async () => {
    const timings = { ...base.timings, spotInterruptionPerHour: 6 };
    const run = await runCorePolicy({
      ...base,
      timings,
      policy: 'tiered',
      config: tieredConfig(trace, sizing),
    });
    expectEveryJobOnce(run, trace);
    expect(run.counters['spot:interruption-warning'] ?? 0).toBeGreaterThan(0);
    // The warning reaches the lifecycle handler, which deregisters the idle runner and refills the tier.
    expect(run.counters['spot-warning:hot-runner-replaced'] ?? 0).toBeGreaterThan(0);
  });
});

describe("GitHub's JIT mint limit", () => {
  it('refuses mints over 180 a minute in a 250-job matrix; the refused jobs are served later, once', async () => {
    const T = Date.UTC(2026, 0, 5, 12);
    const trace: Trace = {
      jobs: Array.from({ length: 250 }, (_, i) => ({
        createdAt: T + i * 10,
        labels,
        durationS: 120,
        runId: 1,
      })),
      start: T,
      end: T + 2_500,
      timeZone: 'UTC',
      source: 'one matrix',
    };
    const sizing = defaultSizing(trace);
    const run = await runCorePolicy({
      trace,
      seed: 2,
      timings: fixed,
      prices: referencePrices,
      outages: noOutages,
      start: T - 10 * 60_000,
      policy: 'cold',
      config: coldSpotConfig(trace, sizing),
    });
    expectEveryJobOnce(run, trace);
    expect(run.counters['github:mint-secondary-limit'] ?? 0).toBeGreaterThan(0);
    const late = run.jobs.filter((j) => j.startedAt - j.createdAt > 60_000).length;
    expect(late).toBeGreaterThanOrEqual(250 - 180);
  });
});
