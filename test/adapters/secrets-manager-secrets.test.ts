import { inspect } from 'node:util';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SecretReadError, SecretsManagerSecrets } from '../../scheduler/adapters/secrets-manager-secrets.js';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type SecretsManagerPeer, startSecretsManagerPeer } from '../../stand-ins/aws/secrets-manager.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';

const hour = 60 * 60 * 1000;

describe('SecretsManagerSecrets', () => {
  let peer: SecretsManagerPeer;
  let clock: FixedClock;
  let secrets: SecretsManagerSecrets;
  let arn: string;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startSecretsManagerPeer({ now: () => clock.now() });
    secrets = new SecretsManagerSecrets({ client: peer.client, clock });
    const created = await peer.client.send(
      new CreateSecretCommand({ Name: 'wpr/webhook-secret', SecretString: 'first-webhook-secret' }),
    );
    arn = created.ARN ?? '';
  });
  afterEach(() => peer.close());

  const rotate = (value: string) =>
    peer.client.send(new PutSecretValueCommand({ SecretId: 'wpr/webhook-secret', SecretString: value }));

  it('reads a secret by name or ARN', async () => {
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('first-webhook-secret');
    expect(await secrets.getSecret(arn)).toBe('first-webhook-secret');
  });

  it('caches a secret for the TTL (60 s by default), sharing one call between concurrent reads', async () => {
    await Promise.all([secrets.getSecret('wpr/webhook-secret'), secrets.getSecret('wpr/webhook-secret')]);
    await rotate('second-webhook-secret');
    clock.advance(59_999);
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('first-webhook-secret');
    expect(peer.calls('GetSecretValue')).toHaveLength(1);
    clock.advance(1);
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('second-webhook-secret');
  });

  it('reads again at once when asked for a fresh value (GitHub refused the App key), and caches that', async () => {
    await secrets.getSecret('wpr/webhook-secret');
    await rotate('second-webhook-secret');
    expect(await secrets.getSecret('wpr/webhook-secret', { fresh: true })).toBe('second-webhook-secret');
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('second-webhook-secret');
    expect(peer.calls('GetSecretValue')).toHaveLength(2);
  });

  it('gives only the current webhook secret before any rotation', async () => {
    expect(await secrets.getWebhookSecrets('wpr/webhook-secret')).toStrictEqual(['first-webhook-secret']);
  });

  it('gives the current and the previous webhook secret during a rotation, then only the current', async () => {
    clock.advance(10 * 24 * hour);
    await rotate('second-webhook-secret');
    expect(await secrets.getWebhookSecrets('wpr/webhook-secret')).toStrictEqual([
      'second-webhook-secret',
      'first-webhook-secret',
    ]);
    clock.advance(24 * hour);
    expect(await secrets.getWebhookSecrets('wpr/webhook-secret')).toStrictEqual(['second-webhook-secret']);
  });

  it('follows a second rotation: the oldest secret is no longer accepted', async () => {
    await rotate('second-webhook-secret');
    await rotate('third-webhook-secret');
    expect(await secrets.getWebhookSecrets('wpr/webhook-secret')).toStrictEqual([
      'third-webhook-secret',
      'second-webhook-secret',
    ]);
  });

  it('reads again after a failure instead of caching it', async () => {
    peer.injectFault({ action: 'GetSecretValue', type: 'AccessDeniedException' });
    await expect(secrets.getSecret('wpr/webhook-secret')).rejects.toThrow(
      'could not read AWSCURRENT of secret wpr/webhook-secret: AccessDeniedException',
    );
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('first-webhook-secret');
  });

  it('names a missing secret without any value, and logs nothing', async () => {
    const output = [vi.spyOn(console, 'log'), vi.spyOn(console, 'info'), vi.spyOn(console, 'warn')];
    const errorOutput = vi.spyOn(console, 'error');
    await secrets.getWebhookSecrets('wpr/webhook-secret');
    const error = await secrets.getSecret('wpr/app-key').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretReadError);
    expect((error as Error).message).toBe(
      'could not read AWSCURRENT of secret wpr/app-key: ResourceNotFoundException',
    );
    expect(inspect(error, { depth: null })).not.toContain('first-webhook-secret');
    for (const spy of [...output, errorOutput]) expect(spy).not.toHaveBeenCalled();
    vi.restoreAllMocks();
  });

  it('rides out throttling through the SDK retry', async () => {
    peer.injectFault({ action: 'GetSecretValue', type: 'ThrottlingException', message: 'Rate exceeded' });
    expect(await secrets.getSecret('wpr/webhook-secret')).toBe('first-webhook-secret');
    expect(peer.calls('GetSecretValue').map((c) => c.errorType)).toStrictEqual([
      'ThrottlingException',
      undefined,
    ]);
  });

  it('keeps secret values out of the SDK client log', async () => {
    const lines: string[] = [];
    const capture = (...args: unknown[]) => lines.push(inspect(args, { depth: null }));
    const client = new SecretsManagerClient({
      ...localClientConfig(peer.endpoint),
      logger: { trace: capture, debug: capture, info: capture, warn: capture, error: capture },
    });
    await rotate('second-webhook-secret');
    const reader = new SecretsManagerSecrets({ client, clock });
    expect(await reader.getWebhookSecrets('wpr/webhook-secret')).toHaveLength(2);
    client.destroy();
    expect(lines.join('\n')).toContain('GetSecretValueCommand');
    expect(lines.join('\n')).not.toMatch(/first-webhook-secret|second-webhook-secret/);
  });
});
