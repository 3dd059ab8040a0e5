/**
 * A Secrets Manager emulator speaking its JSON 1.1 API: secrets with versions and staging labels.
 * What it keeps faithful:
 * - a secret is found by name, full ARN or partial ARN (without the random 6-character suffix);
 * - PutSecretValue moves AWSCURRENT to the new version and AWSPREVIOUS to the one that was current,
 *   as a rotation does, and is idempotent on its ClientRequestToken;
 * - asking for a label no version carries (AWSPREVIOUS before any rotation) is ResourceNotFoundException.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type AwsInput,
  AwsServiceError,
  type CallRecord,
  epochSeconds,
  type InjectedFault,
  localClientConfig,
  startAwsJsonServer,
  type ThrottleRule,
} from './aws-json-server.js';

export interface StoredSecretVersion {
  readonly versionId: string;
  readonly value: string;
  readonly stages: readonly string[];
  readonly createdAt: number;
}

export interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly versions: readonly StoredSecretVersion[];
}

export interface SecretsManagerPeerOptions {
  readonly now?: () => number;
  readonly throttle?: readonly ThrottleRule[];
  readonly requireSignature?: boolean;
  readonly accountId?: string;
}

export interface SecretsManagerPeer {
  readonly endpoint: string;
  readonly client: SecretsManagerClient;
  secrets(): StoredSecret[];
  /** Seeds a secret (or a new current version of it) directly, as a rotation would. */
  put(name: string, value: string): void;
  calls(action?: string): CallRecord[];
  clearCalls(): void;
  injectFault(fault: InjectedFault): void;
  clearFaults(): void;
  setThrottle(rules: readonly ThrottleRule[]): void;
  close(): Promise<void>;
}

const region = 'us-east-1';
const maxSecretBytes = 65_536;

interface Version {
  versionId: string;
  value: string;
  stages: Set<string>;
  createdAt: number;
}

interface Secret {
  name: string;
  arn: string;
  createdAt: number;
  description?: string;
  versions: Version[];
}

