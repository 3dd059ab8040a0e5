/**
 * The sandbox's read API, the local twin of what CloudWatch and the DynamoDB console show in AWS:
 *
 *   GET /api/state    pools against their target, live instances, recent jobs with their latency
 *                     phases, the handlers' metrics summarised, and the estimated cost so far
 *   GET /api/history  one sample per second since the sandbox started (pool sizes, job counts,
 *                     fallbacks, cost), so a dashboard opened late still draws the whole story
 *   GET /api/cost     cost per repository and organization for `?from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC
 *                     days of the sandbox clock; today by default), as `runners cost` and the daily
 *                     CostReport compute it from the booked usage
 *   GET /api/github/runner-groups  who the deployment serves (owners, their runner scope, the default
 *                     runner group) and the runner group names of each organization-scoped owner, read
 *                     through the handlers' GitHub adapter, for `runners pools validate --check-github`
 *
 * Everything is read through the PoolStore port and the handlers' ConfigSource, the same adapters the
 * deployed control plane uses; the metrics are those the handlers emitted. Secrets never appear: the
 * webhook secret is printed by `npm start` and nowhere else.
 *
 * One read at a time: concurrent requests (several tabs, the sampler) share the read in flight.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { topRepositories } from '../../scheduler/core/cost-attribution.js';
import { type CostReport, daysBetween, readCostReport } from '../../scheduler/core/cost-report.js';
import { usageDay } from '../../scheduler/core/cost-usage.js';
import type { JobState } from '../../scheduler/core/lifecycle.js';
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type { RecordedMetric } from '../../stand-ins/in-memory/in-memory-metrics.js';
import {
  type ControlPlaneSnapshot,
  type JobSummary,
  type LatencyPhase,
  type Percentiles,
  percentiles,
  phasePercentiles,
  readSnapshot,
} from '../cli/state-snapshot.js';
import { type CostEstimate, CostMeter } from './cost-meter.js';
import { ebsUsdPerSecond, hourlyPrice, secondsPerMonth } from './prices.js';
import type { Sandbox } from './stack.js';

/** Jobs listed in full in a state; counts and latency figures cover every job. */
export const listedJobs = 200;

/** Bucket upper bounds (seconds) of the time-to-start histogram; the last bucket is open. */
export const startHistogramBounds = [5, 10, 15, 20, 30, 45, 60, 90, 120] as const;

export const runnerSources = ['pool', 'pool-resized', 'spot', 'on-demand'] as const;
/** The tier of the runner that took a job: hot (idle, registered), warm (stopped pool), cold (fresh launch). */
export const pickupTiers = ['hot', 'warm', 'cold'] as const;

/** GET /api/github/runner-groups: what `runners pools … --check-github` checks the pools against. */
export interface SandboxRunnerGroups {
  /** The deployment's default group (RUNNER_GROUP), when set. */
  readonly runnerGroup?: string;
  /** Every owner served; `groups` only for organization-scoped ones (repositories have no groups). */
  readonly owners: readonly {
    readonly owner: string;
    readonly scope: 'org' | 'repo';
    readonly groups?: readonly string[];
  }[];
  /** A single App in repository scope serves any account it is installed on. */
  readonly anyOwner?: { readonly scope: 'org' | 'repo' };
}

export interface SandboxInfo {
  readonly speed: number;
  readonly demo: boolean;
  readonly seed?: number;
  /** The zone the clock is shown in (the demo's schedule zone); the viewer's own when absent. */
  readonly timeZone?: string;
  readonly startedAt: number;
  readonly region: string;
  readonly tableName: string;
  readonly poolConfigParameter: string;
  readonly endpoints: Readonly<Record<string, string>>;
}

export interface MetricsSummary {
  readonly claims: number;
  readonly lostRaces: number;
  /** Ladder steps that failed (the `Fallbacks` metric: a capacity refusal, a lost race, an error). */
  readonly fallbacks: Tally;
  readonly capacityErrors: Tally;
  readonly webhooksRejected: Tally;
  readonly webhooksRedelivered: number;
  readonly jobsReprovisioned: number;
  readonly orphansReaped: number;
  readonly webhookDuration: Percentiles;
  readonly phaseLatency: Record<string, Percentiles>;
  /** Every counter by name, for anything the fields above leave out. */
  readonly counters: Record<string, number>;
}

export interface Tally {
  readonly total: number;
  readonly by: Record<string, number>;
}

