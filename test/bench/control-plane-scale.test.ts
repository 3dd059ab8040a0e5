/**
 * The scale and burst-recovery scenarios at their smallest, through the sandbox stack and the real
 * handlers: the reports' shape, and that every job ran exactly once (no duplicate, none lost). No
 * timing is asserted: the figures are for reading. The day's plan and the results file are checked
 * without a sandbox.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { busiestWindow, dayShape, maxMatrix, planDay } from '../../bench/control-plane/day.js';
import type { ControlPlaneReport } from '../../bench/control-plane/report.js';
import { type LatestResults, writeLatest, writeScenarios } from '../../bench/control-plane/results.js';
import { runRecoveryBench, runScaleBench } from '../../bench/control-plane.js';
import { seededRandom } from '../../bin/sandbox/seeded-random.js';

describe('control-plane benchmark: organization scale', () => {
  it('runs a tiny day through the sandbox with two Apps: every job minted for and run once', async () => {
    const report = await runScaleBench({ preset: 'scale-tiny' });

    expect(report.appsCompared.map((a) => a.apps)).toEqual([2]);
    const [one] = report.appsCompared;
    expect(one?.jobs).toBe(report.window.jobs);
    expect(one?.jobs).toBeGreaterThan(0);
    expect(report.duplicates).toBe(0);
    expect(report.lost).toBe(0);
    expect(one?.jobsWithoutMint).toBe(0);
    // Every job's runner was minted by a handler, and the mints add up per App.
    expect(Object.values(one?.mintedBy ?? {}).reduce((a, b) => a + b, 0)).toBe(one?.jobs);
    // GitHub counted each App's mints, and they add up to at least one per job.
    expect(Object.keys(one?.mintsPerMinute ?? {})).toHaveLength(2);
    const peaks = Object.values(one?.mintsPerMinute ?? {}).map((m) => m.peakSliding);
    expect(Math.max(...peaks)).toBeGreaterThan(0);
    expect(one?.queuedToMintedSeconds.count).toBe(one?.jobs);
    expect(one?.p95QueuedToMintedSeconds).toBe(one?.queuedToMintedSeconds.p95);
    // The webhook's hot path never describes instances.
    expect(one?.ec2DescribeInstancesOnHotPath).toBe(0);
    expect(one?.ec2DescribeCallsPerJob).toBeGreaterThanOrEqual(0);
    expect(report.day.jobs).toBe(120);
    expect(report.compression.scaled.length).toBeGreaterThan(0);
    expect(report.compression.notScaled.length).toBeGreaterThan(0);
  }, 60_000);

  it('recovers a burst with lost webhooks: every lost job served by the reconciler, once', async () => {
    const report = await runRecoveryBench({ preset: 'recovery-tiny' });

    expect(report.jobs).toBe(20);
    expect(report.lostJobs).toBeGreaterThan(0);
    expect(report.redelivered).toBeGreaterThanOrEqual(report.lostJobs);
    // No count of reconciler runs is asserted: GitHub gives a queued job any idle matching runner, so a
    // lost job may run on a runner provided for another before the reconciler's first run.
    expect(report.lastLostJobRunningSeconds).toBeGreaterThan(0);
    expect(report.lostJobWaitSeconds.count).toBe(report.lostJobs);
    expect(report.duplicates).toBe(0);
    expect(report.lost).toBe(0);
    // Whether the pool settles within the scenario's grace depends on the machine's load, not on
    // correctness: not asserted.
  }, 60_000);
});

describe("the scale scenario's day", () => {
  it('adds up to its jobs in runs no wider than a matrix, sorted by arrival', () => {
    const plan = planDay({ jobs: 20_000, random: seededRandom(1) });
    expect(plan.runs.reduce((n, r) => n + r.jobs, 0)).toBe(20_000);
    expect(Math.max(...plan.runs.map((r) => r.jobs))).toBeLessThanOrEqual(maxMatrix);
    expect(new Set(plan.runs.map((r) => r.org))).toEqual(new Set(['acme', 'globex']));
    const times = plan.runs.map((r) => r.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.every((t) => t >= 0 && t < 86_400_000)).toBe(true);
    // The same seed, the same day.
    expect(planDay({ jobs: 20_000, random: seededRandom(1) })).toEqual(plan);
  });

  it('finds the busiest window: no other window of that length holds more jobs', () => {
    const plan = planDay({ jobs: 2_000, random: seededRandom(7) });
    const windowMs = 10 * 60_000;
    const best = busiestWindow(plan, windowMs);
    expect(best.runs.reduce((n, r) => n + r.jobs, 0)).toBe(best.jobs);
    for (const run of plan.runs) {
      const held = plan.runs
        .filter((r) => r.atMs >= run.atMs && r.atMs < run.atMs + windowMs)
        .reduce((n, r) => n + r.jobs, 0);
      expect(held).toBeLessThanOrEqual(best.jobs);
    }
    const shape = dayShape(plan, [180]);
    expect(shape.jobsPerHour.reduce((a, b) => a + b, 0)).toBe(2_000);
  });

  it('refuses an empty day', () => {
    expect(() => planDay({ jobs: 0, random: seededRandom(1) })).toThrow(/positive integer/);
  });
});

describe('latest.json with several scenarios', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the burst's figures when a scenario is written, and the scenarios when the burst is", () => {
    dir = mkdtempSync(join(tmpdir(), 'latest-'));
    const burst = { jobs: 1000, p50Ms: 1 } as unknown as ControlPlaneReport;
    writeLatest(dir, 'burst', burst, { includeSimulation: false });
    const scale = { timeScale: 0.5, appsCompared: [], duplicates: 0, lost: 0 } as never;
    writeScenarios(dir, 'scale', { scale });
    const recovery = { jobs: 500, duplicates: 0, lost: 0 } as never;
    writeScenarios(dir, 'recovery', { burstRecovery: recovery });
    const read = () => JSON.parse(readFileSync(join(dir as string, 'latest.json'), 'utf8')) as LatestResults;
    let latest = read();
    expect(latest.command).toBe('burst');
    expect(latest.controlPlane).toMatchObject({
      jobs: 1000,
      p50Ms: 1,
      scale: { command: 'scale', timeScale: 0.5 },
      burstRecovery: { command: 'recovery', jobs: 500 },
    });
    writeLatest(dir, 'burst again', { jobs: 200, p50Ms: 2 } as unknown as ControlPlaneReport, {
      includeSimulation: false,
    });
    latest = read();
    expect(latest.controlPlane).toMatchObject({
      jobs: 200,
      scale: { command: 'scale' },
      burstRecovery: { jobs: 500 },
    });
  });
});
