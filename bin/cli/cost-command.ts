/**
 * `runners cost`: a day's (or a range's) cost per repository and organization — from a running sandbox
 * (its GET /api/cost) or from a deployed control plane, read through the production adapters
 * (DynamoDbPoolStore, SsmConfigSource) and attributed by the same core the daily report runs. `--json`
 * prints the report itself, the same shape either way.
 */
import { DynamoDbPoolStore } from '../../scheduler/adapters/dynamodb-pool-store.js';
import {
  type CostReport,
  daysBetween,
  previousDay,
  readCostReport,
} from '../../scheduler/core/cost-report.js';
import { type AwsTargetOptions, describeEndpoint, dynamoDbClient, resolveAwsTarget } from './aws-target.js';
import { CliError, describeAwsError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { sandboxBase } from './sandbox-api.js';
import { loadConfig } from './status-command.js';
import { textTable } from './text-table.js';

export interface CostOptions extends AwsTargetOptions {
  readonly json?: boolean;
  readonly sandbox?: string;
  readonly day?: string;
  readonly from?: string;
  readonly to?: string;
  /** Rows of the repository table (the rest are summed as `other`). */
  readonly top?: number;
}

export interface CostCommandReport extends CostReport {
  readonly source:
    | { readonly kind: 'sandbox'; readonly url: string }
    | { readonly kind: 'aws'; readonly table: string };
}

/** The days asked for: `--day`, or `--from` [`--to`], or yesterday (UTC). */
export function costRange(options: CostOptions, now: number): { from: string; to: string } {
  if (options.day !== undefined && (options.from !== undefined || options.to !== undefined))
    throw new CliError('give either --day or --from/--to, not both', 2);
  if (options.to !== undefined && options.from === undefined) throw new CliError('--to needs --from', 2);
  const from = options.day ?? options.from ?? previousDay(now);
  const to = options.day ?? options.to ?? from;
  try {
    daysBetween(from, to);
  } catch (error) {
    throw new CliError((error as Error).message, 2, { cause: error });
  }
  return { from, to };
}

export async function costCommand(options: CostOptions, io: CliIo, now: number): Promise<number> {
  const range = costRange(options, now);
  const report =
    options.sandbox !== undefined
      ? await fromSandbox(options.sandbox, range, io)
      : await fromAws(options, range, io);
  io.out(
    options.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatCost(report, options.top ?? 20),
  );
  return 0;
}

async function fromSandbox(
  url: string,
  range: { from: string; to: string },
  io: CliIo,
): Promise<CostCommandReport> {
  const base = sandboxBase(url);
  const endpoint = `${base}/api/cost?from=${range.from}&to=${range.to}`;
  let response: Response;
  try {
    response = await io.fetch(endpoint, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new CliError(`cannot reach the sandbox at ${endpoint}; is \`npm start\` running?`, 1, {
      cause: error,
    });
  }
  const body = (await response.json().catch(() => undefined)) as
    | (CostReport & { error?: string })
    | undefined;
  if (!response.ok)
    throw new CliError(`${endpoint} answered HTTP ${response.status}${body?.error ? `: ${body.error}` : ''}`);
  if (body?.totals === undefined || !Array.isArray(body.repositories))
    throw new CliError(`${endpoint} did not answer with a cost report`);
  return { source: { kind: 'sandbox', url: base }, ...body };
}

async function fromAws(
  options: CostOptions,
  range: { from: string; to: string },
  io: CliIo,
): Promise<CostCommandReport> {
  const target = resolveAwsTarget(options, io.env);
  const clock = { now: () => Date.now() };
  io.err(`reading the pool config ${target.poolsParameter} (${describeEndpoint('SSM', target, io.env)})…\n`);
  const config = await loadConfig(target, io, clock);
  io.err(
    `reading completed jobs and usage from table ${target.table} (${describeEndpoint('DYNAMODB', target, io.env)})…\n`,
  );
  const store = new DynamoDbPoolStore({ client: dynamoDbClient(target), tableName: target.table, clock });
  try {
    return {
      source: { kind: 'aws', table: target.table },
      ...(await readCostReport({ store }, config, range)),
    };
  } catch (error) {
    throw describeAwsError(error, 'DynamoDB', `table ${target.table}`) ?? error;
  }
}

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const hours = (seconds: number) => (seconds === 0 ? '–' : `${(seconds / 3600).toFixed(2)} h`);

export function formatCost(report: CostCommandReport, top: number): string {
  const days = report.from === report.to ? report.from : `${report.from} to ${report.to}`;
  const where =
    report.source.kind === 'sandbox' ? `sandbox ${report.source.url}` : `table ${report.source.table}`;
  const out: string[] = [
    `Cost ${days} (UTC days) — ${where}`,
    `Total ${usd(report.totals.costCents)}: ${report.totals.jobs} jobs` +
      (report.jobsWithoutUsage > 0
        ? ` (+${report.jobsWithoutUsage} completed with no instance time booked)`
        : ''),
    '',
  ];
  const shown = report.repositories.slice(0, top);
  const rest = report.repositories.slice(top);
  const rows = [
    ...shown,
    ...(rest.length === 0
      ? []
      : [
          {
            repository: `other (${rest.length})`,
            organization: '',
            jobs: rest.reduce((n, r) => n + r.jobs, 0),
            instanceSeconds: {
              pool: rest.reduce((n, r) => n + r.instanceSeconds.pool, 0),
              spot: rest.reduce((n, r) => n + r.instanceSeconds.spot, 0),
              'on-demand': rest.reduce((n, r) => n + r.instanceSeconds['on-demand'], 0),
            },
            computeUsd: rest.reduce((n, r) => n + r.computeUsd, 0),
            overheadUsd: rest.reduce((n, r) => n + r.overheadUsd, 0),
            costCents: rest.reduce((n, r) => n + r.costCents, 0),
          },
        ]),
  ];
  if (rows.length === 0) out.push('No completed jobs with instance time in this range.');
  else
    out.push(
      textTable(rows, [
        { header: 'repository', value: (r) => r.repository },
        { header: 'jobs', value: (r) => r.jobs, align: 'right' },
        { header: 'pool', value: (r) => hours(r.instanceSeconds.pool), align: 'right' },
        { header: 'spot', value: (r) => hours(r.instanceSeconds.spot), align: 'right' },
        { header: 'on-demand', value: (r) => hours(r.instanceSeconds['on-demand']), align: 'right' },
        { header: 'runs $', value: (r) => r.computeUsd.toFixed(4), align: 'right' },
        { header: 'overhead $', value: (r) => r.overheadUsd.toFixed(4), align: 'right' },
        { header: 'cost', value: (r) => usd(r.costCents), align: 'right' },
      ]),
    );
  if (report.organizations.length > 0)
    out.push(
      '',
      textTable(report.organizations, [
        { header: 'organization', value: (o) => o.organization },
        { header: 'jobs', value: (o) => o.jobs, align: 'right' },
        { header: 'cost', value: (o) => usd(o.costCents), align: 'right' },
      ]),
    );
  if (report.totals.overhead.length > 0)
    out.push(
      '',
      `Pool overhead, shared by the pool's jobs in proportion to their instance time: ${report.totals.overhead
        .map((o) => `${o.category} $${o.usd.toFixed(4)}`)
        .join(', ')}`,
    );
  out.push('Prices: list prices (scheduler/core/prices.ts, docs/cost.md); cents by largest remainder.');
  for (const assumption of report.assumptions) out.push(`Assumed: ${assumption}`);
  return `${out.join('\n')}\n`;
}
