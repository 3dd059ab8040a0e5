/**
 * The webhook handler as API Gateway calls it: every workflow_job example GitHub publishes, signed;
 * signatures (missing, wrong, the previous secret during rotation); event types; malformed, invalid
 * and oversized bodies; the allowlist; duplicates; the time budget.
 */
import webhookExamples from '@octokit/webhooks-examples' with { type: 'json' };
import { beforeEach, describe, expect, it } from 'vitest';
import { createWebhookHandler } from '../../handlers/webhook.js';
import { callSignal } from '../../scheduler/adapters/call-deadline.js';
import { handOverFailedReason } from '../../scheduler/core/provision.js';
import { GitHubError } from '../../scheduler/ports/github-runners.js';
import { workflowJobPayload } from '../../stand-ins/github/workflow-job-payload.js';
import {
  type FakePlane,
  fakePlane,
  forDeployment,
  lambdaContext,
  previousSecret,
  sign,
  signedEvent,
  stateOf,
  testPools,
  warmPools,
  webhookEvent,
} from './support.js';

type Example = {
  action: string;
  workflow_job: { id: number; labels: string[]; runner_name: string | null };
  repository: { owner: { login: string } };
};
const examples = (webhookExamples as unknown as { name: string; examples: Example[] }[])
  .find((e) => e.name === 'workflow_job')
  ?.examples.map(forDeployment) as Example[];

function invoke(plane: FakePlane, event: ReturnType<typeof webhookEvent>) {
  return createWebhookHandler(async () => plane)(event, lambdaContext);
}

describe('webhook handler: GitHub example payloads', () => {
  it('has the examples to run', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
    expect(new Set(examples.map((e) => e.action))).toEqual(
      new Set(['queued', 'waiting', 'in_progress', 'completed']),
    );
  });

  it.each(examples.map((e, i) => [`${i} ${e.action} [${e.workflow_job.labels.join(', ')}]`, e] as const))(
    'example %s gets the expected response and effect',
    async (_, example) => {
      const plane = fakePlane();
      await warmPools(plane);
      const response = await invoke(plane, signedEvent(example));
      const job = await plane.store.getJob(example.workflow_job.id);
      const ours = !example.workflow_job.labels.includes('ubuntu-latest');

      if (!ours) {
        expect(response.statusCode).toBe(202);
        expect(JSON.parse(response.body ?? '{}')).toEqual({ outcome: 'ignored', reason: 'no-pool' });
        expect(job).toBeUndefined();
        return;
      }
      expect(response.statusCode).toBe(200);
      expect(job?.repository.name).toBeTruthy();
      if (example.action === 'queued') {
        // A runner was provided: an instance claimed, started, and its JIT config delivered to it alone.
        expect(job?.state).toBe('provisioned');
        expect(job?.source).toBe('pool');
        const instanceId = job?.provisionedInstance as string;
        expect(plane.compute.instance(instanceId)?.state).toBe('pending');
        expect(plane.jit.read(instanceId)).toBeTruthy();
        expect((await plane.jit.listPending()).map((p) => p.instanceId)).toEqual([instanceId]);
        expect(job?.phases.receivedAt).toBeDefined();
        expect(job?.phases.claimedAt).toBeDefined();
        expect(job?.phases.startIssuedAt).toBeDefined();
      } else if (example.action === 'waiting') {
        expect(job?.state).toBe('waiting');
        expect(plane.compute.callCount('start')).toBe(0);
      } else if (example.action === 'in_progress') {
        expect(job?.state).toBe('running');
        expect(job?.runnerName).toBe(example.workflow_job.runner_name);
      } else {
        expect(job?.state).toBe('completed');
      }
    },
  );
});

