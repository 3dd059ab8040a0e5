/**
 * The lifecycle, pool tuner and reconciler handlers as EventBridge and EventBridge Scheduler invoke
 * them: real event shapes in, the core's effects out.
 */
import { describe, expect, it } from 'vitest';
import { createLifecycleHandler } from '../../handlers/lifecycle.js';
import { createPoolTunerHandler } from '../../handlers/pool-tuner.js';
import { createReconcilerHandler } from '../../handlers/reconciler.js';
import { fakePlane, lambdaContext, testPools, warmPools } from './support.js';

function ec2Event(detailType: string, detail: unknown) {
  return {
    version: '0',
    id: 'e1',
    'detail-type': detailType,
    source: 'aws.ec2',
    account: '123456789012',
    time: '2026-01-05T09:00:05Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

describe('lifecycle handler', () => {
  it('makes a warmed-up instance that stopped ready', async () => {
    const plane = fakePlane();
    await createPoolTunerHandler(async () => plane)({}, lambdaContext);
    const [launching] = plane.store.allInstances();
    expect(launching?.state).toBe('launching');
    const handler = createLifecycleHandler(async () => plane);
    const id = launching?.id as string;
    await handler(
      ec2Event('EC2 Instance State-change Notification', { 'instance-id': id, state: 'running' }),
      lambdaContext,
    );
    expect((await plane.store.getInstance(id))?.state).toBe('warming');
    await handler(
      ec2Event('EC2 Instance State-change Notification', { 'instance-id': id, state: 'stopped' }),
      lambdaContext,
    );
    expect((await plane.store.getInstance(id))?.state).toBe('ready');
    // A repeated event changes nothing.
    const again = await handler(
      ec2Event('EC2 Instance State-change Notification', { 'instance-id': id, state: 'stopped' }),
      lambdaContext,
    );
    expect(again.outcome).toBe('no-change');
  });

  it('marks a spot instance warned of interruption', async () => {
    const plane = fakePlane();
    await warmPools(plane, 1);
    const [instance] = plane.store.allInstances();
    const handler = createLifecycleHandler(async () => plane);
    const result = await handler(
      ec2Event('EC2 Spot Instance Interruption Warning', {
        'instance-id': instance?.id,
        'instance-action': 'terminate',
      }),
      lambdaContext,
    );
    expect(result.outcome).toBe('marked-interrupted');
    expect((await plane.store.getInstance(instance?.id as string))?.interruptedAt).toBeTypeOf('number');
  });

  it('replaces a ready spot instance early on a rebalance recommendation', async () => {
    const plane = fakePlane();
    const launched = plane.compute.seedInstance({
      instanceType: 'm7i.large',
      subnetId: 'subnet-0000000a',
      state: 'stopped',
      market: 'spot',
    });
    await plane.store.putInstance({
      id: launched.id,
      pool: 'k8s',
      state: 'ready',
      version: 1,
      role: 'pool',
      market: 'spot',
      instanceType: 'm7i.large',
      subnetId: 'subnet-0000000a',
      availabilityZone: 'us-east-1a',
      spec: 's',
      launchedAt: plane.clock.now(),
      stateChangedAt: plane.clock.now(),
    });
    const handler = createLifecycleHandler(async () => plane);
    const result = await handler(
      ec2Event('EC2 Instance Rebalance Recommendation', { 'instance-id': launched.id }),
      lambdaContext,
    );
    expect(result.outcome).toBe('replaced-early');
    expect((await plane.store.getInstance(launched.id))?.state).toBe('terminated');
  });

  it("costs one store read for another team's instance: no config load, no EC2 call", async () => {
    const plane = fakePlane();
    let loads = 0;
    const load = plane.configSource.load.bind(plane.configSource);
    plane.configSource.load = async () => {
      loads++;
      return load();
    };
    const handler = createLifecycleHandler(async () => plane);
    const result = await handler(
      ec2Event('EC2 Instance State-change Notification', { 'instance-id': 'i-0abc', state: 'stopped' }),
      lambdaContext,
    );
    expect(result.outcome).toBe('unknown-instance');
    expect(loads).toBe(0);
    expect(plane.compute.calls()).toEqual([]);
  });

  it('marks an instance busy from its job-started tag and refills the hot tier, once', async () => {
    const plane = fakePlane();
    const source = plane.configSource as unknown as { set(doc: unknown): { ok: boolean } };
    const [gpu, k8s] = testPools.pools;
    const hot = {
      maximum: 2,
      windows: [{ days: ['mon'], from: '08:00', to: '18:00', timezone: 'UTC', max: 1 }],
    };
    expect(source.set({ pools: [gpu, { ...k8s, hot }] }).ok).toBe(true);
    await warmPools(plane, 2);
    await createPoolTunerHandler(async () => plane)({}, lambdaContext);
    const hotRunner = plane.store.allInstances().find((i) => i.tier === 'hot');
    const id = hotRunner?.id as string;
    const handler = createLifecycleHandler(async () => plane);
    plane.compute.markRunning(id);
    await handler(
      ec2Event('EC2 Instance State-change Notification', { 'instance-id': id, state: 'running' }),
      lambdaContext,
    );
    expect((await plane.store.getInstance(id))?.state).toBe('idle');

    const tagEvent = (keys: string[]) => ({
      ...ec2Event('Tag Change on Resource', {
        'changed-tag-keys': keys,
        service: 'ec2',
        'resource-type': 'instance',
        version: 2,
        tags: { 'wpr:job-started': '2026-01-05T09:00:03Z', 'wpr:project': 'wpr' },
      }),
      source: 'aws.tag',
      resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${id}`],
    });
    const starts = () => plane.compute.callCount('start') + plane.compute.callCount('launchEphemeral');
    const before = starts();
    expect((await handler(tagEvent(['wpr:agent-reason']), lambdaContext)).outcome).toBe('ignored');
    expect((await handler(tagEvent(['wpr:job-started']), lambdaContext)).outcome).toBe('marked-busy');
    expect(await plane.store.getInstance(id)).toMatchObject({
      state: 'busy',
      jobStartedAt: Date.parse('2026-01-05T09:00:03Z'),
    });
    expect(starts() - before).toBe(1);
    // EventBridge delivers at least once: the same signal again starts nothing.
    expect((await handler(tagEvent(['wpr:job-started']), lambdaContext)).outcome).toBe('no-change');
    expect(starts() - before).toBe(1);
  });

  it('ignores malformed and unknown events', async () => {
    const plane = fakePlane();
    const handler = createLifecycleHandler(async () => plane);
    expect(
      (await handler(ec2Event('EC2 Instance State-change Notification', { state: 'running' }), lambdaContext))
        .outcome,
    ).toBe('ignored');
    expect((await handler(ec2Event('AWS API Call via CloudTrail', {}), lambdaContext)).outcome).toBe(
      'ignored',
    );
    expect(
      (
        await handler(
          ec2Event('EC2 Instance State-change Notification', { 'instance-id': 'i-0abc', state: 'running' }),
          lambdaContext,
        )
      ).outcome,
    ).toBe('unknown-instance');
  });
});

describe('pool tuner handler', () => {
  it('converges every pool to its target and reports it', async () => {
    const plane = fakePlane();
    const result = await createPoolTunerHandler(async () => plane)({}, lambdaContext);
    expect(result).toEqual({ pools: 2, launched: 4, retired: 0 });
    expect(plane.metrics.total('PoolTarget', { Pool: 'k8s' })).toBe(2);
  });

  it('keeps the last good config when a new one is invalid', async () => {
    const plane = fakePlane();
    const source = plane.configSource as unknown as { set(doc: unknown): { ok: boolean } };
    await plane.configSource.load();
    expect(source.set({ pools: [{ name: 'BAD NAME' }] }).ok).toBe(false);
    const result = await createPoolTunerHandler(async () => plane)({}, lambdaContext);
    expect(result.pools).toBe(2);
    expect(plane.configSource.lastRejection()?.problems.length).toBeGreaterThan(0);
    expect(plane.metrics.total('ConfigRejections')).toBe(1);
  });
});

describe('reconciler handler', () => {
  it('runs a reconcile pass and reports its repairs', async () => {
    const plane = fakePlane();
    await warmPools(plane, 1);
    // An instance EC2 no longer has: the reconciler marks it terminated once past the grace period.
    const [gone] = plane.store.allInstances();
    await plane.compute.terminate([gone?.id as string]);
    plane.clock.advance(3_600_000);
    const result = await createReconcilerHandler(async () => plane)({}, lambdaContext);
    expect(result.failures).toBe(0);
    expect(result.actions).toBeGreaterThan(0);
    expect((await plane.store.getInstance(gone?.id as string))?.state ?? 'terminated').toBe('terminated');
  });

  it('runs the passes the schedule asks for, 30 s apart, without sleeping in the test', async () => {
    const plane = fakePlane();
    const waits: number[] = [];
    const handler = createReconcilerHandler(async () => plane, {
      sleep: async (ms) => {
        waits.push(ms);
        plane.clock.advance(ms);
      },
    });
    const context = { ...lambdaContext, getRemainingTimeInMillis: () => 80_000 };
    const result = await handler({ passes: 2, intervalSeconds: 30 }, context);
    expect(result.passes).toBe(2);
    expect(waits).toEqual([30_000]);
    expect(plane.metrics.total('HandlerRuns', { Handler: 'reconciler' })).toBe(2);
    // A plain invocation (or a malformed input) is one pass.
    expect((await handler({ passes: 'many' }, context)).passes).toBe(1);
  });
});
