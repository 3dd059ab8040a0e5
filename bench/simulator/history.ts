/**
 * The demand history a pool would have learned before the simulated span: what the pool tuner records
 * each minute (jobs waiting + runners busy), replayed from earlier weeks of the same organization's
 * trace with each job waiting a typical pickup and then running its duration. It goes through the
 * core's own `recordDemand`, so the forecast reads it exactly as it reads what the tuner writes.
 */
import { type DemandHistory, emptyHistory, recordDemand } from '../../scheduler/core/forecast.js';
import type { TraceJob } from '../traces/trace.js';

export function demandHistoryFromJobs(
  jobs: readonly TraceJob[],
  span: { start: number; end: number },
  options: { timeZone: string; keepWeeks: number; pickupS?: number },
): DemandHistory {
  const pickupMs = (options.pickupS ?? 20) * 1000;
  // +1 when a job is created, -1 when it ends: a sweep gives the demand at every minute.
  const deltas = new Map<number, number>();
  const bump = (minute: number, by: number) => deltas.set(minute, (deltas.get(minute) ?? 0) + by);
  for (const j of jobs) {
    const from = Math.ceil(j.createdAt / 60_000);
    const to = Math.ceil((j.createdAt + pickupMs + j.durationS * 1000) / 60_000);
    if (to > from) {
      bump(from, 1);
      bump(to, -1);
    }
  }
  let history = emptyHistory(options.timeZone);
  let demand = 0;
  const first = Math.ceil(span.start / 60_000);
  for (const [minute, by] of deltas) if (minute < first) demand += by;
  for (let minute = first; minute * 60_000 < span.end; minute++) {
    demand += deltas.get(minute) ?? 0;
    history = recordDemand(history, minute * 60_000, demand, options.keepWeeks + 1);
  }
  return history;
}
