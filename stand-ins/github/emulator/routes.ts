/**
 * The REST endpoints the control plane uses, as GitHub answers them: installation tokens, hook
 * deliveries, runner groups, runners (list, JIT registration, delete), jobs (get, re-run).
 * Runner names are unique per scope (409), ids unique overall; a busy runner cannot be deleted (422);
 * lists paginate with `page`/`per_page` and a Link header. Re-running a job makes a new attempt with a
 * new job id, refused (403) while the run is live.
 */
import type { AppAuth } from './auth.js';
import { type Context, error, pagedReply, pageOf, type Reply, type Route, route } from './http.js';
import { encodeJitConfig, type RunnerHost } from './runners.js';
import { defaultGroup, type GitHubState, type RunnerState, repoScope } from './state.js';
import type { Webhooks } from './webhooks.js';

export interface RouteDeps {
  readonly state: GitHubState;
  readonly auth: AppAuth;
  readonly webhooks: Webhooks;
  readonly runners: RunnerHost;
  /** The URL clients use, for URLs GitHub puts in bodies. */
  readonly publicUrl: () => string;
}

export function buildRoutes(deps: RouteDeps): Route[] {
  const { state } = deps;
  const orgScope = (ctx: Context) => `org:${ctx.params.org?.toLowerCase()}`;
  const ownRepoScope = (ctx: Context) => repoScope(ctx.params.owner, ctx.params.repo);
  return [
    route('POST', '/app/installations/{installation_id}/access_tokens', 'app-jwt', (ctx) =>
      deps.auth.createToken(ctx.appId, Number(ctx.params.installation_id)),
    ),
    route('GET', '/app/hook/deliveries', 'app-jwt', (ctx) => deps.webhooks.listDeliveries(ctx)),
    route('POST', '/app/hook/deliveries/{delivery_id}/attempts', 'app-jwt', (ctx) =>
      deps.webhooks.redeliver(ctx.appId, Number(ctx.params.delivery_id)),
    ),
    route('GET', '/orgs/{org}/actions/runner-groups', 'installation-token', (ctx) => listGroups(state, ctx)),
    route('GET', '/orgs/{org}/actions/runners', 'installation-token', (ctx) =>
      listRunners(state, ctx, orgScope(ctx), `/orgs/${ctx.params.org}/actions/runners`),
    ),
    route('GET', '/repos/{owner}/{repo}/actions/runners', 'installation-token', (ctx) =>
      listRunners(
        state,
        ctx,
        ownRepoScope(ctx),
        `/repos/${ctx.params.owner}/${ctx.params.repo}/actions/runners`,
      ),
    ),
    route('POST', '/orgs/{org}/actions/runners/generate-jitconfig', 'installation-token', (ctx) =>
      generateJitConfig(deps, ctx, orgScope(ctx), ctx.params.org ?? ''),
    ),
    route('POST', '/repos/{owner}/{repo}/actions/runners/generate-jitconfig', 'installation-token', (ctx) =>
      generateJitConfig(deps, ctx, ownRepoScope(ctx), undefined),
    ),
    route('DELETE', '/orgs/{org}/actions/runners/{runner_id}', 'installation-token', (ctx) =>
      deleteRunner(state, orgScope(ctx), Number(ctx.params.runner_id)),
    ),
    route('DELETE', '/repos/{owner}/{repo}/actions/runners/{runner_id}', 'installation-token', (ctx) =>
      deleteRunner(state, ownRepoScope(ctx), Number(ctx.params.runner_id)),
    ),
    route('GET', '/repos/{owner}/{repo}/actions/jobs/{job_id}', 'installation-token', (ctx) => {
      const job = state.repoJob(ctx.params.owner, ctx.params.repo, Number(ctx.params.job_id));
      return job ? { status: 200, body: state.jobJson(job, deps.publicUrl()) } : error(404, 'Not Found');
    }),
    route('POST', '/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun', 'installation-token', (ctx) =>
      rerun(deps, ctx.params.owner, ctx.params.repo, Number(ctx.params.job_id)),
    ),
  ];
}

