/**
 * GitHubAppsRouter: the GitHubRunners port over several GitHub Apps, each installed on one or more
 * owners (organizations or users). Every call is routed by owner (`scope.org`, or the repository's
 * owner) to the (App, installation) pairs that serve that owner; each pair is an OctokitGitHubRunners
 * over its own Octokit client (createGitHubAppOctokit, renewed by RenewingGitHubApp on key rotation).
 *
 * Why several Apps: GitHub limits JIT registration per App (a secondary limit: ~180 mints a minute,
 * 900 points at 5 per POST) and requests per installation (a primary limit: 5,000 an hour). A second
 * App installed on the same organization doubles both, since runners and jobs belong to the organization
 * whichever App registered them.
 *
 * How a call picks its installation: each pair keeps a budget read from GitHub's answers,
 * `x-ratelimit-remaining/reset` (the primary limit is per installation), and each App a back-off until
 * `retry-after` after a secondary limit (a minute when GitHub gives no `retry-after`, as its docs
 * advise; the secondary limit is per App, so the back-off covers all of the App's installations). A call goes to the healthiest
 * pair for the owner: not backing off, not exhausted, the most requests left (less the calls in
 * flight, so that concurrent mints spread too), the configured order breaking ties. When GitHub
 * answers a rate limit, the pair is marked and the call goes at once to the next one: no waiting
 * inside a webhook, and a throttled App is never retried into before its back-off ends. When every pair
 * for the owner is throttled the call fails at once with GitHubError 429 (the job stays pending and the
 * reconciler provisions it later). An owner no App serves is a GitHubError naming it, not a crash.
 *
 * Where an owner has more than one pair, their clients wait out no rate limit themselves
 * (`rateLimitRetries: 0`): moving on is faster than waiting. A lone pair keeps the caller's settings, so
 * one App behaves as it always did.
 *
 * Deliveries belong to an App: `listDeliveries` merges the deliveries of every App with a webhook
 * (each tagged with the App's name), and `redeliver` goes through the App that made the delivery.
 *
 * `budgets()` is a read-only snapshot per pair for metrics and the CLI; it holds no secret.
 */
import type { Repository } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import {
  GitHubError,
  type GitHubJob,
  type GitHubRunners,
  type HookDelivery,
  type JitConfig,
  type RegisteredRunner,
  type RunnerScope,
} from '../ports/github-runners.js';
import {
  createGitHubAppOctokit,
  type GitHubAppLogger,
  type GitHubAppOctokit,
  type GitHubAppOctokitOptions,
  RenewingGitHubApp,
} from './github-app-auth.js';
import { OctokitGitHubRunners } from './github-runners.js';

export interface GitHubAppInstallation {
  readonly id: number;
  /** The organization or user the App is installed on. */
  readonly owner: string;
  /** `repo`: runners register with the job's repository (the core's concern; routing ignores it). */
  readonly runners?: 'org' | 'repo';
}

export interface GitHubAppConfig {
  /** The App's name in this deployment: deliveries carry it, budgets and logs name it. */
  readonly name: string;
  /** Where the App's id and private key are kept (handed to `readSecret`). */
  readonly secretArn: string;
  /** Whether the App's webhook points at this deployment: only such Apps' deliveries are listed. */
  readonly webhook: boolean;
  readonly installations: readonly GitHubAppInstallation[];
}

export interface GitHubAppSecret {
  readonly appId: number;
  /** PEM. Secret. */
  readonly privateKey: string;
}

export interface CreateGitHubAppsOptions {
  readonly apps: readonly GitHubAppConfig[];
  /** Reads an App's id and key; `fresh` asks to bypass any cache (GitHub answered 401). */
  readonly readSecret: (app: GitHubAppConfig, how: { fresh: boolean }) => Promise<GitHubAppSecret>;
  /** For every client: base URL, retries, Accept, logger… (`rateLimitTimeUnitMs` also scales back-offs). */
  readonly octokit?: Omit<GitHubAppOctokitOptions, 'appId' | 'privateKey' | 'installationId'>;
  /** Applied to every client once built, e.g. octokitAtCallDeadline. */
  readonly wrap?: (octokit: GitHubAppOctokit) => GitHubAppOctokit;
  readonly clock: Clock;
  /** Page size for runner and delivery lists. */
  readonly perPage?: number;
  /** How long a read App key is trusted (RenewingGitHubApp's `keyTtlMs`). */
  readonly keyTtlMs?: number;
  /** Where rate-limit notices go; the octokit options' logger by default. */
  readonly log?: GitHubAppLogger;
}

