/**
 * Instance and job lifecycles as explicit transition tables.
 *
 * Instance: launching → warming → ready → claimed → starting → busy → recycling → terminated,
 * with retiring → terminated reachable from any live state and a claimed instance released back to
 * ready when it was never started. A runner started for the hot tier (`tier: 'hot'`) goes
 * starting → idle once its instance runs (registered, waiting for any matching job), then idle → busy
 * when its runner takes a job. Job: queued → provisioned → running → completed, where a runner
 * provided for one job may be taken by another (GitHub binds runners to labels, not to jobs), so a
 * job can go queued → running directly, and provisioned → queued when its runner is lost.
 *
 * Every state change in the store is checked against these tables before it is written; the store's
 * conditional write (state and version) then decides races. An illegal transition is a programming
 * fault, never an expected outcome, so it throws.
 */

export const instanceStates = [
  'launching',
  'warming',
  'ready',
  'claimed',
  'starting',
  'idle',
  'busy',
  'recycling',
  'retiring',
  'terminated',
] as const;
export type InstanceState = (typeof instanceStates)[number];

const instanceTransitions: { readonly [S in InstanceState]: readonly InstanceState[] } = {
  // An instance launched for the pool boots once to warm up, then powers itself off.
  // `ready` straight from `launching`: the agent warmed up and powered off before we saw it running.
  // `starting` straight from `launching`: an ephemeral (spot/on-demand) launch serves its job at once.
  launching: ['warming', 'ready', 'starting', 'retiring', 'terminated'],
  warming: ['ready', 'retiring', 'terminated'],
  ready: ['claimed', 'retiring', 'terminated'],
  // Released: a claim whose StartInstances was never accepted goes back to the pool untouched.
  // `busy` straight from `claimed`: the runner took a job before the start was recorded.
  // `recycling` straight from `claimed`: it ran a job and powered off before the start was recorded.
  claimed: ['starting', 'busy', 'recycling', 'ready', 'retiring', 'terminated'],
  // `idle`: a hot-tier runner is online with no job (see hot-tier.ts).
  starting: ['idle', 'busy', 'recycling', 'retiring', 'terminated'],
  // `recycling` from `idle`: the runner took a job and finished it before we heard it had started.
  idle: ['busy', 'recycling', 'retiring', 'terminated'],
  busy: ['recycling', 'retiring', 'terminated'],
  recycling: ['terminated'],
  retiring: ['terminated'],
  terminated: [],
};

export const jobStates = ['waiting', 'queued', 'provisioned', 'running', 'completed'] as const;
export type JobState = (typeof jobStates)[number];

const jobTransitions: { readonly [S in JobState]: readonly JobState[] } = {
  // `waiting`: held by an environment protection rule; GitHub sends `queued` once approved.
  waiting: ['queued', 'running', 'completed'],
  queued: ['provisioned', 'running', 'completed'],
  provisioned: ['queued', 'running', 'completed'],
  running: ['completed'],
  completed: [],
};

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
  constructor(
    readonly entity: 'instance' | 'job',
    readonly from: string,
    readonly to: string,
  ) {
    super(`illegal ${entity} transition ${from} → ${to}`);
  }
}

/** `from === to` is an update in place (a patch, still version-checked), except for terminated records. */
export function canTransitionInstance(from: InstanceState, to: InstanceState): boolean {
  if (from === to) return from !== 'terminated';
  return instanceTransitions[from].includes(to);
}

export function assertInstanceTransition(from: InstanceState, to: InstanceState): void {
  if (!canTransitionInstance(from, to)) throw new IllegalTransitionError('instance', from, to);
}

export function canTransitionJob(from: JobState, to: JobState): boolean {
  if (from === to) return true;
  return jobTransitions[from].includes(to);
}

export function assertJobTransition(from: JobState, to: JobState): void {
  if (!canTransitionJob(from, to)) throw new IllegalTransitionError('job', from, to);
}

/** Instances that count towards the warm pool: they are, or will become, claimable. */
export const poolCapacityStates: readonly InstanceState[] = ['launching', 'warming', 'ready'];
/** Instances provided to a job and not yet gone. */
export const servingStates: readonly InstanceState[] = ['claimed', 'starting', 'busy'];
/** Hot-tier runners online and waiting for any matching job. */
export const hotIdleStates: readonly InstanceState[] = ['idle'];
/**
 * Runners online or on their way that no job has taken yet (a claimed instance counts once its start
 * is issued): what the accounting per label set weighs against jobs waiting plus the hot target.
 */
export const untakenRunnerStates: readonly InstanceState[] = ['claimed', 'starting', 'idle'];
/** Instances on their way out. */
export const leavingStates: readonly InstanceState[] = ['recycling', 'retiring'];
export const liveInstanceStates: readonly InstanceState[] = instanceStates.filter((s) => s !== 'terminated');

/** Job order used to tolerate out-of-order deliveries: an event never moves a job backwards. */
export const jobProgress: { readonly [S in JobState]: number } = {
  waiting: 0,
  queued: 1,
  provisioned: 2,
  running: 3,
  completed: 4,
};
