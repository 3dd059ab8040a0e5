/**
 * DynamoDbPoolStore: the PoolStore port on one DynamoDB table (see dynamodb-table-design.ts).
 *
 * - Every state change is one UpdateItem whose condition checks the expected state and version and
 *   that the item has not expired, and which bumps the version. A failed condition is a race lost (or
 *   a missing item): one consistent GetItem tells `conflict` from `not-found`, because dynalite (the
 *   local peer) has no ReturnValuesOnConditionCheckFailure.
 * - The same UpdateItem keeps the sparse index attributes in step with the state (`readyPool` only
 *   while ready, `liveShard`/`livePoolId` until terminated, `jobState` always), so an index can never
 *   disagree with the item it points to.
 * - A job update has no expected state, only a version; its condition lists the states `to` may come
 *   from, so an illegal transition costs no extra read on the happy path and is diagnosed on failure.
 * - TTL: terminated instances and completed jobs get `expiresAt` (epoch seconds). DynamoDB deletes
 *   expired items lazily, so every read drops them and creates may overwrite them.
 * - Index queries are eventually consistent: `listReady` may still show an instance claimed a moment
 *   ago; the claim's conditional write then reports the conflict.
 * - Throttling and other transient errors are retried by the SDK client's retry strategy (configure
 *   `maxAttempts` on the client); whatever still fails becomes a `StoreError`.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { OverheadUsage } from '../core/cost-usage.js';
import {
  assertInstanceTransition,
  canTransitionJob,
  IllegalTransitionError,
  type JobState,
  jobStates,
} from '../core/lifecycle.js';
import type { InstanceRecord, JobRecord } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import {
  clearableInstanceFields,
  type InstanceTransition,
  type JobPage,
  type JobRangeQuery,
  type JobUpdate,
  type PoolStore,
  type QuotaCounter,
  type QuotaTake,
  type UsageTotals,
  type WriteResult,
} from '../ports/pool-store.js';
import { poolStoreTable } from './dynamodb-table-design.js';
import {
  decodeJobCursor,
  encodeJobCursor,
  parseUsageAttribute,
  usageAttribute,
  usageLines,
} from './usage-counter.js';

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export interface DynamoDbPoolStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Time for default timestamps and TTL; defaults to the system clock. */
  readonly clock?: Clock;
  /** How long a terminated instance or completed job is kept; default 7 days. */
  readonly retentionSeconds?: number;
}

type Item = Record<string, AttributeValue>;

const { indexes, itemKeys, liveShardValue, ttlAttribute } = poolStoreTable;
const readyPool = indexes.readyByPool.partitionKey.name;
const liveShard = indexes.liveInstances.partitionKey.name;
const livePoolId = indexes.liveInstances.sortKey.name;
const jobState = indexes.jobsByState.partitionKey.name;
const { waitingShardValue } = poolStoreTable;
const isWaiting = (state: JobState) => state === 'queued' || state === 'provisioned';
/** Attributes of an item that are keys or index copies, not record fields. */
const storageAttributes = new Set<string>([
  poolStoreTable.partitionKey.name,
  poolStoreTable.sortKey.name,
  readyPool,
  liveShard,
  livePoolId,
  jobState,
]);

