/**
 * OctokitGitHubRunners: the GitHubRunners port over GitHub's REST API, through an Octokit client built by
 * createGitHubAppOctokit (App installation auth, throttling and retry plugins, any base URL).
 *
 * Translation at the edge: 404 on delete is 'not-found', 404 on a job is undefined; every other failure
 * left after the plugins' retries is a GitHubError with GitHub's status. Errors carry GitHub's message,
 * the method and the route template only: never Octokit's error object (it keeps request and response
 * bodies), never a JIT config (a response body) or the private key; anything shaped like a key or a
 * long base64 blob is scrubbed from messages as a second line of defence.
 *
 * A rotated App key: the client comes from an OctokitSource (see RenewingGitHubApp), and a call answered
 * 401 asks the source to renew (re-read the key, rebuild the client) and is retried once when it did.
 *
 * Runner groups are named in pool config and resolved to ids through the org's runner-group list, cached
 * per organization for the client's lifetime (re-read once on a miss, so a group added later is found).
 *
 * Gotchas: GitHub filters runner lists by exact name only, so the prefix filter runs here after paging
 * through every runner. Delivery times have whole-second precision, so `listDeliveries(since)` compares at
 * that precision; callers wanting a margin should pass an earlier `since`.
 */
import type { Octokit } from '@octokit/rest';
import type { Repository } from '../core/types.js';
import {
  GitHubError,
  type GitHubJob,
  type GitHubRunners,
  type HookDelivery,
  type JitConfig,
  type RegisteredRunner,
  type RunnerScope,
  UnknownRunnerGroupError,
} from '../ports/github-runners.js';

/** Where the adapter gets its client: one that can be rebuilt when the App's credentials change. */
export interface OctokitSource {
  current(): Promise<Octokit>;
  /** GitHub answered 401: re-read the credentials and rebuild; true when a retry may now succeed. */
  renew(): Promise<boolean>;
}

export interface OctokitGitHubRunnersOptions {
  /** Page size for runner and delivery lists (GitHub's maximum is 100). */
  readonly perPage?: number;
  /** The App's configured name, which its deliveries carry; `singleAppName` by default. */
  readonly app?: string;
}

/** The name of a deployment's only App when none is configured (no `GITHUB_APPS`). */
export const singleAppName = 'default';

/** GitHub's default runner group, which every organization has. */
const defaultRunnerGroupId = 1;

const jobStatuses: readonly GitHubJob['status'][] = [
  'queued',
  'in_progress',
  'completed',
  'waiting',
  'pending',
  'requested',
];

