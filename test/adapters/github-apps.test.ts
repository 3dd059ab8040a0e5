/**
 * GitHubAppsRouter (createGitHubApps) against the GitHub emulator with two Apps, every request and
 * response checked by Prism against GitHub's OpenAPI description: the port's contract, mints spread
 * over the Apps by budget, a throttled App skipped until its back-off ends, 429 at once when every App
 * is throttled, routing by owner, deliveries per App, and no secret in errors or logs.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubAppOctokit } from '../../scheduler/adapters/github-app-auth.js';
import { createGitHubApps, type GitHubAppConfig } from '../../scheduler/adapters/github-apps.js';
import { GitHubError, type RunnerScope } from '../../scheduler/ports/github-runners.js';
import { generateAppKeyPair } from '../../stand-ins/github/app-jwt.js';
import {
  type EmulatorLimits,
  GitHubEmulator,
  secondaryLimitMessage,
} from '../../stand-ins/github/github-emulator.js';
import { ValidatingProxy } from '../../stand-ins/github/validating-proxy.js';
import { WebhookReceiver } from '../../stand-ins/github/webhook-receiver.js';
import {
  describeGitHubRunnersContract,
  emulatorContractSubject,
} from '../contracts/github-runners.contract.js';

const main = { appId: 1001, keys: generateAppKeyPair(), acme: 11, globex: 12 };
const mint = { appId: 2002, keys: generateAppKeyPair(), acme: 21 };
const acme: RunnerScope = { kind: 'org', org: 'acme' };
const globex: RunnerScope = { kind: 'org', org: 'globex' };
const mintRoute = 'POST /orgs/{org}/actions/runners/generate-jitconfig';

let receiver: WebhookReceiver;
let clockNow = 0;
const logs: string[] = [];

beforeAll(async () => {
  receiver = await WebhookReceiver.start('apps-webhook-secret');
  // Both Apps have a webhook on GitHub; a router configured with `webhook: false` for mint2 ignores its.
  emulator = await GitHubEmulator.start({
    apps: [
      {
        appId: main.appId,
        publicKey: main.keys.publicKey,
        installations: { [main.acme]: 'acme', [main.globex]: 'globex' },
        webhook: { url: receiver.url, secret: receiver.secret },
      },
      {
        appId: mint.appId,
        publicKey: mint.keys.publicKey,
        installations: { [mint.acme]: 'acme' },
        webhook: { url: receiver.url, secret: receiver.secret },
      },
    ],
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

let emulator: GitHubEmulator;
let proxy: ValidatingProxy;

/** One emulator behind one Prism for the file, reset and given its limits per test. */
async function world(limits: EmulatorLimits = {}) {
  await emulator.reset();
  emulator.setLimits(limits);
  proxy.takeViolations();
  receiver.received.length = 0;
  logs.length = 0;
  clockNow = Math.floor(Date.now() / 1000) * 1000;
  return { emulator, proxy };
}

const apps = (mintWebhook = false): GitHubAppConfig[] => [
  {
    name: 'main',
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:wpr/app-main',
    webhook: true,
    installations: [
      { id: main.acme, owner: 'acme' },
      { id: main.globex, owner: 'globex' },
    ],
  },
  {
    name: 'mint2',
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:wpr/app-mint2',
    webhook: mintWebhook,
    installations: [{ id: mint.acme, owner: 'Acme' }],
  },
];

function router(
  proxy: ValidatingProxy,
  options: { mintWebhook?: boolean; mainKey?: string; timeUnitMs?: number } = {},
) {
  const reads: string[] = [];
  const github = createGitHubApps({
    apps: apps(options.mintWebhook),
    readSecret: async (app) => {
      reads.push(app.name);
      return app.name === 'main'
        ? { appId: main.appId, privateKey: options.mainKey ?? main.keys.privateKey }
        : { appId: mint.appId, privateKey: mint.keys.privateKey };
    },
    octokit: {
      baseUrl: proxy.url,
      spaceWrites: false,
      retryBaseMs: 1,
      // The webhook path's settings: a lone installation would wait out a 1 s limit; shared ones never.
      rateLimitRetries: 1,
      maxRateLimitWaitSeconds: 1,
      ...(options.timeUnitMs !== undefined && { rateLimitTimeUnitMs: options.timeUnitMs }),
      log: { warn: (message, details) => logs.push(`${message} ${JSON.stringify(details ?? {})}`) },
    },
    clock: { now: () => clockNow },
  });
  return { github, reads };
}

