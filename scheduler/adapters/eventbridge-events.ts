/**
 * EventBridgeEvents: the Events port on an EventBridge bus. Each DomainEvent becomes one entry with
 * source `wpr.control-plane`, detail-type the event's `type` and the event as its detail, so a rule can
 * match on either.
 *
 * - PutEvents takes at most 10 entries: events go in batches of 10, sent together.
 * - Best effort, as the port says: nothing here throws. Entries the bus refused for a transient reason
 *   (InternalFailure, ThrottlingException) are sent once more; what still fails, or a whole call that
 *   fails after the SDK's retries, is reported to `onFailure` with a count and the error codes.
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { Clock } from '../ports/clock.js';
import type { DomainEvent, Events } from '../ports/events.js';

export const eventSource = 'wpr.control-plane';

export interface PublishFailure {
  readonly count: number;
  /** Error codes or SDK error names, deduplicated. */
  readonly reasons: readonly string[];
}

export interface EventBridgeEventsOptions {
  readonly client: EventBridgeClient;
  /** Bus name or ARN. */
  readonly eventBusName: string;
  readonly source?: string;
  /** When given, stamps each entry's Time; otherwise the bus stamps its receipt time. */
  readonly clock?: Clock;
  readonly onFailure?: (failure: PublishFailure) => void;
}

const maxEntriesPerCall = 10;
const retryableCodes = new Set(['InternalFailure', 'ThrottlingException']);

export class EventBridgeEvents implements Events {
  constructor(private readonly options: EventBridgeEventsOptions) {}

  async publish(events: readonly DomainEvent[]): Promise<void> {
    const entries = events.map((event) => this.entry(event));
    const batches: PutEventsRequestEntry[][] = [];
    for (let i = 0; i < entries.length; i += maxEntriesPerCall)
      batches.push(entries.slice(i, i + maxEntriesPerCall));
    const failures = await Promise.all(batches.map((batch) => this.send(batch, true)));
    const count = failures.reduce((sum, f) => sum + f.count, 0);
    if (count > 0) this.report({ count, reasons: [...new Set(failures.flatMap((f) => f.reasons))] });
  }

  private entry(event: DomainEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.options.eventBusName,
      Source: this.options.source ?? eventSource,
      DetailType: event.type,
      Detail: JSON.stringify(event),
      ...(this.options.clock === undefined ? {} : { Time: new Date(this.options.clock.now()) }),
    };
  }

  private async send(batch: PutEventsRequestEntry[], retry: boolean): Promise<PublishFailure> {
    let results: { ErrorCode?: string | undefined }[];
    try {
      const output = await this.options.client.send(new PutEventsCommand({ Entries: batch }));
      if ((output.FailedEntryCount ?? 0) === 0) return { count: 0, reasons: [] };
      results = output.Entries ?? [];
    } catch (error) {
      return { count: batch.length, reasons: [error instanceof Error ? error.name : 'unknown error'] };
    }
    // Entries line up with the request; one without an EventId failed.
    const failed = batch.flatMap((entry, i) => {
      const code = results[i]?.ErrorCode;
      return code === undefined ? [] : [{ entry, code }];
    });
    const transient = failed.filter((f) => retryableCodes.has(f.code));
    const permanent = failed.filter((f) => !retryableCodes.has(f.code));
    const again =
      retry && transient.length > 0
        ? await this.send(
            transient.map((f) => f.entry),
            false,
          )
        : { count: transient.length, reasons: transient.map((f) => f.code) };
    return {
      count: permanent.length + again.count,
      reasons: [...new Set([...permanent.map((f) => f.code), ...again.reasons])],
    };
  }

  private report(failure: PublishFailure): void {
    try {
      this.options.onFailure?.(failure);
    } catch {
      // A failing observer must not turn a best-effort publish into a failure.
    }
  }
}
