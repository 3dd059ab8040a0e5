/**
 * The bill of one simulated policy: per instance, its volume from creation to termination and its
 * compute per start (running until stopped or terminated, with the one-minute minimum of each start).
 *
 * Every amount is booked as `job` (serving a job: the boot that leads to it, the job, the power-off)
 * or `idle` (waiting in a pool, warming up, or started for a job and never used). An instance booked as
 * serving a job that never ran one is re-booked as idle when it closes: a runner provided and released
 * unused is waste, not job cost.
 */
import type { Market } from '../../scheduler/core/types.js';
import { computeCost, type Prices, volumeCost } from './prices.js';

export type CostCategory = 'job' | 'idle';

interface Account {
  readonly market: Market;
  readonly volumeGb: number;
  category: CostCategory;
  /** Start of the current volume segment. */
  volumeSince: number;
  /** Start of the current running interval and of its current category segment. */
  runningSince: number | undefined;
  segmentSince: number | undefined;
  /** Seconds of the current running interval already booked, for the one-minute minimum. */
  runningBookedSeconds: number;
  served: boolean;
  closed: boolean;
  job: number;
  idle: number;
  compute: number;
  volume: number;
}

export interface BillTotals {
  readonly job: number;
  readonly idle: number;
  readonly compute: number;
  readonly volume: number;
  readonly total: number;
  /** Instance-seconds running, for sanity checks. */
  readonly runningSeconds: number;
}

export class Ledger {
  private readonly accounts = new Map<string, Account>();
  private runningSeconds = 0;

  constructor(private readonly prices: Prices) {}

  /** An instance (and its volume) exists from `at`. */
  open(id: string, at: number, spec: { market: Market; volumeGb: number; category: CostCategory }): void {
    if (this.accounts.has(id)) throw new Error(`ledger: ${id} opened twice`);
    this.accounts.set(id, {
      market: spec.market,
      volumeGb: spec.volumeGb,
      category: spec.category,
      volumeSince: at,
      runningSince: undefined,
      segmentSince: undefined,
      runningBookedSeconds: 0,
      served: false,
      closed: false,
      job: 0,
      idle: 0,
      compute: 0,
      volume: 0,
    });
  }

  has(id: string): boolean {
    return this.accounts.has(id);
  }

  /** From `at` on, the instance's costs are booked to `category`. */
  setCategory(id: string, at: number, category: CostCategory): void {
    const a = this.account(id);
    if (a.closed || a.category === category) return;
    this.bookVolume(a, at);
    this.bookRunning(a, at, false);
    a.category = category;
  }

  /** The instance ran (or is running) a job: its job-booked costs stay job costs. */
  served(id: string): void {
    const a = this.accounts.get(id);
    if (a !== undefined) a.served = true;
  }

  running(id: string, at: number): void {
    const a = this.account(id);
    if (a.closed || a.runningSince !== undefined) return;
    a.runningSince = at;
    a.segmentSince = at;
    a.runningBookedSeconds = 0;
  }

  /** Stopped: compute ends (with the one-minute minimum), the volume goes on. */
  stopped(id: string, at: number): void {
    const a = this.account(id);
    if (a.closed) return;
    this.bookRunning(a, at, true);
  }

  /** Terminated: compute and volume end. */
  close(id: string, at: number): void {
    const a = this.accounts.get(id);
    if (a === undefined || a.closed) return;
    this.bookRunning(a, at, true);
    this.bookVolume(a, at);
    a.closed = true;
    if (!a.served) {
      a.idle += a.job;
      a.job = 0;
    }
  }

  /** Closes every account at the end of the run and adds everything up. */
  totals(at: number): BillTotals {
    let job = 0;
    let idle = 0;
    let compute = 0;
    let volume = 0;
    for (const [id, a] of this.accounts) {
      this.close(id, at);
      job += a.job;
      idle += a.idle;
      compute += a.compute;
      volume += a.volume;
    }
    return { job, idle, compute, volume, total: job + idle, runningSeconds: this.runningSeconds };
  }

  private account(id: string): Account {
    const a = this.accounts.get(id);
    if (a === undefined) throw new Error(`ledger: unknown instance ${id}`);
    return a;
  }

  private bookVolume(a: Account, at: number): void {
    const cost = volumeCost(this.prices, a.volumeGb, Math.max(0, at - a.volumeSince) / 1000);
    a.volume += cost;
    a[a.category] += cost;
    a.volumeSince = at;
  }

  /** Books the running segment up to `at`; when the start ends, tops it up to the one-minute minimum. */
  private bookRunning(a: Account, at: number, ends: boolean): void {
    if (a.runningSince === undefined || a.segmentSince === undefined) return;
    let seconds = Math.max(0, at - a.segmentSince) / 1000;
    this.runningSeconds += seconds;
    if (ends) {
      const whole = a.runningBookedSeconds + seconds;
      if (whole < this.prices.minimumBilledSeconds) seconds += this.prices.minimumBilledSeconds - whole;
    }
    // The minimum applies to the whole start, so each segment is priced without it.
    const cost = computeCost({ ...this.prices, minimumBilledSeconds: 0 }, a.market, seconds);
    a.compute += cost;
    a[a.category] += cost;
    a.runningBookedSeconds += seconds;
    if (ends) {
      a.runningSince = undefined;
      a.segmentSince = undefined;
    } else a.segmentSince = at;
  }
}
