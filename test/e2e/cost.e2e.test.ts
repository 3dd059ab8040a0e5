/**
 * Cost attribution end to end, through the real handlers and every peer: three jobs run on a warm-pool
 * instance, on spot (on-demand capacity gone, so the pool cannot start) and on on-demand (spot gone too),
 * in two repositories of two organizations. The instance time booked when each instance ended must match
 * what the EC2 emulator billed (running time, a minute at least per run) within a stated tolerance; the
 * daily report, `runners cost` (against the table and against the sandbox's /api/cost) and the dashboard's
 * state agree with it.
 *
 * Time runs 20× faster than the wall clock (scaled clock, EC2 durations divided by 20): a 4 s job lasts
 * 80 s of EC2 time, past EC2's one-minute minimum, so the comparison is not the minimum against itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CostCommandReport } from '../../bin/cli/cost-command.js';
import { runCli } from '../../bin/cli/program.js';
import { scaledClock } from '../../bin/sandbox/scaled-clock.js';
import { mountApi, type SandboxApi } from '../../bin/sandbox/server-api.js';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import { readCostReport } from '../../scheduler/core/cost-report.js';
import { usageDay } from '../../scheduler/core/cost-usage.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { captureIo } from '../sandbox/support.js';
import { labels, waitFor } from './support.js';

const speed = 20;
/**
 * Per billed run, how far the booked seconds may be from EC2's: our run starts at the start call (EC2
 * bills from `running`, ~5 s of pending later) and ends when the control plane recycles or retires
 * the instance; the handlers' own processing is stretched 20× by the scaled clock.
 */
const toleranceSecondsPerRun = 20;

const config = {
  pools: [
    {
      name: 'linux-x64',
      labels: ['linux', 'x64'],
      architecture: 'x64',
      instanceTypes: ['m7i.large'],
      subnets: ['subnet-0a000000000000001', 'subnet-0b000000000000002'],
      defaultSize: 1,
      maximum: 3,
    },
  ],
};

