/**
 * The GitHub emulator playing GitHub's part: signed webhooks from real payloads, runners that connect
 * with their JIT config and take jobs by labels, failed deliveries and redelivery, reordering, auth.
 * The adapter is the client here (straight to the emulator; the adapter test puts Prism in between).
 */
import { createHmac, createPrivateKey, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGitHubAppOctokit } from '../../../scheduler/adapters/github-app-auth.js';
import { OctokitGitHubRunners } from '../../../scheduler/adapters/github-runners.js';
import { GitHubError, type RunnerScope } from '../../../scheduler/ports/github-runners.js';
import { generateAppKeyPair, verifyAppJwt } from '../../../stand-ins/github/app-jwt.js';
import { GitHubEmulator } from '../../../stand-ins/github/github-emulator.js';
import { WebhookReceiver } from '../../../stand-ins/github/webhook-receiver.js';

const appId = 31337;
const installationId = 5;
const keys = generateAppKeyPair();
const org: RunnerScope = { kind: 'org', org: 'acme' };
const api = { owner: 'acme', name: 'api' };

let emulator: GitHubEmulator;
let receiver: WebhookReceiver;
let github: OctokitGitHubRunners;

function jwt(claims: Record<string, unknown>, privateKey = keys.privateKey, alg = 'RS256'): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const data = `${part({ alg, typ: 'JWT' })}.${part(claims)}`;
  return `${data}.${sign('RSA-SHA256', Buffer.from(data), createPrivateKey(privateKey)).toString('base64url')}`;
}

beforeAll(async () => {
  receiver = await WebhookReceiver.start('s3cret-webhook');
  emulator = await GitHubEmulator.start({
    appId,
    appPublicKey: keys.publicKey,
    installations: { [installationId]: 'acme' },
    webhook: { url: receiver.url, secret: receiver.secret },
  });
  github = new OctokitGitHubRunners(
    createGitHubAppOctokit({
      appId,
      privateKey: keys.privateKey,
      installationId,
      baseUrl: emulator.url,
      spaceWrites: false,
      retryBaseMs: 1,
      log: { warn: () => {} },
    }),
  );
});

afterAll(async () => {
  await emulator?.close();
  await receiver?.close();
});

beforeEach(async () => {
  await emulator.reset();
  receiver.received.length = 0;
  receiver.status = 200;
});

