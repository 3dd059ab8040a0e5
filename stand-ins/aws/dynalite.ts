/**
 * dynalite in-process: a DynamoDB wire-protocol server on 127.0.0.1 with a free port and an in-memory
 * store. Tables are created from the same design constant the CDK stack uses.
 *
 * Gotchas: dynalite has no transactions, no ReturnValuesOnConditionCheckFailure and no TTL expiry
 * (UpdateTimeToLive is not even an operation), so TTL is not enabled here.
 *
 * Its global secondary indexes are updated with the table, atomically; DynamoDB's propagate
 * asynchronously (usually within a second), so an index query may still list an item as it was. With
 * `indexLagMs`, the peer is a proxy in front of dynalite that plays that lag (gsi-lag-proxy.ts): a
 * write becomes visible in index queries only `indexLagMs` after it succeeded; until then they show the
 * item as it was before (or not at all, if it was not in the index).
 */

import type { IncomingMessage, Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import { keyAttributeDefinitions, poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';
import { proxyHeader, startGsiLagProxy } from './gsi-lag-proxy.js';

interface DynaliteOptions {
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
}

// dynalite is CommonJS without type declarations.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => Server;

export interface DynalitePeer {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Creates a pool-store table (a fresh name unless given) and waits until it is ACTIVE. */
  createTable(name?: string): Promise<string>;
  /** Every request received, in arrival order (the operation from its X-Amz-Target header). */
  calls(operation?: string): DynamoCall[];
  /** Requests per operation. */
  callCounts(): Record<string, number>;
  close(): Promise<void>;
}

export interface DynamoCall {
  /** `PutItem`, `Query`, …; `(none)` for a request without X-Amz-Target. */
  readonly operation: string;
  /** Wall-clock arrival time (epoch ms). */
  readonly at: number;
}

/** The operations that write (what DynamoDB bills as write requests). */
export const dynamoWriteOperations: ReadonlySet<string> = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

let tableCount = 0;

export interface DynalitePeerOptions {
  /** How long a write takes to reach the global secondary indexes. Default 0 (dynalite's own: at once). */
  readonly indexLagMs?: number;
}

export async function startDynalite(options: DynalitePeerOptions = {}): Promise<DynalitePeer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Counted from the request headers only, so dynalite's own handling is untouched.
  const log: DynamoCall[] = [];
  server.on('request', (req: IncomingMessage) => {
    if (req.headers[proxyHeader] !== undefined) return; // the lag proxy's own bookkeeping
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' ? (target.split('.')[1] ?? target) : '(none)';
    log.push({ operation, at: Date.now() });
  });
  const { port } = server.address() as AddressInfo;
  const direct = `http://127.0.0.1:${port}`;
  const proxy =
    options.indexLagMs !== undefined && options.indexLagMs > 0
      ? await startGsiLagProxy(direct, options.indexLagMs)
      : undefined;
  const endpoint = proxy?.endpoint ?? direct;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });

  return {
    endpoint,
    client,
    async createTable(name = `pool-store-${process.pid}-${++tableCount}`) {
      const { partitionKey, sortKey, indexes } = poolStoreTable;
      const globalIndexes: GlobalSecondaryIndex[] = Object.values(indexes).map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: index.projection },
      }));
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: poolStoreTable.billingMode,
          AttributeDefinitions: keyAttributeDefinitions().map((a) => ({
            AttributeName: a.name,
            AttributeType: a.type,
          })),
          KeySchema: [
            { AttributeName: partitionKey.name, KeyType: 'HASH' },
            { AttributeName: sortKey.name, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: globalIndexes,
        }),
      );
      // createTableMs: 0 still flips the table to ACTIVE on a later tick.
      for (;;) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        if (Table?.TableStatus === 'ACTIVE') return name;
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    calls: (operation) => log.filter((c) => operation === undefined || c.operation === operation),
    callCounts() {
      const counts: Record<string, number> = {};
      for (const call of log) counts[call.operation] = (counts[call.operation] ?? 0) + 1;
      return counts;
    },
    async close() {
      client.destroy();
      await proxy?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
