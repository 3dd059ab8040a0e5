/**
 * The reconciler's decisions, one rule at a time, from hand-built snapshots of the store, EC2, GitHub
 * and the pending JIT configs. Each rule is shown firing and shown holding back (grace periods,
 * settle times, runners GitHub reports busy).
 */
import { describe, expect, it } from 'vitest';
import {
  claimStallMs,
  idleSettleMs,
  leavingStallMs,
  planReconcile,
  type ReconcileSnapshot,
  runningCheckMs,
} from '../../scheduler/core/reconcile-plan.js';
import type { InstanceRecord, JobRecord } from '../../scheduler/core/types.js';
import type { ObservedInstance } from '../../scheduler/ports/compute.js';
import { instance, job, monday0900, testConfig } from './support.js';

const now = monday0900;
const config = testConfig();
const { settings } = config;
const minutes = (n: number) => n * 60_000;

function snapshot(overrides: Partial<ReconcileSnapshot> = {}): ReconcileSnapshot {
  return {
    now,
    config,
    runners: { owners: [{ owner: 'acme', scope: 'org', namePrefix: 'wpr' }] },
    instances: [],
    observed: [],
    jobs: [],
    registeredRunners: [],
    pendingJit: [],
    ...overrides,
  };
}

function seen(i: InstanceRecord, state: ObservedInstance['state']): ObservedInstance {
  return { id: i.id, pool: i.pool, state, launchedAt: i.launchedAt, instanceType: i.instanceType };
}

/** An instance in `state` for `ageMs` (and launched `launchedAgoMs` ago), seen by EC2 in `ec2`. */
function withEc2(
  state: InstanceRecord['state'],
  ec2: ObservedInstance['state'],
  ageMs: number,
  overrides: Partial<InstanceRecord> = {},
) {
  const i = instance({ state, stateChangedAt: now - ageMs, launchedAt: now - ageMs, ...overrides });
  return { instances: [i], observed: [seen(i, ec2)], i };
}

const kinds = (s: ReconcileSnapshot) => planReconcile(s).map((a) => a.kind);

