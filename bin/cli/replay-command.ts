/**
 * `runners replay FILE`: sends a webhook payload to a control plane as GitHub would — the body as
 * bytes, signed with HMAC-SHA256 over exactly those bytes (X-Hub-Signature-256), with the event name
 * and a delivery id — and prints the answer. Useful to replay a delivery copied from the App's
 * "Recent deliveries" page, or one of GitHub's example payloads, against the sandbox or a stage.
 *
 * The file is sent byte for byte unless an override (--action, --job-id) asks to rewrite it; the
 * secret is never printed.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sign } from '@octokit/webhooks-methods';
import { CliError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { sandboxBase } from './sandbox-api.js';

export interface ReplayOptions {
  readonly url?: string;
  readonly sandbox?: string;
  readonly secret?: string;
  readonly event: string;
  readonly delivery?: string;
  readonly action?: string;
  readonly jobId?: number;
  /** Set the job's created_at (and started_at) to now, so latency is measured from this replay. */
  readonly now?: boolean;
  readonly json?: boolean;
}

export interface ReplayResult {
  readonly url: string;
  readonly event: string;
  readonly delivery: string;
  readonly status: number;
  readonly body: unknown;
  readonly durationMs: number;
}

export async function replayCommand(file: string, options: ReplayOptions, io: CliIo): Promise<number> {
  const url = targetUrl(options);
  const secret = options.secret ?? io.env.WEBHOOK_SECRET;
  if (secret === undefined || secret === '')
    throw new CliError(
      'no webhook secret: pass --secret or set WEBHOOK_SECRET (the sandbox prints its own)',
      2,
    );
  const body = await payload(file, options);
  const delivery = options.delivery ?? randomUUID();

  io.err(`sending ${options.event} (${body.length} bytes, delivery ${delivery}) to ${url}…\n`);
  const started = performance.now();
  let response: Response;
  try {
    response = await io.fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/runners-replay',
        'x-github-event': options.event,
        'x-github-delivery': delivery,
        'x-hub-signature-256': await sign(secret, body),
      },
      body,
      // GitHub gives up after 10 s; waiting a little longer shows a slow answer rather than none.
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    const reason = (error as { cause?: { code?: string; message?: string } }).cause;
    const cause = reason?.code ?? reason?.message ?? (error as Error).message;
    throw new CliError(`cannot reach ${url} (${cause})`, 1, { cause: error });
  }
  const durationMs = Math.round(performance.now() - started);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: shown as text.
  }
  const result: ReplayResult = {
    url,
    event: options.event,
    delivery,
    status: response.status,
    body: parsed,
    durationMs,
  };
  if (options.json === true) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    io.out(`HTTP ${response.status} ${response.statusText} in ${durationMs} ms (delivery ${delivery})\n`);
    if (text !== '') io.out(`${typeof parsed === 'string' ? parsed : JSON.stringify(parsed, null, 2)}\n`);
  }
  return response.ok ? 0 : 1;
}

function targetUrl(options: ReplayOptions): string {
  const given =
    options.url ??
    (options.sandbox === undefined ? undefined : `${sandboxBase(options.sandbox)}/workflow_job`);
  if (given === undefined) throw new CliError('where to? pass --url (the webhook URL) or --sandbox', 2);
  try {
    const url = new URL(given);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return url.toString();
  } catch {
    throw new CliError(`--url: "${given}" is not an http(s) URL`, 2);
  }
}

async function payload(file: string, options: ReplayOptions): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read it (${code})`, 2, {
      cause: error,
    });
  }
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`${file}: not valid JSON (${(error as Error).message})`, 2, { cause: error });
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document))
    throw new CliError(`${file}: a webhook payload is a JSON object`, 2);
  if (options.action === undefined && options.jobId === undefined && options.now !== true) return text;

  const job = document.workflow_job as Record<string, unknown> | undefined;
  if (job === undefined || job === null || typeof job !== 'object')
    throw new CliError(
      `${file}: --action and --job-id rewrite a workflow_job payload, and this one has none`,
      2,
    );
  if (options.action !== undefined) {
    document.action = options.action;
    job.status = options.action;
  }
  if (options.jobId !== undefined) job.id = options.jobId;
  if (options.now === true) {
    // GitHub's timestamps have whole seconds.
    const now = `${new Date().toISOString().slice(0, 19)}Z`;
    job.created_at = now;
    job.started_at = now;
  }
  return JSON.stringify(document);
}