/** One (App, installation) pair's standing with GitHub, as last seen. */
export interface InstallationBudget {
  readonly app: string;
  readonly installation: number;
  readonly owner: string;
  /** Requests left in the primary window; undefined until GitHub has answered once. */
  readonly remaining: number | undefined;
  readonly limit: number | undefined;
  /** Epoch ms (the router's clock) when the primary window resets. */
  readonly resetAt: number | undefined;
  /** Epoch ms until which the pair is skipped (secondary limit, or primary exhausted); undefined if not. */
  readonly throttledUntil: number | undefined;
  /** JIT configs minted through the pair. */
  readonly mints: number;
  /** Rate-limited answers the pair got. */
  readonly throttled: number;
}

/** One (App, installation) pair: its client and its budget. */
interface Lane extends LaneBudget {
  readonly runners: OctokitGitHubRunners;
}

interface LaneBudget {
  readonly app: string;
  readonly installation: number;
  readonly owner: string;
  remaining: number | undefined;
  limit: number | undefined;
  resetAt: number | undefined;
  /** The App's secondary-limit back-off, shared by all its installations. */
  readonly backoff: { until: number | undefined };
  mints: number;
  throttled: number;
  inFlight: number;
}

/** GitHub's advice when a secondary limit comes without `retry-after`: wait at least a minute. */
const defaultSecondaryBackoffSeconds = 60;

export function createGitHubApps(options: CreateGitHubAppsOptions): GitHubAppsRouter {
  return new GitHubAppsRouter(options);
}

export class GitHubAppsRouter implements GitHubRunners {
  private readonly lanes: readonly Lane[];
  private readonly byOwner = new Map<string, Lane[]>();
  /** Per App with a webhook: the client its deliveries are read and redelivered through. */
  private readonly deliveries = new Map<string, OctokitGitHubRunners>();
  private readonly clock: Clock;
  private readonly unitMs: number;
  private readonly log: GitHubAppLogger | undefined;

  constructor(options: CreateGitHubAppsOptions) {
    const problems = configProblems(options.apps);
    if (problems.length > 0) throw new Error(`GitHub Apps are misconfigured: ${problems.join('; ')}`);
    this.clock = options.clock;
    this.unitMs = options.octokit?.rateLimitTimeUnitMs ?? 1000;
    this.log = options.log ?? options.octokit?.log;
    const owners = new Map<string, number>();
    for (const app of options.apps)
      for (const i of app.installations) owners.set(key(i.owner), (owners.get(key(i.owner)) ?? 0) + 1);

    const lanes: Lane[] = [];
    for (const app of options.apps) {
      const backoff: { until: number | undefined } = { until: undefined };
      for (const installation of app.installations) {
        const shared = (owners.get(key(installation.owner)) ?? 0) > 1;
        const budget: LaneBudget = {
          app: app.name,
          installation: installation.id,
          owner: installation.owner,
          remaining: undefined,
          limit: undefined,
          resetAt: undefined,
          backoff,
          mints: 0,
          throttled: 0,
          inFlight: 0,
        };
        const source = new RenewingGitHubApp({
          read: async (how) => {
            const secret = await options.readSecret(app, how);
            return { appId: secret.appId, privateKey: secret.privateKey, installationId: installation.id };
          },
          build: (credentials) => {
            const octokit = createGitHubAppOctokit({
              ...options.octokit,
              ...credentials,
              ...(shared && { rateLimitRetries: 0 }),
            });
            this.observe(octokit, budget);
            return options.wrap ? options.wrap(octokit) : octokit;
          },
          clock: options.clock,
          ...(options.keyTtlMs !== undefined && { keyTtlMs: options.keyTtlMs }),
        });
        const runners = new OctokitGitHubRunners(source, {
          app: app.name,
          ...(options.perPage !== undefined && { perPage: options.perPage }),
        });
        // The same object: the client's hooks keep updating the budget the router reads.
        const lane: Lane = Object.assign(budget, { runners });
        lanes.push(lane);
        const forOwner = this.byOwner.get(key(installation.owner)) ?? [];
        forOwner.push(lane);
        this.byOwner.set(key(installation.owner), forOwner);
        if (app.webhook && !this.deliveries.has(app.name)) this.deliveries.set(app.name, lane.runners);
      }
    }
    this.lanes = lanes;
  }

  /** Each pair's standing, as last seen; copies, and no secret among them. */
  budgets(): readonly InstallationBudget[] {
    return this.lanes.map((lane) =>
      Object.freeze({
        app: lane.app,
        installation: lane.installation,
        owner: lane.owner,
        remaining: lane.remaining,
        limit: lane.limit,
        resetAt: lane.resetAt,
        throttledUntil: this.blockedUntil(lane),
        mints: lane.mints,
        throttled: lane.throttled,
      }),
    );
  }

