/**
 * No secret ever reaches a log line: the webhook secret, the GitHub App key and the JIT configs are
 * searched for in everything the handlers print through a whole job's life and through failures.
 */
import webhookExamples from '@octokit/webhooks-examples' with { type: 'json' };
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookHandler } from '../../handlers/webhook.js';
import {
  fakePlane,
  forDeployment,
  lambdaContext,
  previousSecret,
  sign,
  signedEvent,
  warmPools,
  webhookEvent,
  webhookSecret,
} from './support.js';

type Example = { action: string; workflow_job: Record<string, unknown>; repository: unknown };
const examples = (webhookExamples as unknown as { name: string; examples: Example[] }[])
  .find((e) => e.name === 'workflow_job')
  ?.examples.map(forDeployment) as Example[];

describe('secrets in logs', () => {
  let printed: string[] = [];
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };

  beforeEach(() => {
    printed = [];
    const capture = (chunk: unknown) => {
      printed.push(String(chunk));
      return true;
    };
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
  });

  afterEach(() => {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  });

  it('prints no webhook secret and no JIT config through a job and its failures', async () => {
    const plane = fakePlane();
    await warmPools(plane);
    const handler = createWebhookHandler(async () => plane);
    const queued = examples.find(
      (e) => e.action === 'queued' && JSON.stringify(e).includes('k8s'),
    ) as Example;
    const jitConfigs: string[] = [];

    for (let i = 0; i < 4; i++) {
      const payload = { ...queued, workflow_job: { ...queued.workflow_job, id: 9000 + i } };
      await handler(signedEvent(payload, 'workflow_job', `d-${i}`), lambdaContext);
      const job = await plane.store.getJob(9000 + i);
      const config = job?.provisionedInstance ? plane.jit.read(job.provisionedInstance) : undefined;
      if (config) jitConfigs.push(config);
    }
    // Failures: a wrong signature, a malformed body, a fault inside.
    const body = JSON.stringify(queued);
    await handler(
      webhookEvent(body, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(body, 'guess') }),
      lambdaContext,
    );
    await handler(
      webhookEvent('{', { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign('{') }),
      lambdaContext,
    );
    plane.store.failNextWith(new Error('boom'));
    await handler(
      signedEvent({ ...queued, workflow_job: { ...queued.workflow_job, id: 9100 } }),
      lambdaContext,
    );

    const output = printed.join('');
    expect(jitConfigs.length).toBeGreaterThan(0);
    expect(output.length).toBeGreaterThan(0); // the scan looked at real output
    for (const secret of [webhookSecret, previousSecret, ...jitConfigs]) expect(output).not.toContain(secret);
    expect(output).toContain('workflow_job handled');
  });
});