/** Which App (by name) each request to `operation` went through, and its status. */
function trail(emulator: GitHubEmulator, operation = mintRoute): string[] {
  const names: Record<number, string> = { [main.appId]: 'main', [mint.appId]: 'mint2' };
  return emulator.requestsTo(operation).map((r) => `${names[r.appId ?? 0]} ${r.status}`);
}

async function failure(promise: Promise<unknown>): Promise<GitHubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitHubError);
  return error as GitHubError;
}

/** Uses up an App's mints for the minute, outside the router (another deployment, say). */
async function exhaustMints(
  emulator: GitHubEmulator,
  proxy: ValidatingProxy,
  app: typeof main | typeof mint,
  count: number,
) {
  const octokit = createGitHubAppOctokit({
    appId: app.appId,
    privateKey: app.keys.privateKey,
    installationId: app.acme,
    baseUrl: proxy.url,
    spaceWrites: false,
    log: { warn: () => {} },
  });
  for (let i = 0; i < count; i++)
    await octokit.request(mintRoute, {
      org: 'acme',
      name: `other-${app.appId}-${i}`,
      runner_group_id: 1,
      labels: ['x'],
    });
  emulator.requests.length = 0;
}

describeGitHubRunnersContract('GitHubAppsRouter over two Apps + GitHub emulator behind Prism', async () => {
  const { emulator, proxy } = await world();
  return emulatorContractSubject({
    github: router(proxy).github,
    app: 'main',
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

describe('GitHubAppsRouter: spreading mints', () => {
  it('spreads mints for one organization over both Apps by the budget GitHub reports', async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy);
    for (let i = 0; i < 6; i++) await github.createJitConfig(acme, { runnerName: `wpr-${i}`, labels: ['x'] });
    const counters = emulator.rateLimitCounters().apps;
    expect(counters.map((c) => c.mintsPerMinute)).toEqual([[3], [3]]);
    expect(github.budgets().map((b) => [b.app, b.installation, b.mints])).toEqual([
      ['main', main.acme, 3],
      ['main', main.globex, 0],
      ['mint2', mint.acme, 3],
    ]);
    // Concurrent mints spread too: the calls in flight count against a pair's budget.
    await Promise.all(
      [6, 7, 8, 9].map((i) => github.createJitConfig(acme, { runnerName: `wpr-${i}`, labels: ['x'] })),
    );
    expect(emulator.rateLimitCounters().apps.map((c) => c.mintsPerMinute)).toEqual([[5], [5]]);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('skips an App on a secondary limit, without retrying into it, until its retry-after has passed', async () => {
    const { emulator, proxy } = await world({ jitMintsPerMinutePerApp: 3 });
    await exhaustMints(emulator, proxy, main, 3);
    const { github } = router(proxy);
    clockNow += 20_000; // main's window frees up 40 s from now

    const first = await github.createJitConfig(acme, { runnerName: 'wpr-1', labels: ['x'] });
    expect(emulator.runner(first.runnerId)?.name).toBe('wpr-1');
    // main answered 403 once; the mint went on at once through mint2.
    expect(trail(emulator)).toEqual(['main 403', 'mint2 201']);
    const mainBudget = github.budgets().find((b) => b.app === 'main' && b.owner === 'acme');
    expect(mainBudget?.throttledUntil).toBe(clockNow + 40_000);
    expect(mainBudget?.throttled).toBe(1);

    await github.createJitConfig(acme, { runnerName: 'wpr-2', labels: ['x'] });
    clockNow += 39_000;
    await github.createJitConfig(acme, { runnerName: 'wpr-3', labels: ['x'] });
    // Still backing off: main was not asked again.
    expect(trail(emulator)).toEqual(['main 403', 'mint2 201', 'mint2 201', 'mint2 201']);
    expect(logs.join('\n')).toContain('GitHub App main (installation 11) is rate limited');

    // main's back-off ends. mint2 has more requests left, so it is tried first, but its three mints
    // are used up: it is skipped in turn and main mints.
    clockNow += 1_000;
    await github.createJitConfig(acme, { runnerName: 'wpr-4', labels: ['x'] });
    expect(trail(emulator).slice(4)).toEqual(['mint2 403', 'main 201']);
    expect(
      github.budgets().find((b) => b.app === 'main' && b.owner === 'acme')?.throttledUntil,
    ).toBeUndefined();
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('lets a lone installation wait out a short limit as a single App does, while a shared one moves on', async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy, { timeUnitMs: 20 }); // a GitHub second lasts 20 ms here
    // globex has one installation (main's): its client waits the 1 s retry-after and tries again.
    emulator.injectFault(mintRoute, { kind: 'secondary-rate-limit', retryAfterSeconds: 1 });
    await github.createJitConfig(globex, { runnerName: 'wpr-g', labels: ['x'] });
    expect(trail(emulator)).toEqual(['main 403', 'main 201']);
    expect(github.budgets().every((b) => b.throttledUntil === undefined)).toBe(true);

    // acme has two: no wait, the other App mints. GitHub gave no retry-after: main backs off a minute.
    emulator.requests.length = 0;
    emulator.injectFault(mintRoute, { kind: 'status', status: 403, message: secondaryLimitMessage });
    await github.createJitConfig(acme, { runnerName: 'wpr-a', labels: ['x'] });
    expect(trail(emulator)).toEqual(['main 403', 'mint2 201']);
    const mainBudgets = github.budgets().filter((b) => b.app === 'main');
    expect(mainBudgets.map((b) => b.throttledUntil)).toEqual([clockNow + 60 * 20, clockNow + 60 * 20]);

    // A bare 429 (no retry-after, budget left) is a limit all the same: mint2 backs off a minute too.
    clockNow += 60 * 20;
    emulator.requests.length = 0;
    emulator.injectFault(mintRoute, { kind: 'status', status: 429, message: 'Too Many Requests' });
    emulator.injectFault(mintRoute, { kind: 'status', status: 429, message: 'Too Many Requests' });
    const both = await failure(github.createJitConfig(acme, { runnerName: 'wpr-b', labels: ['x'] }));
    expect(both.status).toBe(429);
    expect(trail(emulator)).toEqual(['main 429', 'mint2 429']);
    expect(github.budgets().map((b) => b.throttledUntil)).toEqual(
      Array.from({ length: 3 }, () => clockNow + 60 * 20),
    );
    // A 403 that is an answer, not a limit, is returned as it is and throttles nothing.
    clockNow += 60 * 20;
    emulator.injectFault(mintRoute, {
      kind: 'status',
      status: 403,
      message: 'Resource not accessible by integration',
    });
    const answer = await failure(github.createJitConfig(acme, { runnerName: 'wpr-c', labels: ['x'] }));
    expect([answer.status, answer.message]).toEqual([
      403,
      expect.stringContaining('Resource not accessible by integration'),
    ]);
    expect(github.budgets().every((b) => b.throttledUntil === undefined)).toBe(true);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('fails at once with 429 when every App for the owner is throttled, and asks GitHub nothing more', async () => {
    const { emulator, proxy } = await world({ jitMintsPerMinutePerApp: 2, status: 429 });
    await exhaustMints(emulator, proxy, main, 2);
    await exhaustMints(emulator, proxy, mint, 2);
    const { github } = router(proxy);
    const error = await failure(github.createJitConfig(acme, { runnerName: 'wpr-1', labels: ['x'] }));
    expect(error.status).toBe(429);
    expect(error.message).toMatch(
      /every GitHub App installation for "acme" is rate limited \(main\/11, mint2\/21\)/,
    );
    // One answer from each (neither waited on nor retried), then nothing while both back off.
    expect(trail(emulator)).toEqual(['main 429', 'mint2 429']);
    expect((await failure(github.createJitConfig(acme, { runnerName: 'wpr-1', labels: ['x'] }))).status).toBe(
      429,
    );
    expect(trail(emulator)).toHaveLength(2);
    // The secondary limit is the App's: its installation on globex backs off too.
    expect((await failure(github.listRunners(globex, ''))).status).toBe(429);
    expect(emulator.requests.filter((r) => r.auth === 'installation-token')).toHaveLength(2);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('moves on from an installation whose primary budget is spent, until its reset', async () => {
    const { emulator, proxy } = await world({ installationRequestsPerHour: 2 });
    const { github } = router(proxy);
    await github.listRunners(acme, ''); // main/acme (order breaks the tie)
    await github.listRunners(acme, ''); // mint2: unknown budget beats main's 1 left
    await github.listRunners(acme, ''); // main: 1 left vs mint2's 1 left
    await github.listRunners(acme, ''); // mint2: last one
    const error = await failure(github.listRunners(acme, ''));
    expect(error.status).toBe(429);
    expect(trail(emulator, 'GET /orgs/{org}/actions/runners')).toEqual([
      'main 200',
      'mint2 200',
      'main 200',
      'mint2 200',
    ]);
    const budgets = github.budgets().filter((b) => b.owner.toLowerCase() === 'acme');
    expect(budgets.map((b) => [b.remaining, b.limit, b.resetAt, b.throttledUntil])).toEqual([
      [0, 2, clockNow + 3_600_000, clockNow + 3_600_000],
      [0, 2, clockNow + 3_600_000, clockNow + 3_600_000],
    ]);
    clockNow += 3_600_000;
    expect(await github.listRunners(acme, '')).toEqual([]);
  });
});

describe('GitHubAppsRouter: owners and deliveries', () => {
  it("routes each call to the owner's installations, and names an owner no App serves", async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy);
    const made = await github.createJitConfig(globex, { runnerName: 'wpr-g', labels: ['x'] });
    expect(await github.listRunners(globex, 'wpr-')).toMatchObject([{ id: made.runnerId }]);
    expect(await github.listRunners(acme, 'wpr-')).toEqual([]);
    const repo = { owner: 'GLOBEX', name: 'web' };
    const { jobIds } = await emulator.queueWorkflowRun({ repository: repo, jobs: [{ labels: ['x'] }] });
    expect(await github.getJob(repo, jobIds[0] ?? 0)).toMatchObject({ status: 'queued' });
    // Only main is installed on globex: every globex call carried that installation's token, acme's not.
    const tokens = emulator.requests
      .filter((r) => r.auth === 'installation-token')
      .map((r) => [r.path.split('/')[2]?.toLowerCase(), r.installationId]);
    expect(tokens).toEqual([
      ['globex', main.globex],
      ['globex', main.globex],
      ['acme', main.acme],
      ['globex', main.globex],
    ]);

    const before = emulator.requests.length;
    const unknown = await failure(
      github.createJitConfig({ kind: 'org', org: 'initech' }, { runnerName: 'x', labels: ['x'] }),
    );
    expect(unknown.message).toBe(
      'create JIT config: no GitHub App installation serves "initech" (served: acme, globex)',
    );
    expect(unknown.status).toBeUndefined();
    expect(emulator.requests).toHaveLength(before);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it("reads each organization's runner groups through an installation on it", async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy);
    expect(await github.listRunnerGroups('acme')).toEqual(['Default', 'gpu-pool']);
    expect(await github.listRunnerGroups('Globex')).toEqual(['Default']);
    const reads = emulator.requestsTo('GET /orgs/{org}/actions/runner-groups').map((r) => r.installationId);
    expect(reads).toHaveLength(2);
    expect([main.acme, mint.acme]).toContain(reads[0]);
    expect(reads[1]).toBe(main.globex);
    const unknown = await failure(github.listRunnerGroups('initech'));
    expect(unknown.message).toContain('list runner groups: no GitHub App installation serves "initech"');
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('lists every webhook App’s deliveries, each tagged, and redelivers through the App that made it', async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy, { mintWebhook: true });
    let draw = 0;
    // acme's job goes to main (kept) and mint2 (lost); globex's to main (kept).
    emulator.dropDeliveries(0.5, { random: () => [0.9, 0.1, 0.9][draw++] ?? 0.9 });
    await emulator.queueWorkflowRun({
      repository: { owner: 'acme', name: 'api' },
      jobs: [{ labels: ['x'] }],
    });
    clockNow += 1_000;
    await emulator.queueWorkflowRun({
      repository: { owner: 'globex', name: 'web' },
      jobs: [{ labels: ['x'] }],
    });
    const deliveries = await github.listDeliveries(0);
    expect(deliveries.map((d) => d.app).sort()).toEqual(['main', 'main', 'mint2']);
    expect(deliveries[0]?.app).toBe('main'); // globex's, the newest
    const failed = deliveries.filter((d) => d.statusCode !== 200);
    expect(failed).toHaveLength(1);
    const [lost] = failed;
    if (!lost) throw new Error('no failed delivery');

    await github.redeliver(lost);
    const redeliveries = emulator.requestsTo('POST /app/hook/deliveries/{delivery_id}/attempts');
    expect(redeliveries.map((r) => [r.appId, r.status])).toEqual([
      [lost.app === 'main' ? main.appId : mint.appId, 202],
    ]);
    expect(receiver.received.filter((w) => w.deliveryId === lost.guid)).toHaveLength(1);
    const wrongApp = await failure(github.redeliver({ app: 'nope', id: lost.id }));
    expect([wrongApp.status, wrongApp.message]).toEqual([
      404,
      'redeliver webhook: no App named "nope" with a webhook (main, mint2)',
    ]);
    expect(proxy.takeViolations()).toEqual([]);
  });

  it('lists only the Apps with a webhook', async () => {
    const { emulator, proxy } = await world();
    const { github } = router(proxy);
    await github.listDeliveries(0);
    expect(emulator.requestsTo('GET /app/hook/deliveries').map((r) => r.appId)).toEqual([main.appId]);
    const notHooked = await failure(github.redeliver({ app: 'mint2', id: 1 }));
    expect(notHooked.status).toBe(404);
  });
});

describe('GitHubAppsRouter: configuration and secrets', () => {
  it('refuses a bad configuration, naming every problem at once', () => {
    const [first, second] = apps();
    if (!first || !second) throw new Error('two Apps expected');
    expect(() =>
      createGitHubApps({
        apps: [
          first,
          {
            ...second,
            name: 'main',
            installations: [
              { id: main.acme, owner: 'x' },
              { id: 5, owner: 'X' },
            ],
          },
        ],
        readSecret: async () => ({ appId: 1, privateKey: '' }),
        clock: { now: () => 0 },
      }),
    ).toThrow(
      'GitHub Apps are misconfigured: App name "main" is used twice; installation 11 is configured twice; App "main" is installed on "X" twice',
    );
    expect(() =>
      createGitHubApps({
        apps: [],
        readSecret: async () => ({ appId: 1, privateKey: '' }),
        clock: { now: () => 0 },
      }),
    ).toThrow(/no App is configured/);
  });

  it('keeps the private keys and tokens out of errors, logs and budgets', async () => {
    const { emulator, proxy } = await world({ jitMintsPerMinutePerApp: 1 });
    const wrongKey = generateAppKeyPair().privateKey;
    const { github, reads } = router(proxy, { mainKey: wrongKey });
    // main's key is wrong: its 401 is an answer, not a limit, and is not failed over.
    const unauthorized = await failure(github.listRunners(globex, ''));
    expect(unauthorized.status).toBe(401);
    expect(reads.filter((r) => r === 'main').length).toBeGreaterThanOrEqual(2); // re-read once on the 401
    await exhaustMints(emulator, proxy, mint, 1);
    const limited = await failure(github.createJitConfig(acme, { runnerName: 'wpr-1', labels: ['x'] }));
    const budgets = github.budgets();
    expect(Object.isFrozen(budgets[0])).toBe(true);
    const everything = [unauthorized, limited]
      .map((e) => `${inspect(e, { depth: 10, showHidden: true })}\n${JSON.stringify(e)}`)
      .concat(logs, JSON.stringify(budgets))
      .join('\n');
    for (const key of [main.keys.privateKey, mint.keys.privateKey, wrongKey])
      expect(everything).not.toContain(key.split('\n')[1]);
    expect(everything).not.toMatch(/ghs_[\w-]{10,}/);
    expect(everything).not.toMatch(/bearer ey/i);
  });
});
