/**
 * The control-plane benchmark at its smallest: 20 jobs through the sandbox stack and the real handlers.
 * Checks the report's shape, that no job ran twice and none was lost, and that the tracer's attribution
 * agrees with the peers' own logs. No timing is asserted: the figures are for reading, not for gating.
 */
import { describe, expect, it } from 'vitest';
import { deliveredStates } from '../../bench/control-plane/report.js';
import { runControlPlaneBench } from '../../bench/control-plane.js';
import { instanceStates } from '../../infra/constructs/instance-event-rules.js';

const figures = [
  'p50Ms',
  'p99Ms',
  'ownP50Ms',
  'ownP99Ms',
  'githubCallsPerJob',
  'ec2CallsPerJob',
  'dynamoWritesPerJob',
  'dynamoCallsPerJob',
  'ssmCallsPerJob',
  'conflictsPerClaim',
  'peakRssMb',
] as const;

describe('control-plane benchmark', () => {
  it('measures a tiny burst: every job runs once, on its own runner', async () => {
    const report = await runControlPlaneBench({ preset: 'tiny' });

    expect(report.jobs).toBe(20);
    expect(report.duplicates).toBe(0);
    expect(report.lost).toBe(0);
    for (const figure of figures) {
      expect(report[figure], figure).toBeTypeOf('number');
      expect(Number.isFinite(report[figure]), figure).toBe(true);
      expect(report[figure], figure).toBeGreaterThanOrEqual(0);
    }
    expect(report.ownP99Ms).toBeGreaterThan(0);
    expect(report.machine).toEqual({
      cpus: expect.any(Number),
      model: expect.any(String),
      node: process.version,
      loadAverage: expect.any(Number),
    });

    // Every job's queued webhook went through the real handler over HTTP and got its one runner.
    expect(report.webhook.queued?.count).toBe(20);
    expect(report.hotPath.outcomes).toEqual({ provisioned: 20 });
    expect(report.hotPath.operations.github?.['POST /orgs/acme/actions/runners/generate-jitconfig']).toBe(1);
    expect(report.serial.jobs).toBeGreaterThan(0);

    // What the handlers were seen to call is what the peers logged, less the agents' own requests; a
    // call that failed with no answer may not have reached the peer.
    for (const peer of ['github', 'ec2', 'dynamodb', 'eventBridge'] as const) {
      const { logged, attributed, unattributed, unanswered } = report.reconciliation[peer] ?? {};
      const sent = (attributed ?? Number.NaN) + (unattributed ?? Number.NaN);
      expect(logged, peer).toBeLessThanOrEqual(sent);
      expect(logged, peer).toBeGreaterThanOrEqual(sent - (unanswered ?? Number.NaN));
    }
    expect(report.goals.map((g) => g.goal)).toEqual([
      'GitHub calls per job, hot path',
      'EC2 calls per job, hot path',
      'DynamoDB writes per job, hot path',
      'DescribeInstances on the hot path',
      'webhook own time p99',
      'duplicate runners',
      'lost jobs',
    ]);
  }, 90_000);

  it('counts job life over the lifecycle events the deployed rule delivers', () => {
    expect([...deliveredStates].sort()).toEqual([...instanceStates].sort());
  });
});
