/**
 * GitHubEmulator: a stateful stand-in for api.github.com (or a GHES `/api/v3`) over HTTP on 127.0.0.1,
 * for the endpoints the control plane uses, and GitHub's side of a runner's life: it queues workflow
 * jobs, sends signed workflow_job webhooks, and plays the runner that connects with a JIT config.
 *
 * Wire behaviour:
 * - `/app/*` needs an App JWT (RS256, checked against the App's public key); everything else needs an
 *   installation token minted by POST /app/installations/{id}/access_tokens (401 otherwise).
 * - runner names are unique per scope (409), ids unique overall; a busy runner cannot be deleted (422);
 *   lists paginate with `page`/`per_page` and a Link header, deliveries with a `cursor`.
 * - a runner takes the oldest queued job of its scope whose labels (case-insensitively, `self-hosted`
 *   implied) it has; it runs for the job's duration, completes it and is removed (JIT runners are
 *   ephemeral). Re-running a job makes a new attempt with a new job id, refused (403) while the run is live.
 * - every webhook is recorded as a hook delivery; dropped ones are recorded as failed, and redelivery
 *   through the API really re-sends the same body under the same guid with `redelivery: true`.
 *
 * Determinism for tests: webhook sends finish before the call that caused them returns (queueWorkflowRun,
 * rerun, redeliver), and each job's webhooks go out in order. Timestamps come from `now` (injectable);
 * JWT and token validity use the wall clock, as the signer does. Responses follow GitHub's OpenAPI
 * description; tests put a validating proxy in front to prove it.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyAppJwt } from './app-jwt.js';
import { workflowJobPayload } from './workflow-job-payload.js';

export interface GitHubEmulatorOptions {
  readonly appId: number;
  /** The App's public key (PEM); App JWTs must verify against it. */
  readonly appPublicKey: string;
  /** Installations of the App: id → account login. Default `{ 1: 'acme' }`. */
  readonly installations?: Readonly<Record<number, string>>;
  /** Where the App's webhooks go, and the secret they are signed with. */
  readonly webhook?: { readonly url: string; readonly secret: string };
  /** GitHub's clock for timestamps it reports (epoch ms). */
  readonly now?: () => number;
  /** Runner groups besides `Default` (id 1), by organization. */
  readonly runnerGroups?: Readonly<Record<string, readonly string[]>>;
  /** GitHub gives up on a webhook after 10 s and records the delivery as failed. */
  readonly webhookTimeoutMs?: number;
  readonly tokenTtlMs?: number;
}

export type EmulatorFault =
  | { readonly kind: 'server-error'; readonly status?: 500 | 502 | 503 | 504 }
  | {
      readonly kind: 'secondary-rate-limit';
      readonly status?: 403 | 429;
      readonly retryAfterSeconds?: number;
    }
  | { readonly kind: 'rate-limit'; readonly status?: 403 | 429; readonly resetInSeconds?: number }
  /** A 200 whose body breaks GitHub's schema: proves the validating proxy catches a bad response. */
  | { readonly kind: 'invalid-response' }
  /** Any answer GitHub might give, e.g. an error whose message echoes something it should not. */
  | { readonly kind: 'status'; readonly status: number; readonly message: string };

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** `METHOD /template`, e.g. `POST /orgs/{org}/actions/runners/generate-jitconfig`; undefined if unrouted. */
  readonly operation: string | undefined;
  readonly status: number;
  /** Whether the request came under the GHES `/api/v3` prefix. */
  readonly ghesPrefix: boolean;
  readonly auth: 'app-jwt' | 'installation-token' | 'none' | 'invalid';
  readonly accept: string | undefined;
  /** Wall-clock arrival time, for retry spacing checks. */
  readonly receivedAt: number;
}

export interface EmulatedJobSpec {
  readonly name?: string;
  readonly labels: readonly string[];
  /** How long the job runs once a runner takes it. Default 0. */
  readonly durationMs?: number;
}

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

export interface HeldDelivery {
  readonly guid: string;
  readonly event: string;
  readonly action: string | null;
  readonly jobId: number | undefined;
}

interface RepoRef {
  readonly owner: string;
  readonly name: string;
  readonly id: number;
}

