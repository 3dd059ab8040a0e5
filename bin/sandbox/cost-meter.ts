/**
 * The sandbox's running cost estimate: integrates the instances the store reports, sample by sample,
 * in the sandbox clock's time. Between two samples an instance is billed by the state it had at the
 * first: compute at its market's rate while it runs (launching, warming, starting, busy), its gp3
 * volume all the time it exists. Each run is billed at least a minute, as EC2 bills a Linux start.
 *
 * States are the store's, not EC2's: a claimed or recycling instance is counted as stopped, which
 * is what it is for all but a few seconds. Good enough for an estimate; the price table is prices.ts.
 */
import type { InstanceState } from '../../scheduler/core/lifecycle.js';
import type { InstanceRecord, Market } from '../../scheduler/core/types.js';
import { ebsUsdPerSecond, hourlyPrice, minimumBilledSeconds } from './prices.js';

const runningStates: ReadonlySet<InstanceState> = new Set(['launching', 'warming', 'starting', 'busy']);

export interface CostEstimate {
  readonly currency: 'USD';
  /** Sandbox-clock milliseconds covered so far. */
  readonly coveredMs: number;
  readonly totalUsd: number;
  readonly computeUsd: { readonly onDemand: number; readonly spot: number };
  readonly instanceHours: { readonly onDemand: number; readonly spot: number };
  /** gp3 volumes of instances waiting stopped in the pool: the whole price of keeping the pool warm. */
  readonly ebsIdleUsd: number;
  /** gp3 volumes while their instance runs. */
  readonly ebsRunningUsd: number;
  /** What the idle pool would have cost had its instances waited running rather than stopped. */
  readonly runningPoolEquivalentUsd: number;
  /** True when an instance type had no listed price and a default rate stood in. */
  readonly approximate: boolean;
}

/** What the meter needs of an instance record (or of its summary in a snapshot). */
export type MeteredInstance = Pick<InstanceRecord, 'id' | 'pool' | 'state' | 'market' | 'instanceType'>;

interface Tracked {
  state: InstanceState;
  market: Market;
  instanceType: string;
  volumeGb: number;
  runSeconds: number;
}

export class CostMeter {
  private readonly tracked = new Map<string, Tracked>();
  private lastAt: number | undefined;
  private coveredMs = 0;
  private compute = { onDemand: 0, spot: 0 };
  private seconds = { onDemand: 0, spot: 0 };
  private ebsIdle = 0;
  private ebsRunning = 0;
  private runningEquivalent = 0;
  private approximate = false;

  /** `volumeGb` gives each pool's volume size (the pool config's `volumeSizeGb`). */
  sample(instances: readonly MeteredInstance[], volumeGb: (pool: string) => number, now: number): void {
    const dt = this.lastAt === undefined ? 0 : Math.max(0, now - this.lastAt) / 1000;
    this.lastAt = now;
    this.coveredMs += dt * 1000;
    for (const t of this.tracked.values()) this.accrue(t, dt);

    const seen = new Set<string>();
    for (const instance of instances) {
      seen.add(instance.id);
      const known = this.tracked.get(instance.id);
      if (known === undefined) {
        this.tracked.set(instance.id, {
          state: instance.state,
          market: instance.market,
          instanceType: instance.instanceType,
          volumeGb: volumeGb(instance.pool),
          runSeconds: 0,
        });
        continue;
      }
      if (runningStates.has(known.state) && !runningStates.has(instance.state)) this.endRun(known);
      known.state = instance.state;
      // A stopped pool instance may be resized by the fallback ladder.
      known.instanceType = instance.instanceType;
    }
    for (const [id, t] of this.tracked)
      if (!seen.has(id)) {
        if (runningStates.has(t.state)) this.endRun(t);
        this.tracked.delete(id);
      }
  }

  estimate(): CostEstimate {
    const ebs = this.ebsIdle + this.ebsRunning;
    return {
      currency: 'USD',
      coveredMs: Math.round(this.coveredMs),
      totalUsd: this.compute.onDemand + this.compute.spot + ebs,
      computeUsd: { ...this.compute },
      instanceHours: { onDemand: this.seconds.onDemand / 3600, spot: this.seconds.spot / 3600 },
      ebsIdleUsd: this.ebsIdle,
      ebsRunningUsd: this.ebsRunning,
      runningPoolEquivalentUsd: this.runningEquivalent,
      approximate: this.approximate,
    };
  }

  private accrue(t: Tracked, dt: number): void {
    if (dt === 0) return;
    const ebs = ebsUsdPerSecond(t.volumeGb) * dt;
    if (runningStates.has(t.state)) {
      this.charge(t, dt);
      t.runSeconds += dt;
      this.ebsRunning += ebs;
    } else if (t.state !== 'terminated') {
      this.ebsIdle += ebs;
      const price = hourlyPrice(t.instanceType, 'on-demand');
      if (t.state === 'ready') this.runningEquivalent += (price.usd / 3600) * dt;
    }
  }

  /** A run shorter than EC2's minimum is billed the minimum. */
  private endRun(t: Tracked): void {
    if (t.runSeconds < minimumBilledSeconds) this.charge(t, minimumBilledSeconds - t.runSeconds);
    t.runSeconds = 0;
  }

  private charge(t: Tracked, seconds: number): void {
    const price = hourlyPrice(t.instanceType, t.market);
    if (!price.listed) this.approximate = true;
    const key = t.market === 'spot' ? 'spot' : 'onDemand';
    this.compute[key] += (price.usd / 3600) * seconds;
    this.seconds[key] += seconds;
  }
}