/** Removes anything that could be a secret: PEM blocks, long base64/base64url runs, bearer credentials. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[REDACTED KEY]')
    .replace(/\b(token|bearer)\s+[\w.-]+/gi, '$1 [REDACTED]')
    .replace(/[A-Za-z0-9+/_-]{64,}={0,2}/g, '[REDACTED]');
}

export class OctokitGitHubRunners implements GitHubRunners {
  private readonly perPage: number;
  private readonly app: string;
  private readonly groupIds = new Map<string, Map<string, number>>();
  private readonly source: OctokitSource;

  constructor(octokit: Octokit | OctokitSource, options: OctokitGitHubRunnersOptions = {}) {
    this.perPage = options.perPage ?? 100;
    this.app = options.app ?? singleAppName;
    this.source =
      'current' in octokit && typeof octokit.current === 'function'
        ? (octokit as OctokitSource)
        : { current: async () => octokit as Octokit, renew: async () => false };
  }

  async createJitConfig(
    scope: RunnerScope,
    request: { runnerName: string; labels: readonly string[] },
  ): Promise<JitConfig> {
    const body = { name: request.runnerName, labels: [...request.labels], work_folder: '_work' };
    const { data } = await this.call('create JIT config', async (octokit) => {
      if (scope.kind === 'org') {
        const groupId =
          scope.runnerGroup === undefined
            ? defaultRunnerGroupId
            : await this.runnerGroupId(octokit, scope.org, scope.runnerGroup);
        return octokit.request('POST /orgs/{org}/actions/runners/generate-jitconfig', {
          org: scope.org,
          runner_group_id: groupId,
          ...body,
        });
      }
      return octokit.request('POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig', {
        owner: scope.repository.owner,
        repo: scope.repository.name,
        runner_group_id: defaultRunnerGroupId,
        ...body,
      });
    });
    return { runnerId: data.runner.id, encodedJitConfig: data.encoded_jit_config };
  }

  async deleteRunner(scope: RunnerScope, runnerId: number): Promise<'deleted' | 'not-found'> {
    try {
      await this.call('delete runner', (octokit) =>
        scope.kind === 'org'
          ? octokit.request('DELETE /orgs/{org}/actions/runners/{runner_id}', {
              org: scope.org,
              runner_id: runnerId,
            })
          : octokit.request('DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}', {
              owner: scope.repository.owner,
              repo: scope.repository.name,
              runner_id: runnerId,
            }),
      );
      return 'deleted';
    } catch (error) {
      if (error instanceof GitHubError && error.status === 404) return 'not-found';
      throw error;
    }
  }

  async listRunners(scope: RunnerScope, namePrefix: string): Promise<RegisteredRunner[]> {
    const runners = await this.call('list runners', (octokit) =>
      scope.kind === 'org'
        ? octokit.paginate('GET /orgs/{org}/actions/runners', { org: scope.org, per_page: this.perPage })
        : octokit.paginate('GET /repos/{owner}/{repo}/actions/runners', {
            owner: scope.repository.owner,
            repo: scope.repository.name,
            per_page: this.perPage,
          }),
    );
    return runners
      .filter((runner) => runner.name.startsWith(namePrefix))
      .map((runner) => ({
        id: runner.id,
        name: runner.name,
        status: runner.status === 'online' ? 'online' : 'offline',
        busy: runner.busy,
      }));
  }

  async getJob(repository: Repository, jobId: number): Promise<GitHubJob | undefined> {
    try {
      const { data } = await this.call('get job', (octokit) =>
        octokit.request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}', {
          owner: repository.owner,
          repo: repository.name,
          job_id: jobId,
        }),
      );
      const status = jobStatuses.find((s) => s === data.status);
      if (!status) throw new GitHubError(`get job: GitHub reported unknown status ${data.status}`);
      return {
        id: Number(data.id),
        runId: Number(data.run_id),
        status,
        conclusion: data.conclusion,
        runnerName: data.runner_name,
        labels: data.labels,
      };
    } catch (error) {
      if (error instanceof GitHubError && error.status === 404) return undefined;
      throw error;
    }
  }

  async rerunJob(repository: Repository, jobId: number): Promise<void> {
    await this.call('re-run job', (octokit) =>
      octokit.request('POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun', {
        owner: repository.owner,
        repo: repository.name,
        job_id: jobId,
      }),
    );
  }

  async listDeliveries(since: number): Promise<HookDelivery[]> {
    const sinceSeconds = Math.floor(since / 1000) * 1000;
    return this.call('list webhook deliveries', async (octokit) => {
      const deliveries: HookDelivery[] = [];
      // Newest first: stop paging at the first delivery older than `since`.
      const pages = octokit.paginate.iterator('GET /app/hook/deliveries', { per_page: this.perPage });
      for await (const { data } of pages) {
        for (const item of data) {
          const deliveredAt = Date.parse(item.delivered_at);
          if (deliveredAt < sinceSeconds) return deliveries;
          deliveries.push({
            app: this.app,
            id: item.id,
            guid: item.guid,
            deliveredAt,
            event: item.event,
            action: item.action,
            statusCode: item.status_code,
            redelivery: item.redelivery,
          });
        }
      }
      return deliveries;
    });
  }

  async redeliver(delivery: { readonly app: string; readonly id: number }): Promise<void> {
    if (delivery.app !== this.app)
      throw new GitHubError(
        `redeliver webhook: delivery ${delivery.id} is App "${delivery.app}"'s, not "${this.app}"'s`,
        404,
      );
    await this.call('redeliver webhook', (octokit) =>
      octokit.request('POST /app/hook/deliveries/{delivery_id}/attempts', { delivery_id: delivery.id }),
    );
  }

  async listRunnerGroups(org: string): Promise<string[]> {
    const groups = await this.call('list runner groups', (octokit) => this.readRunnerGroups(octokit, org));
    return groups.map((g) => g.name);
  }

  private async runnerGroupId(octokit: Octokit, org: string, name: string): Promise<number> {
    const cached = this.groupIds.get(org.toLowerCase())?.get(name.toLowerCase());
    if (cached !== undefined) return cached;
    const groups = await this.readRunnerGroups(octokit, org);
    const id = groups.find((g) => g.name.toLowerCase() === name.toLowerCase())?.id;
    if (id === undefined) throw new UnknownRunnerGroupError(org, name);
    return id;
  }

  /** Every runner group of the organization, paged through; refreshes the name → id cache. */
  private async readRunnerGroups(octokit: Octokit, org: string): Promise<{ id: number; name: string }[]> {
    const groups = await octokit.paginate('GET /orgs/{org}/actions/runner-groups', {
      org,
      per_page: this.perPage,
    });
    this.groupIds.set(org.toLowerCase(), new Map(groups.map((g) => [g.name.toLowerCase(), g.id])));
    return groups.map((g) => ({ id: g.id, name: g.name }));
  }

  /**
   * Runs one GitHub call and turns whatever it throws into a GitHubError that holds no secret. A 401
   * (a deleted App key, a revoked token) renews the client and retries once.
   */
  private async call<T>(operation: string, run: (octokit: Octokit) => Promise<T>): Promise<T> {
    try {
      return await run(await this.source.current());
    } catch (error) {
      if (!(isRequestError(error) && error.status === 401)) throw toGitHubError(operation, error);
      const renewed = await this.source.renew().catch((cause: unknown) => {
        throw toGitHubError(`${operation}: renewing the App credentials`, cause);
      });
      if (!renewed) throw toGitHubError(operation, error);
    }
    try {
      return await run(await this.source.current());
    } catch (error) {
      throw toGitHubError(operation, error);
    }
  }
}