describe('end to end: cost per repository', () => {
  let sandbox: Sandbox;
  let api: SandboxApi;
  // From now: the CLI reads the table with the wall clock, and completed jobs expire 7 days after.
  const clock = scaledClock(Date.now(), speed);
  const firstDay = usageDay(clock.now());

  beforeAll(async () => {
    sandbox = await startSandbox({
      poolConfig: config,
      organizations: ['acme', 'globex'],
      timeScale: 1 / speed,
      warmupMs: 20,
      schedules: false,
      logLevel: 'SILENT',
      clock,
    });
    const metrics = sandbox.metrics as InMemoryMetrics;
    api = mountApi({ sandbox, recorded: () => metrics.recorded, clock, info: { speed, demo: false } });
  }, 60_000);

  afterAll(async () => {
    api?.close();
    await sandbox?.close();
  });

  it('books what EC2 billed, by market, and reports it per repository and organization', async () => {
    const { store } = sandbox.plane.deps;
    const { github, ec2 } = sandbox;
    const ready = async () => (await store.listReady('linux-x64', 5)).length;
    await sandbox.runTuner();
    await waitFor(async () => (await ready()) === 1, 'pool warmed');

    const runJob = async (repository: { owner: string; name: string }) => {
      const { jobIds } = await github.queueWorkflowRun({ repository, jobs: [{ labels, durationMs: 4_000 }] });
      const id = jobIds[0] as number;
      // Booked by whichever ends the instance first (the completed webhook, or EC2's stop), and completed.
      await waitFor(
        async () => {
          const job = await store.getJob(id);
          return job?.usage !== undefined && job.state === 'completed';
        },
        `job ${id} booked and completed`,
        40_000,
      );
      return id;
    };

    const onPool = await runJob({ owner: 'acme', name: 'web' });
    await sandbox.lifecycleIdle();
    await waitFor(async () => (await ready()) === 1, 'pool refilled');
    // No on-demand capacity: the pool instance cannot start, the ladder goes to spot.
    ec2.exhaustCapacity({ market: 'on-demand' });
    const onSpot = await runJob({ owner: 'acme', name: 'web' });
    // Spot gone too, and stopped instances still cannot start: a fresh on-demand launch.
    ec2.restoreCapacity();
    ec2.exhaustCapacity({ market: 'spot' });
    ec2.exhaustCapacity({ market: 'on-demand', operation: 'start' });
    const onDemand = await runJob({ owner: 'globex', name: 'api' });
    ec2.restoreCapacity();
    await sandbox.lifecycleIdle();

    const jobs = await Promise.all([onPool, onSpot, onDemand].map((id) => store.getJob(id)));
    expect(jobs.map((j) => j?.usage?.market)).toEqual(['pool', 'spot', 'on-demand']);
    expect(jobs.map((j) => j?.source)).toEqual(['pool', 'spot', 'on-demand']);

    // Each job's run against the run EC2 billed for it (the last run of its instance).
    const billed = new Map(ec2.usage().map((u) => [u.instanceId, u]));
    for (const job of jobs) {
      const usage = billed.get(job?.usage?.instanceId ?? '');
      const lastRun = usage?.runs.at(-1);
      expect(lastRun?.to, `${job?.id} ended`).toBeTypeOf('number');
      expect(
        Math.abs((job?.usage?.seconds ?? 0) - (lastRun?.billedSeconds ?? 0)),
        `job ${job?.id}`,
      ).toBeLessThanOrEqual(toleranceSecondsPerRun);
      expect(job?.usage?.seconds).toBeGreaterThan(60);
    }

    // Everything EC2 billed for instances that have ended is booked: on a job, or as pool overhead.
    // The test spans a few minutes of EC2 time: two days when it runs just before midnight UTC.
    const day = usageDay(clock.now());
    const days = day === firstDay ? ['--day', day] : ['--from', firstDay, '--to', day];
    const ended = ec2
      .usage()
      .filter((u) => ['shutting-down', 'terminated'].includes(ec2.instance(u.instanceId)?.state ?? ''));
    const billedSeconds = ended.reduce((n, u) => n + u.billedSeconds, 0);
    const runs = ended.reduce((n, u) => n + u.runs.length, 0);
    const overhead = [
      ...(await store.getUsage(firstDay)),
      ...(day === firstDay ? [] : await store.getUsage(day)),
    ].filter((o) => o.category !== 'storage');
    const booked =
      jobs.reduce((n, j) => n + (j?.usage?.seconds ?? 0), 0) + overhead.reduce((n, o) => n + o.seconds, 0);
    expect(Math.abs(booked - billedSeconds)).toBeLessThanOrEqual(toleranceSecondsPerRun * runs);

    // The day's report: the jobs' seconds by market, cents that sum to the total.
    const report = await readCostReport(sandbox.plane.deps, await sandbox.plane.configSource.load(), {
      from: day,
      to: day,
    });
    expect(report.totals.instanceSeconds).toEqual({
      pool: jobs[0]?.usage?.seconds,
      spot: jobs[1]?.usage?.seconds,
      'on-demand': jobs[2]?.usage?.seconds,
    });
    expect(report.repositories.map((r) => r.repository).sort()).toEqual(['acme/web', 'globex/api']);
    expect(report.repositories.reduce((n, r) => n + r.costCents, 0)).toBe(report.totals.costCents);
    expect(report.organizations.map((o) => o.organization).sort()).toEqual(['acme', 'globex']);
    expect(report.totals.overhead.map((o) => o.category)).toContain('warmup');

    // `runners cost` against the table (the production adapters on the sandbox's peers) …
    const table = sandbox.plane.settings.TABLE_NAME;
    const viaTable = captureIo({ ...process.env });
    expect(await runCli(['cost', '--json', ...days, '--table', table], viaTable)).toBe(0);
    const fromTable = JSON.parse(viaTable.stdout()) as CostCommandReport;
    expect(fromTable.source).toEqual({ kind: 'aws', table });
    expect(fromTable.repositories.map((r) => [r.repository, r.costCents])).toEqual(
      report.repositories.map((r) => [r.repository, r.costCents]),
    );
    // … and against the sandbox's API, as a table.
    const base = new URL(sandbox.webhookUrl).origin;
    const viaSandbox = captureIo({ ...process.env });
    expect(await runCli(['cost', '--sandbox', base, ...days], viaSandbox)).toBe(0);
    const text = viaSandbox.stdout();
    expect(text).toContain(`(UTC days) — sandbox ${base}`);
    expect(text).toContain(`Total $${(report.totals.costCents / 100).toFixed(2)}: 3 jobs`);
    expect(text).toMatch(/^acme\/web\s+2\s/m);
    expect(text).toMatch(/^globex\/api\s+1\s/m);
    // The dashboard's state carries the same day.
    const state = await api.state();
    if (day === firstDay)
      expect(state.attribution).toMatchObject({ day, totalCents: report.totals.costCents, jobs: 3 });
  }, 120_000);
});
