/**
 * The simulator's model of the world: GitHub's webhook delay as a steady part plus incidents that hold
 * every delivery (calibrated to the reference percentiles), GitHub's secondary limit on JIT mints, the
 * cold-disk penalty swept after a run, the spread across seeds, and the running pool sized to a p95.
 */
import { describe, expect, it } from 'vitest';
import type { JobOutcome, PolicyRun } from '../../bench/simulator/outcome.js';
import { referencePrices } from '../../bench/simulator/prices.js';
import { exponential, seededRandom } from '../../bench/simulator/random.js';
import { referenceTimings } from '../../bench/simulator/reference-timings.js';
import {
  coldDiskSweep,
  judgeTieredGoals,
  type PolicySummary,
  percentile,
} from '../../bench/simulator/report.js';
import { spread } from '../../bench/simulator/seeds.js';
import { MintLimit } from '../../bench/simulator/sim-ports.js';
import { runningPoolAtP95 } from '../../bench/simulator/sweeps.js';
import {
  planIncidents,
  referenceIncidents,
  WebhookDelivery,
} from '../../bench/simulator/webhook-delivery.js';
import { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';

const minute = 60_000;
const day = 24 * 60 * minute;

describe('webhook delivery', () => {
  it('matches the reference percentiles over a long span, with a steady p95 under a minute', () => {
    const span = { start: 0, end: 400 * 7 * day };
    const incidents = planIncidents(referenceIncidents, span, seededRandom(3, 'incidents'));
    const webhooks = new WebhookDelivery(
      referenceTimings.webhookDelivery,
      incidents,
      referenceIncidents.drainSeconds,
    );
    const random = seededRandom(3, 'deliveries');
    const all: number[] = [];
    const steady: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const at = random() * span.end;
      all.push(webhooks.delay(at, random));
      steady.push(referenceTimings.webhookDelivery(random));
    }
    all.sort((a, b) => a - b);
    steady.sort((a, b) => a - b);
    // REFERENCE (carbonrunner.io): p50 2 s, p90 3 s, p95 143–162 s; steady-state p95 < 60 s.
    expect(percentile(all, 0.5)).toBeGreaterThan(1.8);
    expect(percentile(all, 0.5)).toBeLessThan(2.2);
    expect(percentile(all, 0.9)).toBeGreaterThan(2.6);
    expect(percentile(all, 0.9)).toBeLessThan(3.5);
    expect(percentile(all, 0.95)).toBeGreaterThan(100);
    expect(percentile(all, 0.95)).toBeLessThan(220);
    expect(percentile(steady, 0.95)).toBeLessThan(60);
    // Incidents last tens of minutes.
    const minutes = incidents.map((i) => (i.to - i.from) / minute).sort((a, b) => a - b);
    expect(percentile(minutes, 0.5)).toBeGreaterThan(15);
    expect(percentile(minutes, 0.5)).toBeLessThan(40);
  });

  it('holds every delivery of an incident until it ends: late deliveries come together', () => {
    const incident = { from: 10 * minute, to: 40 * minute };
    const webhooks = new WebhookDelivery(() => 2, [incident], 60);
    const random = seededRandom(1, 'drain');
    const early = 12 * minute + webhooks.delay(12 * minute, random) * 1000;
    const late = 39 * minute + webhooks.delay(39 * minute, random) * 1000;
    for (const arrival of [early, late]) {
      expect(arrival).toBeGreaterThanOrEqual(incident.to + 2_000);
      expect(arrival).toBeLessThanOrEqual(incident.to + 62_000);
    }
    expect(webhooks.delay(9 * minute, random)).toBe(2);
    expect(webhooks.delay(40 * minute, random)).toBe(2);
  });

  it('plans the same incidents for the same seed, and an outage swallows those it overlaps', () => {
    const span = { start: 0, end: 7 * day };
    const a = planIncidents(referenceIncidents, span, seededRandom(5, 'x'));
    const b = planIncidents(referenceIncidents, span, seededRandom(5, 'x'));
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(5);
    for (let i = 1; i < a.length; i++) expect((a[i]?.from ?? 0) >= (a[i - 1]?.to ?? 0)).toBe(true);
    const outage = { from: 2 * day, hours: 6 };
    const withOutage = planIncidents(referenceIncidents, span, seededRandom(5, 'x'), outage);
    const end = outage.from + 6 * 3_600_000;
    expect(withOutage).toContainEqual({ from: outage.from, to: end });
    expect(withOutage.filter((i) => i.from < end && i.to > outage.from)).toHaveLength(1);
  });
});

describe('MintLimit (GitHub: ~180 JIT configs a minute per App)', () => {
  it('accepts 180 mints in a sliding minute, refuses the next, and frees up as the window slides', () => {
    const limit = new MintLimit(180);
    for (let i = 0; i < 180; i++) expect(limit.take(1_000 + i * 100)).toBe(true);
    expect(limit.take(30_000)).toBe(false);
    // The first accepted mint (at 1 s) leaves the window at 61 s.
    expect(limit.nextFree(30_000)).toBe(61_000);
    expect(limit.take(60_999)).toBe(false);
    expect(limit.take(61_000)).toBe(true);
    expect(limit.take(61_000)).toBe(false);
    expect(limit.take(61_100)).toBe(true);
  });
});

function job(overrides: Partial<JobOutcome>): JobOutcome {
  return {
    createdAt: 0,
    startedAt: 10_000,
    ranOn: 'spot',
    poolHit: false,
    completedAt: 10_000 + 100_000,
    workS: 100,
    coldPenaltyS: 0,
    market: 'spot',
    ...overrides,
  };
}

