/**
 * workflow_job webhook payloads built from GitHub's own examples (@octokit/webhooks-examples), with the
 * job, repository, runner and installation replaced. Everything else (sender, organization, the long tail
 * of repository fields) stays as GitHub sent it, so a receiver parses the shape it will meet in production.
 */
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';

export interface WorkflowJobFacts {
  readonly action: 'queued' | 'in_progress' | 'completed' | 'waiting';
  readonly job: {
    readonly id: number;
    readonly runId: number;
    readonly runAttempt: number;
    readonly name: string;
    readonly workflowName: string;
    readonly labels: readonly string[];
    readonly status: 'queued' | 'in_progress' | 'completed' | 'waiting';
    readonly conclusion: string | null;
    readonly createdAt: string;
    readonly startedAt: string;
    readonly completedAt: string | null;
    readonly runnerId: number | null;
    readonly runnerName: string | null;
    readonly runnerGroupId: number | null;
    readonly runnerGroupName: string | null;
  };
  readonly repository: { readonly owner: string; readonly name: string; readonly id: number };
  readonly installationId: number;
}

type Example = Record<string, unknown> & {
  workflow_job: Record<string, unknown>;
  repository: Record<string, unknown> & { full_name: string };
};

const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

function example(action: WorkflowJobFacts['action']): Example {
  const examples = definitions.find((d) => d.name === 'workflow_job')?.examples as unknown as Example[];
  // Prefer examples sent to an App (they carry `installation`), as ours are.
  const found =
    examples.find((e) => e.action === action && 'installation' in e && e.workflow_job.status === action) ??
    examples.find((e) => e.action === action);
  if (!found) throw new Error(`no workflow_job ${action} example in @octokit/webhooks-examples`);
  return found;
}

export function workflowJobPayload(facts: WorkflowJobFacts): Record<string, unknown> {
  const base = example(facts.action);
  const { owner, name, id } = facts.repository;
  // Rename the example's repository everywhere it appears (urls, full_name, owner login).
  const [exampleOwner = '', exampleName = ''] = base.repository.full_name.split('/');
  const renamed = JSON.stringify(base)
    .replaceAll(`${exampleOwner}/${exampleName}`, `${owner}/${name}`)
    .replaceAll(`/users/${exampleOwner}`, `/users/${owner}`)
    .replaceAll(`"login":"${exampleOwner}"`, `"login":"${owner}"`);
  const payload = JSON.parse(renamed) as Example;
  const job = facts.job;
  payload.action = facts.action;
  const exampleOwnerObject = payload.repository.owner as Record<string, unknown> | undefined;
  payload.repository = {
    ...payload.repository,
    id,
    name,
    full_name: `${owner}/${name}`,
    owner: { ...exampleOwnerObject, login: owner },
  };
  payload.installation = { ...(payload.installation as object | undefined), id: facts.installationId };
  payload.workflow_job = {
    ...payload.workflow_job,
    id: job.id,
    run_id: job.runId,
    run_attempt: job.runAttempt,
    run_url: `https://api.github.com/repos/${owner}/${name}/actions/runs/${job.runId}`,
    url: `https://api.github.com/repos/${owner}/${name}/actions/jobs/${job.id}`,
    html_url: `https://github.com/${owner}/${name}/actions/runs/${job.runId}/job/${job.id}`,
    check_run_url: `https://api.github.com/repos/${owner}/${name}/check-runs/${job.id}`,
    node_id: Buffer.from(`CheckRun${job.id}`).toString('base64'),
    name: job.name,
    workflow_name: job.workflowName,
    labels: [...job.labels],
    status: job.status,
    conclusion: job.conclusion,
    created_at: job.createdAt,
    started_at: job.startedAt,
    completed_at: job.completedAt,
    runner_id: job.runnerId,
    runner_name: job.runnerName,
    runner_group_id: job.runnerGroupId,
    runner_group_name: job.runnerGroupName,
    steps: [],
  };
  return payload;
}
