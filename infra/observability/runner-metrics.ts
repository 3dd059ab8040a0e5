/**
 * RunnerMetrics: the custom metrics the handlers emit (CloudWatch embedded metric format through
 * Powertools), as the dashboard and the alarms read them. One catalogue, so a renamed metric or dimension
 * is changed in one place.
 *
 * Powertools adds a `service` dimension to each metric; the handlers' EmfMetrics names it
 * `warm-pool-runners` whatever the installation (handlers/observability.ts), so every metric here carries
 * it next to its own dimensions. test/infra/metrics-contract.test.ts emits through EmfMetrics and checks
 * that the records land on exactly the series the alarms read.
 */
import { Duration } from 'aws-cdk-lib';
import { MathExpression, Metric, SearchExpression, Stats } from 'aws-cdk-lib/aws-cloudwatch';

export const metricNames = {
  /** ms, [Pool, Source]: job queued (GitHub's created_at) to job in progress. */
  pickupLatency: 'PickupLatency',
  /** ms, [Phase]: one step of the pickup path. */
  phaseLatency: 'PhaseLatency',
  poolReady: 'PoolReady',
  poolWarming: 'PoolWarming',
  poolBusy: 'PoolBusy',
  poolTarget: 'PoolTarget',
  /** [Pool, Step] */
  claims: 'Claims',
  lostRaces: 'LostRaces',
  fallbacks: 'Fallbacks',
  /** [Pool] */
  capacityErrors: 'CapacityErrors',
  /** [Reason] */
  webhooksRejected: 'WebhooksRejected',
  /** [Kind] */
  orphansReaped: 'OrphansReaped',
  /** [Pool] */
  jobsReprovisioned: 'JobsReprovisioned',
  stuckJobs: 'StuckJobs',
  /** [Handler] */
  handlerRuns: 'HandlerRuns',
  /** USD, [Pool, Kind] */
  estimatedCost: 'EstimatedCost',
  /** [Pool]: pool instances whose agent powered off with a failure reason; retired. */
  warmupFailures: 'WarmupFailures',
  /** [Pool]: tuner runs in which this pool failed (the other pools were still tuned). */
  poolTuningErrors: 'PoolTuningErrors',
  /** []: pool config documents rejected (invalid), at load time, by any handler. */
  configRejections: 'ConfigRejections',
  /** [Pool]: the hot tier's target, idle runners and runners it served that are busy (pool tuner). */
  hotTarget: 'HotTarget',
  hotIdle: 'HotIdle',
  hotBusy: 'HotBusy',
  /** USD a day at the hot tier's size now, [Pool] (pool tuner). */
  hotTierCost: 'HotTierCost',
  /** [Pool]: runners started to refill the hot tier. */
  hotRefills: 'HotRefills',
  /** [Pool, Tier]: jobs picked up, by the tier of the runner that took them (hot, warm, cold). */
  pickups: 'Pickups',
  /** [Pool]: job-started tags from instances (the webhook-independent signal). */
  jobStartedSignals: 'JobStartedSignals',
  /**
   * US cents, once a day for the day before (the cost report): [] the total, [Repository] the top N
   * repositories and `other`, [Organization] each organization. See docs/cost.md.
   */
  dailyCostCents: 'DailyCostCents',
} as const;

export type MetricName = (typeof metricNames)[keyof typeof metricNames];

/** The `service` dimension value of every metric the handlers emit. */
export const metricsServiceDimension = 'warm-pool-runners';

export const latencyPhases = ['webhook', 'claim', 'start', 'boot', 'pickup'] as const;
export const runnerSources = ['hot', 'pool', 'pool-resized', 'spot', 'on-demand'] as const;
export const pickupTiers = ['hot', 'warm', 'cold'] as const;
export const costKinds = ['ebs-idle', 'on-demand', 'spot'] as const;

export interface RunnerMetricsProps {
  readonly namespace: string;
  /** The `service` dimension value. @default metricsServiceDimension */
  readonly service?: string;
}

export class RunnerMetrics {
  readonly namespace: string;
  readonly service: string;

  constructor(props: RunnerMetricsProps) {
    this.namespace = props.namespace;
    this.service = props.service ?? metricsServiceDimension;
  }

  /** One metric series: `dimensions` are the metric's own; `service` is added. */
  metric(
    metricName: MetricName,
    dimensions: Readonly<Record<string, string>>,
    options: { statistic?: string; period?: Duration; label?: string } = {},
  ): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.service, ...dimensions },
      statistic: options.statistic ?? Stats.SUM,
      period: options.period ?? Duration.minutes(1),
      ...(options.label === undefined ? {} : { label: options.label }),
    });
  }

  /**
   * Every series of a metric over the given dimension keys, whatever their values (pools added at
   * runtime appear without a deploy). For graphs only: alarms cannot use SEARCH.
   */
  search(
    metricName: MetricName,
    dimensionKeys: readonly string[],
    statistic: string,
    options: { period?: Duration; filter?: Readonly<Record<string, string>>; label?: string } = {},
  ): SearchExpression {
    const schema = [quote(this.namespace), 'service', ...dimensionKeys].join(',');
    const filters = Object.entries({ service: this.service, ...(options.filter ?? {}) })
      .map(([k, v]) => ` ${k}=${quote(v)}`)
      .join('');
    const period = options.period ?? Duration.minutes(1);
    return new SearchExpression({
      expression: `SEARCH('{${schema}} MetricName=${quote(metricName)}${filters}', '${statistic}', ${period.toSeconds()})`,
      period,
      label: options.label ?? '',
    });
  }

  /**
   * The largest value of a metric across all its series (Metrics Insights), usable in an alarm; it covers
   * pools added after the deploy.
   */
  maxAcross(metricName: MetricName, dimensionKeys: readonly string[], period: Duration): MathExpression {
    const schema = [quote(this.namespace), 'service', ...dimensionKeys].join(', ');
    return new MathExpression({
      expression: `SELECT MAX(${metricName}) FROM SCHEMA(${schema}) WHERE service = '${this.service}'`,
      period,
      label: `${metricName} (largest series)`,
    });
  }
}

function quote(value: string): string {
  return `"${value.replace(/"/g, '\\"')}"`;
}
