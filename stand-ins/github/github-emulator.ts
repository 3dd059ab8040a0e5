/**
 * GitHubEmulator: a stateful stand-in for api.github.com (or a GHES `/api/v3`) over HTTP on 127.0.0.1,
 * for the endpoints the control plane uses, and GitHub's side of a runner's life: it queues workflow
 * jobs, sends signed workflow_job webhooks, and plays the runner that connects with a JIT config.
 *
 * Several GitHub Apps may be installed on the same organizations: runners, runner groups and jobs belong
 * to the organization (every App installed there sees them), deliveries to the App whose webhook they
 * went to, and an installation token opens only its own account's endpoints. GitHub's rate limits are
 * enforced (limits.ts): a primary budget per installation and a JIT-mint secondary limit per App.
 *
 * This file is the facade: the HTTP front (match, authenticate, check the account, charge the rate
 * limits, fault, handle, record) and the test API. Each concern lives in emulator/: state.ts (what
 * GitHub knows), auth.ts (App JWTs and installation tokens), limits.ts (rate limits), routes.ts (the REST
 * endpoints), runners.ts (the runner that takes jobs), webhooks.ts (deliveries and redelivery),
 * faults.ts (injected answers), http.ts (plumbing).
 *
 * Determinism for tests: webhook sends finish before the call that caused them returns (queueWorkflowRun,
 * rerun, redeliver), and each job's webhooks go out in order. Timestamps come from `now` (injectable);
 * JWT and token validity use the wall clock, as the signer does. Responses follow GitHub's OpenAPI
 * description; tests put a validating proxy in front to prove it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppAuth } from './emulator/auth.js';
import { type EmulatorFault, Faults, faultReply } from './emulator/faults.js';
import { error, matchRoute, type Reply, type Route, writeReply } from './emulator/http.js';
import {
  type AppLimitCounters,
  type BucketCounters,
  type EmulatorLimits,
  RateLimits,
} from './emulator/limits.js';
import { buildRoutes } from './emulator/routes.js';
import { RunnerHost } from './emulator/runners.js';
import {
  type DeliveryRecord,
  GitHubState,
  type InstallationState,
  type RunnerHandle,
} from './emulator/state.js';
import { type AppHook, type HeldDelivery, Webhooks } from './emulator/webhooks.js';

export type { EmulatorFault } from './emulator/faults.js';
export type { AppLimitCounters, BucketCounters, EmulatorLimits } from './emulator/limits.js';
export { secondaryLimitMessage } from './emulator/limits.js';
export type { RunnerHandle } from './emulator/state.js';
export type { HeldDelivery } from './emulator/webhooks.js';

/** One GitHub App: its id, public key, webhook and installations. */
export interface EmulatedApp {
  readonly appId: number;
  /** The App's public key (PEM); its JWTs must verify against it. */
  readonly publicKey: string;
  /** Installations of the App: id → account login. Installation ids are unique across Apps. */
  readonly installations: Readonly<Record<number, string>>;
  /** Where the App's webhooks go, and the secret they are signed with; none: the App gets no events. */
  readonly webhook?: { readonly url: string; readonly secret: string };
}

