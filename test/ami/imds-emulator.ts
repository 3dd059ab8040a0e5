/**
 * An EC2 instance metadata service (IMDSv2 only) on 127.0.0.1, for the instance agent's tests. What it keeps
 * faithful to IMDS with `HttpTokens=required`:
 * - a session token comes from `PUT /latest/api/token`, which needs `X-aws-ec2-metadata-token-ttl-seconds`
 *   (1-21600; 400 otherwise) and refuses a request carrying `X-Forwarded-For` (403);
 * - every metadata read needs `X-aws-ec2-metadata-token` with a live token: 401 when missing, unknown or
 *   expired; the token path answers 405 to anything but PUT;
 * - instance tags appear under `tags/instance/<key>` only when tags in metadata are enabled; otherwise that
 *   whole tree is 404, exactly like a missing tag.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImdsEmulatorOptions {
  readonly instanceId: string;
  readonly region: string;
  readonly availabilityZone?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** `InstanceMetadataTags=enabled` in the launch template. On by default. */
  readonly tagsEnabled?: boolean;
  /** Epoch ms, for token expiry. */
  readonly now?: () => number;
}

export type TokenCheck = 'valid' | 'missing' | 'unknown' | 'expired';

export interface ImdsRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** How the session token of a metadata read checked out; absent for the token request itself. */
  readonly token?: TokenCheck;
  readonly ttlHeader?: string;
}

export interface ImdsEmulator {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  requests(): ImdsRequest[];
  tags(): Record<string, string>;
  setTag(key: string, value: string): void;
  close(): Promise<void>;
}

const maxTtlSeconds = 21_600;

export async function startImdsEmulator(options: ImdsEmulatorOptions): Promise<ImdsEmulator> {
  const now = options.now ?? Date.now;
  const tags = new Map(Object.entries(options.tags ?? {}));
  const tagsEnabled = options.tagsEnabled ?? true;
  const tokens = new Map<string, number>();
  const log: ImdsRequest[] = [];
  const zone = options.availabilityZone ?? `${options.region}a`;

  const metadata = (path: string): string | undefined => {
    switch (path) {
      case 'instance-id':
        return options.instanceId;
      case 'placement/region':
        return options.region;
      case 'placement/availability-zone':
        return zone;
    }
    if (!tagsEnabled) return undefined;
    if (path === 'tags/instance' || path === 'tags/instance/') return [...tags.keys()].join('\n');
    if (path.startsWith('tags/instance/'))
      return tags.get(decodeURIComponent(path.slice('tags/instance/'.length)));
    return undefined;
  };

  const checkToken = (request: IncomingMessage): TokenCheck => {
    const token = header(request, 'x-aws-ec2-metadata-token');
    if (token === undefined || token === '') return 'missing';
    const expiry = tokens.get(token);
    if (expiry === undefined) return 'unknown';
    return expiry > now() ? 'valid' : 'expired';
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://imds').pathname;
    await drain(request);
    const reply = (status: number, text = '', record: Partial<ImdsRequest> = {}) => {
      log.push({ method, path, status, ...record });
      response.writeHead(status, { 'Content-Type': 'text/plain' });
      response.end(text);
    };

    if (path === '/latest/api/token') {
      if (method !== 'PUT') return reply(405);
      if (header(request, 'x-forwarded-for') !== undefined) return reply(403);
      const ttlHeader = header(request, 'x-aws-ec2-metadata-token-ttl-seconds');
      const ttl = Number(ttlHeader);
      if (ttlHeader === undefined || !Number.isInteger(ttl) || ttl < 1 || ttl > maxTtlSeconds)
        return reply(400, '', ttlHeader === undefined ? {} : { ttlHeader });
      const token = randomBytes(32).toString('base64');
      tokens.set(token, now() + ttl * 1000);
      log.push({ method, path, status: 200, ttlHeader });
      response.writeHead(200, {
        'Content-Type': 'text/plain',
        'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': String(ttl),
      });
      response.end(token);
      return;
    }

    if (path.startsWith('/latest/meta-data')) {
      if (method !== 'GET' && method !== 'HEAD') return reply(405);
      const token = checkToken(request);
      if (token !== 'valid') return reply(401, '', { token });
      const value = metadata(path.slice('/latest/meta-data/'.length));
      return value === undefined ? reply(404, '', { token }) : reply(200, value, { token });
    }
    reply(404);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => [...log],
    tags: () => Object.fromEntries(tags),
    setTag: (key, value) => {
      tags.set(key, value);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function drain(request: IncomingMessage): Promise<void> {
  for await (const _ of request);
}
