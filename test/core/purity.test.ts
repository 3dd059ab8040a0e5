/**
 * The scheduler core stays pure: no SDK, no Octokit, no process.env, no Date.now(), no timers.
 * Biome enforces the import part in the editor; this test enforces all of it in CI, so the rule
 * cannot rot silently.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const coreDir = join(import.meta.dirname, '../../scheduler/core');
const forbidden: [RegExp, string][] = [
  [/from\s+['"](@aws-sdk|@octokit|@middy|aws-cdk-lib|node:)/, 'imports an SDK or Node built-in'],
  [/\bprocess\./, 'reads process'],
  [/\bDate\.now\(/, 'reads the wall clock (use the Clock port)'],
  [/\bnew Date\(\)/, 'reads the wall clock (use the Clock port)'],
  [/\bMath\.random\(/, 'draws randomness (take a random source as a parameter)'],
  [/\b(setTimeout|setInterval|setImmediate)\(/, 'waits on a timer'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('scheduler core purity', () => {
  const files = sourceFiles(coreDir);

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(3);
  });

  it.each(files.map((f) => [f.slice(coreDir.length + 1), f]))(
    '%s uses no I/O, wall clock or randomness',
    (_, file) => {
      const violations = readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) =>
          forbidden
            .filter(([pattern]) => pattern.test(line))
            .map(([, why]) => `line ${i + 1} ${why}: ${line.trim()}`),
        );
      expect(violations).toEqual([]);
    },
  );

  it('catches a violation (the check itself works)', () => {
    const sample = "import { EC2Client } from '@aws-sdk/client-ec2';\nconst t = Date.now();";
    const hits = sample.split('\n').filter((line) => forbidden.some(([p]) => p.test(line)));
    expect(hits).toHaveLength(2);
  });
});
