/**
 * What the use cases are given: the ports, a clock, a random source and the runner settings.
 * Handlers build one of these per cold start; tests build one from fakes.
 *
 * Runner settings are per owner (organization or user account): one deployment may serve several
 * organizations, each through its own App installation, some registering runners with the organization
 * and some (a repository-level install) with each job's repository. Where a runner registers follows
 * from the owner of the job it was provided for, never from one fixed organization.
 */
import type { Clock } from '../ports/clock.js';
import type { Compute } from '../ports/compute.js';
import type { Events } from '../ports/events.js';
import type { GitHubRunners, RunnerScope } from '../ports/github-runners.js';
import type { JitDelivery } from '../ports/jit-delivery.js';
import type { Metrics } from '../ports/metrics.js';
import type { PoolStore } from '../ports/pool-store.js';
import type { Repository } from './types.js';

/** Where one owner's runners register and under which names. */
export interface OwnerRunners {
  /** The organization or user account (compared case-insensitively, as GitHub does). */
  readonly owner: string;
  /** `org`: with the organization, in a runner group; `repo`: with each job's repository. */
  readonly scope: 'org' | 'repo';
  /**
   * Runner names are `<namePrefix>-<instance id>`, so a runner name leads back to its instance. The
   * prefix carries the owner's home installation id, so two deployments in one organization each
   * recognise only their own runners.
   */
  readonly namePrefix: string;
}

export interface RunnerSettings {
  /** Every owner this deployment serves. */
  readonly owners: readonly OwnerRunners[];
  /**
   * For an owner not listed: a single-App deployment in repository scope serves whichever accounts its
   * one installation covers, all under one prefix.
   */
  readonly anyOwner?: Omit<OwnerRunners, 'owner'>;
  /** The runner group (organization scope) of a pool that names none; GitHub's default group when unset. */
  readonly runnerGroup?: string;
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

/** The settings of one owner's runners, or undefined for an owner this deployment does not serve. */
export function ownerRunners(settings: RunnerSettings, owner: string): OwnerRunners | undefined {
  const key = owner.toLowerCase();
  const listed = settings.owners.find((o) => o.owner.toLowerCase() === key);
  if (listed !== undefined) return listed;
  return settings.anyOwner === undefined ? undefined : { owner, ...settings.anyOwner };
}

/**
 * Where a runner for a job of this repository registers: its owner's organization (in the pool's runner
 * group, else the deployment's) or the repository itself. Undefined when the owner is not served.
 */
export function runnerScope(
  settings: RunnerSettings,
  repository: Repository,
  pool?: { readonly runnerGroup?: string | undefined },
): RunnerScope | undefined {
  const owner = ownerRunners(settings, repository.owner);
  if (owner === undefined) return undefined;
  if (owner.scope === 'repo') return { kind: 'repo', repository };
  const group = pool?.runnerGroup ?? settings.runnerGroup;
  return group === undefined
    ? { kind: 'org', org: owner.owner }
    : { kind: 'org', org: owner.owner, runnerGroup: group };
}

/** The runner name of an instance serving this owner, or undefined when the owner is not served. */
export function runnerName(settings: RunnerSettings, owner: string, instanceId: string): string | undefined {
  const served = ownerRunners(settings, owner);
  return served === undefined ? undefined : `${served.namePrefix}-${instanceId}`;
}

/** Every name prefix this deployment registers runners under (`<prefix>-`), each once. */
export function runnerNamePrefixes(settings: RunnerSettings): string[] {
  const prefixes = settings.owners.map((o) => o.namePrefix);
  if (settings.anyOwner !== undefined) prefixes.push(settings.anyOwner.namePrefix);
  return [...new Set(prefixes)].map((p) => `${p}-`);
}

/**
 * The instance behind one of our runner names, or undefined for a runner that is not ours. Every prefix
 * of the deployment is recognised: the runner of any owner leads back to its instance.
 */
export function instanceOfRunner(settings: RunnerSettings, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  for (const prefix of runnerNamePrefixes(settings)) {
    if (!name.startsWith(prefix)) continue;
    const id = name.slice(prefix.length);
    if (/^i-[0-9a-z]+$/.test(id)) return id;
  }
  return undefined;
}

/** The owner whose organization a pool's hot runners register with, before any job exists. */
export function hotOwner(
  settings: RunnerSettings,
  pool: { readonly hot?: { readonly organization?: string | undefined } | undefined },
): OwnerRunners | undefined {
  if (pool.hot === undefined) return undefined;
  const named = pool.hot.organization;
  if (named !== undefined) return ownerRunners(settings, named);
  // Unnamed: the deployment's only organization, when it has exactly one.
  const orgs = settings.owners.filter((o) => o.scope === 'org');
  return orgs.length === 1 && settings.owners.length === 1 ? orgs[0] : undefined;
}

/**
 * Problems of a pool config under this deployment's owners, beyond what the config alone shows: a hot
 * pool whose runners would have no organization to register with. Reported with the config's own
 * problems, so such a config is rejected and the last good one stays in use.
 */
export function poolOwnerProblems(
  settings: RunnerSettings,
  pools: readonly {
    readonly name: string;
    readonly hot?: { readonly organization?: string | undefined } | undefined;
  }[],
): string[] {
  const problems: string[] = [];
  const served = settings.owners.map((o) => o.owner);
  for (const pool of pools) {
    if (pool.hot === undefined) continue;
    const named = pool.hot.organization;
    if (named === undefined) {
      // One owner: unchanged from a single-organization deployment (no hot tier in repository scope).
      if (settings.owners.length > 1 && hotOwner(settings, pool) === undefined)
        problems.push(
          `pool "${pool.name}": hot.organization: required when the deployment serves several owners (${served.join(', ')}); name the organization its hot runners register with`,
        );
      continue;
    }
    const owner = settings.owners.find((o) => o.owner.toLowerCase() === named.toLowerCase());
    if (owner === undefined)
      problems.push(
        `pool "${pool.name}": hot.organization: "${named}" is not served by this deployment (served: ${served.join(', ') || 'none'})`,
      );
    else if (owner.scope !== 'org')
      problems.push(
        `pool "${pool.name}": hot.organization: "${named}" registers runners with repositories, and a hot runner needs an organization`,
      );
  }
  return problems;
}
