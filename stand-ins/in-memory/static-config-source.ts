/**
 * StaticConfigSource: the ConfigSource port over a document held in memory, validated by the same
 * schema as the SSM adapter and with its semantics:
 * - an invalid document never replaces the last good one; `lastRejection` reports its problems until a
 *   good document replaces it;
 * - with no good document ever, `load` throws InvalidPoolConfigError;
 * - with `ttlMs` (and a clock), a newly set document is only seen once the cached one expires;
 *   by default (ttl 0) every `load` sees the latest `set`.
 * A document may be given as JSON text (as stored in SSM) or as a parsed value.
 */
import {
  type ConfigValidation,
  InvalidPoolConfigError,
  type PoolsConfig,
  parsePoolsConfig,
  validatePoolsConfig,
} from '../../scheduler/core/pool-config.js';
import type { Clock } from '../../scheduler/ports/clock.js';
import type { ConfigSource } from '../../scheduler/ports/config-source.js';

export interface StaticConfigSourceOptions {
  readonly clock?: Clock;
  readonly ttlMs?: number;
}

const zeroClock: Clock = { now: () => 0 };

export class StaticConfigSource implements ConfigSource {
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private document: unknown;
  private generation = 0;
  private seenGeneration = -1;
  private fetchedAt: number | undefined;
  private good: PoolsConfig | undefined;
  private rejection: { at: number; problems: readonly string[] } | undefined;
  private lastProblems: readonly string[] = [];

  constructor(document: unknown, options: StaticConfigSourceOptions = {}) {
    this.clock = options.clock ?? zeroClock;
    this.ttlMs = options.ttlMs ?? 0;
    this.document = document;
  }

  /**
   * Publishes a new document (as writing the SSM parameter would) and returns its validation, so a
   * test can tell at once whether it will be accepted. It takes effect on the next load past the TTL.
   */
  set(document: unknown): ConfigValidation {
    this.document = document;
    this.generation += 1;
    return validate(document);
  }

  async load(): Promise<PoolsConfig> {
    const now = this.clock.now();
    const fresh = this.fetchedAt !== undefined && now - this.fetchedAt < this.ttlMs;
    if (!fresh) {
      this.fetchedAt = now;
      // Validate each published document once; re-reading an unchanged one changes nothing.
      if (this.seenGeneration !== this.generation) {
        this.seenGeneration = this.generation;
        const result = validate(this.document);
        if (result.ok) {
          this.good = result.config;
          this.lastProblems = [];
          this.rejection = undefined;
        } else {
          this.rejection = { at: now, problems: result.problems };
          this.lastProblems = result.problems;
        }
      }
    }
    if (this.good === undefined) throw new InvalidPoolConfigError(this.lastProblems);
    return this.good;
  }

  lastRejection(): { at: number; problems: readonly string[] } | undefined {
    return this.rejection;
  }
}

function validate(document: unknown): ConfigValidation {
  return typeof document === 'string' ? parsePoolsConfig(document) : validatePoolsConfig(document);
}
