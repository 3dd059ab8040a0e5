// Run only by test/setup/quiet-output.test.ts, through quiet.fixture.config.ts (not a *.test.ts file).
import { expect, it } from 'vitest';

it('passes', () => {
  process.stdout.write('{"level":"INFO","message":"log line of a passing test"}\n');
  console.log('console line of a passing test');
});

it('fails', () => {
  process.stdout.write('{"level":"WARN","message":"log line of a failing test"}\n');
  expect('the failure').toBe('shown');
});