describe('instance repairs', () => {
  it.each(['terminated', 'shutting-down'] as const)('marks terminated what EC2 reports %s', (ec2) => {
    const { i, ...s } = withEc2('busy', ec2, minutes(1), { servingJob: 1 });
    expect(planReconcile(snapshot(s))).toEqual([
      { kind: 'mark-terminated', instance: i, reason: `EC2 reports ${ec2}` },
    ]);
  });

  it('marks terminated what EC2 does not know, once past the grace for new instances', () => {
    const old = instance({ launchedAt: now - settings.orphanGraceSeconds * 1000 - 1 });
    const young = instance({ launchedAt: now - settings.orphanGraceSeconds * 1000 });
    expect(planReconcile(snapshot({ instances: [old, young] }))).toEqual([
      { kind: 'mark-terminated', instance: old, reason: 'unknown to EC2' },
    ]);
  });

  it.each(['launching', 'warming'] as const)(
    'marks a %s pool instance ready when EC2 has it stopped',
    (state) => {
      const { i, ...s } = withEc2(state, 'stopped', minutes(3));
      expect(planReconcile(snapshot(s))).toEqual([
        { kind: 'mark-ready', instance: i, reason: 'warmed up and stopped (event missed)' },
      ]);
    },
  );

  it('never marks an ephemeral instance ready', () => {
    const s = withEc2('launching', 'stopped', minutes(3), { role: 'ephemeral', market: 'spot' });
    expect(kinds(snapshot(s))).toEqual([]);
  });

  it('retires an instance still warming up after the warm-up timeout', () => {
    const limit = settings.warmupTimeoutSeconds * 1000;
    const { i, ...late } = withEc2('warming', 'running', limit + 1);
    expect(planReconcile(snapshot(late))).toEqual([
      { kind: 'retire', instance: i, reason: 'warm-up timed out' },
    ]);
    expect(kinds(snapshot(withEc2('warming', 'running', limit)))).toEqual([]);
  });

  it('releases a stalled claim that never started, and retires one whose instance is running', () => {
    // Warmed up an hour ago: EC2's LaunchTime is that boot's.
    const { i: stopped, ...never } = withEc2('claimed', 'stopped', claimStallMs + 1, {
      launchedAt: now - minutes(60),
    });
    expect(planReconcile(snapshot(never))).toEqual([
      { kind: 'release', instance: stopped, reason: 'claim never started' },
    ]);
    const { i: running, ...stalled } = withEc2('claimed', 'running', claimStallMs + 1);
    expect(planReconcile(snapshot(stalled))).toEqual([
      { kind: 'retire', instance: running, reason: 'claim stalled while running' },
    ]);
    expect(kinds(snapshot(withEc2('claimed', 'stopped', claimStallMs)))).toEqual([]);
  });

  it('retires, never releases, a stalled claim whose instance was started after the claim and is stopped again', () => {
    // The webhook claimed, called StartInstances and died before recording the start; the instance
    // booted, found no config and powered off. EC2's LaunchTime (reset by the start) gives it away.
    const claimedAt = now - claimStallMs - 1;
    const i = instance({ state: 'claimed', stateChangedAt: claimedAt, launchedAt: now - minutes(60) });
    const ec2: ObservedInstance = { ...seen(i, 'stopped'), launchedAt: claimedAt + 2_000 };
    expect(planReconcile(snapshot({ instances: [i], observed: [ec2] }))).toEqual([
      { kind: 'retire', instance: i, reason: 'claim stalled after its start (not pristine)' },
    ]);
  });

  it.each(['launching', 'warming'] as const)(
    'retires a %s pool instance that stopped with a failure reason from its agent',
    (state) => {
      const { i, observed } = withEc2(state, 'stopped', minutes(3));
      const failed = observed.map((o) => ({ ...o, agentReason: 'agent-error' }));
      expect(planReconcile(snapshot({ instances: [i], observed: failed }))).toEqual([
        { kind: 'retire', instance: i, reason: 'warm-up failed: agent-error' },
      ]);
    },
  );

  describe('watchdogs', () => {
    const noJob = settings.noJobTimeoutSeconds * 1000;
    const lifetime = settings.maxLifetimeSeconds * 1000;

    it('retires a started instance that was never seen starting a job, whatever its state says', () => {
      // `busy` without a job: a webhook said so, nothing confirms it.
      for (const state of ['busy', 'claimed'] as const) {
        const { i, ...s } = withEc2(state, 'running', minutes(1), { startIssuedAt: now - noJob - 1 });
        expect(planReconcile(snapshot(s)), state).toEqual([
          { kind: 'retire', instance: i, reason: 'no job started within 1800 s of its start' },
        ]);
      }
    });

    it('trusts the in_progress record or the job-started tag the instance sets', () => {
      const byWebhook = withEc2('busy', 'running', minutes(1), {
        startIssuedAt: now - noJob - 1,
        servingJob: 7,
      });
      expect(kinds(snapshot(byWebhook))).toEqual([]);
      const { i, observed } = withEc2('starting', 'running', minutes(1), { startIssuedAt: now - noJob - 1 });
      const tagged = observed.map((o) => ({ ...o, jobStarted: true }));
      expect(kinds(snapshot({ instances: [i], observed: tagged }))).toEqual([]);
    });

    it('terminates any instance past the maximum lifetime, even one running a job', () => {
      const { i, ...s } = withEc2('busy', 'running', minutes(1), {
        startIssuedAt: now - lifetime - 1,
        servingJob: 7,
      });
      expect(planReconcile(snapshot(s))).toEqual([
        { kind: 'retire', instance: i, reason: 'ran past the maximum lifetime (86400 s)' },
      ]);
      const ephemeral = withEc2('busy', 'running', minutes(1), {
        role: 'ephemeral',
        market: 'spot',
        launchedAt: now - lifetime - 1,
        servingJob: 7,
      });
      expect(kinds(snapshot(ephemeral))).toEqual(['retire']);
    });

    it('leaves pool instances waiting stopped alone, however old', () => {
      const { ...s } = withEc2('ready', 'stopped', lifetime * 3, { launchedAt: now - lifetime * 3 });
      expect(kinds(snapshot(s))).toEqual([]);
    });
  });

  it.each(['starting', 'busy'] as const)(
    'recycles a %s instance EC2 has stopped (its event was missed)',
    (state) => {
      const { i, ...s } = withEc2(state, 'stopped', idleSettleMs + 1, { servingJob: 3 });
      expect(planReconcile(snapshot(s))).toEqual([
        { kind: 'recycle', instance: i, reason: 'powered off (event missed)' },
      ]);
    },
  );

  it('does not recycle an instance whose start came after EC2 was listed', () => {
    // EC2 was read just before a webhook started the instance, the store just after.
    const s = withEc2('starting', 'stopped', 500, { servingJob: 3 });
    expect(kinds(snapshot(s))).toEqual([]);
  });

  it('retires a starting instance whose runner took no job before the claim timeout', () => {
    const limit = settings.claimTimeoutSeconds * 1000;
    const { i, ...s } = withEc2('starting', 'running', limit + 1, { servingJob: 3 });
    expect(planReconcile(snapshot(s))).toEqual([
      { kind: 'retire', instance: i, reason: 'runner took no job before the claim timeout' },
    ]);
    expect(kinds(snapshot(withEc2('starting', 'running', limit, { servingJob: 3 })))).toEqual([]);
    expect(kinds(snapshot(withEc2('busy', 'running', limit * 10, { servingJob: 3 })))).toEqual([]);
  });

  it.each(['recycling', 'retiring'] as const)('finishes a %s instance that stalled', (state) => {
    const { i, ...s } = withEc2(state, 'stopping', leavingStallMs + 1);
    expect(planReconcile(snapshot(s))).toEqual([
      { kind: 'retire', instance: i, reason: `stalled while ${state}` },
    ]);
    expect(kinds(snapshot(withEc2(state, 'stopping', leavingStallMs)))).toEqual([]);
  });

  it('leaves healthy instances alone', () => {
    const healthy = [
      withEc2('ready', 'stopped', minutes(60)),
      withEc2('warming', 'running', minutes(2)),
      withEc2('busy', 'running', minutes(60), { servingJob: 1 }),
    ];
    const s = snapshot({
      instances: healthy.flatMap((h) => h.instances),
      observed: healthy.flatMap((h) => h.observed),
    });
    expect(planReconcile(s)).toEqual([]);
  });
});

