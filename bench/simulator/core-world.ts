/**
 * A policy run through the real control plane: the core's use cases (handleWorkflowJob,
 * handleInstanceStateChange, handleSpotInterruption, handleJobStarted, tunePools, reconcile) exactly as
 * the handlers call them, on the in-memory fakes, on a simulated clock. The world plays everything
 * around them:
 *
 *   GitHub   jobs queued at the trace's times; webhooks delivered after a drawn delay, held by the
 *            seed's incidents (webhook-delivery.ts); a runner that connects takes the oldest matching
 *            queued job, an idle one is handed a job the moment it is queued (the fake's rules); JIT
 *            mints within the secondary limit (sim-ports.ts); a job completes its trace duration after
 *            it started, plus the cold-disk penalty on an instance that never warmed up
 *   EC2      launched and started instances go pending → running, boot, and report every state change
 *            through EventBridge to the lifecycle handler; capacity outages come and go; an idle runner
 *            on spot may be reclaimed, two minutes after the interruption warning
 *   agent    first boot of a pool instance: warm up, power off; any other boot: poll for the JIT config
 *            for the grace period, run the runner once, power off when its job is done; in a pool with a
 *            hot tier, the runner's job-started hook tags the instance and the tag change reaches the
 *            lifecycle handler (handleJobStarted), webhooks or not
 *   schedule the pool tuner (which keeps the hot tier too) every minute and the reconciler every 30 s
 *            (infra/constructs/control-plane-schedules.ts)
 *
 * The bill follows EC2 states: compute while running, volumes while they exist.
 */
