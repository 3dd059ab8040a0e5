import { describe, expect, it } from 'vitest';
import {
  describeMissingRunnerGroup,
  type GroupCheckOwners,
  missingRunnerGroups,
  runnerGroupCheckPlan,
} from '../../scheduler/core/runner-group-check.js';

const owners: GroupCheckOwners = {
  owners: [
    { owner: 'acme', scope: 'org' },
    { owner: 'octocat', scope: 'repo' },
    { owner: 'globex', scope: 'org' },
  ],
};

describe('runner group check', () => {
  it('reports every missing (pool, organization, group) at once, in config order', () => {
    const pools = [
      { name: 'gpu', runnerGroup: 'gpu-runners' },
      { name: 'linux' },
      { name: 'arm', runnerGroup: 'ARM' },
    ];
    const groups = { acme: ['Default', 'arm'], globex: ['Default', 'GPU-Runners'] };
    expect(missingRunnerGroups(pools, owners, groups)).toEqual([
      { pool: 'gpu', org: 'acme', group: 'gpu-runners', fromDefault: false },
      { pool: 'arm', org: 'globex', group: 'ARM', fromDefault: false },
    ]);
  });

  it("checks the deployment's default group for pools that name none", () => {
    const withDefault = { ...owners, runnerGroup: 'ci' };
    const pools = [{ name: 'linux' }, { name: 'gpu', runnerGroup: 'gpu' }];
    const missing = missingRunnerGroups(pools, withDefault, { acme: ['Default', 'gpu'], globex: ['ci'] });
    expect(missing).toEqual([
      { pool: 'linux', org: 'acme', group: 'ci', fromDefault: true },
      { pool: 'gpu', org: 'globex', group: 'gpu', fromDefault: false },
    ]);
    expect(missing.map(describeMissingRunnerGroup)).toEqual([
      `pool "linux": runner group "ci" (the deployment's default, RUNNER_GROUP) does not exist in organization acme`,
      'pool "gpu": runner group "gpu" does not exist in organization globex',
    ]);
  });

  it('skips repository-scoped owners, and names them', () => {
    const pools = [{ name: 'gpu', runnerGroup: 'gpu' }];
    expect(runnerGroupCheckPlan(pools, owners)).toEqual({
      organizations: ['acme', 'globex'],
      repositoryScoped: ['octocat'],
      anyOwnerRepositoryScoped: false,
    });
    // octocat's groups are never asked for, so a missing entry for it is no error.
    expect(missingRunnerGroups(pools, owners, { acme: ['gpu'], globex: ['gpu'] })).toEqual([]);
    const anyOwner: GroupCheckOwners = { owners: [], anyOwner: { scope: 'repo' }, runnerGroup: 'gpu' };
    expect(runnerGroupCheckPlan(pools, anyOwner)).toEqual({
      organizations: [],
      repositoryScoped: [],
      anyOwnerRepositoryScoped: true,
    });
    expect(missingRunnerGroups(pools, anyOwner, {})).toEqual([]);
  });

  it("reads nothing when every pool uses GitHub's Default group", () => {
    expect(runnerGroupCheckPlan([{ name: 'linux' }], owners).organizations).toEqual([]);
    expect(missingRunnerGroups([{ name: 'linux' }], owners, {})).toEqual([]);
  });

  it('refuses to judge an organization whose groups were not read', () => {
    expect(() =>
      missingRunnerGroups([{ name: 'gpu', runnerGroup: 'gpu' }], owners, { acme: ['gpu'] }),
    ).toThrow('the runner groups of organization globex were not read');
  });
});
