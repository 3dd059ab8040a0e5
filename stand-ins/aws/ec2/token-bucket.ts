/**
 * A token bucket as EC2 throttles with: `capacity` tokens, refilled at `refillPerSecond` up to capacity.
 * Time is read from the caller so the emulator can scale it.
 */
export interface BucketConfig {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private config: BucketConfig,
    now: number,
  ) {
    this.tokens = config.capacity;
    this.updatedAt = now;
  }

  /** Takes `count` tokens if there are that many; the bucket is unchanged otherwise. */
  take(count: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }

  /** Takes as many whole tokens as available up to `max`, but only if at least `min` are. */
  takeBetween(min: number, max: number, now: number): number {
    this.refill(now);
    const available = Math.floor(this.tokens);
    if (available < min) return 0;
    const taken = Math.min(max, available);
    this.tokens -= taken;
    return taken;
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  reconfigure(config: BucketConfig, now: number, tokens?: number): void {
    this.refill(now);
    this.config = config;
    this.tokens = Math.min(config.capacity, tokens ?? this.tokens);
  }

  private refill(now: number): void {
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(this.config.capacity, this.tokens + elapsedSeconds * this.config.refillPerSecond);
    this.updatedAt = now;
  }
}
