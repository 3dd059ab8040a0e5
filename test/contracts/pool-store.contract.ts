/**
 * The PoolStore contract: what every implementation (the in-memory fake, the DynamoDB adapter against
 * dynalite) must do. Subjects get a clock they must use for defaults and TTL, so expiry is testable
 * without waiting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../scheduler/core/lifecycle.js';
import type { InstanceRecord, JobRecord } from '../../scheduler/core/types.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type { PoolStore } from '../../scheduler/ports/pool-store.js';
import { describeUsageContract } from './pool-store-usage.contract.js';

export interface PoolStoreSubject {
  readonly store: PoolStore;
  cleanup(): Promise<void>;
}

export class ManualClock implements Clock {
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

const start = Date.UTC(2026, 0, 5, 9, 0, 0);
export function instance(overrides: Partial<InstanceRecord> & Pick<InstanceRecord, 'id'>): InstanceRecord {
  return {
    pool: 'linux-x64',
    state: 'ready',
    version: 1,
    role: 'pool',
    market: 'on-demand',
    instanceType: 'm7i.large',
    subnetId: 'subnet-0123abcd',
    availabilityZone: 'us-east-1a',
    spec: 'ami-0abc/lt-3/m7i.large',
    launchedAt: start - 60_000,
    stateChangedAt: start - 30_000,
    ...overrides,
  };
}

export function job(overrides: Partial<JobRecord> & Pick<JobRecord, 'id'>): JobRecord {
  return {
    runId: 9_000_000_001,
    repository: { owner: 'acme', name: 'widgets' },
    labels: ['self-hosted', 'linux-x64'],
    pool: 'linux-x64',
    state: 'queued',
    version: 1,
    phases: { createdAt: start - 2_000, receivedAt: start - 1_000 },
    attempts: [],
    reprovisions: 0,
    deliveries: ['delivery-1'],
    updatedAt: start - 1_000,
    ...overrides,
  };
}

export function describePoolStoreContract(
  name: string,
  make: (context: { clock: Clock }) => Promise<PoolStoreSubject>,
): void {
  describe(`PoolStore contract: ${name}`, () => {
    let subject: PoolStoreSubject;
    let store: PoolStore;
    let clock: ManualClock;

    beforeEach(async () => {
      clock = new ManualClock(start);
      subject = await make({ clock });
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe('instances', () => {
      it('creates once and reads back the same record', async () => {
        const record = instance({ id: 'i-1', provisionedFor: 42, reason: 'warm' });
        expect(await store.putInstance(record)).toBe('created');
        expect(await store.putInstance(instance({ id: 'i-1', state: 'warming' }))).toBe('exists');
        expect(await store.getInstance('i-1')).toStrictEqual(record);
        expect(await store.getInstance('i-unknown')).toBeUndefined();
      });

      it('transitions on the expected state and version, bumping the version', async () => {
        await store.putInstance(instance({ id: 'i-1', version: 3 }));
        const result = await store.transitionInstance({
          id: 'i-1',
          from: 'ready',
          expectedVersion: 3,
          to: 'claimed',
          patch: { provisionedFor: 77, stateChangedAt: start + 5 },
        });
        const expected = instance({
          id: 'i-1',
          version: 4,
          state: 'claimed',
          provisionedFor: 77,
          stateChangedAt: start + 5,
        });
        expect(result).toStrictEqual({ kind: 'ok', record: expected });
        expect(await store.getInstance('i-1')).toStrictEqual(expected);
      });

      it('stamps stateChangedAt from the clock when the patch does not', async () => {
        await store.putInstance(instance({ id: 'i-1' }));
        clock.advance(1234);
        const result = await store.transitionInstance({
          id: 'i-1',
          from: 'ready',
          expectedVersion: 1,
          to: 'retiring',
        });
        expect(result.kind === 'ok' && result.record.stateChangedAt).toBe(start + 1234);
      });

      it('returns conflict for a stale version or a different state, and changes nothing', async () => {
        const record = instance({ id: 'i-1', version: 2 });
        await store.putInstance(record);
        const stale = await store.transitionInstance({
          id: 'i-1',
          from: 'ready',
          expectedVersion: 1,
          to: 'claimed',
        });
        expect(stale).toStrictEqual({ kind: 'conflict' });
        const wrongState = await store.transitionInstance({
          id: 'i-1',
          from: 'claimed',
          expectedVersion: 2,
          to: 'starting',
        });
        expect(wrongState).toStrictEqual({ kind: 'conflict' });
        expect(await store.getInstance('i-1')).toStrictEqual(record);
      });

      it('returns not-found for an unknown instance', async () => {
        const result = await store.transitionInstance({
          id: 'i-missing',
          from: 'ready',
          expectedVersion: 1,
          to: 'claimed',
        });
        expect(result).toStrictEqual({ kind: 'not-found' });
      });

      it('throws on an illegal transition and changes nothing', async () => {
        const record = instance({ id: 'i-1' });
        await store.putInstance(record);
        await expect(
          store.transitionInstance({ id: 'i-1', from: 'ready', expectedVersion: 1, to: 'busy' }),
        ).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await store.getInstance('i-1')).toStrictEqual(record);
      });

      it('lets exactly one of two racing transitions win', async () => {
        await store.putInstance(instance({ id: 'i-1' }));
        const claim = (jobId: number) =>
          store.transitionInstance({
            id: 'i-1',
            from: 'ready',
            expectedVersion: 1,
            to: 'claimed',
            patch: { provisionedFor: jobId },
          });
        const results = await Promise.all([claim(1), claim(2)]);
        expect(results.map((r) => r.kind).sort()).toEqual(['conflict', 'ok']);
        const winner = results.find((r) => r.kind === 'ok');
        const stored = await store.getInstance('i-1');
        expect(stored?.version).toBe(2);
        expect(winner?.kind === 'ok' && winner.record.provisionedFor).toBe(stored?.provisionedFor);
      });

      it('removes cleared attributes', async () => {
        await store.putInstance(
          instance({ id: 'i-1', state: 'claimed', provisionedFor: 5, runnerName: 'r-5', reason: 'claim' }),
        );
        const result = await store.transitionInstance({
          id: 'i-1',
          from: 'claimed',
          expectedVersion: 1,
          to: 'ready',
          patch: { reason: 'released' },
          clear: ['provisionedFor', 'runnerName'],
        });
        expect(result.kind).toBe('ok');
        const stored = await store.getInstance('i-1');
        expect(stored).not.toHaveProperty('provisionedFor');
        expect(stored).not.toHaveProperty('runnerName');
        expect(stored?.reason).toBe('released');
      });

      it('refuses to clear a required attribute', async () => {
        await store.putInstance(instance({ id: 'i-1' }));
        await expect(
          store.transitionInstance({
            id: 'i-1',
            from: 'ready',
            expectedVersion: 1,
            to: 'retiring',
            clear: ['spec' as 'reason'],
          }),
        ).rejects.toBeInstanceOf(TypeError);
      });

      it('lists only ready instances of the pool, up to the limit, longest-ready first', async () => {
        await store.putInstance(instance({ id: 'i-c', stateChangedAt: start - 100 }));
        await store.putInstance(instance({ id: 'i-a', stateChangedAt: start - 300 }));
        await store.putInstance(instance({ id: 'i-b', stateChangedAt: start - 200 }));
        await store.putInstance(instance({ id: 'i-warming', state: 'warming' }));
        await store.putInstance(instance({ id: 'i-busy', state: 'busy' }));
        await store.putInstance(instance({ id: 'i-other', pool: 'linux-arm64' }));
        await store.putInstance(instance({ id: 'i-gone', state: 'terminated' }));

        expect((await store.listReady('linux-x64', 10)).map((r) => r.id)).toEqual(['i-a', 'i-b', 'i-c']);
        expect((await store.listReady('linux-x64', 2)).map((r) => r.id)).toEqual(['i-a', 'i-b']);
        expect((await store.listReady('linux-arm64', 10)).map((r) => r.id)).toEqual(['i-other']);
        expect(await store.listReady('unknown-pool', 10)).toEqual([]);
      });

      it('moves instances in and out of the ready list as they change state', async () => {
        await store.putInstance(instance({ id: 'i-1' }));
        await store.putInstance(instance({ id: 'i-2', state: 'warming' }));
        await store.transitionInstance({ id: 'i-1', from: 'ready', expectedVersion: 1, to: 'claimed' });
        await store.transitionInstance({ id: 'i-2', from: 'warming', expectedVersion: 1, to: 'ready' });
        const ready = await store.listReady('linux-x64', 10);
        expect(ready).toStrictEqual([instance({ id: 'i-2', version: 2, stateChangedAt: start })]);
      });

      it('lists live instances per pool and overall, without terminated ones', async () => {
        await store.putInstance(instance({ id: 'i-1' }));
        await store.putInstance(instance({ id: 'i-2', state: 'busy' }));
        await store.putInstance(instance({ id: 'i-3', state: 'terminated' }));
        await store.putInstance(instance({ id: 'i-4', pool: 'linux-arm64', state: 'launching' }));
        await store.putInstance(instance({ id: 'i-5', state: 'retiring' }));
        await store.transitionInstance({ id: 'i-5', from: 'retiring', expectedVersion: 1, to: 'terminated' });

        const pool = await store.listPoolInstances('linux-x64');
        expect(pool.map((r) => r.id).sort()).toEqual(['i-1', 'i-2']);
        expect(pool.find((r) => r.id === 'i-2')).toStrictEqual(instance({ id: 'i-2', state: 'busy' }));
        const live = await store.listLiveInstances();
        expect(live.map((r) => r.id).sort()).toEqual(['i-1', 'i-2', 'i-4']);
        expect(await store.listPoolInstances('unknown-pool')).toEqual([]);
      });

      it('sets expiresAt on termination and reads an expired record as absent', async () => {
        await store.putInstance(instance({ id: 'i-1', state: 'retiring' }));
        const result = await store.transitionInstance({
          id: 'i-1',
          from: 'retiring',
          expectedVersion: 1,
          to: 'terminated',
        });
        const expiresAt = result.kind === 'ok' ? result.record.expiresAt : undefined;
        expect(expiresAt).toBeGreaterThan(Math.floor(start / 1000));
        expect((await store.getInstance('i-1'))?.expiresAt).toBe(expiresAt);

        clock.advance(((expiresAt ?? 0) + 1) * 1000 - start);
        expect(await store.getInstance('i-1')).toBeUndefined();
        // A record past its TTL is gone even while DynamoDB has not yet deleted it.
        expect(await store.putInstance(instance({ id: 'i-1', state: 'launching' }))).toBe('created');
        expect((await store.getInstance('i-1'))?.state).toBe('launching');
      });

      it('never hands out a live reference to stored state', async () => {
        const record = { ...instance({ id: 'i-1' }) } as {
          -readonly [K in keyof InstanceRecord]: InstanceRecord[K];
        };
        await store.putInstance(record);
        record.state = 'busy';
        const read = (await store.getInstance('i-1')) as { state: string } | undefined;
        try {
          if (read) read.state = 'busy';
        } catch {
          // A frozen copy refuses the write; either way the store must be unaffected.
        }
        const [listed] = await store.listReady('linux-x64', 1);
        try {
          if (listed) (listed as { version: number }).version = 99;
        } catch {}
        expect(await store.getInstance('i-1')).toStrictEqual(instance({ id: 'i-1' }));
      });
    });

    describe('hot-tier instances', () => {
      it('walks starting → idle → busy with conditional writes, keeping the hot fields and the live index', async () => {
        await store.putInstance(
          instance({
            id: 'i-h1',
            state: 'starting',
            tier: 'hot',
            runnerName: 'wpr-i-h1',
            startIssuedAt: start,
          }),
        );
        const idle = await store.transitionInstance({
          id: 'i-h1',
          from: 'starting',
          expectedVersion: 1,
          to: 'idle',
          patch: { idleAt: start + 7_000, stateChangedAt: start + 7_000 },
        });
        expect(idle.kind === 'ok' && idle.record).toMatchObject({
          state: 'idle',
          version: 2,
          tier: 'hot',
          idleAt: start + 7_000,
        });
        expect((await store.listPoolInstances('linux-x64')).map((i) => `${i.id}:${i.state}`)).toEqual([
          'i-h1:idle',
        ]);
        expect(await store.listReady('linux-x64', 5)).toEqual([]);
        // The agent's tag and the in_progress webhook race to take it: one write wins, the other conflicts.
        const byTag = await store.transitionInstance({
          id: 'i-h1',
          from: 'idle',
          expectedVersion: 2,
          to: 'busy',
          patch: { jobStartedAt: start + 9_000 },
        });
        const byWebhook = await store.transitionInstance({
          id: 'i-h1',
          from: 'idle',
          expectedVersion: 2,
          to: 'busy',
          patch: { servingJob: 7 },
        });
        expect(byTag.kind).toBe('ok');
        expect(byWebhook).toStrictEqual({ kind: 'conflict' });
        // The webhook then names the job on the busy record, in place.
        const named = await store.transitionInstance({
          id: 'i-h1',
          from: 'busy',
          expectedVersion: 3,
          to: 'busy',
          patch: { servingJob: 7 },
        });
        expect(named.kind === 'ok' && named.record).toMatchObject({
          state: 'busy',
          servingJob: 7,
          jobStartedAt: start + 9_000,
          idleAt: start + 7_000,
        });
      });

      it('refuses to take an idle runner back to starting or to ready', async () => {
        await store.putInstance(instance({ id: 'i-h2', state: 'idle', tier: 'hot', idleAt: start }));
        for (const to of ['starting', 'ready'] as const)
          await expect(
            store.transitionInstance({ id: 'i-h2', from: 'idle', expectedVersion: 1, to }),
          ).rejects.toBeInstanceOf(IllegalTransitionError);
        expect((await store.getInstance('i-h2'))?.state).toBe('idle');
      });

      it('clears the hot tier mark when a claim is released', async () => {
        await store.putInstance(
          instance({ id: 'i-h3', state: 'claimed', tier: 'hot', runnerName: 'wpr-i-h3' }),
        );
        const released = await store.transitionInstance({
          id: 'i-h3',
          from: 'claimed',
          expectedVersion: 1,
          to: 'ready',
          clear: ['tier', 'runnerName'],
        });
        expect(released.kind === 'ok' && released.record.tier).toBeUndefined();
        expect((await store.listReady('linux-x64', 5)).map((i) => i.id)).toEqual(['i-h3']);
      });
    });

    describe('jobs', () => {
      it('creates once and reads back the same record', async () => {
        const record = job({
          id: 101,
          source: 'pool',
          attempts: [{ step: 'pool', at: start, outcome: 'ok' }],
        });
        expect(await store.createJob(record)).toBe('created');
        expect(await store.createJob(job({ id: 101, state: 'completed' }))).toBe('exists');
        expect(await store.getJob(101)).toStrictEqual(record);
        expect(await store.getJob(102)).toBeUndefined();
      });

      it('keeps a job without a pool and with empty phases, attempts and deliveries', async () => {
        const { pool: _pool, ...withoutPool } = job({ id: 5 });
        const record: JobRecord = { ...withoutPool, phases: {}, deliveries: [], labels: [] };
        await store.createJob(record);
        expect(await store.getJob(5)).toStrictEqual(record);
      });

      it('clears the quota a job waited on, and refuses to set and clear it at once', async () => {
        const wait = { quota: 'repository', subject: 'acme/widgets', limit: 1, held: 1, since: 5 } as const;
        await store.createJob(job({ id: 120 }));
        const waiting = await store.updateJob({ id: 120, expectedVersion: 1, patch: { quotaWait: wait } });
        expect(waiting.kind === 'ok' && waiting.record.quotaWait).toEqual(wait);
        await expect(
          store.updateJob({ id: 120, expectedVersion: 2, patch: { quotaWait: wait }, clear: ['quotaWait'] }),
        ).rejects.toThrow(TypeError);
        const served = await store.updateJob({
          id: 120,
          expectedVersion: 2,
          to: 'provisioned',
          clear: ['quotaWait'],
        });
        expect(served.kind === 'ok' && 'quotaWait' in served.record).toBe(false);
        expect(await store.getJob(120)).toMatchObject({ state: 'provisioned', version: 3 });
        expect((await store.getJob(120))?.quotaWait).toBeUndefined();
      });

      it('updates on the expected version: state, patch, merged phases, appended attempts and delivery', async () => {
        await store.createJob(job({ id: 101 }));
        const first = await store.updateJob({
          id: 101,
          expectedVersion: 1,
          to: 'provisioned',
          patch: {
            source: 'pool',
            provisionedInstance: 'i-1',
            phases: { claimedAt: start + 10 },
            updatedAt: start + 10,
          },
          attempts: [
            { step: 'pool', at: start + 5, outcome: 'lost-race', instanceId: 'i-0' },
            { step: 'pool', at: start + 10, outcome: 'ok', instanceId: 'i-1' },
          ],
          deliveryId: 'delivery-2',
        });
        const second = await store.updateJob({
          id: 101,
          expectedVersion: 2,
          patch: { phases: { startIssuedAt: start + 20 }, reprovisions: 1 },
          attempts: [{ step: 'spot', at: start + 20, outcome: 'capacity', detail: 'no spot capacity' }],
        });
        expect(first.kind).toBe('ok');
        const expected = job({
          id: 101,
          state: 'provisioned',
          version: 3,
          source: 'pool',
          provisionedInstance: 'i-1',
          reprovisions: 1,
          phases: {
            createdAt: start - 2_000,
            receivedAt: start - 1_000,
            claimedAt: start + 10,
            startIssuedAt: start + 20,
          },
          attempts: [
            { step: 'pool', at: start + 5, outcome: 'lost-race', instanceId: 'i-0' },
            { step: 'pool', at: start + 10, outcome: 'ok', instanceId: 'i-1' },
            { step: 'spot', at: start + 20, outcome: 'capacity', detail: 'no spot capacity' },
          ],
          deliveries: ['delivery-1', 'delivery-2'],
          updatedAt: start,
        });
        expect(second).toStrictEqual({ kind: 'ok', record: expected });
        expect(await store.getJob(101)).toStrictEqual(expected);
      });

      it('returns conflict on a stale version and not-found for an unknown job', async () => {
        const record = job({ id: 101, version: 4 });
        await store.createJob(record);
        expect(await store.updateJob({ id: 101, expectedVersion: 3, to: 'provisioned' })).toStrictEqual({
          kind: 'conflict',
        });
        expect(await store.updateJob({ id: 999, expectedVersion: 1, to: 'provisioned' })).toStrictEqual({
          kind: 'not-found',
        });
        expect(await store.getJob(101)).toStrictEqual(record);
      });

      it('throws on an illegal job transition and changes nothing', async () => {
        const record = job({ id: 101, state: 'running' });
        await store.createJob(record);
        await expect(store.updateJob({ id: 101, expectedVersion: 1, to: 'queued' })).rejects.toBeInstanceOf(
          IllegalTransitionError,
        );
        expect(await store.getJob(101)).toStrictEqual(record);
      });

      it('throws for a target no state leads to, and reports a stale version as a conflict first', async () => {
        await store.createJob(job({ id: 101, version: 2 }));
        await expect(store.updateJob({ id: 101, expectedVersion: 2, to: 'waiting' })).rejects.toBeInstanceOf(
          IllegalTransitionError,
        );
        expect(await store.updateJob({ id: 101, expectedVersion: 1, to: 'waiting' })).toStrictEqual({
          kind: 'conflict',
        });
        expect(await store.updateJob({ id: 9, expectedVersion: 1, to: 'waiting' })).toStrictEqual({
          kind: 'not-found',
        });
        expect((await store.getJob(101))?.version).toBe(2);
      });

      it('lists jobs in a state, oldest update first, up to the limit', async () => {
        await store.createJob(job({ id: 1, updatedAt: start + 300 }));
        await store.createJob(job({ id: 2, updatedAt: start + 100 }));
        await store.createJob(job({ id: 3, updatedAt: start + 200 }));
        await store.createJob(job({ id: 4, state: 'running', updatedAt: start }));
        expect((await store.listJobs('queued')).map((j) => j.id)).toEqual([2, 3, 1]);
        expect((await store.listJobs('queued', 2)).map((j) => j.id)).toEqual([2, 3]);
        expect(await store.listJobs('running')).toStrictEqual([
          job({ id: 4, state: 'running', updatedAt: start }),
        ]);
        expect(await store.listJobs('waiting')).toEqual([]);

        clock.advance(1_000);
        await store.updateJob({ id: 2, expectedVersion: 1, to: 'provisioned' });
        expect((await store.listJobs('queued')).map((j) => j.id)).toEqual([3, 1]);
        const [moved] = await store.listJobs('provisioned');
        expect(moved?.updatedAt).toBe(start + 1_000);
      });

      it("lists one pool's waiting jobs (queued or provisioned), up to the limit, as they move in and out", async () => {
        await store.createJob(job({ id: 11 }));
        await store.createJob(job({ id: 12, state: 'provisioned' }));
        await store.createJob(job({ id: 13, state: 'running' }));
        await store.createJob(job({ id: 14, state: 'waiting' }));
        await store.createJob(job({ id: 15, pool: 'linux-x64-big' }));
        await store.createJob(job({ id: 16, pool: 'linux' }));
        const { pool: _none, ...unpooled } = job({ id: 17 });
        await store.createJob(unpooled);
        const ids = async (pool: string, limit?: number) =>
          (await store.listWaitingJobs(pool, limit)).map((j) => j.id).sort((a, b) => a - b);
        expect(await ids('linux-x64')).toEqual([11, 12]);
        expect(await ids('linux')).toEqual([16]);
        expect(await ids('linux-x64', 1)).toHaveLength(1);
        expect(await ids('linux-x64', 0)).toEqual([]);
        expect(await store.listWaitingJobs('linux-x64')).toContainEqual(job({ id: 11 }));

        await store.updateJob({ id: 14, expectedVersion: 1, to: 'queued' });
        await store.updateJob({ id: 11, expectedVersion: 1, to: 'running' });
        await store.updateJob({ id: 12, expectedVersion: 1, patch: { source: 'pool' } });
        expect(await ids('linux-x64')).toEqual([12, 14]);
        await store.updateJob({ id: 12, expectedVersion: 2, to: 'queued' });
        await store.updateJob({ id: 14, expectedVersion: 2, to: 'completed' });
        expect(await ids('linux-x64')).toEqual([12]);
        // Jobs never show up as instances, whatever index they share.
        expect(await store.listPoolInstances('linux-x64')).toEqual([]);
        expect(await store.listLiveInstances()).toEqual([]);
      });

      it('sets expiresAt on completion and hides an expired job', async () => {
        await store.createJob(job({ id: 7, state: 'running' }));
        await store.createJob(job({ id: 8, state: 'completed', updatedAt: start + 1 }));
        const done = await store.updateJob({
          id: 7,
          expectedVersion: 1,
          to: 'completed',
          patch: { conclusion: 'success' },
        });
        const expiresAt = done.kind === 'ok' ? done.record.expiresAt : undefined;
        expect(expiresAt).toBeGreaterThan(Math.floor(start / 1000));
        expect((await store.listJobs('completed')).map((j) => j.id)).toEqual([7, 8]);

        clock.advance(((expiresAt ?? 0) + 1) * 1000 - start);
        expect(await store.getJob(7)).toBeUndefined();
        expect((await store.listJobs('completed')).map((j) => j.id)).toEqual([8]);
        expect((await store.listJobs('completed', 1)).map((j) => j.id)).toEqual([8]);
        expect(
          await store.updateJob({ id: 7, expectedVersion: 2, patch: { reprovisions: 1 } }),
        ).toStrictEqual({
          kind: 'not-found',
        });
      });

      it('never hands out a live reference to stored state', async () => {
        const record = job({ id: 101 });
        await store.createJob(record);
        (record.deliveries as string[]).push('injected');
        const read = await store.getJob(101);
        try {
          (read?.attempts as unknown[] | undefined)?.push({ step: 'spot', at: 0, outcome: 'ok' });
        } catch {}
        try {
          if (read) (read.phases as { claimedAt?: number }).claimedAt = 1;
        } catch {}
        expect(await store.getJob(101)).toStrictEqual(job({ id: 101 }));
      });
    });

    describe('quota counters', () => {
      it('takes units up to the limit, then reports full with the count, and gives them back', async () => {
        expect(await store.takeQuota('linux-x64', 'repo#acme/widgets', 2, 10)).toEqual({
          kind: 'taken',
          count: 1,
        });
        expect(await store.takeQuota('linux-x64', 'repo#acme/widgets', 2, 11)).toEqual({
          kind: 'taken',
          count: 2,
        });
        expect(await store.takeQuota('linux-x64', 'repo#acme/widgets', 2, 12)).toEqual({
          kind: 'full',
          count: 2,
        });
        // Another key, another pool: counted apart.
        expect(await store.takeQuota('linux-x64', 'org#acme', 5, 12)).toEqual({ kind: 'taken', count: 1 });
        expect(await store.takeQuota('linux-arm', 'repo#acme/widgets', 1, 12)).toEqual({
          kind: 'taken',
          count: 1,
        });
        expect(await store.giveBackQuota('linux-x64', 'repo#acme/widgets', 13)).toMatchObject({
          count: 1,
          updatedAt: 13,
        });
        expect(await store.takeQuota('linux-x64', 'repo#acme/widgets', 2, 14)).toEqual({
          kind: 'taken',
          count: 2,
        });
        expect((await store.listQuotas('linux-x64')).map((q) => [q.key, q.count])).toEqual([
          ['org#acme', 1],
          ['repo#acme/widgets', 2],
        ]);
      });

      it('never takes under a zero limit and never gives back below zero', async () => {
        expect(await store.takeQuota('linux-x64', 'repo#acme/none', 0, 10)).toEqual({
          kind: 'full',
          count: 0,
        });
        expect(await store.listQuotas('linux-x64')).toEqual([]);
        expect(await store.giveBackQuota('linux-x64', 'repo#acme/none', 11)).toBeUndefined();
        await store.takeQuota('linux-x64', 'repo#acme/one', 1, 12);
        await store.giveBackQuota('linux-x64', 'repo#acme/one', 13);
        expect(await store.giveBackQuota('linux-x64', 'repo#acme/one', 14)).toMatchObject({
          count: 0,
          updatedAt: 13,
        });
      });

      it('charges past the limit (a runner already running a job is counted)', async () => {
        await store.takeQuota('linux-x64', 'repo#acme/widgets', 1, 10);
        expect(await store.chargeQuota('linux-x64', 'repo#acme/widgets', 11)).toBe(2);
        expect(await store.takeQuota('linux-x64', 'repo#acme/widgets', 1, 12)).toEqual({
          kind: 'full',
          count: 2,
        });
      });

      it('lets many concurrent takers pass the limit exactly', async () => {
        const takes = await Promise.all(
          Array.from({ length: 12 }, (_, i) => store.takeQuota('linux-x64', 'repo#acme/race', 5, 100 + i)),
        );
        expect(takes.filter((t) => t.kind === 'taken')).toHaveLength(5);
        expect((await store.listQuotas('linux-x64'))[0]?.count).toBe(5);
      });

      it('repairs a counter only while it still holds what was read', async () => {
        await store.takeQuota('linux-x64', 'repo#acme/widgets', 9, 10);
        await store.takeQuota('linux-x64', 'repo#acme/widgets', 9, 11);
        const [seen] = await store.listQuotas('linux-x64');
        if (seen === undefined) throw new Error('no counter');
        await store.giveBackQuota('linux-x64', 'repo#acme/widgets', 12);
        expect(await store.repairQuota('linux-x64', 'repo#acme/widgets', seen, 0, 13)).toBe('conflict');
        const [latest] = await store.listQuotas('linux-x64');
        expect(latest).toMatchObject({ count: 1, updatedAt: 12 });
        if (latest === undefined) throw new Error('no counter');
        expect(await store.repairQuota('linux-x64', 'repo#acme/widgets', latest, 0, 14)).toBe('ok');
        expect(await store.listQuotas('linux-x64')).toMatchObject([{ count: 0, updatedAt: 14 }]);
        // A counter that was never written is created by a repair that expected it absent, once.
        expect(await store.repairQuota('linux-x64', 'org#acme', undefined, 2, 15)).toBe('ok');
        expect(await store.repairQuota('linux-x64', 'org#acme', undefined, 3, 16)).toBe('conflict');
      });

      it('keeps the jobs waiting on a counter, apart from its count', async () => {
        await store.waitOnQuota('linux-x64', 'repo#acme/widgets', 302);
        await store.waitOnQuota('linux-x64', 'repo#acme/widgets', 301);
        await store.waitOnQuota('linux-x64', 'repo#acme/widgets', 302);
        expect(await store.listQuotas('linux-x64')).toMatchObject([{ count: 0, waiting: [301, 302] }]);
        await store.takeQuota('linux-x64', 'repo#acme/widgets', 1, 20);
        await store.stopWaitingOnQuota('linux-x64', 'repo#acme/widgets', 301);
        await store.stopWaitingOnQuota('linux-x64', 'repo#acme/gone', 301);
        expect(await store.giveBackQuota('linux-x64', 'repo#acme/widgets', 21)).toMatchObject({
          count: 0,
          waiting: [302],
          updatedAt: 21,
        });
        expect((await store.listQuotas('linux-x64')).map((q) => q.key)).toEqual(['repo#acme/widgets']);
      });

      it('drops a counter past its expiry', async () => {
        const expiresAt = Math.floor(clock.now() / 1000) + 60;
        await store.takeQuota('linux-x64', 'day#2026-01-05#repo#acme/widgets', 3, 10, expiresAt);
        expect(await store.listQuotas('linux-x64')).toHaveLength(1);
        clock.advance(61_000);
        expect(await store.listQuotas('linux-x64')).toEqual([]);
      });
    });

    describeUsageContract(() => ({ store, advance: (ms) => clock.advance(ms), start }), job);

    describe('markers', () => {
      it('reads back the last value written', async () => {
        expect(await store.getMarker('deliveries-cursor')).toBeUndefined();
        await store.putMarker('deliveries-cursor', 'abc');
        await store.putMarker('deliveries-cursor', 'def');
        await store.putMarker('other', 'x');
        expect(await store.getMarker('deliveries-cursor')).toBe('def');
        expect(await store.getMarker('other')).toBe('x');
      });
    });

    describe('counters', () => {
      it('adds atomically from zero and returns the value after each add, racing adds included', async () => {
        expect(await store.addToCounter('hot-pairs#linux-x64', 1)).toBe(1);
        expect(await store.addToCounter('hot-pairs#linux-x64', -3)).toBe(-2);
        expect(await store.addToCounter('hot-pairs#other', -1)).toBe(-1);
        const after = await Promise.all(
          Array.from({ length: 10 }, () => store.addToCounter('hot-pairs#linux-x64', 1)),
        );
        expect([...after].sort((a, b) => a - b)).toEqual([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expect(await store.addToCounter('hot-pairs#linux-x64', 0)).toBe(8);
        // A counter and a marker of the same name live side by side.
        await store.putMarker('hot-pairs#linux-x64', 'note');
        expect(await store.getMarker('hot-pairs#linux-x64')).toBe('note');
        expect(await store.addToCounter('hot-pairs#linux-x64', 0)).toBe(8);
      });

      it('refuses a delta that is not an integer and changes nothing', async () => {
        await expect(store.addToCounter('c', 0.5)).rejects.toThrow(TypeError);
        expect(await store.addToCounter('c', 0)).toBe(0);
      });
    });
  });
}
