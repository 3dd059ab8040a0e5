/**
 * SecretsManagerSecrets: the control plane's secrets (webhook secret, App private key) from Secrets
 * Manager, cached briefly so a webhook does not pay a GetSecretValue per delivery.
 *
 * - `getWebhookSecrets` returns the current secret and, while a rotation is recent (the current version
 *   is younger than `rotationGraceMs`), the previous one: GitHub and Secrets Manager cannot be switched
 *   at the same instant, so deliveries signed with either verify during the switch, and an old secret
 *   stops working once the grace is over.
 * - Nothing is logged. Errors name the secret id and the SDK error's name, never a value.
 * - Concurrent reads of one secret share one call; failures are not cached.
 */
import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Clock } from '../ports/clock.js';

export class SecretReadError extends Error {
  override readonly name = 'SecretReadError';
}

export interface SecretsManagerSecretsOptions {
  readonly client: SecretsManagerClient;
  readonly clock: Clock;
  /** How long a read is reused; 60 s by default, so a rotation is seen within a minute. */
  readonly ttlMs?: number;
  /** How long after a rotation the previous secret is still accepted; 24 h by default. */
  readonly rotationGraceMs?: number;
}

interface CacheEntry<T> {
  readonly value: Promise<T>;
  readonly fetchedAt: number;
}

export class SecretsManagerSecrets {
  private readonly client: SecretsManagerClient;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly rotationGraceMs: number;
  private readonly cache = new Map<string, CacheEntry<unknown>>();

  constructor(options: SecretsManagerSecretsOptions) {
    this.client = options.client;
    this.clock = options.clock;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.rotationGraceMs = options.rotationGraceMs ?? 24 * 60 * 60 * 1000;
  }

  /** The secret's current value; `fresh` reads it again now (e.g. after GitHub refused the App key). */
  getSecret(id: string, options: { fresh?: boolean } = {}): Promise<string> {
    if (options.fresh === true) this.cache.delete(`current:${id}`);
    return this.cached(`current:${id}`, async () => secretString(id, await this.read(id, 'AWSCURRENT')));
  }

  /** Current first, then the previous one while a rotation is recent. */
  getWebhookSecrets(id: string): Promise<string[]> {
    return this.cached(`webhook:${id}`, async () => {
      const [current, previous] = await Promise.all([
        this.read(id, 'AWSCURRENT'),
        this.read(id, 'AWSPREVIOUS').catch((error: unknown) => {
          if (error instanceof SecretReadError && error.cause instanceof ResourceNotFoundException)
            return undefined;
          throw error;
        }),
      ]);
      const secrets = [secretString(id, current)];
      const rotatedAt = current.CreatedDate?.getTime();
      const rotationRecent = rotatedAt !== undefined && this.clock.now() - rotatedAt < this.rotationGraceMs;
      if (previous !== undefined && rotationRecent) {
        const old = secretString(id, previous);
        if (old !== secrets[0]) secrets.push(old);
      }
      return secrets;
    });
  }

  private cached<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    const now = this.clock.now();
    const entry = this.cache.get(key) as CacheEntry<T> | undefined;
    if (entry !== undefined && now - entry.fetchedAt < this.ttlMs) return entry.value;
    const value = fetch();
    this.cache.set(key, { value, fetchedAt: now });
    // A failed read is forgotten at once, so the next call tries again.
    value.catch(() => {
      if (this.cache.get(key)?.value === value) this.cache.delete(key);
    });
    return value;
  }

  private async read(id: string, stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<GetSecretValueCommandOutput> {
    try {
      return await this.client.send(new GetSecretValueCommand({ SecretId: id, VersionStage: stage }));
    } catch (error) {
      throw new SecretReadError(
        `could not read ${stage} of secret ${id}: ${error instanceof Error ? error.name : 'unknown error'}`,
        { cause: error },
      );
    }
  }
}

function secretString(id: string, output: GetSecretValueCommandOutput): string {
  if (output.SecretString === undefined || output.SecretString === '')
    throw new SecretReadError(`secret ${id} has no string value`);
  return output.SecretString;
}
