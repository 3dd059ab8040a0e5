/**
 * The pool store's single DynamoDB table, shared by the adapter, the CDK stack and the test peer so the
 * three cannot drift. Plain data, no SDK import: the infra code can read it without pulling a client.
 *
 * Items (every attribute of a record is stored under its own name, plus the keys below):
 * - instance  pk `INSTANCE#<id>`  sk `INSTANCE`
 * - job       pk `JOB#<id>`       sk `JOB`        (GitHub job id, a number)
 * - marker    pk `MARKER#<name>`  sk `MARKER`
 * - quota     pk `QUOTA#<pool>`   sk `<key>`      (`repo#owner/name`, `org#owner`, `day#<date>#repo#…`):
 *   `count` (N, changed by ADD under a condition), `updatedAt` (N), `waiting` (NS of job ids). One
 *   partition per pool: the reconciler reads a pool's counters with one base-table query, no index.
 * - usage     pk `USAGE#<day>`    sk `USAGE`      (a UTC day's overhead counters, `u|<pool>|<category>|
 *             <market>|<type>` seconds, each added to with `ADD`; see usage-counter.ts)
 * - counter   pk `COUNTER#<name>` sk `COUNTER`    (`counter`, a number changed only by atomic ADD)
 *
 * Indexes are sparse: an item carries an index's key attributes only while it belongs in it, so a
 * query reads exactly the items it wants and never filters.
 * - `ready-by-pool`: `readyPool` (the pool, set only while the instance is `ready`) × `stateChangedAt`.
 *   The claim path queries this and touches only claimable instances, longest-ready first.
 * - `live-instances`: `liveShard` (the constant `live`, set while the instance is not `terminated`)
 *   × `livePoolId` (`<pool>#<id>`; pool names cannot contain `#`). One partition answers both "live
 *   instances of a pool" (begins_with) and "every live instance" (the whole partition) without a
 *   scan. A single partition takes ~1,000 writes/s, far above a control plane's transition rate.
 *   The same index is the per-pool view of waiting jobs: a job of a pool carries `livePoolId`
 *   (`<pool>#<job id>`) from its creation and `liveShard` = `waiting` only while it is queued or
 *   provisioned, so "the jobs a pool's runners owe" is one bounded query on that pool's prefix rather
 *   than the whole backlog of every pool (no new index: CloudFormation adds one per table update).
 * - `jobs-by-state`: `jobState` (a job's state; instances do not carry it) × `updatedAt`, oldest first.
 *
 * TTL: `expiresAt`, epoch seconds, set on terminated instances and completed jobs. DynamoDB deletes
 * expired items lazily (typically within days), so readers treat an item past its TTL as absent.
 */

export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface IndexDesign {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly projection: 'ALL';
}

export const poolStoreTable = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  /** On-demand: traffic follows job bursts (matrix fan-outs), which provisioned capacity would throttle. */
  billingMode: 'PAY_PER_REQUEST',
  ttlAttribute: 'expiresAt',
  indexes: {
    readyByPool: {
      indexName: 'ready-by-pool',
      partitionKey: { name: 'readyPool', type: 'S' },
      sortKey: { name: 'stateChangedAt', type: 'N' },
      projection: 'ALL',
    },
    liveInstances: {
      indexName: 'live-instances',
      partitionKey: { name: 'liveShard', type: 'S' },
      sortKey: { name: 'livePoolId', type: 'S' },
      projection: 'ALL',
    },
    jobsByState: {
      indexName: 'jobs-by-state',
      partitionKey: { name: 'jobState', type: 'S' },
      sortKey: { name: 'updatedAt', type: 'N' },
      projection: 'ALL',
    },
  },
  /** The value of `liveShard` on every live instance. */
  liveShardValue: 'live',
  /** The value of `liveShard` on a job of a pool while it waits for a runner (queued, provisioned). */
  waitingShardValue: 'waiting',
  itemKeys: {
    instance: (id: string) => ({ pk: `INSTANCE#${id}`, sk: 'INSTANCE' }),
    job: (id: number) => ({ pk: `JOB#${id}`, sk: 'JOB' }),
    marker: (name: string) => ({ pk: `MARKER#${name}`, sk: 'MARKER' }),
    counter: (name: string) => ({ pk: `COUNTER#${name}`, sk: 'COUNTER' }),
    quota: (pool: string, key: string) => ({ pk: `QUOTA#${pool}`, sk: key }),
    usage: (day: string) => ({ pk: `USAGE#${day}`, sk: 'USAGE' }),
  },
} as const satisfies {
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly billingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
  readonly ttlAttribute: string;
  readonly indexes: { readonly [name: string]: IndexDesign };
  readonly liveShardValue: string;
  readonly waitingShardValue: string;
  readonly itemKeys: object;
};

/** Every attribute a key or index is defined on, deduplicated, as CreateTable and CDK want them. */
export function keyAttributeDefinitions(): KeyAttribute[] {
  const all: KeyAttribute[] = [poolStoreTable.partitionKey, poolStoreTable.sortKey];
  for (const index of Object.values(poolStoreTable.indexes)) all.push(index.partitionKey, index.sortKey);
  return [...new Map(all.map((a) => [a.name, a])).values()];
}
