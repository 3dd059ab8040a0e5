/**
 * The GitHub emulator with several Apps and GitHub's rate limits: events go to every App installed on
 * the job's owner, each signed its own way; deliveries belong to an App; runners to the organization;
 * an installation token opens its own account only; the JIT-mint secondary limit is per App, the
 * primary limit per installation, both on the emulator's clock scaled by `timeScale`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createGitHubAppOctokit,
  type GitHubAppOctokit,
} from '../../../scheduler/adapters/github-app-auth.js';
import { OctokitGitHubRunners } from '../../../scheduler/adapters/github-runners.js';
import { GitHubError, type RunnerScope } from '../../../scheduler/ports/github-runners.js';
import { generateAppKeyPair } from '../../../stand-ins/github/app-jwt.js';
import {
  type EmulatorLimits,
  GitHubEmulator,
  secondaryLimitMessage,
} from '../../../stand-ins/github/github-emulator.js';
import { WebhookReceiver } from '../../../stand-ins/github/webhook-receiver.js';

const main = { appId: 101, keys: generateAppKeyPair(), acme: 11, globex: 12 };
const mint = { appId: 202, keys: generateAppKeyPair(), acme: 21 };
const acme: RunnerScope = { kind: 'org', org: 'acme' };
const globex: RunnerScope = { kind: 'org', org: 'globex' };

let mainHook: WebhookReceiver;
let mintHook: WebhookReceiver;
let clock = 0;
const emulators: GitHubEmulator[] = [];

beforeAll(async () => {
  [mainHook, mintHook] = await Promise.all([
    WebhookReceiver.start('main-webhook-secret'),
    WebhookReceiver.start('mint-webhook-secret'),
  ]);
});

afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  await Promise.all([mainHook?.close(), mintHook?.close()]);
});

beforeEach(() => {
  clock = Date.UTC(2026, 11, 6, 9, 0, 0);
  mainHook.received.length = 0;
  mintHook.received.length = 0;
});

async function start(
  options: { limits?: EmulatorLimits; mintWebhook?: boolean } = {},
): Promise<GitHubEmulator> {
  const emulator = await GitHubEmulator.start({
    apps: [
      {
        appId: main.appId,
        publicKey: main.keys.publicKey,
        installations: { [main.acme]: 'acme', [main.globex]: 'globex' },
        webhook: { url: mainHook.url, secret: mainHook.secret },
      },
      {
        appId: mint.appId,
        publicKey: mint.keys.publicKey,
        installations: { [mint.acme]: 'acme' },
        ...(options.mintWebhook === true && { webhook: { url: mintHook.url, secret: mintHook.secret } }),
      },
    ],
    ...(options.limits && { limits: options.limits }),
    now: () => clock,
  });
  emulators.push(emulator);
  return emulator;
}

function octokit(
  emulator: GitHubEmulator,
  app: { appId: number; keys: { privateKey: string } },
  installationId: number,
): GitHubAppOctokit {
  return createGitHubAppOctokit({
    appId: app.appId,
    privateKey: app.keys.privateKey,
    installationId,
    baseUrl: emulator.url,
    spaceWrites: false,
    serverErrorRetries: 0,
    rateLimitRetries: 0,
    log: { warn: () => {} },
  });
}

function runners(
  emulator: GitHubEmulator,
  app: typeof main | typeof mint,
  installationId: number,
  name: string,
) {
  return new OctokitGitHubRunners(octokit(emulator, app, installationId), { app: name });
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ status: number; headers: Record<string, string>; message: string }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number; response?: { headers: Record<string, string> }; message?: string } | undefined;
  if (error === undefined) throw new Error('expected the call to fail');
  return { status: error.status ?? 0, headers: error.response?.headers ?? {}, message: error.message ?? '' };
}

const mintRoute = 'POST /orgs/{org}/actions/runners/generate-jitconfig';
const jit = (client: GitHubAppOctokit, org: string, name: string) =>
  client.request(mintRoute, { org, name, runner_group_id: 1, labels: ['linux-x64'] });

describe('GitHub emulator: several Apps', () => {
  it('delivers a job to every App with a webhook installed on its owner, each signed and addressed its own way', async () => {
    const emulator = await start({ mintWebhook: true });
    const { jobIds } = await emulator.queueWorkflowRun({
      repository: { owner: 'acme', name: 'api' },
      jobs: [{ labels: ['x'] }],
    });
    await emulator.queueWorkflowRun({
      repository: { owner: 'globex', name: 'web' },
      jobs: [{ labels: ['x'] }],
    });
    await emulator.queueWorkflowRun({
      repository: { owner: 'initech', name: 'app' },
      jobs: [{ labels: ['x'] }],
    });

    // acme's job went to both Apps; globex's only to `main`; initech, where no App is installed, to none.
    expect(mainHook.received.map((w) => w.payload.repository)).toMatchObject([
      { full_name: 'acme/api' },
      { full_name: 'globex/web' },
    ]);
    expect(mintHook.received.map((w) => w.payload.workflow_job?.id)).toEqual([jobIds[0]]);
    const [toMain, toMint] = [mainHook.received[0], mintHook.received[0]];
    expect([toMain?.signatureValid, toMint?.signatureValid]).toEqual([true, true]);
    expect(toMain?.payload.installation).toMatchObject({ id: main.acme });
    expect(toMint?.payload.installation).toMatchObject({ id: mint.acme });
    expect(mainHook.received[1]?.payload.installation).toMatchObject({ id: main.globex });
    expect(toMain?.headers['x-github-hook-installation-target-id']).toBe(String(main.appId));
    expect(toMint?.headers['x-github-hook-installation-target-id']).toBe(String(mint.appId));
    expect(toMain?.deliveryId).not.toBe(toMint?.deliveryId);
    expect(toMain?.body.replace(/"id":\d+,"node_id":"[^"]*"}/, '')).toBe(
      toMint?.body.replace(/"id":\d+,"node_id":"[^"]*"}/, ''),
    );
  });

  it('sends an App without a webhook no events at all', async () => {
    const emulator = await start();
    await emulator.queueWorkflowRun({
      repository: { owner: 'acme', name: 'api' },
      jobs: [{ labels: ['x'] }],
    });
    expect(mainHook.received).toHaveLength(1);
    expect(mintHook.received).toEqual([]);
    expect(emulator.deliveryLog().map((d) => d.appId)).toEqual([main.appId]);
  });

  it("lists and redelivers only the asking App's deliveries", async () => {
    const emulator = await start({ mintWebhook: true });
    emulator.dropDeliveries(1, { statusCode: 502 });
    await emulator.queueWorkflowRun({
      repository: { owner: 'acme', name: 'api' },
      jobs: [{ labels: ['x'] }],
    });
    const viaMain = runners(emulator, main, main.acme, 'main');
    const viaMint = runners(emulator, mint, mint.acme, 'mint');
    const [mainDelivery] = await viaMain.listDeliveries(0);
    const [mintDelivery] = await viaMint.listDeliveries(0);
    expect(mainDelivery).toMatchObject({ app: 'main', statusCode: 502 });
    expect(mintDelivery).toMatchObject({ app: 'mint', statusCode: 502 });
    expect(mainDelivery?.guid).not.toBe(mintDelivery?.guid);

    // The emulator refuses another App's delivery id even when the caller's name matches its own.
    const stolen = await failure(viaMint.redeliver({ app: 'mint', id: mainDelivery?.id ?? 0 }));
    expect(stolen.status).toBe(404);
    await viaMain.redeliver({ app: 'main', id: mainDelivery?.id ?? 0 });
    expect(mainHook.received.map((w) => w.deliveryId)).toEqual([mainDelivery?.guid]);
    expect(mintHook.received).toEqual([]);
    expect((await viaMint.listDeliveries(0)).map((d) => d.redelivery)).toEqual([false]);
  });

  it("shares the organization's runners between its Apps, and keeps each token to its own account", async () => {
    const emulator = await start();
    const mainAcme = runners(emulator, main, main.acme, 'main');
    const mintAcme = runners(emulator, mint, mint.acme, 'mint');
    const made = await mintAcme.createJitConfig(acme, { runnerName: 'wpr-1', labels: ['x'] });
    expect((await mainAcme.listRunners(acme, 'wpr-')).map((r) => r.id)).toEqual([made.runnerId]);
    expect(await mainAcme.deleteRunner(acme, made.runnerId)).toBe('deleted');

    // acme's installation token does not open globex: 403 for the organization, 404 for its repositories.
    const wrongOrg = await failure(mintAcme.listRunners(globex, ''));
    expect(wrongOrg.status).toBe(403);
    const repo: RunnerScope = { kind: 'repo', repository: { owner: 'globex', name: 'web' } };
    const wrongRepo = await failure(mintAcme.createJitConfig(repo, { runnerName: 'wpr-2', labels: ['x'] }));
    expect(wrongRepo.status).toBe(404);
    expect(await runners(emulator, main, main.globex, 'main').listRunners(globex, '')).toEqual([]);
  });

  it("mints installation tokens only for the asking App's own installations", async () => {
    const emulator = await start();
    const error = await runners(emulator, mint, main.acme, 'mint')
      .listRunners(acme, '')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitHubError);
    expect((error as GitHubError).status).toBe(404);
    expect(emulator.requestsTo('POST /app/installations/{installation_id}/access_tokens')).toMatchObject([
      { status: 404, auth: 'app-jwt' },
    ]);
  });

  it('refuses options that mix several Apps with the single-App ones, or name an installation twice', async () => {
    const app = { appId: 1, publicKey: main.keys.publicKey, installations: { 1: 'acme' } };
    await expect(GitHubEmulator.start({ apps: [app], appId: 1 })).rejects.toThrow(/either `apps`/);
    await expect(GitHubEmulator.start({ apps: [] })).rejects.toThrow(/at least one App/);
    await expect(GitHubEmulator.start({})).rejects.toThrow(/needs `apps`/);
    await expect(GitHubEmulator.start({ apps: [app, { ...app, appId: 2 }] })).rejects.toThrow(
      /installation 1 is configured twice/,
    );
  });
});

describe('GitHub emulator: the JIT-mint secondary limit', () => {
  it('bites at the configured rate per App, not per organization, and lifts when the minute has passed', async () => {
    const emulator = await start({ limits: { jitMintsPerMinutePerApp: 3 } });
    const mainAcme = octokit(emulator, main, main.acme);
    const mainGlobex = octokit(emulator, main, main.globex);
    const mintAcme = octokit(emulator, mint, mint.acme);
    await jit(mainAcme, 'acme', 'a-1');
    clock += 10_000;
    await jit(mainGlobex, 'globex', 'g-1'); // the App's other installation counts too
    clock += 10_000;
    await jit(mainAcme, 'acme', 'a-2');
    clock += 10_000;

    const limited = await failure(jit(mainAcme, 'acme', 'a-3'));
    expect(limited.status).toBe(403);
    expect(limited.message).toContain(secondaryLimitMessage);
    // The first mint leaves the window 60 s after it was made: 30 s from now.
    expect(limited.headers['retry-after']).toBe('30');
    expect((await failure(jit(mainGlobex, 'globex', 'g-2'))).status).toBe(403);
    // Another App installed on the same organization is not limited by the first one's mints.
    await jit(mintAcme, 'acme', 'm-1');
    await jit(mintAcme, 'acme', 'm-2');
    // Nothing was registered by a refused mint.
    expect(emulator.requestsTo(mintRoute).map((r) => r.status)).toEqual([201, 201, 201, 403, 403, 201, 201]);

    clock += 29_999;
    expect((await failure(jit(mainAcme, 'acme', 'a-3'))).headers['retry-after']).toBe('1');
    clock += 1;
    await jit(mainAcme, 'acme', 'a-3');
    expect((await failure(jit(mainAcme, 'acme', 'a-4'))).headers['retry-after']).toBe('10');

    const [mainCounts, mintCounts] = emulator.rateLimitCounters().apps;
    expect(mainCounts).toEqual({
      appId: main.appId,
      mintsPerMinute: [3, 1],
      peakMintsInAMinute: 3,
      mintsThrottled: 4,
      requestsThrottled: 0,
    });
    expect(mintCounts).toMatchObject({ appId: mint.appId, mintsPerMinute: [2], mintsThrottled: 0 });
  });

  it('answers 429 when told to, and keeps to the time scale while speaking GitHub seconds', async () => {
    // timeScale 0.02: a minute lasts 1.2 s of the emulator's clock.
    const emulator = await start({ limits: { jitMintsPerMinutePerApp: 2, timeScale: 0.02, status: 429 } });
    const client = octokit(emulator, main, main.acme);
    await jit(client, 'acme', 'a-1');
    await jit(client, 'acme', 'a-2');
    const limited = await failure(jit(client, 'acme', 'a-3'));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    clock += 600;
    expect((await failure(jit(client, 'acme', 'a-3'))).headers['retry-after']).toBe('30');
    clock += 600;
    await jit(client, 'acme', 'a-3');
    expect(emulator.rateLimitCounters().apps[0]?.mintsPerMinute).toEqual([2, 1]);
  });

  it('forgets the windows and counters on reset', async () => {
    const emulator = await start({ limits: { jitMintsPerMinutePerApp: 1 } });
    const client = octokit(emulator, main, main.acme);
    await jit(client, 'acme', 'a-1');
    expect((await failure(jit(client, 'acme', 'a-2'))).status).toBe(403);
    await emulator.reset();
    expect(emulator.rateLimitCounters().apps[0]).toMatchObject({ mintsPerMinute: [], mintsThrottled: 0 });
    await jit(client, 'acme', 'a-2');
  });
});

describe('GitHub emulator: the installation rate limit', () => {
  const list = (client: GitHubAppOctokit, org: string) =>
    client.request('GET /orgs/{org}/actions/runners', { org });

  it('counts each installation apart, with consistent headers on every answer, and resets after the hour', async () => {
    const emulator = await start({ limits: { installationRequestsPerHour: 3 } });
    const acmeClient = octokit(emulator, main, main.acme);
    const start0 = clock;
    const headers = [];
    for (let i = 0; i < 3; i++) {
      headers.push((await list(acmeClient, 'acme')).headers);
      clock += 60_000;
    }
    const reset = String(Math.ceil((start0 + 3_600_000) / 1000));
    expect(
      headers.map((h) => [h['x-ratelimit-limit'], h['x-ratelimit-used'], h['x-ratelimit-remaining']]),
    ).toEqual([
      ['3', '1', '2'],
      ['3', '2', '1'],
      ['3', '3', '0'],
    ]);
    expect(
      headers.every((h) => h['x-ratelimit-reset'] === reset && h['x-ratelimit-resource'] === 'core'),
    ).toBe(true);

    const exhausted = await failure(list(acmeClient, 'acme'));
    expect(exhausted.status).toBe(403);
    expect(exhausted.message).toContain(`API rate limit exceeded for installation ID ${main.acme}`);
    expect(exhausted.headers).toMatchObject({
      'x-ratelimit-remaining': '0',
      'x-ratelimit-used': '3',
      'x-ratelimit-reset': reset,
    });
    // The same App's installation on globex, and the other App's on acme, have their own budgets.
    expect(
      (await list(octokit(emulator, main, main.globex), 'globex')).headers['x-ratelimit-remaining'],
    ).toBe('2');
    expect((await list(octokit(emulator, mint, mint.acme), 'acme')).headers['x-ratelimit-remaining']).toBe(
      '2',
    );
    expect(emulator.rateLimitCounters().apps[0]?.requestsThrottled).toBe(1);

    clock = start0 + 3_600_000;
    const renewed = (await list(acmeClient, 'acme')).headers;
    expect([renewed['x-ratelimit-used'], renewed['x-ratelimit-remaining']]).toEqual(['1', '2']);
    expect(renewed['x-ratelimit-reset']).toBe(String(Math.ceil((clock + 3_600_000) / 1000)));
  });

  it('refuses a mint from an exhausted installation before counting it as a mint', async () => {
    const emulator = await start({ limits: { installationRequestsPerHour: 1, status: 429 } });
    const client = octokit(emulator, main, main.acme);
    await jit(client, 'acme', 'a-1');
    const refused = await failure(jit(client, 'acme', 'a-2'));
    expect(refused.status).toBe(429);
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(emulator.rateLimitCounters().apps[0]).toMatchObject({ mintsPerMinute: [1], requestsThrottled: 1 });
  });

  it('reports the reset in GitHub seconds under a time scale', async () => {
    const emulator = await start({ limits: { installationRequestsPerHour: 5, timeScale: 0.02 } });
    const client = octokit(emulator, main, main.acme);
    const first = (await list(client, 'acme')).headers;
    expect(first['x-ratelimit-reset']).toBe(String(Math.ceil((clock + 3_600_000) / 1000)));
    // The scaled hour lasts 72 s of the emulator's clock: 36 s in, half of GitHub's hour is left.
    clock += 36_000;
    const later = (await list(client, 'acme')).headers;
    expect(later['x-ratelimit-reset']).toBe(String(Math.ceil((clock + 1_800_000) / 1000)));
    clock += 36_000;
    expect((await list(client, 'acme')).headers['x-ratelimit-used']).toBe('1');
  });
});
