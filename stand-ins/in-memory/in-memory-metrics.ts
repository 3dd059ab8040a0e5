import type { MetricDimensions, Metrics } from '../../scheduler/ports/metrics.js';

export interface RecordedMetric {
  readonly kind: 'count' | 'duration' | 'gauge';
  readonly name: string;
  readonly value: number;
  readonly dimensions: MetricDimensions;
}

/** Records every metric, for assertions. */
export class InMemoryMetrics implements Metrics {
  readonly recorded: RecordedMetric[] = [];

  count(name: string, value = 1, dimensions: MetricDimensions = {}): void {
    this.recorded.push({ kind: 'count', name, value, dimensions });
  }

  duration(name: string, milliseconds: number, dimensions: MetricDimensions = {}): void {
    this.recorded.push({ kind: 'duration', name, value: milliseconds, dimensions });
  }

  gauge(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.recorded.push({ kind: 'gauge', name, value, dimensions });
  }

  total(name: string, dimensions: MetricDimensions = {}): number {
    return this.recorded
      .filter((m) => m.name === name && Object.entries(dimensions).every(([k, v]) => m.dimensions[k] === v))
      .reduce((sum, m) => sum + m.value, 0);
  }
}
