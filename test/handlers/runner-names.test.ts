/**
 * Two deployments in one organization (two Apps, each with its own installation) keep the same runner
 * name prefix by default: each must recognise only its own runners, or each one's orphan reaping deletes
 * the other's live runners.
 */
import { describe, expect, it } from 'vitest';
import { runnerSettings } from '../../handlers/control-plane.js';
import type { CoreDeps } from '../../scheduler/core/deps.js';
import { instanceOfRunner, runnerName } from '../../scheduler/core/deps.js';
import { reconcile } from '../../scheduler/core/reconcile.js';
import { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';
import { fakePlane } from './support.js';

describe('runner names per installation', () => {
  it('carry the installation id, so a name leads back to its instance only for its own deployment', () => {
    const { settings } = fakePlane();
    const a = runnerSettings(settings, 1);
    const b = runnerSettings(settings, 22);
    const name = runnerName(b, 'octo-org', 'i-0123456789abcdef0');
    expect(name).toBe('wpr-22-i-0123456789abcdef0');
    expect(instanceOfRunner(b, name)).toBe('i-0123456789abcdef0');
    expect(instanceOfRunner(a, name)).toBeUndefined();
    // A prefix that is a prefix of the other's installation id does not match either.
    expect(instanceOfRunner(runnerSettings(settings, 2), name)).toBeUndefined();
  });

  it("one deployment's reconciler reaps its own orphan runner and leaves the other installation's alone", async () => {
    const github = new InMemoryGitHub();
    const plane = fakePlane();
    const mine = runnerSettings(plane.settings, 1);
    const theirs = runnerSettings(plane.settings, 2);
    const deps: CoreDeps = { ...plane.deps, github, runners: mine };
    const scope = { kind: 'org', org: 'octo-org' } as const;
    const labels = ['self-hosted', 'k8s'];
    // The other deployment's runner, for an instance only its own store knows.
    const other = await github.createJitConfig(scope, {
      runnerName: `${runnerName(theirs, 'octo-org', 'i-0000000000000000b')}`,
      labels,
    });
    // Ours, for an instance that is gone.
    const orphan = await github.createJitConfig(scope, {
      runnerName: `${runnerName(mine, 'octo-org', 'i-0000000000000000a')}`,
      labels,
    });

    const report = await reconcile(deps, await plane.configSource.load(), {
      deadline: plane.clock.now() + 60_000,
    });

    const left = (await github.listRunners(scope, 'wpr-')).map((r) => r.id);
    expect(left).toContain(other.runnerId);
    expect(left).not.toContain(orphan.runnerId);
    expect(report.actions.filter((a) => a.kind === 'delete-runner').map((a) => a.target)).toEqual([
      runnerName(mine, 'octo-org', 'i-0000000000000000a'),
    ]);
  });
});
