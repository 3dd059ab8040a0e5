/**
 * EC2 events from EventBridge: instance state-change notifications (a warming instance that stopped
 * is ready; a job instance that stopped is recycled; a hot runner that runs is idle), spot interruption
 * warnings (the instance is marked, so that its job can be re-run on on-demand capacity; an idle hot
 * runner is replaced), rebalance recommendations (a spot instance with no job yet is replaced early) and
 * tag changes of `wpr:job-started` (the instance's own agent says its runner took a job: it is busy and
 * the hot tier is refilled). Anything else is ignored and logged.
 *
 * State changes arrive for every instance of the region: the pool config is loaded only when the core
 * needs it, so another team's instance costs one store read.
 */
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { tagKeys } from '../scheduler/adapters/tags.js';
import { handleJobStarted } from '../scheduler/core/hot-tier.js';
import {
  type Ec2State,
  handleInstanceStateChange,
  handleRebalanceRecommendation,
  handleSpotInterruption,
} from '../scheduler/core/instance-events.js';
import { buildControlPlane, type ControlPlane, lazyControlPlane } from './control-plane.js';
import { readSettings } from './settings.js';

const stateChange = z.object({
  'instance-id': z.string().regex(/^i-[0-9a-f]+$/),
  state: z.enum(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']),
});
const spotWarning = z.object({ 'instance-id': z.string().regex(/^i-[0-9a-f]+$/) });
const tagChange = z.object({
  'changed-tag-keys': z.array(z.string()),
  service: z.literal('ec2'),
  'resource-type': z.literal('instance'),
  tags: z.record(z.string(), z.string()),
});
const instanceArn = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/(i-[0-9a-f]+)$/;
/** Time left for refilling the hot tier after the signal (the function's timeout is 60 s). */
const refillBudgetMs = 20_000;

export type Ec2Event = EventBridgeEvent<string, unknown>;

export function createLifecycleHandler(plane: () => Promise<ControlPlane>) {
  return middy<Ec2Event, { outcome: string }>().handler(async (event) => {
    const { deps, logger, configSource } = await plane();
    deps.metrics.count('HandlerRuns', 1, { Handler: 'lifecycle' });
    if (event['detail-type'] === 'EC2 Instance State-change Notification') {
      const detail = stateChange.safeParse(event.detail);
      if (!detail.success) return ignored(plane, 'malformed state-change detail');
      const at = Date.parse(event.time);
      const outcome = await handleInstanceStateChange(deps, () => configSource.load(), {
        instanceId: detail.data['instance-id'],
        state: detail.data.state as Ec2State,
        ...(Number.isNaN(at) ? {} : { at }),
      });
      logger.info('instance state change', {
        instanceId: detail.data['instance-id'],
        state: detail.data.state,
        ...outcome,
      });
      return { outcome: outcome.kind };
    }
    if (event['detail-type'] === 'EC2 Spot Instance Interruption Warning') {
      const detail = spotWarning.safeParse(event.detail);
      if (!detail.success) return ignored(plane, 'malformed spot warning detail');
      const config = await configSource.load();
      const outcome = await handleSpotInterruption(deps, detail.data['instance-id'], {
        config,
        deadline: deps.clock.now() + refillBudgetMs,
      });
      logger.warn('spot interruption warning', {
        instanceId: detail.data['instance-id'],
        outcome: outcome.kind,
      });
      return { outcome: outcome.kind };
    }
    if (event['detail-type'] === 'EC2 Instance Rebalance Recommendation') {
      const detail = spotWarning.safeParse(event.detail);
      if (!detail.success) return ignored(plane, 'malformed rebalance recommendation detail');
      const outcome = await handleRebalanceRecommendation(deps, detail.data['instance-id']);
      logger.info('rebalance recommendation', {
        instanceId: detail.data['instance-id'],
        outcome: outcome.kind,
      });
      return { outcome: outcome.kind };
    }
    if (event['detail-type'] === 'Tag Change on Resource' && event.source === 'aws.tag') {
      const detail = tagChange.safeParse(event.detail);
      if (!detail.success) return ignored(plane, 'malformed tag-change detail');
      // Every tag change of the account's instances arrives here; only the job-started signal matters.
      if (!detail.data['changed-tag-keys'].includes(tagKeys.jobStarted)) return { outcome: 'ignored' };
      const instanceId = instanceArn.exec(event.resources[0] ?? '')?.[1];
      if (instanceId === undefined) return ignored(plane, 'tag change without an instance ARN');
      const reported = Date.parse(detail.data.tags[tagKeys.jobStarted] ?? '');
      const at = Number.isNaN(reported) ? Date.parse(event.time) : reported;
      const config = await configSource.load();
      const outcome = await handleJobStarted(deps, config, {
        instanceId,
        at: Number.isNaN(at) ? deps.clock.now() : at,
        deadline: deps.clock.now() + refillBudgetMs,
      });
      logger.info('job started on instance', {
        instanceId,
        outcome: outcome.kind,
        ...(outcome.kind === 'marked-busy' && { refill: outcome.refill.kind }),
      });
      return { outcome: outcome.kind };
    }
    return ignored(plane, `detail-type ${event['detail-type']}`);
  });
}

async function ignored(plane: () => Promise<ControlPlane>, why: string): Promise<{ outcome: string }> {
  (await plane()).logger.warn('event ignored', { why });
  return { outcome: 'ignored' };
}

const plane = lazyControlPlane(() => buildControlPlane(readSettings(process.env), 'lifecycle'));
export const handler = createLifecycleHandler(plane);
