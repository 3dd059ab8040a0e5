/**
 * One pool, several sizes: a job carrying the pool's labels plus a size label is routed to the pool,
 * its warm instance is resized (while stopped) to the size's type before it starts, its fallbacks
 * launch that type, and its runner carries the size label. A base job is left as it is, and the hot
 * tier's base runners never count as covering a sized job.
 */
import { describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../scheduler/core/deps.js';
import { refillHotTier } from '../../scheduler/core/hot-tier.js';
import { handleInstanceStateChange } from '../../scheduler/core/instance-events.js';
import { matchPool, sizeOfJob } from '../../scheduler/core/labels.js';
import type { WorkflowJobEvent } from '../../scheduler/core/types.js';
import { handleWorkflowJob } from '../../scheduler/core/workflow-job.js';
import {
  type Harness,
  makeHarness,
  mustInstance,
  mustJob,
  poolOf,
  readyInstances,
  repository,
  subnetA,
  testConfig,
  withCompute,
} from './support.js';

const sizes = { large: { instanceType: 'm7i.2xlarge' }, XL: { instanceType: 'm7i.4xlarge' } };
const base = ['self-hosted', 'linux', 'x64'];

function harness(pool: Record<string, unknown> = {}): Harness {
  return makeHarness({ config: testConfig({ sizes, ...pool }) });
}

async function queue(h: Harness, labels: readonly string[], deps: CoreDeps = h.deps) {
  const queued = h.github.queueJob({ repository, labels });
  const event = h.github
    .takeEvents()
    .find((e) => e.action === 'queued' && e.jobId === queued.id) as WorkflowJobEvent;
  const now = h.clock.now();
  const outcome = await handleWorkflowJob(
    deps,
    { config: h.config, deadline: now + 8_000, receivedAt: now },
    event,
  );
  return { jobId: queued.id, outcome };
}

function mintedLabels(h: Harness): unknown[] {
  return h.github.callsOf('createJitConfig').map((c) => (c.args[1] as { labels: string[] }).labels);
}

describe('size labels: routing', () => {
  it('routes a job with the pool labels plus one size label to the pool, case-insensitively', () => {
    const config = testConfig({ sizes });
    const pool = poolOf(config);
    expect(matchPool(config, [...base, 'Large'])?.name).toBe('linux-x64');
    expect(sizeOfJob(pool, [...base, 'Large'])).toEqual({ label: 'large', instanceType: 'm7i.2xlarge' });
    expect(sizeOfJob(pool, [...base, 'xl'])).toEqual({ label: 'XL', instanceType: 'm7i.4xlarge' });
    expect(sizeOfJob(pool, base)).toBeUndefined();
    // Two sizes at once, or a label that is no size: no pool serves it.
    expect(matchPool(config, [...base, 'large', 'xl'])).toBeUndefined();
    expect(matchPool(config, [...base, 'huge'])).toBeUndefined();
    // Another pool's size is not this one's.
    expect(matchPool(config, ['linux', 'arm64', 'large'])).toBeUndefined();
  });
});

describe('size labels: provisioning', () => {
  it('resizes the stopped instance to the size type before StartInstances, and labels its runner', async () => {
    const h = harness();
    const [ready] = await readyInstances(h, [subnetA]);
    const { jobId, outcome } = await queue(h, [...base, 'large']);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: ready?.id, source: 'pool-resized' });
    const calls = h.compute.calls().filter((c) => c.operation === 'changeType' || c.operation === 'start');
    expect(calls.map((c) => [c.operation, ...c.args])).toEqual([
      ['changeType', ready?.id, 'm7i.2xlarge'],
      ['start', ready?.id],
    ]);
    expect(h.compute.allInstances().find((i) => i.id === ready?.id)?.instanceType).toBe('m7i.2xlarge');
    expect(await mustInstance(h, ready?.id ?? '')).toMatchObject({
      instanceType: 'm7i.2xlarge',
      size: 'large',
    });
    expect(mintedLabels(h)).toEqual([['self-hosted', 'linux', 'x64', 'large']]);
    expect((await mustJob(h, jobId)).source).toBe('pool-resized');
  });

  it('leaves a base job on the instance type it has', async () => {
    const h = harness();
    const [ready] = await readyInstances(h, [subnetA]);
    const { outcome } = await queue(h, base);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: ready?.id, source: 'pool' });
    expect(h.compute.calls('changeType')).toEqual([]);
    expect(await mustInstance(h, ready?.id ?? '')).toMatchObject({ instanceType: 'm7i.large' });
    expect((await mustInstance(h, ready?.id ?? '')).size).toBeUndefined();
    expect(mintedLabels(h)).toEqual([['self-hosted', 'linux', 'x64']]);
  });

  it('launches the size type on spot when the pool is empty', async () => {
    const h = harness();
    const { outcome } = await queue(h, [...base, 'large']);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'spot' });
    const launch = h.compute.calls('launchEphemeral')[0]?.args[0] as { pool: { instanceTypes: string[] } };
    expect(launch.pool.instanceTypes).toEqual(['m7i.2xlarge']);
    const id = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    expect(await mustInstance(h, id)).toMatchObject({ instanceType: 'm7i.2xlarge', size: 'large' });
  });

  it('puts back an instance EC2 refuses to resize, and tries the next', async () => {
    const h = harness();
    const [first, second] = await readyInstances(h, [subnetA, subnetA]);
    // Started behind our back, say: EC2 refuses to resize it.
    const deps = withCompute(h, {
      changeType: async (id, type) =>
        id === first?.id
          ? { kind: 'incorrect-state', message: `The instance '${id}' is not in the 'stopped' state.` }
          : h.compute.changeType(id, type),
    });
    const { outcome } = await queue(h, [...base, 'large'], deps);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: second?.id, source: 'pool-resized' });
    expect((await mustInstance(h, first?.id ?? '')).state).toBe('ready');
  });

  it('does not count the hot tier as covering a sized job', async () => {
    const h = harness({ hot: { maximum: 2, outsideWindows: 2, fill: ['pool'] } });
    await readyInstances(h, [subnetA, subnetA, subnetA, subnetA]);
    // Two hot runners online and idle (base labels only).
    const refill = await refillHotTier(h.deps, poolOf(h.config), {
      deadline: h.clock.now() + 8_000,
      limit: 2,
      token: 'hot',
    });
    const hotIds = refill.kind === 'refilled' ? refill.started.map((s) => s.instanceId) : [];
    expect(hotIds).toHaveLength(2);
    for (const id of hotIds) {
      h.compute.markRunning(id);
      await handleInstanceStateChange(h.deps, h.config, {
        instanceId: id,
        state: 'running',
        at: h.clock.now(),
      });
      expect((await mustInstance(h, id)).state).toBe('idle');
    }
    // The sized job gets a runner of its own, of its size, rather than a refill of the tier.
    const sized = await queue(h, [...base, 'large']);
    expect(sized.outcome).toMatchObject({ kind: 'provisioned', source: 'pool-resized' });
    const own = sized.outcome.kind === 'provisioned' ? sized.outcome.instanceId : '';
    expect(await mustInstance(h, own)).toMatchObject({ size: 'large', instanceType: 'm7i.2xlarge' });
    expect((await mustInstance(h, own)).tier).toBeUndefined();
  });
});
