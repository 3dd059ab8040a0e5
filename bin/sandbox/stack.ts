/**
 * The whole control plane on one machine: every peer on 127.0.0.1 (dynalite, the EC2, SSM, Secrets
 * Manager and EventBridge emulators, the GitHub emulator) and the real handlers wired as in AWS —
 * an HTTP server in front of the webhook handler with API Gateway's event shape, the EC2 emulator's
 * state changes delivered to the lifecycle handler as EventBridge events, and timers in place of the
 * tuner's and reconciler's schedules. The adapters are the production ones, pointed at the peers
 * through the standard AWS_ENDPOINT_URL_<SERVICE> variables.
 *
 * Used by `npm start` (bin/sandbox.ts), the end-to-end tests and the control-plane benchmark.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { buildControlPlane, type ControlPlane } from '../../handlers/control-plane.js';
import { createLifecycleHandler } from '../../handlers/lifecycle.js';
import { createPoolTunerHandler } from '../../handlers/pool-tuner.js';
import { createReconcilerHandler } from '../../handlers/reconciler.js';
import { readSettings } from '../../handlers/settings.js';
import { createWebhookHandler } from '../../handlers/webhook.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type { Metrics } from '../../scheduler/ports/metrics.js';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type DynalitePeer, startDynalite } from '../../stand-ins/aws/dynalite.js';
import {
  type Ec2Action,
  Ec2Emulator,
  type Ec2EventBridgeEvent,
  toEventBridgeEvent,
} from '../../stand-ins/aws/ec2/index.js';
import { type EventBridgePeer, startEventBridgePeer } from '../../stand-ins/aws/eventbridge.js';
import { type SecretsManagerPeer, startSecretsManagerPeer } from '../../stand-ins/aws/secrets-manager.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { generateAppKeyPair } from '../../stand-ins/github/app-jwt.js';
import { type EmulatorLimits, GitHubEmulator } from '../../stand-ins/github/github-emulator.js';
import { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { type AgentOutcome, InstanceAgents } from './instance-agent.js';

export const sandboxSubnets = {
  'subnet-0a000000000000001': 'us-east-1a',
  'subnet-0b000000000000002': 'us-east-1b',
} as const;

/** The alias the deployment gives the JIT configs' KMS key (infra/constructs/jit-parameter-key.ts). */
export const sandboxJitKey = 'alias/wpr/jit-configs';

export const sandboxOrg = 'acme';
const prefix = '/wpr';
const appId = 4242;
/** What the image pipeline publishes to `<prefix>/ami/<arch>`; the x64 one is also the launch template's. */
const sandboxImages = { x64: 'ami-0123456789abcdef0', arm64: 'ami-0fedcba9876543210' } as const;

