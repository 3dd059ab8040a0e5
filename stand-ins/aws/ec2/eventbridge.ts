/**
 * The EventBridge events EC2 emits for what the emulator does, in the exact JSON AWS delivers them to a
 * rule's target (here: the lifecycle handler and the local sandbox).
 */
import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from 'aws-lambda';
import type { Ec2State } from './world.js';

export type Ec2EmulatorEvent =
  | {
      readonly kind: 'state-change';
      readonly instanceId: string;
      readonly state: Ec2State;
      readonly previousState: Ec2State | undefined;
      readonly at: number;
    }
  | { readonly kind: 'spot-interruption-warning'; readonly instanceId: string; readonly at: number }
  /**
   * CreateTags changed tags of an instance. AWS's tagging service publishes it as "Tag Change on
   * Resource" (source `aws.tag`, best-effort delivery) with the keys changed and every tag after the
   * change, for any tag change, not only ours.
   */
  | {
      readonly kind: 'tag-change';
      readonly instanceId: string;
      readonly changedKeys: readonly string[];
      readonly tags: Readonly<Record<string, string>>;
      /** The resource's tag version: one more per change. */
      readonly version: number;
      readonly at: number;
    };

export type StateChangeDetail = { 'instance-id': string; state: Ec2State };
export type SpotInterruptionDetail = { 'instance-id': string; 'instance-action': 'terminate' };
export type TagChangeDetail = {
  'changed-tag-keys': string[];
  service: 'ec2';
  'resource-type': 'instance';
  version: number;
  tags: Record<string, string>;
};
export type Ec2EventBridgeEvent =
  | EventBridgeEvent<'EC2 Instance State-change Notification', StateChangeDetail>
  | EventBridgeEvent<'EC2 Spot Instance Interruption Warning', SpotInterruptionDetail>
  | EventBridgeEvent<'Tag Change on Resource', TagChangeDetail>;

export interface EventEnvelope {
  readonly region?: string;
  readonly account?: string;
}

export function toEventBridgeEvent(
  event: Ec2EmulatorEvent,
  envelope: EventEnvelope = {},
): Ec2EventBridgeEvent {
  const region = envelope.region ?? 'us-east-1';
  const account = envelope.account ?? '123456789012';
  const common = {
    version: '0',
    id: randomUUID(),
    source: 'aws.ec2',
    account,
    // EventBridge times have second precision.
    time: new Date(Math.floor(event.at / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    region,
    resources: [`arn:aws:ec2:${region}:${account}:instance/${event.instanceId}`],
  };
  if (event.kind === 'tag-change')
    return {
      ...common,
      source: 'aws.tag',
      'detail-type': 'Tag Change on Resource',
      detail: {
        'changed-tag-keys': [...event.changedKeys],
        service: 'ec2',
        'resource-type': 'instance',
        version: event.version,
        tags: { ...event.tags },
      },
    };
  if (event.kind === 'state-change')
    return {
      ...common,
      'detail-type': 'EC2 Instance State-change Notification',
      detail: { 'instance-id': event.instanceId, state: event.state },
    };
  return {
    ...common,
    'detail-type': 'EC2 Spot Instance Interruption Warning',
    detail: { 'instance-id': event.instanceId, 'instance-action': 'terminate' },
  };
}
