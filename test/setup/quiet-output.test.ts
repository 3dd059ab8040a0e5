/**
 * A green run is quiet and a red one is not: with the project's vitest configuration, the handlers'
 * JSON log lines (written straight to stdout) and console output appear for a failing test only.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repositoryRoot } from '../infra/example-config.js';

it('prints a test’s log lines only when the test fails', () => {
  const require = createRequire(import.meta.url);
  const vitest = join(require.resolve('vitest/package.json'), '..', 'vitest.mjs');
  const result = spawnSync(
    process.execPath,
    [vitest, 'run', '--config', 'test/setup/quiet.fixture.config.ts', '--color=false'],
    { cwd: repositoryRoot, encoding: 'utf8', env: { ...process.env, CI: 'true' } },
  );
  const output = `${result.stdout}${result.stderr}`;
  expect(result.status).toBe(1);
  expect(output).toContain('log line of a failing test');
  expect(output).toContain("expected 'the failure' to be 'shown'");
  expect(output).not.toContain('log line of a passing test');
  expect(output).not.toContain('console line of a passing test');
});
