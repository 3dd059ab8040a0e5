/**
 * A job trace: what an organization's workflows asked for, job by job, independent of who serves it.
 * Times are epoch milliseconds; a job asks for its labels at `createdAt` and runs `durationS` seconds
 * once a runner has it. Jobs of one workflow run (a matrix) share a `runId`.
 */
export interface TraceJob {
  readonly createdAt: number;
  readonly labels: readonly string[];
  readonly durationS: number;
  readonly runId?: number;
}

export interface Trace {
  /** Jobs by `createdAt`, oldest first. */
  readonly jobs: readonly TraceJob[];
  /** The span the trace covers (a generated trace covers whole days, quiet ones included). */
  readonly start: number;
  readonly end: number;
  /** The organization's working time zone, for schedules. */
  readonly timeZone: string;
  /** Where it came from, for the report. */
  readonly source: string;
}

export const dayMs = 24 * 3_600_000;
