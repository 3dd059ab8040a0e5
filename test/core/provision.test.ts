/**
 * The claim and the fallback ladder on fakes: a pool hit, lost races, capacity refusals (released,
 * other zones preferred), resizing a stopped instance, spot, on-demand, pending, the deadline, and
 * the JIT config (minted after the start, delivered to that instance alone, `wpr-<instance id>`).
 */
import { describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../scheduler/core/deps.js';
import { handleInstanceStateChange } from '../../scheduler/core/instance-events.js';
import {
  capacityMemoryMs,
  handOverAttempts,
  handOverFailedReason,
  maxClaimAttempts,
  type ProvisionRequest,
  provisionRunner,
} from '../../scheduler/core/provision.js';
import type { JobRecord } from '../../scheduler/core/types.js';
import {
  type Harness,
  job,
  makeHarness,
  monday0900,
  mustInstance,
  poolOf,
  readyInstances,
  subnetA,
  subnetB,
  testConfig,
  withCompute,
} from './support.js';

const now = monday0900;

function provision(h: Harness, j: JobRecord, extra: Partial<ProvisionRequest> = {}, deps: CoreDeps = h.deps) {
  return provisionRunner(deps, { pool: poolOf(h.config), job: j, deadline: h.clock.now() + 8_000, ...extra });
}

function decodeJit(encoded: string | undefined): { runnerId: number; name: string; labels: string[] } {
  if (encoded === undefined) throw new Error('no JIT config delivered');
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
}

describe('provisionRunner: the pool', () => {
  it('claims a ready instance, starts it and hands it its runner', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    const j = job();
    const outcome = await provision(h, j);

    expect(outcome).toEqual({
      kind: 'provisioned',
      instanceId: a?.id,
      source: 'pool',
      claimedAt: now,
      startIssuedAt: now,
      attempts: [{ step: 'pool', at: now, outcome: 'ok', instanceId: a?.id, instanceType: 'm7i.large' }],
    });
    const record = await mustInstance(h, a?.id ?? '');
    expect(record).toMatchObject({
      state: 'starting',
      provisionedFor: j.id,
      runnerName: `wpr-${a?.id}`,
      startIssuedAt: now,
      runnerId: expect.any(Number),
    });
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('pending');
    expect(h.metrics.total('Claims', { Pool: 'linux-x64' })).toBe(1);
  });

  it('mints the runner as wpr-<instance id> with the pool labels and delivers it to that instance only', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    const statesAtMint: (string | undefined)[] = [];
    const github = new Proxy(h.github, {
      get(target, property) {
        if (property === 'createJitConfig')
          return (...args: Parameters<typeof target.createJitConfig>) => {
            statesAtMint.push(h.compute.instance(a?.id ?? '')?.state);
            return target.createJitConfig(...args);
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await provision(h, job(), {}, { ...h.deps, github });

    // Minted only once EC2 accepted the start, never in advance.
    expect(statesAtMint).toEqual(['pending']);

    const [mint] = h.github.callsOf('createJitConfig');
    expect(mint?.args).toEqual([
      { kind: 'org', org: 'acme' },
      { runnerName: `wpr-${a?.id}`, labels: ['self-hosted', 'linux', 'x64'] },
    ]);
    expect(await h.jit.listPending()).toEqual([{ instanceId: a?.id, createdAt: now }]);
    expect(h.jit.read(b?.id ?? '')).toBeUndefined();
    const delivered = decodeJit(h.jit.read(a?.id ?? ''));
    expect(delivered.name).toBe(`wpr-${a?.id}`);
    expect(delivered.runnerId).toBe((await mustInstance(h, a?.id ?? '')).runnerId);
  });

  it('registers with the repository when runners are repository-scoped', async () => {
    const h = makeHarness({ runners: { owners: [], anyOwner: { scope: 'repo', namePrefix: 'wpr' } } });
    await readyInstances(h, [subnetA]);
    const j = job();
    await provision(h, j);
    expect(h.github.callsOf('createJitConfig')[0]?.args[0]).toEqual({
      kind: 'repo',
      repository: j.repository,
    });
  });

  it('picks among the candidates with the random source', async () => {
    const h = makeHarness({ random: () => 0.99 });
    const [, b] = await readyInstances(h, [subnetA, subnetB]);
    const outcome = await provision(h, job());
    expect(outcome.kind === 'provisioned' && outcome.instanceId).toBe(b?.id);
  });

  it('moves to the next candidate when another claim wins the race', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    // Between our read and our conditional write, another webhook claims the same instance.
    h.store.beforeNextWrite(async (target) => {
      if (target.kind !== 'instance') return;
      const current = await mustInstance(h, target.id);
      await h.store.transitionInstance({
        id: current.id,
        from: 'ready',
        expectedVersion: current.version,
        to: 'claimed',
        patch: { provisionedFor: 999 },
      });
    });
    const outcome = await provision(h, job());

    expect(outcome.attempts).toEqual([
      { step: 'pool', at: now, outcome: 'lost-race', instanceId: a?.id },
      { step: 'pool', at: now, outcome: 'ok', instanceId: b?.id, instanceType: 'm7i.large' },
    ]);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: b?.id, source: 'pool' });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({ state: 'claimed', provisionedFor: 999 });
    expect(h.compute.callCount('start')).toBe(1);
    expect(h.metrics.total('LostRaces')).toBe(1);
  });

  it(`gives up on the pool after ${maxClaimAttempts} lost races`, async () => {
    const h = makeHarness();
    await readyInstances(
      h,
      Array.from({ length: maxClaimAttempts + 2 }, (_, i) => (i % 2 ? subnetB : subnetA)),
    );
    const steal = async (target: { kind: string; id: string | number }) => {
      if (target.kind !== 'instance') return;
      const current = await h.store.getInstance(String(target.id));
      if (current?.state !== 'ready') return;
      await h.store.transitionInstance({
        id: current.id,
        from: 'ready',
        expectedVersion: current.version,
        to: 'claimed',
      });
      h.store.beforeNextWrite(steal);
    };
    h.store.beforeNextWrite(steal);
    const outcome = await provision(h, job());

    const lost = outcome.attempts.filter((a) => a.outcome === 'lost-race');
    expect(lost).toHaveLength(maxClaimAttempts);
    expect(outcome.attempts.at(-1)).toMatchObject({ step: 'spot', outcome: 'ok' });
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'spot' });
  });

  it('releases an instance whose start is refused for capacity and prefers another zone', async () => {
    const h = makeHarness();
    const [a1] = await readyInstances(h, [subnetA]); // m7i.large in us-east-1a
    const [a2] = await readyInstances(h, [subnetA], { instanceType: 'm6i.large' }); // other type, same zone
    const [b] = await readyInstances(h, [subnetB]); // m7i.large in us-east-1b
    h.compute.exhaustCapacity({
      instanceType: 'm7i.large',
      availabilityZone: 'us-east-1a',
      operation: 'start',
    });
    const outcome = await provision(h, job());

    expect(outcome.attempts).toEqual([
      { step: 'pool', at: now, outcome: 'capacity', instanceId: a1?.id, instanceType: 'm7i.large' },
      { step: 'pool-other-zone', at: now, outcome: 'ok', instanceId: b?.id, instanceType: 'm7i.large' },
    ]);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: b?.id, source: 'pool' });
    const released = await mustInstance(h, a1?.id ?? '');
    expect(released).toMatchObject({ state: 'ready', capacityErrorAt: now });
    expect(released.provisionedFor).toBeUndefined();
    expect(released.runnerName).toBeUndefined();
    expect(h.compute.instance(a1?.id ?? '')?.state).toBe('stopped');
    expect((await mustInstance(h, a2?.id ?? '')).state).toBe('ready');
    expect(h.jit.read(a1?.id ?? '')).toBeUndefined();
    expect(h.metrics.total('CapacityErrors')).toBe(1);
  });

  it('avoids an instance that was refused recently, for a while', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    h.compute.exhaustCapacity({
      instanceType: 'm7i.large',
      availabilityZone: 'us-east-1a',
      operation: 'start',
    });
    const first = await provision(h, job()); // a refused, b taken
    expect(first).toMatchObject({ kind: 'provisioned', instanceId: b?.id });
    h.compute.restoreCapacity();
    const [c] = await readyInstances(h, [subnetB]);

    // a is listed first (longest ready) but was refused a moment ago: c is taken.
    const second = await provision(h, job());
    expect(second).toMatchObject({ kind: 'provisioned', instanceId: c?.id });

    h.clock.advance(capacityMemoryMs);
    const [d] = await readyInstances(h, [subnetB]);
    const third = await provision(h, job());
    // Five minutes on, a (listed first) is taken again rather than d.
    expect(third).toMatchObject({ kind: 'provisioned', instanceId: a?.id });
    expect((await mustInstance(h, d?.id ?? '')).state).toBe('ready');
  });

  it('retires a candidate EC2 will not start (not stopped after all) and tries the next', async () => {
    const h = makeHarness();
    const [a, b] = await readyInstances(h, [subnetA, subnetB]);
    h.compute.setState(a?.id ?? '', 'running');
    const outcome = await provision(h, job());

    expect(outcome.attempts).toEqual([
      { step: 'pool', at: now, outcome: 'failed', instanceId: a?.id, detail: 'incorrect-state' },
      { step: 'pool', at: now, outcome: 'ok', instanceId: b?.id, instanceType: 'm7i.large' },
    ]);
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'terminated',
      reason: 'start refused: incorrect-state',
    });
    expect(h.compute.instance(a?.id ?? '')?.state).toBe('terminated');
  });
});

