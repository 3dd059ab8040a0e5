/**
 * What GitHub knows: Apps and their installations, repositories, runner groups, registered runners,
 * workflow jobs and hook deliveries, with the id sequences that number them. Runners, groups and jobs
 * belong to an organization (or repository), shared by every App installed there; a hook delivery
 * belongs to the App whose webhook it went to. Plain data and lookups; the behaviour that
 * changes it lives in runners.ts (the runner taking jobs), webhooks.ts and routes.ts.
 */
import { createHmac } from 'node:crypto';
import { isoSeconds } from './http.js';

export interface RunnerHandle {
  readonly runnerId: number;
  readonly runnerName: string;
  /** The job the runner took, once it took one. */
  readonly jobId: number | undefined;
  /** Resolves with the job id when the runner starts a job, or undefined if it is removed first. */
  readonly started: Promise<number | undefined>;
  /** Resolves when the runner process exits: after its job completed, or when deleted while idle. */
  readonly exited: Promise<'completed' | 'removed'>;
}

export interface RepoRef {
  readonly owner: string;
  readonly name: string;
  readonly id: number;
}

export interface RunnerControl {
  handle: RunnerHandle & { jobId: number | undefined };
  resolveStarted(jobId: number | undefined): void;
  resolveExited(how: 'completed' | 'removed'): void;
}

export interface RunnerState {
  readonly id: number;
  readonly name: string;
  /** `org:<login>` or `repo:<owner>/<name>`, lower case. */
  readonly scope: string;
  readonly labels: readonly string[];
  readonly groupId: number | undefined;
  readonly secret: string;
  status: 'online' | 'offline';
  busy: boolean;
  onlineOrder: number;
  jobId: number | undefined;
  handle: RunnerControl | undefined;
}

export interface JobState {
  readonly id: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly repository: RepoRef;
  readonly name: string;
  readonly workflowName: string;
  readonly labels: readonly string[];
  readonly durationMs: number;
  readonly createdAt: number;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'cancelled' | null;
  startedAt: number | null;
  completedAt: number | null;
  runnerId: number | null;
  runnerName: string | null;
  runnerGroupId: number | null;
  runnerGroupName: string | null;
  timer: NodeJS.Timeout | undefined;
  /** Serializes this job's webhooks so queued → in_progress → completed arrive in order. */
  chain: Promise<void>;
}

export type NewJob = Pick<
  JobState,
  'runId' | 'runAttempt' | 'repository' | 'name' | 'workflowName' | 'labels' | 'durationMs'
>;

export interface DeliveryRecord {
  readonly id: number;
  readonly guid: string;
  readonly deliveredAt: number;
  readonly redelivery: boolean;
  readonly duration: number;
  readonly status: string;
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
  /** The App whose webhook this delivery went to. */
  readonly appId: number;
  readonly installationId: number;
  readonly repositoryId: number | null;
  readonly body: string;
  readonly jobId: number | undefined;
}

export interface RunnerGroup {
  readonly id: number;
  readonly name: string;
}

export const defaultGroup: RunnerGroup = { id: 1, name: 'Default' };

/** An App's installation on one account (organization or user); installation ids are unique overall. */
export interface InstallationState {
  readonly id: number;
  readonly appId: number;
  /** The account's login. */
  readonly account: string;
}

export class GitHubState {
  readonly installations: Map<number, InstallationState>;
  readonly groups = new Map<string, RunnerGroup[]>();
  readonly runners = new Map<number, RunnerState>();
  readonly jobs = new Map<number, JobState>();
  readonly repositories = new Map<string, RepoRef>();
  readonly deliveries: DeliveryRecord[] = [];
  readonly ids = {
    runner: 1,
    job: 7_000_000_001,
    run: 9_000_000_001,
    delivery: 12_000_000_001,
    group: 2,
    repo: 800_001,
    online: 0,
  };

  constructor(
    installations: readonly InstallationState[],
    private readonly runnerGroups: Readonly<Record<string, readonly string[]>>,
    readonly now: () => number,
  ) {
    this.installations = new Map();
    for (const installation of installations) {
      if (this.installations.has(installation.id))
        throw new Error(`installation ${installation.id} is configured twice`);
      this.installations.set(installation.id, installation);
    }
    this.resetGroups();
  }

  /** Back to the configured runner groups only. */
  resetGroups(): void {
    this.groups.clear();
    for (const [org, names] of Object.entries(this.runnerGroups)) {
      for (const name of names) this.addRunnerGroup(org, name);
    }
  }

  addRunnerGroup(org: string, name: string): number {
    const groups = this.orgGroups(org);
    const existing = groups.find((g) => g.name.toLowerCase() === name.toLowerCase());
    if (existing) return existing.id;
    const id = this.ids.group++;
    groups.push({ id, name });
    return id;
  }

