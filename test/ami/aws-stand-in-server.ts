/**
 * Serves the stand-in AWS CLI (stand-ins/aws.mjs) from the test process, so that each `aws` call the agent
 * makes costs a curl instead of starting Node and loading an SDK client (a second or more on a busy
 * machine). stand-ins/bin/aws forwards its arguments and environment here when WPR_TEST_AWS_SERVER is set
 * and runs aws.mjs as a script otherwise; both paths run the same `awsCommand`.
 *
 * Wire format: the request body is NUL-separated: the argument count, the arguments, then the caller's
 * environment as `NAME=value` entries (`env -0`). The response body is the command's stdout; its exit code
 * and base64 stderr travel in the `X-Exit-Code` and `X-Stderr` headers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { awsCommand, destroyClients, preload } from './stand-ins/aws.mjs';

export interface AwsStandInServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startAwsStandInServer(): Promise<AwsStandInServer> {
  await preload();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const fields = Buffer.concat(chunks).toString('utf8').split('\0');
      const argc = Number(fields[0]);
      const argv = fields.slice(1, 1 + argc);
      const env: Record<string, string> = {};
      for (const entry of fields.slice(1 + argc)) {
        const at = entry.indexOf('=');
        if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
      }
      awsCommand(argv, env).then(
        ({ code, stdout, stderr }) => {
          response.writeHead(200, {
            'X-Exit-Code': String(code),
            'X-Stderr': Buffer.from(stderr).toString('base64'),
          });
          response.end(stdout);
        },
        (error: unknown) => {
          response.writeHead(500);
          response.end(String(error));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        destroyClients();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