describe('GitHub emulator: webhooks', () => {
  it('sends a signed workflow_job queued webhook built from GitHub’s example payload', async () => {
    const { runId, jobIds } = await emulator.queueWorkflowRun({
      repository: api,
      workflowName: 'Build',
      jobs: [{ name: 'test', labels: ['self-hosted', 'linux-x64'] }],
    });
    const [webhook] = receiver.received;
    expect(webhook?.event).toBe('workflow_job');
    expect(webhook?.signatureValid).toBe(true);
    const expected = createHmac('sha256', receiver.secret)
      .update(webhook?.body ?? '')
      .digest('hex');
    expect(webhook?.headers['x-hub-signature-256']).toBe(`sha256=${expected}`);
    expect(webhook?.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
    expect(webhook?.payload).toMatchObject({
      action: 'queued',
      installation: { id: installationId },
      repository: { name: 'api', full_name: 'acme/api', owner: { login: 'acme' } },
      workflow_job: {
        id: jobIds[0],
        run_id: runId,
        status: 'queued',
        labels: ['self-hosted', 'linux-x64'],
        runner_name: null,
        runner_id: null,
        workflow_name: 'Build',
        name: 'test',
      },
    });
    // Same shape as GitHub's own example: no field dropped, none invented.
    const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];
    const examples = definitions.find((d) => d.name === 'workflow_job')?.examples as
      | WebhookDefinition<'workflow_job'>['examples']
      | undefined;
    const sample = examples?.find((e) => e.action === 'queued' && 'installation' in e);
    expect(Object.keys(webhook?.payload ?? {}).sort()).toEqual(Object.keys(sample ?? {}).sort());
    expect(Object.keys(webhook?.payload.workflow_job ?? {}).sort()).toEqual(
      Object.keys(sample?.workflow_job ?? {}).sort(),
    );
  });

  it('is caught by a receiver holding another secret', async () => {
    const stranger = await WebhookReceiver.start('not-the-secret');
    emulator.setWebhook({ url: stranger.url, secret: receiver.secret });
    try {
      await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['x'] }] });
      expect(stranger.received.map((w) => w.signatureValid)).toEqual([false]);
    } finally {
      emulator.setWebhook({ url: receiver.url, secret: receiver.secret });
      await stranger.close();
    }
  });

  it('records a dropped delivery as failed, and redelivers it for real under the same guid', async () => {
    emulator.dropDeliveries(1, { statusCode: 504 });
    await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['x'] }] });
    expect(receiver.received).toEqual([]);
    const [failed] = await github.listDeliveries(0);
    expect(failed).toMatchObject({
      statusCode: 504,
      redelivery: false,
      event: 'workflow_job',
      action: 'queued',
    });

    if (!failed) throw new Error('no delivery');
    await github.redeliver(failed);
    expect(receiver.received.map((w) => [w.deliveryId, w.signatureValid])).toEqual([[failed?.guid, true]]);
    const [again] = await github.listDeliveries(0);
    expect(again).toMatchObject({ guid: failed?.guid, redelivery: true, statusCode: 200 });
  });

  it('drops a chosen share of deliveries', async () => {
    let draw = 0;
    emulator.dropDeliveries(0.5, { random: () => [0.1, 0.9, 0.2, 0.7][draw++ % 4] ?? 1 });
    await emulator.queueWorkflowRun({ repository: api, jobs: [1, 2, 3, 4].map(() => ({ labels: ['x'] })) });
    const statuses = emulator.deliveryLog().map((d) => d.statusCode);
    expect(statuses.sort()).toEqual([200, 200, 502, 502]);
    expect(receiver.received).toHaveLength(2);
  });

  it('records what the receiver answered', async () => {
    receiver.status = 500;
    await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['x'] }] });
    expect(emulator.deliveryLog().map((d) => [d.statusCode, d.status])).toEqual([
      [500, 'Invalid HTTP Response: 500'],
    ]);
    const failures = await github.listDeliveries(0);
    expect(failures.map((d) => d.statusCode)).toEqual([500]);
  });

  it('holds deliveries to release them reordered, and duplicates one', async () => {
    const { jit, jobId } = await runnerAndJob(['x']);
    emulator.holdDeliveries();
    const handle = emulator.connectRunner(jit);
    await handle.exited;
    await emulator.idle();
    expect(emulator.heldDeliveries().map((d) => d.action)).toEqual(['in_progress', 'completed']);
    await emulator.releaseDeliveries((held) => [...held].reverse());
    expect(receiver.actions(jobId)).toEqual(['queued', 'completed', 'in_progress']);

    const completed = receiver.received.find((w) => w.payload.action === 'completed');
    await emulator.duplicateDelivery(completed?.deliveryId ?? '');
    const copies = receiver.received.filter((w) => w.deliveryId === completed?.deliveryId);
    expect(copies).toHaveLength(2);
    expect(copies[1]?.body).toBe(copies[0]?.body);
  });
});

async function runnerAndJob(
  labels: string[],
  durationMs = 0,
): Promise<{ jit: string; runnerId: number; jobId: number }> {
  const { jobIds } = await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels, durationMs }] });
  const jit = await github.createJitConfig(org, { runnerName: `wpr-${jobIds[0]}`, labels });
  return { jit: jit.encodedJitConfig, runnerId: jit.runnerId, jobId: jobIds[0] ?? 0 };
}

