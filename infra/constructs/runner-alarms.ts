/**
 * RunnerAlarms: the alarms an on-call engineer needs, published to one SNS topic.
 *   - per pool: warm-pool pickup latency p95 over the threshold (source `pool`: the path the pool exists
 *     for; fallback launches are slower by design and show on the dashboard);
 *   - per pool: no ready instance while the pool's target is positive, for N consecutive minutes;
 *   - per pool: warm-ups that keep failing (the agent's reason tag), and a pool the tuner keeps failing on;
 *   - a pool config rejected as invalid (the last good one stays in use until it is fixed);
 *   - jobs stuck without a runner (any pool, including pools added at runtime: a Metrics Insights query);
 *   - handler errors and throttles, per function; webhook API 5xx;
 *   - webhook deliveries rejected with 401 (a wrong or missing signature: a webhook secret that differs
 *     between the App and the deployment, or someone probing the endpoint);
 *   - the pool tuner or the reconciler not running (their schedules stopped, or the functions fail to start);
 *   - EC2 events the lifecycle handler could not take (dead letters).
 * The topic is encrypted with its own KMS key, which CloudWatch may use (the AWS-managed SNS key does
 * not allow CloudWatch alarms to publish).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IAlarm,
  MathExpression,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { metricNames, type RunnerMetrics } from '../observability/runner-metrics.js';
import type { ControlPlaneFunction } from './control-plane-function.js';
import type { WebhookApi } from './webhook-api.js';

export interface RunnerAlarmsProps {
  readonly project: string;
  readonly metrics: RunnerMetrics;
  readonly poolNames: readonly string[];
  readonly functions: readonly ControlPlaneFunction[];
  readonly poolTuner: ControlPlaneFunction;
  readonly reconciler: ControlPlaneFunction;
  readonly webhookApi: WebhookApi;
  readonly lifecycleDeadLetters: IQueue;
  readonly emails: readonly string[];
  readonly pickupLatencyP95Seconds: number;
  readonly poolEmptyMinutes: number;
  readonly stuckJobs: number;
  readonly handlerErrors: number;
  /** This many deliveries rejected with 401 within 5 minutes raises an alarm. */
  readonly rejectedWebhooks: number;
}

export class RunnerAlarms extends Construct {
  readonly topic: Topic;
  readonly alarms: IAlarm[] = [];

