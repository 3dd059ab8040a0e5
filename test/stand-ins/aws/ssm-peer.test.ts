/**
 * The SSM peer answers as Parameter Store does, as seen through the real SDK client: errors arrive as
 * the SDK's own exception classes, SecureStrings stay encrypted unless asked, pages and quotas behave.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DeleteParametersCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  type ParameterStringFilter,
  PutParameterCommand,
  SSMClient,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../../stand-ins/aws/aws-json-server.js';
import { type SsmPeer, startSsmPeer } from '../../../stand-ins/aws/ssm.js';
import { FixedClock } from '../../../stand-ins/in-memory/fixed-clock.js';

describe('SSM peer', () => {
  let peer: SsmPeer;
  let clock: FixedClock;

  beforeEach(async () => {
    clock = new FixedClock();
    peer = await startSsmPeer({ now: () => clock.now() });
  });
  afterEach(() => peer.close());

  const put = (
    Name: string,
    Value: string,
    extra: Partial<ConstructorParameters<typeof PutParameterCommand>[0]> = {},
  ) => peer.client.send(new PutParameterCommand({ Name, Value, Type: 'String', ...extra }));
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as Error,
    );

  describe('writes', () => {
    it('versions each write and stamps LastModifiedDate', async () => {
      expect((await put('/wpr/a', 'one')).Version).toBe(1);
      clock.advance(5_000);
      expect((await put('/wpr/a', 'two', { Overwrite: true })).Version).toBe(2);
      const { Parameter } = await peer.client.send(new GetParameterCommand({ Name: '/wpr/a' }));
      expect(Parameter).toMatchObject({ Value: 'two', Version: 2, Type: 'String', DataType: 'text' });
      expect(Parameter?.LastModifiedDate?.getTime()).toBe(clock.now());
      expect(Parameter?.ARN).toBe('arn:aws:ssm:us-east-1:123456789012:parameter/wpr/a');
    });

    it('refuses to replace a parameter without Overwrite, as ParameterAlreadyExists', async () => {
      await put('/wpr/a', 'one');
      expect(await failure(put('/wpr/a', 'two'))).toBeInstanceOf(ParameterAlreadyExists);
      expect(peer.parameter('/wpr/a')?.value).toBe('one');
    });

    it('refuses Tags together with Overwrite, as AWS does', async () => {
      const error = await failure(
        put('/wpr/a', 'one', { Overwrite: true, Tags: [{ Key: 'k', Value: 'v' }] }),
      );
      expect(error).toBeInstanceOf(ValidationException);
      expect(error?.message).toMatch(/tags and overwrite can't be used together/);
    });

    it('needs a type to create, and keeps it on overwrite', async () => {
      expect(await failure(put('/wpr/a', 'one', { Type: undefined }))).toBeInstanceOf(ValidationException);
      await put('/wpr/s', 'secret', { Type: 'SecureString' });
      await put('/wpr/s', 'secret2', { Type: undefined, Overwrite: true });
      expect(peer.parameter('/wpr/s')).toMatchObject({
        type: 'SecureString',
        keyId: 'alias/aws/ssm',
        value: 'secret2',
      });
    });

    it('enforces the tier limits and never downgrades an advanced parameter', async () => {
      const error = await failure(put('/wpr/big', 'x'.repeat(4_097)));
      expect(error).toBeInstanceOf(ValidationException);
      expect(error?.message).toMatch(/maximum parameter value of 4096 characters/);
      expect((await put('/wpr/big', 'x'.repeat(4_097), { Tier: 'Intelligent-Tiering' })).Tier).toBe(
        'Advanced',
      );
      expect(await failure(put('/wpr/big', 'small', { Overwrite: true }))).toBeInstanceOf(
        ValidationException,
      );
      expect((await put('/wpr/big', 'small', { Overwrite: true, Tier: 'Intelligent-Tiering' })).Tier).toBe(
        'Advanced',
      );
    });

    it('validates names', async () => {
      for (const name of [
        'wpr/no-leading-slash',
        '/wpr/trailing/',
        '/wpr/sp ace',
        '/aws/reserved',
        'ssm-thing',
      ])
        expect(await failure(put(name, 'v')), name).toBeInstanceOf(ValidationException);
      const deep = `/${Array.from({ length: 16 }, (_, i) => `l${i}`).join('/')}`;
      expect((await failure(put(deep, 'v')))?.name).toBe('HierarchyLevelLimitExceededException');
    });
  });

  describe('SecureString', () => {
    it('comes back in clear only when decryption is asked for', async () => {
      await put('/wpr/jit/i-1', 'plain-secret', { Type: 'SecureString' });
      await put('/wpr/jit/i-2', 'plain-secret', { Type: 'SecureString' });
      const get = await peer.client.send(new GetParameterCommand({ Name: '/wpr/jit/i-1' }));
      const many = await peer.client.send(
        new GetParametersCommand({ Names: ['/wpr/jit/i-1', '/wpr/jit/i-2'] }),
      );
      const byPath = await peer.client.send(new GetParametersByPathCommand({ Path: '/wpr/jit' }));
      const encrypted = [get.Parameter, ...(many.Parameters ?? []), ...(byPath.Parameters ?? [])].map(
        (p) => p?.Value,
      );
      expect(encrypted).toHaveLength(5);
      for (const value of encrypted) {
        expect(value).toMatch(/^[A-Za-z0-9+/]+=*$/);
        expect(value).not.toContain('plain-secret');
      }
      // Fresh nonce per write: equal plaintexts do not give equal ciphertexts.
      expect(many.Parameters?.[0]?.Value).not.toBe(many.Parameters?.[1]?.Value);
      const clear = await peer.client.send(
        new GetParameterCommand({ Name: '/wpr/jit/i-1', WithDecryption: true }),
      );
      expect(clear.Parameter?.Value).toBe('plain-secret');
    });

    it('keeps values out of the call log', async () => {
      await put('/wpr/jit/i-1', 'plain-secret', { Type: 'SecureString' });
      expect(peer.calls('PutParameter')[0]?.input).toMatchObject({
        Name: '/wpr/jit/i-1',
        Value: '[redacted]',
      });
    });
  });

  describe('reads and deletes', () => {
    it('reports a missing parameter as ParameterNotFound', async () => {
      expect(await failure(peer.client.send(new GetParameterCommand({ Name: '/wpr/none' })))).toBeInstanceOf(
        ParameterNotFound,
      );
      const many = await peer.client.send(new GetParametersCommand({ Names: ['/wpr/none'] }));
      expect(many).toMatchObject({ Parameters: [], InvalidParameters: ['/wpr/none'] });
    });

    it('deletes one or many', async () => {
      await put('/wpr/a', '1');
      await put('/wpr/b', '2');
      const result = await peer.client.send(new DeleteParametersCommand({ Names: ['/wpr/a', '/wpr/none'] }));
      expect(result).toMatchObject({ DeletedParameters: ['/wpr/a'], InvalidParameters: ['/wpr/none'] });
      expect(peer.parameters().map((p) => p.name)).toStrictEqual(['/wpr/b']);
    });

    it('lists one level or recursively, a page at a time, without skipping or repeating across writes', async () => {
      for (const name of ['/wpr/jit/i-1', '/wpr/jit/i-2', '/wpr/jit/i-3', '/wpr/jit/deep/i-4', '/wpr/pools'])
        peer.put(name, 'v');
      const oneLevel = await peer.client.send(new GetParametersByPathCommand({ Path: '/wpr/jit/' }));
      expect(oneLevel.Parameters?.map((p) => p.Name)).toStrictEqual([
        '/wpr/jit/i-1',
        '/wpr/jit/i-2',
        '/wpr/jit/i-3',
      ]);

      const first = await peer.client.send(
        new GetParametersByPathCommand({ Path: '/wpr', Recursive: true, MaxResults: 2 }),
      );
      expect(first.Parameters?.map((p) => p.Name)).toStrictEqual(['/wpr/jit/deep/i-4', '/wpr/jit/i-1']);
      peer.put('/wpr/jit/i-0', 'v'); // sorts before the token: not seen, as it came after the first page
      const rest = await peer.client.send(
        new GetParametersByPathCommand({
          Path: '/wpr',
          Recursive: true,
          MaxResults: 10,
          NextToken: first.NextToken,
        }),
      );
      expect(rest.Parameters?.map((p) => p.Name)).toStrictEqual([
        '/wpr/jit/i-2',
        '/wpr/jit/i-3',
        '/wpr/pools',
      ]);
      expect(rest.NextToken).toBeUndefined();

      expect(
        await failure(peer.client.send(new GetParametersByPathCommand({ Path: '/wpr', MaxResults: 11 }))),
      ).toBeInstanceOf(ValidationException);
      expect(
        (
          await failure(
            peer.client.send(new GetParametersByPathCommand({ Path: '/wpr', NextToken: 'bogus' })),
          )
        )?.name,
      ).toBe('InvalidNextToken');
    });

    it('describes parameters by path, name and tag, without their values', async () => {
      await put('/wpr/jit/i-1', 's', {
        Type: 'SecureString',
        Tags: [{ Key: 'wpr:instance-id', Value: 'i-1' }],
      });
      await put('/wpr/jit/deep/i-2', 'v');
      await put('/wpr/pools', 'v');
      const names = (filters: ParameterStringFilter[]) =>
        peer.client
          .send(new DescribeParametersCommand({ ParameterFilters: filters }))
          .then((r) => r.Parameters?.map((p) => p.Name));
      expect(await names([{ Key: 'Path', Option: 'OneLevel', Values: ['/wpr/jit'] }])).toStrictEqual([
        '/wpr/jit/i-1',
      ]);
      expect(await names([{ Key: 'Path', Option: 'Recursive', Values: ['/wpr/jit'] }])).toStrictEqual([
        '/wpr/jit/deep/i-2',
        '/wpr/jit/i-1',
      ]);
      expect(await names([{ Key: 'Name', Option: 'BeginsWith', Values: ['/wpr/p'] }])).toStrictEqual([
        '/wpr/pools',
      ]);
      expect(await names([{ Key: 'tag:wpr:instance-id', Values: ['i-1'] }])).toStrictEqual(['/wpr/jit/i-1']);
      const { Parameters } = await peer.client.send(new DescribeParametersCommand({}));
      expect(Parameters?.find((p) => p.Name === '/wpr/jit/i-1')).toMatchObject({
        Type: 'SecureString',
        KeyId: 'alias/aws/ssm',
        Version: 1,
        Tier: 'Standard',
      });
      expect(JSON.stringify(Parameters)).not.toMatch(/"Value"/);
    });
  });

  describe('quota and faults', () => {
    it('throttles reads past 40 per second, refilling with time, and leaves writes alone', async () => {
      const client = new SSMClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
      peer.put('/wpr/a', 'v');
      for (let i = 0; i < 40; i += 1) await client.send(new GetParameterCommand({ Name: '/wpr/a' }));
      expect(await failure(client.send(new GetParameterCommand({ Name: '/wpr/a' })))).toBeInstanceOf(
        ThrottlingException,
      );
      expect(await failure(client.send(new GetParametersByPathCommand({ Path: '/wpr' })))).toBeInstanceOf(
        ThrottlingException,
      );
      await client.send(new PutParameterCommand({ Name: '/wpr/b', Value: 'v', Type: 'String' }));
      clock.advance(50); // 2 tokens at 40/s
      await client.send(new GetParameterCommand({ Name: '/wpr/a' }));
      await client.send(new GetParameterCommand({ Name: '/wpr/a' }));
      expect(await failure(client.send(new GetParameterCommand({ Name: '/wpr/a' })))).toBeInstanceOf(
        ThrottlingException,
      );
      client.destroy();
    });

    it('fails injected calls the given number of times', async () => {
      const client = new SSMClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
      peer.injectFault({ action: 'PutParameter', type: 'InternalServerError', status: 500, times: 2 });
      const put = () => client.send(new PutParameterCommand({ Name: '/wpr/a', Value: 'v', Type: 'String' }));
      expect((await failure(put()))?.name).toBe('InternalServerError');
      expect((await failure(put()))?.name).toBe('InternalServerError');
      await put();
      expect(peer.calls('PutParameter').map((c) => c.status)).toStrictEqual([500, 500, 200]);
      client.destroy();
    });
  });

  describe('wire protocol', () => {
    const body = JSON.stringify({ Name: '/wpr/a' });
    const post = (headers: Record<string, string>) =>
      fetch(`${peer.endpoint}/`, { method: 'POST', body, headers }).then(async (r) => ({
        status: r.status,
        contentType: r.headers.get('content-type'),
        json: (await r.json()) as Record<string, unknown>,
      }));

    it('refuses unsigned requests and answers errors as AWS JSON', async () => {
      const reply = await post({
        'x-amz-target': 'AmazonSSM.GetParameter',
        'content-type': 'application/x-amz-json-1.1',
      });
      expect(reply).toStrictEqual({
        status: 403,
        contentType: 'application/x-amz-json-1.1',
        json: { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' },
      });
    });

    it('refuses a client signing for another service', async () => {
      const wrong = new SecretsManagerClient({ ...localClientConfig(peer.endpoint), maxAttempts: 1 });
      const error = await failure(wrong.send(new GetSecretValueCommand({ SecretId: 'x' })));
      wrong.destroy();
      expect(error?.name).toBe('InvalidSignatureException');
      expect((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(403);
    });

    it('answers an unknown action as UnknownOperationException', async () => {
      const open = await startSsmPeer({ requireSignature: false });
      const reply = await fetch(`${open.endpoint}/`, {
        method: 'POST',
        body: '{}',
        headers: { 'x-amz-target': 'AmazonSSM.SendCommand' },
      });
      expect(reply.status).toBe(400);
      expect(await reply.json()).toMatchObject({ __type: 'UnknownOperationException' });
      await open.close();
    });
  });
});