describe('provisionRunner: the fallback ladder', () => {
  it('resizes a refused instance to another allowed type while stopped', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.compute.exhaustCapacity({ instanceType: 'm7i.large', operation: 'start' });
    const outcome = await provision(h, job());

    expect(outcome.attempts).toEqual([
      { step: 'pool', at: now, outcome: 'capacity', instanceId: a?.id, instanceType: 'm7i.large' },
      { step: 'pool-other-zone', at: now, outcome: 'empty' },
      { step: 'pool-resized', at: now, outcome: 'ok', instanceId: a?.id, instanceType: 'm6i.large' },
    ]);
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: a?.id, source: 'pool-resized' });
    expect(h.compute.calls('changeType').map((c) => c.args)).toEqual([[a?.id, 'm6i.large']]);
    expect(h.compute.instance(a?.id ?? '')).toMatchObject({ instanceType: 'm6i.large', state: 'pending' });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'starting',
      instanceType: 'm6i.large',
    });
    expect(h.jit.read(a?.id ?? '')).toBeDefined();
  });

  it('never resizes to the architecture of another pool', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    h.compute.exhaustCapacity({ instanceType: 'm7i.large', operation: 'start' });
    await provision(h, job());
    for (const call of h.compute.calls('changeType'))
      expect(poolOf(h.config).instanceTypes).toContain(call.args[1]);
  });

  it('goes to spot when resizing is turned off', async () => {
    const h = makeHarness({ config: testConfig({ fallback: { resize: false } }) });
    const [a] = await readyInstances(h, [subnetA]);
    h.compute.exhaustCapacity({ instanceType: 'm7i.large', operation: 'start' });
    const j = job();
    const outcome = await provision(h, j);

    expect(outcome.attempts.map((a) => [a.step, a.outcome])).toEqual([
      ['pool', 'capacity'],
      ['pool-other-zone', 'empty'],
      ['spot', 'ok'],
    ]);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'spot' });
    expect(h.compute.callCount('changeType')).toBe(0);
    expect((await mustInstance(h, a?.id ?? '')).state).toBe('ready');
    const id = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    expect(await mustInstance(h, id)).toMatchObject({
      state: 'starting',
      role: 'ephemeral',
      market: 'spot',
      provisionedFor: j.id,
      runnerName: `wpr-${id}`,
      startIssuedAt: now,
      runnerId: expect.any(Number),
    });
    expect(decodeJit(h.jit.read(id)).name).toBe(`wpr-${id}`);
  });

  it('goes to spot when the pool is empty, and to on-demand when spot has no capacity', async () => {
    const h = makeHarness();
    h.compute.exhaustCapacity({ market: 'spot' });
    const outcome = await provision(h, job());

    expect(outcome.attempts.map((a) => [a.step, a.outcome])).toEqual([
      ['pool', 'empty'],
      ['spot', 'capacity'],
      ['on-demand', 'ok'],
    ]);
    expect(outcome).toMatchObject({ kind: 'provisioned', source: 'on-demand' });
    const id = outcome.kind === 'provisioned' ? outcome.instanceId : '';
    expect(await mustInstance(h, id)).toMatchObject({ role: 'ephemeral', market: 'on-demand' });
    expect(h.compute.calls('launchEphemeral').map((c) => (c.args[0] as { market: string }).market)).toEqual([
      'spot',
      'on-demand',
    ]);
  });

  it('skips spot for a re-run after a spot interruption', async () => {
    const h = makeHarness();
    const outcome = await provision(h, job(), { avoidSpot: true });
    expect(outcome.attempts.map((a) => [a.step, a.outcome])).toEqual([
      ['pool', 'empty'],
      ['spot', 'skipped'],
      ['on-demand', 'ok'],
    ]);
    expect(h.compute.calls('launchEphemeral').map((c) => (c.args[0] as { market: string }).market)).toEqual([
      'on-demand',
    ]);
  });

  it('leaves the job pending when every step is turned off, recording each', async () => {
    const h = makeHarness({ config: testConfig({ fallback: { spot: false, onDemand: false } }) });
    const outcome = await provision(h, job());
    expect(outcome).toEqual({
      kind: 'pending',
      reason: 'exhausted',
      attempts: [
        { step: 'pool', at: now, outcome: 'empty' },
        { step: 'spot', at: now, outcome: 'skipped', detail: 'disabled for this pool' },
        { step: 'on-demand', at: now, outcome: 'skipped', detail: 'disabled for this pool' },
        { step: 'pending', at: now, outcome: 'empty' },
      ],
    });
    expect(h.compute.callCount('launchEphemeral')).toBe(0);
  });

  it('leaves the job pending when every step runs out of capacity, recording each in order', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.compute.exhaustCapacity();
    const outcome = await provision(h, job());

    expect(outcome).toEqual({
      kind: 'pending',
      reason: 'exhausted',
      attempts: [
        { step: 'pool', at: now, outcome: 'capacity', instanceId: a?.id, instanceType: 'm7i.large' },
        { step: 'pool-other-zone', at: now, outcome: 'empty' },
        { step: 'pool-resized', at: now, outcome: 'capacity', instanceId: a?.id, instanceType: 'm6i.large' },
        { step: 'spot', at: now, outcome: 'capacity' },
        { step: 'on-demand', at: now, outcome: 'capacity' },
        { step: 'pending', at: now, outcome: 'empty' },
      ],
    });
    // Back in the pool, stopped, with the type it has now and the refusal remembered.
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'ready',
      instanceType: 'm6i.large',
      capacityErrorAt: now,
    });
    expect(h.compute.instance(a?.id ?? '')).toMatchObject({ state: 'stopped', instanceType: 'm6i.large' });
    expect(await h.jit.listPending()).toEqual([]);
    expect(h.github.callsOf('createJitConfig')).toHaveLength(0);
  });

  it('starts no step once the deadline has passed', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    const outcome = await provision(h, job(), { deadline: now });
    expect(outcome).toEqual({
      kind: 'pending',
      reason: 'out-of-time',
      attempts: [{ step: 'pending', at: now, outcome: 'out-of-time' }],
    });
    expect(h.compute.calls().filter((c) => c.operation !== 'launchForPool')).toEqual([]);
  });

  it('stops climbing the ladder when the deadline passes on the way', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA, subnetB]);
    h.compute.exhaustCapacity({ operation: 'start' });
    const slowStart = withCompute(h, {
      start: async (id) => {
        h.clock.advance(9_000); // a StartInstances that took longer than the whole budget
        return h.compute.start(id);
      },
    });
    const outcome = await provision(h, job(), { deadline: now + 8_000 }, slowStart);

    expect(outcome).toEqual({
      kind: 'pending',
      reason: 'out-of-time',
      attempts: [
        { step: 'pool', at: now + 9_000, outcome: 'capacity', instanceId: a?.id, instanceType: 'm7i.large' },
        { step: 'pending', at: now + 9_000, outcome: 'out-of-time' },
      ],
    });
    expect(h.compute.callCount('launchEphemeral')).toBe(0);
    expect(h.compute.callCount('changeType')).toBe(0);
  });
});

