/**
 * The scale scenario's figures (bench/control-plane/scale.ts), one column per App count, in
 * real-world-equivalent time: the sandbox clock runs 1 / timeScale times faster than the wall clock,
 * and every time below is read on it.
 *
 * - queued → minted: from the moment a job was queued at GitHub to the answer to the JIT mint made for
 *   it (the runner provided for the job, from its record; else the runner that ran it).
 * - mints per minute per App: successful mints in each minute of the sandbox clock, by the App that
 *   minted; mean over the minutes from the first mint to the last, and the busiest minute.
 * - EC2 Describe* calls per job: every Describe* call any handler made while the window ran, per job;
 *   those made by `queued` webhook invocations (the hot path) apart — the goal is none.
 * - duplicates and lost: as the burst report counts them (bench/control-plane/report.ts).
 */
import { type DayShape, dayShape } from './day.js';
import { duplicateCount, machine } from './report.js';
import type { ScaleResult, VariantResult } from './scale.js';
import { type Distribution, distribution, round } from './stats.js';

export interface AppsFigures {
  readonly apps: number;
  readonly jobs: number;
  /** Real-world-equivalent seconds from queued at GitHub to the JIT config minted for the job. */
  readonly queuedToMintedSeconds: Distribution;
  readonly p95QueuedToMintedSeconds: number;
  /** Jobs for which no successful mint was found (should be 0: every job ran on a minted runner). */
  readonly jobsWithoutMint: number;
  /**
   * Mints GitHub accepted per real-world minute, per App (`app <id>`), as GitHub counted them: the mean
   * over the minutes from the first mint to the last, the busiest clock minute, and the most in any
   * sliding minute (GitHub's limit applies to the sliding one).
   */
  readonly mintsPerMinute: Readonly<
    Record<string, { readonly mean: number; readonly peak: number; readonly peakSliding: number }>
  >;
  /** Mints GitHub refused under its secondary limit, per App. */
  readonly mintsThrottledByGitHub: Readonly<Record<string, number>>;
  /**
   * Mints the control plane saw fail, by the handler that asked and the status: 403/429 a rate limit
   * (after the adapter's own short wait, or at once when every App was throttled), others errors.
   */
  readonly mintsRefused: Readonly<Record<string, number>>;
  /** Jobs whose JIT config was minted by each handler (the webhook's hot path, or the reconciler later). */
  readonly mintedBy: Readonly<Record<string, number>>;
  readonly ec2DescribeCallsPerJob: number;
  readonly ec2DescribeByOperation: Readonly<Record<string, number>>;
  readonly ec2DescribeCallsByHandler: Readonly<Record<string, number>>;
  /**
   * Describe* calls made by `queued` webhook invocations, by operation. The goal is no
   * DescribeInstances; a warm container's cache refreshes (launch template, subnets) may appear.
   */
  readonly ec2DescribeOnHotPath: Readonly<Record<string, number>>;
  readonly ec2DescribeInstancesOnHotPath: number;
  /** The sandbox's own backlog, real-world-equivalent seconds a delivery waited for a handler slot. */
  readonly webhookBacklogSeconds: Distribution;
  readonly reconcilerRuns: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly settled: boolean;
  /** Real-world-equivalent seconds from the window's first job to its last job starting. */
  readonly spanSeconds: number;
  readonly wallSeconds: number;
  readonly peakRssMb: number;
}

export interface ScaleReport {
  readonly timeScale: number;
  readonly compression: {
    readonly scaled: readonly string[];
    readonly notScaled: readonly string[];
  };
  readonly day: DayShape & { readonly jobs: number; readonly organizations: readonly string[] };
  readonly window: {
    readonly fromUtc: string;
    readonly minutes: number;
    readonly jobs: number;
    readonly runs: number;
    readonly largestRun: number;
    readonly organizations: Readonly<Record<string, number>>;
  };
  readonly jitMintsPerMinutePerApp: number;
  readonly appsCompared: readonly AppsFigures[];
  /** Over every App count. */
  readonly duplicates: number;
  readonly lost: number;
  readonly machine: ReturnType<typeof machine> & { readonly loadAverage: number };
}

