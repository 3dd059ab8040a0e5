/**
 * InMemoryEvents: the Events port recording what was published, in order. Publishing stays best effort
 * like the EventBridge adapter: an injected failure drops the events and counts them as failed, but
 * `publish` never rejects, so a caller cannot come to depend on it throwing.
 */
import type { DomainEvent, Events } from '../../scheduler/ports/events.js';

export class InMemoryEvents implements Events {
  readonly published: DomainEvent[] = [];
  private failuresToInject = 0;
  private failedCount = 0;

  async publish(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) {
      if (this.failuresToInject > 0) {
        this.failuresToInject -= 1;
        this.failedCount += 1;
        continue;
      }
      // A copy: a caller mutating its object later must not rewrite history, as with a real bus.
      this.published.push(structuredClone(event));
    }
  }

  /** Published events of one type, narrowed. */
  ofType<T extends DomainEvent['type']>(type: T): Extract<DomainEvent, { type: T }>[] {
    return this.published.filter((e): e is Extract<DomainEvent, { type: T }> => e.type === type);
  }

  /** The next `count` events are dropped, as entries the bus refused. */
  failNext(count = 1): void {
    this.failuresToInject += count;
  }

  /** Events dropped by injected failures. */
  failed(): number {
    return this.failedCount;
  }

  clear(): void {
    this.published.length = 0;
  }
}