export async function startSecretsManagerPeer(
  options: SecretsManagerPeerOptions = {},
): Promise<SecretsManagerPeer> {
  const now = options.now ?? Date.now;
  const accountId = options.accountId ?? '123456789012';
  const secrets = new Map<string, Secret>();

  const find = (id: unknown): Secret => {
    if (typeof id === 'string') {
      const byName = secrets.get(id);
      if (byName !== undefined) return byName;
      for (const secret of secrets.values()) {
        // A partial ARN is the full one without `-` and the 6 random characters.
        if (secret.arn === id || secret.arn.slice(0, -7) === id) return secret;
      }
    }
    throw new AwsServiceError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
    );
  };

  const addVersion = (
    secret: Secret,
    value: string,
    token: string | undefined,
    stages: readonly string[],
  ) => {
    const versionId = token ?? randomUUID();
    const existing = secret.versions.find((v) => v.versionId === versionId);
    if (existing !== undefined) {
      // A retried call with the same token is a no-op; reusing a token for another value is refused.
      if (existing.value !== value)
        throw new AwsServiceError(
          'ResourceExistsException',
          "You can't modify an existing version, you can only create a new version.",
        );
      return existing;
    }
    if (Buffer.byteLength(value) > maxSecretBytes)
      throw new AwsServiceError('InvalidParameterException', 'The secret value is over 65536 bytes.');
    const version: Version = { versionId, value, stages: new Set(), createdAt: now() };
    for (const stage of stages) {
      const holder = secret.versions.find((v) => v.stages.has(stage));
      holder?.stages.delete(stage);
      if (stage === 'AWSCURRENT' && holder !== undefined) {
        for (const v of secret.versions) v.stages.delete('AWSPREVIOUS');
        holder.stages.add('AWSPREVIOUS');
      }
      version.stages.add(stage);
    }
    secret.versions.push(version);
    return version;
  };

  const create = (
    name: string,
    value: string | undefined,
    token: string | undefined,
    description?: string,
  ) => {
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name))
      throw new AwsServiceError(
        'InvalidParameterException',
        'The secret name contains characters that are not allowed.',
      );
    if (secrets.has(name))
      throw new AwsServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const suffix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`,
      createdAt: now(),
      versions: [],
    };
    if (description !== undefined) secret.description = description;
    secrets.set(name, secret);
    const version = value === undefined ? undefined : addVersion(secret, value, token, ['AWSCURRENT']);
    return { secret, version };
  };

  const handlers = {
    CreateSecret(input: AwsInput) {
      if (typeof input.Name !== 'string')
        throw new AwsServiceError('InvalidParameterException', 'Name is required.');
      if (input.SecretBinary !== undefined)
        throw new AwsServiceError('InvalidRequestException', 'This peer stores SecretString values only.');
      const { secret, version } = create(
        input.Name,
        optionalString(input.SecretString),
        optionalString(input.ClientRequestToken),
        optionalString(input.Description),
      );
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
    },

    PutSecretValue(input: AwsInput) {
      const secret = find(input.SecretId);
      const value = optionalString(input.SecretString);
      if (value === undefined)
        throw new AwsServiceError(
          'InvalidRequestException',
          'You must provide either SecretString or SecretBinary.',
        );
      const stages = Array.isArray(input.VersionStages)
        ? input.VersionStages.filter((s): s is string => typeof s === 'string')
        : ['AWSCURRENT'];
      const version = addVersion(secret, value, optionalString(input.ClientRequestToken), stages);
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        VersionStages: [...version.stages],
      };
    },

    GetSecretValue(input: AwsInput) {
      const secret = find(input.SecretId);
      const versionId = optionalString(input.VersionId);
      const stage =
        optionalString(input.VersionStage) ?? (versionId === undefined ? 'AWSCURRENT' : undefined);
      const version = secret.versions.find(
        (v) =>
          (versionId === undefined || v.versionId === versionId) &&
          (stage === undefined || v.stages.has(stage)),
      );
      if (version === undefined)
        throw new AwsServiceError(
          'ResourceNotFoundException',
          stage === undefined
            ? "Secrets Manager can't find the specified secret value for VersionId."
            : `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        );
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        SecretString: version.value,
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.createdAt),
      };
    },

    DescribeSecret(input: AwsInput) {
      const secret = find(input.SecretId);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description === undefined ? {} : { Description: secret.description }),
        CreatedDate: epochSeconds(secret.createdAt),
        VersionIdsToStages: Object.fromEntries(
          secret.versions.filter((v) => v.stages.size > 0).map((v) => [v.versionId, [...v.stages]]),
        ),
      };
    },
  };

  const server = await startAwsJsonServer({
    targetPrefix: 'secretsmanager',
    signingName: 'secretsmanager',
    handlers,
    redact: ['SecretString', 'SecretBinary'],
    throttle: options.throttle ?? [],
    ...(options.requireSignature === undefined ? {} : { requireSignature: options.requireSignature }),
    now,
  });
  const client = new SecretsManagerClient(localClientConfig(server.endpoint));

  return {
    endpoint: server.endpoint,
    client,
    secrets: () =>
      [...secrets.values()].map((s) => ({
        name: s.name,
        arn: s.arn,
        versions: s.versions.map((v) => ({
          versionId: v.versionId,
          value: v.value,
          stages: [...v.stages],
          createdAt: v.createdAt,
        })),
      })),
    put: (name, value) => {
      const existing = secrets.get(name);
      if (existing === undefined) create(name, value, undefined);
      else addVersion(existing, value, undefined, ['AWSCURRENT']);
    },
    calls: server.calls,
    clearCalls: server.clearCalls,
    injectFault: server.injectFault,
    clearFaults: server.clearFaults,
    setThrottle: server.setThrottle,
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
