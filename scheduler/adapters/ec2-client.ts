/**
 * The EC2 client Ec2Compute is meant to run with: the SDK's own adaptive retry strategy (exponential
 * backoff with jitter plus a client-side rate limiter that slows down after RequestLimitExceeded) with
 * room for several throttled attempts, except for capacity refusals.
 *
 * Why the exception: EC2 answers InsufficientInstanceCapacity with HTTP 500, which every SDK classifies
 * as a transient error and retries. For the fallback ladder a capacity refusal is an answer, not a
 * fault: the next rung (another zone, another type, spot) is faster than waiting for this pool to
 * refill, so those errors are handed back at once. Everything else is the SDK's decision.
 *
 * The inner strategy is the one the SDK itself builds for `retryMode: 'adaptive'`, obtained from a
 * client that is never used to send, so this module depends on nothing but @aws-sdk/client-ec2.
 */
import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';

type RetryStrategy = Extract<
  NonNullable<EC2ClientConfig['retryStrategy']>,
  { acquireInitialRetryToken: unknown }
>;
type RetryToken = Awaited<ReturnType<RetryStrategy['acquireInitialRetryToken']>>;
type RetryErrorInfo = Parameters<RetryStrategy['refreshRetryTokenForRetry']>[1];

/** Codes meaning "no capacity for this request here and now": outcomes for the caller, never retried. */
export const capacityErrorCodes: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'UnfulfillableCapacity',
  'MaxSpotInstanceCountExceeded',
  'SpotMaxPriceTooLow',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'InsufficientFreeAddressesInSubnet',
  // The type is not offered in the subnet's zone (yet, or any more): for that type and zone it is the
  // same answer as no capacity, and the next type or zone may well take the launch.
  'Unsupported',
]);

/** Default attempts: enough to ride out a drained RunInstances bucket (2 tokens/s) at the SDK's backoff. */
export const defaultEc2MaxAttempts = 8;

export class CapacityAwareRetryStrategy implements RetryStrategy {
  constructor(private readonly inner: Promise<RetryStrategy>) {}

  async acquireInitialRetryToken(scope: string): Promise<RetryToken> {
    return (await this.inner).acquireInitialRetryToken(scope);
  }

  async refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    const name = (errorInfo.error as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string' && capacityErrorCodes.has(name)) throw errorInfo.error;
    return (await this.inner).refreshRetryTokenForRetry(token, errorInfo);
  }

  recordSuccess(token: RetryToken): void {
    // The inner strategy is resolved by the time any call has succeeded.
    void this.inner.then((inner) => inner.recordSuccess(token));
  }
}

export function createEc2Client(config: EC2ClientConfig = {}): EC2Client {
  const maxAttempts = config.maxAttempts ?? defaultEc2MaxAttempts;
  const template = new EC2Client({ ...config, maxAttempts, retryMode: 'adaptive' });
  const inner = template.config.retryStrategy().then((strategy) => {
    template.destroy();
    if (!('acquireInitialRetryToken' in strategy))
      throw new TypeError('the EC2 client resolved a legacy retry strategy');
    return strategy;
  });
  return new EC2Client({ ...config, maxAttempts, retryStrategy: new CapacityAwareRetryStrategy(inner) });
}
