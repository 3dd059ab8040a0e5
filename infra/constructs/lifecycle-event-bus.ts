/**
 * LifecycleEventBus: the project's EventBridge bus. The control plane publishes every lifecycle step on it
 * (job provisioned, fallback taken, instance recycled, orphan reaped, pool resized …) so other teams can
 * subscribe with their own rules — audit, chat notifications, cost reports — without touching the
 * control plane. An archive keeps the events for replay into a new subscriber.
 */
import { Duration } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { eventSource } from '../../scheduler/adapters/eventbridge-events.js';

export interface LifecycleEventBusProps {
  readonly project: string;
  /** Days the archive keeps events for replay. @default 14 */
  readonly archiveRetentionDays?: number;
}

export class LifecycleEventBus extends Construct {
  readonly bus: EventBus;

  constructor(scope: Construct, id: string, props: LifecycleEventBusProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${props.project}-lifecycle`,
      description: 'Warm-pool runner lifecycle events (job provisioned, fallback taken, instance recycled …)',
    });
    this.bus.archive('Archive', {
      description: 'Lifecycle events kept for replay',
      eventPattern: { source: [eventSource] },
      retention: Duration.days(props.archiveRetentionDays ?? 14),
    });
  }
}