  constructor(scope: Construct, id: string, props: RunnerAlarmsProps) {
    super(scope, id);
    const m = props.metrics;
    const key = new Key(this, 'TopicKey', {
      description: `${props.project} alarm topic`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'Topic', {
      topicName: `${props.project}-alarms`,
      displayName: `${props.project} warm-pool runners`,
      masterKey: key,
      enforceSSL: true,
    });
    for (const email of props.emails) this.topic.addSubscription(new EmailSubscription(email));
    const action = new SnsAction(this.topic);
    const add = (alarm: Alarm) => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
      return alarm;
    };

    for (const pool of props.poolNames) {
      add(
        new Alarm(this, `PickupLatency-${pool}`, {
          alarmName: `${props.project}-${pool}-pickup-latency-p95`,
          alarmDescription:
            `Warm-pool jobs of pool "${pool}" take over ${props.pickupLatencyP95Seconds} s (p95) from queued to ` +
            'running. Check the dashboard phases: webhook delivery, claim, start, boot, pickup.',
          metric: m.metric(
            metricNames.pickupLatency,
            { Pool: pool, Source: 'pool' },
            { statistic: Stats.p(95), period: Duration.minutes(5) },
          ),
          threshold: props.pickupLatencyP95Seconds * 1000,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new Alarm(this, `PoolEmpty-${pool}`, {
          alarmName: `${props.project}-${pool}-pool-empty`,
          alarmDescription:
            `Pool "${pool}" has had no ready instance for ${props.poolEmptyMinutes} min while its target is ` +
            'above zero: jobs fall back to spot/on-demand (slow). Raise the pool size or check capacity errors.',
          metric: new MathExpression({
            expression: 'IF(target > 0 AND ready == 0, 1, 0)',
            usingMetrics: {
              target: m.metric(metricNames.poolTarget, { Pool: pool }, { statistic: Stats.MAXIMUM }),
              ready: m.metric(metricNames.poolReady, { Pool: pool }, { statistic: Stats.MAXIMUM }),
            },
            period: Duration.minutes(1),
            label: `${pool} empty`,
          }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: props.poolEmptyMinutes,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new Alarm(this, `WarmupFailures-${pool}`, {
          alarmName: `${props.project}-${pool}-warm-up-failures`,
          alarmDescription:
            `Instances of pool "${pool}" keep failing their warm-up (3+ in 30 min) and are retired: the pool ` +
            'cannot fill. See the instance console output and the `wpr:agent-reason` in the reconciler logs; ' +
            'often a broken image or an unreachable image registry.',
          metric: m.metric(
            metricNames.warmupFailures,
            { Pool: pool },
            { statistic: Stats.SUM, period: Duration.minutes(30) },
          ),
          threshold: 3,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new Alarm(this, `TuningErrors-${pool}`, {
          alarmName: `${props.project}-${pool}-tuning-errors`,
          alarmDescription:
            `The pool tuner failed on pool "${pool}" in 5 consecutive runs (the other pools are still tuned). ` +
            'The pool tuner logs name the problem: an image parameter missing, a volume smaller than the image, ' +
            'EC2 refusing the launch.',
          metric: m.metric(metricNames.poolTuningErrors, { Pool: pool }, { statistic: Stats.SUM }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 5,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    add(
      new Alarm(this, 'ConfigRejections', {
        alarmName: `${props.project}-pool-config-rejected`,
        alarmDescription:
          'The pool config parameter holds a document that fails validation; the control plane serves the last ' +
          'good one. Fix it with `runners pools validate` / `runners pools apply`.',
        metric: m.metric(
          metricNames.configRejections,
          {},
          { statistic: Stats.SUM, period: Duration.minutes(5) },
        ),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    add(
      new Alarm(this, 'StuckJobs', {
        alarmName: `${props.project}-stuck-jobs`,
        alarmDescription:
          `At least ${props.stuckJobs} job(s) in one pool have waited for a runner past the pending timeout. ` +
          'See the reconciler logs and the Fallbacks / CapacityErrors graphs.',
        metric: m.maxAcross(metricNames.stuckJobs, ['Pool'], Duration.minutes(5)),
        threshold: props.stuckJobs,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    for (const fn of props.functions)
      add(
        new Alarm(this, `Errors-${fn.node.id}`, {
          alarmName: `${fn.functionName}-errors`,
          alarmDescription: `${fn.functionName} failed ${props.handlerErrors}+ times in 5 minutes.`,
          metric: fn.function.metricErrors({ period: Duration.minutes(5), statistic: Stats.SUM }),
          threshold: props.handlerErrors,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );

    for (const fn of props.functions)
      add(
        new Alarm(this, `Throttles-${fn.node.id}`, {
          alarmName: `${fn.functionName}-throttles`,
          alarmDescription:
            `${fn.functionName} was throttled: the account's Lambda concurrency (or this function's reserved ` +
            'concurrency) is exhausted, so webhooks fail or scheduled runs are skipped.',
          metric: fn.function.metricThrottles({ period: Duration.minutes(5), statistic: Stats.SUM }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );

    add(
      new Alarm(this, 'WebhooksUnauthorized', {
        alarmName: `${props.project}-webhook-401`,
        alarmDescription:
          `${props.rejectedWebhooks}+ webhook deliveries in 5 minutes had a wrong or missing signature (401). ` +
          "If they come from GitHub, the App's webhook secret and the deployment's differ (docs/deploy.md, " +
          'rotating the webhook secret); otherwise someone is probing the endpoint.',
        metric: m.metric(
          metricNames.webhooksRejected,
          { Reason: '401' },
          { statistic: Stats.SUM, period: Duration.minutes(5) },
        ),
        threshold: props.rejectedWebhooks,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    add(
      new Alarm(this, 'WebhookServerErrors', {
        alarmName: `${props.project}-webhook-5xx`,
        alarmDescription:
          'The webhook endpoint answered GitHub with 5xx: those deliveries failed and wait for the reconciler to ' +
          'redeliver them.',
        metric: props.webhookApi.stage.metricServerError({
          period: Duration.minutes(5),
          statistic: Stats.SUM,
        }),
        threshold: props.handlerErrors,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    for (const [fn, minutes] of [
      [props.poolTuner, 5],
      [props.reconciler, 10],
    ] as const)
      add(
        new Alarm(this, `NotRunning-${fn.node.id}`, {
          alarmName: `${fn.functionName}-not-running`,
          alarmDescription: `${fn.functionName} has not run for ${minutes} minutes: check its schedule.`,
          metric: fn.function.metricInvocations({ period: Duration.minutes(minutes), statistic: Stats.SUM }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );

    add(
      new Alarm(this, 'LifecycleDeadLetters', {
        alarmName: `${props.project}-lifecycle-dead-letters`,
        alarmDescription:
          'EC2 events the lifecycle handler could not process are in its dead-letter queue; the reconciler will ' +
          'settle the instances, but the failures need a look.',
        metric: props.lifecycleDeadLetters.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: Stats.MAXIMUM,
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
