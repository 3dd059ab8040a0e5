/**
 * InstanceEventRules: the EC2 events that drive the lifecycle handler, from the account's default bus.
 * - State changes (running, stopped, shutting-down, terminated): a warming instance that stopped joins the
 *   pool, a job instance that stopped or is going away is recycled, `running` closes the boot phase.
 * - Spot interruption warnings (two minutes' notice): the job is marked so it can be re-run on on-demand;
 *   an idle hot runner is replaced at once.
 * - Rebalance recommendations (a spot instance at elevated risk, usually earlier than the warning): a
 *   spot instance with no job yet is replaced while that costs nothing.
 * - Tag changes of `wpr:job-started` on instances (source `aws.tag`): the instance agent's signal that its
 *   runner took a job, so the hot tier refills without waiting for GitHub's webhook.
 * EC2 events carry no tags, so every instance of the account and region is delivered; the handler ignores
 * instances the pool store does not know. Failed deliveries land in a dead-letter queue (alarmed).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { tagKeys } from '../../scheduler/adapters/tags.js';

export interface InstanceEventRulesProps {
  readonly handler: IFunction;
}

export const instanceStates = ['running', 'stopped', 'shutting-down', 'terminated'] as const;

export class InstanceEventRules extends Construct {
  readonly stateChanges: Rule;
  readonly spotInterruptions: Rule;
  readonly rebalanceRecommendations: Rule;
  readonly jobStarted: Rule;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: InstanceEventRulesProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge targets below.',
    });
    const target = new LambdaFunction(props.handler, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 8,
      // A state change older than this is stale: the reconciler has settled the instance by then.
      maxEventAge: Duration.hours(1),
    });
    this.stateChanges = new Rule(this, 'StateChanges', {
      description: 'EC2 instance state changes for the warm-pool lifecycle handler',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: [...instanceStates] },
      },
      targets: [target],
    });
    this.spotInterruptions = new Rule(this, 'SpotInterruptions', {
      description: 'EC2 spot interruption warnings for the warm-pool lifecycle handler',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Spot Instance Interruption Warning'] },
      targets: [target],
    });
    this.rebalanceRecommendations = new Rule(this, 'RebalanceRecommendations', {
      description: 'EC2 rebalance recommendations for spot instances, for the warm-pool lifecycle handler',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance Rebalance Recommendation'] },
      targets: [target],
    });
    this.jobStarted = new Rule(this, 'JobStarted', {
      description: 'Runner instances that report their runner took a job (hot tier refill)',
      eventPattern: {
        source: ['aws.tag'],
        detailType: ['Tag Change on Resource'],
        detail: {
          service: ['ec2'],
          'resource-type': ['instance'],
          'changed-tag-keys': [tagKeys.jobStarted],
        },
      },
      targets: [target],
    });
  }
}
