/**
 * RunnerDashboard: one CloudWatch dashboard answering, top to bottom: are jobs picked up fast (pickup
 * latency by pool and source, latency by phase), are the pools the right size (ready / warming / busy /
 * target), is the hot tier at its target and what it serves and costs, how often does the ladder fall back and why, what is the control plane doing (claims, races,
 * rejected webhooks, reaped orphans, handler health), and what does it cost.
 *
 * Graphs over pools use SEARCH expressions, so a pool added through the pool config at runtime appears
 * without a deploy; the per-pool size graphs cover the pools of the deployed config.
 */
import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { metricNames, type RunnerMetrics } from '../observability/runner-metrics.js';
import type { ControlPlaneFunction } from './control-plane-function.js';
import type { WebhookApi } from './webhook-api.js';

export interface RunnerDashboardProps {
  readonly project: string;
  readonly metrics: RunnerMetrics;
  /** Pools of the deployed config (size graphs per pool). */
  readonly poolNames: readonly string[];
  readonly functions: readonly ControlPlaneFunction[];
  readonly webhookApi: WebhookApi;
  readonly lifecycleDeadLetters: IQueue;
  readonly poolConfigParameterName: string;
  readonly alarms: readonly IAlarm[];
}

export class RunnerDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: RunnerDashboardProps) {
    super(scope, id);
    const m = props.metrics;
    const graph = (title: string, left: IMetric[], options: { width?: number; stacked?: boolean } = {}) =>
      new GraphWidget({
        title,
        left,
        width: options.width ?? 8,
        height: 6,
        stacked: options.stacked ?? false,
      });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${props.project}-runners`,
      defaultInterval: Duration.hours(6),
    });

    this.dashboard.addWidgets(
      new TextWidget({
        markdown: [
          `# ${props.project}: warm-pool runners`,
          `Pools are defined in SSM parameter \`${props.poolConfigParameterName}\`. ` +
            'Pickup latency is job queued → job in progress; sources: hot (an idle registered runner took it), ' +
            'pool (warm start), pool-resized, spot, on-demand.',
        ].join('\n\n'),
        width: 24,
        height: 2,
      }),
    );
    if (props.alarms.length > 0)
      this.dashboard.addWidgets(
        new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 3 }),
      );

    this.dashboard.addWidgets(
      graph(
        'Pickup latency p95 by pool and source (ms)',
        [m.search(metricNames.pickupLatency, ['Pool', 'Source'], 'p95')],
        { width: 12 },
      ),
      graph(
        'Pickup latency p50 by pool and source (ms)',
        [m.search(metricNames.pickupLatency, ['Pool', 'Source'], 'p50')],
        { width: 12 },
      ),
      graph('Latency by phase, p95 (ms)', [m.search(metricNames.phaseLatency, ['Phase'], 'p95')], {
        width: 12,
      }),
      graph('Latency by phase, p50 (ms)', [m.search(metricNames.phaseLatency, ['Phase'], 'p50')], {
        width: 12,
      }),
    );

    const sizeWidgets = props.poolNames.map((pool) =>
      graph(`Pool ${pool}: size`, [
        m.metric(metricNames.poolTarget, { Pool: pool }, { statistic: Stats.MAXIMUM, label: 'target' }),
        m.metric(metricNames.poolReady, { Pool: pool }, { statistic: Stats.MINIMUM, label: 'ready (min)' }),
        m.metric(metricNames.poolWarming, { Pool: pool }, { statistic: Stats.MAXIMUM, label: 'warming' }),
        m.metric(metricNames.poolBusy, { Pool: pool }, { statistic: Stats.MAXIMUM, label: 'busy' }),
      ]),
    );
    sizeWidgets.push(
      graph('Ready instances, every pool', [m.search(metricNames.poolReady, ['Pool'], 'Minimum')]),
      graph('Busy instances, every pool', [m.search(metricNames.poolBusy, ['Pool'], 'Maximum')]),
    );
    this.dashboard.addWidgets(...sizeWidgets);

    // The hot tier: registered idle runners against their target, what they served, and what they cost.
    this.dashboard.addWidgets(
      graph('Hot tier: target, idle and busy runners by pool', [
        m.search(metricNames.hotTarget, ['Pool'], 'Maximum', { label: 'target' }),
        m.search(metricNames.hotIdle, ['Pool'], 'Minimum', { label: 'idle (min)' }),
        m.search(metricNames.hotBusy, ['Pool'], 'Maximum', { label: 'busy' }),
      ]),
      graph(
        'Jobs picked up by tier (hot, warm, cold)',
        [m.search(metricNames.pickups, ['Pool', 'Tier'], 'Sum', { period: Duration.minutes(5) })],
        { stacked: true },
      ),
      graph('Hot tier: refills, job-started signals, cost (USD per day)', [
        m.search(metricNames.hotRefills, ['Pool'], 'Sum'),
        m.search(metricNames.jobStartedSignals, ['Pool'], 'Sum'),
        m.search(metricNames.hotTierCost, ['Pool'], 'Average'),
      ]),
    );

    this.dashboard.addWidgets(
      graph('Claims by pool and step', [m.search(metricNames.claims, ['Pool', 'Step'], 'Sum')]),
      graph('Fallbacks by pool and step', [m.search(metricNames.fallbacks, ['Pool', 'Step'], 'Sum')]),
      graph('Lost claim races and capacity errors', [
        m.search(metricNames.lostRaces, ['Pool', 'Step'], 'Sum'),
        m.search(metricNames.capacityErrors, ['Pool'], 'Sum'),
      ]),
      graph('Rejected webhooks by reason', [m.search(metricNames.webhooksRejected, ['Reason'], 'Sum')]),
      graph('Reaped orphans by kind', [m.search(metricNames.orphansReaped, ['Kind'], 'Sum')]),
      graph('Stuck and reprovisioned jobs', [
        m.search(metricNames.stuckJobs, ['Pool'], 'Maximum'),
        m.search(metricNames.jobsReprovisioned, ['Pool'], 'Sum'),
      ]),
    );

    const fnMetrics = (pick: (f: ControlPlaneFunction) => IMetric) => props.functions.map(pick);
    this.dashboard.addWidgets(
      graph('Handler runs', [
        m.search(metricNames.handlerRuns, ['Handler'], 'Sum'),
        ...fnMetrics((f) => f.function.metricInvocations({ period: Duration.minutes(1) })),
      ]),
      graph('Handler errors and throttles', [
        ...fnMetrics((f) => f.function.metricErrors({ period: Duration.minutes(1) })),
        ...fnMetrics((f) => f.function.metricThrottles({ period: Duration.minutes(1) })),
      ]),
      graph(
        'Handler duration p95 (ms)',
        fnMetrics((f) => f.function.metricDuration({ period: Duration.minutes(1), statistic: Stats.p(95) })),
      ),
      graph('Webhook API', [
        props.webhookApi.stage.metricCount({ period: Duration.minutes(1), statistic: Stats.SUM }),
        props.webhookApi.stage.metricClientError({ period: Duration.minutes(1), statistic: Stats.SUM }),
        props.webhookApi.stage.metricServerError({ period: Duration.minutes(1), statistic: Stats.SUM }),
      ]),
      graph('Webhook API latency p95 (ms)', [
        props.webhookApi.stage.metricLatency({ period: Duration.minutes(1), statistic: Stats.p(95) }),
      ]),
      graph('Undelivered EC2 events (dead letters)', [
        props.lifecycleDeadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      ]),
    );

    this.dashboard.addWidgets(
      graph(
        'Estimated cost by pool and kind (USD per hour)',
        [m.search(metricNames.estimatedCost, ['Pool', 'Kind'], 'Sum', { period: Duration.hours(1) })],
        { width: 24, stacked: true },
      ),
    );
    // One point a day per series (the cost report at 00:30 UTC): the top repositories plus `other`.
    this.dashboard.addWidgets(
      graph(
        'Daily cost by repository (US cents, top N + other)',
        [m.search(metricNames.dailyCostCents, ['Repository'], 'Maximum', { period: Duration.days(1) })],
        { width: 12, stacked: true },
      ),
      graph(
        'Daily cost by organization (US cents)',
        [m.search(metricNames.dailyCostCents, ['Organization'], 'Maximum', { period: Duration.days(1) })],
        { width: 12, stacked: true },
      ),
    );
  }
}
