/**
 * The simulated clock and its event queue. Time moves only from one event to the next; the control
 * plane's use cases run as coroutines on it: a port call that takes time (`sleep`) parks the use case
 * until the loop reaches the call's end, while everything else happening meanwhile (other webhooks,
 * boots, tuner runs) interleaves as it would on AWS. So a use case sees the world change between two
 * awaits exactly as a Lambda does, and two handlers can race for the same instance.
 *
 * Order is deterministic: events at the same instant run in the order they were scheduled, and after
 * each event every coroutine it woke runs until it parks again (drained through one macrotask turn, as
 * the fakes resolve synchronously).
 */
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';

type Action = () => void;

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly action: Action;
}

/** A binary min-heap on (at, seq). */
class EventHeap {
  private readonly items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  push(entry: Entry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, items[parent] as Entry)) break;
      items[i] = items[parent] as Entry;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): Entry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && before(items[right] as Entry, items[left] as Entry) ? right : left;
      if (!before(items[child] as Entry, last)) break;
      items[i] = items[child] as Entry;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

export class EventLoop {
  readonly clock: FixedClock;
  private readonly queue = new EventHeap();
  private seq = 0;
  private inFlight = 0;
  private woke = false;
  private readonly failures: Error[] = [];
  events = 0;

  constructor(start: number) {
    this.clock = new FixedClock(start);
  }

  now(): number {
    return this.clock.now();
  }

  at(time: number, action: Action): void {
    this.queue.push({ at: Math.max(time, this.clock.now()), seq: this.seq++, action });
  }

  after(seconds: number, action: Action): void {
    this.at(this.clock.now() + seconds * 1000, action);
  }

  /** Parks the calling coroutine for `seconds` of simulated time. */
  sleep(seconds: number): Promise<void> {
    return new Promise((resolve) =>
      this.after(seconds, () => {
        this.woke = true;
        resolve();
      }),
    );
  }

  /** Starts a coroutine now; a failure is kept and ends the run (the core must never throw here). */
  spawn(name: string, task: () => Promise<unknown>): void {
    this.inFlight++;
    this.woke = true;
    task().then(
      () => {
        this.inFlight--;
      },
      (error: unknown) => {
        this.inFlight--;
        this.failures.push(
          new SimulationError(`${name} failed: ${(error as Error).message}`, { cause: error }),
        );
      },
    );
  }

  get pending(): number {
    return this.queue.size;
  }

  get running(): number {
    return this.inFlight;
  }

  /** Runs events until the queue is empty, `until` is reached, or `done()` says so. */
  async run(until: number, done: () => boolean = () => false): Promise<void> {
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.at > until) break;
      this.queue.pop();
      this.clock.set(next.at);
      this.events++;
      this.woke = false;
      next.action();
      if (this.woke) await macrotask();
      if (this.failures.length > 0) throw this.failures[0];
      if (done()) return;
    }
    if (this.clock.now() < until && Number.isFinite(until)) this.clock.set(until);
  }
}
