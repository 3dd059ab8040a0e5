/**
 * Runs the real instance agent (ami/agent/wpr-agent.sh) in a throwaway directory, as systemd would on a
 * boot, with every outside thing replaced: IMDS by the emulator, SSM by its peer (through the stand-in
 * `aws` on PATH) and EC2 by its emulator, docker, the runner and power-off by recording stand-ins, the root
 * volume by a small file.
 * A sandbox is one instance: its state directory (the warm-up marker) survives between boots.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localClientConfig } from '../../stand-ins/aws/aws-json-server.js';
import { type ImdsEmulator, startImdsEmulator } from './imds-emulator.js';

export const agentPath = fileURLToPath(new URL('../../ami/agent/wpr-agent.sh', import.meta.url));
export const hookPath = fileURLToPath(new URL('../../ami/agent/wpr-runner-hook.sh', import.meta.url));
const standIns = fileURLToPath(new URL('./stand-ins/', import.meta.url));

export const parameterPrefix = '/wpr-test';
export const diskBytes = 3 * 1024 * 1024;

export interface SandboxOptions {
  readonly instanceId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly ssmEndpoint: string;
  /** The EC2 peer, for CreateTags on the instance. */
  readonly ec2Endpoint: string;
  /** The in-process stand-in CLI (aws-stand-in-server.ts); without it each call runs aws.mjs in Node. */
  readonly awsServerUrl?: string;
}

export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly logFile: string;
}

export interface RunningAgent {
  readonly process: ChildProcess;
  /** Resolves with the first stdout line matching, or rejects when the agent exits first. */
  waitForLine(pattern: RegExp): Promise<string>;
  readonly exited: Promise<AgentExit>;
}

export class AgentSandbox {
  private constructor(
    readonly dir: string,
    readonly imds: ImdsEmulator,
    private readonly options: SandboxOptions,
  ) {}

  static async create(options: SandboxOptions): Promise<AgentSandbox> {
    const dir = await mkdtemp(join(tmpdir(), 'wpr-agent-'));
    await cp(join(standIns, 'runner'), join(dir, 'runner'), { recursive: true });
    await mkdir(join(dir, 'records'));
    await mkdir(join(dir, 'state'));
    // The image installs the hook script under both names; links keep the real file under test.
    await mkdir(join(dir, 'hooks'));
    await symlink(hookPath, join(dir, 'hooks', 'job-started.sh'));
    await symlink(hookPath, join(dir, 'hooks', 'job-completed.sh'));
    await writeFile(join(dir, 'disk.img'), randomBytes(diskBytes));
    const imds = await startImdsEmulator({
      instanceId: options.instanceId,
      region: 'us-east-1',
      tags: options.tags,
    });
    return new AgentSandbox(dir, imds, options);
  }

  get markerPath(): string {
    return join(this.dir, 'state', 'warmed');
  }

  get runnerDir(): string {
    return join(this.dir, 'runner');
  }

