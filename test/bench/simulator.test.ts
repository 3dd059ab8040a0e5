/**
 * The simulator: its clock runs coroutines in time order; every job of a trace runs exactly once under
 * every policy (through the real core, or the running-pool model), capacity outages included; a single
 * job's pickup and bill add up by hand when every timing is a constant; the bill's one-minute minimum
 * and its idle/job split.
 */
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../bench/simulator/billing.js';
import { defaultOutageRates, type OutageRates } from '../../bench/simulator/capacity.js';
import { runCorePolicy } from '../../bench/simulator/core-world.js';
import { EventLoop } from '../../bench/simulator/event-loop.js';
import {
  coldSpotConfig,
  defaultSizing,
  oursConfig,
  runningPoolConfig,
  stoppedStaticConfig,
} from '../../bench/simulator/policies.js';
import { referencePrices } from '../../bench/simulator/prices.js';
import { constant } from '../../bench/simulator/random.js';
import { referenceTimings, type Timings } from '../../bench/simulator/reference-timings.js';
import { runRunningPool } from '../../bench/simulator/running-pool.js';
import { noIncidents } from '../../bench/simulator/webhook-delivery.js';
import { generateTrace } from '../../bench/traces/generate.js';
import type { Trace } from '../../bench/traces/trace.js';

const noOutages: OutageRates = { ...defaultOutageRates, onDemandPerDay: 0, spotPerDay: 0 };
const hour = 3_600_000;

describe('EventLoop', () => {
  it('runs coroutines in simulated time order, same-instant events in scheduling order', async () => {
    const loop = new EventLoop(0);
    const seen: string[] = [];
    const worker = (name: string, pauses: number[]) => async () => {
      for (const p of pauses) {
        await loop.sleep(p);
        seen.push(`${name}@${loop.now()}`);
      }
    };
    loop.spawn('a', worker('a', [2, 2]));
    loop.spawn('b', worker('b', [1, 3]));
    loop.after(4, () => seen.push(`tick@${loop.now()}`));
    await loop.run(Number.POSITIVE_INFINITY);
    // At 4 s, in the order the three wake-ups were scheduled: the tick at 0 s, b's at 1 s, a's at 2 s.
    expect(seen).toEqual(['b@1000', 'a@2000', 'tick@4000', 'b@4000', 'a@4000']);
  });

  it('ends the run with the failure of a coroutine', async () => {
    const loop = new EventLoop(0);
    loop.spawn('broken', async () => {
      await loop.sleep(1);
      throw new Error('boom');
    });
    await expect(loop.run(Number.POSITIVE_INFINITY)).rejects.toThrow('broken failed: boom');
  });
});

describe('Ledger', () => {
  const prices = referencePrices;
  const od = prices.onDemandPerHour / 3600;

  it('bills each start at least a minute and books volumes by the second', () => {
    const ledger = new Ledger(prices);
    ledger.open('i-1', 0, { market: 'on-demand', volumeGb: 30, category: 'job' });
    ledger.running('i-1', 0);
    ledger.stopped('i-1', 20_000); // 20 s: billed 60
    ledger.running('i-1', 100_000);
    ledger.served('i-1');
    ledger.close('i-1', 190_000); // 90 s
    const bill = ledger.totals(200_000);
    expect(bill.compute).toBeCloseTo(od * (60 + 90), 12);
    expect(bill.volume).toBeCloseTo((0.08 * 30 * 190) / (730 * 3600), 12);
    expect(bill.idle).toBe(0);
    expect(bill.total).toBeCloseTo(bill.compute + bill.volume, 12);
  });

  it('splits a pool instance into idle waiting and the job it served, and re-books an unused start as idle', () => {
    const ledger = new Ledger(prices);
    ledger.open('pool', 0, { market: 'on-demand', volumeGb: 10, category: 'idle' });
    ledger.running('pool', 0);
    ledger.stopped('pool', 240_000); // warm-up
    ledger.setCategory('pool', 3_600_000, 'job'); // started for a job
    ledger.running('pool', 3_605_000);
    ledger.served('pool');
    ledger.close('pool', 3_905_000);
    ledger.open('unused', 0, { market: 'spot', volumeGb: 10, category: 'job' });
    ledger.running('unused', 0);
    ledger.close('unused', 120_000);
    const bill = ledger.totals(4_000_000);
    const gbSecond = 0.08 / (730 * 3600);
    const spot = prices.spotPerHour / 3600;
    expect(bill.job).toBeCloseTo(od * 300 + 10 * gbSecond * 305, 12);
    expect(bill.idle).toBeCloseTo(od * 240 + 10 * gbSecond * 3600 + spot * 120 + 10 * gbSecond * 120, 12);
  });
});

function smallTrace(): Trace {
  // A Monday morning: ~120 jobs including matrices, in a smaller organization.
  const day = generateTrace({ seed: 11, days: 1, jobsPerWeekday: 500, timeZone: 'UTC' });
  const from = day.start + 8 * hour;
  const to = day.start + 11 * hour;
  return {
    ...day,
    jobs: day.jobs.filter((j) => j.createdAt >= from && j.createdAt < to),
    start: from,
    end: to,
  };
}

