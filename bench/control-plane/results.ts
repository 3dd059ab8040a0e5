/**
 * bench/results/latest.json: the control-plane figures of the last run, with the simulator's figures
 * (bench/results/simulation.json, written by bench/simulate.ts) merged in when they exist.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlaneReport } from './report.js';

export const defaultResultsDir = 'bench/results';

export interface LatestResults {
  readonly generatedAt: string;
  readonly command: string;
  readonly controlPlane: ControlPlaneReport | null;
  readonly simulation: unknown;
  /** When simulation.json was written, so a stale one shows. */
  readonly simulationGeneratedAt?: string;
}

/** The simulator's figures, whether the file holds `{ simulation: … }` or the figures themselves. */
export function readSimulation(dir: string): { simulation: unknown; writtenAt: string } | undefined {
  const path = join(dir, 'simulation.json');
  if (!existsSync(path)) return undefined;
  const document = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return {
    simulation: 'simulation' in document ? document.simulation : document,
    writtenAt: statSync(path).mtime.toISOString(),
  };
}

export function readLatest(dir: string): LatestResults | undefined {
  const path = join(dir, 'latest.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as LatestResults) : undefined;
}

/**
 * Writes latest.json with these control-plane figures (null: none) and, unless told otherwise, the
 * simulator's figures found beside it.
 */
export function writeLatest(
  dir: string,
  command: string,
  controlPlane: ControlPlaneReport | null,
  options: { readonly includeSimulation?: boolean } = {},
): LatestResults {
  mkdirSync(dir, { recursive: true });
  const simulation = options.includeSimulation === false ? undefined : readSimulation(dir);
  const latest: LatestResults = {
    generatedAt: new Date().toISOString(),
    command,
    controlPlane,
    simulation: simulation?.simulation ?? null,
    ...(simulation !== undefined && { simulationGeneratedAt: simulation.writtenAt }),
  };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(latest, null, 2)}\n`);
  return latest;
}
