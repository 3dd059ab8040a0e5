/**
 * GitHubEmulator: a stateful stand-in for api.github.com (or a GHES `/api/v3`) over HTTP on 127.0.0.1,
 * for the endpoints the control plane uses, and GitHub's side of a runner's life: it queues workflow
 * jobs, sends signed workflow_job webhooks, and plays the runner that connects with a JIT config.
 *
 * This file is the facade: the HTTP front (match, authenticate, fault, handle, record) and the test API.
 * Each concern lives in emulator/: state.ts (what GitHub knows), auth.ts (App JWT and installation
 * tokens), routes.ts (the REST endpoints), runners.ts (the runner that takes jobs), webhooks.ts
 * (deliveries and redelivery), faults.ts (injected answers), http.ts (plumbing).
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
import { buildRoutes } from './emulator/routes.js';
import { RunnerHost } from './emulator/runners.js';
import { type DeliveryRecord, GitHubState, type RunnerHandle } from './emulator/state.js';
import { type HeldDelivery, Webhooks } from './emulator/webhooks.js';

export type { EmulatorFault } from './emulator/faults.js';
export type { RunnerHandle } from './emulator/state.js';
export type { HeldDelivery } from './emulator/webhooks.js';

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

  private constructor(
    private readonly server: Server,
    readonly url: string,
    options: GitHubEmulatorOptions,
  ) {
    this.publicUrl = url;
    this.state = new GitHubState(
      options.installations ?? { 1: 'acme' },
      options.runnerGroups ?? {},
      options.now ?? Date.now,
    );
    this.auth = new AppAuth(
      options.appId,
      options.appPublicKey,
      options.tokenTtlMs ?? 60 * 60 * 1000,
      this.state.installations,
    );
    this.webhooks = new Webhooks(
      this.state,
      options.appId,
      options.webhook,
      options.webhookTimeoutMs ?? 10_000,
    );
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
  }

  /** A new private key for the App (rotation, step one): JWTs signed with it verify from now on. */
  addAppKey(publicKey: string): void {
    this.auth.addKey(publicKey);
  }

  /**
   * The App's key is deleted (rotation, last step): JWTs signed with it get 401 from now on.
   * `revokeTokens` also ends the installation tokens minted so far, as a key compromise would call for.
   */
  deleteAppKey(publicKey: string, options: { revokeTokens?: boolean } = {}): void {
    this.auth.deleteKey(publicKey, { revokeTokens: options.revokeTokens ?? false });
  }

  setWebhook(webhook: { url: string; secret: string } | undefined): void {
    this.webhooks.setTarget(webhook);
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

  /** The hook deliveries GitHub recorded, oldest first. */
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

    const fault = this.faults.take(operation);
    if (fault?.kind === 'slow') await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    else if (fault) return answer(faultReply(fault, route), operation, route.auth);

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
      installationId: auth.installationId,
      base,
    });
    answer(reply, operation, route.auth);
  }
}
