/**
 * Builds the Octokit client the GitHubRunners adapter uses: authenticated as a GitHub App installation,
 * with the throttling and retry plugins, against api.github.com or a GitHub Enterprise Server
 * (`baseUrl: 'https://ghe.example.com/api/v3'`).
 *
 * Authentication (@octokit/auth-app): `/app/*` routes (webhook deliveries) are signed with a fresh App
 * JWT; every other call uses an installation token, which the library caches in memory (up to 15,000
 * tokens, 59 minutes each: one minute less than GitHub's one-hour expiry), so a warm Lambda mints one
 * token an hour. Build the client once per cold start to keep that cache.
 *
 * Retries, bounded so a webhook handler stays inside GitHub's 10 s delivery deadline:
 * - 5xx (retry plugin): `serverErrorRetries` times (default 2), waiting (n+1)² × `retryBaseMs` (0.5 s, 2 s).
 *   4xx answers that are outcomes (401/403/404/409/410/422/451) and rate limits (403/429, the
 *   throttling plugin's) are never retried here.
 * - primary and secondary rate limits (throttling plugin): `rateLimitRetries` times (default 1), and only
 *   when GitHub's `retry-after` (or reset) is at most `maxRateLimitWaitSeconds` (default 10); otherwise the
 *   call fails at once with GitHubError 403/429 and the reconciler catches up later.
 * - the throttling plugin also spaces mutating requests 1 s apart per process (GitHub's advice against
 *   secondary limits); `spaceWrites: false` turns that off, for tests and local runs only.
 *
 * Secrets: the private key only signs JWTs and is never logged. Octokit's errors redact the
 * authorization header but keep request and response bodies, so the adapter never passes them on.
 */
import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { type ThrottlingOptions, throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';

export interface GitHubAppLogger {
  warn(message: string, details?: Record<string, unknown>): void;
}

export interface GitHubAppOctokitOptions {
  readonly appId: number;
  /** PEM (PKCS#1 as GitHub issues it, or PKCS#8). Secret. */
  readonly privateKey: string;
  readonly installationId: number;
  /** Default https://api.github.com; a GHES API root ends in `/api/v3`. */
  readonly baseUrl?: string;
  /** Accept header for API calls; Octokit's default (`application/vnd.github.v3+json`) when absent. */
  readonly accept?: string;
  readonly serverErrorRetries?: number;
  readonly retryBaseMs?: number;
  readonly rateLimitRetries?: number;
  readonly maxRateLimitWaitSeconds?: number;
  /** Milliseconds per second of `retry-after`; GitHub's unit is 1000. Lower only in tests. */
  readonly rateLimitTimeUnitMs?: number;
  readonly spaceWrites?: boolean;
  readonly userAgent?: string;
  readonly log?: GitHubAppLogger;
}

const GitHubAppOctokitClass = Octokit.plugin(throttling, retry);
export type GitHubAppOctokit = InstanceType<typeof GitHubAppOctokitClass>;

/** Statuses that are answers, not transient faults; 403/429 rate limits belong to the throttling plugin. */
const doNotRetry = [400, 401, 403, 404, 409, 410, 422, 429, 451];

/** A write limiter that lets every request through at once (the plugin's own spaces them 1 s apart). */
const unspacedWrites = {
  key: () => ({
    schedule: <T>(_options: unknown, task: (...args: unknown[]) => Promise<T>, ...args: unknown[]) =>
      task(...args),
  }),
  // The plugin types its groups as Bottleneck.Group; it only ever calls key(id).schedule(options, task).
} as unknown as NonNullable<ThrottlingOptions['write']>;

export function createGitHubAppOctokit(options: GitHubAppOctokitOptions): GitHubAppOctokit {
  const log = options.log ?? { warn: (message, details) => console.warn(message, details ?? '') };
  const rateLimitRetries = options.rateLimitRetries ?? 1;
  const maxWait = options.maxRateLimitWaitSeconds ?? 10;
  const onLimit =
    (kind: 'rate limit' | 'secondary rate limit') =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const retrying = retryCount < rateLimitRetries && retryAfter <= maxWait;
      log.warn(`GitHub ${kind} on ${request.method} ${request.url}`, { retryAfter, retryCount, retrying });
      return retrying;
    };

  const octokit = new GitHubAppOctokitClass({
    authStrategy: createAppAuth,
    auth: { appId: options.appId, privateKey: options.privateKey, installationId: options.installationId },
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    // Octokit's own debug/info lines carry nothing we need, and its error lines are the request log's
    // "POST … - 409 in 3 ms" for answers the adapter turns into GitHubErrors that the core handles and
    // counts; warnings (deprecations) go to our logger without details.
    log: {
      debug: () => {},
      info: () => {},
      warn: (message: string) => log.warn(message),
      error: () => {},
    },
    throttle: {
      onRateLimit: onLimit('rate limit'),
      onSecondaryRateLimit: onLimit('secondary rate limit'),
      ...(options.rateLimitTimeUnitMs !== undefined
        ? { retryAfterBaseValue: options.rateLimitTimeUnitMs }
        : {}),
      ...(options.spaceWrites === false ? { write: unspacedWrites } : {}),
    },
    retry: {
      retries: options.serverErrorRetries ?? 2,
      retryAfterBaseValue: options.retryBaseMs ?? 500,
      doNotRetry,
    },
  });
  if (options.accept) {
    const accept = options.accept;
    octokit.hook.before('request', (request) => {
      request.headers.accept = accept;
    });
  }
  return octokit;
}

