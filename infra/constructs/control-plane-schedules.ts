/**
 * ControlPlaneSchedules: EventBridge Scheduler runs the pool tuner every minute and the reconciler every
 * 30 s. Scheduler's finest rate is one minute, so the reconciler is invoked every minute and asked for
 * two passes 30 s apart (see handlers/reconciler.ts). A tick is only worth running on time and only once:
 * the scheduler does not retry a delivery, and the functions neither retry a failed run nor run twice at
 * once (ControlPlaneFunction's `singleRun`), so a tick that could not run is dropped and the next one does
 * the same work — a retried or overlapping tuner run could launch the same instances twice.
 */
import { Aws, type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** Two reconciler passes per one-minute tick: a reconciler every 30 s. */
export const reconcilerPasses = { passes: 2, intervalSeconds: 30 } as const;

export interface ControlPlaneSchedulesProps {
  readonly project: string;
  readonly poolTuner: IFunction;
  readonly reconciler: IFunction;
  readonly costReport: IFunction;
}

export class ControlPlaneSchedules extends Construct {
  readonly poolTuner: Schedule;
  readonly reconciler: Schedule;
  readonly costReport: Schedule;

  readonly role: Role;

  constructor(scope: Construct, id: string, props: ControlPlaneSchedulesProps) {
    super(scope, id);
    // One role for the schedules: invoke these functions, only for schedules of this account.
    this.role = new Role(this, 'InvokeRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: `${props.project}: EventBridge Scheduler invokes the pool tuner, the reconciler and the cost report`,
    });
    this.poolTuner = new Schedule(this, 'PoolTuner', {
      scheduleName: `${props.project}-pool-tuner`,
      description: 'Converge warm pools to their target size',
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      target: new LambdaInvoke(props.poolTuner, {
        role: this.role,
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
      }),
    });
    this.reconciler = new Schedule(this, 'Reconciler', {
      scheduleName: `${props.project}-reconciler`,
      description:
        'Every 30 s: reprovision pending jobs, release stuck claims, reap orphans, redeliver failed webhooks, refill hot tiers',
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      target: new LambdaInvoke(props.reconciler, {
        role: this.role,
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
        input: ScheduleTargetInput.fromObject(reconcilerPasses),
      }),
    });
    // 00:30 UTC: yesterday's jobs have completed and their instances have ended (booked) by then.
    this.costReport = new Schedule(this, 'CostReport', {
      scheduleName: `${props.project}-cost-report`,
      description:
        "Publish yesterday's cost per repository and organization (CostReport event, DailyCostCents)",
      schedule: ScheduleExpression.cron({ minute: '30', hour: '0' }),
      target: new LambdaInvoke(props.costReport, {
        role: this.role,
        retryAttempts: 0,
        maxEventAge: Duration.hours(1),
        // An empty object: the handler then reports yesterday (a `day` would report that day).
        input: ScheduleTargetInput.fromObject({}),
      }),
    });
    for (const fn of [props.poolTuner, props.reconciler, props.costReport]) {
      const functionId = Stack.of(this).getLogicalId(fn.node.defaultChild as CfnElement);
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
        reason: 'Invoke permission on the function and its versions, as granted by the Lambda target.',
      });
    }
  }
}
