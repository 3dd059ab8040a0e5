/**
 * The alarms and the dashboard read the metrics the handlers write: emitted through the handlers' own
 * EmfMetrics, each record must land on exactly the series (namespace, metric name, dimension set and
 * values) that RunnerMetrics, and so every alarm, names. A renamed dimension or a changed service name on
 * either side fails here instead of leaving an alarm that never fires.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EmfMetrics } from '../../handlers/observability.js';
import { metricNames, RunnerMetrics } from '../../infra/observability/runner-metrics.js';

interface EmfRecord {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

/** The series an EMF record puts its metric on: namespace, name, and each dimension with its value. */
function seriesOf(record: EmfRecord) {
  const [directive] = record._aws.CloudWatchMetrics;
  if (directive === undefined) throw new Error('not an EMF record');
  const [dimensionSet] = directive.Dimensions;
  return {
    namespace: directive.Namespace,
    metricName: directive.Metrics[0]?.Name,
    dimensions: Object.fromEntries((dimensionSet ?? []).map((key) => [key, String(record[key])])),
  };
}

function emitted(): EmfRecord[] {
  return lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfRecord);
}

describe('metrics contract between the handlers and the alarms', () => {
  const namespace = 'WarmPoolRunners';
  const catalogue = new RunnerMetrics({ namespace });

  const cases: [string, (m: EmfMetrics) => void, Record<string, string>][] = [
    [
      metricNames.warmupFailures,
      (m) => m.count(metricNames.warmupFailures, 1, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [
      metricNames.poolTuningErrors,
      (m) => m.count(metricNames.poolTuningErrors, 1, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [metricNames.configRejections, (m) => m.count(metricNames.configRejections, 1), {}],
    [
      metricNames.pickupLatency,
      (m) => m.duration(metricNames.pickupLatency, 8_200, { Pool: 'linux-x64', Source: 'pool' }),
      { Pool: 'linux-x64', Source: 'pool' },
    ],
    [
      metricNames.poolReady,
      (m) => m.gauge(metricNames.poolReady, 3, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [
      metricNames.poolTarget,
      (m) => m.gauge(metricNames.poolTarget, 4, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [
      metricNames.stuckJobs,
      (m) => m.gauge(metricNames.stuckJobs, 1, { Pool: 'linux-arm64' }),
      { Pool: 'linux-arm64' },
    ],
    [
      metricNames.hotIdle,
      (m) => m.gauge(metricNames.hotIdle, 2, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [
      metricNames.pickups,
      (m) => m.count(metricNames.pickups, 1, { Pool: 'linux-x64', Tier: 'hot' }),
      { Pool: 'linux-x64', Tier: 'hot' },
    ],
    [
      metricNames.hotTierCost,
      (m) => m.gauge(metricNames.hotTierCost, 4.9, { Pool: 'linux-x64' }),
      { Pool: 'linux-x64' },
    ],
    [
      metricNames.handlerRuns,
      (m) => m.count(metricNames.handlerRuns, 1, { Handler: 'pool-tuner' }),
      { Handler: 'pool-tuner' },
    ],
    [
      metricNames.dailyCostCents,
      (m) => m.gauge(metricNames.dailyCostCents, 1_870, { Repository: 'acme/web' }),
      { Repository: 'acme/web' },
    ],
    [
      metricNames.dailyCostCents,
      (m) => m.gauge(metricNames.dailyCostCents, 3_900, { Organization: 'acme' }),
      { Organization: 'acme' },
    ],
  ];

  for (const [name, emit, dimensions] of cases)
    it(`${name} lands on the series the dashboard and alarms read`, () => {
      emit(new EmfMetrics('test', namespace));
      const records = emitted();
      expect(records).toHaveLength(1);
      const series = seriesOf(records[0] as EmfRecord);
      const expected = catalogue.metric(name as never, dimensions);
      expect(series).toEqual({
        namespace: expected.namespace,
        metricName: expected.metricName,
        dimensions: expected.dimensions,
      });
    });

  it('uses the namespace the deployment sets (POWERTOOLS_METRICS_NAMESPACE)', () => {
    vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'Acme/Runners');
    try {
      new EmfMetrics('test').count(metricNames.claims, 1, { Pool: 'p', Step: 'pool' });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(seriesOf(emitted()[0] as EmfRecord).namespace).toBe('Acme/Runners');
  });
});
