/**
 * GitHub's rate limits, as far as the control plane meets them (GitHub docs, "rate limits for the REST
 * API": primary limits per installation, secondary limits in points per minute):
 *
 * - Primary: each installation may make `installationRequestsPerHour` requests (default 5,000) in an
 *   hour-long window that starts with its first request; the App's own JWT calls have a bucket of the
 *   same size. Every answer carries `x-ratelimit-limit/remaining/used/reset/resource`; once the
 *   bucket is empty GitHub answers 403 (or 429) with `x-ratelimit-remaining: 0` until the reset.
 * - Secondary: JIT registration is a POST, costing 5 of the 900 points an App may spend per minute on
 *   an endpoint, so at most `jitMintsPerMinutePerApp` (default 180) mints in any minute, per App (all
 *   its installations together). Over it GitHub answers 403 (or 429) with `retry-after` and its
 *   secondary-limit message. A refused mint is not a mint; it still costs a primary request.
 *
 * GitHub does not publish how its secondary windows slide; this one slides (never more than the limit
 * in any minute), the stricter reading. Time is the emulator's clock, and `timeScale` shrinks every
 * window (0.02: a minute lasts 1.2 s) while the headers keep speaking GitHub seconds: a client that
 * waits `retry-after` × 1000 × timeScale ms, or until now + (reset − now s) × 1000 × timeScale, is right.
 */
import { error, type Reply } from './http.js';

export interface EmulatorLimits {
  /** JIT configs an App may mint per minute, over all its installations. Default 180. */
  readonly jitMintsPerMinutePerApp?: number;
  /** Requests per hour per installation (and per App for its JWT calls). Default 5,000. */
  readonly installationRequestsPerHour?: number;
  /** 1 = real time; 0.02 = a minute lasts 1.2 s of the emulator's clock. Default 1. */
  readonly timeScale?: number;
  /** The status of a throttled answer; GitHub sends 403 for most, 429 for some. Default 403. */
  readonly status?: 403 | 429;
}

/** GitHub's message for a secondary rate limit (the throttling plugin recognises "secondary rate"). */
export const secondaryLimitMessage =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';

/** What the benchmark reads: per App, its mints by minute and its throttled answers. */
export interface AppLimitCounters {
  readonly appId: number;
  /** Mints accepted in each minute since the emulator started (or was reset); index = minute. */
  readonly mintsPerMinute: readonly number[];
  /** The most mints accepted in any sliding minute. */
  readonly peakMintsInAMinute: number;
  /** Mints refused by the secondary limit. */
  readonly mintsThrottled: number;
  /** Requests refused by the primary limit (its installations' and its JWT calls). */
  readonly requestsThrottled: number;
}

export interface BucketCounters {
  /** `installation:<id>` or `app:<id>` (JWT calls). */
  readonly bucket: string;
  readonly appId: number;
  readonly limit: number;
  readonly used: number;
  readonly remaining: number;
  /** Epoch ms of the emulator's clock when the window ends; undefined before the first request. */
  readonly resetAt: number | undefined;
}

export type LimitVerdict =
  | { readonly ok: true; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly reply: Reply };

interface Bucket {
  readonly appId: number;
  windowStart: number;
  used: number;
}

interface AppMints {
  /** Times of the accepted mints still inside the sliding minute. */
  readonly recent: number[];
  readonly perMinute: number[];
  peak: number;
  throttled: number;
  requestsThrottled: number;
}

const minuteMs = 60_000;
const hourMs = 3_600_000;

export class RateLimits {
  readonly mintLimit: number;
  readonly requestLimit: number;
  readonly timeScale: number;
  private readonly status: 403 | 429;
  private readonly buckets = new Map<string, Bucket>();
  private readonly apps = new Map<number, AppMints>();
  private epoch: number;

  constructor(
    limits: EmulatorLimits,
    private readonly now: () => number,
  ) {
    this.mintLimit = positive('jitMintsPerMinutePerApp', limits.jitMintsPerMinutePerApp ?? 180);
    this.requestLimit = positive('installationRequestsPerHour', limits.installationRequestsPerHour ?? 5_000);
    this.timeScale = limits.timeScale ?? 1;
    if (!(this.timeScale > 0 && Number.isFinite(this.timeScale)))
      throw new Error(`limits.timeScale must be a positive number, not ${limits.timeScale}`);
    this.status = limits.status ?? 403;
    this.epoch = now();
  }