export class DynamoDbPoolStore implements PoolStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly clock: Clock;
  private readonly retentionSeconds: number;

  constructor(options: DynamoDbPoolStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.retentionSeconds = options.retentionSeconds ?? 7 * 24 * 60 * 60;
  }

  async putInstance(record: InstanceRecord): Promise<'created' | 'exists'> {
    const index: Item = {};
    if (record.state === 'ready') index[readyPool] = { S: record.pool };
    if (record.state !== 'terminated') {
      index[liveShard] = { S: liveShardValue };
      index[livePoolId] = { S: `${record.pool}#${record.id}` };
    }
    return this.create('putInstance', { ...toItem(record), ...index, ...key(itemKeys.instance(record.id)) });
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const item = await this.read('getInstance', itemKeys.instance(id));
    return item && toInstance(item);
  }

  async transitionInstance(t: InstanceTransition): Promise<WriteResult<InstanceRecord>> {
    assertInstanceTransition(t.from, t.to);
    const clear = t.clear ?? [];
    for (const field of clear) {
      if (!clearableInstanceFields.includes(field))
        throw new TypeError(`cannot clear required attribute ${field}`);
      if (t.patch?.[field] !== undefined) throw new TypeError(`attribute ${field} is both set and cleared`);
    }

    const u = new UpdateBuilder();
    const { stateChangedAt, ...fields } = t.patch ?? {};
    for (const [field, value] of Object.entries(fields)) if (value !== undefined) u.set(field, value);
    u.set('stateChangedAt', stateChangedAt ?? this.clock.now());
    u.set('state', t.to);
    u.set('version', t.expectedVersion + 1);
    if (t.to === 'terminated' && t.patch?.expiresAt === undefined && !clear.includes('expiresAt')) {
      u.set(ttlAttribute, this.expiry());
    }
    for (const field of clear) u.remove(field);
    // Sparse indexes follow the state: only a ready instance is claimable, only a live one is listed.
    if (t.to === 'ready') u.copy(readyPool, 'pool');
    else u.remove(readyPool);
    if (t.to === 'terminated') u.remove(liveShard, livePoolId);

    // t0 A and B both list instance X at version 3; t1 A's write moves X to claimed, version 4;
    // t2 B's write finds version 4, fails, and B tries its next candidate instead of claiming X twice.
    const condition = [
      `attribute_exists(${u.name(poolStoreTable.partitionKey.name)})`,
      `${u.name('state')} = ${u.value(t.from)}`,
      `${u.name('version')} = ${u.value(t.expectedVersion)}`,
      this.notExpired(u),
    ];
    const updated = await this.update('transitionInstance', itemKeys.instance(t.id), u, condition);
    if (updated) return { kind: 'ok', record: toInstance(updated) };
    const current = await this.read('transitionInstance', itemKeys.instance(t.id));
    return current ? { kind: 'conflict' } : { kind: 'not-found' };
  }

  async listReady(pool: string, limit: number): Promise<InstanceRecord[]> {
    const { indexName, partitionKey } = indexes.readyByPool;
    const items = await this.query(
      'listReady',
      {
        IndexName: indexName,
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': partitionKey.name },
        ExpressionAttributeValues: { ':p': { S: pool } },
      },
      limit,
    );
    return items.map((item) => toInstance(item));
  }

  async listPoolInstances(pool: string): Promise<InstanceRecord[]> {
    const { indexName } = indexes.liveInstances;
    const items = await this.query('listPoolInstances', {
      IndexName: indexName,
      KeyConditionExpression: '#shard = :shard AND begins_with(#poolId, :prefix)',
      ExpressionAttributeNames: { '#shard': liveShard, '#poolId': livePoolId },
      ExpressionAttributeValues: { ':shard': { S: liveShardValue }, ':prefix': { S: `${pool}#` } },
    });
    return items.map((item) => toInstance(item));
  }

  async listLiveInstances(): Promise<InstanceRecord[]> {
    const items = await this.query('listLiveInstances', {
      IndexName: indexes.liveInstances.indexName,
      KeyConditionExpression: '#shard = :shard',
      ExpressionAttributeNames: { '#shard': liveShard },
      ExpressionAttributeValues: { ':shard': { S: liveShardValue } },
    });
    return items.map((item) => toInstance(item));
  }

  async createJob(record: JobRecord): Promise<'created' | 'exists'> {
    // A job of a pool carries its place in the pool's waiting view for good (`livePoolId`); only
    // `liveShard` comes and goes, so that an update need not know the pool.
    const waitingView: Item =
      record.pool === undefined
        ? {}
        : {
            [livePoolId]: { S: `${record.pool}#${record.id}` },
            ...(isWaiting(record.state) && { [liveShard]: { S: waitingShardValue } }),
          };
    return this.create('createJob', {
      ...toItem(record),
      [jobState]: { S: record.state },
      ...waitingView,
      ...key(itemKeys.job(record.id)),
    });
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    const item = await this.read('getJob', itemKeys.job(id));
    return item && toJob(item);
  }

  async updateJob(update: JobUpdate): Promise<WriteResult<JobRecord>> {
    const u = new UpdateBuilder();
    const { phases, updatedAt, ...fields } = update.patch ?? {};
    for (const [field, value] of Object.entries(fields)) if (value !== undefined) u.set(field, value);
    // Phases are merged one by one: a phase written by another event is never overwritten by omission.
    for (const [phase, value] of Object.entries(phases ?? {}))
      if (value !== undefined) u.set(['phases', phase], value);
    for (const field of update.clear ?? []) {
      if (fields[field] !== undefined) throw new TypeError(`attribute ${field} is both set and cleared`);
      u.remove(field);
    }
    if (update.attempts?.length) u.append('attempts', update.attempts);
    if (update.deliveryId !== undefined) u.append('deliveries', [update.deliveryId]);
    u.set('updatedAt', updatedAt ?? this.clock.now());
    u.set('version', update.expectedVersion + 1);
    if (update.to !== undefined) {
      u.set('state', update.to);
      u.set(jobState, update.to);
      // Waiting view: in while queued or provisioned (a job without a pool has no `livePoolId`, so
      // the shard alone never puts it in the index).
      if (isWaiting(update.to)) u.set(liveShard, waitingShardValue);
      else u.remove(liveShard);
      if (update.to === 'completed' && fields.expiresAt === undefined) u.set(ttlAttribute, this.expiry());
    }

    const condition = [
      `attribute_exists(${u.name(poolStoreTable.partitionKey.name)})`,
      `${u.name('version')} = ${u.value(update.expectedVersion)}`,
      this.notExpired(u),
    ];
    const to = update.to;
    const sources = to === undefined ? undefined : jobStates.filter((s) => canTransitionJob(s, to));
    if (sources) condition.push(`${u.name('state')} IN (${sources.map((s) => u.value(s)).join(', ')})`);
    // No state may precede `to` (e.g. `waiting`): the write cannot succeed, classify straight away.
    const updated =
      sources?.length === 0
        ? undefined
        : await this.update('updateJob', itemKeys.job(update.id), u, condition);
    if (updated) return { kind: 'ok', record: toJob(updated) };

    const current = await this.read('updateJob', itemKeys.job(update.id));
    if (!current) return { kind: 'not-found' };
    const job = toJob(current);
    if (job.version !== update.expectedVersion) return { kind: 'conflict' };
    if (to !== undefined && !canTransitionJob(job.state, to))
      throw new IllegalTransitionError('job', job.state, to);
    return { kind: 'conflict' };
  }

  async listJobs(state: JobState, limit?: number): Promise<JobRecord[]> {
    const { indexName, partitionKey } = indexes.jobsByState;
    const items = await this.query(
      'listJobs',
      {
        IndexName: indexName,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': partitionKey.name },
        ExpressionAttributeValues: { ':s': { S: state } },
      },
      limit,
    );
    return items.map((item) => toJob(item));
  }

  async listWaitingJobs(pool: string, limit?: number): Promise<JobRecord[]> {
    const items = await this.query(
      'listWaitingJobs',
      {
        IndexName: indexes.liveInstances.indexName,
        KeyConditionExpression: '#shard = :shard AND begins_with(#poolId, :prefix)',
        ExpressionAttributeNames: { '#shard': liveShard, '#poolId': livePoolId },
        ExpressionAttributeValues: { ':shard': { S: waitingShardValue }, ':prefix': { S: `${pool}#` } },
      },
      limit,
    );
    return items.map((item) => toJob(item));
  }

  async takeQuota(
    pool: string,
    key: string,
    limit: number,
    at: number,
    expiresAt?: number,
  ): Promise<QuotaTake> {
    // No write can make a zero limit pass: a counter never written would otherwise be created at 1.
    if (limit <= 0) return { kind: 'full', count: (await this.readQuota(pool, key))?.count ?? 0 };
    // t0 A and B both read 39 of 40; t1 A's ADD passes `count < 40` and makes it 40; t2 B's ADD finds
    // 40, fails its condition, and B's job waits: the last unit is taken once.
    const u = new UpdateBuilder();
    u.add('count', 1);
    u.set('updatedAt', at);
    if (expiresAt !== undefined) u.set(ttlAttribute, expiresAt);
    const count = u.name('count');
    const updated = await this.update('takeQuota', itemKeys.quota(pool, key), u, [
      `(attribute_not_exists(${count}) OR ${count} < ${u.value(limit)})`,
    ]);
    if (updated) return { kind: 'taken', count: Number(updated.count?.N ?? 0) };
    return { kind: 'full', count: (await this.readQuota(pool, key))?.count ?? 0 };
  }

  async chargeQuota(pool: string, key: string, at: number, expiresAt?: number): Promise<number> {
    const u = new UpdateBuilder();
    u.add('count', 1);
    u.set('updatedAt', at);
    if (expiresAt !== undefined) u.set(ttlAttribute, expiresAt);
    const updated = await this.update('chargeQuota', itemKeys.quota(pool, key), u, []);
    return Number(updated?.count?.N ?? 0);
  }

  async giveBackQuota(pool: string, key: string, at: number): Promise<QuotaCounter | undefined> {
    const u = new UpdateBuilder();
    u.add('count', -1);
    u.set('updatedAt', at);
    // Never below zero: a unit given back twice (a repair raced a release) is not a negative count.
    const updated = await this.update('giveBackQuota', itemKeys.quota(pool, key), u, [
      `${u.name('count')} > ${u.value(0)}`,
    ]);
    if (updated) return toQuota(pool, updated);
    return this.readQuota(pool, key);
  }

  async listQuotas(pool: string): Promise<QuotaCounter[]> {
    const { pk } = itemKeys.quota(pool, '');
    const items = await this.query('listQuotas', {
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': poolStoreTable.partitionKey.name },
      ExpressionAttributeValues: { ':pk': { S: pk } },
      ConsistentRead: true,
    });
    return items.map((item) => toQuota(pool, item));
  }

  async repairQuota(
    pool: string,
    key: string,
    seen: Pick<QuotaCounter, 'count' | 'updatedAt'> | undefined,
    count: number,
    at: number,
  ): Promise<'ok' | 'conflict'> {
    const u = new UpdateBuilder();
    u.set('count', count);
    u.set('updatedAt', at);
    const condition =
      seen === undefined
        ? [`attribute_not_exists(${u.name('count')})`]
        : [
            `${u.name('count')} = ${u.value(seen.count)}`,
            `${u.name('updatedAt')} = ${u.value(seen.updatedAt)}`,
          ];
    return (await this.update('repairQuota', itemKeys.quota(pool, key), u, condition)) ? 'ok' : 'conflict';
  }

  async waitOnQuota(pool: string, key: string, jobId: number): Promise<void> {
    const u = new UpdateBuilder();
    u.addToSet('waiting', jobId);
    await this.update('waitOnQuota', itemKeys.quota(pool, key), u, []);
  }

  async stopWaitingOnQuota(pool: string, key: string, jobId: number): Promise<void> {
    const u = new UpdateBuilder();
    u.deleteFromSet('waiting', jobId);
    // Only an item that exists: a DELETE on a missing item would create an empty counter.
    await this.update('stopWaitingOnQuota', itemKeys.quota(pool, key), u, [
      `attribute_exists(${u.name(poolStoreTable.partitionKey.name)})`,
    ]);
  }

  private async readQuota(pool: string, key: string): Promise<QuotaCounter | undefined> {
    const item = await this.read('readQuota', itemKeys.quota(pool, key));
    return item && toQuota(pool, item);
  }

  async listJobsUpdated(query: JobRangeQuery): Promise<JobPage> {
    const { indexName, partitionKey, sortKey } = indexes.jobsByState;
    const startKey = query.cursor === undefined ? undefined : decodeJobCursor(query.cursor);
    const pageSize = checkRange(query);
    if (query.to <= query.from) return { jobs: [] };
    try {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: indexName,
          // updatedAt is whole milliseconds: [from, to) is BETWEEN from AND to - 1.
          KeyConditionExpression: '#s = :s AND #u BETWEEN :from AND :last',
          ExpressionAttributeNames: { '#s': partitionKey.name, '#u': sortKey.name },
          ExpressionAttributeValues: {
            ':s': { S: query.state },
            ':from': { N: String(query.from) },
            ':last': { N: String(query.to - 1) },
          },
          ScanIndexForward: true,
          Limit: pageSize,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const jobs = (page.Items ?? []).filter((item) => !this.isExpired(item)).map((item) => toJob(item));
      return page.LastEvaluatedKey === undefined
        ? { jobs }
        : { jobs, cursor: encodeJobCursor(page.LastEvaluatedKey) };
    } catch (error) {
      throw storeError('listJobsUpdated', error);
    }
  }

  async addUsage(day: string, lines: readonly OverheadUsage[]): Promise<void> {
    const merged = usageLines(day, lines);
    // An UpdateExpression is at most 4 KB: a few dozen counters per call is well inside it.
    for (let i = 0; i < merged.length; i += 25) {
      const chunk = merged.slice(i, i + 25);
      const names: Record<string, string> = { '#ttl': ttlAttribute };
      const values: Record<string, AttributeValue> = { ':ttl': { N: String(this.expiry()) } };
      const adds = chunk.map((line, n) => {
        names[`#a${n}`] = usageAttribute(line);
        values[`:a${n}`] = { N: String(line.seconds) };
        return `#a${n} :a${n}`;
      });
      try {
        // t0 the lifecycle handler and the webhook both end an instance of the pool; ADD sums both.
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: key(itemKeys.usage(day)),
            UpdateExpression: `ADD ${adds.join(', ')} SET #ttl = if_not_exists(#ttl, :ttl)`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        throw storeError('addUsage', error);
      }
    }
  }

  async getUsage(day: string): Promise<UsageTotals> {
    usageLines(day, []);
    const item = await this.read('getUsage', itemKeys.usage(day));
    if (item === undefined) return [];
    const lines: OverheadUsage[] = [];
    for (const [name, value] of Object.entries(item)) {
      const parsed = parseUsageAttribute(name, Number(value.N));
      if (parsed !== undefined) lines.push(parsed);
    }
    return usageLines(day, lines);
  }

  async getMarker(name: string): Promise<string | undefined> {
    const item = await this.read('getMarker', itemKeys.marker(name));
    return item?.value?.S;
  }

  async putMarker(name: string, value: string): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...key(itemKeys.marker(name)), value: { S: value } },
        }),
      );
    } catch (error) {
      throw storeError('putMarker', error);
    }
  }

  async addToCounter(name: string, delta: number): Promise<number> {
    if (!Number.isInteger(delta)) throw new TypeError(`counter delta ${delta} is not an integer`);
    try {
      // ADD is atomic on one item: two racing adds both land, each returning a distinct value.
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(itemKeys.counter(name)),
          UpdateExpression: 'ADD #c :d',
          ExpressionAttributeNames: { '#c': 'counter' },
          ExpressionAttributeValues: { ':d': { N: String(delta) } },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const value = Attributes?.counter?.N;
      if (value === undefined) throw new StoreError('DynamoDB addToCounter returned no counter');
      return Number(value);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw storeError('addToCounter', error);
    }
  }

  /** PutItem unless a live item holds the key; an expired one still awaiting deletion is replaced. */
  private async create(operation: string, item: Item): Promise<'created' | 'exists'> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk) OR #ttl < :now',
          ExpressionAttributeNames: { '#pk': poolStoreTable.partitionKey.name, '#ttl': ttlAttribute },
          ExpressionAttributeValues: { ':now': { N: String(this.nowSeconds()) } },
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw storeError(operation, error);
    }
  }

  /** A consistent read; an expired item reads as absent. */
  private async read(operation: string, itemKey: Record<string, string>): Promise<Item | undefined> {
    try {
      const { Item: item } = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: key(itemKey), ConsistentRead: true }),
      );
      return item && !this.isExpired(item) ? item : undefined;
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  /** The updated item, or undefined when the condition failed. */
  private async update(
    operation: string,
    itemKey: Record<string, string>,
    u: UpdateBuilder,
    conditions: readonly string[],
  ): Promise<Item | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(itemKey),
          UpdateExpression: u.expression(),
          ...(conditions.length > 0 && { ConditionExpression: conditions.join(' AND ') }),
          ExpressionAttributeNames: u.names,
          ExpressionAttributeValues: u.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!Attributes) throw new StoreError(`DynamoDB ${operation} returned no attributes`);
      return Attributes;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      if (error instanceof StoreError) throw error;
      throw storeError(operation, error);
    }
  }

  /** Pages through an index query, dropping expired items, until `limit` items or the end. */
  private async query(
    operation: string,
    input: Omit<QueryCommandInput, 'TableName'>,
    limit?: number,
  ): Promise<Item[]> {
    const found: Item[] = [];
    if (limit !== undefined && limit <= 0) return found;
    let startKey: Item | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - found.length;
      try {
        const page = await this.client.send(
          new QueryCommand({
            ...input,
            TableName: this.tableName,
            ScanIndexForward: true,
            ...(remaining === undefined ? {} : { Limit: remaining }),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
        for (const item of page.Items ?? []) if (!this.isExpired(item)) found.push(item);
        startKey = page.LastEvaluatedKey;
      } catch (error) {
        throw storeError(operation, error);
      }
    } while (startKey && (limit === undefined || found.length < limit));
    return found;
  }

  private notExpired(u: UpdateBuilder): string {
    const ttl = u.name(ttlAttribute);
    return `(attribute_not_exists(${ttl}) OR ${ttl} >= ${u.value(this.nowSeconds())})`;
  }

  /** DynamoDB's rule: an item is expired once its TTL (epoch seconds) is below the current time. */
  private isExpired(item: Item): boolean {
    const ttl = item[ttlAttribute]?.N;
    return ttl !== undefined && Number(ttl) < this.nowSeconds();
  }

  private nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  private expiry(): number {
    return this.nowSeconds() + this.retentionSeconds;
  }
}

/** Builds an UpdateExpression with placeholders for every name and value, so reserved words are safe. */
class UpdateBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  private readonly adds: string[] = [];
  private readonly deletes: string[] = [];
  private readonly nameIds = new Map<string, string>();
  private valueCount = 0;

  name(attribute: string): string {
    let id = this.nameIds.get(attribute);
    if (!id) {
      id = `#n${this.nameIds.size}`;
      this.nameIds.set(attribute, id);
      this.names[id] = attribute;
    }
    return id;
  }

  value(value: unknown): string {
    const id = `:v${this.valueCount++}`;
    this.values[id] = toAttribute(value);
    return id;
  }

  set(path: string | readonly string[], value: unknown): void {
    this.sets.push(`${this.path(path)} = ${this.value(value)}`);
  }

  copy(target: string, source: string): void {
    this.sets.push(`${this.name(target)} = ${this.name(source)}`);
  }

  append(list: string, items: readonly unknown[]): void {
    const path = this.name(list);
    this.sets.push(`${path} = list_append(${path}, ${this.value(items)})`);
  }

  /** `ADD n :v`: atomic in DynamoDB, and a missing attribute counts as zero. */
  add(attribute: string, amount: number): void {
    this.adds.push(`${this.name(attribute)} ${this.value(amount)}`);
  }

  addToSet(attribute: string, member: number): void {
    this.adds.push(`${this.name(attribute)} ${this.numberSet(member)}`);
  }

  deleteFromSet(attribute: string, member: number): void {
    this.deletes.push(`${this.name(attribute)} ${this.numberSet(member)}`);
  }

  private numberSet(member: number): string {
    const id = `:v${this.valueCount++}`;
    this.values[id] = { NS: [String(member)] };
    return id;
  }

  remove(...attributes: string[]): void {
    for (const attribute of attributes) this.removes.push(this.name(attribute));
  }

  expression(): string {
    const parts: string[] = [];
    if (this.sets.length) parts.push(`SET ${this.sets.join(', ')}`);
    if (this.removes.length) parts.push(`REMOVE ${this.removes.join(', ')}`);
    if (this.adds.length) parts.push(`ADD ${this.adds.join(', ')}`);
    if (this.deletes.length) parts.push(`DELETE ${this.deletes.join(', ')}`);
    return parts.join(' ');
  }

  private path(path: string | readonly string[]): string {
    return typeof path === 'string' ? this.name(path) : path.map((p) => this.name(p)).join('.');
  }
}