describe('every job runs exactly once under every policy', () => {
  const trace = smallTrace();
  const sizing = defaultSizing(trace);
  const base = {
    trace,
    seed: 5,
    timings: referenceTimings,
    prices: referencePrices,
    start: trace.start - hour,
  };
  // Frequent outages, so that the ladder's other steps run too.
  const outages: OutageRates = {
    onDemandPerDay: 12,
    onDemandMinutes: [10, 30],
    spotPerDay: 12,
    spotMinutes: [10, 30],
  };

  it('has a trace with bursts to serve', () => {
    expect(trace.jobs.length).toBeGreaterThan(60);
    const runs = new Map<number, number>();
    for (const j of trace.jobs) runs.set(j.runId ?? 0, (runs.get(j.runId ?? 0) ?? 0) + 1);
    expect(Math.max(...runs.values())).toBeGreaterThanOrEqual(20);
  });

  it.each([
    ['cold-spot', coldSpotConfig(trace, sizing)],
    ['stopped-static', stoppedStaticConfig(trace, sizing)],
    ['ours', oursConfig(trace, sizing)],
  ] as const)('%s (through the core)', async (policy, config) => {
    const run = await runCorePolicy({ ...base, policy, config, outages });
    expect(run.jobs).toHaveLength(trace.jobs.length);
    expect(run.expectedJobs).toBe(trace.jobs.length);
    expect(run.startedTwice).toBe(0);
    expect(run.jobs.every((j) => j.startedAt > j.createdAt)).toBe(true);
    expect(run.bill.total).toBeGreaterThan(0);
    const fromPool = run.jobs.filter((j) => j.ranOn === 'pool').length;
    if (policy === 'cold-spot') expect(fromPool).toBe(0);
    else expect(fromPool).toBeGreaterThan(trace.jobs.length / 3);
  });

  it('running-idle-pool (modelled)', async () => {
    const run = await runRunningPool({
      ...base,
      policy: 'running',
      config: runningPoolConfig(trace, sizing, 0.5),
    });
    expect(run.jobs).toHaveLength(trace.jobs.length);
    expect(run.jobs.every((j) => j.startedAt > j.createdAt)).toBe(true);
    expect(run.jobs.some((j) => j.ranOn === 'pool') && run.jobs.some((j) => j.ranOn === 'spot')).toBe(true);
  });
});

/** Every timing a constant, so that one job's timeline can be followed by hand. */
const fixed: Timings = {
  webhookDelivery: constant(2),
  runnerConnect: constant(3),
  jitMint: constant(0.7),
  runInstances: constant(2),
  createFleet: constant(3),
  startInstances: constant(2),
  pendingToRunning: constant(5),
  osBoot: constant(5),
  coldBootExtra: constant(0),
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
  webhookIncidents: noIncidents,
  coldDiskPenalty: constant(0),
  jitMintsPerMinute: 180,
  spotInterruptionPerHour: 0,
};

describe('one job, by hand', () => {
  const T = Date.UTC(2026, 0, 5, 12); // Monday noon UTC
  const trace: Trace = {
    jobs: [{ createdAt: T, labels: ['self-hosted', 'linux', 'x64'], durationS: 600 }],
    start: T,
    end: T + 1,
    timeZone: 'UTC',
    source: 'one job',
  };
  const od = referencePrices.onDemandPerHour / 3600;
  const spot = referencePrices.spotPerHour / 3600;
  const gbSecond = (0.08 * 30) / (730 * 3600);
  const sizing = { ...defaultSizing(trace), daySize: 1, nightSize: 1 };
  const base = {
    trace,
    seed: 1,
    timings: fixed,
    prices: referencePrices,
    outages: noOutages,
    start: T - hour,
  };

  it('cold spot: picked up in 17 s, billed from running to terminated', async () => {
    // T+2 webhook; CreateFleet 3 s → launched T+5; running T+10; booted T+15; runner connects → T+18.
    // Done T+618; `completed` webhook T+620 recycles it: TerminateInstances 0.5 s → terminated T+620.5.
    const run = await runCorePolicy({ ...base, policy: 'cold', config: coldSpotConfig(trace, sizing) });
    expect(run.jobs).toEqual([
      {
        createdAt: T,
        startedAt: T + 18_000,
        receivedAt: T + 2_000,
        ranOn: 'spot',
        poolHit: false,
        hotHit: false,
        completedAt: T + 618_000,
        workS: 600,
        coldPenaltyS: 0,
        market: 'spot',
      },
    ]);
    expect(run.bill.compute).toBeCloseTo(spot * 610.5, 10);
    expect(run.bill.volume).toBeCloseTo(gbSecond * 615.5, 10);
    expect(run.bill.idle).toBe(0);
  });

  it('stopped pool: picked up in 17 s; the warm-ups and the waiting are idle cost', async () => {
    // Pool instance launched by the first tuner run (T-1h, RunInstances 2 s), running 5 s later, booted,
    // warmed 240 s and stopped at T-1h+257 (running 250 s). The job: webhook T+2, StartInstances 2 s
    // → T+4, running T+9, booted T+14, runner connects → T+17; done T+617; terminated T+619.5.
    // The tuner at T+60 sees the pool empty and launches a replacement (open T+62, warm-up 250 s).
    const run = await runCorePolicy({
      ...base,
      policy: 'static',
      config: stoppedStaticConfig(trace, sizing),
    });
    expect(run.jobs).toEqual([
      {
        createdAt: T,
        startedAt: T + 17_000,
        receivedAt: T + 2_000,
        ranOn: 'pool',
        poolHit: true,
        hotHit: false,
        completedAt: T + 617_000,
        workS: 600,
        coldPenaltyS: 0,
        market: 'on-demand',
      },
    ]);
    expect(run.bill.job).toBeCloseTo(od * 610.5 + gbSecond * 615.5, 10);
    const volumeIdle = (T + 4_000 - (T - hour + 2_000)) / 1000 + (run.end - (T + 62_000)) / 1000;
    expect(run.bill.idle).toBeCloseTo(od * 250 * 2 + gbSecond * volumeIdle, 10);
  });
});
