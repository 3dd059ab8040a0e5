import { describe, expect, it } from 'vitest';
import { readSettings, SettingsError } from '../../handlers/settings.js';

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
