/**
 * The runner side of GitHub: a runner application that starts with a JIT config comes online, takes the
 * oldest queued job of its scope whose labels (case-insensitively, `self-hosted` implied) it has, runs it
 * for the job's duration, completes it and is removed (JIT runners are ephemeral). Also JIT configs
 * themselves: shaped like the real thing, carrying the runner id.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  defaultGroup,
  type GitHubState,
  type JobState,
  type RunnerHandle,
  type RunnerState,
  scopeServes,
} from './state.js';
import type { Webhooks } from './webhooks.js';

export function labelsMatch(jobLabels: readonly string[], runnerLabels: readonly string[]): boolean {
  const offered = new Set(['self-hosted', ...runnerLabels.map((l) => l.toLowerCase())]);
  return jobLabels.every((label) => offered.has(label.toLowerCase()));
}

export class RunnerHost {
  closed = false;

  constructor(
    private readonly state: GitHubState,
    private readonly webhooks: Webhooks,
  ) {}

  connect(encodedJitConfig: string): RunnerHandle {
    const runnerId = decodeJitConfig(encodedJitConfig);
    const runner = runnerId === undefined ? undefined : this.state.runners.get(runnerId);
    if (!runner || runner.secret !== encodedJitConfig) {
      // A deleted (or forged) registration cannot open a session; the runner process exits at once.
      return {
        runnerId: runnerId ?? 0,
        runnerName: '',
        jobId: undefined,
        started: Promise.resolve(undefined),
        exited: Promise.resolve('removed'),
      };
    }
    if (runner.handle) throw new Error(`runner ${runner.name} is already connected`);
    let resolveStarted: (jobId: number | undefined) => void = () => {};
    let resolveExited: (how: 'completed' | 'removed') => void = () => {};
    const handle = {
      runnerId: runner.id,
      runnerName: runner.name,
      jobId: undefined as number | undefined,
      started: new Promise<number | undefined>((resolve) => {
        resolveStarted = resolve;
      }),
      exited: new Promise<'completed' | 'removed'>((resolve) => {
        resolveExited = resolve;
      }),
    };
    runner.handle = {
      handle,
      resolveStarted: (jobId) => resolveStarted(jobId),
      resolveExited: (how) => {
        resolveStarted(undefined);
        resolveExited(how);
      },
    };
    runner.status = 'online';
    runner.onlineOrder = ++this.state.ids.online;
    this.dispatch();
    return handle;
  }

  /** Pairs idle online runners (longest waiting first) with the oldest queued job each can serve. */
  dispatch(): void {
    if (this.closed) return;
    const idle = [...this.state.runners.values()]
      .filter((r) => r.status === 'online' && !r.busy && r.handle)
      .sort((a, b) => a.onlineOrder - b.onlineOrder);
    for (const runner of idle) {
      const job = [...this.state.jobs.values()]
        .filter((j) => j.status === 'queued' && scopeServes(runner.scope, j.repository))
        .filter((j) => labelsMatch(j.labels, runner.labels))
        .sort((a, b) => a.createdAt - b.createdAt || a.id - b.id)[0];
      if (job) this.start(job, runner);
    }
  }

  async complete(job: JobState, conclusion: 'success' | 'failure' | 'cancelled'): Promise<void> {
    clearTimeout(job.timer);
    const runner = job.runnerId === null ? undefined : this.state.runners.get(job.runnerId);
    job.status = 'completed';
    job.conclusion = conclusion;
    job.completedAt = this.state.now();
    job.startedAt ??= job.createdAt;
    if (runner) {
      // The runner was ephemeral: it exits after its one job and GitHub removes its registration.
      this.state.runners.delete(runner.id);
      runner.handle?.resolveExited('completed');
    }
    await this.webhooks.send(job, 'completed');
  }

  /** Stops every job timer and ends every runner process (close and reset). */
  stopAll(): void {
    for (const job of this.state.jobs.values()) clearTimeout(job.timer);
    for (const runner of this.state.runners.values()) runner.handle?.resolveExited('removed');
  }

  private start(job: JobState, runner: RunnerState): void {
    const group = runner.groupId === undefined ? undefined : this.state.groupById(runner.groupId);
    job.status = 'in_progress';
    job.startedAt = this.state.now();
    job.runnerId = runner.id;
    job.runnerName = runner.name;
    job.runnerGroupId = group?.id ?? defaultGroup.id;
    job.runnerGroupName = group?.name ?? defaultGroup.name;
    runner.busy = true;
    runner.jobId = job.id;
    if (runner.handle) {
      runner.handle.handle.jobId = job.id;
      runner.handle.resolveStarted(job.id);
    }
    void this.webhooks.send(job, 'in_progress');
    job.timer = setTimeout(() => void this.complete(job, 'success'), job.durationMs);
  }
}

/**
 * Shaped like the real thing (base64 JSON of base64 `.runner` and `.credentials` files), carrying a
 * random credential so each config is a distinct secret.
 */
export function encodeJitConfig(
  runnerId: number,
  name: string,
  labels: readonly string[],
  serverUrl: string,
): string {
  const file = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
  return file({
    '.runner': file({
      AgentId: runnerId,
      AgentName: name,
      Labels: labels,
      ServerUrl: serverUrl,
      WorkFolder: '_work',
      Ephemeral: true,
    }),
    '.credentials': file({
      Scheme: 'OAuth',
      Data: { clientId: randomUUID(), authorizationUrl: `${serverUrl}/_apis/oauth2/token` },
    }),
    '.credentials_rsaparams': file({ d: randomBytes(32).toString('base64') }),
  });
}

function decodeJitConfig(encoded: string): number | undefined {
  try {
    const outer = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as { '.runner'?: string };
    const runner = JSON.parse(Buffer.from(outer['.runner'] ?? '', 'base64').toString('utf8')) as {
      AgentId?: unknown;
    };
    return typeof runner.AgentId === 'number' ? runner.AgentId : undefined;
  } catch {
    return undefined;
  }
}
