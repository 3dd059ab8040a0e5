/**
 * A control plane on the in-memory fakes, for handler tests that exercise the real handler code
 * (middy, signature, parsing, core) without network: fast enough to fuzz. The adapters themselves
 * are covered by their contract suites against the peers, and the end-to-end test runs them all.
 */
import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ControlPlane } from '../../handlers/control-plane.js';
import { readSettings } from '../../handlers/settings.js';
import type { CoreDeps } from '../../scheduler/core/deps.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { InMemoryCompute } from '../../stand-ins/in-memory/in-memory-compute.js';
import { InMemoryEvents } from '../../stand-ins/in-memory/in-memory-events.js';
import { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';
import { InMemoryJitDelivery } from '../../stand-ins/in-memory/in-memory-jit-delivery.js';
import { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { InMemoryPoolStore } from '../../stand-ins/in-memory/in-memory-pool-store.js';
import { StaticConfigSource } from '../../stand-ins/in-memory/static-config-source.js';

/** The App installation and organization the fake deployment serves. */
export const deploymentInstallation = 1;
export const deploymentOrg = 'octo-org';

/** A published example payload, addressed to the fake deployment's installation and organization. */
export function forDeployment<T extends { repository: unknown }>(example: T): T {
  const repository = example.repository as { owner: Record<string, unknown> };
  return {
    ...example,
    installation: { id: deploymentInstallation, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' },
    repository: { ...repository, owner: { ...repository.owner, login: deploymentOrg } },
  };
}

export const webhookSecret = 'whsec-current-0123456789abcdef';
export const previousSecret = 'whsec-previous-fedcba9876543210';
export const subnetZones = { 'subnet-0000000a': 'us-east-1a', 'subnet-0000000b': 'us-east-1b' };

export const testPools = {
  pools: [
    {
      name: 'gpu',
      labels: ['gpu', 'db-app', 'dc-03'],
      architecture: 'x64',
      instanceTypes: ['g5.xlarge'],
      subnets: ['subnet-0000000a'],
      defaultSize: 2,
      maximum: 4,
    },
    {
      name: 'k8s',
      labels: ['k8s'],
      architecture: 'x64',
      instanceTypes: ['m7i.large', 'm6i.large'],
      subnets: ['subnet-0000000a', 'subnet-0000000b'],
      defaultSize: 2,
      maximum: 4,
    },
  ],
};

export interface FakePlane extends ControlPlane {
  readonly clock: FixedClock;
  readonly store: InMemoryPoolStore;
  readonly compute: InMemoryCompute;
  readonly github: InMemoryGitHub;
  readonly jit: InMemoryJitDelivery;
  readonly metrics: InMemoryMetrics;
}

export function fakePlane(env: Record<string, string> = {}): FakePlane {
  const clock = new FixedClock();
  const store = new InMemoryPoolStore({ clock });
  const compute = new InMemoryCompute({ clock, subnetZones });
  const github = new InMemoryGitHub({ clock });
  const jit = new InMemoryJitDelivery(clock);
  const metrics = new InMemoryMetrics();
  const deps: CoreDeps = {
    store,
    compute,
    github,
    jit,
    clock,
    metrics,
    events: new InMemoryEvents(),
    random: () => 0.5,
    runners: { owners: [{ owner: 'octo-org', scope: 'org', namePrefix: 'wpr' }] },
  };
  const settings = readSettings({
    TABLE_NAME: 'runners',
    PARAMETER_PREFIX: '/wpr',
    POOL_CONFIG_PARAMETER: '/wpr/pools',
    WEBHOOK_SECRET_ARN: 'webhook-secret',
    GITHUB_APP_SECRET_ARN: 'app-secret',
    GITHUB_ORG: 'octo-org',
    LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
    EVENT_BUS_NAME: 'runners',
    ...env,
  });
  return {
    settings,
    deps,
    configSource: new StaticConfigSource(testPools),
    webhookSecrets: async () => [webhookSecret, previousSecret],
    owners: { installations: [{ id: deploymentInstallation, owner: deploymentOrg }], runners: deps.runners },
    logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
    clock,
    store,
    compute,
    github,
    jit,
    metrics,
  };
}

/** Fills the pools with ready instances, as warmed-up instances would be. */
export async function warmPools(plane: FakePlane, perPool = 2): Promise<void> {
  const config = await plane.configSource.load();
  for (const pool of config.pools) {
    const launched = await plane.compute.launchForPool({
      pool,
      count: perPool,
      subnetIds: pool.subnets,
      clientToken: `warm-${pool.name}`,
    });
    if (launched.kind !== 'launched') throw new Error('no capacity to warm up');
    for (const instance of launched.instances) {
      plane.compute.markRunning(instance.id);
      plane.compute.powerOff(instance.id);
      await plane.store.putInstance({
        id: instance.id,
        pool: pool.name,
        state: 'ready',
        version: 1,
        role: 'pool',
        market: instance.market,
        instanceType: instance.instanceType,
        subnetId: instance.subnetId,
        availabilityZone: instance.availabilityZone,
        spec: instance.spec,
        launchedAt: instance.launchedAt,
        stateChangedAt: plane.clock.now(),
      });
    }
  }
}

export function sign(body: string, secret = webhookSecret): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function webhookEvent(
  body: string,
  headers: Record<string, string> = {},
  options: { base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /workflow_job',
    rawPath: '/workflow_job',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'example',
      http: {
        method: 'POST',
        path: '/workflow_job',
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'GitHub-Hookshot/1',
      },
      requestId: 'req',
      routeKey: 'POST /workflow_job',
      stage: '$default',
      time: '28/Nov/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  };
}

export function signedEvent(
  payload: unknown,
  event = 'workflow_job',
  delivery = 'delivery-1',
): APIGatewayProxyEventV2 {
  const body = JSON.stringify(payload);
  return webhookEvent(body, {
    'x-hub-signature-256': sign(body),
    'x-github-event': event,
    'x-github-delivery': delivery,
  });
}

/** A snapshot of everything the control plane may change, to prove a request changed nothing. */
export async function stateOf(plane: FakePlane): Promise<string> {
  const jobs = await Promise.all(
    (['waiting', 'queued', 'provisioned', 'running', 'completed'] as const).map((s) =>
      plane.store.listJobs(s),
    ),
  );
  return JSON.stringify({
    instances: plane.store.allInstances(),
    jobs,
    compute: plane.compute.allInstances(),
    jit: await plane.jit.listPending(),
    github: plane.github.calls.length,
  });
}

/** The lambda context middy needs; the handlers read nothing from it but the remaining time. */
export const lambdaContext = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'test',
  functionVersion: '1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test',
  memoryLimitInMB: '256',
  awsRequestId: 'req',
  logGroupName: 'log',
  logStreamName: 'stream',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};