  /** Forgets every window and counter (the emulator's reset). */
  reset(): void {
    this.buckets.clear();
    this.apps.clear();
    this.epoch = this.now();
  }

  /**
   * Charges one request to a primary bucket: the answer's rate-limit headers, or GitHub's refusal when
   * the bucket is empty (the refused request is not counted; `used` stays at the limit).
   */
  charge(bucketName: string, appId: number): LimitVerdict {
    const now = this.now();
    const window = hourMs * this.timeScale;
    let bucket = this.buckets.get(bucketName);
    if (bucket === undefined || now >= bucket.windowStart + window) {
      bucket = { appId, windowStart: now, used: 0 };
      this.buckets.set(bucketName, bucket);
    }
    const resetAt = bucket.windowStart + window;
    if (bucket.used >= this.requestLimit) {
      this.mintsOf(appId).requestsThrottled++;
      const kind = bucketName.startsWith('installation:')
        ? `installation ID ${bucketName.slice('installation:'.length)}`
        : `integration ID ${appId}`;
      return {
        ok: false,
        reply: error(this.status, `API rate limit exceeded for ${kind}.`, this.headers(bucket, resetAt, now)),
      };
    }
    bucket.used++;
    return { ok: true, headers: this.headers(bucket, resetAt, now) };
  }

  /** Counts one JIT mint against the App's secondary limit, or refuses it with `retry-after`. */
  mint(appId: number): { readonly ok: true } | { readonly ok: false; readonly reply: Reply } {
    const now = this.now();
    const window = minuteMs * this.timeScale;
    const app = this.mintsOf(appId);
    while (app.recent.length > 0 && (app.recent[0] ?? 0) <= now - window) app.recent.shift();
    if (app.recent.length >= this.mintLimit) {
      app.throttled++;
      const waitMs = (app.recent[0] ?? now) + window - now;
      const retryAfter = Math.max(1, Math.ceil(waitMs / this.timeScale / 1000));
      return {
        ok: false,
        reply: error(this.status, secondaryLimitMessage, { 'retry-after': String(retryAfter) }),
      };
    }
    app.recent.push(now);
    app.peak = Math.max(app.peak, app.recent.length);
    const minute = Math.floor((now - this.epoch) / window);
    while (app.perMinute.length <= minute) app.perMinute.push(0);
    app.perMinute[minute] = (app.perMinute[minute] ?? 0) + 1;
    return { ok: true };
  }

  counters(appIds: readonly number[]): { apps: AppLimitCounters[]; buckets: BucketCounters[] } {
    const now = this.now();
    const window = hourMs * this.timeScale;
    return {
      apps: appIds.map((appId) => {
        const app = this.apps.get(appId);
        return {
          appId,
          mintsPerMinute: [...(app?.perMinute ?? [])],
          peakMintsInAMinute: app?.peak ?? 0,
          mintsThrottled: app?.throttled ?? 0,
          requestsThrottled: app?.requestsThrottled ?? 0,
        };
      }),
      buckets: [...this.buckets.entries()].map(([bucket, b]) => {
        const live = now < b.windowStart + window;
        const used = live ? b.used : 0;
        return {
          bucket,
          appId: b.appId,
          limit: this.requestLimit,
          used,
          remaining: this.requestLimit - used,
          resetAt: live ? b.windowStart + window : undefined,
        };
      }),
    };
  }

  private headers(bucket: Bucket, resetAt: number, now: number): Record<string, string> {
    // The reset in GitHub seconds from now, so that a client scaling GitHub's seconds by timeScale waits right.
    const reset = Math.ceil((now + (resetAt - now) / this.timeScale) / 1000);
    return {
      'x-ratelimit-limit': String(this.requestLimit),
      'x-ratelimit-remaining': String(this.requestLimit - bucket.used),
      'x-ratelimit-used': String(bucket.used),
      'x-ratelimit-reset': String(reset),
      'x-ratelimit-resource': 'core',
    };
  }

  private mintsOf(appId: number): AppMints {
    let app = this.apps.get(appId);
    if (app === undefined) {
      app = { recent: [], perMinute: [], peak: 0, throttled: 0, requestsThrottled: 0 };
      this.apps.set(appId, app);
    }
    return app;
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0))
    throw new Error(`limits.${name} must be a positive integer, not ${value}`);
  return value;
}
