/**
 * The GitHubRunners contract: what InMemoryGitHub and OctokitGitHubRunners (against the GitHub emulator)
 * must both do. GitHub's own side (queueing and cancelling jobs, the clock) is driven through the subject,
 * since the port only reads it.
 *
 * Delivery times have whole-second precision on GitHub, so the suite moves the clock in whole seconds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Repository } from '../../scheduler/core/types.js';
import {
  GitHubError,
  type GitHubRunners,
  type RunnerScope,
  UnknownRunnerGroupError,
} from '../../scheduler/ports/github-runners.js';
import type { GitHubEmulator } from '../../stand-ins/github/github-emulator.js';
import type { ValidatingProxy } from '../../stand-ins/github/validating-proxy.js';

export interface GitHubRunnersContractSubject {
  readonly github: GitHubRunners;
  /** The configured name of the App whose webhook deliveries the subject lists. */
  readonly app: string;
  /** An organization that has a runner group named `runnerGroup` besides `Default`. */
  readonly org: string;
  readonly runnerGroup: string;
  /** Two repositories of `org`. */
  readonly repository: Repository;
  readonly otherRepository: Repository;
  /** GitHub queues a job (a new workflow run) in the repository; resolves with the job id. */
  queueJob(repository: Repository, labels: readonly string[]): Promise<number>;
  /** The job is cancelled, which completes it (and its run, when it is the run's only job). */
  cancelJob(jobId: number): Promise<void>;
  /** GitHub's clock, epoch ms. */
  now(): number;
  advance(ms: number): void;
  close(): Promise<void>;
}

/**
 * The subject for an adapter that talks to the GitHub emulator through the validating proxy: jobs are
 * queued and cancelled at the emulator, and closing checks that no request or answer broke GitHub's
 * OpenAPI description.
 */
