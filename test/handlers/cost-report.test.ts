/**
 * The daily cost report handler as EventBridge Scheduler invokes it: a day of completed jobs and usage
 * counters in the store, the `CostReport` event and the `DailyCostCents` metric out — the metric checked
 * in the embedded-metric format CloudWatch reads.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CostReportInputError, createCostReportHandler } from '../../handlers/cost-report.js';
import { EmfMetrics } from '../../handlers/observability.js';
import type { CostMarket } from '../../scheduler/core/cost-usage.js';
import type { JobRecord } from '../../scheduler/core/types.js';
import type { InMemoryEvents } from '../../stand-ins/in-memory/in-memory-events.js';
import { type FakePlane, fakePlane, lambdaContext } from './support.js';

const day = Date.UTC(2026, 0, 5);

async function seed(plane: FakePlane, repositories: number): Promise<void> {
  let id = 1;
  for (let r = 0; r < repositories; r++)
    for (let j = 0; j <= r; j++) {
      const market: CostMarket = (['pool', 'spot', 'on-demand'] as const)[j % 3] ?? 'pool';
      const job: JobRecord = {
        id: id++,
        runId: 1,
        repository: { owner: r % 2 === 0 ? 'acme' : 'globex', name: `repo-${r}` },
        labels: ['self-hosted', 'k8s'],
        pool: 'k8s',
        state: 'completed',
        version: 1,
        phases: {},
        attempts: [],
        reprovisions: 0,
        deliveries: [],
        updatedAt: day + 3_600_000 + id,
        usage: {
          instanceId: `i-${id}`,
          pool: 'k8s',
          market,
          instanceType: 'm7i.large',
          seconds: 600,
          endedAt: day + 3_600_000,
        },
      };
      await plane.store.createJob(job);
    }
  // A job of the day before and one of the day after: not in the report.
  await plane.store.addUsage('2026-01-05', [
    { pool: 'k8s', category: 'warmup', market: 'pool', instanceType: 'm7i.large', seconds: 1_800 },
    { pool: 'k8s', category: 'storage', market: 'pool', instanceType: 'm7i.large', seconds: 86_400 },
  ]);
}

describe('cost report handler', () => {
  it("reports yesterday's cost: the event's repositories are the top N plus other, cents sum to the total", async () => {
    const plane = fakePlane({ COST_TOP_REPOSITORIES: '3' });
    await seed(plane, 6);
    plane.clock.set(day + 86_400_000 + 30 * 60_000); // 00:30 the next day
    const result = await createCostReportHandler(async () => plane)({}, lambdaContext);

    expect(result).toMatchObject({ day: '2026-01-05', jobs: 21, repositories: 6 });
    const [event] = (plane.deps.events as InMemoryEvents).ofType('CostReport');
    expect(event?.day).toBe('2026-01-05');
    expect(event?.repositories.map((r) => r.repository)).toEqual([
      'globex/repo-5',
      'acme/repo-4',
      'globex/repo-3',
      'other',
    ]);
    expect(event?.repositories.at(-1)?.jobs).toBe(6);
    expect(event?.repositories.reduce((n, r) => n + r.costCents, 0)).toBe(result.totalCents);
    expect(event?.organizations.reduce((n, r) => n + r.costCents, 0)).toBe(result.totalCents);
    expect(event?.instanceSeconds).toEqual({ pool: 9 * 600, spot: 7 * 600, 'on-demand': 5 * 600 });
    expect(event?.overhead.map((o) => o.category)).toEqual(['warmup', 'storage']);
    expect(result.totalCents).toBeGreaterThan(0);

    const gauges = plane.metrics.recorded.filter((m) => m.name === 'DailyCostCents');
    expect(gauges.filter((m) => m.dimensions.Repository !== undefined)).toHaveLength(4);
    expect(
      gauges.filter((m) => m.dimensions.Organization !== undefined).map((m) => m.dimensions.Organization),
    ).toEqual(expect.arrayContaining(['acme', 'globex']));
    expect(gauges.find((m) => Object.keys(m.dimensions).length === 0)?.value).toBe(result.totalCents);
  });

  it('reports a day asked for by hand, and refuses a malformed one before reading anything', async () => {
    const plane = fakePlane();
    await seed(plane, 2);
    const handler = createCostReportHandler(async () => plane);
    expect((await handler({ day: '2026-01-05' }, lambdaContext)).jobs).toBe(3);
    expect((await handler({ day: '2026-01-04' }, lambdaContext)).jobs).toBe(0);
    await expect(handler({ day: '5 Jan' }, lambdaContext)).rejects.toThrow(CostReportInputError);
    await expect(handler({ day: '2026-02-30' }, lambdaContext)).rejects.toThrow(/not a day/);
    await expect(handler({ days: 3 }, lambdaContext)).rejects.toThrow(CostReportInputError);
    expect((plane.deps.events as InMemoryEvents).ofType('CostReport')).toHaveLength(2);
  });
});

describe('cost metric in the embedded-metric format', () => {
  let printed: string[] = [];
  const write = process.stdout.write;
  beforeEach(() => {
    printed = [];
    process.stdout.write = ((chunk: unknown) => {
      printed.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
  });
  afterEach(() => {
    process.stdout.write = write;
  });

  it('names at most N repositories plus other, each organization, and the total', async () => {
    const base = fakePlane({ COST_TOP_REPOSITORIES: '2' });
    await seed(base, 5);
    const plane = {
      ...base,
      deps: { ...base.deps, metrics: new EmfMetrics('cost-report', 'TestNamespace') },
    };
    await createCostReportHandler(async () => plane)({ day: '2026-01-05' }, lambdaContext);
    process.stdout.write = write;

    const records = printed
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map(
        (line) =>
          JSON.parse(line) as Record<string, unknown> & {
            _aws: {
              CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
            };
          },
      )
      .filter((r) => r._aws.CloudWatchMetrics[0]?.Metrics[0]?.Name === 'DailyCostCents');
    const dimensionSets = records.map((r) => r._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? []);
    const repositories = records.filter((r) => 'Repository' in r).map((r) => r.Repository);
    expect(repositories).toEqual(['acme/repo-4', 'globex/repo-3', 'other']);
    expect(records.filter((r) => 'Organization' in r).map((r) => r.Organization)).toEqual(['acme', 'globex']);
    expect(records.every((r) => r._aws.CloudWatchMetrics[0]?.Namespace === 'TestNamespace')).toBe(true);
    for (const set of dimensionSets)
      expect(set.filter((d) => d === 'Repository' || d === 'Organization').length).toBeLessThanOrEqual(1);
    const total = records.find((r) => !('Repository' in r) && !('Organization' in r));
    const sum = records.filter((r) => 'Repository' in r).reduce((n, r) => n + Number(r.DailyCostCents), 0);
    expect(Number(total?.DailyCostCents)).toBe(sum);
  });
});