export interface SandboxState extends ControlPlaneSnapshot {
  readonly sandbox: SandboxInfo;
  readonly jobTotal: number;
  readonly runnerSources: Record<string, number>;
  /** Jobs whose runner came from a fallback (resized, spot or on-demand) rather than the warm pool. */
  readonly fallbackJobs: number;
  readonly latency: {
    readonly phases: Record<LatencyPhase, Percentiles>;
    /** Time to start (queued → in progress) by runner source. */
    readonly timeToStartBySource: Record<string, Percentiles>;
    /** Queued → running by the tier of the runner that took the job (hot, warm, cold). */
    readonly timeToStartByTier: Record<string, Percentiles>;
    readonly histogram: {
      readonly boundsSeconds: readonly number[];
      readonly counts: Record<string, number[]>;
    };
  };
  readonly metrics: MetricsSummary;
  readonly cost: CostEstimate & { readonly pools: PoolCost[] };
  /** Today's (sandbox clock, UTC) booked cost per repository (top 10 + other) and organization. */
  readonly attribution: CostAttributionSummary;
  readonly config: { readonly rejection?: { readonly at: number; readonly problems: readonly string[] } };
}

export interface CostAttributionSummary {
  readonly day: string;
  readonly totalCents: number;
  readonly jobs: number;
  readonly jobsWithoutUsage: number;
  readonly repositories: readonly {
    readonly repository: string;
    readonly costCents: number;
    readonly jobs: number;
  }[];
  readonly organizations: readonly {
    readonly organization: string;
    readonly costCents: number;
    readonly jobs: number;
  }[];
  readonly overhead: CostReport['totals']['overhead'];
}

export interface PoolCost {
  readonly name: string;
  /** The pool at its current target, waiting stopped for a month: its volumes only. */
  readonly idleMonthlyUsd: number;
  /** The same instances waiting running instead. */
  readonly runningMonthlyUsd: number;
}

export interface HistorySample {
  readonly t: number;
  readonly pools: Record<
    string,
    { target: number; ready: number; warming: number; busy: number; fallback: number }
  >;
  readonly jobs: { readonly waiting: number; readonly running: number; readonly completed: number };
  readonly fallbackJobs: number;
  readonly capacityErrors: number;
  readonly costUsd: number;
}

export interface SandboxApiOptions {
  readonly sandbox: Sandbox;
  /** The handlers' metrics sink (the sandbox passes an InMemoryMetrics to startSandbox). */
  readonly recorded: () => readonly RecordedMetric[];
  readonly clock: Clock;
  readonly info: Omit<
    SandboxInfo,
    'region' | 'tableName' | 'poolConfigParameter' | 'endpoints' | 'startedAt'
  >;
  /** Wall-clock milliseconds between samples of the history and the cost meter. */
  readonly sampleEveryMs?: number;
  /** Samples kept (the oldest are dropped). */
  readonly historyLength?: number;
}

export interface SandboxApi {
  state(): Promise<SandboxState>;
  history(): readonly HistorySample[];
  close(): void;
}

