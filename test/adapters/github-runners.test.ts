/**
 * OctokitGitHubRunners against the GitHub emulator, with every request and response checked by Prism
 * against GitHub's OpenAPI description (one Prism for the file; the emulator is reset per test).
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createGitHubAppOctokit,
  type GitHubAppCredentials,
  type GitHubAppOctokitOptions,
  RenewingGitHubApp,
} from '../../scheduler/adapters/github-app-auth.js';
import { OctokitGitHubRunners } from '../../scheduler/adapters/github-runners.js';
import { GitHubError, type RunnerScope } from '../../scheduler/ports/github-runners.js';
import { generateAppKeyPair } from '../../stand-ins/github/app-jwt.js';
import { GitHubEmulator } from '../../stand-ins/github/github-emulator.js';
import { ValidatingProxy } from '../../stand-ins/github/validating-proxy.js';
import { WebhookReceiver } from '../../stand-ins/github/webhook-receiver.js';
import {
  describeGitHubRunnersContract,
  emulatorContractSubject,
} from '../contracts/github-runners.contract.js';

const appId = 4242;
const installationId = 77;
const keys = generateAppKeyPair();
const org: RunnerScope = { kind: 'org', org: 'acme' };
const tokenOperation = 'POST /app/installations/{installation_id}/access_tokens';

let emulator: GitHubEmulator;
let proxy: ValidatingProxy;
let receiver: WebhookReceiver;
let clockNow = 0;
const logs: string[] = [];

beforeAll(async () => {
  receiver = await WebhookReceiver.start('webhook-secret-for-tests');
  emulator = await GitHubEmulator.start({
    appId,
    appPublicKey: keys.publicKey,
    installations: { [installationId]: 'acme' },
    webhook: { url: receiver.url, secret: receiver.secret },
    runnerGroups: { acme: ['gpu-pool'] },
    now: () => clockNow,
  });
  proxy = await ValidatingProxy.start(emulator.url);
  emulator.publicUrl = proxy.url;
});

afterAll(async () => {
  await proxy?.close();
  await emulator?.close();
  await receiver?.close();
});

function adapter(overrides: Partial<GitHubAppOctokitOptions> = {}, perPage?: number): OctokitGitHubRunners {
  const octokit = createGitHubAppOctokit({
    appId,
    privateKey: keys.privateKey,
    installationId,
    baseUrl: proxy.url,
    spaceWrites: false,
    retryBaseMs: 1,
    rateLimitTimeUnitMs: 1,
    log: { warn: (message, details) => logs.push(`${message} ${JSON.stringify(details ?? {})}`) },
    ...overrides,
  });
  return new OctokitGitHubRunners(octokit, perPage === undefined ? {} : { perPage });
}

async function fresh(): Promise<void> {
  await emulator.reset();
  proxy.takeViolations();
  logs.length = 0;
  clockNow = Math.floor(Date.now() / 1000) * 1000;
}

async function failure(promise: Promise<unknown>): Promise<GitHubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitHubError);
  return error as GitHubError;
}

describeGitHubRunnersContract('OctokitGitHubRunners + GitHub emulator behind Prism', async () => {
  await fresh();
  return emulatorContractSubject({
    github: adapter(),
    app: 'default',
    emulator,
    proxy,
    clock: {
      now: () => clockNow,
      advance: (ms) => {
        clockNow += ms;
      },
    },
  });
});

describe('OctokitGitHubRunners on the wire', () => {
  it('pages through the runner groups and reads them afresh on every call', async () => {
    await fresh();
    const github = adapter({}, 1);
    expect(await github.listRunnerGroups('acme')).toEqual(['Default', 'gpu-pool']);
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runner-groups')).toHaveLength(2);
    await github.listRunnerGroups('acme');
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runner-groups')).toHaveLength(4);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('mints one installation token and reuses it across calls; deliveries use the App JWT', async () => {
    await fresh();
    const github = adapter();
    await github.listRunners(org, '');
    await github.createJitConfig(org, { runnerName: 'wpr-t-1', labels: ['linux-x64'] });
    await github.listRunners(org, '');
    await github.listDeliveries(0);
    expect(emulator.requestsTo(tokenOperation)).toHaveLength(1);
    expect(emulator.requestsTo('GET /app/hook/deliveries').map((r) => r.auth)).toEqual(['app-jwt']);
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runners').map((r) => r.auth)).toEqual([
      'installation-token',
      'installation-token',
    ]);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('registers in the runner group named, resolving the name once per organization', async () => {
    await fresh();
    const github = adapter();
    const scope: RunnerScope = { kind: 'org', org: 'acme', runnerGroup: 'GPU-Pool' };
    const a = await github.createJitConfig(scope, { runnerName: 'wpr-g-1', labels: ['gpu'] });
    const b = await github.createJitConfig(scope, { runnerName: 'wpr-g-2', labels: ['gpu'] });
    const d = await github.createJitConfig(org, { runnerName: 'wpr-g-3', labels: ['gpu'] });
    expect(emulator.runner(a.runnerId)?.groupId).toBeGreaterThan(1);
    expect(emulator.runner(b.runnerId)?.groupId).toBe(emulator.runner(a.runnerId)?.groupId);
    expect(emulator.runner(d.runnerId)?.groupId).toBe(1);
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runner-groups')).toHaveLength(1);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('pages through every runner before filtering by prefix', async () => {
    await fresh();
    const github = adapter({}, 2);
    for (const name of ['wpr-1', 'x-2', 'wpr-3', 'wpr-4', 'x-5']) {
      await github.createJitConfig(org, { runnerName: name, labels: ['linux-x64'] });
    }
    expect((await github.listRunners(org, 'wpr-')).map((r) => r.name)).toEqual(['wpr-1', 'wpr-3', 'wpr-4']);
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runners')).toHaveLength(3);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('stops paging deliveries at the first one older than `since`', async () => {
    await fresh();
    const github = adapter({}, 2);
    for (let i = 0; i < 5; i++) {
      await emulator.queueWorkflowRun({
        repository: { owner: 'acme', name: 'api' },
        jobs: [{ labels: ['x'] }],
      });
      clockNow += 1_000;
    }
    // Deliveries at t0 … t0+4s; since t0+2s keeps three, found on pages one and two of three.
    const deliveries = await github.listDeliveries(clockNow - 3_000);
    expect(deliveries).toHaveLength(3);
    expect(emulator.requestsTo('GET /app/hook/deliveries')).toHaveLength(2);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('retries a 5xx and succeeds', async () => {
    await fresh();
    const github = adapter();
    emulator.injectFault('GET /orgs/{org}/actions/runners', { kind: 'server-error', status: 502 }, 2);
    expect(await github.listRunners(org, '')).toEqual([]);
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runners').map((r) => r.status)).toEqual([
      502, 502, 200,
    ]);
  });

  it('does not retry answers: a 409 and a 404 are sent once', async () => {
    await fresh();
    const github = adapter();
    const request = { runnerName: 'wpr-once', labels: ['linux-x64'] };
    await github.createJitConfig(org, request);
    expect((await failure(github.createJitConfig(org, request))).status).toBe(409);
    expect(await github.getJob({ owner: 'acme', name: 'api' }, 1)).toBeUndefined();
    expect(
      emulator.requests.map((r) => `${r.operation} ${r.status}`).filter((r) => !r.includes('access_tokens')),
    ).toEqual([
      'POST /orgs/{org}/actions/runners/generate-jitconfig 201',
      'POST /orgs/{org}/actions/runners/generate-jitconfig 409',
      'GET /repos/{owner}/{repo}/actions/jobs/{job_id} 404',
    ]);
  });

  it('gives up on a persistent 5xx with a GitHubError carrying the status', async () => {
    await fresh();
    const github = adapter({ serverErrorRetries: 2 });
    emulator.injectFault('POST /orgs/{org}/actions/runners/generate-jitconfig', { kind: 'server-error' }, 10);
    const error = await failure(
      github.createJitConfig(org, { runnerName: 'wpr-5xx', labels: ['linux-x64'] }),
    );
    expect(error.status).toBe(502);
    expect(error.message).toContain('POST /orgs/acme/actions/runners/generate-jitconfig');
    expect(emulator.requestsTo('POST /orgs/{org}/actions/runners/generate-jitconfig')).toHaveLength(3);
  });

  it('waits out a secondary rate limit for its retry-after, then retries once', async () => {
    await fresh();
    const github = adapter({ rateLimitTimeUnitMs: 1000 });
    const operation = 'POST /orgs/{org}/actions/runners/generate-jitconfig';
    emulator.injectFault(operation, { kind: 'secondary-rate-limit', retryAfterSeconds: 1 });
    const jit = await github.createJitConfig(org, { runnerName: 'wpr-sec', labels: ['linux-x64'] });
    expect(jit.runnerId).toBeGreaterThan(0);
    const [limited, retried] = emulator.requestsTo(operation);
    expect([limited?.status, retried?.status]).toEqual([403, 201]);
    // Timers never fire early by more than a millisecond of rounding.
    expect((retried?.receivedAt ?? 0) - (limited?.receivedAt ?? 0)).toBeGreaterThanOrEqual(995);
    expect(logs.join('\n')).toContain('secondary rate limit');
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('retries a 429 secondary limit and a primary limit at most `rateLimitRetries` times', async () => {
    await fresh();
    const github = adapter({ rateLimitRetries: 1 });
    const list = 'GET /orgs/{org}/actions/runners';
    emulator.injectFault(list, { kind: 'secondary-rate-limit', status: 429, retryAfterSeconds: 2 });
    expect(await github.listRunners(org, '')).toEqual([]);
    emulator.injectFault(list, { kind: 'rate-limit', resetInSeconds: 1 }, 2);
    const error = await failure(github.listRunners(org, ''));
    expect(error.status).toBe(403);
    expect(emulator.requestsTo(list).map((r) => r.status)).toEqual([429, 200, 403, 403]);
  });

  it('fails at once when the rate limit asks for a longer wait than allowed', async () => {
    await fresh();
    const github = adapter({ maxRateLimitWaitSeconds: 10 });
    const operation = 'POST /orgs/{org}/actions/runners/generate-jitconfig';
    emulator.injectFault(operation, { kind: 'secondary-rate-limit', retryAfterSeconds: 60 });
    const error = await failure(
      github.createJitConfig(org, { runnerName: 'wpr-wait', labels: ['linux-x64'] }),
    );
    expect(error.status).toBe(403);
    expect(emulator.requestsTo(operation)).toHaveLength(1);
  });

  it('keeps the JIT config, tokens and the private key out of errors and logs', async () => {
    await fresh();
    const github = adapter();
    const jit = await github.createJitConfig(org, { runnerName: 'wpr-secret', labels: ['linux-x64'] });
    // A GitHub message that echoes a secret-looking blob is scrubbed.
    emulator.injectFault('DELETE /orgs/{org}/actions/runners/{runner_id}', {
      kind: 'status',
      status: 422,
      message: `Cannot delete runner with config ${jit.encodedJitConfig}`,
    });
    const echoed = await failure(github.deleteRunner(org, jit.runnerId));
    expect(echoed.status).toBe(422);
    expect(echoed.message).toContain('Cannot delete runner with config [REDACTED]');

    emulator.injectFault('GET /orgs/{org}/actions/runners', { kind: 'server-error', status: 503 }, 10);
    const persistent = await failure(github.listRunners(org, ''));
    expect(persistent.status).toBe(503);

    // A wrong key: the JWT is refused, the error must not show either key.
    const wrongKey = generateAppKeyPair().privateKey;
    const unauthorized = await failure(adapter({ privateKey: wrongKey }).listRunners(org, ''));
    expect(unauthorized.status).toBe(401);

    const everything = [echoed, persistent, unauthorized]
      .map((e) => `${inspect(e, { depth: 10, showHidden: true })}\n${JSON.stringify(e)}`)
      .concat(logs)
      .join('\n');
    expect(everything).not.toContain(jit.encodedJitConfig);
    expect(everything).not.toContain(jit.encodedJitConfig.slice(0, 40));
    for (const secret of [keys.privateKey, wrongKey]) {
      expect(everything).not.toContain(secret.split('\n')[1]);
    }
    expect(everything).not.toMatch(/ghs_[\w-]{10,}/);
    expect(everything).not.toMatch(/bearer ey/i);
  });

  it('speaks to a GitHub Enterprise Server API root', async () => {
    await fresh();
    const github = adapter({ baseUrl: `${emulator.url}/api/v3` });
    const jit = await github.createJitConfig(org, { runnerName: 'wpr-ghes', labels: ['linux-x64'] });
    await emulator.queueWorkflowRun({
      repository: { owner: 'acme', name: 'api' },
      jobs: [{ labels: ['x'] }],
    });
    const [delivery] = await github.listDeliveries(clockNow);
    expect(delivery).toBeDefined();
    if (!delivery) throw new Error('no delivery');
    await github.redeliver(delivery);
    expect(await github.deleteRunner(org, jit.runnerId)).toBe('deleted');
    expect(emulator.requests.length).toBeGreaterThanOrEqual(5);
    expect(emulator.requests.every((r) => r.ghesPrefix && r.status < 400)).toBe(true);
    expect(
      emulator.requestsTo('POST /app/hook/deliveries/{delivery_id}/attempts').map((r) => r.auth),
    ).toEqual(['app-jwt']);
  });

  it('sets the Accept header when configured', async () => {
    await fresh();
    await adapter({ accept: 'application/json' }).listRunners(org, '');
    expect(emulator.requestsTo('GET /orgs/{org}/actions/runners').map((r) => r.accept)).toEqual([
      'application/json',
    ]);
  });
});

describe('a rotated App key', () => {
  const next = generateAppKeyPair();
  const build = (credentials: GitHubAppCredentials) =>
    createGitHubAppOctokit({
      ...credentials,
      baseUrl: proxy.url,
      spaceWrites: false,
      retryBaseMs: 1,
      rateLimitTimeUnitMs: 1,
      log: { warn: (message) => logs.push(message) },
    });

  /** The App secret as Secrets Manager holds it, read through a counter; the key rotates under it. */
  function storedSecret() {
    const secret = { privateKey: keys.privateKey, reads: [] as boolean[] };
    const read = async ({ fresh }: { fresh: boolean }) => {
      secret.reads.push(fresh);
      return { appId, installationId, privateKey: secret.privateKey };
    };
    return { secret, read };
  }

  async function rotate(secret: { privateKey: string }, options: { revokeTokens?: boolean } = {}) {
    emulator.addAppKey(next.publicKey);
    secret.privateKey = next.privateKey;
    emulator.deleteAppKey(keys.publicKey, options);
  }

  it("the emulator refuses the deleted key's JWTs: a client built once keeps failing with 401", async () => {
    await fresh();
    const { secret } = storedSecret();
    const fixed = new OctokitGitHubRunners(build({ appId, installationId, privateKey: keys.privateKey }));
    await fixed.listDeliveries(0);
    await rotate(secret);
    try {
      expect((await failure(fixed.listDeliveries(0))).status).toBe(401);
      expect((await failure(fixed.listDeliveries(0))).status).toBe(401);
    } finally {
      emulator.addAppKey(keys.publicKey);
      emulator.deleteAppKey(next.publicKey);
    }
  });

  it('is read again on a 401 and the call retried once: App JWT calls go on after the old key is deleted', async () => {
    await fresh();
    const { secret, read } = storedSecret();
    const github = new OctokitGitHubRunners(new RenewingGitHubApp({ read, build, clock: { now: () => 0 } }));
    await github.listDeliveries(0);
    await rotate(secret);
    try {
      await github.listDeliveries(0);
      expect(emulator.requestsTo('GET /app/hook/deliveries').map((r) => r.status)).toEqual([200, 401, 200]);
      expect(secret.reads).toEqual([false, true]);
    } finally {
      emulator.addAppKey(keys.publicKey);
      emulator.deleteAppKey(next.publicKey);
    }
  });

  it('drops a revoked installation token with the old client and mints one with the new key', async () => {
    await fresh();
    const { secret, read } = storedSecret();
    const github = new OctokitGitHubRunners(new RenewingGitHubApp({ read, build, clock: { now: () => 0 } }));
    await github.createJitConfig(org, { runnerName: 'wpr-r-1', labels: ['linux-x64'] });
    await rotate(secret, { revokeTokens: true });
    // The token is older than the 5 s within which @octokit/auth-app takes a 401 for replication lag.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 10_000);
    try {
      await github.createJitConfig(org, { runnerName: 'wpr-r-2', labels: ['linux-x64'] });
      const mints = 'POST /orgs/{org}/actions/runners/generate-jitconfig';
      expect(emulator.requestsTo(mints).map((r) => r.status)).toEqual([201, 401, 201]);
      expect(emulator.requestsTo(tokenOperation).map((r) => r.status)).toEqual([201, 201]);
      expect(proxy.takeViolations()).toEqual([]);
    } finally {
      vi.useRealTimers();
      emulator.addAppKey(keys.publicKey);
      emulator.deleteAppKey(next.publicKey);
    }
  });

  it('is read again after its TTL without waiting for a 401, and the client kept while the key is the same', async () => {
    await fresh();
    const { secret, read } = storedSecret();
    let now = 0;
    const github = new OctokitGitHubRunners(
      new RenewingGitHubApp({ read, build, clock: { now: () => now }, keyTtlMs: 300_000 }),
    );
    await github.listRunners(org, '');
    now += 299_000;
    await github.listRunners(org, '');
    now += 2_000;
    await github.listRunners(org, '');
    // Same key: one token for all three calls.
    expect(secret.reads).toEqual([false, false]);
    expect(emulator.requestsTo(tokenOperation)).toHaveLength(1);
    await rotate(secret);
    try {
      now += 300_000;
      await github.listDeliveries(0);
      // The TTL read found the new key: no 401 on the way.
      expect(emulator.requestsTo('GET /app/hook/deliveries').map((r) => r.status)).toEqual([200]);
      expect(secret.reads).toEqual([false, false, false]);
    } finally {
      emulator.addAppKey(keys.publicKey);
      emulator.deleteAppKey(next.publicKey);
    }
  });

  it('a key GitHub does not know stays a 401 GitHubError, and is re-read at most once per interval', async () => {
    await fresh();
    const stranger = generateAppKeyPair();
    const reads: boolean[] = [];
    const read = async ({ fresh: again }: { fresh: boolean }) => {
      reads.push(again);
      return { appId, installationId, privateKey: stranger.privateKey };
    };
    const github = new OctokitGitHubRunners(new RenewingGitHubApp({ read, build, clock: { now: () => 0 } }));
    expect((await failure(github.listDeliveries(0))).status).toBe(401);
    expect((await failure(github.listDeliveries(0))).status).toBe(401);
    expect(reads).toEqual([false, true]);
  });
});

describe('the validating proxy', () => {
  it('flags a request that breaks the description, and does not forward it', async () => {
    await fresh();
    const response = await fetch(`${proxy.url}/orgs/acme/actions/runners/generate-jitconfig`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ name: 'bad', labels: [] }),
    });
    expect(response.status).toBe(422);
    const violations = proxy.takeViolations();
    expect(violations).toHaveLength(1);
    expect(violations[0]?.type).toContain('UNPROCESSABLE_ENTITY');
    expect(emulator.requests).toEqual([]);
  });

  it('flags a response that breaks the description, even when the client gives up quietly', async () => {
    await fresh();
    const github = adapter({ serverErrorRetries: 0 });
    emulator.injectFault('GET /orgs/{org}/actions/runners', { kind: 'invalid-response' });
    await failure(github.listRunners(org, ''));
    const violations = proxy.takeViolations();
    expect(violations.map((v) => [v.method, v.path.split('?')[0], v.type])).toEqual([
      ['GET', '/orgs/acme/actions/runners', 'https://stoplight.io/prism/errors#VIOLATIONS'],
    ]);
  });
});
