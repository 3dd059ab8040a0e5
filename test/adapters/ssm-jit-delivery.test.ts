import { inspect } from 'node:util';
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  ListTagsForResourceCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  JitDeliveryError,
  jitInstanceTagKey,
  SsmJitDelivery,
} from '../../scheduler/adapters/ssm-jit-delivery.js';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { describeJitDeliveryContract } from '../contracts/jit-delivery.contract.js';

/** The agent's reads, as its instance role makes them. */
async function agentRead(peer: SsmPeer, name: string): Promise<string | undefined> {
  try {
    const { Parameter } = await peer.client.send(
      new GetParameterCommand({ Name: name, WithDecryption: true }),
    );
    return Parameter?.Value;
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return undefined;
    throw error;
  }
}

describeJitDeliveryContract('SsmJitDelivery on the SSM peer', async ({ clock }) => {
  const peer = await startSsmPeer({ now: () => clock.now() });
  const delivery = new SsmJitDelivery({ client: peer.client, prefix: '/wpr' });
  return {
    delivery,
    read: (id) => agentRead(peer, `/wpr/jit/${id}`),
    take: async (id) => {
      const value = await agentRead(peer, `/wpr/jit/${id}`);
      if (value !== undefined) await delivery.remove(id);
      return value;
    },
    cleanup: () => peer.close(),
  };
});