describe('webhook handler: rejections change nothing', () => {
  let plane: FakePlane;
  const queued = examples.find(
    (e) => e.action === 'queued' && e.workflow_job.labels.includes('k8s'),
  ) as Example;
  const body = JSON.stringify(queued);

  beforeEach(async () => {
    plane = fakePlane();
    await warmPools(plane);
  });

  async function expectRejected(event: ReturnType<typeof webhookEvent>, status: number, message: RegExp) {
    const before = await stateOf(plane);
    const response = await invoke(plane, event);
    expect(response.statusCode).toBe(status);
    expect(response.body).toMatch(message);
    expect(await stateOf(plane)).toBe(before);
    expect(plane.metrics.total('WebhooksRejected', { Reason: String(status) })).toBe(1);
  }

  it('401 without a signature', () =>
    expectRejected(
      webhookEvent(body, { 'x-github-event': 'workflow_job' }),
      401,
      /missing X-Hub-Signature-256/,
    ));

  it('401 with a wrong signature', () =>
    expectRejected(
      webhookEvent(body, {
        'x-github-event': 'workflow_job',
        'x-hub-signature-256': sign(body, 'not-the-secret'),
      }),
      401,
      /signature does not match/,
    ));

  it('401 with a signature of another body', () =>
    expectRejected(
      webhookEvent(body, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(`${body} `) }),
      401,
      /signature does not match/,
    ));

  it('401 with a malformed signature header', () =>
    expectRejected(
      webhookEvent(body, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': 'sha1=abc' }),
      401,
      /signature/,
    ));

  it('413 above the body cap, before the signature is even checked', () => {
    const big = JSON.stringify({ ...queued, padding: 'x'.repeat(300_000) });
    return expectRejected(
      webhookEvent(big, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(big) }),
      413,
      /over/,
    );
  });

  it('400 on malformed JSON, signed', () => {
    const bad = '{"action": "queued", ';
    return expectRejected(
      webhookEvent(bad, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(bad) }),
      400,
      /not valid JSON/,
    );
  });

  it('400 on a payload that is not a workflow_job, naming the field', () => {
    const bad = JSON.stringify({ ...queued, workflow_job: { ...queued.workflow_job, id: 'seven' } });
    return expectRejected(
      webhookEvent(bad, { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(bad) }),
      400,
      /workflow_job\.id/,
    );
  });

  it('403 for a signed delivery of another installation of the App, with no allowlist', async () => {
    // A real payload as GitHub sends it, for an installation in another organization.
    const payload = workflowJobPayload({
      action: 'queued',
      job: {
        id: 4_242,
        runId: 77,
        runAttempt: 1,
        name: 'build',
        workflowName: 'CI',
        labels: ['self-hosted', 'k8s'],
        status: 'queued',
        conclusion: null,
        createdAt: '2026-11-28T00:00:00Z',
        startedAt: '2026-11-28T00:00:00Z',
        completedAt: null,
        runnerId: null,
        runnerName: null,
        runnerGroupId: null,
        runnerGroupName: null,
      },
      repository: { owner: 'someone-else', name: 'app', id: 9 },
      installationId: 2,
    });
    await expectRejected(signedEvent(payload), 403, /installation 2 is not this deployment's/);
  });

  it('403 for a delivery that names no installation', async () => {
    const { installation: _, ...anonymous } = queued as Example & { installation?: unknown };
    await expectRejected(signedEvent(anonymous), 403, /names no installation/);
  });

  it("403 for a delivery of this installation about another organization's repository", async () => {
    const elsewhere = { ...queued, repository: { ...queued.repository, owner: { login: 'acme' } } };
    await expectRejected(signedEvent(elsewhere), 403, /owner acme is not served by installation 1/);
  });

  it('403 for a repository outside the allowlist', async () => {
    plane = fakePlane({ ALLOWED_OWNERS: 'acme' });
    await warmPools(plane);
    await expectRejected(signedEvent(queued), 403, /not allowed/);
  });
});

