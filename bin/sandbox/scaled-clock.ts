/**
 * The sandbox's clock: starts at a chosen instant and runs `speed` times faster than the wall clock.
 * Every component of the sandbox reads it (the handlers through the Clock port, EC2's and GitHub's
 * timestamps), and EC2's durations are divided by the same speed, so every duration the control plane
 * records is in EC2's own time: a 5 s boot reads as 5 s whatever the speed. Only our own processing
 * is stretched by the speed, which is why the default stays low.
 *
 * Monotonic: it advances with `performance.now`, so a wall-clock adjustment never moves it backwards.
 */
import type { Clock } from '../../scheduler/ports/clock.js';

export interface ScaledClock extends Clock {
  readonly speed: number;
  /** The clock's reading when it was made. */
  readonly startedAt: number;
  /** Wall-clock milliseconds for `ms` of this clock's time. */
  real(ms: number): number;
}

export function scaledClock(
  startAt: number,
  speed: number,
  monotonic = () => performance.now(),
): ScaledClock {
  if (!(speed > 0)) throw new RangeError(`speed must be above 0, got ${speed}`);
  const origin = monotonic();
  return {
    speed,
    startedAt: startAt,
    now: () => Math.round(startAt + (monotonic() - origin) * speed),
    real: (ms) => ms / speed,
  };
}

/**
 * Where the demo's day starts: a Tuesday at 07:59:00 in Paris (CET), a minute before the default
 * config's working-hours window opens — time for the pools to warm at their night size, so that the
 * schedule raising a pool at 08:00 is part of what one sees.
 */
export const demoDayStart = Date.parse('2026-03-10T06:59:00Z');
