/**
 * Helpers for the sandbox and CLI tests: the sandbox and the `runners` binary as child processes
 * (exactly as a user runs them), the CLI in-process with captured output, signed webhooks, and a check
 * that a port no longer answers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sign } from '@octokit/webhooks-methods';
import type { CliIo } from '../../bin/cli/cli-io.js';
import { sandboxOrg } from '../../bin/sandbox/stack.js';
import { workflowJobPayload } from '../../stand-ins/github/workflow-job-payload.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface SandboxProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly webhookUrl: string;
  readonly webhookSecret: string;
  output(): string;
  /** Resolves with the exit code (or the signal) once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bin/sandbox.ts` with `args` and waits for its banner. */
export async function startSandboxProcess(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 40_000,
): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/sandbox.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const until = Date.now() + timeoutMs;
  const field = (name: string) => new RegExp(`^\\s+${name}\\s+(\\S+)`, 'm').exec(out)?.[1];
  while (field('webhook secret') === undefined) {
    if (child.exitCode !== null) throw new Error(`the sandbox exited early:\n${out}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`the sandbox printed no banner in ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url: (field('dashboard') as string).replace(/\/$/, ''),
    webhookUrl: field('webhook URL') as string,
    webhookSecret: field('webhook secret') as string,
    output: () => out,
    exited,
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the `runners` binary (bin/runners.mjs) as a user would. */
export function runRunners(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/runners.mjs', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface CapturedIo extends CliIo {
  stdout(): string;
  stderr(): string;
}

/** An in-process CliIo: output captured, confirmations answered by `answer`. */
export function captureIo(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { interactive?: boolean; answer?: boolean } = {},
): CapturedIo {
  let out = '';
  let err = '';
  return {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
    env,
    interactive: options.interactive ?? false,
    confirm: async () => options.answer ?? false,
    fetch: globalThis.fetch,
    stdout: () => out,
    stderr: () => err,
  };
}

/** A real workflow_job payload (from GitHub's examples) for one job of ours. */
export function workflowJobBody(
  jobId: number,
  options: { owner?: string; labels?: readonly string[]; action?: 'queued' | 'in_progress' } = {},
): string {
  const now = `${new Date().toISOString().slice(0, 19)}Z`;
  const action = options.action ?? 'queued';
  return JSON.stringify(
    workflowJobPayload({
      action,
      job: {
        id: jobId,
        runId: jobId + 1_000,
        runAttempt: 1,
        name: 'build',
        workflowName: 'CI',
        labels: options.labels ?? ['self-hosted', 'linux', 'x64'],
        status: action,
        conclusion: null,
        createdAt: now,
        startedAt: now,
        completedAt: null,
        runnerId: null,
        runnerName: null,
        runnerGroupId: null,
        runnerGroupName: null,
      },
      repository: { owner: options.owner ?? sandboxOrg, name: 'octo-repo', id: 1_296_269 },
      installationId: 1,
    }),
  );
}

/** POSTs a webhook as GitHub does, signed with `secret`. */
export async function sendWebhook(
  url: string,
  body: string,
  secret: string,
  delivery: string,
): Promise<{ status: number; body: Record<string, unknown> | string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'workflow_job',
      'x-github-delivery': delivery,
      'x-hub-signature-256': await sign(secret, body),
    },
    body,
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    // Errors (401, 413 …) come as text, as API Gateway passes them from the handler.
    return { status: response.status, body: text };
  }
}

/** True when nothing accepts a connection on 127.0.0.1:`port`. */
export function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A port nothing listens on (it was free a moment ago). */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Debian's chromium may still be installing when the tests start: wait for it a while. */
export async function waitForChromium(path = '/usr/bin/chromium', timeoutMs = 120_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} is not installed`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return path;
}

export async function waitUntil(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