  // ---- the port ---------------------------------------------------------------------------------

  async createJitConfig(
    scope: RunnerScope,
    request: { runnerName: string; labels: readonly string[] },
  ): Promise<JitConfig> {
    return this.route(ownerOf(scope), 'create JIT config', async (lane) => {
      const jit = await lane.runners.createJitConfig(scope, request);
      lane.mints++;
      return jit;
    });
  }

  deleteRunner(scope: RunnerScope, runnerId: number): Promise<'deleted' | 'not-found'> {
    return this.route(ownerOf(scope), 'delete runner', (lane) => lane.runners.deleteRunner(scope, runnerId));
  }

  listRunners(scope: RunnerScope, namePrefix: string): Promise<RegisteredRunner[]> {
    return this.route(ownerOf(scope), 'list runners', (lane) => lane.runners.listRunners(scope, namePrefix));
  }

  listRunnerGroups(org: string): Promise<string[]> {
    return this.route(org, 'list runner groups', (lane) => lane.runners.listRunnerGroups(org));
  }

  getJob(repository: Repository, jobId: number): Promise<GitHubJob | undefined> {
    return this.route(repository.owner, 'get job', (lane) => lane.runners.getJob(repository, jobId));
  }

  rerunJob(repository: Repository, jobId: number): Promise<void> {
    return this.route(repository.owner, 're-run job', (lane) => lane.runners.rerunJob(repository, jobId));
  }

  async listDeliveries(since: number): Promise<HookDelivery[]> {
    // All or nothing: a list missing one App's deliveries would let the reconciler's cursor pass them.
    const lists = await Promise.all(
      [...this.deliveries.values()].map((runners) => runners.listDeliveries(since)),
    );
    return lists.flat().sort((a, b) => b.deliveredAt - a.deliveredAt || b.id - a.id);
  }

  async redeliver(delivery: { readonly app: string; readonly id: number }): Promise<void> {
    const runners = this.deliveries.get(delivery.app);
    if (runners === undefined)
      throw new GitHubError(
        `redeliver webhook: no App named "${delivery.app}" with a webhook (${[...this.deliveries.keys()].join(', ') || 'none'})`,
        404,
      );
    await runners.redeliver(delivery);
  }

  // ---- routing ----------------------------------------------------------------------------------

  /**
   * Runs the call through the healthiest pair for the owner; on a rate-limit answer, at once through
   * the next; fails with 429 when none is left. A refused call changed nothing on GitHub, so trying it
   * through another App is safe.
   */
  private async route<T>(owner: string, operation: string, call: (lane: Lane) => Promise<T>): Promise<T> {
    const lanes = this.byOwner.get(key(owner));
    if (lanes === undefined)
      throw new GitHubError(
        `${operation}: no GitHub App installation serves "${owner}" (served: ${[...this.byOwner.values()].map((l) => l[0]?.owner).join(', ')})`,
      );
    const tried = new Set<Lane>();
    for (;;) {
      const lane = this.healthiest(lanes, tried);
      if (lane === undefined) throw this.allThrottled(owner, operation, lanes);
      tried.add(lane);
      lane.inFlight++;
      try {
        return await call(lane);
      } catch (error) {
        const limited = error instanceof GitHubError && (error.status === 403 || error.status === 429);
        if (!(limited && this.blockedUntil(lane) !== undefined)) throw error;
      } finally {
        lane.inFlight--;
      }
    }
  }

  private healthiest(lanes: readonly Lane[], tried: ReadonlySet<Lane>): Lane | undefined {
    let best: Lane | undefined;
    let bestLeft = Number.NEGATIVE_INFINITY;
    for (const lane of lanes) {
      if (tried.has(lane) || this.blockedUntil(lane) !== undefined) continue;
      const left = (lane.remaining ?? Number.POSITIVE_INFINITY) - lane.inFlight;
      if (left > bestLeft) {
        best = lane;
        bestLeft = left;
      }
    }
    return best;
  }

  /** Until when the pair is skipped: its App's secondary back-off, or its primary budget spent; else undefined. */
  private blockedUntil(lane: LaneBudget): number | undefined {
    const now = this.clock.now();
    const until = lane.backoff.until;
    const backoff = until !== undefined && until > now ? until : undefined;
    const exhausted =
      lane.remaining === 0 && lane.resetAt !== undefined && lane.resetAt > now ? lane.resetAt : undefined;
    if (backoff === undefined) return exhausted;
    return exhausted === undefined ? backoff : Math.max(backoff, exhausted);
  }