export interface GitHubEmulatorOptions {
  /** Several Apps; when given, the single-App options below must be absent. */
  readonly apps?: readonly EmulatedApp[];
  /** The single App (the options before several Apps existed): its id… */
  readonly appId?: number;
  /** …its public key (PEM)… */
  readonly appPublicKey?: string;
  /** …its installations, id → account login (default `{ 1: 'acme' }`)… */
  readonly installations?: Readonly<Record<number, string>>;
  /** …and where its webhooks go (none: every delivery is recorded as failing to connect). */
  readonly webhook?: { readonly url: string; readonly secret: string };
  /** GitHub's rate limits; the defaults are GitHub's (5,000 requests/h per installation, 180 mints/min per App). */
  readonly limits?: EmulatorLimits;
  /** GitHub's clock for timestamps it reports and for rate-limit windows (epoch ms). */
  readonly now?: () => number;
  /** Runner groups besides `Default` (id 1), by organization. */
  readonly runnerGroups?: Readonly<Record<string, readonly string[]>>;
  /** GitHub gives up on a webhook after 10 s and records the delivery as failed. */
  readonly webhookTimeoutMs?: number;
  readonly tokenTtlMs?: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** `METHOD /template`, e.g. `POST /orgs/{org}/actions/runners/generate-jitconfig`; undefined if unrouted. */
  readonly operation: string | undefined;
  readonly status: number;
  /** Whether the request came under the GHES `/api/v3` prefix. */
  readonly ghesPrefix: boolean;
  readonly auth: 'app-jwt' | 'installation-token' | 'none' | 'invalid';
  /** The App the request authenticated as (its JWT, or its installation's token). */
  readonly appId?: number;
  /** The installation whose token the request carried. */
  readonly installationId?: number;
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

export class GitHubEmulator {
  /** Every request our clients made, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Set this to the URL clients use (e.g. a validating proxy) so Link headers point there. */
  publicUrl: string;
  private readonly state: GitHubState;
  private readonly auth: AppAuth;
  private readonly faults = new Faults();
  private readonly webhooks: Webhooks;
  private readonly runnerHost: RunnerHost;
  private readonly routes: Route[];
  private limits: RateLimits;
  private readonly appIds: readonly number[];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    options: GitHubEmulatorOptions,
  ) {
    this.publicUrl = url;
    const { apps, hooks } = appsOf(options);
    this.appIds = apps.map((a) => a.appId);
    const installations: InstallationState[] = apps.flatMap((app) =>
      Object.entries(app.installations).map(([id, account]) => ({
        id: Number(id),
        appId: app.appId,
        account,
      })),
    );
    const now = options.now ?? Date.now;
    this.state = new GitHubState(installations, options.runnerGroups ?? {}, now);
    this.auth = new AppAuth(
      apps.map((a) => ({ appId: a.appId, publicKey: a.publicKey })),
      options.tokenTtlMs ?? 60 * 60 * 1000,
      this.state.installations,
    );
    this.limits = new RateLimits(options.limits ?? {}, now);
    this.webhooks = new Webhooks(this.state, hooks, options.webhookTimeoutMs ?? 10_000);
    this.runnerHost = new RunnerHost(this.state, this.webhooks);
    this.routes = buildRoutes({
      state: this.state,
      auth: this.auth,
      webhooks: this.webhooks,
      runners: this.runnerHost,
      publicUrl: () => this.publicUrl,
    });
  }

  static async start(options: GitHubEmulatorOptions): Promise<GitHubEmulator> {
    appsOf(options); // bad options fail here, before a port is opened
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
    this.webhooks.closed = true;
    this.runnerHost.closed = true;
    this.runnerHost.stopAll();
    await this.webhooks.idle();
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
    this.runnerHost.stopAll();
    this.state.runners.clear();
    this.state.jobs.clear();
    this.state.deliveries.length = 0;
    this.requests.length = 0;
    this.faults.clear();
    this.webhooks.reset();
    this.state.resetGroups();
    this.limits.reset();
  }

  /**
   * A new private key for an App (rotation, step one): JWTs signed with it verify from now on. `appId`
   * defaults to the first App.
   */
  addAppKey(publicKey: string, appId = this.firstAppId()): void {
    this.auth.addKey(appId, publicKey);
  }

  /**
   * An App's key is deleted (rotation, last step): JWTs signed with it get 401 from now on.
   * `revokeTokens` also ends the App's installation tokens minted so far, as a key compromise would call for.
   */
  deleteAppKey(publicKey: string, options: { revokeTokens?: boolean; appId?: number } = {}): void {
    this.auth.deleteKey(options.appId ?? this.firstAppId(), publicKey, {
      revokeTokens: options.revokeTokens ?? false,
    });
  }

  /** Points an App's webhook (the first App's by default) elsewhere; undefined: deliveries fail to connect. */
  setWebhook(webhook: { url: string; secret: string } | undefined, appId = this.firstAppId()): void {
    this.webhooks.setTarget(appId, webhook);
  }

  /** Replaces the rate limits (and forgets their windows and counters), e.g. between tests. */
  setLimits(limits: EmulatorLimits): void {
    this.limits = new RateLimits(limits, this.state.now);
  }