describe('SsmJitDelivery', () => {
  const config = Buffer.from(`{"runner":"wpr-linux-x64-1","secret":"${'s3cr3t'.repeat(20)}"}`).toString(
    'base64',
  );
  let peer: SsmPeer;
  let delivery: SsmJitDelivery;
  let clock: FixedClock;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startSsmPeer({ now: () => clock.now() });
    delivery = new SsmJitDelivery({ client: peer.client, prefix: '/wpr/', kmsKeyId: 'alias/wpr-jit' });
  });
  afterEach(() => peer.close());

  it('stores a SecureString under the key, tagged with its instance so IAM can bind it', async () => {
    await delivery.deliver('i-0a1b2c3d4e5f60001', config);
    expect(peer.parameter('/wpr/jit/i-0a1b2c3d4e5f60001')).toMatchObject({
      type: 'SecureString',
      keyId: 'alias/wpr-jit',
      tier: 'Standard',
      version: 1,
      tags: { [jitInstanceTagKey]: 'i-0a1b2c3d4e5f60001' },
    });
    const { TagList } = await peer.client.send(
      new ListTagsForResourceCommand({
        ResourceType: 'Parameter',
        ResourceId: '/wpr/jit/i-0a1b2c3d4e5f60001',
      }),
    );
    expect(TagList).toStrictEqual([{ Key: 'wpr:instance-id', Value: 'i-0a1b2c3d4e5f60001' }]);
    expect(delivery.parameterName('i-0a1b2c3d4e5f60001')).toBe('/wpr/jit/i-0a1b2c3d4e5f60001');
  });

  it('overwrites on a redelivery without re-tagging (AWS refuses Tags with Overwrite), keeping the tag', async () => {
    await delivery.deliver('i-0a1b2c3d4e5f60001', config);
    await delivery.deliver('i-0a1b2c3d4e5f60001', `${config}2`);
    const stored = peer.parameter('/wpr/jit/i-0a1b2c3d4e5f60001');
    expect(stored).toMatchObject({
      value: `${config}2`,
      version: 2,
      tags: { [jitInstanceTagKey]: 'i-0a1b2c3d4e5f60001' },
    });
    const puts = peer.calls('PutParameter');
    expect(
      puts.map((c) => [c.status, c.errorType, c.input.Overwrite, c.input.Tags !== undefined]),
    ).toStrictEqual([
      [200, undefined, undefined, true],
      [400, 'ParameterAlreadyExists', undefined, true],
      [200, undefined, true, false],
    ]);
  });

  it('uses the advanced tier only for a config over 4 KB', async () => {
    await delivery.deliver('i-0a1b2c3d4e5f60001', 'x'.repeat(5_000));
    expect(peer.parameter('/wpr/jit/i-0a1b2c3d4e5f60001')?.tier).toBe('Advanced');
  });

  it('lists pending configs from metadata alone: no value is read, nothing decrypted', async () => {
    await delivery.deliver('i-0a1b2c3d4e5f60001', config);
    peer.put('/wpr/jit/nested/i-0a1b2c3d4e5f60009', 'not ours');
    peer.put('/wpr/pools', '{}');
    peer.clearCalls();
    expect(await delivery.listPending()).toStrictEqual([
      { instanceId: 'i-0a1b2c3d4e5f60001', createdAt: clock.now() },
    ]);
    expect(peer.calls().map((c) => c.action)).toStrictEqual(['DescribeParameters']);
  });

  it('never gets a SecureString back in clear without asking for decryption', async () => {
    await delivery.deliver('i-0a1b2c3d4e5f60001', config);
    const { Parameters } = await peer.client.send(new GetParametersByPathCommand({ Path: '/wpr/jit' }));
    expect(Parameters).toHaveLength(1);
    expect(Parameters?.[0]?.Value).toBeTypeOf('string');
    expect(Parameters?.[0]?.Value).not.toContain(config);
    const { Parameter } = await peer.client.send(
      new GetParameterCommand({ Name: '/wpr/jit/i-0a1b2c3d4e5f60001' }),
    );
    expect(Parameter?.Value).not.toBe(config);
  });

  it('rides out throttling through the SDK retry', async () => {
    peer.injectFault({ action: 'PutParameter', type: 'ThrottlingException', message: 'Rate exceeded' });
    await delivery.deliver('i-0a1b2c3d4e5f60001', config);
    expect(peer.calls('PutParameter').map((c) => c.errorType)).toStrictEqual([
      'ThrottlingException',
      undefined,
    ]);
    expect(peer.parameter('/wpr/jit/i-0a1b2c3d4e5f60001')?.value).toBe(config);
  });

  it('never puts the config in an error, even when the service echoes it back', async () => {
    const client = new SSMClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
    const quick = new SsmJitDelivery({ client, prefix: '/wpr' });
    peer.injectFault({
      action: 'PutParameter',
      type: 'ValidationException',
      message: `1 validation error detected: Value '${config}' at 'value' failed to satisfy constraint`,
    });
    const echoed = await quick.deliver('i-0a1b2c3d4e5f60001', config).catch((e: unknown) => e);
    // Too large even for the advanced tier: the SDK's own error path.
    const tooLarge = 'y'.repeat(9_000);
    const refused = await quick.deliver('i-0a1b2c3d4e5f60002', tooLarge).catch((e: unknown) => e);
    client.destroy();

    expect(echoed).toBeInstanceOf(JitDeliveryError);
    expect((echoed as Error).message).toBe(
      'could not deliver the JIT config of i-0a1b2c3d4e5f60001: ValidationException',
    );
    expect((echoed as Error).cause).toMatchObject({ name: 'ValidationException' });
    expect(inspect(echoed, { depth: null })).not.toContain(config);
    expect(JSON.stringify(echoed)).not.toContain(config);
    expect(refused).toBeInstanceOf(JitDeliveryError);
    expect(((refused as Error).cause as Error).message).toMatch(/maximum parameter value of 8192/);
    expect(inspect(refused, { depth: null })).not.toContain(tooLarge.slice(0, 100));
  });

  it('keeps the config out of the SDK client log', async () => {
    const lines: string[] = [];
    const capture = (...args: unknown[]) => lines.push(inspect(args, { depth: null }));
    const client = new SSMClient({
      ...localClientConfig(peer.endpoint),
      logger: { trace: capture, debug: capture, info: capture, warn: capture, error: capture },
    });
    await new SsmJitDelivery({ client, prefix: '/wpr' }).deliver('i-0a1b2c3d4e5f60001', config);
    client.destroy();
    expect(lines.join('\n')).toContain('PutParameterCommand');
    expect(lines.join('\n')).not.toContain(config);
  });

  it('ignores a config already gone when removing, and reports other failures', async () => {
    await expect(delivery.remove('i-0a1b2c3d4e5f60001')).resolves.toBeUndefined();
    peer.injectFault({ action: 'DeleteParameter', type: 'AccessDeniedException', status: 400 });
    await expect(delivery.remove('i-0a1b2c3d4e5f60001')).rejects.toThrow(
      'could not remove the JIT config of i-0a1b2c3d4e5f60001: AccessDeniedException',
    );
    peer.injectFault({ action: 'DescribeParameters', type: 'AccessDeniedException' });
    await expect(delivery.listPending()).rejects.toBeInstanceOf(JitDeliveryError);
  });
});
