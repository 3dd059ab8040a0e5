/** cdk.json as the CLI reads it: its context holds the feature flags and the example configuration. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextKey } from '../../infra/config/load-deployment-config.js';

export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const cdkJson = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8')) as {
  app: string;
  context: Record<string, unknown>;
};

/** The example configuration, as a fresh plain document (to derive bad variants from). */
export function exampleDocument(): Record<string, unknown> {
  return structuredClone(cdkJson.context[contextKey]) as Record<string, unknown>;
}
