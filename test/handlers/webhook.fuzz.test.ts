/**
 * Hostile input: arbitrary bodies, headers and signatures get only 2xx/4xx answers, and change no
 * state unless the signature is valid.
 */
import webhookExamples from '@octokit/webhooks-examples' with { type: 'json' };
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWebhookHandler } from '../../handlers/webhook.js';
import { fakePlane, lambdaContext, sign, stateOf, warmPools, webhookEvent } from './support.js';

const examples = (webhookExamples as unknown as { name: string; examples: unknown[] }[]).find(
  (e) => e.name === 'workflow_job',
)?.examples as Record<string, unknown>[];

/** Bodies from pure noise to real payloads with fields replaced by garbage. */
const body = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 3 }),
  fc.constantFrom(...examples).map((e) => JSON.stringify(e)),
  fc
    .tuple(
      fc.constantFrom(...examples),
      fc.constantFrom('action', 'workflow_job', 'repository'),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([example, field, value]) => JSON.stringify({ ...example, [field]: value })),
  fc
    .tuple(
      fc.constantFrom(...examples),
      fc.constantFrom('id', 'labels', 'run_id', 'runner_name', 'created_at'),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([example, field, value]) =>
      JSON.stringify({ ...example, workflow_job: { ...(example.workflow_job as object), [field]: value } }),
    ),
);

const eventType = fc.oneof(fc.constantFrom('workflow_job', 'ping', 'push', ''), fc.string({ maxLength: 20 }));
const extraHeaders = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 20 }).filter((k) => /^[a-z-]+$/.test(k) && !k.startsWith('x-hub')),
  fc.string({ maxLength: 40 }),
  { maxKeys: 4 },
);

describe('webhook handler under hostile input', () => {
  it('answers every unsigned or wrongly signed request with a 4xx and changes nothing', async () => {
    const plane = fakePlane();
    await warmPools(plane);
    const handler = createWebhookHandler(async () => plane);
    const before = await stateOf(plane);
    await fc.assert(
      fc.asyncProperty(
        body,
        eventType,
        extraHeaders,
        fc.option(
          fc.oneof(
            fc.string({ maxLength: 80 }),
            fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256=${h}`),
          ),
        ),
        fc.boolean(),
        async (text, type, headers, signature, base64) => {
          const response = await handler(
            webhookEvent(
              text,
              {
                ...headers,
                'x-github-event': type,
                ...(signature !== null && { 'x-hub-signature-256': signature }),
              },
              { base64 },
            ),
            lambdaContext,
          );
          expect([400, 401, 413]).toContain(response.statusCode);
        },
      ),
      { numRuns: 400 },
    );
    expect(await stateOf(plane)).toBe(before);
  });

  it('answers every validly signed request with a 2xx or 4xx, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, eventType, async (text, type) => {
        const plane = fakePlane();
        await warmPools(plane, 1);
        const handler = createWebhookHandler(async () => plane);
        const before = await stateOf(plane);
        const response = await handler(
          webhookEvent(text, {
            'x-github-event': type,
            'x-hub-signature-256': sign(text),
            'x-github-delivery': 'fuzz',
          }),
          lambdaContext,
        );
        expect([200, 202, 400, 403, 413]).toContain(response.statusCode);
        // Only a workflow_job that passed validation may change anything.
        if ((response.statusCode ?? 500) >= 400 || type !== 'workflow_job')
          expect(await stateOf(plane)).toBe(before);
      }),
      { numRuns: 300 },
    );
  });
});