  /** Boots the agent once. `settings` override WPR_* variables (grace period, poll interval, ...). */
  boot(settings: Readonly<Record<string, string>> = {}): RunningAgent {
    const credentials = localClientConfig(this.options.ssmEndpoint).credentials;
    const env: Record<string, string> = {
      PATH: `${join(standIns, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: this.dir,
      LANG: 'C.UTF-8',
      TMPDIR: this.dir,
      AWS_ENDPOINT_URL_SSM: this.options.ssmEndpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      WPR_IMDS_ENDPOINT: this.imds.endpoint,
      WPR_PARAMETER_PREFIX: parameterPrefix,
      WPR_RUNNER_DIR: this.runnerDir,
      WPR_RUNNER_USER: '',
      WPR_STATE_DIR: join(this.dir, 'state'),
      WPR_RUN_DIR: join(this.dir, 'run'),
      WPR_HOOK_DIR: join(this.dir, 'hooks'),
      WPR_WARM_DEVICE: join(this.dir, 'disk.img'),
      WPR_FIO_CLI: 'fio-not-installed',
      WPR_POWEROFF_CMD: 'poweroff',
      WPR_JIT_GRACE_SECONDS: '10',
      WPR_JIT_BACKOFF_FIRST_MS: '50',
      WPR_JIT_BACKOFF_MAX_MS: '400',
      WPR_STOP_GRACE_SECONDS: '5',
      WPR_DOCKER_WAIT_SECONDS: '2',
      WPR_LOG_FILE: join(this.dir, 'agent.log'),
      WPR_TEST_RECORD_DIR: join(this.dir, 'records'),
      AWS_ENDPOINT_URL_EC2: this.options.ec2Endpoint,
      ...(this.options.awsServerUrl === undefined ? {} : { WPR_TEST_AWS_SERVER: this.options.awsServerUrl }),
      ...settings,
    };
    const child = spawn('bash', [agentPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      for (const watcher of [...watchers]) {
        const line = stdout.split('\n').find((l) => watcher.pattern.test(l));
        if (line !== undefined) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<AgentExit>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        readFile(join(this.dir, 'agent.log'), 'utf8')
          .catch(() => '')
          .then((logFile) => resolve({ code, signal, stdout, stderr, logFile }), reject);
      });
    });
    return {
      process: child,
      exited,
      waitForLine: (pattern) =>
        new Promise<string>((resolve, reject) => {
          const line = stdout.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) return resolve(line);
          watchers.push({ pattern, resolve });
          exited.then(() => reject(new Error(`agent exited before printing ${pattern}\n${stdout}`)), reject);
        }),
    };
  }

  async record(name: 'aws' | 'docker' | 'poweroff'): Promise<string[]> {
    const text = await readFile(join(this.dir, 'records', `${name}.log`), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  }

  async runnerLog(): Promise<string[]> {
    const text = await readFile(join(this.runnerDir, 'runner.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  }

  /** What the stand-in runner kept of the config it was given (its own files, as the real runner does). */
  async runnerReceivedConfig(): Promise<string | undefined> {
    return readFile(join(this.runnerDir, '.jitconfig'), 'utf8').catch(() => undefined);
  }

  /** What the stand-in runner does once started (see stand-ins/runner/run.sh); `jobMs` is how long a job works. */
  async setRunnerMode(mode: 'job' | 'silent-job' | 'idle' | 'no-job', jobMs = 0): Promise<void> {
    await writeFile(join(this.runnerDir, 'mode'), mode);
    await writeFile(join(this.runnerDir, 'job-ms'), String(jobMs));
  }

  /** What the hooks printed into the job's log. */
  async hookOutput(): Promise<string> {
    return readFile(join(this.runnerDir, 'hook-output.log'), 'utf8').catch(() => '');
  }

  async setRunnerExitCode(code: number): Promise<void> {
    await writeFile(join(this.runnerDir, 'exit-code'), String(code));
  }

  async breakRunner(): Promise<void> {
    await writeFile(join(this.runnerDir, 'check-fails'), '');
  }

  async dispose(): Promise<void> {
    await this.imds.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A JIT config shaped like GitHub's: base64 of a JSON object holding the runner's settings files. */
export function fakeJitConfig(): { encoded: string; marker: string } {
  const marker = randomBytes(16).toString('hex');
  const files = {
    '.runner': Buffer.from(JSON.stringify({ agentId: 42, agentName: `runner-${marker}` })).toString('base64'),
    '.credentials': Buffer.from(JSON.stringify({ scheme: 'OAuth', data: { token: marker } })).toString(
      'base64',
    ),
    '.credentials_rsaparams': Buffer.from(JSON.stringify({ d: marker, exponent: 'AQAB' })).toString('base64'),
  };
  return { encoded: Buffer.from(JSON.stringify(files)).toString('base64'), marker };
}

/** `key=value` pairs of the log lines for one event. */
export function events(stdout: string, event: string): Record<string, string>[] {
  return stdout
    .split('\n')
    .filter((line) => line.includes(` event=${event}`) && new RegExp(` event=${event}( |$)`).test(line))
    .map((line) => {
      const fields: Record<string, string> = {};
      for (const match of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
        const [, key, raw] = match;
        if (key !== undefined && raw !== undefined)
          fields[key] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
      }
      return fields;
    });
}