  /**
   * The rate-limit counters, for benchmarks: per App its mints by minute (of the scaled clock) and its
   * throttled answers; per bucket (installation, or an App's JWT calls) the current window.
   */
  rateLimitCounters(): { apps: AppLimitCounters[]; buckets: BucketCounters[] } {
    return this.limits.counters(this.appIds);
  }

  addRunnerGroup(org: string, name: string): number {
    return this.state.addRunnerGroup(org, name);
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
    const repository = this.state.repo(run.repository.owner, run.repository.name);
    const runId = this.state.ids.run++;
    const jobs = run.jobs.map((spec, index) =>
      this.state.addJob({
        runId,
        runAttempt: 1,
        repository,
        name: spec.name ?? `job-${index + 1}`,
        workflowName: run.workflowName ?? 'CI',
        labels: spec.labels,
        durationMs: spec.durationMs ?? 0,
      }),
    );
    await Promise.all(jobs.map((job) => this.webhooks.send(job, 'queued')));
    this.runnerHost.dispatch();
    return { runId, jobIds: jobs.map((j) => j.id) };
  }

  /**
   * The runner application starts with a JIT config this emulator minted: the runner comes online and
   * takes the oldest matching queued job (now or when one is queued), runs it for its duration, and exits.
   */
  connectRunner(encodedJitConfig: string): RunnerHandle {
    return this.runnerHost.connect(encodedJitConfig);
  }

  /** Cancels a job: a queued one completes with no runner; a running one stops and frees its runner. */
  async cancelJob(jobId: number): Promise<void> {
    const job = this.state.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (job.status === 'completed') return;
    await this.runnerHost.complete(job, 'cancelled');
  }

  /** Waits for every webhook send and redelivery in flight. */
  async idle(): Promise<void> {
    await this.webhooks.idle();
  }

  // ---- test API: faults -----------------------------------------------------------------------------

  /** The next `times` requests to `operation` ('METHOD /template' or '*') get the fault instead. */
  injectFault(operation: string, fault: EmulatorFault, times = 1): void {
    this.faults.inject(operation, fault, times);
  }

  /**
   * A share of webhook deliveries fails (the receiver never sees them); each is recorded as a failed
   * delivery with `statusCode`, redeliverable through the API. `random` decides; share 1 drops all.
   */
  dropDeliveries(share: number, options: { statusCode?: number; random?: () => number } = {}): void {
    this.webhooks.dropDeliveries(share, options);
  }

  /** Holds outgoing webhooks instead of sending them, to release later in another order. */
  holdDeliveries(): void {
    this.webhooks.hold();
  }

  heldDeliveries(): HeldDelivery[] {
    return this.webhooks.heldDeliveries();
  }

  /** Sends the held webhooks one by one in the order `arrange` gives (default: as held), and stops holding. */
  async releaseDeliveries(
    arrange: (held: HeldDelivery[]) => readonly HeldDelivery[] = (h) => h,
  ): Promise<void> {
    await this.webhooks.release(arrange);
  }

  /** Sends a delivered webhook again, byte for byte and under the same guid, as GitHub sometimes does. */
  async duplicateDelivery(guid: string): Promise<void> {
    await this.webhooks.duplicate(guid);
  }

  /** The hook deliveries GitHub recorded (every App's, each naming its `appId`), oldest first. */
  deliveryLog(): Omit<DeliveryRecord, 'body'>[] {
    return this.state.deliveries.map(({ body: _, ...rest }) => rest);
  }

  /** A job as GitHub holds it; `createdAt` and `startedAt` (null while queued) on the emulator's clock. */
  jobState(jobId: number):
    | {
        status: string;
        conclusion: string | null;
        runnerName: string | null;
        createdAt: number;
        startedAt: number | null;
      }
    | undefined {
    const job = this.state.jobs.get(jobId);
    return (
      job && {
        status: job.status,
        conclusion: job.conclusion,
        runnerName: job.runnerName,
        createdAt: job.createdAt,
        startedAt: job.startedAt,
      }
    );
  }