export function buildScaleReport(result: ScaleResult): ScaleReport {
  const { options, plan, window } = result;
  const appsCompared = result.variants.map((v) => appsFigures(v, options.timeScale));
  const perOrg: Record<string, number> = {};
  for (const run of window.runs) perOrg[run.org] = (perOrg[run.org] ?? 0) + run.jobs;
  const limit = options.jitMintsPerMinutePerApp;
  return {
    timeScale: options.timeScale,
    compression: {
      scaled: [
        `the sandbox clock (handlers, GitHub's and EC2's timestamps) runs ${round(1 / options.timeScale, 2)}× the wall clock`,
        "EC2's durations (boot, stop, terminate) and the guest's boot",
        `GitHub's JIT-mint limit: ${limit} a minute per App, a minute being ${round(60 * options.timeScale, 1)} s of wall time`,
        'job durations, the tuner (every 60 s) and the reconciler (every 30 s)',
      ],
      notScaled: [
        'our processing: handler CPU, the peers (dynalite, the emulators) and local HTTP, all in one process on this machine, stretched by the compressed clock (see webhookBacklogSeconds)',
        "Lambda's concurrency: the sandbox runs at most `concurrency` webhook invocations at once; the rest wait",
        `the day: only its busiest ${options.windowMinutes} minutes run; the day's shape is the plan's arithmetic`,
      ],
    },
    day: {
      jobs: plan.jobs,
      organizations: plan.organizations.map((o) => o.login),
      ...dayShape(plan, [limit, 2 * limit]),
    },
    window: {
      fromUtc: new Date(window.fromMs).toISOString().slice(11, 16),
      minutes: options.windowMinutes,
      jobs: window.jobs,
      runs: window.runs.length,
      largestRun: Math.max(0, ...window.runs.map((r) => r.jobs)),
      organizations: perOrg,
    },
    jitMintsPerMinutePerApp: limit,
    appsCompared,
    duplicates: appsCompared.reduce((n, a) => n + a.duplicates, 0),
    lost: appsCompared.reduce((n, a) => n + a.lost, 0),
    machine: { ...machine(), loadAverage: round(result.loadAverage, 2) },
  };
}

function appsFigures(v: VariantResult, timeScale: number): AppsFigures {
  const ok = v.mints.filter((m) => m.outcome === 'ok');
  const mintOf = new Map<string, (typeof ok)[number]>();
  // Runner names end in the instance id (`<prefix>-<installation>-i-…`); the first mint for one counts.
  for (const m of ok) {
    const instance = /(i-[0-9a-f]+)$/.exec(m.runnerName)?.[1];
    if (instance !== undefined && !mintOf.has(instance)) mintOf.set(instance, m);
    if (!mintOf.has(m.runnerName)) mintOf.set(m.runnerName, m);
  }
  const delays: number[] = [];
  const mintedBy: Record<string, number> = {};
  let withoutMint = 0;
  for (const job of v.jobs) {
    const provided = job.record?.provisionedInstance;
    const mint =
      (provided !== undefined ? mintOf.get(provided) : undefined) ??
      (job.runnerName ? mintOf.get(job.runnerName) : undefined);
    if (mint === undefined) {
      withoutMint++;
      continue;
    }
    delays.push(Math.max(0, mint.at - job.queuedAt) / 1000);
    mintedBy[mint.handler] = (mintedBy[mint.handler] ?? 0) + 1;
  }
  const queuedToMinted = distribution(delays, 1);

  const mintsPerMinute = Object.fromEntries(
    v.appMints.map((app) => {
      const active = app.mintsPerMinute.map((n, i) => [i, n] as const).filter(([, n]) => n > 0);
      const first = active[0]?.[0] ?? 0;
      const last = active.at(-1)?.[0] ?? -1;
      const total = active.reduce((sum, [, n]) => sum + n, 0);
      return [
        `app ${app.appId}`,
        {
          mean: last < first ? 0 : round(total / (last - first + 1), 1),
          peak: Math.max(0, ...app.mintsPerMinute),
          peakSliding: app.peakMintsInAMinute,
        },
      ];
    }),
  );
  const mintsThrottledByGitHub = Object.fromEntries(
    v.appMints.map((a) => [`app ${a.appId}`, a.mintsThrottled]),
  );
  const mintsRefused: Record<string, number> = {};
  for (const m of v.mints)
    if (m.outcome !== 'ok')
      mintsRefused[`${m.handler} ${m.outcome}`] = (mintsRefused[`${m.handler} ${m.outcome}`] ?? 0) + 1;

  const jobs = v.jobs.length;
  const describes = v.invocations.flatMap((i) =>
    i.calls
      .filter((c) => c.peer === 'ec2' && c.operation.startsWith('Describe'))
      .map((c) => ({
        handler: i.handler === 'webhook' ? `webhook ${i.detail ?? ''}`.trim() : i.handler,
        op: c.operation,
      })),
  );
  const byOperation: Record<string, number> = {};
  const byHandler: Record<string, number> = {};
  const onHotPath: Record<string, number> = {};
  for (const d of describes) {
    byOperation[d.op] = (byOperation[d.op] ?? 0) + 1;
    byHandler[d.handler] = (byHandler[d.handler] ?? 0) + 1;
    if (d.handler === 'webhook queued') onHotPath[d.op] = (onHotPath[d.op] ?? 0) + 1;
  }
  const webhooks = v.invocations.filter((i) => i.handler === 'webhook');
  const lost = v.jobs.filter((j) => j.status !== 'completed' || j.conclusion !== 'success').length;
  return {
    apps: v.apps,
    jobs,
    queuedToMintedSeconds: queuedToMinted,
    p95QueuedToMintedSeconds: queuedToMinted.p95,
    jobsWithoutMint: withoutMint,
    mintsPerMinute,
    mintsThrottledByGitHub,
    mintsRefused,
    mintedBy,
    ec2DescribeCallsPerJob: jobs === 0 ? 0 : round(describes.length / jobs, 3),
    ec2DescribeByOperation: byOperation,
    ec2DescribeCallsByHandler: byHandler,
    ec2DescribeOnHotPath: onHotPath,
    ec2DescribeInstancesOnHotPath: onHotPath.DescribeInstances ?? 0,
    webhookBacklogSeconds: distribution(
      webhooks.map((i) => (i.queuedMs ?? 0) / timeScale / 1000),
      1,
    ),
    reconcilerRuns: v.reconcilerRuns,
    duplicates: duplicateCount(v.jobs, v.jobsPerInstance),
    lost,
    settled: v.settled,
    spanSeconds: round(v.spanMs / 1000, 1),
    wallSeconds: round(v.wallMs / 1000, 1),
    peakRssMb: Math.round(v.peakRssBytes / 2 ** 20),
  };
}