describe('orphan instances', () => {
  const grace = settings.orphanGraceSeconds * 1000;
  const observed = (launchedAgo: number, state: ObservedInstance['state'] = 'running'): ObservedInstance => ({
    id: `i-0000000000000${launchedAgo.toString(16).padStart(4, '0')}`,
    pool: 'linux-x64',
    state,
    launchedAt: now - launchedAgo,
    instanceType: 'm7i.large',
    launchedHere: true,
  });

  it('never terminates an instance this deployment did not launch', () => {
    const { launchedHere: _, ...untagged } = observed(grace * 2);
    expect(
      kinds(snapshot({ observed: [{ ...observed(grace * 3), launchedHere: false }, untagged] })),
    ).toEqual([]);
  });

  it('terminates an instance of ours the store does not know, once past the grace', () => {
    const old = observed(grace + 1);
    expect(planReconcile(snapshot({ observed: [old, observed(grace)] }))).toEqual([
      { kind: 'terminate-orphan', instanceId: old.id, reason: 'not in the store' },
    ]);
  });

  it('ignores instances already going away', () => {
    expect(
      kinds(
        snapshot({ observed: [observed(grace * 2, 'terminated'), observed(grace * 3, 'shutting-down')] }),
      ),
    ).toEqual([]);
  });
});

