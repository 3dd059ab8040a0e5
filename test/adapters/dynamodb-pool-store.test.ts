import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbPoolStore, StoreError } from '../../scheduler/adapters/dynamodb-pool-store.js';
import { poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';
import { type DynalitePeer, startDynalite } from '../../stand-ins/aws/dynalite.js';
import { describePoolStoreContract, instance, job, ManualClock } from '../contracts/pool-store.contract.js';

let peer: DynalitePeer;
beforeAll(async () => {
  peer = await startDynalite();
});
afterAll(async () => {
  await peer.close();
});

describePoolStoreContract('DynamoDbPoolStore on dynalite', async ({ clock }) => {
  const tableName = await peer.createTable();
  return { store: new DynamoDbPoolStore({ client: peer.client, tableName, clock }), cleanup: async () => {} };
});

describe('DynamoDbPoolStore storage', () => {
  const start = Date.UTC(2026, 0, 5, 9, 0, 0);

  async function fresh(retentionSeconds?: number) {
    const tableName = await peer.createTable();
    const clock = new ManualClock(start);
    const store = new DynamoDbPoolStore({
      client: peer.client,
      tableName,
      clock,
      ...(retentionSeconds === undefined ? {} : { retentionSeconds }),
    });
    const raw = async (pk: string, sk: string) =>
      (
        await peer.client.send(
          new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk }, sk: { S: sk } } }),
        )
      ).Item;
    return { tableName, clock, store, raw };
  }

  it('keeps the sparse index attributes in step with the instance state', async () => {
    const { store, raw } = await fresh();
    await store.putInstance(instance({ id: 'i-1', state: 'warming' }));
    const warming = await raw('INSTANCE#i-1', 'INSTANCE');
    expect(warming?.readyPool).toBeUndefined();
    expect(warming?.liveShard).toEqual({ S: 'live' });
    expect(warming?.livePoolId).toEqual({ S: 'linux-x64#i-1' });

    await store.transitionInstance({ id: 'i-1', from: 'warming', expectedVersion: 1, to: 'ready' });
    expect((await raw('INSTANCE#i-1', 'INSTANCE'))?.readyPool).toEqual({ S: 'linux-x64' });

    await store.transitionInstance({ id: 'i-1', from: 'ready', expectedVersion: 2, to: 'retiring' });
    expect((await raw('INSTANCE#i-1', 'INSTANCE'))?.readyPool).toBeUndefined();

    await store.transitionInstance({ id: 'i-1', from: 'retiring', expectedVersion: 3, to: 'terminated' });
    const terminated = await raw('INSTANCE#i-1', 'INSTANCE');
    expect(terminated?.liveShard).toBeUndefined();
    expect(terminated?.livePoolId).toBeUndefined();
  });

  it('writes the TTL attribute in epoch seconds, retentionSeconds after the change', async () => {
    const { store, raw } = await fresh(3600);
    await store.putInstance(instance({ id: 'i-1', state: 'busy' }));
    await store.transitionInstance({ id: 'i-1', from: 'busy', expectedVersion: 1, to: 'recycling' });
    expect((await raw('INSTANCE#i-1', 'INSTANCE'))?.[poolStoreTable.ttlAttribute]).toBeUndefined();
    await store.transitionInstance({ id: 'i-1', from: 'recycling', expectedVersion: 2, to: 'terminated' });
    const expected = String(Math.floor(start / 1000) + 3600);
    expect((await raw('INSTANCE#i-1', 'INSTANCE'))?.[poolStoreTable.ttlAttribute]).toEqual({ N: expected });

    await store.createJob(job({ id: 12, state: 'running' }));
    await store.updateJob({ id: 12, expectedVersion: 1, patch: { runnerName: 'r-1' } });
    expect((await raw('JOB#12', 'JOB'))?.[poolStoreTable.ttlAttribute]).toBeUndefined();
    await store.updateJob({ id: 12, expectedVersion: 2, to: 'completed' });
    expect((await raw('JOB#12', 'JOB'))?.[poolStoreTable.ttlAttribute]).toEqual({ N: expected });
    expect((await raw('JOB#12', 'JOB'))?.jobState).toEqual({ S: 'completed' });
  });

  it('keeps an explicit expiresAt from the patch', async () => {
    const { store } = await fresh();
    await store.putInstance(instance({ id: 'i-1', state: 'retiring' }));
    const expiresAt = Math.floor(start / 1000) + 60;
    const result = await store.transitionInstance({
      id: 'i-1',
      from: 'retiring',
      expectedVersion: 1,
      to: 'terminated',
      patch: { expiresAt },
    });
    expect(result.kind === 'ok' && result.record.expiresAt).toBe(expiresAt);
  });

  it('ignores an expired item that DynamoDB has not deleted yet', async () => {
    const { store, tableName } = await fresh();
    // An item written by another process with a TTL already in the past, as real DynamoDB may still return.
    await peer.client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: 'JOB#77' },
          sk: { S: 'JOB' },
          id: { N: '77' },
          state: { S: 'completed' },
          jobState: { S: 'completed' },
          updatedAt: { N: String(start) },
          expiresAt: { N: String(Math.floor(start / 1000) - 1) },
        },
      }),
    );
    expect(await store.getJob(77)).toBeUndefined();
    expect(await store.listJobs('completed')).toEqual([]);
    expect(await store.createJob(job({ id: 77 }))).toBe('created');
    expect((await store.getJob(77))?.state).toBe('queued');
  });

  it('pages an index query past expired items to fill the limit', async () => {
    const { store, clock } = await fresh(10);
    for (let id = 1; id <= 4; id++) await store.createJob(job({ id, state: 'running' }));
    const complete = (id: number) =>
      store.updateJob({ id, expectedVersion: 1, to: 'completed', patch: { updatedAt: start + id } });
    // Jobs 1 and 2 expire 10 s after `start`, jobs 3 and 4 10 s after `start + 5 s`.
    await complete(1);
    await complete(2);
    clock.advance(5_000);
    await complete(3);
    await complete(4);
    expect((await store.listJobs('completed', 2)).map((j) => j.id)).toEqual([1, 2]);
    clock.advance(6_000);
    // The first page (Limit 2) holds only the expired jobs 1 and 2; the query must read on.
    expect((await store.listJobs('completed', 2)).map((j) => j.id)).toEqual([3, 4]);
    expect((await store.listJobs('completed', 1)).map((j) => j.id)).toEqual([3]);
  });

  it('turns a failure other than a lost condition into a StoreError with its cause', async () => {
    const store = new DynamoDbPoolStore({ client: peer.client, tableName: 'no-such-table' });
    const error = await store.getInstance('i-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).name).toBe('StoreError');
    expect((error as StoreError).cause).toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(store.putInstance(instance({ id: 'i-1' }))).rejects.toBeInstanceOf(StoreError);
    await expect(
      store.transitionInstance({ id: 'i-1', from: 'ready', expectedVersion: 1, to: 'claimed' }),
    ).rejects.toBeInstanceOf(StoreError);
    await expect(store.listReady('linux-x64', 5)).rejects.toBeInstanceOf(StoreError);
  });
});
