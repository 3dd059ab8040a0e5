/**
 * An EventBridge emulator speaking its JSON 1.1 API (PutEvents, plus CreateEventBus to declare buses).
 * What it keeps faithful:
 * - at most 10 entries per request (more is a ValidationException for the whole call);
 * - entries are judged one by one: a missing field, a Detail that is not a JSON object, an entry over
 *   256 KB (sized as EventBridge sizes it) or an unknown bus fails that entry alone, with an ErrorCode,
 *   and the response's Entries line up with the request's;
 * - injected per-entry failures (`failEntries`) for the callers' partial-failure paths.
 * Accepted events are kept, in order, for `events()`.
 */
import { randomUUID } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  type AwsInput,
  AwsServiceError,
  type CallRecord,
  type InjectedFault,
  localClientConfig,
  startAwsJsonServer,
  type ThrottleRule,
} from './aws-json-server.js';

export interface ReceivedEvent {
  readonly id: string;
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  /** Detail, parsed. */
  readonly detail: unknown;
  readonly resources: readonly string[];
  /** Epoch ms: the entry's Time, or when it was received. */
  readonly time: number;
}

export interface EventBridgePeerOptions {
  readonly now?: () => number;
  /** Buses besides `default`. */
  readonly eventBuses?: readonly string[];
  readonly throttle?: readonly ThrottleRule[];
  readonly requireSignature?: boolean;
  readonly accountId?: string;
}

export interface EventBridgePeer {
  readonly endpoint: string;
  readonly client: EventBridgeClient;
  events(eventBusName?: string): ReceivedEvent[];
  clearEvents(): void;
  /** The next `count` entries fail with this code (InternalFailure by default, which callers may retry). */
  failEntries(count: number, errorCode?: string): void;
  calls(action?: string): CallRecord[];
  clearCalls(): void;
  injectFault(fault: InjectedFault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const region = 'us-east-1';
export const maxEntrySizeBytes = 256 * 1024;
const maxEntriesPerRequest = 10;

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

export async function startEventBridgePeer(options: EventBridgePeerOptions = {}): Promise<EventBridgePeer> {
  const now = options.now ?? Date.now;
  const accountId = options.accountId ?? '123456789012';
  const buses = new Set(['default', ...(options.eventBuses ?? [])]);
  const received: ReceivedEvent[] = [];
  const entryFailures: string[] = [];

  const busName = (nameOrArn: unknown): string | undefined => {
    if (nameOrArn === undefined) return 'default';
    if (typeof nameOrArn !== 'string') return undefined;
    const arnPrefix = `arn:aws:events:${region}:${accountId}:event-bus/`;
    const name = nameOrArn.startsWith(arnPrefix) ? nameOrArn.slice(arnPrefix.length) : nameOrArn;
    return buses.has(name) ? name : undefined;
  };

  const acceptEntry = (entry: AwsInput): EntryResult => {
    const injected = entryFailures.shift();
    if (injected !== undefined) return { ErrorCode: injected, ErrorMessage: `injected ${injected}` };
    const { Source, DetailType, Detail } = entry;
    if (typeof Source !== 'string' || Source === '')
      return invalid('Parameter Source is not valid. Reason: Source is a required argument.');
    if (typeof DetailType !== 'string' || DetailType === '')
      return invalid('Parameter DetailType is not valid. Reason: DetailType is a required argument.');
    if (typeof Detail !== 'string')
      return invalid('Parameter Detail is not valid. Reason: Detail is a required argument.');
    if (entrySize(entry) > maxEntrySizeBytes)
      return invalid(`Parameter Entry is not valid. Reason: the entry is over ${maxEntrySizeBytes} bytes.`);
    let detail: unknown;
    try {
      detail = JSON.parse(Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (detail === null || typeof detail !== 'object' || Array.isArray(detail))
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const eventBusName = busName(entry.EventBusName);
    if (eventBusName === undefined)
      return {
        ErrorCode: 'ResourceNotFoundException',
        ErrorMessage: `Event bus ${String(entry.EventBusName)} does not exist.`,
      };
    const id = randomUUID();
    received.push({
      id,
      eventBusName,
      source: Source,
      detailType: DetailType,
      detail,
      resources: Array.isArray(entry.Resources) ? entry.Resources.filter((r) => typeof r === 'string') : [],
      time: typeof entry.Time === 'number' ? entry.Time * 1000 : now(),
    });
    return { EventId: id };
  };

  const handlers = {
    PutEvents(input: AwsInput) {
      const entries = input.Entries;
      if (!Array.isArray(entries) || entries.length < 1 || entries.length > maxEntriesPerRequest)
        throw new AwsServiceError(
          'ValidationException',
          "1 validation error detected: Value at 'entries' failed to satisfy constraint: " +
            `Member must have length less than or equal to ${maxEntriesPerRequest}`,
        );
      const results = entries.map((e) => acceptEntry((e ?? {}) as AwsInput));
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    },

    CreateEventBus(input: AwsInput) {
      if (typeof input.Name !== 'string')
        throw new AwsServiceError('ValidationException', 'Name is required.');
      if (buses.has(input.Name))
        throw new AwsServiceError(
          'ResourceAlreadyExistsException',
          `Event bus ${input.Name} already exists.`,
        );
      buses.add(input.Name);
      return { EventBusArn: `arn:aws:events:${region}:${accountId}:event-bus/${input.Name}` };
    },
  };

  const server = await startAwsJsonServer({
    targetPrefix: 'AWSEvents',
    signingName: 'events',
    handlers,
    throttle: options.throttle ?? [],
    ...(options.requireSignature === undefined ? {} : { requireSignature: options.requireSignature }),
    now,
  });
  const client = new EventBridgeClient(localClientConfig(server.endpoint));

  return {
    endpoint: server.endpoint,
    client,
    events: (eventBusName) =>
      received.filter((e) => eventBusName === undefined || e.eventBusName === eventBusName),
    clearEvents: () => {
      received.length = 0;
    },
    failEntries: (count, errorCode = 'InternalFailure') => {
      for (let i = 0; i < count; i += 1) entryFailures.push(errorCode);
    },
    calls: server.calls,
    clearCalls: server.clearCalls,
    injectFault: server.injectFault,
    clearFaults: server.clearFaults,
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

function invalid(message: string): EntryResult {
  return { ErrorCode: 'InvalidArgument', ErrorMessage: message };
}

/** EventBridge's own measure: Time counts 14 bytes; Source, DetailType, Detail, Resources their UTF-8. */
export function entrySize(entry: AwsInput): number {
  const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources : [];
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    resources.reduce((sum: number, r) => sum + bytes(r), 0)
  );
}
