/** Reads a running sandbox's API: GET /api/state (for `status`, and to find its peers) and its runner groups. */
import type { SandboxRunnerGroups, SandboxState } from '../sandbox/server-api.js';
import { CliError } from './cli-error.js';
import type { CliIo } from './cli-io.js';

export function sandboxBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--sandbox: "${url}" is not a URL (e.g. http://127.0.0.1:8080)`, 2);
  }
  return parsed.origin;
}

export async function fetchSandboxState(url: string, io: CliIo): Promise<SandboxState> {
  const endpoint = `${sandboxBase(url)}/api/state`;
  let response: Response;
  try {
    response = await io.fetch(endpoint, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const reason = (error as { cause?: { code?: string; message?: string } }).cause;
    const cause = reason?.code ?? reason?.message ?? (error as Error).message;
    throw new CliError(`cannot reach the sandbox at ${endpoint} (${cause}); is \`npm start\` running?`, 1, {
      cause: error,
    });
  }
  if (!response.ok) throw new CliError(`${endpoint} answered HTTP ${response.status}: is this a sandbox?`);
  const body = (await response.json().catch(() => undefined)) as Partial<SandboxState> | undefined;
  if (!Array.isArray(body?.pools) || !Array.isArray(body?.instances) || !Array.isArray(body?.jobs))
    throw new CliError(`${endpoint} did not answer with the sandbox's state`);
  return body as SandboxState;
}

/** Reads a running sandbox's GET /api/github/runner-groups, for `runners pools … --check-github`. */
export async function fetchSandboxRunnerGroups(url: string, io: CliIo): Promise<SandboxRunnerGroups> {
  const endpoint = `${sandboxBase(url)}/api/github/runner-groups`;
  let response: Response;
  try {
    response = await io.fetch(endpoint, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const reason = (error as { cause?: { code?: string; message?: string } }).cause;
    const cause = reason?.code ?? reason?.message ?? (error as Error).message;
    throw new CliError(`cannot reach the sandbox at ${endpoint} (${cause}); is \`npm start\` running?`, 1, {
      cause: error,
    });
  }
  const body = (await response.json().catch(() => undefined)) as
    | (Partial<SandboxRunnerGroups> & { error?: unknown })
    | undefined;
  if (!response.ok)
    throw new CliError(
      typeof body?.error === 'string'
        ? `the sandbox could not read its runner groups: ${body.error}`
        : `${endpoint} answered HTTP ${response.status}: is this a sandbox?`,
    );
  if (!Array.isArray(body?.owners)) throw new CliError(`${endpoint} did not answer with the runner groups`);
  return body as SandboxRunnerGroups;
}
