/**
 * The daily cost report, on a schedule (00:30 UTC): attributes yesterday's usage (UTC) to repositories
 * and organizations and publishes it as the `CostReport` event and the `DailyCostCents` metric (see
 * scheduler/core/cost-report.ts). Invoked by hand with `{ "day": "YYYY-MM-DD" }` it reports that day
 * again (the event then repeats for the day: consumers key on `day`).
 *
 * Its own function rather than a step of the tuner or the reconciler: it runs once a day, reads a whole
 * day of jobs (tens of seconds for a large day, far past what a once-a-minute run may spend), and needs
 * only to read the store and the pool config and to publish — no EC2, no GitHub, no secrets. So its
 * composition root below builds just those adapters.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import middy from '@middy/core';
import { z } from 'zod';
import { DynamoDbPoolStore } from '../scheduler/adapters/dynamodb-pool-store.js';
import { EventBridgeEvents } from '../scheduler/adapters/eventbridge-events.js';
import { SsmConfigSource } from '../scheduler/adapters/ssm-config-source.js';
import { previousDay, publishCostReport, readCostReport } from '../scheduler/core/cost-report.js';
import type { CoreDeps } from '../scheduler/core/deps.js';
import type { ConfigSource } from '../scheduler/ports/config-source.js';
import { createLogger, EmfMetrics } from './observability.js';
import { type HandlerSettings, readSettings } from './settings.js';

/** What the report needs; a full ControlPlane (as the handler tests build) is one too. */
export interface ReportingPlane {
  readonly settings: Pick<HandlerSettings, 'COST_TOP_REPOSITORIES'>;
  readonly deps: Pick<CoreDeps, 'store' | 'clock' | 'metrics' | 'events'>;
  readonly configSource: ConfigSource;
  readonly logger: Logger;
}

const reportInput = z
  .object({
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a UTC day such as "2026-03-31"' })
      .optional(),
  })
  .strict();

export class CostReportInputError extends Error {
  override readonly name = 'CostReportInputError';
}

export interface CostReportResult {
  readonly day: string;
  readonly totalCents: number;
  readonly jobs: number;
  readonly repositories: number;
}

export function createCostReportHandler(plane: () => Promise<ReportingPlane>) {
  return middy<unknown, CostReportResult>().handler(async (event) => {
    const { deps, logger, configSource, settings } = await plane();
    deps.metrics.count('HandlerRuns', 1, { Handler: 'cost-report' });
    const parsed = reportInput.safeParse(event ?? {});
    if (!parsed.success)
      throw new CostReportInputError(
        `cost report input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
      );
    const day = parsed.data.day ?? previousDay(deps.clock.now());
    const config = await configSource.load();
    const report = await readCostReport(deps, config, { from: day, to: day });
    await publishCostReport(deps, report, { topRepositories: settings.COST_TOP_REPOSITORIES });
    const result = {
      day,
      totalCents: report.totals.costCents,
      jobs: report.totals.jobs,
      repositories: report.repositories.length,
    };
    logger.info('cost report published', {
      ...result,
      jobsWithoutUsage: report.jobsWithoutUsage,
      assumptions: report.assumptions,
    });
    return result;
  });
}

async function buildReportingPlane(settings: HandlerSettings): Promise<ReportingPlane> {
  const clock = { now: () => Date.now() };
  const aws = { region: settings.AWS_REGION };
  const metrics = new EmfMetrics('cost-report');
  return {
    settings,
    deps: {
      store: new DynamoDbPoolStore({
        client: new DynamoDBClient(aws),
        tableName: settings.TABLE_NAME,
        clock,
      }),
      clock,
      metrics,
      events: new EventBridgeEvents({
        client: new EventBridgeClient(aws),
        eventBusName: settings.EVENT_BUS_NAME,
        clock,
        onFailure: (failure) => metrics.count('EventPublishFailures', failure.count),
      }),
    },
    configSource: new SsmConfigSource({
      client: new SSMClient(aws),
      parameterName: settings.POOL_CONFIG_PARAMETER,
      clock,
    }),
    logger: createLogger('cost-report'),
  };
}

/** Built on first use, once per cold start; a failed build is retried by the next invocation. */
let built: Promise<ReportingPlane> | undefined;
const plane = () => {
  built ??= buildReportingPlane(readSettings(process.env)).catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
};
export const handler = createCostReportHandler(plane);
