/**
 * Attributes work to handler invocations inside one Node process shared with the peers.
 *
 * Each invocation runs in an AsyncLocalStorage context of its own, and three things are recorded
 * against whichever invocation is current:
 * - on-CPU time: an async hook adds up the duration of every callback (promise reaction, timer, socket
 *   read) that runs in the invocation's context, plus its synchronous start. That is the time the one
 *   thread actually spent on this invocation, whatever else shared the event loop meanwhile.
 * - outbound calls, from node's diagnostics channels: `http.client.*` for the AWS SDK (node:http) and
 *   `undici:request:*` for Octokit (fetch). A call is timed from the moment its request is handed to a
 *   socket to its response headers (node:http) or its last body byte (undici); it is named by peer
 *   (from the port) and operation (X-Amz-Target; EC2's `Action` form field, noted by wrapping
 *   `ClientRequest.prototype.end` because the channel fires after the body is written; GitHub's method
 *   and path).
 * - the invocation's start and end.
 * Calls made outside any invocation (the emulated instance agents, the GitHub emulator's webhook sends,
 * the benchmark itself) are kept apart as unattributed, so that the peers' logs can be reconciled with
 * the attributed calls: peer log = attributed + unattributed.
 *
 * Gotchas: the async hook sees every callback in the process, so it costs a little everywhere (and that
 * cost lands in the measured times too: the figures are upper bounds). Work that a library queues and
 * starts from another callback runs in that callback's context; Octokit's throttling queue does this,
 * which the scenario undoes (see keepGitHubCallsInContext). A request that waited for a free socket in
 * the SDK's agent has its response parsed in the context of the call that freed the socket: that parse
 * (microseconds) may land on another invocation; the call itself does not.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import { ClientRequest } from 'node:http';

export type PeerName = 'github' | 'ec2' | 'dynamodb' | 'ssm' | 'secretsManager' | 'eventBridge';

export interface OutboundCall {
  readonly peer: PeerName | 'other';
  /** `PutItem`, `StartInstances`, `POST /orgs/acme/actions/runners/generate-jitconfig`, … */
  operation: string;
  readonly start: number;
  end: number | undefined;
  /** The HTTP status answered; undefined when no answer came. */
  status: number | undefined;
  failed: boolean;
}

export interface InvocationInfo {
  readonly handler: 'webhook' | 'lifecycle' | 'tuner' | 'reconciler';
  /** The webhook action (`queued`, …) or the EC2 state for the lifecycle handler. */
  readonly detail?: string;
  readonly jobId?: number;
  /** Set by the benchmark for invocations it measures apart (the serial probe). */
  readonly phase?: string;
  /** How long the invocation waited for a free slot before it started. */
  readonly queuedMs?: number;
}

export interface InvocationRecord extends InvocationInfo {
  readonly id: number;
  /** performance.now() at the start and the end of the invocation. */
  readonly startedAt: number;
  endedAt: number | undefined;
  /** On-CPU time spent in this invocation's context. */
  cpuMs: number;
  readonly calls: OutboundCall[];
  /** What the handler answered (the API Gateway response for the webhook). */
  result: unknown;
  failed: boolean;
}

interface Frame {
  readonly invocation: InvocationRecord | undefined;
  since: number;
}

export class Tracer {
  readonly invocations: InvocationRecord[] = [];
  readonly unattributed: OutboundCall[] = [];
  private readonly storage = new AsyncLocalStorage<InvocationRecord>();
  private readonly frames: Frame[] = [];
  private readonly httpCalls = new WeakMap<object, OutboundCall>();
  private readonly peers = new Map<string, PeerName>();
  private readonly subscriptions: [string, (message: unknown) => void][] = [];
  private readonly hook = createHook({
    before: () => this.enter(this.storage.getStore()),
    after: () => this.exit(),
  });
  private readonly ec2Actions = new WeakMap<ClientRequest, string>();
  private restoreEnd: (() => void) | undefined;
  private nextId = 1;

  /** `peers`: peer name → its base URL (`http://127.0.0.1:<port>`). */
  constructor(peers: Readonly<Partial<Record<PeerName, string>>>) {
    for (const [name, url] of Object.entries(peers))
      if (url !== undefined) this.peers.set(new URL(url).host, name as PeerName);
  }

  start(): void {
    this.subscribe('http.client.request.start', (m) =>
      this.httpStart((m as { request: ClientRequest }).request),
    );
    this.subscribe('http.client.response.finish', (m) => {
      const { request, response } = m as Req & { response: { statusCode?: number } };
      this.finish(this.httpCalls.get(request), false, response.statusCode);
    });
    this.subscribe('http.client.request.error', (m) =>
      this.finish(this.httpCalls.get((m as Req).request), true),
    );
    this.subscribe('undici:request:create', (m) =>
      this.undiciStart((m as { request: UndiciRequest }).request),
    );
    this.subscribe('undici:request:headers', (m) => {
      const { request, response } = m as Req & { response: { statusCode?: number } };
      const call = this.httpCalls.get(request);
      if (call !== undefined) call.status = response.statusCode;
    });
    this.subscribe('undici:request:trailers', (m) => this.finish(this.httpCalls.get((m as Req).request)));
    this.subscribe('undici:request:error', (m) => this.finish(this.httpCalls.get((m as Req).request), true));
    this.captureEc2Actions();
    this.hook.enable();
  }

  stop(): void {
    this.hook.disable();
    this.restoreEnd?.();
    this.restoreEnd = undefined;
    for (const [name, listener] of this.subscriptions) diagnostics.unsubscribe(name, listener);
    this.subscriptions.length = 0;
  }

