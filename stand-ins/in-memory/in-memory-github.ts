/**
 * InMemoryGitHub: the GitHubRunners port with GitHub's semantics, in memory, plus a small runner
 * simulation for the core's model tests.
 *
 * Invariants (the same the emulator in stand-ins/github keeps, both checked by the contract suite):
 * - runner ids are unique across every scope; runner names are unique within a scope (org or repo),
 *   and minting a JIT config for a taken name fails with GitHubError 409, as GitHub does;
 * - a JIT runner is ephemeral: it takes at most one job and is removed when that job completes;
 * - a runner takes the oldest queued job of its scope whose labels match: the job's labels,
 *   compared case-insensitively, are a subset of the runner's (`self-hosted` is implied);
 * - re-running a job creates a new job (a new attempt has a new id) in the same run; the old one stays,
 *   and GitHub refuses (403) while any job of that run is still live;
 * - every workflow_job event becomes a hook delivery; a dropped one is recorded with its status code
 *   and reaches the event outbox only when redelivered (same guid, `redelivery: true`).
 *
 * Gotchas: injected faults stand for what is left after the adapter's retries, so they surface as
 * GitHubError with the status GitHub would send. Ids and guids are deterministic (counters) so a
 * fast-check run replays exactly. The call log never holds a JIT config.
 */
import type { Repository, WorkflowJobEvent } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import {
  GitHubError,
  type GitHubJob,
  type GitHubRunners,
  type HookDelivery,
  type JitConfig,
  type RegisteredRunner,
  type RunnerScope,
  UnknownRunnerGroupError,
} from '../../scheduler/ports/github-runners.js';

export type GitHubMethod = keyof GitHubRunners;

export type GitHubFault =
  | { readonly kind: 'server-error'; readonly status?: 500 | 502 | 503 | 504 }
  | { readonly kind: 'secondary-rate-limit' }
  | { readonly kind: 'status'; readonly status: number; readonly message?: string };

export interface GitHubCall {
  readonly method: GitHubMethod;
  readonly args: readonly unknown[];
  readonly at: number;
  /** Set when an injected fault failed the call. */
  readonly failedWith?: number;
}

export type ConnectOutcome =
  | { readonly kind: 'took-job'; readonly jobId: number }
  | { readonly kind: 'idle' }
  | { readonly kind: 'not-registered' };

export interface QueueJobRequest {
  readonly repository: Repository;
  readonly labels: readonly string[];
  /** Groups jobs into one workflow run; a fresh run id when absent. */
  readonly runId?: number;
  readonly name?: string;
}

export interface InMemoryGitHubOptions {
  readonly clock?: Clock;
  /** The App's configured name, which its deliveries carry. Default `default`. */
  readonly app?: string;
}

interface RunnerState {
  readonly id: number;
  readonly name: string;
  readonly scopeKey: string;
  readonly labels: readonly string[];
  readonly runnerGroupId: number | undefined;
  status: 'online' | 'offline';
  busy: boolean;
  jobId: number | undefined;
  /** Order in which idle runners came online: the longest-waiting one gets the next job. */
  onlineSince: number;
}

interface JobState {
  readonly id: number;
  readonly runId: number;
  readonly repository: Repository;
  readonly labels: readonly string[];
  readonly name: string;
  readonly createdAt: number;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  runnerName: string | null;
  runnerId: number | null;
  startedAt: number | null;
  completedAt: number | null;
}

interface DeliveryState extends HookDelivery {
  readonly payload: WorkflowJobEvent;
}

const defaultGroupName = 'Default';
const defaultGroupId = 1;

export function labelsMatch(jobLabels: readonly string[], runnerLabels: readonly string[]): boolean {
  const offered = new Set(['self-hosted', ...runnerLabels.map((l) => l.toLowerCase())]);
  return jobLabels.every((label) => offered.has(label.toLowerCase()));
}

function scopeKey(scope: RunnerScope): string {
  return scope.kind === 'org'
    ? `org:${scope.org.toLowerCase()}`
    : `repo:${scope.repository.owner.toLowerCase()}/${scope.repository.name.toLowerCase()}`;
}

function sameRepository(a: Repository, b: Repository): boolean {
  return a.owner.toLowerCase() === b.owner.toLowerCase() && a.name.toLowerCase() === b.name.toLowerCase();
}

/** Whether a runner registered in `key` may take a job of `repository` (org runners serve its repos). */
function scopeServes(key: string, repository: Repository): boolean {
  return (
    key === `org:${repository.owner.toLowerCase()}` ||
    key === `repo:${repository.owner.toLowerCase()}/${repository.name.toLowerCase()}`
  );
}