export interface GitHubAppCredentials {
  readonly appId: number;
  readonly installationId: number;
  /** PEM. Secret. */
  readonly privateKey: string;
}

export interface RenewingGitHubAppOptions {
  /** Reads the App's credentials; `fresh` asks to bypass any cache (after a 401). */
  readonly read: (options: { fresh: boolean }) => Promise<GitHubAppCredentials>;
  readonly build: (credentials: GitHubAppCredentials) => GitHubAppOctokit;
  readonly clock: { now(): number };
  /** How long a read is trusted before the key is read again; 5 minutes by default. */
  readonly keyTtlMs?: number;
  /** At most one forced re-read per this many ms, however many calls get a 401; 10 s by default. */
  readonly minRenewIntervalMs?: number;
}

/**
 * The App client for a long-lived (warm) process whose key may be rotated under it: the deploy guide
 * has operators add a new key, store it in the secret and delete the old one a minute later. The key
 * is read again every `keyTtlMs` and at once when GitHub answers 401; the client (and its token
 * cache) is rebuilt when the credentials changed, or on a 401 in any case (a revoked token stays in
 * the cache otherwise). Concurrent renewals share one read.
 */
export class RenewingGitHubApp {
  private readonly keyTtlMs: number;
  private readonly minRenewIntervalMs: number;
  private client:
    | { octokit: GitHubAppOctokit; credentials: GitHubAppCredentials; readAt: number }
    | undefined;
  private loading: Promise<GitHubAppOctokit> | undefined;
  private lastForcedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RenewingGitHubAppOptions) {
    this.keyTtlMs = options.keyTtlMs ?? 5 * 60_000;
    this.minRenewIntervalMs = options.minRenewIntervalMs ?? 10_000;
  }

  current(): Promise<GitHubAppOctokit> {
    const client = this.client;
    if (client !== undefined && this.options.clock.now() - client.readAt < this.keyTtlMs)
      return Promise.resolve(client.octokit);
    return this.load({ fresh: false, rebuild: false });
  }

  async renew(): Promise<boolean> {
    const now = this.options.clock.now();
    if (this.loading !== undefined) {
      await this.loading;
      return true;
    }
    if (now - this.lastForcedAt < this.minRenewIntervalMs) return false;
    this.lastForcedAt = now;
    await this.load({ fresh: true, rebuild: true });
    return true;
  }

  private load(how: { fresh: boolean; rebuild: boolean }): Promise<GitHubAppOctokit> {
    this.loading ??= (async () => {
      try {
        const credentials = await this.options.read({ fresh: how.fresh });
        const readAt = this.options.clock.now();
        const previous = this.client;
        const same = previous !== undefined && sameCredentials(previous.credentials, credentials);
        const octokit = same && !how.rebuild ? previous.octokit : this.options.build(credentials);
        this.client = { octokit, credentials, readAt };
        return octokit;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}

function sameCredentials(a: GitHubAppCredentials, b: GitHubAppCredentials): boolean {
  return a.appId === b.appId && a.installationId === b.installationId && a.privateKey === b.privateKey;
}
