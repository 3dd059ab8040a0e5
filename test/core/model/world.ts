/**
 * A whole control plane on fakes, and the instance side played by a small agent model, for the
 * model-based test. The use cases run exactly as the handlers call them; the world adds what AWS and
 * GitHub would do around them: EC2 state-change events (derived from the compute fake's state),
 * instances that boot, warm up, fetch their JIT config and run one job, and webhook deliveries that
 * the test can delay, drop, duplicate or reorder. The x64 pool keeps a hot tier in a short window
 * (Monday 09:00–09:30 UTC) with a short maximum idle age, so runs cross its closing and its ageing out;
 * agents whose runner takes a job tag their instance (the job-started signal), and those tag events
 * too can be delayed, duplicated or reordered.
 */
import { tagKeys } from '../../../scheduler/adapters/tags.js';
import type { CoreDeps } from '../../../scheduler/core/deps.js';
import { handleJobStarted } from '../../../scheduler/core/hot-tier.js';
import {
  handleInstanceStateChange,
  handleSpotInterruption,
} from '../../../scheduler/core/instance-events.js';
import { type PoolsConfig, validatePoolsConfig } from '../../../scheduler/core/pool-config.js';
import { reconcile } from '../../../scheduler/core/reconcile.js';
import { poolTarget } from '../../../scheduler/core/schedule.js';
import { tunePools } from '../../../scheduler/core/tune-pools.js';
import type { WorkflowJobEvent } from '../../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../../scheduler/core/workflow-job.js';
import type { ObservedInstance } from '../../../scheduler/ports/compute.js';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';
import { InMemoryCompute } from '../../../stand-ins/in-memory/in-memory-compute.js';
import { InMemoryEvents } from '../../../stand-ins/in-memory/in-memory-events.js';
import { InMemoryGitHub } from '../../../stand-ins/in-memory/in-memory-github.js';
import { InMemoryJitDelivery } from '../../../stand-ins/in-memory/in-memory-jit-delivery.js';
import { InMemoryMetrics } from '../../../stand-ins/in-memory/in-memory-metrics.js';
import { InMemoryPoolStore } from '../../../stand-ins/in-memory/in-memory-pool-store.js';

export const subnetZones = { 'subnet-0000000a': 'us-east-1a', 'subnet-0000000b': 'us-east-1b' };