export class InMemoryGitHub implements GitHubRunners {
  readonly calls: GitHubCall[] = [];
  private readonly clock: Clock;
  private readonly app: string;
  private readonly runners = new Map<number, RunnerState>();
  private readonly jobs = new Map<number, JobState>();
  private readonly deliveries: DeliveryState[] = [];
  private readonly outbox: WorkflowJobEvent[] = [];
  private readonly listeners = new Set<(event: WorkflowJobEvent) => void>();
  /** Per organization (lower case): group name (lower case) → the group as GitHub names it. */
  private readonly groups = new Map<string, Map<string, { id: number; name: string }>>();
  private readonly faults: { method: GitHubMethod | '*'; fault: GitHubFault; remaining: number }[] = [];
  private dropped: { remaining: number; statusCode: number } = { remaining: 0, statusCode: 502 };
  private nextRunnerId = 1;
  private nextJobId = 1000;
  private nextRunId = 500;
  private nextDeliveryId = 9000;
  private nextGroupId = 2;
  private onlineCounter = 0;

  constructor(options: InMemoryGitHubOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.app = options.app ?? 'default';
  }

  // ---- the port -------------------------------------------------------------------------------

  async createJitConfig(
    scope: RunnerScope,
    request: { runnerName: string; labels: readonly string[] },
  ): Promise<JitConfig> {
    this.enter('createJitConfig', [scope, request]);
    const key = scopeKey(scope);
    const runnerGroupId = scope.kind === 'org' ? this.groupId(scope.org, scope.runnerGroup) : undefined;
    if (request.labels.length === 0 || request.labels.length > 100) {
      throw new GitHubError('Validation failed: labels must hold 1 to 100 names', 422);
    }
    for (const runner of this.runners.values()) {
      if (runner.scopeKey === key && runner.name.toLowerCase() === request.runnerName.toLowerCase()) {
        throw new GitHubError(
          `Already exists - A runner with the name ${request.runnerName} already exists.`,
          409,
        );
      }
    }
    const runner: RunnerState = {
      id: this.nextRunnerId++,
      name: request.runnerName,
      scopeKey: key,
      labels: [...request.labels],
      runnerGroupId,
      status: 'offline',
      busy: false,
      jobId: undefined,
      onlineSince: 0,
    };
    this.runners.set(runner.id, runner);
    const blob = { runnerId: runner.id, name: runner.name, labels: runner.labels, scope: key };
    return { runnerId: runner.id, encodedJitConfig: Buffer.from(JSON.stringify(blob)).toString('base64') };
  }

  async deleteRunner(scope: RunnerScope, runnerId: number): Promise<'deleted' | 'not-found'> {
    this.enter('deleteRunner', [scope, runnerId]);
    const runner = this.runners.get(runnerId);
    if (!runner || runner.scopeKey !== scopeKey(scope)) return 'not-found';
    if (runner.busy) {
      throw new GitHubError(`Bad request - Runner "${runner.name}" is still running a job"`, 422);
    }
    this.runners.delete(runnerId);
    return 'deleted';
  }

  async listRunners(scope: RunnerScope, namePrefix: string): Promise<RegisteredRunner[]> {
    this.enter('listRunners', [scope, namePrefix]);
    const key = scopeKey(scope);
    return [...this.runners.values()]
      .filter((r) => r.scopeKey === key && r.name.startsWith(namePrefix))
      .sort((a, b) => a.id - b.id)
      .map((r) => ({ id: r.id, name: r.name, status: r.status, busy: r.busy }));
  }

  async listRunnerGroups(org: string): Promise<string[]> {
    this.enter('listRunnerGroups', [org]);
    return [...this.orgGroups(org).values()].sort((a, b) => a.id - b.id).map((g) => g.name);
  }

  async getJob(repository: Repository, jobId: number): Promise<GitHubJob | undefined> {
    this.enter('getJob', [repository, jobId]);
    const job = this.jobs.get(jobId);
    if (!job || !sameRepository(job.repository, repository)) return undefined;
    return {
      id: job.id,
      runId: job.runId,
      status: job.status,
      conclusion: job.conclusion,
      runnerName: job.runnerName,
      labels: [...job.labels],
    };
  }

  async rerunJob(repository: Repository, jobId: number): Promise<void> {
    this.enter('rerunJob', [repository, jobId]);
    const job = this.jobs.get(jobId);
    if (!job || !sameRepository(job.repository, repository)) throw new GitHubError('Not Found', 404);
    // GitHub re-runs a job as a new attempt of the whole run, so it refuses while any job of the run is live.
    if ([...this.jobs.values()].some((j) => j.runId === job.runId && j.status !== 'completed')) {
      throw new GitHubError('This workflow run is not completed and cannot be re-run', 403);
    }
    this.addJob({ repository: job.repository, labels: job.labels, runId: job.runId, name: job.name });
  }

