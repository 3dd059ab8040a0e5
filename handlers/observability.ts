/**
 * Logs and metrics for the handlers: Powertools' structured JSON logger, and the Metrics port on
 * Powertools' CloudWatch embedded-metric format (one EMF record per metric, since each carries its
 * own dimensions). Log lines carry job id, instance id and pool as keys; secrets never reach them:
 * the redaction below is a second line of defence behind code that never passes a secret to a log.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { MetricDimensions, Metrics } from '../scheduler/ports/metrics.js';

export const metricsNamespace = 'WarmPoolRunners';

export function createLogger(handler: string): Logger {
  return new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'warm-pool-runners',
    persistentKeys: { handler },
  });
}

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

export class EmfMetrics implements Metrics {
  private readonly metrics: PowertoolsMetrics;

  constructor(
    private readonly handler: string,
    namespace = process.env.POWERTOOLS_METRICS_NAMESPACE ?? metricsNamespace,
  ) {
    this.metrics = new PowertoolsMetrics({ namespace, serviceName: 'warm-pool-runners' });
    this.metrics.setThrowOnEmptyMetrics(false);
  }

  count(name: string, value = 1, dimensions: MetricDimensions = {}): void {
    this.emit(name, MetricUnit.Count, value, dimensions);
  }

  duration(name: string, milliseconds: number, dimensions: MetricDimensions = {}): void {
    this.emit(name, MetricUnit.Milliseconds, milliseconds, dimensions);
  }

  gauge(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.emit(name, MetricUnit.Count, value, dimensions);
  }

  private emit(name: string, unit: Unit, value: number, dimensions: MetricDimensions): void {
    const single = this.metrics.singleMetric();
    for (const [key, dimension] of Object.entries(dimensions)) single.addDimension(key, dimension);
    single.addMetadata('handler', this.handler);
    single.addMetric(name, unit, value);
  }
}
