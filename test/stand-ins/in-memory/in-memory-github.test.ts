import { describe, expect, it } from 'vitest';
import type { Repository } from '../../../scheduler/core/types.js';
import { GitHubError, type RunnerScope } from '../../../scheduler/ports/github-runners.js';
import { InMemoryGitHub, labelsMatch } from '../../../stand-ins/in-memory/in-memory-github.js';
import { describeGitHubRunnersContract } from '../../contracts/github-runners.contract.js';

const start = Date.UTC(2026, 0, 5, 9, 0, 0);

function manualClock(at = start) {
  let now = at;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describeGitHubRunnersContract('InMemoryGitHub', async () => {
  const clock = manualClock();
  const github = new InMemoryGitHub({ clock });
  github.addRunnerGroup('acme', 'gpu-pool');
  return {
    github,
    app: 'default',
    org: 'acme',
    runnerGroup: 'gpu-pool',
    repository: { owner: 'acme', name: 'api' },
    otherRepository: { owner: 'acme', name: 'web' },
    queueJob: async (repository, labels) => github.queueJob({ repository, labels }).id,
    cancelJob: async (jobId) => github.cancelJob(jobId),
    now: clock.now,
    advance: clock.advance,
    close: async () => {},
  };
});

describe('InMemoryGitHub runner simulation', () => {
  const api: Repository = { owner: 'acme', name: 'api' };
  const org: RunnerScope = { kind: 'org', org: 'acme' };

  function setup() {
    const clock = manualClock();
    return { clock, github: new InMemoryGitHub({ clock }) };
  }

  it('matches labels case-insensitively as a subset, with self-hosted implied', () => {
    expect(labelsMatch(['self-hosted', 'Linux-X64'], ['linux-x64', 'large'])).toBe(true);
    expect(labelsMatch(['linux-x64', 'gpu'], ['linux-x64'])).toBe(false);
    expect(labelsMatch([], ['linux-x64'])).toBe(true);
  });

  it('gives a connecting runner the oldest queued job it can serve', async () => {
    const { clock, github } = setup();
    const gpu = github.queueJob({ repository: api, labels: ['gpu'] });
    clock.advance(1_000);
    const older = github.queueJob({ repository: api, labels: ['linux-x64'] });
    clock.advance(1_000);
    github.queueJob({ repository: api, labels: ['linux-x64'] });
    await github.createJitConfig(org, { runnerName: 'r-1', labels: ['Linux-X64'] });

    expect(github.connect('r-1')).toEqual({ kind: 'took-job', jobId: older.id });
    expect(await github.getJob(api, older.id)).toMatchObject({ status: 'in_progress', runnerName: 'r-1' });
    expect(await github.getJob(api, gpu.id)).toMatchObject({ status: 'queued' });
    expect(await github.listRunners(org, 'r-')).toMatchObject([{ status: 'online', busy: true }]);
  });

  it('lets an idle runner take the next matching job, and removes it when the job completes', async () => {
    const { github } = setup();
    const jit = await github.createJitConfig(org, { runnerName: 'r-1', labels: ['linux-x64'] });
    expect(github.connect('r-1')).toEqual({ kind: 'idle' });
    github.queueJob({ repository: api, labels: ['gpu'] });
    const job = github.queueJob({ repository: api, labels: ['linux-x64'] });
    expect(await github.getJob(api, job.id)).toMatchObject({ status: 'in_progress', runnerName: 'r-1' });

    const busy = await github.deleteRunner(org, jit.runnerId).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(GitHubError);
    expect((busy as GitHubError).status).toBe(422);

    github.finishJob(job.id);
    expect(await github.getJob(api, job.id)).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(await github.listRunners(org, '')).toEqual([]);
    expect(github.takeEvents().map((e) => [e.action, e.jobId, e.runnerName])).toEqual([
      ['queued', job.id - 1, undefined],
      ['queued', job.id, undefined],
      ['in_progress', job.id, 'r-1'],
      ['completed', job.id, 'r-1'],
    ]);
  });

  it('serves repository jobs with org runners of the owner, and never another repository', async () => {
    const { github } = setup();
    await github.createJitConfig(
      { kind: 'repo', repository: { owner: 'acme', name: 'web' } },
      { runnerName: 'web-1', labels: ['linux-x64'] },
    );
    github.queueJob({ repository: api, labels: ['linux-x64'] });
    expect(github.connect('web-1')).toEqual({ kind: 'idle' });
    expect(github.connect('nobody')).toEqual({ kind: 'not-registered' });
  });

  it('cancels a queued job without a runner', async () => {
    const { github } = setup();
    const job = github.queueJob({ repository: api, labels: ['linux-x64'] });
    github.cancelJob(job.id);
    const completed = github.takeEvents().at(-1);
    expect(completed).toMatchObject({ action: 'completed', conclusion: 'cancelled', jobId: job.id });
    expect(completed?.runnerName).toBeUndefined();
  });

  it('records dropped deliveries with their status and hands them over only when redelivered', async () => {
    const { clock, github } = setup();
    github.dropDeliveries(1, 504);
    github.queueJob({ repository: api, labels: ['linux-x64'] });
    expect(github.takeEvents()).toEqual([]);
    const [failed] = await github.listDeliveries(clock.now());
    expect(failed).toMatchObject({ statusCode: 504, redelivery: false });
    if (!failed) throw new Error('no delivery');
    await github.redeliver(failed);
    const [event] = github.takeEvents();
    expect(event?.deliveryId).toBe(failed?.guid);
  });

  it('fails injected calls with the remaining status and logs every call', async () => {
    const { github } = setup();
    github.injectFault('createJitConfig', { kind: 'secondary-rate-limit' }, 2);
    const request = { runnerName: 'r-1', labels: ['linux-x64'] };
    await expect(github.createJitConfig(org, request)).rejects.toMatchObject({ status: 403 });
    await expect(github.createJitConfig(org, request)).rejects.toMatchObject({ status: 403 });
    await expect(github.createJitConfig(org, request)).resolves.toMatchObject({ runnerId: 1 });
    github.injectFault('*', { kind: 'server-error' });
    await expect(github.listRunners(org, '')).rejects.toMatchObject({ status: 502 });
    expect(github.calls.map((c) => [c.method, c.failedWith])).toEqual([
      ['createJitConfig', 403],
      ['createJitConfig', 403],
      ['createJitConfig', undefined],
      ['listRunners', 502],
    ]);
  });
});
