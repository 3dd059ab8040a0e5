/**
 * Injected faults: the next n requests to an operation get GitHub's answer for a server error, a primary
 * or secondary rate limit, an arbitrary status, or a success whose body breaks GitHub's schema.
 */
import { error, type Reply, type Route } from './http.js';

export type EmulatorFault =
  | { readonly kind: 'server-error'; readonly status?: 500 | 502 | 503 | 504 }
  | {
      readonly kind: 'secondary-rate-limit';
      readonly status?: 403 | 429;
      readonly retryAfterSeconds?: number;
    }
  | { readonly kind: 'rate-limit'; readonly status?: 403 | 429; readonly resetInSeconds?: number }
  /** A 200 whose body breaks GitHub's schema: proves the validating proxy catches a bad response. */
  | { readonly kind: 'invalid-response' }
  /** Any answer GitHub might give, e.g. an error whose message echoes something it should not. */
  | { readonly kind: 'status'; readonly status: number; readonly message: string }
  /** A slow GitHub: the request is answered as usual, after `delayMs`. */
  | { readonly kind: 'slow'; readonly delayMs: number };

export class Faults {
  private readonly armed: { operation: string; fault: EmulatorFault; remaining: number }[] = [];

  /** The next `times` requests to `operation` ('METHOD /template' or '*') get the fault instead. */
  inject(operation: string, fault: EmulatorFault, times: number): void {
    this.armed.push({ operation, fault, remaining: times });
  }

  clear(): void {
    this.armed.length = 0;
  }

  take(operation: string): EmulatorFault | undefined {
    const index = this.armed.findIndex(
      (f) => f.remaining > 0 && (f.operation === '*' || f.operation === operation),
    );
    const armed = this.armed[index];
    if (!armed) return undefined;
    armed.remaining -= 1;
    if (armed.remaining === 0) this.armed.splice(index, 1);
    return armed.fault;
  }
}

export function faultReply(fault: Exclude<EmulatorFault, { kind: 'slow' }>, route: Route): Reply {
  switch (fault.kind) {
    case 'server-error':
      return { status: fault.status ?? 502, body: { message: 'Server Error' } };
    case 'secondary-rate-limit':
      return error(
        fault.status ?? 403,
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        { 'retry-after': String(fault.retryAfterSeconds ?? 60) },
      );
    case 'rate-limit':
      return error(fault.status ?? 403, 'API rate limit exceeded for installation.', {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + (fault.resetInSeconds ?? 60)),
      });
    case 'status':
      return error(fault.status, fault.message);
    case 'invalid-response':
      // The success status of the operation, with a body that matches no schema of GitHub's.
      return {
        status: route.method === 'POST' ? 201 : 200,
        body: { total_count: 'many', unexpected: true },
      };
  }
}