  runner(
    runnerId: number,
  ):
    | { name: string; labels: readonly string[]; groupId: number | undefined; status: string; busy: boolean }
    | undefined {
    const runner = this.state.runners.get(runnerId);
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
    let who: { appId?: number; installationId?: number } = {};
    const record = (status: number, operation: string | undefined, auth: RecordedRequest['auth']) =>
      this.requests.push({
        method,
        path,
        operation,
        status,
        ghesPrefix,
        auth,
        ...who,
        accept: req.headers.accept,
        receivedAt: Date.now(),
      });
    const answer = (reply: Reply, operation: string | undefined, auth: RecordedRequest['auth']) => {
      record(reply.status, operation, auth);
      writeReply(res, reply);
    };

    const matched = matchRoute(this.routes, method, path);
    if (!matched) return answer(error(404, 'Not Found'), undefined, 'none');
    const { route, params } = matched;
    const operation = `${route.method} ${route.template}`;

    const auth = this.auth.authenticate(req.headers.authorization ?? '', route.auth);
    if (!auth.ok) return answer(error(401, auth.message), operation, 'invalid');
    const { appId, installationId } = auth;
    who = installationId === undefined ? { appId } : { appId, installationId };

    // Every authenticated request costs one from its bucket; its answer carries the bucket's headers.
    const charged = this.limits.charge(
      installationId === undefined ? `app:${appId}` : `installation:${installationId}`,
      appId,
    );
    if (!charged.ok) return answer(charged.reply, operation, route.auth);
    const withLimits = (reply: Reply): Reply => ({
      ...reply,
      headers: { ...charged.headers, ...reply.headers },
    });

    // An installation token opens its own account's organization and repositories only.
    const account = installationId === undefined ? undefined : this.state.installations.get(installationId);
    const owner = params.org ?? params.owner;
    if (
      account !== undefined &&
      owner !== undefined &&
      owner.toLowerCase() !== account.account.toLowerCase()
    ) {
      const refused =
        params.org !== undefined
          ? error(403, 'Resource not accessible by integration')
          : error(404, 'Not Found');
      return answer(withLimits(refused), operation, route.auth);
    }

    const fault = this.faults.take(operation);
    if (fault?.kind === 'slow') await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    else if (fault) return answer(withLimits(faultReply(fault, route)), operation, route.auth);

    if (mintOperations.has(operation)) {
      const minted = this.limits.mint(appId);
      if (!minted.ok) return answer(withLimits(minted.reply), operation, route.auth);
    }

    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        return answer(error(400, 'Problems parsing JSON'), operation, route.auth);
      }
    }
    const base = `${this.publicUrl}${ghesPrefix ? '/api/v3' : ''}`;
    const reply = await route.handler({
      params,
      query: url.searchParams,
      body,
      appId,
      installationId,
      base,
    });
    answer(withLimits(reply), operation, route.auth);
  }

  private firstAppId(): number {
    const [first] = this.appIds;
    if (first === undefined) throw new Error('the emulator has no App');
    return first;
  }
}

/** The operations that register a JIT runner: what the per-App secondary limit counts. */
const mintOperations = new Set([
  'POST /orgs/{org}/actions/runners/generate-jitconfig',
  'POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig',
]);

/** The Apps the options describe (the single-App options are one App with a webhook), checked. */
function appsOf(options: GitHubEmulatorOptions): { apps: EmulatedApp[]; hooks: AppHook[] } {
  const single =
    options.appId !== undefined ||
    options.appPublicKey !== undefined ||
    options.installations !== undefined ||
    options.webhook !== undefined;
  if (options.apps !== undefined) {
    if (single)
      throw new Error('give either `apps` or the single-App options (appId, appPublicKey, …), not both');
    if (options.apps.length === 0) throw new Error('`apps` must name at least one App');
    const apps = [...options.apps];
    const hooks = apps.flatMap((a) => (a.webhook ? [{ appId: a.appId, target: a.webhook }] : []));
    return { apps, hooks };
  }
  if (options.appId === undefined || options.appPublicKey === undefined)
    throw new Error('the emulator needs `apps`, or `appId` and `appPublicKey`');
  const app: EmulatedApp = {
    appId: options.appId,
    publicKey: options.appPublicKey,
    installations: options.installations ?? { 1: 'acme' },
    ...(options.webhook !== undefined && { webhook: options.webhook }),
  };
  // The single App always has a webhook; without a URL its deliveries fail to connect, as before.
  return { apps: [app], hooks: [{ appId: app.appId, target: options.webhook }] };
}
