/**
 * SsmJitDelivery: the JitDelivery port on SSM Parameter Store. A runner's JIT config is a SecureString at
 * `<prefix>/jit/<instance-id>`, tagged `wpr:instance-id = <instance-id>` so the instance's IAM policy can
 * allow reading (and deleting) that one parameter only; the instance agent takes it and deletes it.
 *
 * - The value is a secret: it goes into PutParameter and nowhere else. Errors name the instance and the
 *   SDK error's name, never its message (AWS echoes request values in some validation messages), and a
 *   cause that would contain the value is replaced by a redacted copy.
 * - AWS refuses Tags together with Overwrite, so a delivery first creates the parameter with its tag and
 *   only a redelivery to the same instance (ParameterAlreadyExists) overwrites it; the tag stays.
 * - `listPending` uses DescribeParameters, which returns metadata only: the reconciler reads no secret
 *   and needs no kms:Decrypt. LastModifiedDate is the (re)delivery time.
 * - Intelligent-Tiering keeps a config in the standard tier unless it is over 4 KB.
 * - Throttling is retried by the SDK client's retry strategy; what still fails is a JitDeliveryError.
 */
import {
  DeleteParameterCommand,
  DescribeParametersCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type PutParameterCommandInput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { JitDelivery, PendingJitConfig } from '../ports/jit-delivery.js';

export class JitDeliveryError extends Error {
  override readonly name = 'JitDeliveryError';
}

/** The tag binding a JIT parameter to its instance; IAM conditions on `ssm:resourceTag/wpr:instance-id`. */
export const jitInstanceTagKey = 'wpr:instance-id';

export interface SsmJitDeliveryOptions {
  readonly client: SSMClient;
  /** Parameter path prefix, e.g. `/wpr`. */
  readonly prefix: string;
  /** KMS key for the SecureStrings; the account's `alias/aws/ssm` when absent. */
  readonly kmsKeyId?: string;
}

// One path segment: an instance id must not be able to name another parameter (`../`, `/`).
const instanceIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class SsmJitDelivery implements JitDelivery {
  private readonly client: SSMClient;
  private readonly directory: string;
  private readonly kmsKeyId: string | undefined;

  constructor(options: SsmJitDeliveryOptions) {
    this.client = options.client;
    this.directory = `${options.prefix.replace(/\/+$/, '')}/jit`;
    this.kmsKeyId = options.kmsKeyId;
  }

  /** The parameter name for an instance's config (for IAM policies and the agent). */
  parameterName(instanceId: string): string {
    if (!instanceIdPattern.test(instanceId))
      throw new JitDeliveryError(`"${instanceId}" is not an instance id that can name a parameter`);
    return `${this.directory}/${instanceId}`;
  }

  async deliver(instanceId: string, encodedJitConfig: string): Promise<void> {
    const input: PutParameterCommandInput = {
      Name: this.parameterName(instanceId),
      Value: encodedJitConfig,
      Type: 'SecureString',
      Tier: 'Intelligent-Tiering',
      ...(this.kmsKeyId === undefined ? {} : { KeyId: this.kmsKeyId }),
    };
    try {
      await this.client.send(
        new PutParameterCommand({ ...input, Tags: [{ Key: jitInstanceTagKey, Value: instanceId }] }),
      );
    } catch (error) {
      if (!(error instanceof ParameterAlreadyExists))
        throw failure('deliver', instanceId, error, encodedJitConfig);
      // A redelivery to the same instance: the parameter and its tag are already that instance's.
      try {
        await this.client.send(new PutParameterCommand({ ...input, Overwrite: true }));
      } catch (overwriteError) {
        throw failure('deliver', instanceId, overwriteError, encodedJitConfig);
      }
    }
  }

  async remove(instanceId: string): Promise<void> {
    try {
      await this.client.send(new DeleteParameterCommand({ Name: this.parameterName(instanceId) }));
    } catch (error) {
      if (error instanceof ParameterNotFound) return;
      if (error instanceof JitDeliveryError) throw error;
      throw failure('remove', instanceId, error);
    }
  }

  async listPending(): Promise<PendingJitConfig[]> {
    const pending: PendingJitConfig[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new DescribeParametersCommand({
            ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: [this.directory] }],
            MaxResults: 50,
            ...(nextToken === undefined ? {} : { NextToken: nextToken }),
          }),
        );
        for (const parameter of page.Parameters ?? []) {
          const name = parameter.Name ?? '';
          if (!name.startsWith(`${this.directory}/`)) continue;
          pending.push({
            instanceId: name.slice(this.directory.length + 1),
            createdAt: parameter.LastModifiedDate?.getTime() ?? 0,
          });
        }
        nextToken = page.NextToken;
      } while (nextToken !== undefined);
    } catch (error) {
      throw new JitDeliveryError(
        `could not list pending JIT configs under ${this.directory}: ${errorName(error)}`,
        {
          cause: error,
        },
      );
    }
    return pending;
  }
}

function failure(action: string, instanceId: string, error: unknown, secret?: string): JitDeliveryError {
  return new JitDeliveryError(`could not ${action} the JIT config of ${instanceId}: ${errorName(error)}`, {
    cause: secret === undefined ? error : redacted(error, secret),
  });
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}

/** The error itself when it does not contain the secret, else a copy without it (name and metadata kept). */
function redacted(error: unknown, secret: string): unknown {
  if (!(error instanceof Error)) return error;
  const text = `${error.message}\n${error.stack ?? ''}`;
  if (!text.includes(secret)) return error;
  const copy = new Error(error.message.split(secret).join('[redacted]'));
  copy.name = error.name;
  copy.stack = `${copy.name}: ${copy.message}`;
  const metadata = (error as { $metadata?: unknown }).$metadata;
  if (metadata !== undefined) Object.assign(copy, { $metadata: metadata });
  return copy;
}