export function mountApi(options: SandboxApiOptions): SandboxApi {
  const { sandbox, clock } = options;
  const settings = sandbox.plane.settings;
  const info: SandboxInfo = {
    ...options.info,
    startedAt: clock.now(),
    region: settings.AWS_REGION,
    tableName: settings.TABLE_NAME,
    poolConfigParameter: settings.POOL_CONFIG_PARAMETER,
    endpoints: {
      webhook: sandbox.webhookUrl,
      dynamodb: sandbox.dynamo.endpoint,
      ec2: sandbox.ec2.url,
      ssm: sandbox.ssm.endpoint,
      secretsManager: sandbox.secrets.endpoint,
      eventBridge: sandbox.events.endpoint,
      github: sandbox.github.url,
    },
  };
  const meter = new CostMeter();
  const metrics = new MetricsAggregate(options.recorded);
  const history: HistorySample[] = [];
  const historyLength = options.historyLength ?? 900;
  let inFlight: Promise<SandboxState> | undefined;

  const read = async (): Promise<SandboxState> => {
    const config = await sandbox.plane.configSource.load();
    const now = clock.now();
    const snapshot = await readSnapshot(sandbox.plane.deps.store, config, now);
    meter.sample(snapshot.instances, volumeOf(config), now);
    const day = usageDay(now);
    const report = await readCostReport(sandbox.plane.deps, config, { from: day, to: day });
    const state = {
      ...buildState(snapshot, info, metrics.summary(), meter.estimate(), config),
      attribution: summariseAttribution(report),
    };
    const rejection = sandbox.plane.configSource.lastRejection();
    return rejection === undefined ? state : { ...state, config: { rejection } };
  };
  const state = () => {
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling) return;
    sampling = true;
    state()
      .then((s) => {
        history.push(sample(s));
        if (history.length > historyLength) history.splice(0, history.length - historyLength);
      })
      // A read failing while the sandbox shuts down, or once, is not worth a sample.
      .catch(() => undefined)
      .finally(() => {
        sampling = false;
      });
  }, options.sampleEveryMs ?? 1_000);
  sampler.unref();

  sandbox.route('GET', '/api/state', async (_req: IncomingMessage, res: ServerResponse) => {
    sendJson(res, await state());
  });
  sandbox.route('GET', '/api/history', (_req: IncomingMessage, res: ServerResponse) => {
    sendJson(res, { samples: history });
  });
  sandbox.route('GET', '/api/cost', async (req: IncomingMessage, res: ServerResponse) => {
    const query = new URL(req.url ?? '/', 'http://sandbox').searchParams;
    const from = query.get('from') ?? usageDay(clock.now());
    const to = query.get('to') ?? from;
    try {
      daysBetween(from, to);
    } catch (error) {
      sendJson(res, { error: (error as Error).message }, 400);
      return;
    }
    const config = await sandbox.plane.configSource.load();
    sendJson(res, await readCostReport(sandbox.plane.deps, config, { from, to }));
  });

  sandbox.route('GET', '/api/github/runner-groups', async (_req: IncomingMessage, res: ServerResponse) => {
    const { runners, github } = sandbox.plane.deps;
    try {
      const owners = await Promise.all(
        runners.owners.map(async ({ owner, scope }) =>
          scope === 'org' ? { owner, scope, groups: await github.listRunnerGroups(owner) } : { owner, scope },
        ),
      );
      const body: SandboxRunnerGroups = {
        owners,
        ...(runners.runnerGroup !== undefined && { runnerGroup: runners.runnerGroup }),
        ...(runners.anyOwner !== undefined && { anyOwner: { scope: runners.anyOwner.scope } }),
      };
      sendJson(res, body);
    } catch (error) {
      // The adapter's GitHubError messages hold no secret (scrubbed at the edge).
      sendJson(res, { error: (error as Error).message }, 502);
    }
  });

  return {
    state,
    history: () => history,
    close: () => clearInterval(sampler),
  };
}

function summariseAttribution(report: CostReport): CostAttributionSummary {
  return {
    day: report.from,
    totalCents: report.totals.costCents,
    jobs: report.totals.jobs,
    jobsWithoutUsage: report.jobsWithoutUsage,
    repositories: topRepositories(report.repositories, 10),
    organizations: report.organizations.map((o) => ({
      organization: o.organization,
      costCents: o.costCents,
      jobs: o.jobs,
    })),
    overhead: report.totals.overhead,
  };
}

