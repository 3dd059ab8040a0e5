/**
 * `npm run bench:simulate -- --seed N --out DIR` writes DIR/simulation.json whose
 * `simulation.policies.tiered` has the shape of every other policy's summary, for any N; `--seeds`
 * adds each seed's figures and their spread. A short trace keeps it fast. Bad options write nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function simulate(args: string[]): { status: number | null; out: string; stderr: string } {
  const out = mkdtempSync(join(tmpdir(), 'wpr-sim-'));
  dirs.push(out);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/simulate.ts',
      '--quick',
      '--days',
      '1',
      '--jobs-per-weekday',
      '120',
      ...args,
      '--out',
      out,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { status: result.status, out, stderr: result.stderr };
}

type Summary = Record<string, unknown> & { p50S: number; p95S: number; costPerJob: number };

describe('bench:simulate', () => {
  it.each([3, 9])(
    '--seed %i writes simulation.policies.tiered like the other policies',
    { timeout: 180_000 },
    (seed) => {
      const run = simulate(['--seed', String(seed)]);
      expect(run.status, run.stderr).toBe(0);
      const document = JSON.parse(readFileSync(join(run.out, 'simulation.json'), 'utf8')) as {
        simulation: { seed: number; policies: Record<string, Summary>; goals: { goal: string }[] };
      };
      const { simulation } = document;
      expect(simulation.seed).toBe(seed);
      const tiered = simulation.policies.tiered;
      const ours = simulation.policies.ours;
      expect(tiered).toBeDefined();
      expect(ours).toBeDefined();
      for (const key of ['p50S', 'p95S', 'costPerJob'] as const) {
        expect(Number.isFinite(tiered?.[key])).toBe(true);
        expect(tiered?.[key]).toBeGreaterThan(0);
      }
      // Every field ours has (one is present only when some job waited over a minute).
      const required = Object.keys(ours ?? {}).filter((k) => k !== 'lateWithTimelyWebhookShare');
      expect(Object.keys(tiered ?? {})).toEqual(expect.arrayContaining(required));
      expect(simulation.goals.filter((g) => g.goal.startsWith('tiered:'))).toHaveLength(4);
    },
  );

  it('--seeds gives each seed its figures and the spread across them', { timeout: 180_000 }, () => {
    const run = simulate(['--seeds', '5,6']);
    expect(run.status, run.stderr).toBe(0);
    const { simulation } = JSON.parse(readFileSync(join(run.out, 'simulation.json'), 'utf8')) as {
      simulation: {
        seeds: number[];
        bySeed: { seed: number; policies: Record<string, Summary> }[];
        spread: Record<string, { p95S: { min: number; max: number; bySeed: number[] } }>;
      };
    };
    expect(simulation.seeds).toEqual([5, 6]);
    expect(simulation.bySeed.map((s) => s.seed)).toEqual([5, 6]);
    const p95s = simulation.bySeed.map((s) => s.policies.tiered?.p95S);
    expect(simulation.spread.tiered?.p95S.bySeed).toEqual(p95s);
    expect(simulation.spread.tiered?.p95S.min).toBe(Math.min(...(p95s as number[])));
  });

  it('refuses a seed listed twice and writes nothing', () => {
    const run = simulate(['--seeds', '2,2']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('lists a seed twice');
    expect(existsSync(join(run.out, 'simulation.json'))).toBe(false);
  });
});