describe('GitHub emulator: runners', () => {
  it('runs the oldest matching job on a connecting runner, then removes the ephemeral runner', async () => {
    const { jobIds } = await emulator.queueWorkflowRun({
      repository: api,
      jobs: [
        { name: 'gpu', labels: ['gpu'] },
        { name: 'first', labels: ['self-hosted', 'Linux-X64'], durationMs: 30 },
        { name: 'second', labels: ['linux-x64'] },
      ],
    });
    const [gpu, first, second] = jobIds;
    const jit = await github.createJitConfig(org, {
      runnerName: 'wpr-run-1',
      labels: ['linux-x64', 'large'],
    });
    const handle = emulator.connectRunner(jit.encodedJitConfig);
    expect(await handle.started).toBe(first);
    expect(await handle.exited).toBe('completed');
    await emulator.idle();

    expect(receiver.actions(first ?? 0)).toEqual(['queued', 'in_progress', 'completed']);
    const inProgress = receiver.received.find(
      (w) => w.payload.action === 'in_progress' && w.payload.workflow_job?.id === first,
    );
    expect(inProgress?.payload.workflow_job).toMatchObject({
      runner_name: 'wpr-run-1',
      runner_id: jit.runnerId,
      runner_group_name: 'Default',
    });
    expect(typeof inProgress?.payload.workflow_job?.started_at).toBe('string');
    expect(await github.getJob(api, first ?? 0)).toMatchObject({
      status: 'completed',
      conclusion: 'success',
      runnerName: 'wpr-run-1',
    });
    expect(await github.getJob(api, gpu ?? 0)).toMatchObject({ status: 'queued' });
    expect(await github.getJob(api, second ?? 0)).toMatchObject({ status: 'queued' });
    expect(await github.listRunners(org, 'wpr-run-')).toEqual([]);
  });

  it('keeps an idle runner waiting until a job it can serve is queued', async () => {
    const jit = await github.createJitConfig(org, { runnerName: 'wpr-idle', labels: ['arm64'] });
    const handle = emulator.connectRunner(jit.encodedJitConfig);
    await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['linux-x64'] }] });
    expect(handle.jobId).toBeUndefined();
    const { jobIds } = await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['ARM64'] }] });
    expect(await handle.started).toBe(jobIds[0]);
    expect(await handle.exited).toBe('completed');
  });

  it('serves an org’s repositories with org runners, and only its own repository with a repo runner', async () => {
    const web: RunnerScope = { kind: 'repo', repository: { owner: 'acme', name: 'web' } };
    const jit = await github.createJitConfig(web, { runnerName: 'wpr-web', labels: ['x'] });
    const handle = emulator.connectRunner(jit.encodedJitConfig);
    await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['x'] }] });
    expect(handle.jobId).toBeUndefined();
    const { jobIds } = await emulator.queueWorkflowRun({
      repository: web.repository,
      jobs: [{ labels: ['x'] }],
    });
    expect(await handle.started).toBe(jobIds[0]);
  });

  it('ends an idle runner deleted through the API; refuses to delete a busy one', async () => {
    const idle = await github.createJitConfig(org, { runnerName: 'wpr-del-idle', labels: ['none'] });
    const idleHandle = emulator.connectRunner(idle.encodedJitConfig);
    expect(await github.deleteRunner(org, idle.runnerId)).toBe('deleted');
    expect(await idleHandle.exited).toBe('removed');
    expect(await idleHandle.started).toBeUndefined();

    const { jit, runnerId, jobId } = await runnerAndJob(['x'], 60_000);
    const busy = emulator.connectRunner(jit);
    await busy.started;
    expect(await github.listRunners(org, `wpr-${jobId}`)).toEqual([
      { id: runnerId, name: `wpr-${jobId}`, status: 'online', busy: true },
    ]);
    const error = await github.deleteRunner(org, runnerId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitHubError);
    expect((error as GitHubError).status).toBe(422);
    await emulator.cancelJob(jobId);
    expect(await busy.exited).toBe('completed');
  });

  it('refuses a JIT config whose registration was deleted before it connected', async () => {
    const jit = await github.createJitConfig(org, { runnerName: 'wpr-gone', labels: ['x'] });
    await github.deleteRunner(org, jit.runnerId);
    const handle = emulator.connectRunner(jit.encodedJitConfig);
    expect(await handle.exited).toBe('removed');
  });

  it('cancels a queued job with no runner and a running one with its runner', async () => {
    const { jobIds } = await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['nobody'] }] });
    await emulator.cancelJob(jobIds[0] ?? 0);
    const cancelled = receiver.received.find((w) => w.payload.action === 'completed');
    expect(cancelled?.payload.workflow_job).toMatchObject({ conclusion: 'cancelled', runner_name: null });

    const { jit, jobId } = await runnerAndJob(['x'], 60_000);
    const handle = emulator.connectRunner(jit);
    await handle.started;
    await emulator.cancelJob(jobId);
    expect(await handle.exited).toBe('completed');
    expect(await github.getJob(api, jobId)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });

  it('re-runs a finished job as a new attempt of the same run', async () => {
    const { runId, jobIds } = await emulator.queueWorkflowRun({ repository: api, jobs: [{ labels: ['x'] }] });
    await emulator.cancelJob(jobIds[0] ?? 0);
    await github.rerunJob(api, jobIds[0] ?? 0);
    const queued = receiver.received.filter((w) => w.payload.action === 'queued').at(-1);
    expect(queued?.payload.workflow_job).toMatchObject({ run_id: runId, run_attempt: 2 });
    expect(queued?.payload.workflow_job?.id).not.toBe(jobIds[0]);
  });
});

