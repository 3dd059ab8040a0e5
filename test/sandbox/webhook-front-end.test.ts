/**
 * The sandbox's HTTP front end stands in for API Gateway: a body over the limit gets 413 before any
 * handler runs (whatever its size, however it is sent), and it is counted as a rejected webhook.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/sandbox/stack.js';
import { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';

const limit = 262_144;
let sandbox: Sandbox;
const metrics = new InMemoryMetrics();

beforeAll(async () => {
  sandbox = await startSandbox({
    poolConfig: {
      pools: [
        {
          name: 'linux-x64',
          labels: ['linux', 'x64'],
          architecture: 'x64',
          instanceTypes: ['m7i.large'],
          subnets: ['subnet-0a000000000000001'],
          defaultSize: 0,
          maximum: 2,
        },
      ],
    },
    webhookSecret: 'front-end-secret',
    timeScale: 0.02,
    schedules: false,
    logLevel: 'SILENT',
    metrics,
  });
}, 60_000);
afterAll(async () => {
  await sandbox?.close();
});

/** POSTs `size` bytes, with a Content-Length or chunked. */
function post(size: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(sandbox.webhookUrl);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'workflow_job',
          ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(size) }),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length)
      req.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
    req.end();
  });
}

describe('the sandbox webhook front end', () => {
  it.each([
    ['just over the limit', limit + 1, false],
    ['over twice the limit', limit * 2 + 1, false],
    ['far over the limit, chunked (no Content-Length)', limit * 8, true],
  ] as const)('answers 413 to a body %s, and counts it as rejected', async (_, size, chunked) => {
    const before = metrics.total('WebhooksRejected', { Reason: '413' });
    const response = await post(size, chunked);
    expect(response.status).toBe(413);
    expect(metrics.total('WebhooksRejected', { Reason: '413' })).toBe(before + 1);
  });

  it('hands a body within the limit to the handler (here: 401, it is not signed)', async () => {
    expect((await post(1_000, false)).status).toBe(401);
  });
});
