/**
 * A local HTTP server speaking the AWS JSON 1.1 protocol the way the v3 SDK clients use it: `POST /`
 * with `X-Amz-Target: <Service>.<Action>`, `Content-Type: application/x-amz-json-1.1` and a SigV4
 * `Authorization` header. Errors are JSON `{ "__type": "<Code>", "message": ... }` (status 400 unless
 * said otherwise), which the SDK's JSON-RPC error parser maps onto its modelled exception classes.
 *
 * Shared by the SSM, Secrets Manager and EventBridge peers. It owns what they have in common:
 * - throttling as token buckets per group of actions (each service's quota), with an injectable clock;
 * - injected faults (the next N calls of an action fail with a given error);
 * - a call log for tests, with secret-bearing input fields redacted so a failing assertion never prints
 *   one.
 * Handlers are synchronous over in-memory state, so each request is atomic, as AWS's are per item.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An error the service returns to the caller (not a fault of the peer). */
export class AwsServiceError extends Error {
  override readonly name = 'AwsServiceError';
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export type AwsInput = Record<string, unknown>;
export type ActionHandler = (input: AwsInput) => unknown;

export interface ThrottleRule {
  /** Actions sharing this bucket (one account quota). */
  readonly actions: readonly string[];
  readonly ratePerSecond: number;
  /** Bucket size; the rate by default (one second of quota). */
  readonly burst?: number;
}

export interface InjectedFault {
  /** Action to fail; every action when absent. */
  readonly action?: string;
  readonly type: string;
  readonly message?: string;
  readonly status?: number;
  /** How many calls fail; 1 by default, Infinity until cleared. */
  readonly times?: number;
}

export interface CallRecord {
  readonly action: string;
  readonly input: AwsInput;
  readonly at: number;
  readonly status: number;
  readonly errorType?: string;
}

export interface AwsJsonServerOptions {
  /** The X-Amz-Target prefix: `AmazonSSM`, `secretsmanager`, `AWSEvents`. */
  readonly targetPrefix: string;
  /** The SigV4 signing name, checked in the credential scope: `ssm`, `secretsmanager`, `events`. */
  readonly signingName: string;
  readonly handlers: Readonly<Record<string, ActionHandler>>;
  /** Input fields replaced by `[redacted]` in the call log. */
  readonly redact?: readonly string[];
  readonly throttle?: readonly ThrottleRule[];
  /** Error code of a throttled call. */
  readonly throttleErrorType?: string;
  /** Reject unsigned requests, as AWS does. On by default. */
  readonly requireSignature?: boolean;
  /** Epoch ms; drives the token buckets. */
  readonly now?: () => number;
}

export interface AwsJsonServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  calls(action?: string): CallRecord[];
  clearCalls(): void;
  injectFault(fault: InjectedFault): void;
  clearFaults(): void;
  /** Replaces the throttle rules (an empty list turns throttling off). */
  setThrottle(rules: readonly ThrottleRule[]): void;
  close(): Promise<void>;
}

interface Bucket {
  readonly rule: ThrottleRule;
  tokens: number;
  refilledAt: number;
}

// Over any service limit, so oversized entries reach the per-entry checks that answer for them.
const maxBodyBytes = 4 * 1024 * 1024;

