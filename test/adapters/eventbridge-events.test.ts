import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeEvents, type PublishFailure } from '../../scheduler/adapters/eventbridge-events.js';
import type { DomainEvent } from '../../scheduler/ports/events.js';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type EventBridgePeer, startEventBridgePeer } from '../../stand-ins/aws/eventbridge.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { describeEventsContract, sampleEvents } from '../contracts/events.contract.js';

const bus = 'wpr-events';

describeEventsContract('EventBridgeEvents on the EventBridge peer', async () => {
  const peer = await startEventBridgePeer({ eventBuses: [bus] });
  let failed = 0;
  const events = new EventBridgeEvents({
    client: peer.client,
    eventBusName: bus,
    onFailure: ({ count }) => {
      failed += count;
    },
  });
  return {
    events,
    received: async () => peer.events(bus).map((e) => e.detail as DomainEvent),
    refuseNext: (count) => peer.failEntries(count, 'InvalidArgument'),
    failures: () => failed,
    cleanup: () => peer.close(),
  };
});

describe('EventBridgeEvents', () => {
  let peer: EventBridgePeer;
  let failures: PublishFailure[];

  beforeEach(async () => {
    peer = await startEventBridgePeer({ eventBuses: [bus] });
    failures = [];
  });
  afterEach(() => peer.close());

  const publisher = (options: { client?: EventBridgeClient; clock?: FixedClock } = {}) =>
    new EventBridgeEvents({
      client: options.client ?? peer.client,
      eventBusName: bus,
      onFailure: (failure) => failures.push(failure),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });

  const burst = (n: number): DomainEvent[] =>
    Array.from({ length: n }, (_, i) => ({
      type: 'JobPending',
      jobId: i,
      pool: 'linux-x64',
      reason: 'pool empty',
    }));

  it('sends each event from wpr.control-plane with its type as the detail-type', async () => {
    await publisher().publish(sampleEvents.slice(0, 2));
    expect(peer.events().map((e) => [e.eventBusName, e.source, e.detailType])).toStrictEqual([
      [bus, 'wpr.control-plane', 'JobProvisioned'],
      [bus, 'wpr.control-plane', 'JobPending'],
    ]);
  });

  it('sends at most 10 entries per call', async () => {
    await publisher().publish(burst(23));
    const sizes = peer.calls('PutEvents').map((c) => (c.input.Entries as unknown[]).length);
    expect(sizes.sort((a, b) => a - b)).toStrictEqual([3, 10, 10]);
    expect(peer.events()).toHaveLength(23);
  });

  it('stamps the event time from the clock when given one', async () => {
    const clock = new FixedClock(Date.UTC(2026, 2, 1, 12, 0, 0));
    await publisher({ clock }).publish(sampleEvents.slice(0, 1));
    expect(peer.events()[0]?.time).toBe(clock.now());
  });

  it('sends entries refused for a transient reason once more', async () => {
    peer.failEntries(3, 'InternalFailure');
    await publisher().publish(burst(5));
    expect(peer.events()).toHaveLength(5);
    expect(failures).toStrictEqual([]);
    expect(peer.calls('PutEvents').map((c) => (c.input.Entries as unknown[]).length)).toStrictEqual([5, 3]);
  });

  it('counts entries still refused after the second try', async () => {
    peer.failEntries(4, 'ThrottlingException');
    await publisher().publish(burst(3));
    expect(failures).toStrictEqual([{ count: 1, reasons: ['ThrottlingException'] }]);
    expect(peer.events()).toHaveLength(2);
  });

  it('counts an oversized event as refused and delivers the others', async () => {
    const huge: DomainEvent = {
      type: 'JobPending',
      jobId: 1,
      pool: 'linux-x64',
      reason: 'x'.repeat(300 * 1024),
    };
    await publisher().publish([huge, ...burst(2)]);
    expect(failures).toStrictEqual([{ count: 1, reasons: ['InvalidArgument'] }]);
    expect(peer.events()).toHaveLength(2);
  });

  it('never throws when the bus is unreachable, even if the failure observer does', async () => {
    peer.injectFault({
      action: 'PutEvents',
      type: 'InternalException',
      status: 500,
      times: Number.POSITIVE_INFINITY,
    });
    const client = new EventBridgeClient({ ...localClientConfig(peer.endpoint), maxAttempts: 2 });
    await publisher({ client }).publish(burst(12));
    expect(failures).toStrictEqual([{ count: 12, reasons: ['InternalException'] }]);
    expect(peer.calls('PutEvents')).toHaveLength(4);
    const throwing = new EventBridgeEvents({
      client,
      eventBusName: bus,
      onFailure: () => {
        throw new Error('observer broke');
      },
    });
    await expect(throwing.publish(burst(1))).resolves.toBeUndefined();
    client.destroy();
  });
});
