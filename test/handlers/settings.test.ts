import { describe, expect, it } from 'vitest';
import { readGitHubSettings, readSettings, SettingsError } from '../../handlers/settings.js';

const required = {
  TABLE_NAME: 'runners',
  PARAMETER_PREFIX: '/team/wpr',
  POOL_CONFIG_PARAMETER: '/team/wpr/pools',
  WEBHOOK_SECRET_ARN: 'webhook-secret',
  GITHUB_APP_SECRET_ARN: 'app-secret',
  GITHUB_ORG: 'octo-org',
  LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  EVENT_BUS_NAME: 'runners',
};

describe('readSettings: images', () => {
  it('finds the AMI parameters under <PARAMETER_PREFIX>/ami on /dev/xvda unless told otherwise', () => {
    expect(readSettings(required)).toMatchObject({
      IMAGE_PARAMETER_PREFIX: '/team/wpr/ami',
      ROOT_DEVICE_NAME: '/dev/xvda',
    });
    expect(
      readSettings({ ...required, IMAGE_PARAMETER_PREFIX: '/images/runner', ROOT_DEVICE_NAME: '/dev/sda1' }),
    ).toMatchObject({ IMAGE_PARAMETER_PREFIX: '/images/runner', ROOT_DEVICE_NAME: '/dev/sda1' });
  });

  it('names each malformed variable', () => {
    const read = () =>
      readSettings({ ...required, IMAGE_PARAMETER_PREFIX: 'ami/', ROOT_DEVICE_NAME: 'xvda' });
    expect(read).toThrow(SettingsError);
    expect(read).toThrow(/IMAGE_PARAMETER_PREFIX: must look like "\/wpr\/ami"/);
    expect(read).toThrow(/ROOT_DEVICE_NAME: must be a device name such as "\/dev\/xvda"/);
  });
});

describe('readSettings: several Apps (GITHUB_APPS)', () => {
  const { GITHUB_APP_SECRET_ARN: _arn, GITHUB_ORG: _org, ...base } = required;
  const apps = [
    {
      name: 'main',
      secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:wpr/app-main',
      webhook: true,
      installations: [
        { id: 101, owner: 'acme' },
        { id: 102, owner: 'globex', runners: 'repo' },
      ],
    },
    {
      name: 'mint2',
      secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:wpr/app-mint2',
      webhook: false,
      installations: [{ id: 201, owner: 'acme' }],
    },
  ];
  const read = (value: unknown, extra: Record<string, string> = {}) =>
    readSettings({ ...base, GITHUB_APPS: JSON.stringify(value), ...extra });

  it('reads the Apps and their installations; an installation registers with its organization by default', () => {
    const settings = read(apps);
    expect(settings.GITHUB_APPS?.map((a) => a.name)).toEqual(['main', 'mint2']);
    expect(settings.GITHUB_APPS?.[0]?.installations).toEqual([
      { id: 101, owner: 'acme', runners: 'org' },
      { id: 102, owner: 'globex', runners: 'repo' },
    ]);
    expect(settings.GITHUB_APP_SECRET_ARN).toBeUndefined();
  });

  it('reports every problem of the Apps at once', () => {
    const bad = [
      {
        ...apps[0],
        installations: [
          { id: 101, owner: 'acme' },
          { id: 101, owner: 'initech' },
        ],
        webhook: false,
      },
      { ...apps[1], name: 'main', installations: [] },
      {
        name: 'third',
        secretArn: apps[1]?.secretArn,
        webhook: false,
        installations: [
          { id: 301, owner: 'acme', runners: 'repo' },
          { id: 302, owner: 'acme' },
        ],
      },
    ];
    let message = '';
    try {
      read(bad);
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/GITHUB_APPS\.1\.installations: an App needs at least one installation/);
    // The cross-checks need well-formed Apps: fix the empty one and they all show together.
    const fixed = bad.map((app, i) =>
      i === 1 ? { ...app, installations: [{ id: 401, owner: 'globex' }] } : app,
    );
    expect(() => read(fixed)).toThrow(
      new RegExp(
        [
          'App name "main" is listed twice',
          `secret ${apps[1]?.secretArn} is named by two Apps`,
          'installation 101 is listed twice',
          'App "third": owner acme is listed twice',
          'owner acme: its installations disagree on runners',
          'no App has "webhook": true',
        ]
          .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('[\\s\\S]*'),
      ),
    );
  });

  it('refuses malformed JSON, unknown fields and bad owner names, naming the variable', () => {
    expect(() => readSettings({ ...base, GITHUB_APPS: '[{' })).toThrow(
      /GITHUB_APPS: must be a JSON array of Apps/,
    );
    expect(() => read([{ ...apps[0], secret: 'x' }])).toThrow(/GITHUB_APPS\.0: Unrecognized key/);
    expect(() => read([{ ...apps[0], installations: [{ id: 1, owner: '-acme' }] }])).toThrow(
      /GITHUB_APPS\.0\.installations\.0\.owner: is not a GitHub organization or user name/,
    );
    expect(() => read([])).toThrow(/GITHUB_APPS: must list at least one App/);
  });

  it('refuses the single-App variables beside GITHUB_APPS, and requires one or the other', () => {
    expect(() => read(apps, { GITHUB_ORG: 'acme', RUNNER_SCOPE: 'org' })).toThrow(
      /GITHUB_ORG: not used with GITHUB_APPS[\s\S]*RUNNER_SCOPE: not used with GITHUB_APPS/,
    );
    expect(() => read(apps, { GITHUB_APP_SECRET_ARN: 'app-secret' })).toThrow(
      /GITHUB_APP_SECRET_ARN: not used with GITHUB_APPS/,
    );
    expect(() => readSettings(base)).toThrow(
      /GITHUB_APP_SECRET_ARN: required unless GITHUB_APPS is set[\s\S]*GITHUB_ORG: required when RUNNER_SCOPE is "org"/,
    );
  });

  it('keeps the single-App settings as they were', () => {
    expect(readSettings(required)).toMatchObject({
      GITHUB_APP_SECRET_ARN: 'app-secret',
      GITHUB_ORG: 'octo-org',
    });
    expect(readSettings(required).GITHUB_APPS).toBeUndefined();
    expect(() => readSettings({ ...required, GITHUB_ORG: undefined } as never)).toThrow(
      /GITHUB_ORG: required when RUNNER_SCOPE is "org"/,
    );
    expect(
      readSettings({ ...base, GITHUB_APP_SECRET_ARN: 'app-secret', RUNNER_SCOPE: 'repo' }).RUNNER_SCOPE,
    ).toBe('repo');
  });
});

describe('readGitHubSettings: the GitHub part alone (for the CLI)', () => {
  it('reads the Apps, owners and default group without the rest of the handler settings', () => {
    expect(
      readGitHubSettings({ GITHUB_APP_SECRET_ARN: 'app-secret', GITHUB_ORG: 'acme', RUNNER_GROUP: 'ci' }),
    ).toMatchObject({
      GITHUB_APP_SECRET_ARN: 'app-secret',
      GITHUB_ORG: 'acme',
      RUNNER_SCOPE: 'org',
      RUNNER_GROUP: 'ci',
      GITHUB_API_URL: 'https://api.github.com',
    });
  });

  it('checks them as the handlers do, every problem at once', () => {
    expect(() => readGitHubSettings({ GITHUB_APPS: '[{', GITHUB_ORG: 'acme' })).toThrow(
      /GITHUB_APPS: must be a JSON array of Apps[\s\S]*GITHUB_ORG: not used with GITHUB_APPS/,
    );
    expect(() => readGitHubSettings({})).toThrow(SettingsError);
  });
});
