/**
 * The ahead-of-time runner group check: every pool's runner group (or the deployment's default) must
 * exist in every organization the deployment registers runners with. At mint time a missing group is
 * an UnknownRunnerGroupError and a RunnerGroupMissing event, job by job; this finds every missing
 * (pool, organization, group) at once, before the config is applied.
 *
 * Repository-level installs register runners with each job's repository, where groups do not apply:
 * they are skipped, and named so that the caller can say so. A pool naming no group in a deployment
 * with no default uses GitHub's `Default` group, which every organization has. Names compare
 * case-insensitively, as the GitHub adapter resolves them.
 */
import type { OwnerRunners } from './deps.js';

/** Who the deployment serves and its default group: the part of RunnerSettings the check reads. */
export interface GroupCheckOwners {
  readonly owners: readonly Pick<OwnerRunners, 'owner' | 'scope'>[];
  /** A single App in repository scope serves any account it is installed on: nothing to check. */
  readonly anyOwner?: Pick<OwnerRunners, 'scope'>;
  /** The deployment's default group (RUNNER_GROUP) for pools that name none. */
  readonly runnerGroup?: string;
}

export interface GroupCheckPlan {
  /** The organizations whose runner groups must be read (org-scoped owners, when any pool needs a group). */
  readonly organizations: readonly string[];
  /** Owners skipped because their runners register with repositories (no groups there). */
  readonly repositoryScoped: readonly string[];
  /** Whether the deployment also serves any account in repository scope (single App, `RUNNER_SCOPE=repo`). */
  readonly anyOwnerRepositoryScoped: boolean;
}

export interface MissingRunnerGroup {
  readonly pool: string;
  readonly org: string;
  readonly group: string;
  /** The group is the deployment's default (the pool names none). */
  readonly fromDefault: boolean;
}

interface GroupedPool {
  readonly name: string;
  readonly runnerGroup?: string | undefined;
}

/** The group each pool's runners join, or undefined for GitHub's Default group. */
function groupOf(
  pool: GroupedPool,
  owners: GroupCheckOwners,
): { group: string; fromDefault: boolean } | undefined {
  if (pool.runnerGroup !== undefined) return { group: pool.runnerGroup, fromDefault: false };
  if (owners.runnerGroup !== undefined) return { group: owners.runnerGroup, fromDefault: true };
  return undefined;
}

/** Which organizations must be read; none when no pool needs a group other than GitHub's Default. */
export function runnerGroupCheckPlan(
  pools: readonly GroupedPool[],
  owners: GroupCheckOwners,
): GroupCheckPlan {
  const needsGroups = pools.some((pool) => groupOf(pool, owners) !== undefined);
  const orgs = owners.owners.filter((o) => o.scope === 'org').map((o) => o.owner);
  return {
    organizations: needsGroups ? orgs : [],
    repositoryScoped: owners.owners.filter((o) => o.scope === 'repo').map((o) => o.owner),
    anyOwnerRepositoryScoped: owners.anyOwner?.scope === 'repo',
  };
}

/**
 * Every (pool, organization, group) whose group the organization lacks, pool by pool in config order.
 * `groups` holds the group names of each organization the plan lists (keyed as the owners name them);
 * an organization without an entry is an error of the caller's, not a missing group.
 */
export function missingRunnerGroups(
  pools: readonly GroupedPool[],
  owners: GroupCheckOwners,
  groups: Readonly<Record<string, readonly string[]>>,
): MissingRunnerGroup[] {
  const plan = runnerGroupCheckPlan(pools, owners);
  const known = new Map<string, Set<string>>();
  for (const org of plan.organizations) {
    const names = groups[org];
    if (names === undefined) throw new Error(`the runner groups of organization ${org} were not read`);
    known.set(org, new Set(names.map((n) => n.toLowerCase())));
  }
  const missing: MissingRunnerGroup[] = [];
  for (const pool of pools) {
    const wanted = groupOf(pool, owners);
    if (wanted === undefined) continue;
    for (const org of plan.organizations)
      if (!known.get(org)?.has(wanted.group.toLowerCase()))
        missing.push({ pool: pool.name, org, group: wanted.group, fromDefault: wanted.fromDefault });
  }
  return missing;
}

/** One line per missing group, for the CLI. */
export function describeMissingRunnerGroup(missing: MissingRunnerGroup): string {
  const whose = missing.fromDefault ? " (the deployment's default, RUNNER_GROUP)" : '';
  return `pool "${missing.pool}": runner group "${missing.group}"${whose} does not exist in organization ${missing.org}`;
}
