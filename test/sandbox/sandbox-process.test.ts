/**
 * `npm start -- --no-demo` end to end, as a user meets it: the sandbox is a child process whose URLs
 * are read from what it prints; it answers signed webhooks as the deployed API does, reports them on
 * GET /api/state, agrees with `runners status`, serves a dashboard that loads without a console error
 * and shows the API's figures, and on Ctrl-C (SIGINT) exits leaving nothing listening.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bin/cli/program.js';
import type { StatusReport } from '../../bin/cli/status-command.js';
import type { SandboxState } from '../../bin/sandbox/server-api.js';
import {
  captureIo,
  portRefuses,
  repoRoot,
  runRunners,
  type SandboxProcess,
  sendWebhook,
  startSandboxProcess,
  waitForChromium,
  waitUntil,
  workflowJobBody,
} from './support.js';

const secret = 'sandbox-test-secret';
const jobId = 424_242;

async function state(url: string): Promise<SandboxState> {
  const response = await fetch(`${url}/api/state`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  return (await response.json()) as SandboxState;
}

describe('npm start -- --no-demo (a child process)', () => {
  let sandbox: SandboxProcess;
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  beforeAll(async () => {
    sandbox = await startSandboxProcess(['--no-demo', '--port', '0', '--speed', '6'], {
      WEBHOOK_SECRET: secret,
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
    if (sandbox !== undefined && sandbox.child.exitCode === null && sandbox.child.signalCode === null)
      sandbox.child.kill('SIGKILL');
  });

  it('prints the URLs and the secret it was given, and serves its API', async () => {
    expect(sandbox.webhookUrl).toBe(`${sandbox.url}/workflow_job`);
    expect(sandbox.webhookSecret).toBe(secret);
    expect(sandbox.output()).toMatch(/from WEBHOOK_SECRET/);
    const s = await state(sandbox.url);
    expect(s.sandbox.demo).toBe(false);
    expect(s.pools.map((p) => p.name)).toEqual(['linux-x64', 'linux-arm64']);
  });

  it('answers signed webhooks as the deployed API does', async () => {
    await waitUntil(
      async () => (await state(sandbox.url)).pools.every((p) => p.ready === p.target),
      'the warm pools to fill',
    );
    const body = workflowJobBody(jobId, { owner: 'acme' });
    const good = await sendWebhook(sandbox.webhookUrl, body, secret, 'delivery-1');
    expect([200, 202]).toContain(good.status);
    expect(good.body).toEqual(expect.objectContaining({ outcome: 'provisioned', source: 'pool' }));

    // Signed, but about another organization than the sandbox's: refused without an allowlist.
    const foreign = workflowJobBody(jobId + 1, { owner: 'any-org-at-all' });
    const elsewhere = await sendWebhook(sandbox.webhookUrl, foreign, secret, 'delivery-3');
    expect(elsewhere.status).toBe(403);

    const forged = await sendWebhook(sandbox.webhookUrl, body, 'not-the-secret', 'delivery-2');
    expect(forged).toEqual({ status: 401, body: 'signature does not match' });

    const again = await sendWebhook(sandbox.webhookUrl, body, secret, 'delivery-1');
    expect(again.status).toBe(202);
    expect(again.body).toEqual(expect.objectContaining({ outcome: 'duplicate' }));
  });

  it('reports pools, instances, jobs, metrics and cost on GET /api/state', async () => {
    // Quiet once the pools are warm and the job's runner started: nothing changes between reads.
    await waitUntil(async () => {
      const s = await state(sandbox.url);
      const job = s.jobs.find((j) => j.id === jobId);
      return (
        s.pools.every((p) => p.ready === p.target && p.warming === 0) &&
        job?.phases.instanceRunningAt !== undefined &&
        s.instances.every((i) => i.state === 'ready' || i.state === 'busy' || i.state === 'starting')
      );
    }, 'warm pools and the job started');
    const s = await state(sandbox.url);

    for (const pool of s.pools) {
      expect(pool).toEqual(
        expect.objectContaining({
          name: expect.any(String),
          labels: expect.any(Array),
          target: expect.any(Number),
          ready: expect.any(Number),
          warming: expect.any(Number),
          busy: expect.any(Number),
          fallback: expect.any(Number),
        }),
      );
    }
    expect(s.pools.find((p) => p.name === 'linux-arm64')?.target).toBe(2);
    for (const instance of s.instances)
      expect(instance).toEqual(
        expect.objectContaining({
          id: expect.stringMatching(/^i-/),
          pool: expect.any(String),
          state: expect.any(String),
          instanceType: expect.stringMatching(/\.large$/),
          availabilityZone: expect.stringMatching(/^us-east-1[ab]$/),
          market: expect.stringMatching(/^(on-demand|spot)$/),
        }),
      );

    const job = s.jobs.find((j) => j.id === jobId);
    expect(job).toEqual(
      expect.objectContaining({ pool: 'linux-x64', repository: 'acme/octo-repo', source: 'pool' }),
    );
    expect(job?.latency.boot).toBeGreaterThan(0);
    const serving = s.instances.find((i) => i.jobId === jobId);
    expect(serving?.pool).toBe('linux-x64');
    expect(s.jobTotal).toBe(1);

    expect(s.metrics.webhooksRejected.by['401']).toBe(1);
    expect(s.metrics.claims).toBeGreaterThanOrEqual(1);
    expect(s.latency.phases.boot.count).toBeGreaterThanOrEqual(1);
    expect(s.cost.currency).toBe('USD');
    expect(s.cost.totalUsd).toBeGreaterThan(0);
    expect(s.cost.pools.map((p) => p.name)).toEqual(['linux-x64', 'linux-arm64']);
    // Where the peers are, never what the secret is.
    expect(JSON.stringify(s)).not.toContain(secret);
    expect(s.sandbox.endpoints.ssm).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('agrees with `runners status --json --sandbox`', async () => {
    const run = await runRunners(['status', '--json', '--sandbox', sandbox.url]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as StatusReport;
    const s = await state(sandbox.url);
    expect(report.source).toEqual({ kind: 'sandbox', url: sandbox.url });
    expect(report.pools).toEqual(s.pools);
    expect(report.instances.map((i) => [i.id, i.state, i.jobId])).toEqual(
      s.instances.map((i) => [i.id, i.state, i.jobId]),
    );
    expect(report.jobs.find((j) => j.id === jobId)?.state).toBe(s.jobs.find((j) => j.id === jobId)?.state);

    const human = captureIo();
    expect(await runCli(['status', '--sandbox', sandbox.url], human)).toBe(0);
    expect(human.stdout()).toMatch(/^linux-x64\s+linux,x64\s+\d+\s+\d+/m);
    expect(human.stdout()).toContain(String(jobId));
  }, 30_000);

  it('serves a dashboard that loads cleanly and shows the figures of /api/state', async () => {
    const executablePath = await waitForChromium();
    profile = mkdtempSync(join(tmpdir(), 'wpr-chromium-'));
    // Playwright takes the profile directory as the persistent context's, not as --user-data-dir.
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1440, height: 1000 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`${request.url()} ${request.failure()?.errorText}`));

    const response = await page.goto(`${sandbox.url}/`);
    expect(response?.status()).toBe(200);
    await page.waitForSelector('body[data-rendered-at]');

    // Runs in the page (the tests are type-checked without the DOM library, hence a string).
    const shown = async () =>
      (await page.evaluate(`(() => {
        const text = (selector) => document.querySelector(selector)?.textContent ?? '';
        const pools = [...document.querySelectorAll('[data-pool]')].map((card) => ({
          name: card.dataset.pool,
          ...Object.fromEntries(
            ['target', 'ready', 'warming', 'busy', 'fallback'].map((f) => [
              f,
              Number(card.querySelector('[data-field="' + f + '"]')?.textContent),
            ]),
          ),
        }));
        return {
          pools,
          jobs: Number(text('[data-kpi="jobs-total"]')),
          fallbackJobs: Number(text('[data-kpi="fallback-jobs"]')),
          capacityErrors: Number(text('[data-kpi="capacity-errors"]')),
          rejected: Number(text('[data-kpi="rejected"]')),
          instanceRows: document.querySelectorAll('[data-instance]').length,
          jobRows: [...document.querySelectorAll('[data-job]')].map((row) => Number(row.dataset.job)),
          costRows: [...document.querySelectorAll('[data-repository]')].map((row) => row.dataset.repository),
        };
      })()`)) as { jobRows: number[] };
    const expected = (s: SandboxState) => ({
      pools: s.pools.map((p) => ({
        name: p.name,
        target: p.target,
        ready: p.ready,
        warming: p.warming,
        busy: p.busy,
        fallback: p.fallback,
      })),
      jobs: s.jobTotal,
      fallbackJobs: s.fallbackJobs,
      capacityErrors: s.metrics.capacityErrors.total,
      rejected: s.metrics.webhooksRejected.total,
      instanceRows: s.instances.length,
      jobRows: s.jobs.map((j) => j.id),
      costRows: s.attribution.repositories.map((r) => r.repository),
    });
    // The page polls every second: within a few polls it shows what the API says.
    let last: unknown;
    await waitUntil(
      async () => {
        const [page_, api] = [await shown(), expected(await state(sandbox.url))];
        last = { page: page_, api };
        return JSON.stringify(page_) === JSON.stringify(api);
      },
      `the dashboard to match /api/state (last: ${JSON.stringify(last)})`,
    );
    expect((await shown()).jobRows).toEqual([jobId]);
    expect(await page.textContent('#webhook-url')).toBe(sandbox.webhookUrl);

    // Let the charts collect a few samples before the picture is taken.
    await page.waitForTimeout(1_000);
    mkdirSync(join(repoRoot, 'test/.artifacts'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'test/.artifacts/dashboard.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 60_000);

  it('stops on SIGINT, leaving nothing listening', async () => {
    const s = await state(sandbox.url);
    const ports = [sandbox.url, ...Object.values(s.sandbox.endpoints)].map((u) => Number(new URL(u).port));
    expect(new Set(ports).size).toBeGreaterThanOrEqual(7);
    await context?.close();
    context = undefined;

    sandbox.child.kill('SIGINT');
    const exit = await sandbox.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(sandbox.output()).toMatch(/SIGINT: stopping the sandbox…\s+sandbox stopped/);
    for (const port of ports) expect(await portRefuses(port), `port ${port}`).toBe(true);
  }, 30_000);
});
