/** The Secrets Manager peer answers as the service does, as seen through the real SDK client. */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SecretsManagerPeer, startSecretsManagerPeer } from '../../../stand-ins/aws/secrets-manager.js';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';

describe('Secrets Manager peer', () => {
  let peer: SecretsManagerPeer;
  let clock: FixedClock;
  let arn: string;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startSecretsManagerPeer({ now: () => clock.now() });
    const created = await peer.client.send(
      new CreateSecretCommand({ Name: 'wpr/app-key', SecretString: 'v1' }),
    );
    arn = created.ARN ?? '';
  });
  afterEach(() => peer.close());

  const get = (SecretId: string, extra: { VersionStage?: string; VersionId?: string } = {}) =>
    peer.client.send(new GetSecretValueCommand({ SecretId, ...extra }));
  const putValue = (SecretString: string, ClientRequestToken?: string) =>
    peer.client.send(
      new PutSecretValueCommand({
        SecretId: 'wpr/app-key',
        SecretString,
        ...(ClientRequestToken === undefined ? {} : { ClientRequestToken }),
      }),
    );
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as Error,
    );

  it('finds a secret by name, ARN or partial ARN', async () => {
    expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:wpr\/app-key-[A-Za-z0-9]{6}$/);
    for (const id of ['wpr/app-key', arn, arn.slice(0, -7)]) {
      const value = await get(id);
      expect(value).toMatchObject({
        Name: 'wpr/app-key',
        ARN: arn,
        SecretString: 'v1',
        VersionStages: ['AWSCURRENT'],
      });
      expect(value.CreatedDate?.getTime()).toBe(clock.now());
    }
  });

  it('reports unknown secrets and labels as ResourceNotFoundException', async () => {
    expect(await failure(get('wpr/none'))).toBeInstanceOf(ResourceNotFoundException);
    const previous = await failure(get('wpr/app-key', { VersionStage: 'AWSPREVIOUS' }));
    expect(previous).toBeInstanceOf(ResourceNotFoundException);
    expect(previous?.message).toBe(
      "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS",
    );
  });

  it('refuses a second secret with the same name', async () => {
    const error = await failure(
      peer.client.send(new CreateSecretCommand({ Name: 'wpr/app-key', SecretString: 'x' })),
    );
    expect(error).toBeInstanceOf(ResourceExistsException);
  });

  it('moves AWSCURRENT to a new value and AWSPREVIOUS to the old one, as a rotation does', async () => {
    const v1 = (await get('wpr/app-key')).VersionId ?? '';
    const v2 = (await putValue('v2')).VersionId ?? '';
    expect((await get('wpr/app-key')).SecretString).toBe('v2');
    expect((await get('wpr/app-key', { VersionStage: 'AWSPREVIOUS' })).SecretString).toBe('v1');
    const v3 = (await putValue('v3')).VersionId ?? '';
    expect((await get('wpr/app-key', { VersionStage: 'AWSPREVIOUS' })).SecretString).toBe('v2');
    expect((await get('wpr/app-key', { VersionId: v1 })).SecretString).toBe('v1');
    const { VersionIdsToStages } = await peer.client.send(
      new DescribeSecretCommand({ SecretId: 'wpr/app-key' }),
    );
    expect(VersionIdsToStages).toStrictEqual({ [v2]: ['AWSPREVIOUS'], [v3]: ['AWSCURRENT'] });
  });

  it('is idempotent on the client request token, and refuses a token reused for another value', async () => {
    const token = '11111111-2222-4333-8444-555555555555';
    const first = await putValue('v2', token);
    const again = await putValue('v2', token);
    expect(again.VersionId).toBe(first.VersionId);
    expect(peer.secrets()[0]?.versions).toHaveLength(2);
    expect(await failure(putValue('v3', token))).toBeInstanceOf(ResourceExistsException);
  });

  it('keeps secret values out of the call log', async () => {
    await putValue('v2');
    expect(peer.calls('PutSecretValue')[0]?.input.SecretString).toBe('[redacted]');
    expect(JSON.stringify(peer.calls())).not.toMatch(/"v1"|"v2"/);
  });
});
