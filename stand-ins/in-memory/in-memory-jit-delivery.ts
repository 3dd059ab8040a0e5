/**
 * InMemoryJitDelivery: the JitDelivery port held in a Map, with the semantics of the SSM adapter.
 * - A delivery to an instance that already has a pending config replaces it (the SSM Overwrite path) and
 *   restarts its `createdAt`, as a redelivery refreshes LastModifiedDate.
 * - `take` is what the instance agent does: read the config and delete it, so it is handed out once.
 * - `listPending` reports ids and times only; the values stay inside, as the reconciler never reads them.
 * - An instance id must be one path segment (`i-…`), as the adapter requires.
 * Faults can be injected per operation to exercise the callers' error paths.
 */
import type { Clock } from '../../scheduler/ports/clock.js';
import type { JitDelivery, PendingJitConfig } from '../../scheduler/ports/jit-delivery.js';

type Operation = 'deliver' | 'remove' | 'listPending';

// As in the SSM adapter: an id is one parameter-name segment, so it can never address another config.
const instanceIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

interface StoredConfig {
  readonly value: string;
  readonly createdAt: number;
}

export class InMemoryJitDelivery implements JitDelivery {
  private readonly configs = new Map<string, StoredConfig>();
  private readonly faults: { operation: Operation; error: Error }[] = [];
  private deliveries = 0;

  constructor(private readonly clock: Clock) {}

  async deliver(instanceId: string, encodedJitConfig: string): Promise<void> {
    this.throwInjectedFault('deliver');
    if (!instanceIdPattern.test(instanceId)) throw new Error(`"${instanceId}" is not an instance id`);
    // Parameter Store refuses an empty value.
    if (encodedJitConfig === '') throw new Error('a JIT config cannot be empty');
    this.configs.set(instanceId, { value: encodedJitConfig, createdAt: this.clock.now() });
    this.deliveries += 1;
  }

  async remove(instanceId: string): Promise<void> {
    this.throwInjectedFault('remove');
    if (!instanceIdPattern.test(instanceId)) throw new Error(`"${instanceId}" is not an instance id`);
    this.configs.delete(instanceId);
  }

  async listPending(): Promise<PendingJitConfig[]> {
    this.throwInjectedFault('listPending');
    return [...this.configs].map(([instanceId, { createdAt }]) => ({ instanceId, createdAt }));
  }

  /** For tests: the config waiting for an instance, without taking it. */
  read(instanceId: string): string | undefined {
    return this.configs.get(instanceId)?.value;
  }

  /** The agent's side: fetch the config and delete it, so a second boot finds nothing. */
  take(instanceId: string): string | undefined {
    const stored = this.configs.get(instanceId);
    this.configs.delete(instanceId);
    return stored?.value;
  }

  /** For tests: how many deliveries succeeded (redeliveries included). */
  deliveryCount(): number {
    return this.deliveries;
  }

  /** The next call to `operation` throws `error` (queued; one fault per call). */
  failNext(operation: Operation, error: Error = new Error(`injected ${operation} failure`)): void {
    this.faults.push({ operation, error });
  }

  private throwInjectedFault(operation: Operation): void {
    const index = this.faults.findIndex((f) => f.operation === operation);
    if (index === -1) return;
    const [fault] = this.faults.splice(index, 1);
    if (fault) throw fault.error;
  }
}
