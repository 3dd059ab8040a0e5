/**
 * A deadline for every AWS and GitHub call made on behalf of one request, without threading it through
 * every port: the handler runs the use case inside `withCallDeadline`, and the clients built by the
 * composition root pick the deadline's AbortSignal up from there (AsyncLocalStorage follows the
 * request's async calls, and nothing else's). Outside a deadline, calls run as before.
 *
 * - AWS SDK v3: the signal goes to `send(command, { abortSignal })`, which aborts the request and the
 *   retry strategy's backoff waits alike; an AbortError is never retried.
 * - Octokit: the signal goes to `request.signal`; fetch aborts, and neither the retry nor the throttling
 *   plugin retries an AbortError.
 * - The store's client (`records: true`) is cut off `recordSlackMs` later than the others, so that a step
 *   aborted at the deadline can still be recorded (the claim, the start, the hand-over's failure).
 * - Adapters that sweep over many calls (the on-demand launch over types × subnets) ask `callTimeLeft`
 *   before starting the next one, so they stop between calls rather than be cut off in the middle of one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface CallDeadline {
  /** Epoch ms. */
  readonly at: number;
  readonly signal: AbortSignal;
  /** Aborts a little later, for the writes that record what the aborted calls did (the store's). */
  readonly recordSignal: AbortSignal;
}

/** How much longer than other calls the recording writes may run. */
export const recordSlackMs = 600;

const current = new AsyncLocalStorage<CallDeadline>();

/** Runs `work` with every client call in it aborted `limitMs` from now. */
export async function withCallDeadline<T>(limitMs: number, work: () => Promise<T>): Promise<T> {
  const ms = Math.max(1, limitMs);
  // Aborted without a reason, so the error is an AbortError: the name the SDK's retry strategy, fetch
  // and Octokit all recognise as "do not retry" (AbortSignal.timeout's TimeoutError is retried as a 500).
  const calls = new AbortController();
  const records = new AbortController();
  const timers = [setTimeout(() => calls.abort(), ms), setTimeout(() => records.abort(), ms + recordSlackMs)];
  try {
    const deadline = { at: Date.now() + ms, signal: calls.signal, recordSignal: records.signal };
    return await current.run(deadline, work);
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

/** The current request's abort signal, if it runs under a deadline. */
export function callSignal(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** The signal for writes that record outcomes: `recordSlackMs` after the call deadline. */
export function recordSignal(): AbortSignal | undefined {
  return current.getStore()?.recordSignal;
}

/** Milliseconds left before the current deadline; Infinity outside one. */
export function callTimeLeft(): number {
  const deadline = current.getStore();
  return deadline === undefined ? Number.POSITIVE_INFINITY : deadline.at - Date.now();
}

type Send = (command: unknown, ...rest: unknown[]) => Promise<unknown>;

/**
 * Makes an AWS SDK client pass the current deadline's signal with every command (unless the caller
 * gave one). Paginators and waiters call `send` too, so they are covered.
 */
export function abortAtCallDeadline<Client extends { send: unknown }>(
  client: Client,
  how: { records?: boolean } = {},
): Client {
  const send = (client.send as Send).bind(client);
  (client as { send: Send }).send = (command, ...rest) => {
    const signal = how.records === true ? recordSignal() : callSignal();
    const [options, callback] = rest;
    if (signal === undefined || typeof options === 'function' || callback !== undefined)
      return send(command, ...rest);
    const given = options as { abortSignal?: unknown } | undefined;
    return send(command, given?.abortSignal === undefined ? { ...given, abortSignal: signal } : given);
  };
  return client;
}

interface HookableOctokit {
  readonly hook: {
    before(name: 'request', hook: (options: { request?: Record<string, unknown> }) => void): void;
  };
}

/** Makes an Octokit client send every request with the current deadline's signal. */
export function octokitAtCallDeadline<O extends HookableOctokit>(octokit: O): O {
  octokit.hook.before('request', (options) => {
    const signal = callSignal();
    if (signal !== undefined && options.request?.signal === undefined)
      options.request = { ...options.request, signal };
  });
  return octokit;
}
