/**
 * The demo workload: a seeded plan (the same seed plays the same day), and a short run of it at a
 * fast timescale against the real stack, which must show what the demo is for — the warm pool
 * drained by a burst, the ladder falling back, the lost webhook recovered, and the pools refilled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoReport, planDay, runDemoWorkload, shortDay } from '../../bin/sandbox/demo-workload.js';
import { demoDayStart, scaledClock } from '../../bin/sandbox/scaled-clock.js';
import { seededRandom } from '../../bin/sandbox/seeded-random.js';
import { type Sandbox, sandboxJitKey, startSandbox } from '../../bin/sandbox/stack.js';

describe('the demo plan', () => {
  it('is the same day for the same seed, and another day for another seed', () => {
    const day = (seed: number) => JSON.stringify(planDay(seededRandom(seed)));
    expect(day(1)).toBe(day(1));
    expect(day(2)).not.toBe(day(1));
    expect(JSON.stringify(shortDay(seededRandom(3)))).toBe(JSON.stringify(shortDay(seededRandom(3))));
  });

  it('has bursts larger than the pools, a capacity shortage, a lost webhook and cancellations', () => {
    const plan = planDay(seededRandom(1));
    const bursts = plan.filter((e) => e.kind === 'jobs' && e.jobs.length > 1);
    expect(Math.max(...bursts.map((e) => (e.kind === 'jobs' ? e.jobs.length : 0)))).toBe(20);
    expect(plan.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['cancel', 'capacity-out', 'capacity-back', 'lose-webhook']),
    );
    const at = (kind: string) => plan.find((e) => e.kind === kind)?.at ?? Number.NaN;
    expect(at('capacity-out')).toBeLessThan(at('capacity-back'));
    expect(plan.map((e) => e.at)).toEqual([...plan.map((e) => e.at)].sort((a, b) => a - b));
  });
});

describe('the short day at ×8', () => {
  const speed = 8;
  // Half a minute before the working-hours window opens, so that 08:00 falls inside even a short day.
  const clock = scaledClock(demoDayStart + 30_000, speed);
  const lines: string[] = [];
  let sandbox: Sandbox;
  let report: DemoReport;

  beforeAll(async () => {
    sandbox = await startSandbox({
      clock,
      timeScale: 1 / speed,
      // No API latency here: at this speed it would eat the webhook's time budget (6.5 s of the
      // sandbox clock, under a second of real time) and the burst would wait for the reconciler.
      warmupMs: clock.real(2_000),
      configGraceMs: clock.real(30_000),
      tunerEveryMs: clock.real(5_000),
      reconcilerEveryMs: clock.real(10_000),
      logLevel: 'SILENT',
    });
    report = await runDemoWorkload({
      sandbox,
      clock,
      seed: 1,
      day: 'short',
      statusEveryMs: 0,
      timeZone: 'Europe/Paris',
      log: (line) => lines.push(line),
    });
  }, 90_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it('drains the x64 pool with the burst, falls back, and refills the pools', () => {
    expect(report.aborted).toBe(false);
    expect(report.drained).toContain('linux-x64');
    const fallbacks =
      (report.sources.spot ?? 0) + (report.sources['pool-resized'] ?? 0) + (report.sources['on-demand'] ?? 0);
    expect(fallbacks).toBeGreaterThan(0);
    expect(report.sources.pool).toBeGreaterThan(0);
    expect(report.refilled.sort()).toEqual(['linux-arm64', 'linux-x64']);
    expect(report.jobsCompleted).toBe(report.jobsQueued);
    expect(report.cancelled).toBe(1);
  });

  it("writes every JIT config as a SecureString under the installation's own key", () => {
    const writes = sandbox.ssm.calls('PutParameter').filter((c) => String(c.input.Name).includes('/jit/'));
    expect(writes.length).toBeGreaterThan(0);
    for (const write of writes) {
      expect(write.input.Type).toBe('SecureString');
      expect(write.input.KeyId).toBe(sandboxJitKey);
    }
  });

  it('recovers the lost webhook through the reconciler', () => {
    expect(report.lostWebhook?.recovered).toBe(true);
    expect(lines.some((l) => /reconciler: found the failed delivery and redelivered it/.test(l))).toBe(true);
  });

  it('narrates in the schedule’s time zone, including the 08:00 change of target', () => {
    expect(lines[0]).toMatch(/^07:59:\d\d {2}demo: waiting for the warm pools/);
    expect(lines.some((l) => /schedule: linux-x64 target 3 → 6/.test(l))).toBe(true);
    expect(lines.some((l) => /warm pool drained/.test(l))).toBe(true);
    expect(lines.some((l) => /refilled/.test(l))).toBe(true);
    expect(lines.filter((l) => /a step failed|gave up waiting/.test(l))).toEqual([]);
  });
});
