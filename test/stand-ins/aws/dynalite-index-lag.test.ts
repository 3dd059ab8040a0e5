/**
 * The pool store's indexes on dynalite lag behind writes as DynamoDB GSIs do: a new ready instance is
 * listed only after the lag, and one claimed a moment ago is still listed as it was, while reads by key
 * are consistent at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbPoolStore } from '../../../scheduler/adapters/dynamodb-pool-store.js';
import { type DynalitePeer, startDynalite } from '../../../stand-ins/aws/dynalite.js';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';
import { instance } from '../../contracts/pool-store.contract.js';

const lagMs = 120;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let peer: DynalitePeer;
beforeAll(async () => {
  peer = await startDynalite({ indexLagMs: lagMs });
});
afterAll(() => peer.close());

describe('dynalite with a lagging index', () => {
  it('lists a write only after the lag, and shows a claimed instance as it was until then', async () => {
    const store = new DynamoDbPoolStore({
      client: peer.client,
      tableName: await peer.createTable(),
      clock: new FixedClock(),
    });
    await store.putInstance(instance({ id: 'i-001', pool: 'linux-x64', stateChangedAt: 1 }));
    expect(await store.listReady('linux-x64', 5)).toEqual([]);
    expect((await store.getInstance('i-001'))?.state).toBe('ready');
    await pause(lagMs + 10);
    const [listed] = await store.listReady('linux-x64', 5);
    expect(listed?.id).toBe('i-001');

    const claimed = await store.transitionInstance({
      id: 'i-001',
      from: 'ready',
      expectedVersion: listed?.version ?? 0,
      to: 'claimed',
    });
    expect(claimed.kind).toBe('ok');
    // Still listed, as the ready record it was: a second claimer loses its conditional write.
    expect((await store.listReady('linux-x64', 5)).map((i) => [i.id, i.state])).toEqual([['i-001', 'ready']]);
    await pause(lagMs + 10);
    expect(await store.listReady('linux-x64', 5)).toEqual([]);
  });

  it('keeps the index order and the limit', async () => {
    const store = new DynamoDbPoolStore({
      client: peer.client,
      tableName: await peer.createTable(),
      clock: new FixedClock(),
    });
    for (const [id, at] of [
      ['i-003', 30],
      ['i-001', 10],
      ['i-002', 20],
    ] as const)
      await store.putInstance(instance({ id, pool: 'linux-x64', stateChangedAt: at }));
    await pause(lagMs + 10);
    expect((await store.listReady('linux-x64', 2)).map((i) => i.id)).toEqual(['i-001', 'i-002']);
    expect((await store.listReady('linux-x64', 10)).map((i) => i.id)).toEqual(['i-001', 'i-002', 'i-003']);
  });
});