export function emulatorContractSubject(options: {
  readonly github: GitHubRunners;
  readonly app: string;
  readonly emulator: GitHubEmulator;
  readonly proxy: ValidatingProxy;
  readonly clock: { now(): number; advance(ms: number): void };
}): GitHubRunnersContractSubject {
  const { emulator, proxy, clock } = options;
  return {
    github: options.github,
    app: options.app,
    org: 'acme',
    runnerGroup: 'gpu-pool',
    repository: { owner: 'acme', name: 'api' },
    otherRepository: { owner: 'acme', name: 'web' },
    queueJob: async (repository, labels) => {
      const { jobIds } = await emulator.queueWorkflowRun({ repository, jobs: [{ labels }] });
      return jobIds[0] ?? 0;
    },
    cancelJob: (jobId) => emulator.cancelJob(jobId),
    now: () => clock.now(),
    advance: (ms) => clock.advance(ms),
    close: async () => {
      await emulator.idle();
      expect(proxy.takeViolations()).toEqual([]);
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

export function describeGitHubRunnersContract(
  name: string,
  make: () => Promise<GitHubRunnersContractSubject>,
): void {
  describe(`GitHubRunners contract: ${name}`, () => {
    let s: GitHubRunnersContractSubject;
    let org: RunnerScope;
    let repo: RunnerScope;

    beforeEach(async () => {
      s = await make();
      org = { kind: 'org', org: s.org };
      repo = { kind: 'repo', repository: s.repository };
    });
    afterEach(async () => {
      await s.close();
    });

    describe('JIT configs', () => {
      it('registers an org runner in the default group, offline until it connects', async () => {
        const jit = await s.github.createJitConfig(org, { runnerName: 'wpr-a-1', labels: ['linux-x64'] });
        expect(jit.runnerId).toBeGreaterThan(0);
        expect(jit.encodedJitConfig.length).toBeGreaterThan(0);
        expect(await s.github.listRunners(org, 'wpr-')).toEqual([
          { id: jit.runnerId, name: 'wpr-a-1', status: 'offline', busy: false },
        ]);
      });

      it('registers an org runner in a runner group named by the pool', async () => {
        const scope: RunnerScope = { kind: 'org', org: s.org, runnerGroup: s.runnerGroup };
        const jit = await s.github.createJitConfig(scope, { runnerName: 'wpr-g-1', labels: ['gpu'] });
        expect((await s.github.listRunners(org, 'wpr-g-')).map((r) => r.id)).toEqual([jit.runnerId]);
      });

      it('refuses a runner group the organization does not have, with a GitHubError', async () => {
        const scope: RunnerScope = { kind: 'org', org: s.org, runnerGroup: 'no-such-group' };
        const error = await rejection(
          s.github.createJitConfig(scope, { runnerName: 'wpr-x-1', labels: ['linux-x64'] }),
        );
        expect(error).toBeInstanceOf(GitHubError);
        // A config mistake the core counts and reports by name, not a transient failure.
        expect(error).toBeInstanceOf(UnknownRunnerGroupError);
        expect(error).toMatchObject({ org: s.org, group: 'no-such-group', status: 404 });
        expect(await s.github.listRunners(org, 'wpr-')).toEqual([]);
      });

      it('registers a repository runner, listed in the repository and not in the organization', async () => {
        const jit = await s.github.createJitConfig(repo, { runnerName: 'wpr-r-1', labels: ['linux-x64'] });
        expect((await s.github.listRunners(repo, 'wpr-')).map((r) => r.id)).toEqual([jit.runnerId]);
        expect(await s.github.listRunners(org, 'wpr-')).toEqual([]);
      });

      it('gives every runner its own id and its own config', async () => {
        const a = await s.github.createJitConfig(org, { runnerName: 'wpr-u-1', labels: ['linux-x64'] });
        const b = await s.github.createJitConfig(org, { runnerName: 'wpr-u-2', labels: ['linux-x64'] });
        const c = await s.github.createJitConfig(repo, { runnerName: 'wpr-u-3', labels: ['linux-x64'] });
        expect(new Set([a.runnerId, b.runnerId, c.runnerId]).size).toBe(3);
        expect(new Set([a.encodedJitConfig, b.encodedJitConfig, c.encodedJitConfig]).size).toBe(3);
      });

      it('refuses a runner name already taken in the scope with GitHubError 409, keeping the first', async () => {
        const first = await s.github.createJitConfig(org, { runnerName: 'wpr-d-1', labels: ['linux-x64'] });
        const error = await rejection(
          s.github.createJitConfig(org, { runnerName: 'wpr-d-1', labels: ['linux-arm64'] }),
        );
        expect(error).toBeInstanceOf(GitHubError);
        expect((error as GitHubError).status).toBe(409);
        expect((await s.github.listRunners(org, 'wpr-d-')).map((r) => r.id)).toEqual([first.runnerId]);
      });
    });

    describe('runner groups', () => {
      it("lists the organization's runner groups by name, GitHub's Default among them", async () => {
        const names = await s.github.listRunnerGroups(s.org);
        expect(names).toContain('Default');
        expect(names).toContain(s.runnerGroup);
        expect(names).not.toContain('no-such-group');
        expect(new Set(names).size).toBe(names.length);
      });

      it('lists the same groups before and after a mint resolved one of them', async () => {
        const before = await s.github.listRunnerGroups(s.org);
        const scope: RunnerScope = { kind: 'org', org: s.org, runnerGroup: s.runnerGroup };
        await s.github.createJitConfig(scope, { runnerName: 'wpr-lg-1', labels: ['gpu'] });
        expect(await s.github.listRunnerGroups(s.org)).toEqual(before);
      });
    });

    describe('runners', () => {
      it('deletes a runner once; the second delete finds nothing', async () => {
        const jit = await s.github.createJitConfig(org, { runnerName: 'wpr-del-1', labels: ['linux-x64'] });
        expect(await s.github.deleteRunner(org, jit.runnerId)).toBe('deleted');
        expect(await s.github.listRunners(org, 'wpr-del-')).toEqual([]);
        expect(await s.github.deleteRunner(org, jit.runnerId)).toBe('not-found');
      });

      it('does not delete a runner through another scope', async () => {
        const jit = await s.github.createJitConfig(org, { runnerName: 'wpr-del-2', labels: ['linux-x64'] });
        expect(await s.github.deleteRunner(repo, jit.runnerId)).toBe('not-found');
        expect((await s.github.listRunners(org, 'wpr-del-')).map((r) => r.id)).toEqual([jit.runnerId]);
      });

      it('frees the name of a deleted runner', async () => {
        const jit = await s.github.createJitConfig(org, { runnerName: 'wpr-del-3', labels: ['linux-x64'] });
        await s.github.deleteRunner(org, jit.runnerId);
        const again = await s.github.createJitConfig(org, { runnerName: 'wpr-del-3', labels: ['linux-x64'] });
        expect(again.runnerId).not.toBe(jit.runnerId);
      });

      it('lists only the runners whose name starts with the prefix', async () => {
        for (const name of ['wpr-lin-1', 'wpr-lin-2', 'wpr-arm-1', 'other-lin-3']) {
          await s.github.createJitConfig(org, { runnerName: name, labels: ['linux-x64'] });
        }
        const names = (await s.github.listRunners(org, 'wpr-lin-')).map((r) => r.name).sort();
        expect(names).toEqual(['wpr-lin-1', 'wpr-lin-2']);
        expect(await s.github.listRunners(org, 'none-')).toEqual([]);
        expect(await s.github.listRunners(org, '')).toHaveLength(4);
      });
    });

    describe('jobs', () => {
      it('reads a queued job with its labels and no runner', async () => {
        const id = await s.queueJob(s.repository, ['self-hosted', 'linux-x64']);
        const job = await s.github.getJob(s.repository, id);
        expect(job).toMatchObject({
          id,
          status: 'queued',
          conclusion: null,
          runnerName: null,
          labels: ['self-hosted', 'linux-x64'],
        });
        expect(job?.runId).toBeGreaterThan(0);
      });

      it('reads a cancelled job as completed', async () => {
        const id = await s.queueJob(s.repository, ['linux-x64']);
        await s.cancelJob(id);
        expect(await s.github.getJob(s.repository, id)).toMatchObject({
          status: 'completed',
          conclusion: 'cancelled',
        });
      });

      it('answers undefined for a job that does not exist or belongs to another repository', async () => {
        const id = await s.queueJob(s.repository, ['linux-x64']);
        expect(await s.github.getJob(s.repository, id + 100_000)).toBeUndefined();
        expect(await s.github.getJob(s.otherRepository, id)).toBeUndefined();
      });

      it('re-runs a completed job as a new queued attempt', async () => {
        const id = await s.queueJob(s.repository, ['linux-x64']);
        await s.cancelJob(id);
        s.advance(5_000);
        const since = s.now();
        await s.github.rerunJob(s.repository, id);
        const queued = (await s.github.listDeliveries(since)).filter((d) => d.action === 'queued');
        expect(queued).toHaveLength(1);
        expect(await s.github.getJob(s.repository, id)).toMatchObject({ status: 'completed' });
      });

      it('refuses to re-run a job whose run is still live, and a job that does not exist', async () => {
        const id = await s.queueJob(s.repository, ['linux-x64']);
        const live = await rejection(s.github.rerunJob(s.repository, id));
        expect(live).toBeInstanceOf(GitHubError);
        expect((live as GitHubError).status).toBe(403);
        const missing = await rejection(s.github.rerunJob(s.repository, id + 100_000));
        expect(missing).toBeInstanceOf(GitHubError);
        expect((missing as GitHubError).status).toBe(404);
      });
    });

    describe('webhook deliveries', () => {
      it('lists workflow_job deliveries newest first, down to `since`', async () => {
        const first = await s.queueJob(s.repository, ['linux-x64']);
        s.advance(10_000);
        const since = s.now();
        const second = await s.queueJob(s.repository, ['linux-arm64']);
        s.advance(10_000);
        await s.cancelJob(second);

        const recent = await s.github.listDeliveries(since);
        expect(recent.map((d) => [d.event, d.action])).toEqual([
          ['workflow_job', 'completed'],
          ['workflow_job', 'queued'],
        ]);
        expect(recent.every((d) => d.deliveredAt >= since && !d.redelivery)).toBe(true);
        expect(recent.every((d) => d.app === s.app)).toBe(true);
        expect(recent[0]?.deliveredAt).toBeGreaterThan(recent[1]?.deliveredAt ?? Number.POSITIVE_INFINITY);
        expect(new Set(recent.map((d) => d.guid)).size).toBe(2);

        const all = await s.github.listDeliveries(since - 60_000);
        expect(all).toHaveLength(3);
        expect(first).not.toBe(second);
      });

      it('redelivers a delivery under the same guid, marked as a redelivery', async () => {
        await s.queueJob(s.repository, ['linux-x64']);
        const [original] = await s.github.listDeliveries(s.now() - 1_000);
        if (!original) throw new Error('no delivery recorded');
        s.advance(3_000);
        await s.github.redeliver({ app: original.app, id: original.id });

        const deliveries = await s.github.listDeliveries(original.deliveredAt);
        expect(deliveries).toHaveLength(2);
        const [again] = deliveries;
        expect(again).toMatchObject({
          app: s.app,
          guid: original.guid,
          redelivery: true,
          event: 'workflow_job',
        });
        expect(again?.id).not.toBe(original.id);
        expect(again?.action).toBe(original.action);
      });

      it('refuses to redeliver a delivery that does not exist', async () => {
        const error = await rejection(s.github.redeliver({ app: s.app, id: 987_654_321 }));
        expect(error).toBeInstanceOf(GitHubError);
        expect((error as GitHubError).status).toBe(404);
      });

      it('refuses to redeliver through an App that did not make the delivery, sending nothing', async () => {
        await s.queueJob(s.repository, ['linux-x64']);
        const [original] = await s.github.listDeliveries(s.now() - 1_000);
        if (!original) throw new Error('no delivery recorded');
        const error = await rejection(s.github.redeliver({ app: `${s.app}-other`, id: original.id }));
        expect(error).toBeInstanceOf(GitHubError);
        expect((error as GitHubError).status).toBe(404);
        expect(await s.github.listDeliveries(original.deliveredAt)).toHaveLength(1);
      });
    });
  });
}