export function modelConfig(): PoolsConfig {
  const result = validatePoolsConfig({
    pools: [
      {
        name: 'linux-x64',
        labels: ['linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: ['subnet-0000000a', 'subnet-0000000b'],
        defaultSize: 2,
        maximum: 6,
        schedule: [
          { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', timezone: 'UTC', size: 4 },
        ],
        hot: {
          maximum: 3,
          windows: [{ days: ['mon'], from: '09:00', to: '09:30', timezone: 'UTC', max: 2 }],
          maxIdleMinutes: 10,
        },
      },
      {
        name: 'linux-arm64',
        labels: ['linux', 'arm64'],
        architecture: 'arm64',
        instanceTypes: ['m7g.large'],
        subnets: ['subnet-0000000a'],
        defaultSize: 1,
        maximum: 3,
        // Bursts go over it: jobs wait and are served as units come back.
        quotas: { repository: { instances: 2 } },
      },
    ],
    settings: { pendingJobSeconds: 30, claimTimeoutSeconds: 300, orphanGraceSeconds: 120 },
  });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config;
}

/** What the agent on one instance is doing. */
interface AgentState {
  warmed: boolean;
  /** Ticks spent running without a config or job. */
  idleTicks: number;
  runner: 'none' | 'idle' | 'busy';
  jobsTaken: number[];
}

/** Ticks an agent waits for its JIT config before powering off (its grace period). */
const configGraceTicks = 3;

export class World {
  readonly clock = new FixedClock(Date.UTC(2026, 0, 5, 9, 0, 0)); // a Monday, 09:00 UTC
  readonly config = modelConfig();
  readonly store = new InMemoryPoolStore({ clock: this.clock });
  readonly compute = new InMemoryCompute({ clock: this.clock, subnetZones });
  readonly github = new InMemoryGitHub({ clock: this.clock });
  readonly jit = new InMemoryJitDelivery(this.clock);
  readonly events = new InMemoryEvents();
  readonly metrics = new InMemoryMetrics();
  readonly deps: CoreDeps;
  /** Webhooks GitHub sent that have not reached the handler yet. */
  readonly inbox: WorkflowJobEvent[] = [];
  /** Webhooks already handled, for duplicates. */
  readonly handled: WorkflowJobEvent[] = [];
  readonly ec2Events: { instanceId: string; state: ObservedInstance['state'] }[] = [];
  readonly agents = new Map<string, AgentState>();
  readonly queuedJobs: number[] = [];
  /** Every job GitHub sent a webhook for (re-runs of interrupted jobs included), with its labels. */
  readonly jobLabels = new Map<number, readonly string[]>();
  /** Job-started tags the agents set that have not reached the lifecycle handler yet. */
  readonly tagEvents: { instanceId: string; at: number }[] = [];
  readonly handledTags: { instanceId: string; at: number }[] = [];
  private readonly seenStates = new Map<string, ObservedInstance['state']>();
  /** Job events being handled now (a race runs several at once). */
  private inEvent = 0;
  /**
   * Per pool, pool instances started and fresh instances launched by job events (a retried launch is
   * one); a start counts once per instance and claim (`<id>@<claim time>`).
   */
  readonly eventStarts = new Map<string, Set<string>>();

  constructor(random: () => number) {
    // Starts the job events cause (webhooks and job-started tags, not the tuner or the reconciler).
    const compute = this.compute;
    const counted = Object.create(compute) as InMemoryCompute;
    const note = (pool: string | undefined, key: string) => {
      if (this.inEvent === 0 || pool === undefined) return;
      const keys = this.eventStarts.get(pool) ?? new Set<string>();
      keys.add(key);
      this.eventStarts.set(pool, keys);
    };
    counted.start = async (id, options) => {
      const outcome = await compute.start(id, options);
      const record = this.store.allInstances().find((r) => r.id === id);
      if (outcome.kind === 'started') note(record?.pool, `${id}@${record?.stateChangedAt}`);
      return outcome;
    };
    counted.launchEphemeral = async (request) => {
      const outcome = await compute.launchEphemeral(request);
      if (outcome.kind === 'launched') for (const i of outcome.instances) note(request.pool.name, i.id);
      return outcome;
    };
    this.deps = {
      store: this.store,
      compute: counted,
      github: this.github,
      jit: this.jit,
      clock: this.clock,
      metrics: this.metrics,
      events: this.events,
      random,
      runners: { owners: [{ owner: 'acme', scope: 'org', namePrefix: 'wpr' }] },
    };
    this.github.subscribe((event) => {
      this.inbox.push(event);
      this.jobLabels.set(event.jobId, event.labels);
    });
  }

  // ---- GitHub's side ----

  queue(count: number, labels: readonly string[], matrix: boolean): void {
    const runId = matrix ? 700_000 + this.queuedJobs.length : undefined;
    for (let i = 0; i < count; i++) {
      const job = this.github.queueJob({
        repository: { owner: 'acme', name: 'app' },
        labels,
        ...(runId !== undefined && { runId }),
      });
      this.queuedJobs.push(job.id);
    }
  }

  async deliver(index: number): Promise<void> {
    const [event] = this.inbox.splice(index % Math.max(1, this.inbox.length), 1);
    if (event === undefined) return;
    await this.webhook(event);
    this.handled.push(event);
  }

  async redeliverHandled(index: number): Promise<void> {
    const event = this.handled[index % Math.max(1, this.handled.length)];
    if (event !== undefined) await this.webhook(event);
  }

  async webhook(event: WorkflowJobEvent): Promise<void> {
    const now = this.clock.now();
    this.inEvent++;
    try {
      await handleWorkflowJob(
        this.deps,
        { config: this.config, deadline: now + 8_000, receivedAt: now },
        event,
      );
    } finally {
      this.inEvent--;
    }
  }

  /**
   * Two of one job's events handled at once, as two Lambda invocations would: its `queued` or
   * `in_progress` webhook with the other, or with the job-started tag of the instance that took it.
   * Their store calls interleave (the fakes yield at every call).
   */
  async race(index: number, pick: number): Promise<void> {
    const first = this.inbox[index % Math.max(1, this.inbox.length)];
    if (first === undefined) return;
    const takers = [...this.agents.entries()]
      .filter(([, a]) => a.jobsTaken.includes(first.jobId))
      .map(([id]) => id);
    const partners: (() => Promise<void>)[] = [
      ...this.inbox
        .filter((e) => e !== first && e.jobId === first.jobId)
        .map((e) => () => this.takeAndDeliver(e)),
      ...this.tagEvents.filter((t) => takers.includes(t.instanceId)).map((t) => () => this.takeAndTag(t)),
    ];
    const partner = partners[pick % Math.max(1, partners.length)];
    await Promise.all([this.takeAndDeliver(first), partner?.()]);
  }

  private async takeAndDeliver(event: WorkflowJobEvent): Promise<void> {
    const at = this.inbox.indexOf(event);
    if (at >= 0) this.inbox.splice(at, 1);
    await this.webhook(event);
    this.handled.push(event);
  }

  private async takeAndTag(tag: { instanceId: string; at: number }): Promise<void> {
    const at = this.tagEvents.indexOf(tag);
    if (at >= 0) this.tagEvents.splice(at, 1);
    await this.jobStarted(tag);
    this.handledTags.push(tag);
  }

  // ---- the control plane's schedules ----

  async tune(): Promise<void> {
    await tunePools(this.deps, this.config);
    this.observeEc2();
  }

  async reconcile(): Promise<void> {
    const report = await reconcile(this.deps, this.config, { deadline: this.clock.now() + 60_000 });
    if (report.failures.length > 0) throw new Error(`reconcile failures: ${report.failures.join('; ')}`);
    this.observeEc2();
  }

  async deliverEc2Events(): Promise<void> {
    this.observeEc2();
    while (this.ec2Events.length > 0) {
      const change = this.ec2Events.shift();
      if (change === undefined) break;
      await handleInstanceStateChange(this.deps, this.config, change);
      this.observeEc2();
    }
  }

  /** EventBridge brings one job-started tag change to the lifecycle handler. */
  async deliverTag(index: number): Promise<void> {
    const [tag] = this.tagEvents.splice(index % Math.max(1, this.tagEvents.length), 1);
    if (tag === undefined) return;
    await this.jobStarted(tag);
    this.handledTags.push(tag);
  }

  /** EventBridge delivers at least once: a tag change already handled, again. */
  async redeliverTag(index: number): Promise<void> {
    const tag = this.handledTags[index % Math.max(1, this.handledTags.length)];
    if (tag !== undefined) await this.jobStarted(tag);
  }

  private async jobStarted(tag: { instanceId: string; at: number }): Promise<void> {
    this.inEvent++;
    try {
      await handleJobStarted(this.deps, this.config, { ...tag, deadline: this.clock.now() + 20_000 });
    } finally {
      this.inEvent--;
    }
  }

  /** A spot interruption warning for an idle hot runner; EC2 reclaims it if the handler let it be. */
  async interruptIdle(index: number): Promise<void> {
    const idle = this.store.allInstances().filter((r) => r.state === 'idle');
    const victim = idle[index % Math.max(1, idle.length)];
    if (victim === undefined) return;
    await handleSpotInterruption(this.deps, victim.id, {
      config: this.config,
      deadline: this.clock.now() + 20_000,
    });
    this.observeEc2();
  }

  // ---- the instance side ----

  /** One step of every instance: boot, warm up, fetch the config, take a job, power off when done. */
  async tick(): Promise<void> {
    for (const instance of this.compute.allInstances()) {
      if (instance.state === 'pending') {
        this.compute.markRunning(instance.id);
        continue;
      }
      if (instance.state !== 'running') continue;
      const agent = this.agentOf(instance.id);
      const role = instance.tags[tagKeys.role];
      if (role === 'pool' && !agent.warmed) {
        agent.warmed = true;
        this.compute.powerOff(instance.id);
        continue;
      }
      await this.runnerStep(instance.id, agent);
    }
    this.observeEc2();
  }

  private async runnerStep(instanceId: string, agent: AgentState): Promise<void> {
    const name = `wpr-${instanceId}`;
    if (agent.runner === 'none') {
      const config = this.jit.take(instanceId);
      if (config === undefined) {
        if (++agent.idleTicks > configGraceTicks) this.powerOffAfterUse(instanceId, agent);
        return;
      }
      agent.runner = 'idle';
    }
    if (agent.runner === 'idle') {
      const outcome = this.github.connect(name);
      if (outcome.kind === 'took-job') {
        agent.runner = 'busy';
        agent.jobsTaken.push(outcome.jobId);
        // The runner's job-started hook tags the instance.
        this.tagEvents.push({ instanceId, at: this.clock.now() });
      } else if (outcome.kind === 'not-registered') {
        this.powerOffAfterUse(instanceId, agent); // released: the runner was deleted
      }
      return;
    }
    const jobId = agent.jobsTaken.at(-1);
    const job =
      jobId === undefined ? undefined : await this.github.getJob({ owner: 'acme', name: 'app' }, jobId);
    if (job === undefined || job.status === 'completed') this.powerOffAfterUse(instanceId, agent);
  }

  private powerOffAfterUse(instanceId: string, agent: AgentState): void {
    agent.runner = 'none';
    agent.idleTicks = 0;
    this.compute.powerOff(instanceId);
  }

  private agentOf(instanceId: string): AgentState {
    let agent = this.agents.get(instanceId);
    if (agent === undefined) {
      agent = { warmed: false, idleTicks: 0, runner: 'none', jobsTaken: [] };
      this.agents.set(instanceId, agent);
    }
    return agent;
  }

  /** Runs one job at GitHub to completion (its runner reports in_progress when it took it). */
  finishRunningJob(index: number): void {
    const running = [...this.agents.values()]
      .filter((a) => a.runner === 'busy')
      .map((a) => a.jobsTaken.at(-1));
    const jobId = running[index % Math.max(1, running.length)];
    if (jobId === undefined) return;
    try {
      this.github.finishJob(jobId);
    } catch {
      // Already completed (cancelled while running).
    }
  }

  cancel(index: number): void {
    const jobId = this.queuedJobs[index % Math.max(1, this.queuedJobs.length)];
    if (jobId !== undefined) this.github.cancelJob(jobId);
  }

  /** EC2 emits a state-change event for every change of state; derive them from the fake. */
  observeEc2(): void {
    for (const instance of this.compute.allInstances()) {
      if (this.seenStates.get(instance.id) === instance.state) continue;
      this.seenStates.set(instance.id, instance.state);
      this.ec2Events.push({ instanceId: instance.id, state: instance.state });
    }
  }

  /** Nothing in flight: no webhook or EC2 event waiting, every job finished, every pool ready at target. */
  private async settled(): Promise<boolean> {
    if (this.inbox.length > 0 || this.ec2Events.length > 0 || this.tagEvents.length > 0) return false;
    const repo = { owner: 'acme', name: 'app' };
    for (const id of this.queuedJobs) {
      const job = await this.github.getJob(repo, id);
      if (job !== undefined && job.status !== 'completed' && !job.labels.includes('ubuntu-latest'))
        return false;
    }
    const live = this.store.allInstances().filter((r) => r.state !== 'terminated');
    if (live.some((r) => r.state !== 'ready')) return false;
    if ((await this.jit.listPending()).length > 0) return false;
    if ((await this.github.listRunners({ kind: 'org', org: 'acme' }, 'wpr-')).length > 0) return false;
    if (this.compute.allInstances().some((i) => i.state !== 'terminated' && i.state !== 'stopped'))
      return false;
    return this.config.pools.every(
      (pool) => live.filter((r) => r.pool === pool.name).length === poolTarget(pool, this.clock.now()),
    );
  }

  /** Lets everything settle: deliveries, boots, jobs, schedules, until nothing changes. */
  async quiesce(): Promise<void> {
    this.compute.restoreCapacity();
    // Past the hot window: the tier drains, so that settled means every pool ready at its target.
    const windowEnd = Date.UTC(2026, 0, 5, 9, 30, 0);
    if (this.clock.now() < windowEnd) this.clock.advance(windowEnd - this.clock.now());
    for (let round = 0; round < 60 && !(await this.settled()); round++) {
      while (this.inbox.length > 0) await this.deliver(0);
      while (this.tagEvents.length > 0) await this.deliverTag(0);
      await this.deliverEc2Events();
      await this.tick();
      const busy = [...this.agents.values()].filter((a) => a.runner === 'busy').length;
      for (let i = 0; i < busy; i++) this.finishRunningJob(i);
      await this.deliverEc2Events();
      this.clock.advance(40_000);
      await this.reconcile();
      await this.tune();
      await this.deliverEc2Events();
    }
    while (this.inbox.length > 0) await this.deliver(0);
    while (this.tagEvents.length > 0) await this.deliverTag(0);
    await this.deliverEc2Events();
  }
}