export function defaultPoolConfig(): unknown {
  return {
    pools: [
      {
        name: 'linux-x64',
        labels: ['linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: Object.keys(sandboxSubnets),
        defaultSize: 3,
        maximum: 12,
        schedule: [
          {
            days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            from: '08:00',
            to: '19:00',
            timezone: 'Europe/Paris',
            size: 6,
          },
        ],
        // Two registered idle runners in working hours: the first jobs of a burst start at once.
        hot: {
          maximum: 2,
          windows: [
            {
              days: ['mon', 'tue', 'wed', 'thu', 'fri'],
              from: '08:00',
              to: '19:00',
              timezone: 'Europe/Paris',
              min: 1,
              max: 2,
            },
          ],
          maxIdleMinutes: 60,
        },
      },
      {
        name: 'linux-arm64',
        labels: ['linux', 'arm64'],
        architecture: 'arm64',
        instanceTypes: ['m7g.large', 'c7g.large'],
        subnets: Object.keys(sandboxSubnets),
        defaultSize: 2,
        maximum: 6,
      },
    ],
    settings: {
      pendingJobSeconds: 10,
      claimTimeoutSeconds: 120,
      orphanGraceSeconds: 60,
      warmupTimeoutSeconds: 300,
    },
  };
}

export interface SandboxOptions {
  /**
   * The organizations the deployment serves, each an installation of every App; `['acme']` by default.
   * One organization and one App keep the single-App settings (GITHUB_APP_SECRET_ARN, GITHUB_ORG);
   * anything more is configured through GITHUB_APPS, as a deployment of several organizations is.
   */
  readonly organizations?: readonly (string | SandboxOwner)[];
  /**
   * GitHub Apps (1 by default), each installed in every organization; only the first has a webhook
   * (a second App adds JIT mint capacity, not deliveries).
   */
  readonly apps?: number;
  /** Runner groups each organization has on GitHub besides `Default` (`{ acme: ['gpu-runners'] }`). */
  readonly runnerGroups?: Readonly<Record<string, readonly string[]>>;
  /** The deployment's default runner group (RUNNER_GROUP) for pools that name none; GitHub's Default when unset. */
  readonly runnerGroup?: string;
  /** GitHub's rate limits in the emulator (per App and per installation); GitHub's own by default. */
  readonly githubLimits?: EmulatorLimits;
  /** Port of the HTTP server (webhook, API, dashboard); 0 picks a free one. */
  readonly port?: number;
  readonly webhookSecret?: string;
  /** Pool config document (validated by the handlers like the SSM parameter in AWS). */
  readonly poolConfig?: unknown;
  /** Scales every EC2 duration (boot, stop); 1 is EC2's own pace. */
  readonly timeScale?: number;
  /** How long the pool store's indexes lag behind writes, as DynamoDB GSIs do (wall ms). Default 0. */
  readonly indexLagMs?: number;
  /** EC2 API response times in EC2's time (e.g. `referenceLatencyMs`), scaled like the rest; none by default. */
  readonly ec2LatencyMs?: Partial<Record<Ec2Action, number>>;
  readonly warmupMs?: number;
  readonly configGraceMs?: number;
  /**
   * The guest's boot, from EC2's `running` to the agent starting (wall-clock ms): `warm` for an
   * instance that has been stopped before (volume read, images pulled), `cold` for a first boot from
   * the AMI (cloud-init, blocks lazily loaded from the snapshot) — the difference a warm pool buys.
   * None by default: the agent starts at `running`.
   */
  readonly guestBootMs?: { readonly warm: number; readonly cold: number };
  readonly tunerEveryMs?: number;
  readonly reconcilerEveryMs?: number;
  /** Comma lists, as the deployed handlers take them; empty accepts any organization. */
  readonly allowedOwners?: string;
  /** Metrics sink for the handlers (the sandbox keeps them for its dashboard). */
  readonly metrics?: Metrics;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** When false, no timers run: the caller drives the tuner and reconciler. */
  readonly schedules?: boolean;
  readonly onAgentOutcome?: (instanceId: string, outcome: AgentOutcome) => void;
  /** Wraps every handler invocation (to time it, attribute its calls, gate it); none by default. */
  readonly instrument?: HandlerInstrument;
  /** How long GitHub waits for a webhook's answer before recording a failed delivery; 10 s as GitHub. */
  readonly webhookTimeoutMs?: number;
  /**
   * The time every component reports (control plane, EC2's and GitHub's timestamps); the wall clock by
   * default. A clock running `1 / timeScale` times faster keeps every recorded duration in EC2's time.
   */
  readonly clock?: Clock;
}

/** One invocation of a handler, as an instrument sees it before the handler runs. */
export type HandlerInvocation =
  | { readonly handler: 'webhook'; readonly event: APIGatewayProxyEventV2 }
  | { readonly handler: 'lifecycle'; readonly event: Ec2EventBridgeEvent }
  | { readonly handler: 'tuner' | 'reconciler' };

/** Runs `invoke` exactly once and returns what it returns, doing what it likes around it. */
export type HandlerInstrument = <T>(invocation: HandlerInvocation, invoke: () => Promise<T>) => Promise<T>;

/** Requests each peer received, per operation (GitHub's as `METHOD /template`). */
export interface PeerCallCounts {
  readonly github: Record<string, number>;
  readonly ec2: Record<string, number>;
  readonly dynamodb: Record<string, number>;
  readonly ssm: Record<string, number>;
  readonly secretsManager: Record<string, number>;
  readonly eventBridge: Record<string, number>;
}

/** An account the sandbox serves; `runners: 'repo'` is a repository-level install (e.g. a user account). */
export interface SandboxOwner {
  readonly owner: string;
  readonly runners: 'org' | 'repo';
}

/** One App installation of the sandbox, as GITHUB_APPS names it. */
export interface SandboxInstallation {
  readonly app: string;
  readonly id: number;
  readonly owner: string;
  readonly runners: 'org' | 'repo';
}

export interface Sandbox {
  /** Every installation, App by App: its id is what the emulator's deliveries carry. */
  readonly installations: readonly SandboxInstallation[];
  readonly url: string;
  readonly webhookUrl: string;
  readonly webhookSecret: string;
  readonly plane: ControlPlane;
  /** Every metric the handlers emitted (CloudWatch's part, for the dashboard). */
  readonly metrics: Metrics;
  readonly ec2: Ec2Emulator;
  readonly github: GitHubEmulator;
  readonly ssm: SsmPeer;
  readonly secrets: SecretsManagerPeer;
  readonly events: EventBridgePeer;
  readonly dynamo: DynalitePeer;
  readonly server: Server;
  runTuner(): Promise<unknown>;
  runReconciler(): Promise<unknown>;
  /** Resolves once every EC2 event seen so far has been handled by the lifecycle handler. */
  lifecycleIdle(): Promise<void>;
  /** What every peer has been asked so far, from the peers' own request logs. */
  peerCalls(): PeerCallCounts;
  /** Adds a route to the HTTP server (the dashboard and API add theirs). */
  route(
    method: string,
    path: string,
    handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
  ): void;
  close(): Promise<void>;
}

const lambdaContext = (remainingMs: number): Context =>
  ({
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'sandbox',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sandbox',
    memoryLimitInMB: '512',
    awsRequestId: randomBytes(8).toString('hex'),
    logGroupName: 'sandbox',
    logStreamName: 'sandbox',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const webhookSecret = options.webhookSecret ?? randomBytes(20).toString('hex');
  const keys = generateAppKeyPair();
  const [dynamo, ssm, secrets, events] = await Promise.all([
    startDynalite(options.indexLagMs === undefined ? {} : { indexLagMs: options.indexLagMs }),
    startSsmPeer({ throttle: false }),
    startSecretsManagerPeer(),
    startEventBridgePeer({ eventBuses: ['wpr-events'] }),
  ]);
  const clock = options.clock;
  const now = clock !== undefined ? () => clock.now() : Date.now;
  const ec2 = await Ec2Emulator.start({
    now,
    timeScale: options.timeScale ?? 1,
    ...(options.ec2LatencyMs !== undefined && { latencyMs: options.ec2LatencyMs }),
    subnets: sandboxSubnets,
    // Known architectures: an image launched on the other architecture's type fails, as on EC2.
    images: { [sandboxImages.x64]: 'x86_64', [sandboxImages.arm64]: 'arm64' },
    throttling: false,
  });
  const organizations = (options.organizations ?? [sandboxOrg]).map((o) =>
    typeof o === 'string' ? { owner: o, runners: 'org' as const } : o,
  );
  const apps = sandboxApps(options.apps ?? 1, organizations);
  const [mainApp] = apps;
  if (mainApp === undefined) throw new Error('`apps` must be at least 1');
  // Each further App has its own key, as on GitHub.
  const appKeys = [keys, ...apps.slice(1).map(() => generateAppKeyPair())];
  const installationsOf = (app: (typeof apps)[number]) =>
    Object.fromEntries(app.installations.map((i) => [i.id, i.owner]));
  const github = await GitHubEmulator.start({
    ...(apps.length === 1
      ? { appId: mainApp.appId, appPublicKey: keys.publicKey, installations: installationsOf(mainApp) }
      : {
          apps: apps.map((app, k) => ({
            appId: app.appId,
            publicKey: appKeys[k]?.publicKey ?? keys.publicKey,
            installations: installationsOf(app),
            // The main App has the webhook; its URL is known once the server listens (set below).
            ...(app.webhook && {
              webhook: { url: 'http://127.0.0.1:9/workflow_job', secret: webhookSecret },
            }),
          })),
        }),
    ...(options.githubLimits !== undefined && { limits: options.githubLimits }),
    ...(options.runnerGroups !== undefined && { runnerGroups: options.runnerGroups }),
    ...(options.webhookTimeoutMs !== undefined && { webhookTimeoutMs: options.webhookTimeoutMs }),
    now,
  });
  const tableName = await dynamo.createTable('wpr-sandbox');

  // Seed what the stateful stack holds in AWS: the pool config, the webhook secret, the App's key.
  ssm.put(`${prefix}/pools`, JSON.stringify(options.poolConfig ?? defaultPoolConfig()));
  secrets.put('wpr/webhook-secret', webhookSecret);
  const single = apps.length === 1 && organizations.length === 1 && organizations[0]?.runners === 'org';
  for (const [k, app] of apps.entries())
    secrets.put(
      app.secretArn,
      // The single App's secret names its installation, as a single-App deployment's does.
      JSON.stringify({
        appId: app.appId,
        ...(single && { installationId: app.installations[0]?.id }),
        privateKey: appKeys[k]?.privateKey ?? keys.privateKey,
      }),
    );
  // And what the image stack's pipelines publish: one AMI id per architecture.
  ssm.put(`${prefix}/ami/x64`, sandboxImages.x64);
  ssm.put(`${prefix}/ami/arm64`, sandboxImages.arm64);

  // The production adapters find the peers through the SDK's standard endpoint variables.
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EC2: ec2.url,
    AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: events.endpoint,
  });
  const settings = readSettings({
    TABLE_NAME: tableName,
    PARAMETER_PREFIX: prefix,
    POOL_CONFIG_PARAMETER: `${prefix}/pools`,
    WEBHOOK_SECRET_ARN: 'wpr/webhook-secret',
    ...(single
      ? { GITHUB_APP_SECRET_ARN: mainApp.secretArn, GITHUB_ORG: organizations[0]?.owner, RUNNER_SCOPE: 'org' }
      : {
          GITHUB_APPS: JSON.stringify(
            apps.map(({ name, secretArn, webhook, installations }) => ({
              name,
              secretArn,
              webhook,
              installations,
            })),
          ),
        }),
    GITHUB_API_URL: github.url,
    RUNNER_NAME_PREFIX: 'wpr',
    ...(options.runnerGroup !== undefined && { RUNNER_GROUP: options.runnerGroup }),
    LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
    DEPLOYMENT_ID: 'sandbox',
    EVENT_BUS_NAME: 'wpr-events',
    ALLOWED_OWNERS: options.allowedOwners ?? '',
    SUBNET_ZONES: JSON.stringify(sandboxSubnets),
    // As deployed: JIT configs are encrypted with the installation's own key (JitParameterKey).
    JIT_PARAMETER_KEY_ID: sandboxJitKey,
    AWS_REGION: 'us-east-1',
  });
  const logger = new Logger({ serviceName: 'warm-pool-runners', logLevel: options.logLevel ?? 'WARN' });
  const metrics = options.metrics ?? new InMemoryMetrics();
  const plane = await buildControlPlane(settings, 'sandbox', {
    logger,
    metrics,
    ...(clock !== undefined && { clock }),
  });
  const getPlane = async () => plane;
  const instrument: HandlerInstrument = options.instrument ?? ((_, invoke) => invoke());
  const webhookHandler = createWebhookHandler(getPlane);
  const lifecycleHandler = createLifecycleHandler(getPlane);
  const tunerHandler = createPoolTunerHandler(getPlane);
  const reconcilerHandler = createReconcilerHandler(getPlane);
  const webhook = (event: APIGatewayProxyEventV2, context: Context) =>
    instrument({ handler: 'webhook', event }, () => webhookHandler(event, context));
  const lifecycle = (event: Ec2EventBridgeEvent, context: Context) =>
    instrument({ handler: 'lifecycle', event }, () => lifecycleHandler(event, context));
  const tuner = (event: object, context: Context) =>
    instrument({ handler: 'tuner' }, () => tunerHandler(event, context));
  const reconciler = (event: object, context: Context) =>
    instrument({ handler: 'reconciler' }, () => reconcilerHandler(event, context));

  // EC2 → EventBridge → lifecycle handler, one event at a time in arrival order (as a rule's target
  // sees them, near enough); booting instances also start their agent.
  const agentEc2 = new EC2Client({ ...localClientConfig(ec2.url), maxAttempts: 3 });
  const agents = new InstanceAgents({
    ec2,
    github,
    ssm: ssm.client,
    ec2Client: agentEc2,
    now,
    parameterPrefix: prefix,
    warmupMs: options.warmupMs ?? 2_000,
    configGraceMs: options.configGraceMs ?? 30_000,
    pollMs: 100,
    ...(options.onAgentOutcome !== undefined && { onOutcome: options.onAgentOutcome }),
  });
  let lifecycleChain: Promise<unknown> = Promise.resolve();
  // Instances that have powered off once: their next boot is a warm one.
  const stoppedOnce = new Set<string>();
  const bootTimers = new Set<NodeJS.Timeout>();
  const boot = (instanceId: string) => {
    const delay = options.guestBootMs?.[stoppedOnce.has(instanceId) ? 'warm' : 'cold'] ?? 0;
    if (delay <= 0) return agents.boot(instanceId);
    const timer = setTimeout(() => {
      bootTimers.delete(timer);
      agents.boot(instanceId);
    }, delay);
    bootTimers.add(timer);
  };
  const unsubscribe = ec2.onEvent((event) => {
    if (event.kind === 'state-change' && event.state === 'stopped') stoppedOnce.add(event.instanceId);
    if (event.kind === 'state-change' && event.state === 'running') boot(event.instanceId);
    const bridged = toEventBridgeEvent(event);
    lifecycleChain = lifecycleChain
      .then(() => lifecycle(bridged, lambdaContext(30_000)))
      .catch((error: unknown) => logger.error('lifecycle handler failed', { error: error as Error }));
  });

  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handle = routes.get(`${req.method} ${path}`);
    if (handle === undefined)
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    Promise.resolve(handle(req, res)).catch((error: unknown) => {
      logger.error('sandbox route failed', { error: error as Error });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const inFlight = new Set<Promise<unknown>>();
  routes.set('POST /workflow_job', async (req, res) => {
    const body = await readBody(req, settings.WEBHOOK_MAX_BODY_BYTES);
    if (body === 'too-large') {
      // As API Gateway answers a payload over its limit: 413, and the handler never runs. Counted like
      // the handler's own rejections, so the dashboard sees it.
      metrics.count('WebhooksRejected', 1, { Reason: '413' });
      res
        .writeHead(413, { 'content-type': 'application/json', connection: 'close' })
        .end(JSON.stringify({ message: 'Request Entity Too Large' }));
      return;
    }
    const handled = webhook(apiGatewayEvent(req, body), lambdaContext(10_000));
    inFlight.add(handled);
    const response = await handled.finally(() => inFlight.delete(handled));
    res
      .writeHead(response.statusCode ?? 200, response.headers as Record<string, string>)
      .end(response.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Only the first App's webhook points here (a further App adds mint capacity, not deliveries).
  github.setWebhook({ url: `${url}/workflow_job`, secret: webhookSecret }, mainApp.appId);

  const runTuner = () => tuner({}, lambdaContext(60_000));
  const runReconciler = () => reconciler({}, lambdaContext(60_000));
  const timers: NodeJS.Timeout[] = [];
  /** Scheduled runs in flight, so that closing waits for them rather than pulling the peers from under them. */
  const scheduledRuns = new Set<Promise<unknown>>();
  if (options.schedules !== false) {
    timers.push(every(options.tunerEveryMs ?? 5_000, runTuner, logger, scheduledRuns));
    timers.push(every(options.reconcilerEveryMs ?? 10_000, runReconciler, logger, scheduledRuns));
  }

  return {
    installations: apps.flatMap((app) => app.installations.map((i) => ({ app: app.name, ...i }))),
    url,
    webhookUrl: `${url}/workflow_job`,
    webhookSecret,
    plane,
    metrics,
    ec2,
    github,
    ssm,
    secrets,
    events,
    dynamo,
    server,
    runTuner,
    runReconciler,
    lifecycleIdle: async () => {
      let seen: Promise<unknown> | undefined;
      while (seen !== lifecycleChain) {
        seen = lifecycleChain;
        await seen;
      }
    },
    peerCalls: () => ({
      github: countBy(github.requests.map((r) => r.operation ?? `${r.method} (unrouted)`)),
      ec2: ec2.callCounts(),
      dynamodb: dynamo.callCounts(),
      ssm: countBy(ssm.calls().map((c) => c.action)),
      secretsManager: countBy(secrets.calls().map((c) => c.action)),
      eventBridge: countBy(events.calls().map((c) => c.action)),
    }),
    route: (method, path, handle) => routes.set(`${method} ${path}`, handle),
    close: async () => {
      // Stop what starts work, then let the work in flight finish before the peers go away.
      for (const t of timers) clearInterval(t);
      for (const t of bootTimers) clearTimeout(t);
      agents.close();
      agentEc2.destroy();
      await github.idle();
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled([...scheduledRuns]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      unsubscribe();
      await lifecycleChain.catch(() => undefined);
      await github.close();
      await ec2.close();
      await Promise.all([dynamo.close(), ssm.close(), secrets.close(), events.close()]);
    },
  };
}

/**
 * The sandbox's Apps: App k (from 0) is `app-<k+1>` with id 4242 + k and secret `wpr/github-app` (then
 * `wpr/github-app-<k+1>`); its installation in organization j is `100 k + j + 1`, so the single App in
 * one organization keeps installation 1.
 */
function sandboxApps(count: number, organizations: readonly SandboxOwner[]) {
  if (organizations.length === 0) throw new Error('`organizations` must name at least one organization');
  return Array.from({ length: count }, (_, k) => ({
    name: `app-${k + 1}`,
    appId: appId + k,
    secretArn: k === 0 ? 'wpr/github-app' : `wpr/github-app-${k + 1}`,
    webhook: k === 0,
    installations: organizations.map(({ owner, runners }, j) => ({ id: 100 * k + j + 1, owner, runners })),
  }));
}

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

/** A schedule: runs `task` every `ms`, never two at once (as a schedule with a single concurrency). */
function every(
  ms: number,
  task: () => Promise<unknown>,
  logger: Logger,
  inFlight: Set<Promise<unknown>>,
): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    const run = task()
      .catch((error: unknown) => logger.error('scheduled run failed', { error: error as Error }))
      .finally(() => {
        running = false;
        inFlight.delete(run);
      });
    inFlight.add(run);
  }, ms);
  timer.unref();
  return timer;
}

/**
 * The body, or `too-large` past `limit` bytes (by its Content-Length, or as it arrives). The rest of
 * an oversized body is read and dropped, so the client gets its answer rather than a reset connection.
 */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length']);
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = Number.isFinite(declared) && declared > limit;
  for await (const chunk of req) {
    if (tooLarge) continue;
    size += (chunk as Buffer).length;
    if (size > limit) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return tooLarge ? 'too-large' : Buffer.concat(chunks);
}

/** The API Gateway HTTP API (payload 2.0) event for a request, as Lambda receives it. */
function apiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers))
    if (typeof value === 'string') headers[key.toLowerCase()] = value;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /workflow_job',
    rawPath: '/workflow_job',
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'sandbox',
      domainName: '127.0.0.1',
      domainPrefix: 'sandbox',
      http: {
        method: req.method ?? 'POST',
        path: '/workflow_job',
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(8).toString('hex'),
      routeKey: 'POST /workflow_job',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}
