/**
 * One Node.js version story: `engines` names the oldest supported major, CI and the release build run
 * it, the Lambda runtime is a supported one at least as new, the bundle targets the runtime's major, and
 * the deploy guide says the same.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { controlPlaneRuntime, controlPlaneTarget } from '../../infra/constructs/control-plane-function.js';
import { repositoryRoot } from './example-config.js';

const read = (path: string) => readFileSync(join(repositoryRoot, path), 'utf8');
const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
const oldest = Number(/^>=(\d+)$/.exec(engines)?.[1]);
const runtimeMajor = Number(/^nodejs(\d+)\.x$/.exec(controlPlaneRuntime.name)?.[1]);

describe('Node.js versions', () => {
  it('engines names one oldest major, and it is one the Lambda service still supports (22 or later)', () => {
    expect(engines).toMatch(/^>=\d+$/);
    expect(oldest).toBeGreaterThanOrEqual(22);
  });

  it('CI and the release build run that major', () => {
    for (const workflow of ['pipeline.yml', 'release.yml'])
      expect(read(`.github/workflows/${workflow}`), workflow).toContain(`NODE_VERSION: "${oldest}"`);
  });

  it('the Lambda runtime is at least that major, and the bundle targets the runtime', () => {
    expect(runtimeMajor).toBeGreaterThanOrEqual(oldest);
    expect(controlPlaneTarget).toBe(`node${runtimeMajor}`);
  });

  it('the deploy guide names both', () => {
    const guide = read('docs/deploy.md');
    expect(guide).toContain(`Node.js ${oldest} or later`);
    expect(guide).toContain(`nodejs${runtimeMajor}.x`);
  });
});