import { tagKeys } from '../../scheduler/adapters/tags.js';
import { type CoreDeps, instanceOfRunner } from '../../scheduler/core/deps.js';
import { type DemandHistory, demandMarker, serializeHistory } from '../../scheduler/core/forecast.js';
import { handleJobStarted } from '../../scheduler/core/hot-tier.js';
import {
  type Ec2State,
  handleInstanceStateChange,
  handleSpotInterruption,
} from '../../scheduler/core/instance-events.js';
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import { tunePools } from '../../scheduler/core/tune-pools.js';
import type { InstanceRole, WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import type { LaunchedInstance } from '../../scheduler/ports/compute.js';
import { InMemoryCompute } from '../../stand-ins/in-memory/in-memory-compute.js';
import { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';
import { InMemoryJitDelivery } from '../../stand-ins/in-memory/in-memory-jit-delivery.js';
import { InMemoryPoolStore } from '../../stand-ins/in-memory/in-memory-pool-store.js';
import type { Trace, TraceJob } from '../traces/trace.js';
import { Ledger } from './billing.js';
import { type OutageRates, planOutages } from './capacity.js';
import { EventLoop } from './event-loop.js';
import type { JobOutcome, PolicyRun, RanOn } from './outcome.js';
import type { Prices } from './prices.js';
import { exponential, type Random, seededRandom } from './random.js';
import type { Timings } from './reference-timings.js';
import {
  CountingEvents,
  CountingMetrics,
  type Ec2Hooks,
  Latency,
  SimCompute,
  SimGitHub,
  SimJitDelivery,
  SimPoolStore,
} from './sim-ports.js';
import { type Outage, planIncidents, WebhookDelivery } from './webhook-delivery.js';

export const subnetZones: Readonly<Record<string, string>> = {
  'subnet-0000000a': 'us-east-1a',
  'subnet-0000000b': 'us-east-1b',
  'subnet-0000000c': 'us-east-1c',
};

export interface CoreRunOptions {
  readonly policy: string;
  readonly trace: Trace;
  readonly config: PoolsConfig;
  readonly seed: number;
  readonly timings: Timings;
  readonly prices: Prices;
  readonly outages: OutageRates;
  /** When the simulation starts (before the trace, so the pool can fill). */
  readonly start: number;
  /** Forecast look-ahead handed to the tuner. */
  readonly forecastLeadMs?: number;
  /** Demand histories per pool, as the tuner would have kept them before the simulated span. */
  readonly history?: Readonly<Record<string, DemandHistory>>;
  /** After the trace ends, how long to wait for the last jobs at most. */
  readonly drainMs?: number;
  /** A long webhook outage on top of the reference incidents (a scenario). */
  readonly webhookOutage?: Outage;
}

interface JobState {
  readonly trace: TraceJob;
  startedAt?: number;
  receivedAt?: number;
  completedAt?: number;
  instanceId?: string;
  hotHit?: boolean;
  coldPenaltyS?: number;
  starts: number;
}

const repository = { owner: 'acme', name: 'app' } as const;
/** The simulated deployment's runner name prefix (one organization, one installation). */
const runnerPrefix = 'wpr';
const tunerPeriodS = 60;
// infra/constructs/control-plane-schedules.ts: the tuner every minute; the reconciler every minute,
// asked for two passes 30 s apart (`reconcilerPasses`), i.e. every 30 s.
const reconcilerPeriodS = 30;
const settleMs = 5 * 60_000;

export async function runCorePolicy(options: CoreRunOptions): Promise<PolicyRun> {
  const world = new CoreWorld(options);
  return world.run();
}

class CoreWorld implements Ec2Hooks {
  private readonly loop: EventLoop;
  private readonly store: InMemoryPoolStore;
  private readonly compute: InMemoryCompute;
  private readonly github: InMemoryGitHub;
  private readonly jit: InMemoryJitDelivery;
  private readonly ledger: Ledger;
  private readonly metrics = new CountingMetrics();
  private readonly events = new CountingEvents();
  private readonly deps: CoreDeps;
  private readonly timings: Timings;
  private readonly config: PoolsConfig;
  private readonly ec2Random: Random;
  private readonly gitHubRandom: Random;
  private readonly agentRandom: Random;
  private readonly diskRandom: Random;
  private readonly spotRandom: Random;
  private readonly webhooks: WebhookDelivery;
  private readonly warmed = new Set<string>();
  /** Instances whose runner is online and waiting for a job. */
  private readonly idle = new Set<string>();
  private readonly jobs = new Map<number, JobState>();
  private readonly counters: Record<string, number> = {};
  private readonly targets: [number, number][] = [];
  private readonly hotTargets: [number, number][] = [];
  /** Whether a pool keeps a hot tier: then the agent's job-started signal is part of the product. */
  private readonly hotTier: boolean;
  private queuing: TraceJob | undefined;
  private completed = 0;

  constructor(private readonly options: CoreRunOptions) {
    this.loop = new EventLoop(options.start);
    const clock = this.loop.clock;
    this.timings = options.timings;
    this.config = options.config;
    this.hotTier = options.config.pools.some((p) => p.hot !== undefined);
    this.store = new InMemoryPoolStore({ clock });
    this.compute = new InMemoryCompute({ clock, subnetZones });
    this.github = new InMemoryGitHub({ clock });
    this.jit = new InMemoryJitDelivery(clock);
    this.ledger = new Ledger(options.prices);
    this.ec2Random = seededRandom(options.seed, `${options.policy}/ec2`);
    this.gitHubRandom = seededRandom(options.seed, `${options.policy}/github`);
    this.agentRandom = seededRandom(options.seed, `${options.policy}/agent`);
    this.diskRandom = seededRandom(options.seed, `${options.policy}/disk`);
    this.spotRandom = seededRandom(options.seed, `${options.policy}/spot`);
    // One plan per seed, not per policy: every policy meets the same incidents.
    const incidents = planIncidents(
      this.timings.webhookIncidents,
      { start: options.start, end: options.trace.end },
      seededRandom(options.seed, 'webhook-incidents'),
      options.webhookOutage,
    );
    this.webhooks = new WebhookDelivery(
      this.timings.webhookDelivery,
      incidents,
      this.timings.webhookIncidents.drainSeconds,
    );
    this.counters['webhook-incidents'] = incidents.length;
    this.counters['webhook-incident-minutes'] = Math.round(
      incidents.reduce((sum, i) => sum + (i.to - i.from), 0) / 60_000,
    );
    const latency = new Latency(this.loop, seededRandom(options.seed, `${options.policy}/latency`));
    this.deps = {
      store: new SimPoolStore(this.store, latency, this.timings),
      compute: new SimCompute(this.compute, latency, this.timings, this),
      github: new SimGitHub(this.github, latency, this.timings, clock, (name) => this.count(name)),
      jit: new SimJitDelivery(this.jit, latency, this.timings),
      clock,
      metrics: this.metrics,
      events: this.events,
      random: seededRandom(options.seed, `${options.policy}/core`),
      runners: { owners: [{ owner: repository.owner, scope: 'org', namePrefix: runnerPrefix }] },
    };
    this.github.subscribe((event) => this.onGitHubEvent(event));
  }

  async run(): Promise<PolicyRun> {
    const began = performance.now();
    const { trace } = this.options;
    for (const [pool, history] of Object.entries(this.options.history ?? {}))
      await this.store.putMarker(demandMarker(pool), serializeHistory(history));
    for (const job of trace.jobs) this.loop.at(job.createdAt, () => this.queue(job));
    this.planOutages();
    this.every(tunerPeriodS, 0, () => this.tune());
    this.every(reconcilerPeriodS, 30, () => this.reconcile());

    const total = trace.jobs.length;
    const drainUntil = trace.end + (this.options.drainMs ?? 6 * 3_600_000);
    await this.loop.run(drainUntil, () => this.completed >= total && this.loop.now() >= trace.end);
    // A few minutes more, so that the last instances power off and are recycled, and billed as such.
    await this.loop.run(this.loop.now() + settleMs);
    const end = this.loop.now();
    const bill = this.ledger.totals(end);

    const outcomes: JobOutcome[] = [];
    let startedTwice = 0;
    const records = new Map(this.store.allJobs().map((j) => [j.id, j]));
    for (const [id, job] of this.jobs) {
      if (job.starts > 1) startedTwice++;
      if (job.startedAt === undefined || job.instanceId === undefined) continue;
      const source = records.get(id)?.source;
      const market = this.compute.instance(job.instanceId)?.market;
      outcomes.push({
        createdAt: job.trace.createdAt,
        startedAt: job.startedAt,
        ...(job.receivedAt !== undefined && { receivedAt: job.receivedAt }),
        ranOn: this.ranOn(job.instanceId),
        poolHit: job.hotHit === true || source === 'pool' || source === 'pool-resized',
        hotHit: job.hotHit === true,
        ...(job.completedAt !== undefined && { completedAt: job.completedAt }),
        workS: job.trace.durationS,
        coldPenaltyS: job.coldPenaltyS ?? 0,
        ...(market !== undefined && { market }),
      });
    }
    for (const [key, value] of [...this.metrics.counts, ...this.events.counts]) this.counters[key] = value;
    return {
      policy: this.options.policy,
      jobs: outcomes,
      expectedJobs: total,
      startedTwice,
      bill,
      start: this.options.start,
      end,
      counters: this.counters,
      targets: this.targets,
      ...(this.hotTier && { hotTargets: this.hotTargets }),
      events: this.loop.events,
      wallMs: performance.now() - began,
      incidents: {
        count: this.counters['webhook-incidents'] ?? 0,
        minutes: this.counters['webhook-incident-minutes'] ?? 0,
      },
    };
  }

  // ---- GitHub ----

  private queue(job: TraceJob): void {
    this.queuing = job;
    try {
      this.github.queueJob({
        repository,
        labels: job.labels,
        ...(job.runId !== undefined && { runId: job.runId }),
      });
    } finally {
      this.queuing = undefined;
    }
  }

  private onGitHubEvent(event: WorkflowJobEvent): void {
    if (event.action === 'queued' && !this.jobs.has(event.jobId) && this.queuing !== undefined)
      this.jobs.set(event.jobId, { trace: this.queuing, starts: 0 });
    const job = this.jobs.get(event.jobId);
    if (event.action === 'in_progress' && job !== undefined) {
      job.starts++;
      if (job.startedAt === undefined) {
        // Queued while one of our runners sat idle: the fake hands it over in the same instant; the
        // idle runner's listener takes its usual connect-to-assign time (as in the running-pool model).
        const handedToIdle = this.queuing !== undefined;
        job.startedAt =
          this.loop.now() + (handedToIdle ? this.timings.runnerConnect(this.gitHubRandom) * 1000 : 0);
        if (handedToIdle) this.count('picked-by-idle-runner');
        job.hotHit = handedToIdle;
        const instanceId = instanceOfRunner(this.deps.runners, event.runnerName);
        let penaltyS = 0;
        if (instanceId !== undefined) {
          job.instanceId = instanceId;
          this.idle.delete(instanceId);
          this.ledger.setCategory(instanceId, this.loop.now(), 'job');
          this.ledger.served(instanceId);
          // Only a pool instance that went through its warm-up boot has a hydrated disk and its
          // images pulled; anything else reads its blocks from the snapshot as the job touches them.
          if (!this.warmed.has(instanceId)) penaltyS = this.timings.coldDiskPenalty(this.diskRandom);
        }
        job.coldPenaltyS = penaltyS;
        const endsAt = job.startedAt + (job.trace.durationS + penaltyS) * 1000;
        this.loop.at(endsAt, () => this.finish(event.jobId, instanceId));
        if (instanceId !== undefined && this.hotTier) this.jobStartedSignal(instanceId, job.startedAt);
      }
    }
    const delay =
      this.webhooks.delay(this.loop.now(), this.gitHubRandom) +
      this.timings.handlerOverhead(this.gitHubRandom);
    this.loop.after(delay, () => this.webhook(event));
  }

  private webhook(event: WorkflowJobEvent): void {
    const now = this.loop.now();
    const job = this.jobs.get(event.jobId);
    if (event.action === 'queued' && job !== undefined && job.receivedAt === undefined) job.receivedAt = now;
    this.loop.spawn('webhook', async () => {
      const outcome = await handleWorkflowJob(
        this.deps,
        { config: this.config, deadline: now + 8_000, receivedAt: now },
        event,
      );
      this.count(`webhook:${event.action}:${outcome.kind}`);
    });
  }

  /**
   * The runner's job-started hook on the instance reports the job (the agent tags the instance; the tag
   * change reaches the lifecycle handler through EventBridge), whatever GitHub's webhooks are doing.
   */
  private jobStartedSignal(instanceId: string, at: number): void {
    const delay =
      Math.max(0, (at - this.loop.now()) / 1000) +
      this.timings.ec2OtherCall(this.agentRandom) +
      this.timings.stateChangeEvent(this.ec2Random) +
      this.timings.handlerOverhead(this.ec2Random);
    this.loop.after(delay, () => {
      const now = this.loop.now();
      this.loop.spawn('job started', async () => {
        const outcome = await handleJobStarted(this.deps, this.config, {
          instanceId,
          at,
          deadline: now + 8_000,
        });
        const started = outcome.kind === 'marked-busy' && outcome.refill.kind === 'refilled';
        this.count(`job-started:${outcome.kind}${started ? ':refilled' : ''}`);
      });
    });
  }

  private finish(jobId: number, instanceId: string | undefined): void {
    this.github.finishJob(jobId);
    const job = this.jobs.get(jobId);
    if (job !== undefined) job.completedAt = this.loop.now();
    this.completed++;
    // The runner exits with its job and the agent powers the instance off.
    if (instanceId !== undefined) this.powerOff(instanceId);
  }

  // ---- EC2 ----

  launched(instance: LaunchedInstance, role: InstanceRole, volumeGb: number): void {
    this.ledger.open(instance.id, this.loop.now(), {
      market: instance.market,
      volumeGb,
      category: role === 'pool' ? 'idle' : 'job',
    });
    if (role === 'ephemeral') this.count(`launched:${instance.market}`);
    else this.count('launched:pool');
    this.boot(instance.id, true);
  }

  started(instanceId: string): void {
    this.ledger.setCategory(instanceId, this.loop.now(), 'job');
    this.boot(instanceId, false);
  }

  terminated(instanceId: string): void {
    this.idle.delete(instanceId);
    // A runner whose machine is gone drops off GitHub (a deleted one is gone already).
    this.github.disconnect(`${runnerPrefix}-${instanceId}`);
    this.ledger.close(instanceId, this.loop.now());
    this.stateChange(instanceId, 'terminated');
  }

  private boot(instanceId: string, fresh: boolean): void {
    this.loop.after(this.timings.pendingToRunning(this.ec2Random), () => {
      if (this.compute.instance(instanceId)?.state !== 'pending') return;
      this.compute.markRunning(instanceId);
      this.ledger.running(instanceId, this.loop.now());
      this.stateChange(instanceId, 'running');
      const boot =
        this.timings.osBoot(this.ec2Random) + (fresh ? this.timings.coldBootExtra(this.ec2Random) : 0);
      this.loop.after(boot, () => this.agentBooted(instanceId));
    });
  }

  private stateChange(instanceId: string, state: Ec2State): void {
    const at = this.loop.now();
    const delay =
      this.timings.stateChangeEvent(this.ec2Random) + this.timings.handlerOverhead(this.ec2Random);
    this.loop.after(delay, () =>
      this.loop.spawn('lifecycle', () =>
        handleInstanceStateChange(this.deps, this.config, { instanceId, state, at }),
      ),
    );
  }

  private planOutages(): void {
    const pairs = [...new Set(this.config.pools.flatMap((p) => p.instanceTypes))].flatMap((instanceType) =>
      [...new Set(Object.values(subnetZones))].map((availabilityZone) => ({
        instanceType,
        availabilityZone,
      })),
    );
    const outages = planOutages(
      this.options.outages,
      pairs,
      { start: this.options.start, end: this.options.trace.end },
      seededRandom(this.options.seed, 'outages'),
    );
    for (const o of outages) {
      const selector = {
        instanceType: o.instanceType,
        availabilityZone: o.availabilityZone,
        market: o.market,
      };
      this.loop.at(o.from, () => this.compute.exhaustCapacity(selector));
      this.loop.at(o.to, () => this.compute.restoreCapacity(selector));
    }
    this.counters.outages = outages.length;
  }

  // ---- the instance agent ----

  private running(instanceId: string): boolean {
    return this.compute.instance(instanceId)?.state === 'running';
  }

  private agentBooted(instanceId: string): void {
    const instance = this.compute.instance(instanceId);
    if (instance?.state !== 'running') return;
    if (instance.tags[tagKeys.role] === 'pool' && !this.warmed.has(instanceId)) {
      this.loop.after(this.timings.warmUp(this.agentRandom), () => {
        this.warmed.add(instanceId);
        this.powerOff(instanceId);
      });
      return;
    }
    this.pollJitConfig(instanceId, this.loop.now());
  }

  private pollJitConfig(instanceId: string, since: number): void {
    this.loop.after(this.timings.ssmCall(this.agentRandom), () => {
      if (!this.running(instanceId)) return;
      if (this.jit.take(instanceId) !== undefined) {
        this.loop.after(this.timings.runnerConnect(this.gitHubRandom), () => this.connect(instanceId));
        return;
      }
      if (this.loop.now() - since >= this.timings.jitGraceSeconds * 1000) {
        this.count('agent:no-jit-config');
        this.powerOff(instanceId);
      } else
        this.loop.after(this.timings.jitPoll(this.agentRandom), () => this.pollJitConfig(instanceId, since));
    });
  }

  private connect(instanceId: string): void {
    if (!this.running(instanceId)) return;
    const outcome = this.github.connect(`${runnerPrefix}-${instanceId}`);
    // `took-job` is seen through the in_progress event; an idle runner waits for a job to be queued.
    if (outcome.kind === 'not-registered') this.powerOff(instanceId);
    if (outcome.kind === 'idle') this.waitIdle(instanceId);
  }

  /**
   * A runner online with no job: its instance runs for nothing until a job is queued (booked as idle),
   * and a spot one may be reclaimed meanwhile: EC2 warns two minutes ahead (EventBridge → the
   * lifecycle handler) and then terminates it. A runner that takes a job within those two minutes is
   * spared here: interruptions during a job, and the re-run they cause, are not modelled.
   */
  private waitIdle(instanceId: string): void {
    this.idle.add(instanceId);
    this.ledger.setCategory(instanceId, this.loop.now(), 'idle');
    const instance = this.compute.instance(instanceId);
    const perHour = this.timings.spotInterruptionPerHour;
    if (instance?.market !== 'spot' || perHour <= 0) return;
    const inS = exponential(3600 / perHour)(this.spotRandom);
    this.loop.after(inS, () => {
      if (!this.idle.has(instanceId) || !this.running(instanceId)) return;
      this.count('spot:interruption-warning');
      this.loop.after(this.timings.stateChangeEvent(this.ec2Random), () => {
        const deadline = this.loop.now() + 8_000;
        this.loop.spawn('spot interruption', async () => {
          const outcome = await handleSpotInterruption(this.deps, instanceId, {
            config: this.config,
            deadline,
          });
          this.count(`spot-warning:${outcome.kind}`);
        });
      });
      this.loop.after(120, () => {
        if (!this.running(instanceId)) return;
        if (!this.idle.has(instanceId)) {
          this.count('spot:interruption-spared-busy');
          return;
        }
        this.count('spot:interrupted-idle');
        this.reclaim(instanceId);
      });
    });
  }

  /** EC2 takes the instance back: the runner on it drops off GitHub, the instance is gone. */
  private reclaim(instanceId: string): void {
    this.idle.delete(instanceId);
    this.compute.setState(instanceId, 'terminated');
    this.github.disconnect(`${runnerPrefix}-${instanceId}`);
    this.ledger.close(instanceId, this.loop.now());
    this.stateChange(instanceId, 'terminated');
  }

  private powerOff(instanceId: string): void {
    this.loop.after(this.timings.shutdown(this.agentRandom), () => {
      if (!this.running(instanceId)) return;
      this.idle.delete(instanceId);
      this.compute.powerOff(instanceId);
      const state = this.compute.instance(instanceId)?.state ?? 'terminated';
      if (state === 'terminated') this.ledger.close(instanceId, this.loop.now());
      else this.ledger.stopped(instanceId, this.loop.now());
      this.stateChange(instanceId, state);
    });
  }

  private ranOn(instanceId: string): RanOn {
    const instance = this.compute.instance(instanceId);
    if (instance?.tags[tagKeys.role] === 'pool') return 'pool';
    return instance?.market === 'spot' ? 'spot' : 'on-demand';
  }

  // ---- schedules ----

  private every(periodS: number, offsetS: number, action: () => void): void {
    const tick = () => {
      action();
      if (this.loop.now() < this.options.trace.end + (this.options.drainMs ?? 6 * 3_600_000))
        this.loop.after(periodS, tick);
    };
    this.loop.after(offsetS, tick);
  }

  private tune(): void {
    this.loop.spawn('pool tuner', async () => {
      const results = await tunePools(this.deps, this.config, {
        ...(this.options.forecastLeadMs !== undefined && { forecastLeadMs: this.options.forecastLeadMs }),
      });
      for (const r of results) {
        if (r.error !== undefined) this.count('tuner:pool-error');
        const hot = r.hot;
        if (hot !== undefined) {
          this.hotTargets.push([this.loop.now(), hot.target]);
          this.counters.maxHotTarget = Math.max(this.counters.maxHotTarget ?? 0, hot.target);
          this.count('hot:replaced', hot.replaced);
          this.count('hot:drained', hot.drained);
        }
        this.targets.push([this.loop.now(), r.target]);
        this.counters.maxTarget = Math.max(this.counters.maxTarget ?? 0, r.target);
        if (r.forecast !== undefined)
          this.counters.maxForecast = Math.max(this.counters.maxForecast ?? 0, r.forecast);
      }
    });
  }

  private reconcile(): void {
    this.loop.spawn('reconciler', async () => {
      // A pass stops starting new work before the next one begins (handlers/reconciler.ts).
      const report = await reconcile(this.deps, this.config, {
        deadline: this.loop.now() + (reconcilerPeriodS - 5) * 1000,
      });
      if (report.failures.length > 0) this.count('reconcile:failures', report.failures.length);
    });
  }

  private count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }
}