export function formatScaleReport(r: ScaleReport): string {
  const d = (x: Distribution) => `${x.p50} / ${x.p95} / ${x.p99} s`;
  const columns = r.appsCompared;
  const row = (name: string, cell: (a: AppsFigures) => string) =>
    `  ${name.padEnd(34)}${columns.map((a) => cell(a).padEnd(30)).join('')}`;
  const hours = r.day.jobsPerHour.map((n, h) => `${String(h).padStart(2, '0')}h ${n}`).join(', ');
  return [
    `Scale: a day of ${r.day.jobs} jobs over ${r.day.organizations.join(' and ')} in ${r.day.runs} runs (largest ${r.day.largestRun}, ${r.day.runsOver100} over 100)`,
    `  jobs per UTC hour (the plan): ${hours}`,
    `  the plan's busiest minute queues ${r.day.peakJobsPerMinute} jobs; minutes over ${r.jitMintsPerMinutePerApp} (one App's mint limit): ${r.day.minutesOver[String(r.jitMintsPerMinutePerApp)] ?? 0}, over ${2 * r.jitMintsPerMinutePerApp} (two Apps'): ${r.day.minutesOver[String(2 * r.jitMintsPerMinutePerApp)] ?? 0}`,
    `  measured: the busiest ${r.window.minutes} minutes (from ${r.window.fromUtc} UTC): ${r.window.jobs} jobs in ${r.window.runs} runs (largest ${r.window.largestRun}; ${Object.entries(
      r.window.organizations,
    )
      .map(([o, n]) => `${o} ${n}`)
      .join(', ')})`,
    `  time ×${r.timeScale} (a minute lasts ${round(60 * r.timeScale, 1)} s); figures in real-world-equivalent seconds`,
    `  machine: ${r.machine.cpus} CPUs, ${r.machine.model}, node ${r.machine.node}, load ${r.machine.loadAverage}`,
    '',
    row('', (a) => `${a.apps} App${a.apps === 1 ? '' : 's'}`),
    row('queued → minted p50 / p95 / p99', (a) => d(a.queuedToMintedSeconds)),
    row('mints a minute per App: mean/peak', (a) =>
      Object.entries(a.mintsPerMinute)
        .map(([app, m]) => `${app}: ${m.mean}/${m.peakSliding}`)
        .join(', '),
    ),
    row('mints GitHub throttled, per App', (a) =>
      Object.entries(a.mintsThrottledByGitHub)
        .map(([app, n]) => `${app}: ${n}`)
        .join(', '),
    ),
    row(
      'mint failures the handlers saw',
      (a) =>
        Object.entries(a.mintsRefused)
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ') || '0',
    ),
    row('jobs minted by', (a) =>
      Object.entries(a.mintedBy)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
    ),
    row('EC2 Describe* per job', (a) => `${a.ec2DescribeCallsPerJob}`),
    row(
      '  on the hot path (queued webhook)',
      (a) =>
        Object.entries(a.ec2DescribeOnHotPath)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'none',
    ),
    row(
      '  by handler',
      (a) =>
        Object.entries(a.ec2DescribeCallsByHandler)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'none',
    ),
    row('webhook backlog p50 / p95 / p99', (a) => d(a.webhookBacklogSeconds)),
    row('reconciler runs', (a) => String(a.reconcilerRuns)),
    row('duplicates / lost / no mint', (a) => `${a.duplicates} / ${a.lost} / ${a.jobsWithoutMint}`),
    row(
      'wall time, peak RSS',
      (a) => `${a.wallSeconds} s, ${a.peakRssMb} MB${a.settled ? '' : ' (unsettled)'}`,
    ),
    '',
    `Scaled: ${r.compression.scaled.join('; ')}.`,
    `Not scaled: ${r.compression.notScaled.join('; ')}.`,
    `Duplicates ${r.duplicates}, lost ${r.lost}`,
  ].join('\n');
}
