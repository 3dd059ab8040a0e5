/**
 * The GitHub checks of `runners pools validate --check-github` and `runners pools apply`: every pool's
 * runner group (or the deployment's default, RUNNER_GROUP) must exist in every organization the
 * deployment registers runners with, or each job of that pool fails at mint time (RunnerGroupMissing).
 * The judgement is the core's (missingRunnerGroups); here the deployment's owners and each
 * organization's group names are read, from a sandbox's API or through the deployment's GitHub Apps.
 */
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import {
  describeMissingRunnerGroup,
  type GroupCheckOwners,
  missingRunnerGroups,
  runnerGroupCheckPlan,
} from '../../scheduler/core/runner-group-check.js';
import type { GitHubRunners } from '../../scheduler/ports/github-runners.js';
import { CliError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { fetchSandboxRunnerGroups } from './sandbox-api.js';

/** Who the deployment serves, and a way to read an organization's runner group names. */
export interface RunnerGroupSource {
  readonly owners: GroupCheckOwners;
  /** For messages: where the groups are read. */
  readonly where: string;
  listRunnerGroups(org: string): Promise<readonly string[]>;
}

/** A running sandbox: its API answers with the owners and every organization's groups at once. */
export async function sandboxRunnerGroupSource(url: string, io: CliIo): Promise<RunnerGroupSource> {
  const answer = await fetchSandboxRunnerGroups(url, io);
  const groups = new Map(answer.owners.map((o) => [o.owner, o.groups]));
  return {
    owners: answer,
    where: "the sandbox's GitHub",
    listRunnerGroups: async (org) => {
      const names = groups.get(org);
      if (names === undefined) throw new CliError(`the sandbox did not list the runner groups of ${org}`);
      return names;
    },
  };
}

/** A deployment's GitHub Apps, through the GitHubRunners port the handlers use. */
export function portRunnerGroupSource(
  github: GitHubRunners,
  owners: GroupCheckOwners,
  where: string,
): RunnerGroupSource {
  return { owners, where, listRunnerGroups: (org) => github.listRunnerGroups(org) };
}

/**
 * Runs the check; prints notes and problems, returns false when a group is missing. An organization
 * whose groups cannot be read (the App not installed there, GitHub down) is a CliError: the check
 * did not happen, which is not the same as passing it.
 */
export async function githubChecks(
  file: string,
  config: PoolsConfig,
  source: RunnerGroupSource,
  report: (text: string) => void,
): Promise<boolean> {
  const plan = runnerGroupCheckPlan(config.pools, source.owners);
  for (const owner of plan.repositoryScoped)
    report(`note: runner groups not checked for ${owner}: a repository-level install has no runner groups\n`);
  if (plan.anyOwnerRepositoryScoped)
    report(
      'note: runner groups not checked for repository-scoped runners (RUNNER_SCOPE=repo): repositories have no runner groups\n',
    );
  const groups: Record<string, readonly string[]> = {};
  await Promise.all(
    plan.organizations.map(async (org) => {
      try {
        groups[org] = await source.listRunnerGroups(org);
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(
          `cannot read the runner groups of ${org} from ${source.where}: ${(error as Error).message}`,
          1,
          { cause: error },
        );
      }
    }),
  );
  const missing = missingRunnerGroups(config.pools, source.owners, groups);
  if (missing.length === 0) {
    if (plan.organizations.length > 0)
      report(`runner groups: every pool's group exists in ${plan.organizations.join(', ')}\n`);
    return true;
  }
  const n = missing.length;
  report(
    `${file}: ${n} problem${n === 1 ? '' : 's'} with GitHub's runner groups (create the group in the organization, ` +
      `or change the pool's runnerGroup)\n${missing.map((m) => `  - ${describeMissingRunnerGroup(m)}\n`).join('')}`,
  );
  return false;
}
