import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigReadError, SsmConfigSource } from '../../scheduler/adapters/ssm-config-source.js';
import { InvalidPoolConfigError } from '../../scheduler/core/pool-config.js';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { describeConfigSourceContract, poolsDocument } from '../contracts/config-source.contract.js';

const parameterName = '/wpr/pools';
const asText = (document: unknown) => (typeof document === 'string' ? document : JSON.stringify(document));

describeConfigSourceContract('SsmConfigSource on the SSM peer', async ({ clock, initial, ttlMs }) => {
  const peer = await startSsmPeer({ now: () => clock.now() });
  peer.put(parameterName, asText(initial));
  return {
    source: new SsmConfigSource({ client: peer.client, parameterName, clock, ttlMs }),
    publish: async (document) => {
      await peer.client.send(
        new PutParameterCommand({
          Name: parameterName,
          Value: asText(document),
          Type: 'String',
          Overwrite: true,
        }),
      );
    },
    cleanup: () => peer.close(),
  };
});

describe('SsmConfigSource', () => {
  let peer: SsmPeer;
  let clock: FixedClock;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startSsmPeer({ now: () => clock.now() });
  });
  afterEach(() => peer.close());

  const sourceWith = (client = peer.client) => new SsmConfigSource({ client, parameterName, clock });

  it('caches for 30 s by default and shares one read between concurrent loads', async () => {
    peer.put(parameterName, JSON.stringify(poolsDocument()));
    const source = sourceWith();
    const loads = await Promise.all(Array.from({ length: 5 }, () => source.load()));
    expect(new Set(loads).size).toBe(1);
    clock.advance(29_999);
    await source.load();
    expect(peer.calls('GetParameter')).toHaveLength(1);
    clock.advance(1);
    await source.load();
    expect(peer.calls('GetParameter')).toHaveLength(2);
    expect(peer.calls('GetParameter')[0]?.input).toStrictEqual({ Name: parameterName });
  });

  it('serves the last good version from the parameter history in a new container after an invalid write', async () => {
    peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 3 })));
    peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 4 })));
    // Written around the CLI: invalid, and then a second invalid one.
    peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 40, maximum: 20 })));
    peer.put(parameterName, '{"pools": [');
    const cold = sourceWith();
    const config = await cold.load();
    expect(config.pools[0]?.defaultSize).toBe(4);
    expect(cold.lastRejection()?.problems[0]).toMatch(/^\(root\): not valid JSON/);
    expect(peer.calls('GetParameterHistory')).toHaveLength(1);
    // The history is read once per rejected version, not on every load.
    clock.advance(30_000);
    await cold.load();
    expect(peer.calls('GetParameterHistory')).toHaveLength(1);
  });

  it('pages through a long history to the newest good version', async () => {
    for (let size = 1; size <= 70; size++)
      peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: Math.min(size, 10) })));
    peer.put(parameterName, '{}');
    expect((await sourceWith().load()).pools[0]?.defaultSize).toBe(10);
    expect(peer.calls('GetParameterHistory')).toHaveLength(2);
  });

  it('still fails a cold start when no version was ever good', async () => {
    peer.put(parameterName, '{}');
    peer.put(parameterName, '[]');
    await expect(sourceWith().load()).rejects.toBeInstanceOf(InvalidPoolConfigError);
  });

  it('treats a missing parameter as a config that was never good', async () => {
    const source = sourceWith();
    await expect(source.load()).rejects.toThrow(`the parameter ${parameterName} does not exist`);
    expect(source.lastRejection()?.problems).toStrictEqual([
      `(root): the parameter ${parameterName} does not exist`,
    ]);
  });

  it('refuses a SecureString rather than decrypting it', async () => {
    peer.put(parameterName, JSON.stringify(poolsDocument()), { type: 'SecureString' });
    const error = await sourceWith()
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPoolConfigError);
    expect((error as InvalidPoolConfigError).problems[0]).toMatch(/is a SecureString/);
  });

  it('sees a parameter deleted and created again, even at the same version number', async () => {
    peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 1 })));
    const source = sourceWith();
    expect((await source.load()).pools[0]?.defaultSize).toBe(1);
    clock.advance(30_000);
    await peer.close();
    peer = await startSsmPeer({ now: () => clock.now() });
    peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 2 })));
    const again = new SsmConfigSource({ client: peer.client, parameterName, clock });
    expect((await again.load()).pools[0]?.defaultSize).toBe(2);
  });

  describe('when Parameter Store throttles (its clock stopped, so the bucket cannot refill)', () => {
    // Another reader in the account spends the shared read quota.
    const spendQuota = async (reads: number) => {
      peer.put('/wpr/other', 'value');
      for (let i = 0; i < reads; i += 1)
        await peer.client.send(new GetParameterCommand({ Name: '/wpr/other' }));
    };

    it('keeps serving the last good config when a read is throttled', async () => {
      peer.put(parameterName, JSON.stringify(poolsDocument({ defaultSize: 3 })));
      const client = new SSMClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
      const source = sourceWith(client);
      await source.load();
      clock.advance(30_000);
      await spendQuota(40);
      expect((await source.load()).pools[0]?.defaultSize).toBe(3);
      const throttled = peer.calls('GetParameter').filter((c) => c.errorType === 'ThrottlingException');
      expect(throttled.map((c) => c.input.Name)).toStrictEqual([parameterName]);
      client.destroy();
    });

    it('is a ConfigReadError when there is no good config to fall back on, until the quota refills', async () => {
      peer.put(parameterName, JSON.stringify(poolsDocument()));
      peer.setThrottle([{ actions: ['GetParameter'], ratePerSecond: 1 }]);
      await spendQuota(1);
      const client = new SSMClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
      const source = sourceWith(client);
      const error = await source.load().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigReadError);
      expect((error as Error).message).toBe(
        `could not read the pool config ${parameterName}: ThrottlingException`,
      );
      clock.advance(1_000);
      expect((await source.load()).pools).toHaveLength(1);
      client.destroy();
    });
  });
});
