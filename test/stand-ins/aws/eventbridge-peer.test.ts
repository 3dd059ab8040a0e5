/** The EventBridge peer answers PutEvents as the service does, as seen through the real SDK client. */
import {
  CreateEventBusCommand,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type EventBridgePeer,
  entrySize,
  maxEntrySizeBytes,
  startEventBridgePeer,
} from '../../../stand-ins/aws/eventbridge.js';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';

describe('EventBridge peer', () => {
  let peer: EventBridgePeer;
  let clock: FixedClock;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startEventBridgePeer({ now: () => clock.now(), eventBuses: ['wpr-events'] });
  });
  afterEach(() => peer.close());

  const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
    EventBusName: 'wpr-events',
    Source: 'wpr.control-plane',
    DetailType: 'PoolResized',
    Detail: '{"pool":"linux-x64"}',
    ...overrides,
  });
  const put = (Entries: PutEventsRequestEntry[]) => peer.client.send(new PutEventsCommand({ Entries }));

  it('accepts events, giving each an id, and keeps them for inspection', async () => {
    const result = await put([entry(), entry({ EventBusName: undefined, Resources: ['arn:aws:ec2:i-1'] })]);
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries?.map((e) => e.EventId)).toStrictEqual(peer.events().map((e) => e.id));
    expect(peer.events()).toMatchObject([
      {
        eventBusName: 'wpr-events',
        source: 'wpr.control-plane',
        detailType: 'PoolResized',
        time: clock.now(),
      },
      { eventBusName: 'default', detail: { pool: 'linux-x64' }, resources: ['arn:aws:ec2:i-1'] },
    ]);
  });

  it('judges entries one by one, answering in request order', async () => {
    const result = await put([
      entry({ Detail: 'not json' }),
      entry(),
      entry({ Detail: '[1, 2]' }),
      entry({ Source: undefined }),
      entry({ EventBusName: 'nobody' }),
      entry({ EventBusName: 'arn:aws:events:us-east-1:123456789012:event-bus/wpr-events' }),
      entry({ Detail: JSON.stringify({ blob: 'x'.repeat(maxEntrySizeBytes) }) }),
    ]);
    expect(result.FailedEntryCount).toBe(5);
    expect(result.Entries?.map((e) => e.ErrorCode ?? 'ok')).toStrictEqual([
      'MalformedDetail',
      'ok',
      'MalformedDetail',
      'InvalidArgument',
      'ResourceNotFoundException',
      'ok',
      'InvalidArgument',
    ]);
    expect(peer.events()).toHaveLength(2);
  });

  it('refuses more than 10 entries in one call', async () => {
    const error = await put(Array.from({ length: 11 }, () => entry())).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('ValidationException');
    expect(peer.events()).toHaveLength(0);
  });

  it('sizes an entry as EventBridge does', () => {
    expect(entrySize({ Source: 'ab', DetailType: 'c', Detail: '{"é":1}', Resources: ['r1', 'r2'] })).toBe(
      2 + 1 + 8 + 4,
    );
    expect(entrySize({ Source: 'ab', DetailType: 'c', Detail: '{}', Time: 1 })).toBe(14 + 2 + 1 + 2);
  });

  it('fails injected entries, then recovers; takes the entry time when given', async () => {
    peer.failEntries(1);
    const result = await put([entry(), entry({ Time: new Date(Date.UTC(2026, 1, 2)) })]);
    expect(result.Entries?.[0]).toMatchObject({ ErrorCode: 'InternalFailure' });
    expect(peer.events().map((e) => e.time)).toStrictEqual([Date.UTC(2026, 1, 2)]);
  });

  it('creates buses', async () => {
    const { EventBusArn } = await peer.client.send(new CreateEventBusCommand({ Name: 'audit' }));
    expect(EventBusArn).toBe('arn:aws:events:us-east-1:123456789012:event-bus/audit');
    await put([entry({ EventBusName: 'audit' })]);
    expect(peer.events('audit')).toHaveLength(1);
  });
});