function checkRange(query: JobRangeQuery): number {
  const pageSize = query.pageSize ?? 500;
  if (!Number.isSafeInteger(query.from) || !Number.isSafeInteger(query.to))
    throw new RangeError(`listJobsUpdated: from and to must be whole epoch milliseconds`);
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    throw new RangeError(`listJobsUpdated: pageSize ${pageSize} is not between 1 and 1000`);
  return pageSize;
}

function key(itemKey: Record<string, string>): Item {
  return Object.fromEntries(Object.entries(itemKey).map(([k, v]) => [k, { S: v }]));
}

function toItem(record: object): Item {
  const item: Item = {};
  for (const [field, value] of Object.entries(record))
    if (value !== undefined) item[field] = toAttribute(value);
  return item;
}

// The table holds only what toItem wrote from typed records, so the shape is known.
function toInstance(item: Item): InstanceRecord {
  return fromItem(item) as unknown as InstanceRecord;
}

function toJob(item: Item): JobRecord {
  return fromItem(item) as unknown as JobRecord;
}

function fromItem(item: Item): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(item)) {
    if (!storageAttributes.has(field)) record[field] = fromAttribute(value);
  }
  return record;
}

/** Records hold strings, numbers, booleans, lists and maps; arrays are lists (order matters). */
function toAttribute(value: unknown): AttributeValue {
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot store the number ${value}`);
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    case 'object':
      if (value === null) return { NULL: true };
      if (Array.isArray(value)) return { L: value.map(toAttribute) };
      return { M: toItem(value) };
    default:
      throw new TypeError(`cannot store a value of type ${typeof value}`);
  }
}

function fromAttribute(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.L !== undefined) return value.L.map(fromAttribute);
  if (value.M !== undefined) {
    return Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, fromAttribute(v)]));
  }
  if (value.NULL !== undefined) return null;
  throw new StoreError(`unsupported attribute type ${Object.keys(value).join(',')}`);
}

function toQuota(pool: string, item: Item): QuotaCounter {
  return {
    pool,
    key: item.sk?.S ?? '',
    count: Number(item.count?.N ?? 0),
    waiting: (item.waiting?.NS ?? []).map(Number).sort((a, b) => a - b),
    updatedAt: Number(item.updatedAt?.N ?? 0),
  };
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

function storeError(operation: string, cause: unknown): StoreError {
  const name = cause instanceof Error ? cause.name : 'unknown error';
  return new StoreError(`DynamoDB ${operation} failed: ${name}`, { cause });
}
