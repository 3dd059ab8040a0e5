/**
 * POST /workflow_job (API Gateway HTTP API). In this order, each step before the next so that bad
 * input costs little and changes nothing: body size (413) and presence (400), signature against the current and
 * previous secret (401), event type (ping 200, others 202 ignored), payload (400), a configured
 * (installation, owner) pair (403, always: a signed delivery from an installation the deployment does not
 * list, or for an owner that installation does not serve, is never acted on), allowlist (403), then the core. The core is time-boxed well inside GitHub's 10 s: when the budget runs out the job
 * stays pending for the reconciler, and the response never waits on a retry loop.
 */
import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import { createError } from '@middy/util';
import { verify } from '@octokit/webhooks-methods';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { recordSlackMs, withCallDeadline } from '../scheduler/adapters/call-deadline.js';
import type { Repository } from '../scheduler/core/types.js';
import { handleWorkflowJob } from '../scheduler/core/workflow-job.js';
import { buildControlPlane, type ControlPlane, lazyControlPlane } from './control-plane.js';
import { refusal } from './deployment-owners.js';
import { reportGitHubBudgets } from './github-budget-metrics.js';
import { readSettings } from './settings.js';
import { parseWorkflowJobDelivery } from './workflow-job-payload.js';

type Response = APIGatewayProxyStructuredResultV2;

export function createWebhookHandler(plane: () => Promise<ControlPlane>) {
  return middy<APIGatewayProxyEventV2, Response>()
    .use(httpErrorHandler({ logger: false }))
    .onError(async (request) => {
      // Runs before the error handler above (middy runs onError in reverse): log and count once.
      const error = request.error as { statusCode?: number; message?: string } | null;
      const status = error?.statusCode ?? 500;
      const { deps, logger } = await plane().catch(() => ({ deps: undefined, logger: undefined }));
      deps?.metrics.count('WebhooksRejected', 1, { Reason: String(status) });
      if (status >= 500) logger?.error('webhook failed', { error: request.error as Error });
      else logger?.warn('webhook rejected', { status, reason: error?.message });
    })
    .handler(async (event, context) =>
      receive(await plane(), event, remainingMs(context as Partial<Context> | undefined)),
    );
}

/** The invocation's time left (a cold start builds the control plane inside it); unbounded if unknown. */
function remainingMs(context: Partial<Context> | undefined): number {
  return typeof context?.getRemainingTimeInMillis === 'function'
    ? context.getRemainingTimeInMillis()
    : Number.POSITIVE_INFINITY;
}

/** Kept back from the function's timeout: the answer and the last log line. */
const timeoutReserveMs = 300;

async function receive(
  plane: ControlPlane,
  event: APIGatewayProxyEventV2,
  invocationLeftMs: number,
): Promise<Response> {
  const invocationEnds = Date.now() + invocationLeftMs;
  const { deps, settings, logger } = plane;
  const receivedAt = deps.clock.now();
  const body = rawBody(event, settings.WEBHOOK_MAX_BODY_BYTES);
  if (body.length === 0) throw createError(400, 'empty body');

  const signature = header(event, 'x-hub-signature-256');
  if (signature === undefined) throw createError(401, 'missing X-Hub-Signature-256');
  if (!(await verifiedByAny(await plane.webhookSecrets(), body, signature)))
    throw createError(401, 'signature does not match');

  const type = header(event, 'x-github-event');
  const deliveryId = header(event, 'x-github-delivery') ?? 'unknown';
  if (type === 'ping') return json(200, { ok: true });
  if (type !== 'workflow_job') return json(202, { ignored: `event ${type ?? '(none)'}` });

  const { job, installationId } = parseWorkflowJobDelivery(body, deliveryId);
  const refused = refusal(plane.owners, installationId, job.repository.owner);
  if (refused !== undefined) throw createError(403, refused);
  if (!allowed(job.repository, settings.ALLOWED_OWNERS, settings.ALLOWED_REPOSITORIES))
    throw createError(403, `repository ${job.repository.owner}/${job.repository.name} is not allowed`);

  logger.appendKeys({ jobId: job.jobId, deliveryId, action: job.action });
  try {
    // No step starts after the budget; no AWS or GitHub call runs past the call deadline.
    // Whichever comes first: the call deadline, or the function's own timeout (a cold start spent part
    // of the invocation building the control plane).
    const callLimitMs = Math.min(
      receivedAt + settings.WEBHOOK_CALL_DEADLINE_MS - deps.clock.now(),
      invocationEnds - timeoutReserveMs - recordSlackMs - Date.now(),
    );
    const outcome = await withCallDeadline(callLimitMs, async () =>
      handleWorkflowJob(
        deps,
        {
          config: await plane.configSource.load(),
          deadline: receivedAt + settings.WEBHOOK_BUDGET_MS,
          receivedAt,
        },
        job,
      ),
    );
    const keys = {
      outcome: outcome.kind,
      ...('pool' in outcome && { pool: outcome.pool }),
      ...('instanceId' in outcome && { instanceId: outcome.instanceId }),
      ...('source' in outcome && { source: outcome.source }),
      ...('reason' in outcome && { reason: outcome.reason }),
    };
    logger.info('workflow_job handled', keys);
    deps.metrics.duration('WebhookDuration', deps.clock.now() - receivedAt, { Action: job.action });
    reportGitHubBudgets(plane);
    // `covered`: the pool's runners already serve this job (a hot runner took it): nothing is pending.
    const done = outcome.kind === 'provisioned' || outcome.kind === 'recorded' || outcome.kind === 'covered';
    return json(done ? 200 : 202, keys);
  } finally {
    logger.removeKeys(['jobId', 'deliveryId', 'action']);
  }
}

function rawBody(event: APIGatewayProxyEventV2, maxBytes: number): string {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.byteLength > maxBytes) throw createError(413, `body is over ${maxBytes} bytes`);
  return bytes.toString('utf8');
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  // HTTP APIs lower-case header names; a hand-made event may not.
  for (const [key, value] of Object.entries(event.headers ?? {}))
    if (key.toLowerCase() === name) return value;
  return undefined;
}

async function verifiedByAny(secrets: readonly string[], body: string, signature: string): Promise<boolean> {
  for (const secret of secrets) {
    try {
      if (await verify(secret, body, signature)) return true;
    } catch {
      // A malformed signature header: not verified by this secret.
    }
  }
  return false;
}

function allowed(
  repository: Repository,
  owners: readonly string[],
  repositories: readonly string[],
): boolean {
  if (owners.length === 0 && repositories.length === 0) return true;
  const owner = repository.owner.toLowerCase();
  return owners.includes(owner) || repositories.includes(`${owner}/${repository.name.toLowerCase()}`);
}

function json(statusCode: number, body: unknown): Response {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const plane = lazyControlPlane(() => buildControlPlane(readSettings(process.env), 'webhook'));
export const handler = createWebhookHandler(plane);