describe('runner balance', () => {
  /** An idle runner's instance: started for a job, no job taken yet. */
  const idle = (ageMs: number, overrides: Partial<InstanceRecord> = {}) =>
    withEc2('starting', 'running', ageMs, { startIssuedAt: now - ageMs, runnerName: 'x', ...overrides });
  const waitingJob = (ageMs: number, overrides: Partial<JobRecord> = {}) =>
    job({ state: 'queued', updatedAt: now - ageMs, ...overrides });
  const pendingMs = settings.pendingJobSeconds * 1000;

  it('asks GitHub about jobs waiting longer than pendingJobSeconds with no idle runner for them', () => {
    const oldJob = waitingJob(pendingMs + 1);
    const newJob = waitingJob(pendingMs);
    expect(planReconcile(snapshot({ jobs: [oldJob, newJob] }))).toEqual([
      { kind: 'check-job', job: oldJob, reason: 'no runner yet' },
    ]);
  });

  it('counts idle runners against waiting jobs, per pool', () => {
    const runner = idle(minutes(1));
    const x64Job = waitingJob(pendingMs + 1);
    const armJob = waitingJob(pendingMs + 1, { pool: 'linux-arm64' });
    const s = snapshot({ instances: runner.instances, observed: runner.observed, jobs: [x64Job, armJob] });
    expect(planReconcile(s)).toEqual([{ kind: 'check-job', job: armJob, reason: 'no runner yet' }]);
  });

  it("counts idle runners per owner when the deployment serves several: one organization's runner is not another's", () => {
    const runners = {
      owners: [
        { owner: 'acme', scope: 'org', namePrefix: 'wpr-1' },
        { owner: 'globex', scope: 'org', namePrefix: 'wpr-2' },
      ],
    } as const;
    const acmeRunner = idle(minutes(1), { runnerFor: { owner: 'acme', name: 'app' } });
    const globexJob = waitingJob(pendingMs + 1, { repository: { owner: 'Globex', name: 'api' } });
    const s = snapshot({
      runners,
      instances: acmeRunner.instances,
      observed: acmeRunner.observed,
      jobs: [globexJob],
    });
    expect(planReconcile(s)).toEqual([{ kind: 'check-job', job: globexJob, reason: 'no runner yet' }]);
    // The same runner registered with globex covers the job.
    const globexRunner = idle(minutes(1), { runnerFor: { owner: 'globex', name: 'api' } });
    expect(
      planReconcile({ ...s, instances: globexRunner.instances, observed: globexRunner.observed }),
    ).toEqual([]);
  });

  it('checks queued jobs before provisioned ones whose runner went elsewhere', () => {
    const provisioned = waitingJob(pendingMs * 3, { state: 'provisioned' });
    const queued = waitingJob(pendingMs * 2);
    const runner = idle(minutes(1));
    const s = snapshot({
      instances: runner.instances,
      observed: runner.observed,
      jobs: [provisioned, queued],
    });
    expect(planReconcile(s)).toEqual([{ kind: 'check-job', job: queued, reason: 'no runner yet' }]);
    expect(planReconcile(snapshot({ jobs: [provisioned] }))).toEqual([
      { kind: 'check-job', job: provisioned, reason: 'its runner is gone' },
    ]);
  });

  it('releases idle runners beyond the waiting jobs, oldest first, once settled', () => {
    const old = idle(idleSettleMs + 2);
    const older = idle(idleSettleMs + 3);
    const fresh = idle(idleSettleMs);
    const all = [old, older, fresh];
    const s = snapshot({
      instances: all.flatMap((r) => r.instances),
      observed: all.flatMap((r) => r.observed),
      jobs: [waitingJob(0)],
    });
    // Three idle for one job: two surplus, the two longest idle; the third is the one kept.
    expect(planReconcile(s)).toEqual([
      { kind: 'release', instance: older.i, reason: 'runner not needed: its job was cancelled or taken' },
      { kind: 'release', instance: old.i, reason: 'runner not needed: its job was cancelled or taken' },
    ]);
  });

  it('does not release a runner that is young or that GitHub reports busy', () => {
    const young = idle(idleSettleMs);
    expect(kinds(snapshot({ instances: young.instances, observed: young.observed }))).toEqual([]);
    const taken = idle(idleSettleMs * 5);
    const s = snapshot({
      instances: taken.instances,
      observed: taken.observed,
      registeredRunners: [{ id: 9, name: `wpr-${taken.i.id}`, status: 'online', busy: true }],
    });
    expect(kinds(s)).toEqual([]);
  });

  it('does not count serving instances or ones another rule repairs as idle', () => {
    const serving = idle(idleSettleMs * 5, { servingJob: 44 });
    const timedOut = idle(settings.claimTimeoutSeconds * 1000 + 1);
    const s = snapshot({
      instances: [...serving.instances, ...timedOut.instances],
      observed: [...serving.observed, ...timedOut.observed],
    });
    expect(planReconcile(s)).toEqual([
      { kind: 'retire', instance: timedOut.i, reason: 'runner took no job before the claim timeout' },
    ]);
  });

  it('does nothing when runners and jobs balance', () => {
    const runner = idle(idleSettleMs * 5);
    const s = snapshot({
      instances: runner.instances,
      observed: runner.observed,
      jobs: [waitingJob(pendingMs * 5)],
    });
    expect(planReconcile(s)).toEqual([]);
  });
});

