import { describe, expect, it } from 'vitest';
import { multiAppOwners, refusal, singleAppOwners } from '../../handlers/deployment-owners.js';
import { readSettings } from '../../handlers/settings.js';
import { instanceOfRunner, ownerRunners, runnerName, runnerScope } from '../../scheduler/core/deps.js';

const base = {
  TABLE_NAME: 'runners',
  PARAMETER_PREFIX: '/wpr',
  POOL_CONFIG_PARAMETER: '/wpr/pools',
  WEBHOOK_SECRET_ARN: 'webhook-secret',
  LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  EVENT_BUS_NAME: 'runners',
};
const apps = readSettings({
  ...base,
  RUNNER_GROUP: 'ci',
  GITHUB_APPS: JSON.stringify([
    {
      name: 'main',
      secretArn: 'app-main',
      webhook: true,
      installations: [
        { id: 101, owner: 'acme' },
        { id: 102, owner: 'Globex' },
        { id: 103, owner: 'octocat', runners: 'repo' },
      ],
    },
    { name: 'mint2', secretArn: 'app-mint2', webhook: false, installations: [{ id: 201, owner: 'acme' }] },
  ]),
});

describe('the owners of a deployment of several Apps', () => {
  const owners = multiAppOwners(apps, apps.GITHUB_APPS ?? []);

  it("names each owner's runners after its home installation, whichever App lists it second", () => {
    expect(owners.runners.owners).toEqual([
      { owner: 'acme', scope: 'org', namePrefix: 'wpr-101' },
      { owner: 'Globex', scope: 'org', namePrefix: 'wpr-102' },
      { owner: 'octocat', scope: 'repo', namePrefix: 'wpr-103' },
    ]);
    expect(runnerName(owners.runners, 'ACME', 'i-0a')).toBe('wpr-101-i-0a');
    expect(runnerName(owners.runners, 'initech', 'i-0a')).toBeUndefined();
  });

  it("registers each owner's runners where its installation says: organization (in the group) or repository", () => {
    expect(runnerScope(owners.runners, { owner: 'globex', name: 'app' })).toEqual({
      kind: 'org',
      org: 'Globex',
      runnerGroup: 'ci',
    });
    expect(runnerScope(owners.runners, { owner: 'acme', name: 'app' }, { runnerGroup: 'gpu' })).toEqual({
      kind: 'org',
      org: 'acme',
      runnerGroup: 'gpu',
    });
    expect(runnerScope(owners.runners, { owner: 'octocat', name: 'dotfiles' })).toEqual({
      kind: 'repo',
      repository: { owner: 'octocat', name: 'dotfiles' },
    });
    expect(runnerScope(owners.runners, { owner: 'initech', name: 'app' })).toBeUndefined();
  });

  it("recognises every owner's runners, and nobody else's", () => {
    for (const prefix of ['wpr-101', 'wpr-102', 'wpr-103'])
      expect(instanceOfRunner(owners.runners, `${prefix}-i-0123abc`)).toBe('i-0123abc');
    expect(instanceOfRunner(owners.runners, 'wpr-201-i-0123abc')).toBeUndefined(); // not a home installation
    expect(instanceOfRunner(owners.runners, 'wpr-10-i-0123abc')).toBeUndefined();
    expect(instanceOfRunner(owners.runners, 'wpr-1011-i-0123abc')).toBeUndefined();
  });

  it('accepts a delivery only from a configured (installation, owner) pair', () => {
    expect(refusal(owners, 101, 'acme')).toBeUndefined();
    expect(refusal(owners, 201, 'ACME')).toBeUndefined();
    expect(refusal(owners, 102, 'globex')).toBeUndefined();
    expect(refusal(owners, 102, 'acme')).toBe('owner acme is not served by installation 102');
    expect(refusal(owners, 999, 'acme')).toBe("installation 999 is not this deployment's");
    expect(refusal(owners, undefined, 'acme')).toBe('delivery names no installation');
  });
});

describe('the owners of a single-App deployment (unchanged)', () => {
  it('organization scope: its one organization and installation', () => {
    const settings = readSettings({ ...base, GITHUB_APP_SECRET_ARN: 'app', GITHUB_ORG: 'octo-org' });
    const owners = singleAppOwners(settings, 7);
    expect(runnerName(owners.runners, 'octo-org', 'i-1')).toBe('wpr-7-i-1');
    expect(refusal(owners, 7, 'octo-org')).toBeUndefined();
    expect(refusal(owners, 7, 'acme')).toMatch(/not served/);
    expect(refusal(owners, 8, 'octo-org')).toMatch(/not this deployment's/);
  });

  it('repository scope: any account its installation covers, under one prefix', () => {
    const settings = readSettings({ ...base, GITHUB_APP_SECRET_ARN: 'app', RUNNER_SCOPE: 'repo' });
    const owners = singleAppOwners(settings, 7);
    expect(ownerRunners(owners.runners, 'anyone')).toEqual({
      owner: 'anyone',
      scope: 'repo',
      namePrefix: 'wpr-7',
    });
    expect(refusal(owners, 7, 'anyone')).toBeUndefined();
    expect(refusal(owners, 8, 'anyone')).toMatch(/not this deployment's/);
  });
});
