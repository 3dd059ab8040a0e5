/**
 * SsmConfigSource: the ConfigSource port on one SSM String parameter holding the pools as JSON.
 *
 * - A read is cached for `ttlMs` (30 s by default, by the injected clock); concurrent loads share one
 *   GetParameter, so a burst of webhooks costs one call against Parameter Store's 40 TPS.
 * - Each version of the document is validated once (keyed by Version and LastModifiedDate). A rejected
 *   version never replaces the last good config; `lastRejection` reports its problems and when it was
 *   first read, until a good version replaces it.
 * - The last good config survives a cold start: a container that has none and reads a rejected version
 *   walks the parameter's history (GetParameterHistory keeps the last 100 versions) back to the newest
 *   version that validates, and serves it. Only with no good version at all does `load` throw
 *   InvalidPoolConfigError, so one invalid write is never an outage.
 * - A failed read (throttled past the SDK's retries, network) keeps serving the last good config until
 *   the next TTL; with nothing to serve it is a ConfigReadError.
 * - The config holds no secret: a SecureString parameter is refused rather than decrypted.
 */
import {
  GetParameterCommand,
  type ParameterHistory,
  ParameterNotFound,
  paginateGetParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import {
  type ConfigValidation,
  InvalidPoolConfigError,
  type PoolsConfig,
  parsePoolsConfig,
} from '../core/pool-config.js';
import type { Clock } from '../ports/clock.js';
import type { ConfigSource } from '../ports/config-source.js';

export class ConfigReadError extends Error {
  override readonly name = 'ConfigReadError';
}

export interface SsmConfigSourceOptions {
  readonly client: SSMClient;
  readonly parameterName: string;
  readonly clock: Clock;
  /** How long a read is reused; 30 s by default. */
  readonly ttlMs?: number;
  /**
   * Problems of a well-formed config under this deployment (e.g. a hot pool with no organization to
   * register with): reported and rejected like the document's own problems.
   */
  readonly check?: (config: PoolsConfig) => readonly string[];
}

export class SsmConfigSource implements ConfigSource {
  private readonly client: SSMClient;
  private readonly parameterName: string;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly check: (config: PoolsConfig) => readonly string[];
  private good: PoolsConfig | undefined;
  private fetchedAt: number | undefined;
  private seenVersion: string | undefined;
  private lastProblems: readonly string[] = [];
  private rejection: { at: number; problems: readonly string[] } | undefined;
  private inFlight: Promise<PoolsConfig> | undefined;

  constructor(options: SsmConfigSourceOptions) {
    this.client = options.client;
    this.parameterName = options.parameterName;
    this.clock = options.clock;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.check = options.check ?? (() => []);
  }

  private validate(text: string): ConfigValidation {
    const result = parsePoolsConfig(text);
    if (!result.ok) return result;
    const problems = this.check(result.config);
    return problems.length === 0 ? result : { ok: false, problems: [...problems] };
  }

  load(): Promise<PoolsConfig> {
    if (this.fetchedAt !== undefined && this.clock.now() - this.fetchedAt < this.ttlMs) return this.current();
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  lastRejection(): { at: number; problems: readonly string[] } | undefined {
    return this.rejection;
  }

  private async refresh(): Promise<PoolsConfig> {
    const now = this.clock.now();
    let document: { version: string; text: string; secure: boolean } | undefined;
    try {
      const { Parameter } = await this.client.send(new GetParameterCommand({ Name: this.parameterName }));
      document = {
        version: `${Parameter?.Version ?? 0}@${Parameter?.LastModifiedDate?.getTime() ?? 0}`,
        text: Parameter?.Value ?? '',
        secure: Parameter?.Type === 'SecureString',
      };
    } catch (error) {
      if (!(error instanceof ParameterNotFound)) {
        if (this.good === undefined)
          throw new ConfigReadError(
            `could not read the pool config ${this.parameterName}: ${errorName(error)}`,
            {
              cause: error,
            },
          );
        // Serve the last good config and try again after the TTL rather than on every call.
        this.fetchedAt = now;
        return this.good;
      }
    }
    this.fetchedAt = now;
    const version = document?.version ?? 'missing';
    if (version !== this.seenVersion) {
      this.seenVersion = version;
      const result =
        document === undefined
          ? { ok: false as const, problems: [`(root): the parameter ${this.parameterName} does not exist`] }
          : document.secure
            ? {
                ok: false as const,
                problems: [
                  `(root): ${this.parameterName} is a SecureString; the pool config is a String parameter`,
                ],
              }
            : this.validate(document.text);
      if (result.ok) {
        this.good = result.config;
        this.lastProblems = [];
        this.rejection = undefined;
      } else {
        this.lastProblems = result.problems;
        this.rejection = { at: now, problems: result.problems };
        if (this.good === undefined && document !== undefined && !document.secure)
          this.good = await this.lastGoodInHistory();
      }
    }
    return this.current();
  }

  /** The newest version in the parameter's history that validates, if any (undefined on a read error). */
  private async lastGoodInHistory(): Promise<PoolsConfig | undefined> {
    const versions: ParameterHistory[] = [];
    try {
      for await (const page of paginateGetParameterHistory(
        { client: this.client, pageSize: 50 },
        { Name: this.parameterName },
      ))
        versions.push(...(page.Parameters ?? []));
    } catch {
      // No history to fall back on (throttled, or not allowed): the rejection stands as it is.
      return undefined;
    }
    for (const version of versions.sort((a, b) => (b.Version ?? 0) - (a.Version ?? 0))) {
      if (version.Type === 'SecureString') continue;
      const result = this.validate(version.Value ?? '');
      if (result.ok) return result.config;
    }
    return undefined;
  }

  private async current(): Promise<PoolsConfig> {
    if (this.good === undefined) throw new InvalidPoolConfigError(this.lastProblems);
    return this.good;
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}
