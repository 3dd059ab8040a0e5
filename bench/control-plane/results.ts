/**
 * bench/results/latest.json: the control-plane figures of the last run, with the simulator's figures
 * (bench/results/simulation.json, written by bench/simulate.ts) merged in when they exist.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BurstRecoveryReport } from './burst-recovery.js';
import type { ControlPlaneReport } from './report.js';
import type { ScaleReport } from './scale-report.js';

export const defaultResultsDir = 'bench/results';

/** When and by which command a scenario's figures were made (they are written apart from the burst's). */
export interface Stamp {
  readonly generatedAt: string;
  readonly command: string;
}

/** The scenarios run apart from the burst, kept in latest.json until the same scenario runs again. */
export interface ControlPlaneScenarios {
  /** Organization scale: one App against two (bench/control-plane/scale.ts). */
  readonly scale?: ScaleReport & Stamp;
  /** Recovery from a burst with lost webhooks (bench/control-plane/burst-recovery.ts). */
  readonly burstRecovery?: BurstRecoveryReport & Stamp;
}

export interface LatestResults {
  /** When the burst figures (the top level of `controlPlane`) were made, and by which command. */
  readonly generatedAt: string;
  readonly command: string;
  /** The burst's figures, with the other scenarios' under `scale` and `burstRecovery`. */
  readonly controlPlane: (ControlPlaneReport & ControlPlaneScenarios) | ControlPlaneScenarios | null;
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
 * Writes latest.json with these burst figures (null: none) and, unless told otherwise, the simulator's
 * figures found beside it. The other scenarios' figures already in latest.json are kept: each is
 * replaced only by a run of the same scenario (writeScenarios).
 */
export function writeLatest(
  dir: string,
  command: string,
  controlPlane: ControlPlaneReport | null,
  options: { readonly includeSimulation?: boolean } = {},
): LatestResults {
  mkdirSync(dir, { recursive: true });
  const simulation = options.includeSimulation === false ? undefined : readSimulation(dir);
  const scenarios = scenariosOf(readLatest(dir)?.controlPlane);
  const burst = controlPlane === null ? null : burstOf(controlPlane);
  const latest: LatestResults = {
    generatedAt: new Date().toISOString(),
    command,
    controlPlane:
      burst === null ? (Object.keys(scenarios).length > 0 ? scenarios : null) : { ...burst, ...scenarios },
    simulation: simulation?.simulation ?? null,
    ...(simulation !== undefined && { simulationGeneratedAt: simulation.writtenAt }),
  };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(latest, null, 2)}\n`);
  return latest;
}

/**
 * Puts one run's scenario figures (scale, burst recovery) into latest.json, each stamped with this
 * command and time; the burst's figures, the other scenario's and the simulator's stay as they were.
 */
export function writeScenarios(
  dir: string,
  command: string,
  figures: { readonly scale?: ScaleReport; readonly burstRecovery?: BurstRecoveryReport },
): LatestResults {
  mkdirSync(dir, { recursive: true });
  const previous = readLatest(dir);
  const stamp: Stamp = { generatedAt: new Date().toISOString(), command };
  const scenarios: ControlPlaneScenarios = {
    ...scenariosOf(previous?.controlPlane),
    ...(figures.scale !== undefined && { scale: { ...stamp, ...figures.scale } }),
    ...(figures.burstRecovery !== undefined && { burstRecovery: { ...stamp, ...figures.burstRecovery } }),
  };
  const burst = previous?.controlPlane == null ? null : burstOf(previous.controlPlane);
  const latest: LatestResults = {
    generatedAt: previous?.generatedAt ?? stamp.generatedAt,
    command: previous?.command ?? command,
    controlPlane: burst === null ? scenarios : { ...burst, ...scenarios },
    simulation: previous?.simulation ?? null,
    ...(previous?.simulationGeneratedAt !== undefined && {
      simulationGeneratedAt: previous.simulationGeneratedAt,
    }),
  };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(latest, null, 2)}\n`);
  return latest;
}

function scenariosOf(controlPlane: LatestResults['controlPlane'] | undefined): ControlPlaneScenarios {
  return {
    ...(controlPlane?.scale !== undefined && { scale: controlPlane.scale }),
    ...(controlPlane?.burstRecovery !== undefined && { burstRecovery: controlPlane.burstRecovery }),
  };
}

/** The burst's own figures, without scenario figures (a report read back from latest.json has them). */
function burstOf(controlPlane: LatestResults['controlPlane']): ControlPlaneReport | null {
  if (controlPlane === null || !('jobs' in controlPlane)) return null;
  const {
    scale: _s,
    burstRecovery: _r,
    ...burst
  } = controlPlane as ControlPlaneReport & ControlPlaneScenarios;
  return burst;
}
