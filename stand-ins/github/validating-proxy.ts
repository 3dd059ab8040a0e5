/**
 * Puts `prism proxy` (Stoplight Prism, with `--errors`) between a client and the GitHub emulator, so every
 * request and response is checked against GitHub's OpenAPI description (the committed subset in
 * stand-ins/github/openapi). Prism answers a bad request with 422 and a bad response with 500, both as
 * `application/problem+json` with a `https://stoplight.io/prism/errors#…` type; a small recorder in front
 * of Prism notes each of those as a violation, so a test fails on it even when the client retries or
 * swallows the error.
 *
 * One kind of warning is tolerated: GitHub's description leaves out statuses GitHub really sends (404 on
 * DELETE runner and GET job, 5xx, rate limits); Prism reports those as "Unable to match the returned
 * status code" and passes them through unvalidated. Any other warning counts as a violation.
 *
 * Prism takes ~2-3 s to start; start one per test file. It runs at log level `warn`: its per-request info
 * lines cost time and the recorder already sees every verdict.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const githubSubsetSpec = join(
  dirname(fileURLToPath(import.meta.url)),
  'openapi/api.github.com.subset.json',
);

export interface Violation {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly type: string;
  readonly details: unknown;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class ValidatingProxy {
  readonly violations: Violation[] = [];
  readonly warnings: string[] = [];

  private constructor(
    private readonly prism: ChildProcess,
    private readonly recorder: Server,
    readonly url: string,
  ) {}

  static async start(upstream: string, spec = githubSubsetSpec): Promise<ValidatingProxy> {
    const bin = join(
      dirname(createRequire(import.meta.url).resolve('@stoplight/prism-cli/package.json')),
      'dist/index.js',
    );
    const prismPort = await freePort();
    const prism = spawn(
      process.execPath,
      [bin, 'proxy', spec, upstream, '--errors', '-p', String(prismPort), '-h', '127.0.0.1', '-v', 'warn'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    let exited: number | null | undefined;
    prism.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    prism.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    prism.once('exit', (code) => {
      exited = code;
    });
    // If the test process ends without close(), do not leave Prism behind.
    const killPrism = () => prism.kill();
    process.once('exit', killPrism);
    prism.once('exit', () => process.off('exit', killPrism));
    // At log level `warn` Prism does not announce itself: poll until it answers anything.
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`prism exited with ${exited}:\n${log}`);
      if (Date.now() > deadline) {
        prism.kill();
        throw new Error(`prism did not start:\n${log}`);
      }
      const up = await fetch(`http://127.0.0.1:${prismPort}/`).then(
        () => true,
        () => false,
      );
      if (up) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    prism.stdout?.resume();
    prism.stderr?.resume();

    let proxy: ValidatingProxy | undefined;
    const recorder = createServer((req, res) => {
      const forward = httpRequest(
        { host: '127.0.0.1', port: prismPort, method: req.method, path: req.url, headers: req.headers },
        (upstreamRes) => {
          const chunks: Buffer[] = [];
          upstreamRes.on('data', (c: Buffer) => chunks.push(c));
          upstreamRes.on('end', () => {
            const body = Buffer.concat(chunks);
            proxy?.inspect(
              req.method ?? 'GET',
              req.url ?? '/',
              upstreamRes.statusCode ?? 0,
              upstreamRes.headers,
              body,
            );
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers).end(body);
          });
        },
      );
      forward.on('error', (cause) => res.writeHead(502).end(String(cause)));
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const { port } = recorder.address() as AddressInfo;
    proxy = new ValidatingProxy(prism, recorder, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** Returns and clears the violations seen so far. */
  takeViolations(): Violation[] {
    return this.violations.splice(0, this.violations.length);
  }

  async close(): Promise<void> {
    this.recorder.closeAllConnections();
    await new Promise<void>((resolve) => this.recorder.close(() => resolve()));
    if (this.prism.exitCode === null) {
      const exited = new Promise((resolve) => this.prism.once('exit', resolve));
      this.prism.kill();
      await exited;
    }
  }

  private inspect(
    method: string,
    path: string,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
  ): void {
    const warning = headers['sl-violations'];
    if (typeof warning === 'string' && !String(headers['content-type']).includes('problem+json')) {
      this.warnings.push(`${method} ${path}: ${warning}`);
      // Only an undocumented status is tolerated; any other finding Prism demotes to a warning counts.
      const findings = JSON.parse(warning) as { message?: string }[];
      const other = findings.filter(
        (f) => !f.message?.startsWith('Unable to match the returned status code'),
      );
      if (other.length > 0) this.violations.push({ method, path, status, type: 'warning', details: other });
    }
    if (!String(headers['content-type'] ?? '').includes('application/problem+json')) return;
    let problem: { type?: string; validation?: unknown; detail?: unknown };
    try {
      problem = JSON.parse(body.toString('utf8')) as typeof problem;
    } catch {
      return;
    }
    if (problem.type?.startsWith('https://stoplight.io/prism/errors#')) {
      this.violations.push({
        method,
        path,
        status,
        type: problem.type,
        details: problem.validation ?? problem.detail,
      });
    }
  }
}