interface RunnerState {
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

interface RunnerControl {
  handle: RunnerHandle & { jobId: number | undefined };
  resolveStarted(jobId: number | undefined): void;
  resolveExited(how: 'completed' | 'removed'): void;
}

interface JobState {
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

interface DeliveryRecord {
  readonly id: number;
  readonly guid: string;
  readonly deliveredAt: number;
  readonly redelivery: boolean;
  readonly duration: number;
  readonly status: string;
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
  readonly installationId: number;
  readonly repositoryId: number | null;
  readonly body: string;
  readonly jobId: number | undefined;
}

interface OutgoingWebhook {
  readonly guid: string;
  readonly event: string;
  readonly action: string | null;
  readonly body: string;
  readonly installationId: number;
  readonly repositoryId: number | null;
  readonly jobId: number | undefined;
  readonly redelivery: boolean;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

interface Context {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly installationId: number | undefined;
  /** Base for absolute URLs in Link headers: what the client called (proxy included), GHES prefix kept. */
  readonly base: string;
}

type Handler = (ctx: Context) => Reply | Promise<Reply>;

interface Route {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly auth: 'app-jwt' | 'installation-token';
  readonly handler: Handler;
}

const docs = 'https://docs.github.com/rest';
const defaultGroup = { id: 1, name: 'Default' };

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function labelsMatch(jobLabels: readonly string[], runnerLabels: readonly string[]): boolean {
  const offered = new Set(['self-hosted', ...runnerLabels.map((l) => l.toLowerCase())]);
  return jobLabels.every((label) => offered.has(label.toLowerCase()));
}

function error(status: number, message: string, headers?: Record<string, string>): Reply {
  return {
    status,
    body: { message, documentation_url: docs, status: String(status) },
    ...(headers ? { headers } : {}),
  };
}

function pageOf<T>(items: readonly T[], query: URLSearchParams): { page: T[]; next?: number; last: number } {
  const perPage = Math.min(Math.max(Number(query.get('per_page') ?? 30) || 30, 1), 100);
  const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
  const last = Math.max(Math.ceil(items.length / perPage), 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return page < last ? { page: slice, next: page + 1, last } : { page: slice, last };
}

function linkHeader(
  base: string,
  path: string,
  query: URLSearchParams,
  rels: Record<string, Record<string, string>>,
): string {
  return Object.entries(rels)
    .map(([rel, overrides]) => {
      const q = new URLSearchParams(query);
      for (const [k, v] of Object.entries(overrides)) q.set(k, v);
      return `<${base}${path}?${q.toString()}>; rel="${rel}"`;
    })
    .join(', ');
}

export class GitHubEmulator {
  /** Every request our clients made, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Set this to the URL clients use (e.g. a validating proxy) so Link headers point there. */
  publicUrl: string;
  private readonly now: () => number;
  private readonly installations: Map<number, string>;
  private webhook: { url: string; secret: string } | undefined;
  private readonly webhookTimeoutMs: number;
  private readonly tokenTtlMs: number;
  private readonly tokens = new Map<string, { installationId: number; expiresAt: number }>();
  private readonly groups = new Map<string, { id: number; name: string }[]>();
  private readonly runners = new Map<number, RunnerState>();
  private readonly jobs = new Map<number, JobState>();
  private readonly repositories = new Map<string, RepoRef>();
  private readonly deliveries: DeliveryRecord[] = [];
  private readonly faults: { operation: string; fault: EmulatorFault; remaining: number }[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly routes: Route[];
  private drop: { share: number; statusCode: number; random: () => number } | undefined;
  private held: OutgoingWebhook[] | undefined;
  private ids = {
    runner: 1,
    job: 7_000_000_001,
    run: 9_000_000_001,
    delivery: 12_000_000_001,
    group: 2,
    repo: 800_001,
    online: 0,
  };
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: GitHubEmulatorOptions,
  ) {
    this.publicUrl = url;
    this.now = options.now ?? Date.now;
    this.installations = new Map(
      Object.entries(options.installations ?? { 1: 'acme' }).map(([k, v]) => [Number(k), v]),
    );
    this.webhook = options.webhook ? { ...options.webhook } : undefined;
    this.webhookTimeoutMs = options.webhookTimeoutMs ?? 10_000;
    this.tokenTtlMs = options.tokenTtlMs ?? 60 * 60 * 1000;
    for (const [org, names] of Object.entries(options.runnerGroups ?? {})) {
      for (const name of names) this.addRunnerGroup(org, name);
    }
    this.routes = this.buildRoutes();
  }

  static async start(options: GitHubEmulatorOptions): Promise<GitHubEmulator> {
    let emulator: GitHubEmulator | undefined;
    const server = createServer((req, res) => {
      if (!emulator) return void res.writeHead(503).end();
      emulator.handle(req, res).catch((cause: unknown) => {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ message: String(cause) }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    emulator = new GitHubEmulator(server, `http://127.0.0.1:${port}`, options);
    return emulator;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    for (const runner of this.runners.values()) runner.handle?.resolveExited('removed');
    await Promise.allSettled([...this.inFlight]);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- test API: GitHub's side --------------------------------------------------------------------

  /**
   * Forgets runners, jobs, deliveries, runner groups (back to the configured ones), faults and drops, so
   * one emulator (and the validating proxy in front of it) can serve many tests. Tokens stay valid.
   */
  async reset(): Promise<void> {
    await this.idle();
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    for (const runner of this.runners.values()) runner.handle?.resolveExited('removed');
    this.runners.clear();
    this.jobs.clear();
    this.deliveries.length = 0;
    this.requests.length = 0;
    this.faults.length = 0;
    this.drop = undefined;
    this.held = undefined;
    this.groups.clear();
    for (const [org, names] of Object.entries(this.options.runnerGroups ?? {})) {
      for (const name of names) this.addRunnerGroup(org, name);
    }
  }

  setWebhook(webhook: { url: string; secret: string } | undefined): void {
    this.webhook = webhook ? { ...webhook } : undefined;
  }

  addRunnerGroup(org: string, name: string): number {
    const groups = this.orgGroups(org);
    const existing = groups.find((g) => g.name.toLowerCase() === name.toLowerCase());
    if (existing) return existing.id;
    const id = this.ids.group++;
    groups.push({ id, name });
    return id;
  }

  /**
   * A workflow run starts: its jobs are queued and a `queued` webhook goes out for each, then idle
   * runners take what they can serve. Resolves once those webhooks were answered.
   */
  async queueWorkflowRun(run: {
    readonly repository: { readonly owner: string; readonly name: string };
    readonly workflowName?: string;
    readonly jobs: readonly EmulatedJobSpec[];
  }): Promise<{ runId: number; jobIds: number[] }> {
    const repository = this.repo(run.repository.owner, run.repository.name);
    const runId = this.ids.run++;
    const jobs = run.jobs.map((spec, index) =>
      this.addJob({
        runId,
        runAttempt: 1,
        repository,
        name: spec.name ?? `job-${index + 1}`,
        workflowName: run.workflowName ?? 'CI',
        labels: spec.labels,
        durationMs: spec.durationMs ?? 0,
      }),
    );
    await Promise.all(jobs.map((job) => this.send(job, 'queued')));
    this.dispatch();
    return { runId, jobIds: jobs.map((j) => j.id) };
  }

  /**
   * The runner application starts with a JIT config this emulator minted: the runner comes online and
   * takes the oldest matching queued job (now or when one is queued), runs it for its duration, and exits.
   */
  connectRunner(encodedJitConfig: string): RunnerHandle {
    const runnerId = decodeJitConfig(encodedJitConfig);
    const runner = runnerId === undefined ? undefined : this.runners.get(runnerId);
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
    runner.onlineOrder = ++this.ids.online;
    this.dispatch();
    return handle;
  }

  /** Cancels a job: a queued one completes with no runner; a running one stops and frees its runner. */
  async cancelJob(jobId: number): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (job.status === 'completed') return;
    await this.complete(job, 'cancelled');
  }

  /** Waits for every webhook send and redelivery in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  // ---- test API: faults -----------------------------------------------------------------------------

  /** The next `times` requests to `operation` ('METHOD /template' or '*') get the fault instead. */
  injectFault(operation: string, fault: EmulatorFault, times = 1): void {
    this.faults.push({ operation, fault, remaining: times });
  }

  /**
   * A share of webhook deliveries fails (the receiver never sees them); each is recorded as a failed
   * delivery with `statusCode`, redeliverable through the API. `random` decides; share 1 drops all.
   */
  dropDeliveries(share: number, options: { statusCode?: number; random?: () => number } = {}): void {
    this.drop =
      share > 0
        ? { share, statusCode: options.statusCode ?? 502, random: options.random ?? Math.random }
        : undefined;
  }

  /** Holds outgoing webhooks instead of sending them, to release later in another order. */
  holdDeliveries(): void {
    this.held ??= [];
  }

  heldDeliveries(): HeldDelivery[] {
    return (this.held ?? []).map(({ guid, event, action, jobId }) => ({ guid, event, action, jobId }));
  }

  /** Sends the held webhooks one by one in the order `arrange` gives (default: as held), and stops holding. */
  async releaseDeliveries(
    arrange: (held: HeldDelivery[]) => readonly HeldDelivery[] = (h) => h,
  ): Promise<void> {
    const held = this.held ?? [];
    this.held = undefined;
    const byGuid = new Map(held.map((h) => [h.guid, h]));
    const listed = held.map(({ guid, event, action, jobId }) => ({ guid, event, action, jobId }));
    for (const choice of arrange(listed)) {
      const webhook = byGuid.get(choice.guid);
      if (webhook) await this.post(webhook);
    }
  }

  /** Sends a delivered webhook again, byte for byte and under the same guid, as GitHub sometimes does. */
  async duplicateDelivery(guid: string): Promise<void> {
    const original = this.deliveries.find((d) => d.guid === guid);
    if (!original) throw new Error(`no delivery ${guid}`);
    await this.post({ ...original, redelivery: false });
  }

  /** The hook deliveries GitHub recorded, oldest first. */
  deliveryLog(): Omit<DeliveryRecord, 'body'>[] {
    return this.deliveries.map(({ body: _, ...rest }) => rest);
  }

  jobState(
    jobId: number,
  ): { status: string; conclusion: string | null; runnerName: string | null } | undefined {
    const job = this.jobs.get(jobId);
    return job && { status: job.status, conclusion: job.conclusion, runnerName: job.runnerName };
  }

  runner(
    runnerId: number,
  ):
    | { name: string; labels: readonly string[]; groupId: number | undefined; status: string; busy: boolean }
    | undefined {
    const runner = this.runners.get(runnerId);
    return (
      runner && {
        name: runner.name,
        labels: runner.labels,
        groupId: runner.groupId,
        status: runner.status,
        busy: runner.busy,
      }
    );
  }

  requestsTo(operation: string): RecordedRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  // ---- HTTP -----------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://github.test');
    const ghesPrefix = url.pathname.startsWith('/api/v3/');
    const path = ghesPrefix ? url.pathname.slice('/api/v3'.length) : url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    const record = (status: number, operation: string | undefined, auth: RecordedRequest['auth']) =>
      this.requests.push({
        method,
        path,
        operation,
        status,
        ghesPrefix,
        auth,
        accept: req.headers.accept,
        receivedAt: Date.now(),
      });

    let route: Route | undefined;
    let params: Record<string, string> = {};
    for (const candidate of this.routes) {
      const match = candidate.method === method ? candidate.pattern.exec(path) : null;
      if (match) {
        route = candidate;
        params = Object.fromEntries(
          candidate.names.map((n, i) => [n, decodeURIComponent(match[i + 1] ?? '')]),
        );
        break;
      }
    }
    if (!route) {
      record(404, undefined, 'none');
      return this.reply(res, error(404, 'Not Found'));
    }
    const operation = `${route.method} ${route.template}`;

    const authorization = req.headers.authorization ?? '';
    const auth = this.authenticate(authorization, route.auth);
    if (!auth.ok) {
      record(401, operation, 'invalid');
      return this.reply(res, error(401, auth.message));
    }

    const fault = this.takeFault(operation);
    if (fault) {
      const reply = this.faultReply(fault, route);
      record(reply.status, operation, route.auth);
      return this.reply(res, reply);
    }

    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        record(400, operation, route.auth);
        return this.reply(res, error(400, 'Problems parsing JSON'));
      }
    }
    const base = `${this.publicUrl}${ghesPrefix ? '/api/v3' : ''}`;
    const reply = await route.handler({
      params,
      query: url.searchParams,
      body,
      installationId: auth.installationId,
      base,
    });
    record(reply.status, operation, route.auth);
    this.reply(res, reply);
  }

  private reply(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = {
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    const text = JSON.stringify(reply.body);
    res
      .writeHead(reply.status, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
      })
      .end(text);
  }

  private authenticate(
    authorization: string,
    needed: Route['auth'],
  ): { ok: true; installationId: number | undefined } | { ok: false; message: string } {
    const [scheme = '', credential = ''] = authorization.split(' ');
    if (needed === 'app-jwt') {
      if (scheme.toLowerCase() !== 'bearer')
        return { ok: false, message: 'A JSON web token could not be decoded' };
      const check = verifyAppJwt(credential, {
        appId: this.options.appId,
        publicKey: this.options.appPublicKey,
      });
      return check.ok ? { ok: true, installationId: undefined } : { ok: false, message: check.reason };
    }
    const token = ['token', 'bearer'].includes(scheme.toLowerCase())
      ? this.tokens.get(credential)
      : undefined;
    if (!token || token.expiresAt <= Date.now()) return { ok: false, message: 'Bad credentials' };
    return { ok: true, installationId: token.installationId };
  }

  private takeFault(operation: string): EmulatorFault | undefined {
    const index = this.faults.findIndex(
      (f) => f.remaining > 0 && (f.operation === '*' || f.operation === operation),
    );
    const armed = this.faults[index];
    if (!armed) return undefined;
    armed.remaining -= 1;
    if (armed.remaining === 0) this.faults.splice(index, 1);
    return armed.fault;
  }

  private faultReply(fault: EmulatorFault, route: Route): Reply {
    switch (fault.kind) {
      case 'server-error':
        return { status: fault.status ?? 502, body: { message: 'Server Error' } };
      case 'secondary-rate-limit':
        return error(
          fault.status ?? 403,
          'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          { 'retry-after': String(fault.retryAfterSeconds ?? 60) },
        );
      case 'rate-limit':
        return error(fault.status ?? 403, 'API rate limit exceeded for installation.', {
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + (fault.resetInSeconds ?? 60)),
        });
      case 'status':
        return error(fault.status, fault.message);
      case 'invalid-response':
        // The success status of the operation, with a body that matches no schema of GitHub's.
        return {
          status: route.method === 'POST' ? 201 : 200,
          body: { total_count: 'many', unexpected: true },
        };
    }
  }

  // ---- routes ---------------------------------------------------------------------------------------

  private buildRoutes(): Route[] {
    const route = (method: string, template: string, auth: Route['auth'], handler: Handler): Route => {
      const names: string[] = [];
      const source = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { method, template, pattern: new RegExp(`^${source}$`), names, auth, handler };
    };
    return [
      route('POST', '/app/installations/{installation_id}/access_tokens', 'app-jwt', (ctx) =>
        this.createToken(Number(ctx.params.installation_id)),
      ),
      route('GET', '/app/hook/deliveries', 'app-jwt', (ctx) => this.listDeliveries(ctx)),
      route('POST', '/app/hook/deliveries/{delivery_id}/attempts', 'app-jwt', (ctx) =>
        this.redeliver(Number(ctx.params.delivery_id)),
      ),
      route('GET', '/orgs/{org}/actions/runner-groups', 'installation-token', (ctx) => this.listGroups(ctx)),
      route('GET', '/orgs/{org}/actions/runners', 'installation-token', (ctx) =>
        this.listRunners(
          ctx,
          `org:${ctx.params.org?.toLowerCase()}`,
          `/orgs/${ctx.params.org}/actions/runners`,
        ),
      ),
      route('GET', '/repos/{owner}/{repo}/actions/runners', 'installation-token', (ctx) =>
        this.listRunners(
          ctx,
          repoScope(ctx.params.owner, ctx.params.repo),
          `/repos/${ctx.params.owner}/${ctx.params.repo}/actions/runners`,
        ),
      ),
      route('POST', '/orgs/{org}/actions/runners/generate-jitconfig', 'installation-token', (ctx) =>
        this.generateJitConfig(ctx, `org:${ctx.params.org?.toLowerCase()}`, ctx.params.org ?? ''),
      ),
      route('POST', '/repos/{owner}/{repo}/actions/runners/generate-jitconfig', 'installation-token', (ctx) =>
        this.generateJitConfig(ctx, repoScope(ctx.params.owner, ctx.params.repo), undefined),
      ),
      route('DELETE', '/orgs/{org}/actions/runners/{runner_id}', 'installation-token', (ctx) =>
        this.deleteRunner(`org:${ctx.params.org?.toLowerCase()}`, Number(ctx.params.runner_id)),
      ),
      route('DELETE', '/repos/{owner}/{repo}/actions/runners/{runner_id}', 'installation-token', (ctx) =>
        this.deleteRunner(repoScope(ctx.params.owner, ctx.params.repo), Number(ctx.params.runner_id)),
      ),
      route('GET', '/repos/{owner}/{repo}/actions/jobs/{job_id}', 'installation-token', (ctx) => {
        const job = this.repoJob(ctx.params.owner, ctx.params.repo, Number(ctx.params.job_id));
        return job ? { status: 200, body: this.jobJson(job) } : error(404, 'Not Found');
      }),
      route('POST', '/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun', 'installation-token', (ctx) =>
        this.rerun(ctx.params.owner, ctx.params.repo, Number(ctx.params.job_id)),
      ),
    ];
  }

  private createToken(installationId: number): Reply {
    if (!this.installations.has(installationId)) return error(404, 'Not Found');
    const token = `ghs_${randomBytes(18).toString('base64url')}`;
    const expiresAt = Date.now() + this.tokenTtlMs;
    this.tokens.set(token, { installationId, expiresAt });
    return {
      status: 201,
      body: {
        token,
        expires_at: isoSeconds(expiresAt),
        permissions: { organization_self_hosted_runners: 'write', administration: 'write', actions: 'write' },
        repository_selection: 'all',
      },
    };
  }

  private listGroups(ctx: Context): Reply {
    const org = ctx.params.org ?? '';
    const groups = this.orgGroups(org);
    const { page, next, last } = pageOf(groups, ctx.query);
    const base = `${ctx.base}/orgs/${org}/actions/runner-groups`;
    return {
      status: 200,
      body: {
        total_count: groups.length,
        runner_groups: page.map((g) => ({
          id: g.id,
          name: g.name,
          visibility: 'all',
          default: g.id === defaultGroup.id,
          runners_url: `${base}/${g.id}/runners`,
          inherited: false,
          allows_public_repositories: false,
          restricted_to_workflows: false,
          selected_workflows: [],
          workflow_restrictions_read_only: false,
        })),
      },
      ...(next
        ? {
            headers: {
              link: linkHeader(ctx.base, `/orgs/${org}/actions/runner-groups`, ctx.query, {
                next: { page: String(next) },
                last: { page: String(last) },
              }),
            },
          }
        : {}),
    };
  }

  private listRunners(ctx: Context, scope: string, path: string): Reply {
    const name = ctx.query.get('name');
    const runners = [...this.runners.values()]
      .filter((r) => r.scope === scope && (name === null || r.name === name))
      .sort((a, b) => a.id - b.id);
    const { page, next, last } = pageOf(runners, ctx.query);
    return {
      status: 200,
      body: { total_count: runners.length, runners: page.map((r) => this.runnerJson(r)) },
      ...(next
        ? {
            headers: {
              link: linkHeader(ctx.base, path, ctx.query, {
                next: { page: String(next) },
                last: { page: String(last) },
              }),
            },
          }
        : {}),
    };
  }

  private generateJitConfig(ctx: Context, scope: string, org: string | undefined): Reply {
    const body = ctx.body as { name?: unknown; runner_group_id?: unknown; labels?: unknown } | undefined;
    const labels = body?.labels;
    if (
      typeof body?.name !== 'string' ||
      body.name.length === 0 ||
      !Number.isInteger(body.runner_group_id) ||
      !Array.isArray(labels) ||
      labels.length === 0 ||
      labels.length > 100 ||
      !labels.every((l) => typeof l === 'string' && l.length > 0)
    ) {
      return error(422, 'Validation Failed');
    }
    const name = body.name;
    const groupId = body.runner_group_id as number;
    if (org !== undefined && !this.orgGroups(org).some((g) => g.id === groupId))
      return error(404, 'Not Found');
    if (
      [...this.runners.values()].some((r) => r.scope === scope && r.name.toLowerCase() === name.toLowerCase())
    ) {
      return error(409, `Already exists - A runner with the name ${name} already exists.`);
    }
    const id = this.ids.runner++;
    const secret = encodeJitConfig(id, name, labels as string[], this.publicUrl);
    const runner: RunnerState = {
      id,
      name,
      scope,
      labels: [...(labels as string[])],
      groupId: org !== undefined ? groupId : undefined,
      secret,
      status: 'offline',
      busy: false,
      onlineOrder: 0,
      jobId: undefined,
      handle: undefined,
    };
    this.runners.set(id, runner);
    return { status: 201, body: { runner: this.runnerJson(runner), encoded_jit_config: secret } };
  }

  private deleteRunner(scope: string, runnerId: number): Reply {
    const runner = this.runners.get(runnerId);
    if (!runner || runner.scope !== scope) return error(404, 'Not Found');
    if (runner.busy) return error(422, `Bad request - Runner "${runner.name}" is still running a job"`);
    this.runners.delete(runnerId);
    runner.handle?.resolveExited('removed');
    return { status: 204 };
  }

  private async rerun(owner: string | undefined, repo: string | undefined, jobId: number): Promise<Reply> {
    const job = this.repoJob(owner, repo, jobId);
    if (!job) return error(404, 'Not Found');
    const latest = this.latestAttempts(job.runId);
    if (latest.some((j) => j.status !== 'completed')) {
      return error(403, 'This workflow run is not completed and cannot be re-run');
    }
    const attempt = Math.max(...latest.map((j) => j.runAttempt)) + 1;
    const again = this.addJob({
      runId: job.runId,
      runAttempt: attempt,
      repository: job.repository,
      name: job.name,
      workflowName: job.workflowName,
      labels: job.labels,
      durationMs: job.durationMs,
    });
    await this.send(again, 'queued');
    this.dispatch();
    return { status: 201, body: {} };
  }

  private listDeliveries(ctx: Context): Reply {
    const perPage = Math.min(Math.max(Number(ctx.query.get('per_page') ?? 30) || 30, 1), 100);
    const cursor = ctx.query.get('cursor');
    const before = cursor?.startsWith('v1_') ? Number(cursor.slice(3)) : Number.POSITIVE_INFINITY;
    const status = ctx.query.get('status');
    const matching = [...this.deliveries]
      .sort((a, b) => b.id - a.id)
      .filter((d) => d.id < before)
      .filter(
        (d) =>
          status === null ||
          (status === 'success'
            ? d.statusCode >= 200 && d.statusCode < 400
            : d.statusCode >= 400 && d.statusCode < 600),
      );
    const page = matching.slice(0, perPage);
    const last = page.at(-1);
    return {
      status: 200,
      body: page.map((d) => ({
        id: d.id,
        guid: d.guid,
        delivered_at: isoSeconds(d.deliveredAt),
        redelivery: d.redelivery,
        duration: d.duration,
        status: d.status,
        status_code: d.statusCode,
        event: d.event,
        action: d.action,
        installation_id: d.installationId,
        repository_id: d.repositoryId,
        throttled_at: null,
      })),
      ...(matching.length > perPage && last
        ? {
            headers: {
              link: linkHeader(ctx.base, '/app/hook/deliveries', ctx.query, {
                next: { cursor: `v1_${last.id}` },
              }),
            },
          }
        : {}),
    };
  }

  private async redeliver(deliveryId: number): Promise<Reply> {
    const original = this.deliveries.find((d) => d.id === deliveryId);
    if (!original) return error(404, 'Not Found');
    await this.track(this.post({ ...original, redelivery: true }));
    return { status: 202, body: {} };
  }

  // ---- jobs and runners -----------------------------------------------------------------------------

  private addJob(
    spec: Omit<
      JobState,
      | 'id'
      | 'createdAt'
      | 'status'
      | 'conclusion'
      | 'startedAt'
      | 'completedAt'
      | 'runnerId'
      | 'runnerName'
      | 'runnerGroupId'
      | 'runnerGroupName'
      | 'timer'
      | 'chain'
    >,
  ): JobState {
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

  /** Pairs idle online runners (longest waiting first) with the oldest queued job each can serve. */
  private dispatch(): void {
    if (this.closed) return;
    const idle = [...this.runners.values()]
      .filter((r) => r.status === 'online' && !r.busy && r.handle)
      .sort((a, b) => a.onlineOrder - b.onlineOrder);
    for (const runner of idle) {
      const job = [...this.jobs.values()]
        .filter((j) => j.status === 'queued' && scopeServes(runner.scope, j.repository))
        .filter((j) => labelsMatch(j.labels, runner.labels))
        .sort((a, b) => a.createdAt - b.createdAt || a.id - b.id)[0];
      if (job) this.start(job, runner);
    }
  }

  private start(job: JobState, runner: RunnerState): void {
    const group = runner.groupId === undefined ? undefined : this.groupById(runner.groupId);
    job.status = 'in_progress';
    job.startedAt = this.now();
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
    void this.send(job, 'in_progress');
    job.timer = setTimeout(() => void this.complete(job, 'success'), job.durationMs);
  }

  private async complete(job: JobState, conclusion: 'success' | 'failure' | 'cancelled'): Promise<void> {
    clearTimeout(job.timer);
    const runner = job.runnerId === null ? undefined : this.runners.get(job.runnerId);
    job.status = 'completed';
    job.conclusion = conclusion;
    job.completedAt = this.now();
    job.startedAt ??= job.createdAt;
    if (runner) {
      // The runner was ephemeral: it exits after its one job and GitHub removes its registration.
      this.runners.delete(runner.id);
      runner.handle?.resolveExited('completed');
    }
    await this.send(job, 'completed');
  }

  private runnerJson(runner: RunnerState): Record<string, unknown> {
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

  private jobJson(job: JobState): Record<string, unknown> {
    const { owner, name } = job.repository;
    const api = `${this.publicUrl}/repos/${owner}/${name}`;
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

  private repoJob(owner: string | undefined, repo: string | undefined, jobId: number): JobState | undefined {
    const job = this.jobs.get(jobId);
    const same =
      job &&
      job.repository.owner.toLowerCase() === owner?.toLowerCase() &&
      job.repository.name.toLowerCase() === repo?.toLowerCase();
    return same ? job : undefined;
  }

  /** The jobs of a run's latest attempt of each job name. */
  private latestAttempts(runId: number): JobState[] {
    const latest = new Map<string, JobState>();
    for (const job of this.jobs.values()) {
      if (job.runId !== runId) continue;
      const seen = latest.get(job.name);
      if (!seen || seen.runAttempt < job.runAttempt) latest.set(job.name, job);
    }
    return [...latest.values()];
  }

  private repo(owner: string, name: string): RepoRef {
    const key = `${owner}/${name}`.toLowerCase();
    let ref = this.repositories.get(key);
    if (!ref) {
      ref = { owner, name, id: this.ids.repo++ };
      this.repositories.set(key, ref);
    }
    return ref;
  }

  private orgGroups(org: string): { id: number; name: string }[] {
    const key = org.toLowerCase();
    let groups = this.groups.get(key);
    if (!groups) {
      groups = [{ ...defaultGroup }];
      this.groups.set(key, groups);
    }
    return groups;
  }

  private groupById(id: number): { id: number; name: string } | undefined {
    for (const groups of this.groups.values()) {
      const found = groups.find((g) => g.id === id);
      if (found) return found;
    }
    return undefined;
  }

  private installationFor(owner: string): number {
    for (const [id, account] of this.installations)
      if (account.toLowerCase() === owner.toLowerCase()) return id;
    return [...this.installations.keys()][0] ?? 1;
  }

  // ---- webhooks -------------------------------------------------------------------------------------

  private send(job: JobState, action: 'queued' | 'in_progress' | 'completed'): Promise<void> {
    const installationId = this.installationFor(job.repository.owner);
    const payload = workflowJobPayload({
      action,
      job: {
        id: job.id,
        runId: job.runId,
        runAttempt: job.runAttempt,
        name: job.name,
        workflowName: job.workflowName,
        labels: job.labels,
        status: job.status === 'queued' || action === 'queued' ? 'queued' : action,
        conclusion: action === 'completed' ? job.conclusion : null,
        createdAt: isoSeconds(job.createdAt),
        startedAt: isoSeconds(job.startedAt ?? job.createdAt),
        completedAt: action === 'completed' && job.completedAt !== null ? isoSeconds(job.completedAt) : null,
        runnerId: action === 'queued' ? null : job.runnerId,
        runnerName: action === 'queued' ? null : job.runnerName,
        runnerGroupId: action === 'queued' ? null : job.runnerGroupId,
        runnerGroupName: action === 'queued' ? null : job.runnerGroupName,
      },
      repository: job.repository,
      installationId,
    });
    const webhook: OutgoingWebhook = {
      guid: randomUUID(),
      event: 'workflow_job',
      action,
      body: JSON.stringify(payload),
      installationId,
      repositoryId: job.repository.id,
      jobId: job.id,
      redelivery: false,
    };
    job.chain = job.chain.then(() => this.post(webhook));
    return this.track(job.chain);
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  /** Sends one webhook (or holds or drops it) and records the delivery as GitHub would. */
  private async post(webhook: OutgoingWebhook): Promise<void> {
    if (this.held && !webhook.redelivery) {
      this.held.push(webhook);
      return;
    }
    const startedAt = Date.now();
    const record = (statusCode: number, status: string) =>
      this.deliveries.push({
        id: this.ids.delivery++,
        guid: webhook.guid,
        deliveredAt: this.now(),
        redelivery: webhook.redelivery,
        duration: (Date.now() - startedAt) / 1000,
        status,
        statusCode,
        event: webhook.event,
        action: webhook.action,
        installationId: webhook.installationId,
        repositoryId: webhook.repositoryId,
        body: webhook.body,
        jobId: webhook.jobId,
      });
    if (!webhook.redelivery && this.drop && this.drop.random() < this.drop.share) {
      record(this.drop.statusCode, `Invalid HTTP Response: ${this.drop.statusCode}`);
      return;
    }
    if (!this.webhook || this.closed) {
      record(502, 'failed to connect');
      return;
    }
    const signature = createHmac('sha256', this.webhook.secret).update(webhook.body).digest('hex');
    try {
      const response = await fetch(this.webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/emulator',
          'x-github-event': webhook.event,
          'x-github-delivery': webhook.guid,
          'x-github-hook-id': '1',
          'x-github-hook-installation-target-type': 'integration',
          'x-github-hook-installation-target-id': String(this.options.appId),
          'x-hub-signature-256': `sha256=${signature}`,
        },
        body: webhook.body,
        signal: AbortSignal.timeout(this.webhookTimeoutMs),
      });
      await response.arrayBuffer();
      record(response.status, response.ok ? 'OK' : `Invalid HTTP Response: ${response.status}`);
    } catch (cause) {
      const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
      record(timedOut ? 504 : 502, timedOut ? 'timed out' : 'failed to connect');
    }
  }
}

function repoScope(owner: string | undefined, repo: string | undefined): string {
  return `repo:${owner?.toLowerCase()}/${repo?.toLowerCase()}`;
}

function scopeServes(scope: string, repository: RepoRef): boolean {
  const owner = repository.owner.toLowerCase();
  return scope === `org:${owner}` || scope === `repo:${owner}/${repository.name.toLowerCase()}`;
}

/**
 * Shaped like the real thing (base64 JSON of base64 `.runner` and `.credentials` files), carrying a
 * random credential so each config is a distinct secret.
 */
function encodeJitConfig(
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
