import type { Clock } from '../../scheduler/ports/clock.js';

/** A clock that moves only when told to. */
export class FixedClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 5, 9, 0, 0)) {}

  now(): number {
    return this.current;
  }

  advance(milliseconds: number): void {
    this.current += milliseconds;
  }

  set(epochMs: number): void {
    this.current = epochMs;
  }
}