describe('webhook handler: accepted requests', () => {
  const queued = examples.find(
    (e) => e.action === 'queued' && e.workflow_job.labels.includes('k8s'),
  ) as Example;

  it("answers 200 `covered` when the pool's hot tier already has a runner for the job, and starts nothing", async () => {
    const plane = fakePlane();
    const source = plane.configSource as unknown as { set(doc: unknown): { ok: boolean } };
    const [gpu, k8s] = testPools.pools;
    // Target 0 now (no window): the idle runner left over covers this job alone.
    expect(source.set({ pools: [gpu, { ...k8s, hot: { maximum: 1 } }] }).ok).toBe(true);
    await plane.store.putInstance({
      id: 'i-0000000000000abcd',
      pool: 'k8s',
      state: 'idle',
      version: 1,
      role: 'pool',
      market: 'on-demand',
      instanceType: 'm7i.large',
      subnetId: 'subnet-0000000a',
      availabilityZone: 'us-east-1a',
      spec: 'current',
      launchedAt: plane.clock.now(),
      stateChangedAt: plane.clock.now(),
      tier: 'hot',
      idleAt: plane.clock.now(),
    });
    const response = await invoke(plane, signedEvent(queued));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? '{}')).toEqual({ outcome: 'covered', pool: 'k8s' });
    expect(plane.compute.callCount('start') + plane.compute.callCount('launchEphemeral')).toBe(0);
  });

  it('accepts the previous secret during a rotation', async () => {
    const plane = fakePlane();
    await warmPools(plane);
    const body = JSON.stringify(queued);
    const response = await invoke(
      plane,
      webhookEvent(body, {
        'x-github-event': 'workflow_job',
        'x-hub-signature-256': sign(body, previousSecret),
      }),
    );
    expect(response.statusCode).toBe(200);
  });

  it('accepts a base64-encoded body', async () => {
    const plane = fakePlane();
    await warmPools(plane);
    const body = JSON.stringify(queued);
    const response = await invoke(
      plane,
      webhookEvent(
        body,
        { 'X-GitHub-Event': 'workflow_job', 'X-Hub-Signature-256': sign(body) },
        { base64: true },
      ),
    );
    expect(response.statusCode).toBe(200);
  });

  it('answers ping with 200 and ignores other events with 202', async () => {
    const plane = fakePlane();
    expect((await invoke(plane, signedEvent({ zen: 'Keep it logically awesome.' }, 'ping'))).statusCode).toBe(
      200,
    );
    const push = await invoke(plane, signedEvent({ ref: 'refs/heads/main' }, 'push'));
    expect(push.statusCode).toBe(202);
    expect(push.body).toMatch(/ignored/);
  });

  it('provides one runner for a delivery sent twice, and for the same job under a new delivery id', async () => {
    const plane = fakePlane();
    await warmPools(plane);
    expect((await invoke(plane, signedEvent(queued, 'workflow_job', 'd-1'))).statusCode).toBe(200);
    const again = await invoke(plane, signedEvent(queued, 'workflow_job', 'd-1'));
    expect(again.statusCode).toBe(202);
    expect(JSON.parse(again.body ?? '{}').outcome).toBe('duplicate');
    await invoke(plane, signedEvent(queued, 'workflow_job', 'd-2'));
    expect(plane.compute.callCount('start')).toBe(1);
    expect(plane.jit.deliveryCount()).toBe(1);
  });

  it('leaves the job pending for the reconciler when the time budget runs out, without waiting', async () => {
    const plane = fakePlane({ WEBHOOK_BUDGET_MS: '500' });
    await warmPools(plane);
    // Every EC2 call takes a simulated second: the budget is gone before the ladder starts.
    const start = plane.compute.start.bind(plane.compute);
    plane.compute.start = async (id) => {
      plane.clock.advance(1_000);
      return start(id);
    };
    const createJob = plane.store.createJob.bind(plane.store);
    plane.store.createJob = async (record) => {
      plane.clock.advance(600);
      return createJob(record);
    };
    const response = await invoke(plane, signedEvent(queued));
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ outcome: 'pending', reason: 'out-of-time' });
    const job = await plane.store.getJob(queued.workflow_job.id);
    expect(job?.state).toBe('queued');
    expect(job?.attempts.at(-1)?.outcome).toBe('out-of-time');
  });

  it('aborts a GitHub call that hangs at the call deadline, keeping the started instance on record', async () => {
    const plane = fakePlane({ WEBHOOK_BUDGET_MS: '500', WEBHOOK_CALL_DEADLINE_MS: '1000' });
    await warmPools(plane);
    // A GitHub that never answers: only the deadline's signal ends the call.
    plane.github.createJitConfig = () =>
      new Promise((_, reject) => {
        const signal = callSignal();
        const abort = () => reject(new GitHubError('create JIT config: AbortError: aborted'));
        if (signal?.aborted) abort();
        else signal?.addEventListener('abort', abort);
      });
    const started = Date.now();
    const response = await invoke(plane, signedEvent(queued));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ outcome: 'pending', reason: 'github-failed' });
    const [instance] = plane.store.allInstances().filter((i) => i.state === 'claimed');
    expect(instance).toMatchObject({ reason: handOverFailedReason });
    expect(instance?.startIssuedAt).toBeDefined();
    expect(plane.compute.instance(instance?.id ?? '')?.state).toBe('pending');
  });

  it("ends its calls before the function's own timeout when a cold start used part of it", async () => {
    const plane = fakePlane();
    await warmPools(plane);
    plane.github.createJitConfig = () =>
      new Promise((_, reject) => {
        const signal = callSignal();
        const abort = () => reject(new GitHubError('create JIT config: AbortError: aborted'));
        if (signal?.aborted) abort();
        else signal?.addEventListener('abort', abort);
      });
    const started = Date.now();
    const response = await createWebhookHandler(async () => plane)(signedEvent(queued), {
      ...lambdaContext,
      getRemainingTimeInMillis: () => 2_000,
    });
    expect(Date.now() - started).toBeLessThan(1_900);
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ outcome: 'pending', reason: 'github-failed' });
  });

  it('never leaks internals: an unexpected fault is a bare 500', async () => {
    const plane = fakePlane();
    plane.store.failNextWith(new Error('connection reset by peer at 10.0.0.12:443'));
    const response = await invoke(plane, signedEvent(queued));
    expect(response.statusCode).toBe(500);
    expect(response.body ?? '').not.toMatch(/10\.0\.0\.12|connection reset/);
  });
});
