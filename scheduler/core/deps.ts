/**
 * What the use cases are given: the ports, a clock, a random source and the runner settings.
 * Handlers build one of these per cold start; tests build one from fakes.
 */
import type { Clock } from '../ports/clock.js';
import type { Compute } from '../ports/compute.js';
import type { Events } from '../ports/events.js';
import type { GitHubRunners, RunnerScope } from '../ports/github-runners.js';
import type { JitDelivery } from '../ports/jit-delivery.js';
import type { Metrics } from '../ports/metrics.js';
import type { PoolStore } from '../ports/pool-store.js';
import type { Repository } from './types.js';

export interface RunnerSettings {
  /** Runners register with the organization (in a runner group) or with the job's repository. */
  readonly scope: 'org' | 'repo';
  readonly org?: string;
  readonly runnerGroup?: string;
  /** Runner names are `<prefix>-<instance id>`, so a runner name leads back to its instance. */
  readonly namePrefix: string;
}

export interface CoreDeps {
  readonly store: PoolStore;
  readonly compute: Compute;
  readonly github: GitHubRunners;
  readonly jit: JitDelivery;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly events: Events;
  /** Uniform in [0, 1); injected so that tests and the simulator are reproducible. */
  readonly random: () => number;
  readonly runners: RunnerSettings;
}

export function runnerScope(settings: RunnerSettings, repository: Repository): RunnerScope {
  if (settings.scope === 'repo') return { kind: 'repo', repository };
  if (settings.org === undefined) throw new Error('runner scope "org" needs an organization');
  return settings.runnerGroup === undefined
    ? { kind: 'org', org: settings.org }
    : { kind: 'org', org: settings.org, runnerGroup: settings.runnerGroup };
}

export function runnerName(settings: RunnerSettings, instanceId: string): string {
  return `${settings.namePrefix}-${instanceId}`;
}

/** The instance behind one of our runner names, or undefined for a runner that is not ours. */
export function instanceOfRunner(settings: RunnerSettings, name: string | undefined): string | undefined {
  const prefix = `${settings.namePrefix}-`;
  if (name === undefined || !name.startsWith(prefix)) return undefined;
  const id = name.slice(prefix.length);
  return /^i-[0-9a-z]+$/.test(id) ? id : undefined;
}
