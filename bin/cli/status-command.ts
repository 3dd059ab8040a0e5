/**
 * `runners status`: pools against their target, live instances and jobs — from a running sandbox
 * (its GET /api/state) or from a deployed control plane, read through the production adapters
 * (DynamoDbPoolStore on the pool table, SsmConfigSource on the pool config), exactly as the handlers
 * read them. `--json` prints the same shape either way.
 */
import { DynamoDbPoolStore } from '../../scheduler/adapters/dynamodb-pool-store.js';
import { ConfigReadError, SsmConfigSource } from '../../scheduler/adapters/ssm-config-source.js';
import type { JobState } from '../../scheduler/core/lifecycle.js';
import { InvalidPoolConfigError, type PoolsConfig } from '../../scheduler/core/pool-config.js';
import {
  type AwsTarget,
  type AwsTargetOptions,
  describeEndpoint,
  dynamoDbClient,
  resolveAwsTarget,
  ssmClient,
} from './aws-target.js';
import { CliError, describeAwsError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { fetchSandboxState, sandboxBase } from './sandbox-api.js';
import { type ControlPlaneSnapshot, percentiles, readSnapshot } from './state-snapshot.js';
import { seconds, textTable } from './text-table.js';

export interface StatusOptions extends AwsTargetOptions {
  readonly json?: boolean;
  readonly sandbox?: string;
  /** Read completed jobs too (a deployed table keeps them for days). */
  readonly completed?: boolean;
}

/** What `status --json` prints. */
export interface StatusReport extends ControlPlaneSnapshot {
  readonly source:
    | { readonly kind: 'sandbox'; readonly url: string }
    | ({ readonly kind: 'aws' } & AwsTarget);
  /** Job states read; jobs in other states are not counted. */
  readonly jobStatesRead: readonly JobState[];
}

const activeStates: readonly JobState[] = ['waiting', 'queued', 'provisioned', 'running'];
const allStates: readonly JobState[] = [...activeStates, 'completed'];

export async function statusCommand(options: StatusOptions, io: CliIo): Promise<number> {
  const report =
    options.sandbox !== undefined ? await fromSandbox(options.sandbox, io) : await fromAws(options, io);
  io.out(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  return 0;
}

async function fromSandbox(url: string, io: CliIo): Promise<StatusReport> {
  const state = await fetchSandboxState(url, io);
  return {
    source: { kind: 'sandbox', url: sandboxBase(url) },
    now: state.now,
    pools: state.pools,
    instances: state.instances,
    jobs: state.jobs,
    jobCounts: state.jobCounts,
    // A sandbox from before quotas sends none.
    waitingOnQuota: state.waitingOnQuota ?? [],
    jobStatesRead: allStates,
  };
}

async function fromAws(options: StatusOptions, io: CliIo): Promise<StatusReport> {
  const target = resolveAwsTarget(options, io.env);
  const clock = { now: () => Date.now() };
  io.err(`reading the pool config ${target.poolsParameter} (${describeEndpoint('SSM', target, io.env)})…\n`);
  const config = await loadConfig(target, io, clock);
  const states = options.completed === true ? allStates : activeStates;
  io.err(
    `reading instances and jobs from table ${target.table} (${describeEndpoint('DYNAMODB', target, io.env)})…\n`,
  );
  const store = new DynamoDbPoolStore({ client: dynamoDbClient(target), tableName: target.table, clock });
  try {
    const snapshot = await readSnapshot(store, config, clock.now(), { jobStates: states });
    return { source: { kind: 'aws', ...target }, ...snapshot, jobStatesRead: states };
  } catch (error) {
    throw describeAwsError(error, 'DynamoDB', `table ${target.table}`) ?? error;
  }
}

export async function loadConfig(
  target: AwsTarget,
  io: CliIo,
  clock: { now(): number },
): Promise<PoolsConfig> {
  const source = new SsmConfigSource({
    client: ssmClient(target),
    parameterName: target.poolsParameter,
    clock,
  });
  try {
    return await source.load();
  } catch (error) {
    if (error instanceof InvalidPoolConfigError)
      throw new CliError(
        `the pool config ${target.poolsParameter} is invalid:\n  ${error.problems.join('\n  ')}`,
        1,
        { cause: error },
      );
    const described = describeAwsError(error, 'SSM', describeEndpoint('SSM', target, io.env));
    if (described !== undefined) throw described;
    if (error instanceof ConfigReadError) throw new CliError(error.message, 1, { cause: error });
    throw error;
  }
}

export function formatStatus(report: StatusReport): string {
  const where =
    report.source.kind === 'sandbox'
      ? `sandbox ${report.source.url}`
      : `table ${report.source.table}${report.source.region === undefined ? '' : ` in ${report.source.region}`}`;
  const out: string[] = [`Control plane — ${where}, at ${new Date(report.now).toISOString()}`, ''];

  out.push(
    textTable(report.pools, [
      { header: 'pool', value: (p) => p.name },
      { header: 'labels', value: (p) => p.labels.join(',') },
      { header: 'target', value: (p) => p.target, align: 'right' },
      { header: 'ready', value: (p) => p.ready, align: 'right' },
      { header: 'warming', value: (p) => p.warming, align: 'right' },
      { header: 'busy', value: (p) => p.busy, align: 'right' },
      { header: 'fallback', value: (p) => p.fallback, align: 'right' },
      { header: 'draining', value: (p) => p.draining, align: 'right' },
      { header: 'max', value: (p) => p.maximum, align: 'right' },
    ]),
    '',
  );

  const hot = report.pools.flatMap((p) => (p.hot === undefined ? [] : [{ name: p.name, ...p.hot }]));
  if (hot.length > 0)
    out.push(
      'Hot tier (registered idle runners)',
      textTable(hot, [
        { header: 'pool', value: (h) => h.name },
        { header: 'target', value: (h) => h.target, align: 'right' },
        { header: 'idle', value: (h) => h.idle, align: 'right' },
        { header: 'starting', value: (h) => h.starting, align: 'right' },
        { header: 'busy', value: (h) => h.busy, align: 'right' },
        { header: 'hits hot/warm/cold', value: (h) => `${h.hits.hot}/${h.hits.warm}/${h.hits.cold}` },
        { header: '$/day', value: (h) => h.usdPerDay.toFixed(2), align: 'right' },
        {
          header: 'spent today',
          value: (h) => (h.spentTodayUsd === undefined ? '' : `$${h.spentTodayUsd.toFixed(2)}`),
          align: 'right',
        },
      ]),
      '',
    );

  if (report.waitingOnQuota.length > 0)
    out.push(
      'Waiting on quotas (jobs stay queued until a unit frees)',
      textTable(report.waitingOnQuota, [
        { header: 'pool', value: (w) => w.pool },
        { header: 'quota', value: (w) => w.quota },
        { header: 'for', value: (w) => w.subject },
        { header: 'held/limit', value: (w) => `${w.held}/${w.limit}`, align: 'right' },
        { header: 'jobs', value: (w) => w.jobs, align: 'right' },
        { header: 'waiting', value: (w) => seconds(report.now - w.oldestSince), align: 'right' },
      ]),
      '',
    );

  out.push(`Instances (${report.instances.length} live)`);
  if (report.instances.length > 0)
    out.push(
      textTable(report.instances, [
        { header: 'instance', value: (i) => i.id },
        { header: 'pool', value: (i) => i.pool },
        { header: 'state', value: (i) => i.state },
        { header: 'type', value: (i) => i.instanceType },
        { header: 'zone', value: (i) => i.availabilityZone },
        { header: 'market', value: (i) => (i.role === 'pool' ? 'pool' : i.market) },
        { header: 'tier', value: (i) => i.tier ?? '' },
        { header: 'job', value: (i) => i.jobId },
      ]),
    );
  out.push('');

  const counts = report.jobStatesRead.map((s) => `${report.jobCounts[s]} ${s}`).join(' · ');
  const skipped = report.jobStatesRead.includes('completed') ? '' : ' (completed jobs not read: --completed)';
  out.push(`Jobs: ${counts}${skipped}`);
  const started = report.jobs.flatMap((j) =>
    j.latency.queuedToRunning === undefined ? [] : [j.latency.queuedToRunning],
  );
  const start = percentiles(started);
  if (start.count > 0)
    out.push(`Time to start: p50 ${seconds(start.p50)}, p95 ${seconds(start.p95)} over ${start.count} jobs`);
  const shown = report.jobs.slice(0, 15);
  if (shown.length > 0)
    out.push(
      '',
      textTable(shown, [
        { header: 'job', value: (j) => j.id },
        { header: 'repository', value: (j) => j.repository },
        { header: 'pool', value: (j) => j.pool ?? '(none)' },
        {
          header: 'state',
          value: (j) => (j.state === 'completed' ? (j.conclusion ?? 'completed') : j.state),
        },
        {
          header: 'runner',
          value: (j) => j.source ?? (j.quotaWait ? `waits: ${j.quotaWait.quota}` : undefined),
        },
        { header: 'tier', value: (j) => j.pickupTier ?? '' },
        { header: 'to start', value: (j) => seconds(j.latency.queuedToRunning), align: 'right' },
      ]),
    );
  if (report.jobs.length > shown.length)
    out.push(`… and ${report.jobs.length - shown.length} more (--json lists them)`);
  return `${out.join('\n')}\n`;
}
