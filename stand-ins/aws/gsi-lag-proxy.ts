/**
 * A proxy in front of dynalite that makes its global secondary indexes eventually consistent, as
 * DynamoDB's are: a write reaches the indexes `lagMs` after it succeeded.
 *
 * How: before forwarding a PutItem, UpdateItem or DeleteItem, the proxy reads the item (consistently,
 * straight from dynalite) and, once the write succeeded, remembers that old image with the time. An
 * index Query is answered from dynalite's fresh index, corrected for every write younger than `lagMs`:
 * the item as it was is shown instead of as it is (listed where it was listed, missing where it was
 * missing). Sorting, `Limit`, `ExclusiveStartKey` and `LastEvaluatedKey` are then applied here.
 *
 * Limits (fine for the pool store's index queries): the key condition is an equality on the index
 * partition key, optionally with a condition on its sort key that is not re-checked for old images;
 * no filter expressions, no projections (the indexes project ALL). Requests the proxy makes itself
 * carry `x-gsi-lag-proxy`, so a peer's call log can leave them out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';

type AttributeValue = Record<string, unknown>;
type Item = Record<string, AttributeValue>;

interface RecentWrite {
  readonly at: number;
  /** The item before the write, or undefined when there was none. */
  readonly before: Item | undefined;
}

export const proxyHeader = 'x-gsi-lag-proxy';

export interface GsiLagProxy {
  readonly endpoint: string;
  close(): Promise<void>;
}

const writes = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const indexes: Readonly<Record<string, { partition: string; sort: string }>> = Object.fromEntries(
  Object.values(poolStoreTable.indexes).map((i) => [
    i.indexName,
    { partition: i.partitionKey.name, sort: i.sortKey.name },
  ]),
);
const { partitionKey, sortKey } = poolStoreTable;

