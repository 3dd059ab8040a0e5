/**
 * GitHubRunners: the GitHub side of a runner's life, through a GitHub App installation.
 * Transient failures (5xx, rate limits) are retried inside the adapter; what remains is a GitHubError.
 */
import type { Repository } from '../core/types.js';

/** Where runners register: the organization (in a runner group) or the job's repository. */
export type RunnerScope =
  | { readonly kind: 'org'; readonly org: string; readonly runnerGroup?: string }
  | { readonly kind: 'repo'; readonly repository: Repository };

export interface JitConfig {
  readonly runnerId: number;
  /** Secret: handed to one instance, never logged, never stored by the control plane. */
  readonly encodedJitConfig: string;
}

export interface RegisteredRunner {
  readonly id: number;
  readonly name: string;
  readonly status: 'online' | 'offline';
  readonly busy: boolean;
}

export interface GitHubJob {
  readonly id: number;
  readonly runId: number;
  readonly status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'pending' | 'requested';
  readonly conclusion: string | null;
  readonly runnerName: string | null;
  readonly labels: readonly string[];
}

/** One webhook delivery of one App (deliveries belong to the App whose webhook they went to). */
export interface HookDelivery {
  /** The configured name of the App that made the delivery. */
  readonly app: string;
  readonly id: number;
  readonly guid: string;
  readonly deliveredAt: number;
  readonly event: string;
  readonly action: string | null;
  readonly statusCode: number;
  readonly redelivery: boolean;
}

export interface GitHubRunners {
  createJitConfig(
    scope: RunnerScope,
    request: { runnerName: string; labels: readonly string[] },
  ): Promise<JitConfig>;
  deleteRunner(scope: RunnerScope, runnerId: number): Promise<'deleted' | 'not-found'>;
  /** Runners whose name starts with the prefix. */
  listRunners(scope: RunnerScope, namePrefix: string): Promise<RegisteredRunner[]>;
  /**
   * The names of every runner group of the organization (`Default` among them), read afresh: the
   * ahead-of-time check that the groups pools name exist. An organization the App cannot see is a
   * GitHubError.
   */
  listRunnerGroups(org: string): Promise<string[]>;
  getJob(repository: Repository, jobId: number): Promise<GitHubJob | undefined>;
  /** Re-runs one job of a workflow run (after a spot interruption). */
  rerunJob(repository: Repository, jobId: number): Promise<void>;
  /** The webhook deliveries of every App with a webhook, newest first, down to `since` (epoch ms). */
  listDeliveries(since: number): Promise<HookDelivery[]>;
  /** Asks the delivery's App to send it again; a delivery no App here made is a GitHubError 404. */
  redeliver(delivery: { readonly app: string; readonly id: number }): Promise<void>;
}

export class GitHubError extends Error {
  override readonly name: string = 'GitHubError';
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The runner group a scope names does not exist in its organization (a config mistake, not a fault of GitHub's). */
export class UnknownRunnerGroupError extends GitHubError {
  override readonly name = 'UnknownRunnerGroupError';
  constructor(
    readonly org: string,
    readonly group: string,
  ) {
    super(`runner group "${group}" does not exist in organization ${org}`, 404);
  }
}