describe('orphan runners and JIT configs', () => {
  it('deletes a runner of ours whose instance is gone, unless it is busy', () => {
    const live = withEc2('starting', 'running', minutes(1), { servingJob: 1 });
    const gone = { id: 1, name: 'wpr-i-0000000000000dead', status: 'offline', busy: false } as const;
    const busyGone = { id: 2, name: 'wpr-i-0000000000000beef', status: 'online', busy: true } as const;
    const alive = { id: 3, name: `wpr-${live.i.id}`, status: 'online', busy: false } as const;
    const foreign = { id: 4, name: 'wpr-build-box', status: 'offline', busy: false } as const;
    const s = snapshot({
      instances: live.instances,
      observed: live.observed,
      registeredRunners: [gone, busyGone, alive, foreign],
    });
    expect(planReconcile(s)).toEqual([{ kind: 'delete-runner', runner: gone, reason: 'no live instance' }]);
  });

  it('removes a JIT config its instance is not waiting for, once settled', () => {
    const waiting = withEc2('starting', 'running', minutes(1), { servingJob: 1 });
    const s = snapshot({
      instances: waiting.instances,
      observed: waiting.observed,
      pendingJit: [
        { instanceId: 'i-0000000000000dead', createdAt: now - idleSettleMs - 1 },
        { instanceId: 'i-0000000000000beef', createdAt: now - idleSettleMs },
        { instanceId: waiting.i.id, createdAt: now - minutes(9) },
      ],
    });
    expect(planReconcile(s)).toEqual([
      { kind: 'remove-jit', instanceId: 'i-0000000000000dead', reason: 'its instance is not waiting for it' },
    ]);
  });
});

describe('running jobs', () => {
  it('asks GitHub about a job long running on an instance that is gone', () => {
    const gone = job({
      state: 'running',
      instanceId: 'i-0000000000000dead',
      updatedAt: now - runningCheckMs - 1,
    });
    const unknown = job({ state: 'running', updatedAt: now - runningCheckMs - 1 });
    const recent = job({
      state: 'running',
      instanceId: 'i-0000000000000dead',
      updatedAt: now - runningCheckMs,
    });
    const live = withEc2('busy', 'running', minutes(40), { servingJob: 1 });
    const onLive = job({ state: 'running', instanceId: live.i.id, updatedAt: now - runningCheckMs * 2 });
    const s = snapshot({
      instances: live.instances,
      observed: live.observed,
      jobs: [gone, unknown, recent, onLive],
    });
    expect(planReconcile(s)).toEqual([
      { kind: 'check-job', job: gone, reason: 'running on an instance that is gone' },
      { kind: 'check-job', job: unknown, reason: 'running on an instance that is gone' },
    ]);
  });
});

describe('planReconcile', () => {
  it('is a pure function of its snapshot', () => {
    const a = withEc2('claimed', 'running', claimStallMs * 2);
    const s = snapshot({ instances: a.instances, observed: a.observed, jobs: [job({ updatedAt: 0 })] });
    expect(planReconcile(s)).toEqual(planReconcile(s));
    expect(planReconcile(snapshot())).toEqual([]);
  });
});
