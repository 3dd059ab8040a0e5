/**
 * `runners cost` without a stack: which days it reads, how it refuses a bad range before reading
 * anything, and its table. The command against real data (a table and a sandbox) is in
 * test/e2e/cost.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { type CostCommandReport, costRange, formatCost } from '../../bin/cli/cost-command.js';
import { runCli } from '../../bin/cli/program.js';
import { CostAccumulator } from '../../scheduler/core/cost-attribution.js';
import { captureIo } from './support.js';

const now = Date.UTC(2026, 2, 10, 0, 30);

describe('runners cost: the days', () => {
  it('reads yesterday (UTC) by default, one day, or a range', () => {
    expect(costRange({}, now)).toEqual({ from: '2026-03-09', to: '2026-03-09' });
    expect(costRange({ day: '2026-03-01' }, now)).toEqual({ from: '2026-03-01', to: '2026-03-01' });
    expect(costRange({ from: '2026-03-01', to: '2026-03-07' }, now)).toEqual({
      from: '2026-03-01',
      to: '2026-03-07',
    });
    expect(costRange({ from: '2026-03-01' }, now)).toEqual({ from: '2026-03-01', to: '2026-03-01' });
  });

  it('refuses a bad or contradictory range with exit 2, before reading anything', async () => {
    for (const [args, message] of [
      [['--day', '2026-02-30'], /"2026-02-30" is not a day/],
      [['--day', '2026-03-01', '--from', '2026-03-01'], /either --day or --from\/--to/],
      [['--to', '2026-03-01'], /--to needs --from/],
      [['--from', '2026-03-07', '--to', '2026-03-01'], /ends \(2026-03-01\) before it starts/],
      [['--from', '2026-01-01', '--to', '2026-03-01'], /at most 31 days/],
    ] as const) {
      const io = captureIo({
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:9',
      });
      expect(await runCli(['cost', ...args], io), args.join(' ')).toBe(2);
      expect(io.stderr()).toMatch(message);
      expect(io.stderr()).not.toContain('reading');
    }
  });
});

describe('runners cost: the table', () => {
  it('lists the top repositories, sums the rest as other, and states the pricing', () => {
    const accumulator = new CostAccumulator();
    for (const [owner, name, seconds] of [
      ['acme', 'web', 7_200],
      ['acme', 'api', 3_600],
      ['globex', 'app', 1_800],
    ] as const)
      accumulator.addJob({
        repository: { owner, name },
        usage: {
          instanceId: 'i-1',
          pool: 'p',
          market: 'pool',
          instanceType: 'm7i.large',
          seconds,
          endedAt: 0,
        },
      });
    accumulator.addJob({ repository: { owner: 'acme', name: 'web' } });
    const report: CostCommandReport = {
      source: { kind: 'aws', table: 'wpr-pool-store' },
      from: '2026-03-09',
      to: '2026-03-09',
      ...accumulator.attribute([], { volumeGb: () => 30 }),
    };
    const text = formatCost(report, 1);
    expect(text).toContain('Cost 2026-03-09 (UTC days) — table wpr-pool-store');
    expect(text).toContain('Total $0.35: 3 jobs (+1 completed with no instance time booked)');
    expect(text).toMatch(/^acme\/web\s+1\s+2\.00 h\s+–\s+–\s+0\.2016\s+0\.0000\s+\$0\.20$/m);
    expect(text).toMatch(/^other \(2\)\s+2\s+1\.50 h/m);
    expect(text).toMatch(/^acme\s+2\s+\$0\.30$/m);
    expect(text).toContain('cents by largest remainder');
  });
});