function sendJson(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function volumeOf(config: PoolsConfig): (pool: string) => number {
  const sizes = new Map(config.pools.map((p) => [p.name, p.volumeSizeGb]));
  return (pool) => sizes.get(pool) ?? 30;
}

function buildState(
  snapshot: ControlPlaneSnapshot,
  info: SandboxInfo,
  metrics: MetricsSummary,
  cost: CostEstimate,
  config: PoolsConfig,
): Omit<SandboxState, 'attribution'> {
  const jobs = snapshot.jobs;
  const sources: Record<string, number> = Object.fromEntries(runnerSources.map((s) => [s, 0]));
  for (const job of jobs) if (job.source !== undefined) sources[job.source] = (sources[job.source] ?? 0) + 1;
  const started = (source: string) =>
    jobs.filter((j) => j.source === source && j.latency.queuedToRunning !== undefined);
  return {
    ...snapshot,
    jobs: jobs.slice(0, listedJobs),
    jobTotal: jobs.length,
    sandbox: info,
    runnerSources: sources,
    fallbackJobs: jobs.filter((j) => j.source !== undefined && j.source !== 'pool').length,
    latency: {
      phases: phasePercentiles(jobs),
      timeToStartBySource: Object.fromEntries(
        runnerSources.map((s) => [
          s,
          percentiles(started(s).map((j) => j.latency.queuedToRunning as number)),
        ]),
      ),
      timeToStartByTier: Object.fromEntries(
        pickupTiers.map((tier) => [
          tier,
          percentiles(
            jobs
              .filter((j) => j.pickupTier === tier && j.latency.queuedToRunning !== undefined)
              .map((j) => j.latency.queuedToRunning as number),
          ),
        ]),
      ),
      histogram: {
        boundsSeconds: startHistogramBounds,
        counts: Object.fromEntries(runnerSources.map((s) => [s, histogram(started(s))])),
      },
    },
    metrics,
    cost: {
      ...cost,
      pools: snapshot.pools.map((pool) => {
        const spec = config.pools.find((p) => p.name === pool.name);
        const type = spec?.instanceTypes[0] ?? '';
        return {
          name: pool.name,
          idleMonthlyUsd: pool.target * ebsUsdPerSecond(spec?.volumeSizeGb ?? 30) * secondsPerMonth,
          runningMonthlyUsd: (pool.target * hourlyPrice(type, 'on-demand').usd * secondsPerMonth) / 3600,
        };
      }),
    },
    config: {},
  };
}

function histogram(jobs: readonly JobSummary[]): number[] {
  const counts = new Array<number>(startHistogramBounds.length + 1).fill(0);
  for (const job of jobs) {
    const seconds = (job.latency.queuedToRunning ?? 0) / 1000;
    const bucket = startHistogramBounds.findIndex((bound) => seconds < bound);
    const index = bucket === -1 ? startHistogramBounds.length : bucket;
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts;
}

function sample(s: SandboxState): HistorySample {
  const count = (...states: JobState[]) => states.reduce((sum, st) => sum + s.jobCounts[st], 0);
  return {
    t: s.now,
    pools: Object.fromEntries(
      s.pools.map((p) => [
        p.name,
        { target: p.target, ready: p.ready, warming: p.warming, busy: p.busy, fallback: p.fallback },
      ]),
    ),
    jobs: {
      waiting: count('waiting', 'queued', 'provisioned'),
      running: count('running'),
      completed: count('completed'),
    },
    fallbackJobs: s.fallbackJobs,
    capacityErrors: s.metrics.capacityErrors.total,
    costUsd: s.cost.totalUsd,
  };
}

/** Folds the handlers' metrics as they are recorded, reading each one once. */
class MetricsAggregate {
  private read = 0;
  private readonly counters = new Map<string, number>();
  private readonly byDimension = new Map<string, Map<string, number>>();
  private readonly durations = new Map<string, number[]>();

  constructor(private readonly recorded: () => readonly RecordedMetric[]) {}

  summary(): MetricsSummary {
    const all = this.recorded();
    for (; this.read < all.length; this.read++) {
      const m = all[this.read] as RecordedMetric;
      if (m.kind === 'count') {
        this.counters.set(m.name, (this.counters.get(m.name) ?? 0) + m.value);
        for (const [key, value] of Object.entries(m.dimensions)) {
          const id = `${m.name}:${key}`;
          const tally = this.byDimension.get(id) ?? new Map<string, number>();
          tally.set(value, (tally.get(value) ?? 0) + m.value);
          this.byDimension.set(id, tally);
        }
      } else if (m.kind === 'duration') {
        const id = m.name === 'PhaseLatency' ? `PhaseLatency:${m.dimensions.Phase ?? ''}` : m.name;
        const list = this.durations.get(id) ?? [];
        list.push(m.value);
        this.durations.set(id, list);
      }
    }
    const total = (name: string) => this.counters.get(name) ?? 0;
    const tally = (name: string, dimension: string): Tally => ({
      total: total(name),
      by: Object.fromEntries(this.byDimension.get(`${name}:${dimension}`) ?? []),
    });
    const phaseLatency: Record<string, Percentiles> = {};
    for (const [id, values] of this.durations)
      if (id.startsWith('PhaseLatency:'))
        phaseLatency[id.slice('PhaseLatency:'.length)] = percentiles(values);
    return {
      claims: total('Claims'),
      lostRaces: total('LostRaces'),
      fallbacks: tally('Fallbacks', 'Step'),
      capacityErrors: tally('CapacityErrors', 'Pool'),
      webhooksRejected: tally('WebhooksRejected', 'Reason'),
      webhooksRedelivered: total('WebhooksRedelivered'),
      jobsReprovisioned: total('JobsReprovisioned'),
      orphansReaped: total('OrphansReaped'),
      webhookDuration: percentiles(this.durations.get('WebhookDuration') ?? []),
      phaseLatency,
      counters: Object.fromEntries(this.counters),
    };
  }
}
