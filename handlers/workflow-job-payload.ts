/**
 * The `workflow_job` webhook payload, validated: only what the core needs, checked with one schema.
 * Anything that fails it is a 400 whose message says which field; GitHub's own payloads (every
 * example in @octokit/webhooks-examples) pass it.
 */
import { createError } from '@middy/util';
import { z } from 'zod';
import type { WorkflowJobEvent } from '../scheduler/core/types.js';

const timestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'is not a timestamp' })
  .transform((s) => Date.parse(s));

const payloadSchema = z.object({
  action: z.enum(['queued', 'waiting', 'in_progress', 'completed']),
  workflow_job: z.object({
    id: z.number().int().positive(),
    run_id: z.number().int().positive(),
    name: z.string().max(1_000).optional(),
    labels: z.array(z.string().max(200)).max(100),
    created_at: timestamp.optional(),
    started_at: timestamp.nullish(),
    completed_at: timestamp.nullish(),
    runner_name: z.string().nullish(),
    runner_id: z.number().int().nullish(),
    conclusion: z.string().nullish(),
  }),
  repository: z.object({
    name: z.string().min(1),
    owner: z.object({ login: z.string().min(1) }),
  }),
  /** An App's deliveries always name the installation they are for; checked by the handler. */
  installation: z.object({ id: z.number().int().positive() }).optional(),
});

export type WorkflowJobPayload = z.infer<typeof payloadSchema>;

export function parseWorkflowJob(body: string, deliveryId: string): WorkflowJobEvent {
  return parseWorkflowJobDelivery(body, deliveryId).job;
}

/** The job event and the installation the delivery is for (undefined when the payload names none). */
export function parseWorkflowJobDelivery(
  body: string,
  deliveryId: string,
): { job: WorkflowJobEvent; installationId: number | undefined } {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw createError(400, 'body is not valid JSON');
  }
  const result = payloadSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw createError(400, `not a workflow_job payload: ${problems.slice(0, 5).join('; ')}`);
  }
  const { action, workflow_job: job, repository, installation } = result.data;
  return { job: toEvent(deliveryId, action, job, repository), installationId: installation?.id };
}

function toEvent(
  deliveryId: string,
  action: WorkflowJobPayload['action'],
  job: WorkflowJobPayload['workflow_job'],
  repository: WorkflowJobPayload['repository'],
): WorkflowJobEvent {
  return {
    deliveryId,
    action,
    jobId: job.id,
    runId: job.run_id,
    ...(job.name !== undefined && { name: job.name }),
    repository: { owner: repository.owner.login, name: repository.name },
    labels: job.labels,
    ...(job.created_at !== undefined && { createdAt: job.created_at }),
    ...(job.started_at != null && { startedAt: job.started_at }),
    ...(job.completed_at != null && { completedAt: job.completed_at }),
    ...(job.runner_name != null && { runnerName: job.runner_name }),
    ...(job.runner_id != null && { runnerId: job.runner_id }),
    ...(job.conclusion != null && { conclusion: job.conclusion }),
  };
}