function listGroups(state: GitHubState, ctx: Context): Reply {
  const org = ctx.params.org ?? '';
  const groups = state.orgGroups(org);
  const paging = pageOf(groups, ctx.query);
  const base = `${ctx.base}/orgs/${org}/actions/runner-groups`;
  const body = {
    total_count: groups.length,
    runner_groups: paging.page.map((g) => ({
      id: g.id,
      name: g.name,
      visibility: 'all',
      default: g.id === defaultGroup.id,
      runners_url: `${base}/${g.id}/runners`,
      inherited: false,
      allows_public_repositories: false,
      restricted_to_workflows: false,
      selected_workflows: [],
      workflow_restrictions_read_only: false,
    })),
  };
  return pagedReply(ctx, `/orgs/${org}/actions/runner-groups`, body, paging);
}

function listRunners(state: GitHubState, ctx: Context, scope: string, path: string): Reply {
  const name = ctx.query.get('name');
  const runners = [...state.runners.values()]
    .filter((r) => r.scope === scope && (name === null || r.name === name))
    .sort((a, b) => a.id - b.id);
  const paging = pageOf(runners, ctx.query);
  const body = { total_count: runners.length, runners: paging.page.map((r) => state.runnerJson(r)) };
  return pagedReply(ctx, path, body, paging);
}

function generateJitConfig(deps: RouteDeps, ctx: Context, scope: string, org: string | undefined): Reply {
  const { state } = deps;
  const body = ctx.body as { name?: unknown; runner_group_id?: unknown; labels?: unknown } | undefined;
  const labels = body?.labels;
  if (
    typeof body?.name !== 'string' ||
    body.name.length === 0 ||
    !Number.isInteger(body.runner_group_id) ||
    !Array.isArray(labels) ||
    labels.length === 0 ||
    labels.length > 100 ||
    !labels.every((l) => typeof l === 'string' && l.length > 0)
  ) {
    return error(422, 'Validation Failed');
  }
  const name = body.name;
  const groupId = body.runner_group_id as number;
  if (org !== undefined && !state.orgGroups(org).some((g) => g.id === groupId))
    return error(404, 'Not Found');
  if (
    [...state.runners.values()].some((r) => r.scope === scope && r.name.toLowerCase() === name.toLowerCase())
  ) {
    return error(409, `Already exists - A runner with the name ${name} already exists.`);
  }
  const id = state.ids.runner++;
  const secret = encodeJitConfig(id, name, labels as string[], deps.publicUrl());
  const runner: RunnerState = {
    id,
    name,
    scope,
    labels: [...(labels as string[])],
    groupId: org !== undefined ? groupId : undefined,
    secret,
    status: 'offline',
    busy: false,
    onlineOrder: 0,
    jobId: undefined,
    handle: undefined,
  };
  state.runners.set(id, runner);
  return { status: 201, body: { runner: state.runnerJson(runner), encoded_jit_config: secret } };
}

function deleteRunner(state: GitHubState, scope: string, runnerId: number): Reply {
  const runner = state.runners.get(runnerId);
  if (!runner || runner.scope !== scope) return error(404, 'Not Found');
  if (runner.busy) return error(422, `Bad request - Runner "${runner.name}" is still running a job"`);
  state.runners.delete(runnerId);
  runner.handle?.resolveExited('removed');
  return { status: 204 };
}

async function rerun(
  deps: RouteDeps,
  owner: string | undefined,
  repo: string | undefined,
  jobId: number,
): Promise<Reply> {
  const { state } = deps;
  const job = state.repoJob(owner, repo, jobId);
  if (!job) return error(404, 'Not Found');
  const latest = state.latestAttempts(job.runId);
  if (latest.some((j) => j.status !== 'completed')) {
    return error(403, 'This workflow run is not completed and cannot be re-run');
  }
  const attempt = Math.max(...latest.map((j) => j.runAttempt)) + 1;
  const again = state.addJob({
    runId: job.runId,
    runAttempt: attempt,
    repository: job.repository,
    name: job.name,
    workflowName: job.workflowName,
    labels: job.labels,
    durationMs: job.durationMs,
  });
  await deps.webhooks.send(again, 'queued');
  deps.runners.dispatch();
  return { status: 201, body: {} };
}