  /** Runs one handler invocation in its own context and records it. */
  run<T>(info: InvocationInfo, invoke: () => Promise<T>): Promise<T> {
    const record: InvocationRecord = {
      ...info,
      id: this.nextId++,
      startedAt: performance.now(),
      endedAt: undefined,
      cpuMs: 0,
      calls: [],
      result: undefined,
      failed: false,
    };
    this.invocations.push(record);
    return this.storage.run(record, () => {
      // The synchronous start runs inside the caller's callback, which the hook attributes elsewhere.
      this.enter(record);
      let pending: Promise<T>;
      try {
        pending = invoke();
      } finally {
        this.exit();
      }
      return pending.then(
        (value) => {
          record.endedAt = performance.now();
          record.result = value;
          return value;
        },
        (error: unknown) => {
          record.endedAt = performance.now();
          record.failed = true;
          throw error;
        },
      );
    });
  }

  private subscribe(name: string, listener: (message: unknown) => void): void {
    diagnostics.subscribe(name, listener);
    this.subscriptions.push([name, listener]);
  }

  private enter(invocation: InvocationRecord | undefined): void {
    const now = performance.now();
    const top = this.frames.at(-1);
    if (top?.invocation !== undefined) top.invocation.cpuMs += now - top.since;
    this.frames.push({ invocation, since: now });
  }

  private exit(): void {
    const now = performance.now();
    const frame = this.frames.pop();
    if (frame?.invocation !== undefined) frame.invocation.cpuMs += now - frame.since;
    const top = this.frames.at(-1);
    if (top !== undefined) top.since = now;
  }

  private record(request: object, peer: PeerName | 'other', operation: string): OutboundCall {
    const call: OutboundCall = {
      peer,
      operation,
      start: performance.now(),
      end: undefined,
      status: undefined,
      failed: false,
    };
    this.httpCalls.set(request, call);
    const invocation = this.storage.getStore();
    if (invocation === undefined) this.unattributed.push(call);
    else invocation.calls.push(call);
    return call;
  }

  private httpStart(request: ClientRequest): void {
    const host = request.getHeader('host');
    const peer = (typeof host === 'string' && this.peers.get(host)) || 'other';
    const target = request.getHeader('x-amz-target');
    if (typeof target === 'string') {
      this.record(request, peer, target.split('.')[1] ?? target);
      return;
    }
    // EC2's Query protocol names the action in the form body, which `end` captured.
    const action = peer === 'ec2' ? this.ec2Actions.get(request) : undefined;
    this.record(request, peer, action ?? `${request.method} ${request.path}`);
  }

  /**
   * `http.client.request.start` is published once the request is written, too late to see its body:
   * `end` is wrapped (for the bench process only) to note the `Action` of requests to the EC2 peer.
   */
  private captureEc2Actions(): void {
    const prototype = ClientRequest.prototype;
    const end = prototype.end;
    const actions = this.ec2Actions;
    const ec2Hosts = new Set([...this.peers].filter(([, name]) => name === 'ec2').map(([host]) => host));
    prototype.end = function (this: ClientRequest, ...args: unknown[]) {
      const body = args[0];
      const host = this.getHeader('host');
      if (
        typeof host === 'string' &&
        ec2Hosts.has(host) &&
        (typeof body === 'string' || body instanceof Uint8Array)
      ) {
        const action = /(?:^|&)Action=([A-Za-z]+)/.exec(Buffer.from(body).toString('latin1'));
        if (action?.[1] !== undefined) actions.set(this, action[1]);
      }
      return (end as (...a: unknown[]) => ClientRequest).apply(this, args);
    } as typeof prototype.end;
    this.restoreEnd = () => {
      prototype.end = end;
    };
  }

  private undiciStart(request: UndiciRequest): void {
    let peer: PeerName | 'other' = 'other';
    try {
      peer = this.peers.get(new URL(request.origin).host) ?? 'other';
    } catch {
      // An origin that is not a URL: not one of ours.
    }
    const path = request.path.split('?')[0] ?? request.path;
    // Ids vary per call; the shape of the route is the operation.
    this.record(request, peer, `${request.method} ${path.replace(/\/\d+(?=\/|$)/g, '/{id}')}`);
  }

  /** Calls sent and not yet answered (or failed): a phase is cut only when there are none. */
  callsInFlight(): number {
    let open = this.unattributed.filter((c) => c.end === undefined).length;
    for (const invocation of this.invocations)
      open += invocation.calls.filter((c) => c.end === undefined).length;
    return open;
  }

  private finish(call: OutboundCall | undefined, failed = false, status?: number): void {
    if (call === undefined || call.end !== undefined) return;
    call.end = performance.now();
    call.failed = failed;
    if (status !== undefined) call.status = status;
  }
}

interface Req {
  readonly request: object;
}

interface UndiciRequest {
  readonly origin: string;
  readonly method: string;
  readonly path: string;
}

/** The time during which at least one of the calls was in flight (calls may overlap). */
export function inFlightMs(calls: readonly OutboundCall[], until: number): number {
  const spans = calls
    .map((c) => [c.start, Math.min(c.end ?? until, until)] as const)
    .filter(([start, end]) => end > start)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let open: [number, number] | undefined;
  for (const [start, end] of spans) {
    if (open === undefined || start > open[1]) {
      if (open !== undefined) total += open[1] - open[0];
      open = [start, end];
    } else open[1] = Math.max(open[1], end);
  }
  if (open !== undefined) total += open[1] - open[0];
  return total;
}