export async function startGsiLagProxy(upstream: string, lagMs: number): Promise<GsiLagProxy> {
  /** table → item key → the write in the lag window. */
  const recent = new Map<string, Map<string, RecentWrite>>();

  /** A request of the proxy's own (`bookkeeping`: left out of call logs) or the client's, reshaped. */
  const call = async (target: string, body: unknown, headers: Record<string, string>, bookkeeping = true) => {
    const response = await fetch(upstream, {
      method: 'POST',
      headers: {
        ...headers,
        'x-amz-target': `DynamoDB_20120810.${target}`,
        ...(bookkeeping ? { [proxyHeader]: '1' } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };

  const forward = async (req: IncomingMessage, body: string, res: ServerResponse) => {
    const response = await fetch(upstream, {
      method: req.method ?? 'POST',
      headers: passHeaders(req),
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
    });
    reply(res, response.status, response.headers.get('content-type'), await response.text());
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (writes.has(target)) return write(req, body, res);
    if (target === 'Query') {
      const input = JSON.parse(body) as Record<string, unknown>;
      if (typeof input.IndexName === 'string' && indexes[input.IndexName] !== undefined)
        return query(req, input, res);
    }
    return forward(req, body, res);
  };

  const write = async (req: IncomingMessage, body: string, res: ServerResponse) => {
    const input = JSON.parse(body) as { TableName?: string; Key?: Item; Item?: Item };
    const table = String(input.TableName ?? '');
    const key = input.Key ?? keyOf(input.Item ?? {});
    const before = await call(
      'GetItem',
      { TableName: table, Key: key, ConsistentRead: true },
      contentHeaders(req),
    );
    const previous =
      before.status === 200 ? ((JSON.parse(before.text) as { Item?: Item }).Item ?? undefined) : undefined;
    const response = await fetch(upstream, { method: 'POST', headers: passHeaders(req), body });
    const text = await response.text();
    if (response.status === 200) {
      const byKey = recent.get(table) ?? new Map<string, RecentWrite>();
      recent.set(table, byKey);
      const id = JSON.stringify(key);
      // The index shows the item as it was before the first write still in the window.
      const pending = byKey.get(id);
      const now = Date.now();
      byKey.set(id, {
        at: now,
        before: pending !== undefined && now - pending.at < lagMs ? pending.before : previous,
      });
    }
    reply(res, response.status, response.headers.get('content-type'), text);
  };

  const query = async (req: IncomingMessage, input: Record<string, unknown>, res: ServerResponse) => {
    const index = indexes[input.IndexName as string] as { partition: string; sort: string };
    const { Limit, ExclusiveStartKey, ...unbounded } = input;
    const fresh = await call('Query', unbounded, contentHeaders(req), false);
    if (fresh.status !== 200) return reply(res, fresh.status, fresh.headers.get('content-type'), fresh.text);
    const items = new Map<string, Item>(
      ((JSON.parse(fresh.text) as { Items?: Item[] }).Items ?? []).map((i) => [JSON.stringify(keyOf(i)), i]),
    );
    const partitionValue = partitionValueOf(input);
    const now = Date.now();
    for (const [id, w] of recent.get(String(input.TableName)) ?? []) {
      if (now - w.at >= lagMs) continue;
      items.delete(id);
      if (
        w.before !== undefined &&
        partitionValue !== undefined &&
        equal(w.before[index.partition], partitionValue)
      )
        items.set(id, w.before);
    }
    prune(recent, now, lagMs);
    const forward = input.ScanIndexForward !== false;
    let sorted = [...items.values()].sort((a, b) => {
      const order =
        compare(a[index.sort], b[index.sort]) || compare(a[partitionKey.name], b[partitionKey.name]);
      return forward ? order : -order;
    });
    if (ExclusiveStartKey !== undefined) {
      const start = ExclusiveStartKey as Item;
      const at = sorted.findIndex((i) => JSON.stringify(keyOf(i)) === JSON.stringify(keyOf(start)));
      sorted =
        at >= 0
          ? sorted.slice(at + 1)
          : sorted.filter((i) => {
              const order =
                compare(i[index.sort], start[index.sort]) ||
                compare(i[partitionKey.name], start[partitionKey.name]);
              return forward ? order > 0 : order < 0;
            });
    }
    const limit = typeof Limit === 'number' ? Limit : sorted.length;
    const page = sorted.slice(0, limit);
    const last = page[page.length - 1];
    const body = {
      Items: page,
      Count: page.length,
      ScannedCount: page.length,
      ...(page.length < sorted.length && last !== undefined
        ? {
            LastEvaluatedKey: {
              ...keyOf(last),
              [index.partition]: last[index.partition],
              [index.sort]: last[index.sort],
            },
          }
        : {}),
    };
    reply(res, 200, 'application/x-amz-json-1.0', JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        reply(
          res,
          500,
          'application/x-amz-json-1.0',
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
            message: String(error),
          }),
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function keyOf(item: Item): Item {
  const key: Item = {};
  const pk = item[partitionKey.name];
  const sk = item[sortKey.name];
  if (pk !== undefined) key[partitionKey.name] = pk;
  if (sk !== undefined) key[sortKey.name] = sk;
  return key;
}

/** The value the key condition sets the index partition key to (`#p = :p`). */
function partitionValueOf(input: Record<string, unknown>): AttributeValue | undefined {
  const condition = String(input.KeyConditionExpression ?? '');
  const placeholder = /=\s*(:[A-Za-z0-9_]+)/.exec(condition)?.[1];
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, AttributeValue>;
  return placeholder === undefined ? undefined : values[placeholder];
}

function equal(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

function compare(a: AttributeValue | undefined, b: AttributeValue | undefined): number {
  const value = (v: AttributeValue | undefined) => (v?.N !== undefined ? Number(v.N) : String(v?.S ?? ''));
  const x = value(a);
  const y = value(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function prune(recent: Map<string, Map<string, RecentWrite>>, now: number, lagMs: number): void {
  for (const byKey of recent.values()) for (const [id, w] of byKey) if (now - w.at >= lagMs) byKey.delete(id);
}

function passHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
  return headers;
}

function contentHeaders(req: IncomingMessage): Record<string, string> {
  const headers = passHeaders(req);
  // The proxy's own requests are not signed for their new bodies: dynalite does not check signatures.
  delete headers['x-amz-target'];
  return headers;
}

function reply(res: ServerResponse, status: number, contentType: string | null, body: string): void {
  res.writeHead(status, {
    'content-type': contentType ?? 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
