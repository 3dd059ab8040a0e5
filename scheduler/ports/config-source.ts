import type { PoolsConfig } from '../core/pool-config.js';

/**
 * ConfigSource: the validated pool config. Implementations cache it briefly and keep serving the last
 * good document when a newer one is invalid (reporting the problems through `lastRejection`).
 */
export interface ConfigSource {
  load(): Promise<PoolsConfig>;
  lastRejection(): { at: number; problems: readonly string[] } | undefined;
}
