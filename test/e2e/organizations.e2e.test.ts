/**
 * One deployment serving two organizations and a repository-level install (a user account) through two
 * GitHub Apps, end to end
 * through the real handlers against every peer: jobs of each owner are served, each runner registers
 * where its job's owner says (acme's and globex's organizations, octocat's repository) under that
 * owner's home installation, orphan runners are reaped in both organizations and through the
 * repository path, and a signed delivery from an installation the deployment does not list — or for an
 * owner its installation does not serve — is refused 403 with the store and EC2 untouched.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import type { RunnerScope } from '../../scheduler/ports/github-runners.js';
import { workflowJobPayload } from '../../stand-ins/github/workflow-job-payload.js';
import { e2eConfig, labels, pool, waitFor } from './support.js';

const config = e2eConfig(
  { defaultSize: 3 },
  { pendingJobSeconds: 5, claimTimeoutSeconds: 120, orphanGraceSeconds: 60 },
);
const acme = { owner: 'acme', name: 'app' };
const globex = { owner: 'globex', name: 'api' };
const octocat = { owner: 'octocat', name: 'dotfiles' };

describe('end to end: two organizations and a repository-level install', () => {
  let sandbox: Sandbox;
  const installation = (owner: string) => sandbox.installations.find((i) => i.owner === owner)?.id;

  beforeAll(async () => {
    sandbox = await startSandbox({
      organizations: ['acme', 'globex', { owner: 'octocat', runners: 'repo' }],
      apps: 2,
      poolConfig: config,
      timeScale: 0.02,
      warmupMs: 20,
      schedules: false,
      logLevel: 'ERROR',
    });
    await sandbox.runTuner();
    await waitFor(
      async () => (await sandbox.plane.deps.store.listReady(pool, 10)).length === 3,
      'pool of 3 warmed',
    );
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  it("serves each owner's jobs with runners registered where that owner's installation says", async () => {
    const { github } = sandbox;
    const [a, g] = await Promise.all(
      [acme, globex].map((repository) =>
        github.queueWorkflowRun({ repository, jobs: [{ labels, durationMs: 50 }] }),
      ),
    );
    const jobIds = [a?.jobIds[0] ?? 0, g?.jobIds[0] ?? 0];
    await waitFor(
      () => jobIds.every((id) => github.jobState(id)?.status === 'completed'),
      'both jobs ran',
      60_000,
    );
    // Each runner carries its owner's home installation: acme's is 1, globex's 2.
    expect(github.jobState(jobIds[0] ?? 0)?.runnerName).toMatch(
      new RegExp(`^wpr-${installation('acme')}-i-`),
    );
    expect(github.jobState(jobIds[1] ?? 0)?.runnerName).toMatch(
      new RegExp(`^wpr-${installation('globex')}-i-`),
    );
    const minted = github
      .requestsTo('POST /orgs/{org}/actions/runners/generate-jitconfig')
      .map((r) => r.path.split('/')[2]);
    expect(minted.sort()).toEqual(['acme', 'globex']);
    // Minted through the router of both Apps: each mint counted on one (App, installation) of its owner.
    const budgets = sandbox.plane.githubBudgets?.() ?? [];
    expect(new Set(budgets.map((b) => b.app))).toEqual(new Set(['app-1', 'app-2']));
    expect(budgets.filter((b) => b.mints > 0).every((b) => ['acme', 'globex'].includes(b.owner))).toBe(true);
    expect(budgets.reduce((n, b) => n + b.mints, 0)).toBe(2);
  }, 90_000);

  it("registers a repository-level install's runner with the job's repository, and reaps orphans there", async () => {
    const { github } = sandbox;
    const { deps } = sandbox.plane;
    const run = await github.queueWorkflowRun({
      repository: octocat,
      jobs: [{ labels, durationMs: 20_000 }],
    });
    const jobId = run.jobIds[0] ?? 0;
    await waitFor(() => github.jobState(jobId)?.status === 'in_progress', 'the repository job runs', 60_000);
    expect(github.jobState(jobId)?.runnerName).toMatch(new RegExp(`^wpr-${installation('octocat')}-i-`));
    expect(github.requestsTo('POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig')).toHaveLength(
      1,
    );
    await waitFor(
      async () => (await deps.store.getJob(jobId))?.state === 'running',
      'its in_progress recorded',
    );

    // A runner of ours in that repository with no instance behind it (its instance is gone).
    const scope: RunnerScope = { kind: 'repo', repository: octocat };
    const orphan = `wpr-${installation('octocat')}-i-0000000000000cafe`;
    await deps.github.createJitConfig(scope, { runnerName: orphan, labels: ['linux', 'x64'] });
    await sandbox.runReconciler();
    const left = (await deps.github.listRunners(scope, 'wpr-')).map((r) => r.name);
    expect(left).not.toContain(orphan);
    // The busy runner of the running job stays.
    expect(left).toContain(github.jobState(jobId)?.runnerName);
    await github.cancelJob(jobId);
  }, 90_000);

  it('reaps orphan runners in both organizations and leaves runners that are not ours', async () => {
    const { deps } = sandbox.plane;
    const orgs: RunnerScope[] = [
      { kind: 'org', org: 'acme' },
      { kind: 'org', org: 'globex' },
    ];
    const names = [
      `wpr-${installation('acme')}-i-0000000000000dead`,
      `wpr-${installation('globex')}-i-0000000000000beef`,
    ];
    for (const [i, scope] of orgs.entries())
      await deps.github.createJitConfig(scope, { runnerName: names[i] ?? '', labels: ['linux', 'x64'] });
    // Another deployment's runner in globex (an installation this one does not list).
    await deps.github.createJitConfig(orgs[1] as RunnerScope, {
      runnerName: 'wpr-999-i-0000000000000f00',
      labels: ['linux', 'x64'],
    });

    await sandbox.runReconciler();
    expect((await deps.github.listRunners(orgs[0] as RunnerScope, 'wpr-')).map((r) => r.name)).not.toContain(
      names[0],
    );
    expect((await deps.github.listRunners(orgs[1] as RunnerScope, 'wpr-')).map((r) => r.name)).toEqual([
      'wpr-999-i-0000000000000f00',
    ]);
  }, 60_000);

  it('refuses a signed delivery from an installation it does not list, or for an owner its installation does not serve', async () => {
    const { deps } = sandbox.plane;
    const snapshot = async () =>
      JSON.stringify({
        jobs: await Promise.all(
          (['queued', 'provisioned', 'running', 'completed'] as const).map((s) => deps.store.listJobs(s)),
        ),
        instances: await deps.store.listLiveInstances(),
        ec2: sandbox.ec2.callCounts(),
      });
    // Earlier tests leave replacements warming in the background; compare once the pool is at rest, so
    // that only the forged deliveries could change what the snapshot sees.
    await waitFor(
      async () => (await deps.store.listLiveInstances()).every((i) => i.state === 'ready'),
      'the pool at rest',
      20_000,
    );
    const before = await snapshot();
    for (const [installationId, owner, reason] of [
      [999, 'acme', /installation 999 is not this deployment's/],
      [installation('globex'), 'acme', /owner acme is not served by installation/],
    ] as const) {
      const body = JSON.stringify(
        workflowJobPayload({
          action: 'queued',
          job: {
            id: 987_654_321,
            runId: 1,
            runAttempt: 1,
            name: 'build',
            workflowName: 'CI',
            labels,
            status: 'queued',
            conclusion: null,
            createdAt: new Date().toISOString(),
            startedAt: new Date().toISOString(),
            completedAt: null,
            runnerId: null,
            runnerName: null,
            runnerGroupId: null,
            runnerGroupName: null,
          },
          repository: { owner, name: 'app', id: 77 },
          installationId: installationId ?? 0,
        }),
      );
      const response = await fetch(sandbox.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'workflow_job',
          'x-github-delivery': `forged-${installationId}`,
          'x-hub-signature-256': `sha256=${createHmac('sha256', sandbox.webhookSecret).update(body).digest('hex')}`,
        },
        body,
      });
      expect(response.status).toBe(403);
      expect(await response.text()).toMatch(reason);
    }
    expect(await deps.store.getJob(987_654_321)).toBeUndefined();
    expect(await snapshot()).toBe(before);
  }, 30_000);
});