  private allThrottled(owner: string, operation: string, lanes: readonly Lane[]): GitHubError {
    const until = Math.min(...lanes.map((l) => this.blockedUntil(l) ?? this.clock.now()));
    const apps = lanes.map((l) => `${l.app}/${l.installation}`).join(', ');
    return new GitHubError(
      `${operation}: every GitHub App installation for "${owner}" is rate limited (${apps}); the first frees up at ${new Date(until).toISOString()}`,
      429,
    );
  }

  /** Reads the pair's budget from every answer GitHub gives it (installation calls only, not `/app/*`). */
  private observe(octokit: GitHubAppOctokit, lane: LaneBudget): void {
    octokit.hook.after('request', (response, request) => {
      if (!isAppRoute(request.url)) this.record(lane, response.status, response.headers, '');
    });
    octokit.hook.error('request', (error, request) => {
      const failed = error as { status?: unknown; message?: unknown; response?: { headers?: unknown } };
      if (!isAppRoute(request.url) && typeof failed.status === 'number')
        this.record(
          lane,
          failed.status,
          (failed.response?.headers ?? {}) as Record<string, unknown>,
          String(failed.message ?? ''),
        );
      throw error;
    });
  }

  private record(lane: LaneBudget, status: number, headers: Record<string, unknown>, message: string): void {
    // A 401's rate-limit headers are the unauthenticated bucket's, not the installation's.
    if (status === 401) return;
    const now = this.clock.now();
    const remaining = numberOf(headers['x-ratelimit-remaining']);
    const limit = numberOf(headers['x-ratelimit-limit']);
    const reset = numberOf(headers['x-ratelimit-reset']);
    if (remaining !== undefined) lane.remaining = remaining;
    if (limit !== undefined) lane.limit = limit;
    // The reset is in epoch seconds; its distance from now is in GitHub seconds, scaled like retry-after.
    if (reset !== undefined) lane.resetAt = now + Math.max(0, reset - now / 1000) * this.unitMs;
    if (status !== 403 && status !== 429) return;
    const retryAfter = numberOf(headers['retry-after']);
    const primary = remaining === 0;
    // GitHub's docs: a secondary limit says so, or sends retry-after; a 429 is always a limit.
    const secondary =
      retryAfter !== undefined ||
      /\bsecondary rate\b|abuse detection/i.test(message) ||
      (status === 429 && !primary);
    if (!(primary || secondary)) return; // a 403 that is an answer (a refused re-run, a permission)
    if (secondary) {
      const until = now + (retryAfter ?? defaultSecondaryBackoffSeconds) * this.unitMs;
      lane.backoff.until = Math.max(lane.backoff.until ?? 0, until);
    }
    lane.throttled++;
    this.log?.warn(`GitHub App ${lane.app} (installation ${lane.installation}) is rate limited`, {
      owner: lane.owner,
      kind: secondary ? 'secondary' : 'primary',
      until: new Date(this.blockedUntil(lane) ?? now).toISOString(),
    });
  }
}

/** Everything wrong with the Apps' configuration, at once. */
export function configProblems(apps: readonly GitHubAppConfig[]): string[] {
  const problems: string[] = [];
  if (apps.length === 0) problems.push('no App is configured');
  const names = new Set<string>();
  const installations = new Set<number>();
  for (const app of apps) {
    if (app.name.length === 0) problems.push('an App has an empty name');
    if (names.has(app.name)) problems.push(`App name "${app.name}" is used twice`);
    names.add(app.name);
    if (app.installations.length === 0) problems.push(`App "${app.name}" has no installation`);
    const owners = new Set<string>();
    for (const installation of app.installations) {
      if (!(Number.isInteger(installation.id) && installation.id > 0))
        problems.push(`App "${app.name}" has an installation id that is not a positive integer`);
      if (installations.has(installation.id))
        problems.push(`installation ${installation.id} is configured twice`);
      installations.add(installation.id);
      if (owners.has(key(installation.owner)))
        problems.push(`App "${app.name}" is installed on "${installation.owner}" twice`);
      owners.add(key(installation.owner));
    }
  }
  return problems;
}

function ownerOf(scope: RunnerScope): string {
  return scope.kind === 'org' ? scope.org : scope.repository.owner;
}

function key(owner: string): string {
  return owner.toLowerCase();
}

function numberOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** `/app/*` routes are the App's own (JWT): they spend no installation's budget. */
function isAppRoute(url: unknown): boolean {
  const path = String(url)
    .replace(/^https?:\/\/[^/]+/, '')
    .replace(/^\/api\/v3(?=\/)/, '')
    .replace(/^(GET|POST|PUT|PATCH|DELETE) /, '');
  return path.startsWith('/app/');
}