describe('GitHub emulator: authentication', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const tokenUrl = () => `${emulator.url}/app/installations/${installationId}/access_tokens`;

  it('verifies App JWTs: signature, issuer, expiry, algorithm', () => {
    const app = { appId, publicKey: keys.publicKey };
    const valid = { iss: appId, iat: now() - 30, exp: now() + 540 };
    expect(verifyAppJwt(jwt(valid), app)).toEqual({ ok: true });
    expect(verifyAppJwt(jwt(valid, generateAppKeyPair().privateKey), app).ok).toBe(false);
    expect(verifyAppJwt(jwt({ ...valid, iss: 1 }), app).ok).toBe(false);
    expect(verifyAppJwt(jwt({ ...valid, exp: now() - 1 }), app).ok).toBe(false);
    expect(verifyAppJwt(jwt({ ...valid, exp: now() + 3600 }), app).ok).toBe(false);
    expect(verifyAppJwt(jwt(valid, keys.privateKey, 'HS256'), app).ok).toBe(false);
    expect(verifyAppJwt('not.a.jwt', app).ok).toBe(false);
  });

  it('mints installation tokens only for a valid App JWT and a known installation', async () => {
    const claims = { iss: appId, iat: now() - 30, exp: now() + 540 };
    const post = (url: string, token: string) =>
      fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      });
    const ok = await post(tokenUrl(), jwt(claims));
    expect(ok.status).toBe(201);
    const { token } = (await ok.json()) as { token: string };
    expect(token).toMatch(/^ghs_/);
    expect((await post(tokenUrl(), jwt(claims, generateAppKeyPair().privateKey))).status).toBe(401);
    expect((await post(`${emulator.url}/app/installations/999/access_tokens`, jwt(claims))).status).toBe(404);

    const runners = `${emulator.url}/orgs/acme/actions/runners`;
    expect((await fetch(runners)).status).toBe(401);
    expect((await fetch(runners, { headers: { authorization: 'token ghs_forged' } })).status).toBe(401);
    expect((await fetch(runners, { headers: { authorization: `token ${token}` } })).status).toBe(200);
    // An installation token does not open the App's own endpoints.
    expect(
      (await fetch(`${emulator.url}/app/hook/deliveries`, { headers: { authorization: `token ${token}` } }))
        .status,
    ).toBe(401);
  });
});
