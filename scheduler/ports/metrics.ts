/**
 * Metrics: counters, durations and gauges with a few low-cardinality dimensions
 * (pool, source, step). Never a job id, instance id or anything secret as a dimension.
 */
export type MetricDimensions = Readonly<Record<string, string>>;

export interface Metrics {
  count(name: string, value?: number, dimensions?: MetricDimensions): void;
  duration(name: string, milliseconds: number, dimensions?: MetricDimensions): void;
  gauge(name: string, value: number, dimensions?: MetricDimensions): void;
}