  orgGroups(org: string): RunnerGroup[] {
    const key = org.toLowerCase();
    let groups = this.groups.get(key);
    if (!groups) {
      groups = [{ ...defaultGroup }];
      this.groups.set(key, groups);
    }
    return groups;
  }

  groupById(id: number): RunnerGroup | undefined {
    for (const groups of this.groups.values()) {
      const found = groups.find((g) => g.id === id);
      if (found) return found;
    }
    return undefined;
  }

  addJob(spec: NewJob): JobState {
    const job: JobState = {
      ...spec,
      labels: [...spec.labels],
      id: this.ids.job++,
      createdAt: this.now(),
      status: 'queued',
      conclusion: null,
      startedAt: null,
      completedAt: null,
      runnerId: null,
      runnerName: null,
      runnerGroupId: null,
      runnerGroupName: null,
      timer: undefined,
      chain: Promise.resolve(),
    };
    this.jobs.set(job.id, job);
    return job;
  }

  repoJob(owner: string | undefined, repo: string | undefined, jobId: number): JobState | undefined {
    const job = this.jobs.get(jobId);
    const same =
      job &&
      job.repository.owner.toLowerCase() === owner?.toLowerCase() &&
      job.repository.name.toLowerCase() === repo?.toLowerCase();
    return same ? job : undefined;
  }

  /** The jobs of a run's latest attempt of each job name. */
  latestAttempts(runId: number): JobState[] {
    const latest = new Map<string, JobState>();
    for (const job of this.jobs.values()) {
      if (job.runId !== runId) continue;
      const seen = latest.get(job.name);
      if (!seen || seen.runAttempt < job.runAttempt) latest.set(job.name, job);
    }
    return [...latest.values()];
  }

  repo(owner: string, name: string): RepoRef {
    const key = `${owner}/${name}`.toLowerCase();
    let ref = this.repositories.get(key);
    if (!ref) {
      ref = { owner, name, id: this.ids.repo++ };
      this.repositories.set(key, ref);
    }
    return ref;
  }

  /** The App's installation on the account, if the App is installed there. */
  installationOf(appId: number, owner: string): InstallationState | undefined {
    for (const installation of this.installations.values())
      if (installation.appId === appId && installation.account.toLowerCase() === owner.toLowerCase())
        return installation;
    return undefined;
  }

  runnerJson(runner: RunnerState): Record<string, unknown> {
    let labelId = runner.id * 1000;
    return {
      id: runner.id,
      name: runner.name,
      os: 'linux',
      status: runner.status,
      busy: runner.busy,
      ephemeral: true,
      labels: [
        { id: labelId++, name: 'self-hosted', type: 'read-only' },
        ...runner.labels.map((name) => ({ id: labelId++, name, type: 'custom' })),
      ],
      ...(runner.groupId !== undefined ? { runner_group_id: runner.groupId } : {}),
    };
  }

  jobJson(job: JobState, publicUrl: string): Record<string, unknown> {
    const { owner, name } = job.repository;
    const api = `${publicUrl}/repos/${owner}/${name}`;
    return {
      id: job.id,
      run_id: job.runId,
      run_url: `${api}/actions/runs/${job.runId}`,
      run_attempt: job.runAttempt,
      node_id: Buffer.from(`CheckRun${job.id}`).toString('base64'),
      head_sha: createHmac('sha1', 'head').update(String(job.runId)).digest('hex'),
      url: `${api}/actions/jobs/${job.id}`,
      html_url: `https://github.com/${owner}/${name}/actions/runs/${job.runId}/job/${job.id}`,
      status: job.status,
      conclusion: job.conclusion,
      created_at: isoSeconds(job.createdAt),
      started_at: isoSeconds(job.startedAt ?? job.createdAt),
      completed_at: job.completedAt === null ? null : isoSeconds(job.completedAt),
      name: job.name,
      steps: [],
      check_run_url: `${api}/check-runs/${job.id}`,
      labels: [...job.labels],
      runner_id: job.runnerId,
      runner_name: job.runnerName,
      runner_group_id: job.runnerGroupId,
      runner_group_name: job.runnerGroupName,
      workflow_name: job.workflowName,
      head_branch: 'main',
    };
  }
}

export function repoScope(owner: string | undefined, repo: string | undefined): string {
  return `repo:${owner?.toLowerCase()}/${repo?.toLowerCase()}`;
}

export function scopeServes(scope: string, repository: RepoRef): boolean {
  const owner = repository.owner.toLowerCase();
  return scope === `org:${owner}` || scope === `repo:${owner}/${repository.name.toLowerCase()}`;
}