  async listDeliveries(since: number): Promise<HookDelivery[]> {
    this.enter('listDeliveries', [since]);
    return this.deliveries
      .filter((d) => d.deliveredAt >= since)
      .sort((a, b) => b.deliveredAt - a.deliveredAt || b.id - a.id)
      .map(({ payload: _, ...delivery }) => delivery);
  }

  async redeliver(delivery: { readonly app: string; readonly id: number }): Promise<void> {
    this.enter('redeliver', [delivery]);
    const original = this.deliveries.find((d) => d.id === delivery.id && d.app === delivery.app);
    if (!original) throw new GitHubError('Not Found', 404);
    this.deliver(original.payload, true);
  }

  // ---- GitHub's side: jobs, runners, webhooks -------------------------------------------------

  /** Adds a runner group to an organization; `Default` (id 1) always exists. */
  addRunnerGroup(org: string, name: string): number {
    const groups = this.orgGroups(org);
    const existing = groups.get(name.toLowerCase());
    if (existing !== undefined) return existing.id;
    const id = this.nextGroupId++;
    groups.set(name.toLowerCase(), { id, name });
    return id;
  }

  /** A job is queued (a workflow run started or a job was re-run); an idle matching runner takes it. */
  queueJob(request: QueueJobRequest): GitHubJob {
    const job = this.addJob(request);
    const snapshot = this.snapshot(job);
    return snapshot;
  }

  /**
   * A JIT runner comes online with its config. It takes the oldest queued job it can serve, or waits
   * idle until one is queued. A runner deleted before it connects is refused, as GitHub refuses it.
   */
  connect(runnerName: string): ConnectOutcome {
    const runner = [...this.runners.values()].find((r) => r.name === runnerName);
    if (!runner) return { kind: 'not-registered' };
    if (runner.status === 'offline') {
      runner.status = 'online';
      runner.onlineSince = ++this.onlineCounter;
    }
    if (runner.busy && runner.jobId !== undefined) return { kind: 'took-job', jobId: runner.jobId };
    const job = [...this.jobs.values()]
      .filter((j) => j.status === 'queued' && scopeServes(runner.scopeKey, j.repository))
      .filter((j) => labelsMatch(j.labels, runner.labels))
      .sort((a, b) => a.createdAt - b.createdAt || a.id - b.id)[0];
    if (!job) return { kind: 'idle' };
    this.start(job, runner);
    return { kind: 'took-job', jobId: job.id };
  }

  /**
   * The runner's machine is gone (terminated, reclaimed) without the runner being removed: GitHub shows
   * it offline and hands it no more jobs. A busy runner's job is not touched.
   */
  disconnect(runnerName: string): void {
    const runner = [...this.runners.values()].find((r) => r.name === runnerName);
    if (runner !== undefined && !runner.busy) runner.status = 'offline';
  }

  /** The job's steps finished: the job completes and its ephemeral runner is removed. */
  finishJob(jobId: number, conclusion: 'success' | 'failure' = 'success'): void {
    const job = this.mustJob(jobId);
    if (job.status !== 'in_progress') throw new Error(`job ${jobId} is ${job.status}, not in_progress`);
    this.complete(job, conclusion);
  }

  /** Cancels a job: a queued one completes without a runner; a running one frees (removes) its runner. */
  cancelJob(jobId: number): void {
    const job = this.mustJob(jobId);
    if (job.status === 'completed') return;
    this.complete(job, 'cancelled');
  }

  /** Drains the workflow_job events that reached the webhook receiver, in delivery order. */
  takeEvents(): WorkflowJobEvent[] {
    return this.outbox.splice(0, this.outbox.length);
  }