export async function startAwsJsonServer(options: AwsJsonServerOptions): Promise<AwsJsonServer> {
  const now = options.now ?? Date.now;
  const redact = new Set(options.redact ?? []);
  const requireSignature = options.requireSignature ?? true;
  const throttleErrorType = options.throttleErrorType ?? 'ThrottlingException';
  const log: CallRecord[] = [];
  const faults: { fault: InjectedFault; remaining: number }[] = [];
  let buckets: Bucket[] = [];
  let requestCounter = 0;

  const setThrottle = (rules: readonly ThrottleRule[]) => {
    buckets = rules.map((rule) => ({ rule, tokens: rule.burst ?? rule.ratePerSecond, refilledAt: now() }));
  };
  setThrottle(options.throttle ?? []);

  const takeToken = (action: string): boolean => {
    for (const bucket of buckets) {
      if (!bucket.rule.actions.includes(action)) continue;
      const at = now();
      const capacity = bucket.rule.burst ?? bucket.rule.ratePerSecond;
      bucket.tokens = Math.min(
        capacity,
        bucket.tokens + ((at - bucket.refilledAt) / 1000) * bucket.rule.ratePerSecond,
      );
      bucket.refilledAt = at;
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
    }
    return true;
  };

  const takeFault = (action: string): InjectedFault | undefined => {
    const entry = faults.find((f) => f.fault.action === undefined || f.fault.action === action);
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) faults.splice(faults.indexOf(entry), 1);
    return entry.fault;
  };

  const dispatch = (
    request: IncomingMessage,
    body: string,
  ): { action: string; input: AwsInput; result: unknown } => {
    // AWS authenticates before it looks at the operation, so a client for another service or an
    // unsigned call is refused the same way whatever it asks for.
    checkSignature(request, options.signingName, requireSignature);
    const target = header(request, 'x-amz-target');
    const prefix = `${options.targetPrefix}.`;
    if (target === undefined || !target.startsWith(prefix))
      throw new AwsServiceError('UnknownOperationException', `unknown target ${target ?? '(none)'}`);
    const action = target.slice(prefix.length);
    let input: AwsInput;
    try {
      const parsed: unknown = body === '' ? {} : JSON.parse(body);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new Error('not an object');
      input = parsed as AwsInput;
    } catch {
      throw new AwsServiceError('SerializationException', 'request body is not a JSON object');
    }
    const context = { action, input };
    try {
      const handler = options.handlers[action];
      if (handler === undefined)
        throw new AwsServiceError('UnknownOperationException', `${action} is not supported by this peer`);
      if (!takeToken(action)) throw new AwsServiceError(throttleErrorType, 'Rate exceeded');
      const fault = takeFault(action);
      if (fault !== undefined)
        throw new AwsServiceError(fault.type, fault.message ?? `injected ${fault.type}`, fault.status ?? 400);
      return { ...context, result: handler(input) };
    } catch (error) {
      throw Object.assign(error as Error, { context });
    }
  };

  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        if (request.method !== 'POST' || (request.url ?? '/').split('?')[0] !== '/') {
          respond(response, 404, { __type: 'UnknownOperationException', message: 'POST / only' });
          return;
        }
        try {
          const { action, input, result } = dispatch(request, body);
          log.push({ action, input: redacted(input, redact), at: now(), status: 200 });
          respond(response, 200, result ?? {});
        } catch (error) {
          const context = (error as { context?: { action: string; input: AwsInput } }).context;
          const serviceError =
            error instanceof AwsServiceError
              ? error
              : new AwsServiceError('InternalServerError', 'internal error in the peer', 500);
          if (!(error instanceof AwsServiceError)) console.error('peer handler failed', error);
          if (context !== undefined)
            log.push({
              action: context.action,
              input: redacted(context.input, redact),
              at: now(),
              status: serviceError.status,
              errorType: serviceError.type,
            });
          respond(response, serviceError.status, {
            __type: serviceError.type,
            message: serviceError.message,
          });
        }
      })
      .catch(() => respond(response, 413, { __type: 'SerializationException', message: 'body too large' }));
  });

  const respond = (response: ServerResponse, status: number, payload: unknown) => {
    requestCounter += 1;
    const text = JSON.stringify(payload);
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': `00000000-0000-4000-8000-${requestCounter.toString(16).padStart(12, '0')}`,
    });
    response.end(text);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (action) => log.filter((c) => action === undefined || c.action === action),
    clearCalls: () => {
      log.length = 0;
    },
    injectFault: (fault) => {
      faults.push({ fault, remaining: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    setThrottle,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // The SDK keeps connections alive; without this, close() would wait for them to time out.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Client settings for a local peer: explicit endpoint, fixed region, dummy static credentials. */
export function localClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCALPEER', secretAccessKey: 'local-peer-secret' },
  };
}

/** Timestamps travel as epoch seconds in the JSON protocols. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function checkSignature(request: IncomingMessage, signingName: string, required: boolean): void {
  const authorization = header(request, 'authorization');
  if (authorization === undefined) {
    if (required)
      throw new AwsServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    return;
  }
  // Credential=<key>/<date>/<region>/<service>/aws4_request: a client built for another service
  // (or pointed at the wrong peer) is refused as AWS would refuse it.
  const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization);
  if (scope === null || scope[2] !== signingName)
    throw new AwsServiceError(
      'InvalidSignatureException',
      `credential scope should name the service "${signingName}"`,
      403,
    );
}

function redacted(input: AwsInput, keys: ReadonlySet<string>): AwsInput {
  if (keys.size === 0) return input;
  const copy: AwsInput = {};
  for (const [key, value] of Object.entries(input)) copy[key] = keys.has(key) ? '[redacted]' : value;
  return copy;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new Error('body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
