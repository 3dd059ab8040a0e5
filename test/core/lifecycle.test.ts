/**
 * The lifecycle tables, checked against the design's diagram written out again here: every allowed
 * transition is accepted, every other pair is refused (and `assert…` throws IllegalTransitionError),
 * in-place updates are allowed except on a terminated instance, and the state groups agree with them.
 */
import { describe, expect, it } from 'vitest';
import {
  assertInstanceTransition,
  assertJobTransition,
  canTransitionInstance,
  canTransitionJob,
  hotIdleStates,
  IllegalTransitionError,
  type InstanceState,
  instanceStates,
  type JobState,
  jobProgress,
  jobStates,
  leavingStates,
  liveInstanceStates,
  poolCapacityStates,
  servingStates,
  untakenRunnerStates,
} from '../../scheduler/core/lifecycle.js';

const instanceSpec: Record<InstanceState, InstanceState[]> = {
  launching: ['warming', 'ready', 'starting', 'retiring', 'terminated'],
  warming: ['ready', 'retiring', 'terminated'],
  ready: ['claimed', 'retiring', 'terminated'],
  claimed: ['starting', 'busy', 'recycling', 'ready', 'retiring', 'terminated'],
  starting: ['idle', 'busy', 'recycling', 'retiring', 'terminated'],
  idle: ['busy', 'recycling', 'retiring', 'terminated'],
  busy: ['recycling', 'retiring', 'terminated'],
  recycling: ['terminated'],
  retiring: ['terminated'],
  terminated: [],
};

const jobSpec: Record<JobState, JobState[]> = {
  waiting: ['queued', 'running', 'completed'],
  queued: ['provisioned', 'running', 'completed'],
  provisioned: ['queued', 'running', 'completed'],
  running: ['completed'],
  completed: [],
};

const pairs = <S extends string>(states: readonly S[]) =>
  states.flatMap((from) => states.filter((to) => to !== from).map((to) => [from, to] as const));

describe('instance lifecycle', () => {
  const allowed = pairs(instanceStates).filter(([from, to]) => instanceSpec[from].includes(to));
  const illegal = pairs(instanceStates).filter(([from, to]) => !instanceSpec[from].includes(to));

  it("lists the ten states of the design (nine plus the hot tier's idle)", () => {
    expect([...instanceStates].sort()).toEqual(Object.keys(instanceSpec).sort());
  });

  it.each(allowed)('accepts %s → %s', (from, to) => {
    expect(canTransitionInstance(from, to)).toBe(true);
    expect(() => assertInstanceTransition(from, to)).not.toThrow();
  });

  it.each(illegal)('refuses %s → %s', (from, to) => {
    expect(canTransitionInstance(from, to)).toBe(false);
    expect(() => assertInstanceTransition(from, to)).toThrow(IllegalTransitionError);
  });

  it('names the entity and both states in the error', () => {
    let caught: unknown;
    try {
      assertInstanceTransition('ready', 'busy');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toMatchObject({
      name: 'IllegalTransitionError',
      entity: 'instance',
      from: 'ready',
      to: 'busy',
      message: 'illegal instance transition ready → busy',
    });
  });

  it.each(instanceStates.filter((s) => s !== 'terminated'))('allows an in-place update while %s', (state) => {
    expect(canTransitionInstance(state, state)).toBe(true);
  });

  it('keeps terminated final: no way out, not even an in-place update', () => {
    for (const to of instanceStates) expect(canTransitionInstance('terminated', to)).toBe(false);
    expect(() => assertInstanceTransition('terminated', 'terminated')).toThrow(IllegalTransitionError);
    expect(() => assertInstanceTransition('terminated', 'ready')).toThrow(IllegalTransitionError);
  });

  it('reaches terminated from every other state, directly', () => {
    for (const from of liveInstanceStates) expect(canTransitionInstance(from, 'terminated')).toBe(true);
  });

  it('never lets a booted instance back into the pool', () => {
    for (const from of ['starting', 'idle', 'busy', 'recycling', 'retiring'] as const)
      expect(canTransitionInstance(from, 'ready')).toBe(false);
    // Only a claim that never started goes back.
    expect(canTransitionInstance('claimed', 'ready')).toBe(true);
  });

  it('groups states consistently', () => {
    expect(liveInstanceStates).toEqual(instanceStates.filter((s) => s !== 'terminated'));
    const groups = [...poolCapacityStates, ...servingStates, ...hotIdleStates, ...leavingStates];
    expect(new Set(groups).size).toBe(groups.length);
    expect([...groups, 'terminated'].sort()).toEqual([...instanceStates].sort());
    // Serving instances leave only by recycling or retiring, never back to pool capacity (but a release).
    for (const from of [...servingStates, ...hotIdleStates])
      for (const to of poolCapacityStates)
        expect(canTransitionInstance(from, to)).toBe(from === 'claimed' && to === 'ready');
  });
});

describe('hot tier states', () => {
  it('takes a hot runner only forward: idle is left by a job, a power-off or retirement', () => {
    expect(canTransitionInstance('starting', 'idle')).toBe(true);
    expect(canTransitionInstance('idle', 'busy')).toBe(true);
    expect(canTransitionInstance('idle', 'starting')).toBe(false);
    expect(canTransitionInstance('busy', 'idle')).toBe(false);
    expect(canTransitionInstance('claimed', 'idle')).toBe(false);
  });

  it('counts claimed, starting and idle runners as untaken, never a busy one', () => {
    expect([...untakenRunnerStates].sort()).toEqual(['claimed', 'idle', 'starting']);
  });
});

describe('job lifecycle', () => {
  const allowed = pairs(jobStates).filter(([from, to]) => jobSpec[from].includes(to));
  const illegal = pairs(jobStates).filter(([from, to]) => !jobSpec[from].includes(to));

  it.each(allowed)('accepts %s → %s', (from, to) => {
    expect(canTransitionJob(from, to)).toBe(true);
    expect(() => assertJobTransition(from, to)).not.toThrow();
  });

  it.each(illegal)('refuses %s → %s', (from, to) => {
    expect(canTransitionJob(from, to)).toBe(false);
    expect(() => assertJobTransition(from, to)).toThrow(IllegalTransitionError);
  });

  it('allows in-place updates in every state', () => {
    for (const state of jobStates) expect(canTransitionJob(state, state)).toBe(true);
  });

  it('reports a job error as such', () => {
    expect(() => assertJobTransition('completed', 'queued')).toThrow(
      'illegal job transition completed → queued',
    );
  });

  it('orders progress so that every forward transition but a lost runner moves it up', () => {
    for (const [from, to] of allowed) {
      if (from === 'provisioned' && to === 'queued') {
        expect(jobProgress[to]).toBeLessThan(jobProgress[from]);
        continue;
      }
      expect(jobProgress[to], `${from} → ${to}`).toBeGreaterThan(jobProgress[from]);
    }
    expect(Object.keys(jobProgress).sort()).toEqual([...jobStates].sort());
  });
});