  /** Calls the listener for every event that reaches the receiver (after it is put in the outbox). */
  subscribe(listener: (event: WorkflowJobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next `count` deliveries fail with `statusCode` (the receiver never sees them). */
  dropDeliveries(count: number, statusCode = 502): void {
    this.dropped = { remaining: count, statusCode };
  }

  /** The next `times` calls of `method` (or any method) fail with the fault. */
  injectFault(method: GitHubMethod | '*', fault: GitHubFault, times = 1): void {
    this.faults.push({ method, fault, remaining: times });
  }

  callsOf(method: GitHubMethod): GitHubCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  // ---- internals ------------------------------------------------------------------------------

  private enter(method: GitHubMethod, args: readonly unknown[]): void {
    const at = this.clock.now();
    const index = this.faults.findIndex((f) => f.remaining > 0 && (f.method === '*' || f.method === method));
    const armed = index >= 0 ? this.faults[index] : undefined;
    if (!armed) {
      this.calls.push({ method, args, at });
      return;
    }
    armed.remaining -= 1;
    if (armed.remaining === 0) this.faults.splice(index, 1);
    const error = faultError(armed.fault);
    this.calls.push({ method, args, at, failedWith: error.status ?? 0 });
    throw error;
  }

  private orgGroups(org: string): Map<string, { id: number; name: string }> {
    const key = org.toLowerCase();
    let groups = this.groups.get(key);
    if (!groups) {
      groups = new Map([[defaultGroupName.toLowerCase(), { id: defaultGroupId, name: defaultGroupName }]]);
      this.groups.set(key, groups);
    }
    return groups;
  }

  private groupId(org: string, name: string | undefined): number {
    if (name === undefined) return defaultGroupId;
    const group = this.orgGroups(org).get(name.toLowerCase());
    if (group === undefined) throw new UnknownRunnerGroupError(org, name);
    return group.id;
  }

  private addJob(request: QueueJobRequest): JobState {
    const job: JobState = {
      id: this.nextJobId++,
      runId: request.runId ?? this.nextRunId++,
      repository: { owner: request.repository.owner, name: request.repository.name },
      labels: [...request.labels],
      name: request.name ?? 'build',
      createdAt: this.clock.now(),
      status: 'queued',
      conclusion: null,
      runnerName: null,
      runnerId: null,
      startedAt: null,
      completedAt: null,
    };
    this.jobs.set(job.id, job);
    this.emit(job, 'queued');
    const idle = [...this.runners.values()]
      .filter((r) => r.status === 'online' && !r.busy && scopeServes(r.scopeKey, job.repository))
      .filter((r) => labelsMatch(job.labels, r.labels))
      .sort((a, b) => a.onlineSince - b.onlineSince)[0];
    if (idle) this.start(job, idle);
    return job;
  }

  private start(job: JobState, runner: RunnerState): void {
    job.status = 'in_progress';
    job.runnerName = runner.name;
    job.runnerId = runner.id;
    job.startedAt = this.clock.now();
    runner.busy = true;
    runner.jobId = job.id;
    this.emit(job, 'in_progress');
  }

  private complete(job: JobState, conclusion: string): void {
    if (job.runnerId !== null) this.runners.delete(job.runnerId);
    job.status = 'completed';
    job.conclusion = conclusion;
    job.completedAt = this.clock.now();
    this.emit(job, 'completed');
  }

  private mustJob(jobId: number): JobState {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    return job;
  }

  private snapshot(job: JobState): GitHubJob {
    return {
      id: job.id,
      runId: job.runId,
      status: job.status,
      conclusion: job.conclusion,
      runnerName: job.runnerName,
      labels: [...job.labels],
    };
  }

  private emit(job: JobState, action: 'queued' | 'in_progress' | 'completed'): void {
    const event: WorkflowJobEvent = {
      deliveryId: guidFor(this.nextDeliveryId),
      action,
      jobId: job.id,
      runId: job.runId,
      name: job.name,
      repository: job.repository,
      labels: job.labels,
      createdAt: job.createdAt,
      ...(job.startedAt !== null && action !== 'queued' ? { startedAt: job.startedAt } : {}),
      ...(job.completedAt !== null && action === 'completed' ? { completedAt: job.completedAt } : {}),
      ...(job.runnerName !== null && action !== 'queued' ? { runnerName: job.runnerName } : {}),
      ...(job.runnerId !== null && action !== 'queued' ? { runnerId: job.runnerId } : {}),
      ...(action === 'completed' && job.conclusion !== null ? { conclusion: job.conclusion } : {}),
    };
    this.deliver(event, false);
  }

  private deliver(payload: WorkflowJobEvent, redelivery: boolean): void {
    const id = this.nextDeliveryId++;
    const dropped = this.dropped.remaining > 0;
    if (dropped) this.dropped.remaining -= 1;
    this.deliveries.push({
      app: this.app,
      id,
      guid: payload.deliveryId,
      deliveredAt: this.clock.now(),
      event: 'workflow_job',
      action: payload.action,
      statusCode: dropped ? this.dropped.statusCode : 200,
      redelivery,
      payload,
    });
    if (dropped) return;
    this.outbox.push(payload);
    for (const listener of this.listeners) listener(payload);
  }
}

/** A deterministic v4-shaped guid, so replayed runs see the same delivery ids. */
function guidFor(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

function faultError(fault: GitHubFault): GitHubError {
  switch (fault.kind) {
    case 'server-error':
      return new GitHubError('Server Error', fault.status ?? 502);
    case 'secondary-rate-limit':
      return new GitHubError('You have exceeded a secondary rate limit', 403);
    case 'status':
      return new GitHubError(fault.message ?? `GitHub answered ${fault.status}`, fault.status);
  }
}