describe('provisionRunner: the runner hand-over', () => {
  it('keeps the warmed instance when GitHub cannot mint: started and recorded, never terminated', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.github.injectFault('createJitConfig', { kind: 'server-error', status: 503 }, handOverAttempts);
    const outcome = await provision(h, job());

    expect(outcome).toEqual({
      kind: 'pending',
      reason: 'github-failed',
      attempts: [
        { step: 'pool', at: now, outcome: 'ok', instanceId: a?.id, instanceType: 'm7i.large' },
        {
          step: 'pool',
          at: now,
          outcome: 'failed',
          instanceId: a?.id,
          detail: 'JIT config could not be minted or delivered',
        },
      ],
    });
    // The start is on record before any GitHub call; the hand-over was tried twice.
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'claimed',
      startIssuedAt: now,
      reason: handOverFailedReason,
    });
    expect(h.github.callsOf('createJitConfig')).toHaveLength(handOverAttempts);
    expect(h.metrics.total('HandOverFailures')).toBe(handOverAttempts);
    expect(h.compute.calls('terminate')).toEqual([]);
    expect(await h.jit.listPending()).toEqual([]);
    expect(h.events.ofType('InstanceRetired')).toEqual([]);

    // With no config its agent powers off untouched: the instance is back in the pool, still warm.
    h.compute.markRunning(a?.id ?? '');
    h.compute.powerOff(a?.id ?? '');
    await handleInstanceStateChange(h.deps, h.config, { instanceId: a?.id ?? '', state: 'stopped', at: now });
    const back = await mustInstance(h, a?.id ?? '');
    expect(back.state).toBe('ready');
    expect(back).not.toHaveProperty('provisionedFor');
    expect(back).not.toHaveProperty('startIssuedAt');
    expect(back).not.toHaveProperty('reason');
  });

  it('tries the hand-over again at once: a single failed mint still gives the job its runner', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.github.injectFault('createJitConfig', { kind: 'secondary-rate-limit' });
    const outcome = await provision(h, job());
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: a?.id, source: 'pool' });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({ state: 'starting', startIssuedAt: now });
    expect(h.metrics.total('HandOverFailures')).toBe(1);
  });

  it("removes a stale registration under the instance's runner name and registers afresh", async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    const id = a?.id ?? '';
    // An earlier life of the instance left its runner registered (its removal failed).
    const stale = await h.github.createJitConfig(
      { kind: 'org', org: 'acme' },
      {
        runnerName: `wpr-${id}`,
        labels: ['self-hosted'],
      },
    );
    const outcome = await provision(h, job());
    expect(outcome).toMatchObject({ kind: 'provisioned', instanceId: id, source: 'pool' });
    const runners = await h.github.listRunners({ kind: 'org', org: 'acme' }, `wpr-${id}`);
    expect(runners.map((r) => r.id)).not.toContain(stale.runnerId);
    expect(runners).toHaveLength(1);
    expect(decodeJit(h.jit.read(id)).runnerId).toBe(runners[0]?.id);
    expect(h.metrics.total('StaleRunnersRemoved')).toBe(1);
  });

  it('does not try again past the deadline', async () => {
    const h = makeHarness();
    await readyInstances(h, [subnetA]);
    h.github.injectFault('createJitConfig', { kind: 'server-error' });
    const createJitConfig = h.github.createJitConfig.bind(h.github);
    h.github.createJitConfig = async (...args) => {
      h.clock.advance(9_000);
      return createJitConfig(...args);
    };
    const outcome = await provision(h, job());
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'github-failed' });
    expect(h.github.callsOf('createJitConfig')).toHaveLength(1);
  });

  it('keeps the instance when the config cannot be delivered, and withdraws the runners it minted', async () => {
    const h = makeHarness();
    const [a] = await readyInstances(h, [subnetA]);
    h.jit.failNext('deliver');
    h.jit.failNext('deliver');
    const outcome = await provision(h, job());
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'github-failed' });
    expect(await mustInstance(h, a?.id ?? '')).toMatchObject({
      state: 'claimed',
      reason: handOverFailedReason,
    });
    expect(await h.github.listRunners({ kind: 'org', org: 'acme' }, '')).toEqual([]);
    expect(await h.jit.listPending()).toEqual([]);
  });

  it('retires a spot instance whose runner cannot be minted: it has no pool to return to', async () => {
    const h = makeHarness();
    h.github.injectFault('createJitConfig', { kind: 'server-error' }, handOverAttempts);
    const outcome = await provision(h, job());
    expect(outcome).toMatchObject({ kind: 'pending', reason: 'github-failed' });
    const [launched] = h.compute.allInstances();
    expect(launched?.state).toBe('terminated');
    expect((await mustInstance(h, launched?.id ?? '')).state).toBe('terminated');
  });

  it('uses one spot client token per job and provisioning round', async () => {
    const h = makeHarness();
    h.compute.exhaustCapacity({ market: 'spot' });
    h.compute.exhaustCapacity({ market: 'on-demand' });
    const j = job({ reprovisions: 0 });
    await provision(h, j);
    await provision(h, j);
    await provision(h, { ...j, reprovisions: 1 });
    const tokens = h.compute
      .calls('launchEphemeral')
      .map((c) => (c.args[0] as { clientToken: string }).clientToken);
    expect(tokens).toEqual([
      `${j.id}-0-spot`,
      `${j.id}-0-on-demand`,
      `${j.id}-0-spot`,
      `${j.id}-0-on-demand`,
      `${j.id}-1-spot`,
      `${j.id}-1-on-demand`,
    ]);

    // The same round asks the same instant fleet again (and gets its answer); the next round is new.
    h.compute.restoreCapacity();
    const again = await provision(h, j);
    expect(again.attempts.map((a) => [a.step, a.outcome])).toEqual([
      ['pool', 'empty'],
      ['spot', 'capacity'],
      ['on-demand', 'ok'],
    ]);
    const next = await provision(h, { ...j, reprovisions: 2 });
    expect(next).toMatchObject({ kind: 'provisioned', source: 'spot' });
  });
});