function runOf(jobs: JobOutcome[], total: number): PolicyRun {
  return {
    policy: 'test',
    jobs,
    expectedJobs: jobs.length,
    startedTwice: 0,
    bill: { job: total, idle: 0, compute: total, volume: 0, total, runningSeconds: 0 },
    start: 0,
    end: day,
    counters: {},
    targets: [],
    events: 0,
    wallMs: 0,
  };
}

describe('cold-disk sweep', () => {
  it('replaces each cold job penalty by the swept value and re-prices its instance', () => {
    const warm = job({ ranOn: 'pool', market: 'on-demand' });
    const cold = job({ completedAt: 10_000 + 160_000, coldPenaltyS: 60 });
    const run = runOf([warm, cold], 1);
    const [zero, twoMinutes] = coldDiskSweep(run, referencePrices, 30, [0, 120]);
    const spotPerSecond = referencePrices.spotPerHour / 3600 + (0.08 * 30) / (730 * 3600);
    expect(zero?.costPerJob).toBeCloseTo((1 - 60 * spotPerSecond) / 2, 12);
    expect(twoMinutes?.costPerJob).toBeCloseTo((1 + 60 * spotPerSecond) / 2, 12);
    // Over the work: pickup 10 s, plus the penalty for the cold job.
    expect(zero?.overWorkP95S).toBeCloseTo(10, 9);
    expect(twoMinutes?.overWorkP95S).toBeCloseTo(10 + 0.95 * 120, 9);
  });
});

describe('spread over seeds', () => {
  it('gives the smallest, the median and the largest, keeping each seed value', () => {
    expect(spread([3, 1, 2])).toEqual({ min: 1, median: 2, max: 3, bySeed: [3, 1, 2] });
    expect(spread([4, 1, 2, 3]).median).toBe(2.5);
  });
});

describe('running pool sized to a p95', () => {
  it('finds the smallest size whose p95 meets the wanted one', async () => {
    // A fake pool whose pickups fall as it grows: 100 s at size 0, 2 s per runner less, 10 s at best.
    const runAt = async (scale: number) => {
      const size = Math.round(50 * scale);
      const pickupMs = Math.max(10, 100 - 2 * size) * 1000;
      return runOf(
        Array.from({ length: 20 }, () => job({ startedAt: pickupMs })),
        size,
      );
    };
    const found = await runningPoolAtP95(60, 50, runAt, { steps: 20 });
    // 20 runners give 60 s; 19 give 62 s.
    expect(found).toMatchObject({ reached: true, daySize: 20, p95S: 60 });
    const unreachable = await runningPoolAtP95(5, 50, runAt);
    expect(unreachable.reached).toBe(false);
  });
});

// Keeps `exponential` honest as the incident gap: its mean is what the planner assumes.
describe('exponential', () => {
  it('has the given mean', () => {
    const random = seededRandom(2, 'exp');
    const draw = exponential(10);
    let sum = 0;
    for (let i = 0; i < 50_000; i++) sum += draw(random);
    expect(sum / 50_000).toBeCloseTo(10, 0);
  });
});

describe("tiered's goals", () => {
  const summary = (over: Record<string, unknown>) =>
    ({
      p50S: 3,
      p95S: 15,
      costPerJob: 0.015,
      hotHitRate: 0.8,
      idleCostPerDay: 5,
      byHotHit: { hit: { jobs: 80, p50S: 3, p95S: 8 }, missed: { jobs: 20, p50S: 19, p95S: 30 } },
      ...over,
    }) as unknown as PolicySummary;

  it('are met at the bounds and say by how much they are missed', () => {
    const met = judgeTieredGoals({
      tiered: summary({}),
      'running-idle-pool': summary({ costPerJob: 0.1 }),
      'cold-spot': summary({ costPerJob: 0.005 }),
    });
    expect(met.map((g) => g.met)).toEqual([true, true, true, true]);
    const missed = judgeTieredGoals({
      tiered: summary({ p50S: 4.5, p95S: 22, costPerJob: 0.02 }),
      'running-idle-pool': summary({ costPerJob: 0.1 }),
      'cold-spot': summary({ costPerJob: 0.005 }),
    });
    expect(missed.map((g) => g.met)).toEqual([false, false, false, false]);
    expect(missed[0]?.detail).toContain('1.5 s over');
    expect(missed[1]?.detail).toContain('7.0 s over');
    expect(missed[2]?.detail).toContain('20 %');
    expect(missed[3]?.detail).toContain('4.00×');
  });
});

describe('InMemoryGitHub.disconnect (a runner whose machine is gone)', () => {
  it('takes an idle runner offline so it gets no job, and leaves a busy one alone', async () => {
    const github = new InMemoryGitHub({ clock: { now: () => 0 } });
    const scope = { kind: 'org', org: 'acme' } as const;
    const repository = { owner: 'acme', name: 'app' };
    await github.createJitConfig(scope, { runnerName: 'idle', labels: ['linux'] });
    await github.createJitConfig(scope, { runnerName: 'busy', labels: ['linux'] });
    expect(github.connect('busy').kind).toBe('idle');
    const first = github.queueJob({ repository, labels: ['linux'] });
    expect(github.connect('idle').kind).toBe('idle');
    github.disconnect('idle');
    github.disconnect('busy');
    const second = github.queueJob({ repository, labels: ['linux'] });
    expect((await github.getJob(repository, first.id))?.runnerName).toBe('busy');
    expect((await github.getJob(repository, second.id))?.status).toBe('queued');
  });
});