function toGitHubError(operation: string, error: unknown): GitHubError {
  if (error instanceof GitHubError) return error;
  if (isRequestError(error)) {
    const route = `${error.request.method} ${routeOf(error.request.url)}`;
    const data = error.response?.data as { message?: unknown } | undefined;
    const said = typeof data?.message === 'string' ? data.message : error.message;
    const message = scrubSecrets(`${operation}: GitHub answered ${error.status} to ${route}: ${said}`);
    const requestId = error.response?.headers['x-github-request-id'];
    // The cause names the request without Octokit's error object, whose request/response carry bodies.
    const cause = new Error(`${route} → ${error.status}${requestId ? ` (request id ${requestId})` : ''}`);
    return new GitHubError(message, error.status, { cause });
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new GitHubError(scrubSecrets(`${operation}: ${text}`), undefined, {
    cause: new Error(scrubSecrets(text)),
  });
}

/**
 * Octokit's RequestError (name 'HttpError'), recognised by shape: @octokit/request-error is not a direct
 * dependency, and the shape is all the translation needs.
 */
interface RequestErrorShape {
  readonly name: string;
  readonly message: string;
  readonly status: number;
  readonly request: { readonly method: string; readonly url: string };
  readonly response?: {
    readonly data?: unknown;
    readonly headers: Readonly<Record<string, string | number | undefined>>;
  };
}

function isRequestError(error: unknown): error is RequestErrorShape {
  if (!(error instanceof Error) || error.name !== 'HttpError') return false;
  const candidate = error as Partial<RequestErrorShape>;
  return typeof candidate.status === 'number' && typeof candidate.request?.url === 'string';
}

/** The URL's path without the query string (which may hold a cursor) and without the host. */
function routeOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0] ?? url;
  }
}
