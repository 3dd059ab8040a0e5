/**
 * The Image Builder component documents and the systemd unit, read as the services will read them: every
 * document parses, uses only parameters it declares, and the pieces agree with each other (the path the
 * agent is installed to is the one the unit starts; the runner archive is checked before it is unpacked).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// js-yaml is in the tree (through @stoplight/prism-cli) without type declarations; this is all we use.
const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };

interface Step {
  name: string;
  action: string;
  inputs: { commands?: string[] } | Record<string, unknown>[];
}
interface ComponentDocument {
  name: string;
  schemaVersion: number | string;
  parameters?: Record<string, { type: string; default?: string }>[];
  phases: { name: string; steps: Step[] }[];
}

const read = (path: string) => readFileSync(new URL(`../../ami/${path}`, import.meta.url), 'utf8');
const documents = Object.fromEntries(
  ['base-packages.yml', 'github-runner.yml', 'instance-agent.yml'].map((file) => [
    file,
    yaml.load(read(`components/${file}`)) as ComponentDocument,
  ]),
);
const commands = (doc: ComponentDocument, phase: string) =>
  doc.phases
    .filter((p) => p.name === phase)
    .flatMap((p) => p.steps)
    .flatMap((s) => (Array.isArray(s.inputs) ? [] : (s.inputs.commands ?? [])));

describe('component documents', () => {
  for (const [file, doc] of Object.entries(documents)) {
    it(`${file}: a schema 1.0 document whose bash steps use only declared parameters`, () => {
      expect(String(doc.schemaVersion)).toBe('1');
      expect(doc.name).toMatch(/^wpr-/);
      expect(doc.phases.map((p) => p.name)).toContain('build');
      const declared = new Set((doc.parameters ?? []).flatMap((p) => Object.keys(p)));
      const used = new Set(
        [...read(`components/${file}`).matchAll(/\{\{\s*([A-Za-z0-9]+)\s*\}\}/g)].map((m) => m[1]),
      );
      expect([...used].filter((name) => !declared.has(name as string))).toEqual([]);
      for (const step of doc.phases.flatMap((p) => p.steps)) {
        expect(step.action).toBe('ExecuteBash');
        expect(Array.isArray(step.inputs) ? [] : step.inputs.commands?.[0]).toBe('set -euo pipefail');
      }
    });
  }

  it('verifies the runner archive against the pinned SHA-256 before unpacking it', () => {
    const build = commands(documents['github-runner.yml'] as ComponentDocument, 'build');
    const check = build.findIndex((c) => c.includes('sha256sum --check') && c.includes('{{ RunnerSha256 }}'));
    const unpack = build.findIndex((c) => c.startsWith('tar -xzf'));
    expect(check).toBeGreaterThan(-1);
    expect(check).toBeLessThan(unpack);
    expect(build.join('\n')).toContain(
      'https://github.com/actions/runner/releases/download/v{{ RunnerVersion }}/$archive',
    );
  });

  it('installs the agent where the unit starts it, enables the unit and leaves no warm-up marker', () => {
    const build = commands(documents['instance-agent.yml'] as ComponentDocument, 'build').join('\n');
    const unit = read('agent/wpr-agent.service');
    const execStart = /^ExecStart=(\S+)$/m.exec(unit)?.[1];
    expect(execStart).toBe('/usr/local/sbin/wpr-agent');
    expect(build).toContain(`install -m 0755 -o root -g root /tmp/wpr-agent ${execStart}`);
    expect(build).toContain('/etc/systemd/system/wpr-agent.service');
    expect(build).toContain('systemctl enable wpr-agent.service');
    expect(build).toContain('rm -rf /var/lib/wpr');
    const envFile = /^EnvironmentFile=-(\S+)$/m.exec(unit)?.[1];
    expect(build).toContain(`> ${envFile}`);
  });

  it('installs the runner hooks under the names the agent points the runner at, outside the runner directory', () => {
    const build = commands(documents['instance-agent.yml'] as ComponentDocument, 'build').join('\n');
    const agent = read('agent/wpr-agent.sh');
    const hookDir = /^hook_dir=\$\{WPR_HOOK_DIR:-(\S+)\}$/m.exec(agent)?.[1];
    expect(hookDir).toBe('/usr/local/libexec/wpr');
    expect(agent).toContain('ACTIONS_RUNNER_HOOK_JOB_STARTED=$hook_dir/job-started.sh');
    expect(agent).toContain('ACTIONS_RUNNER_HOOK_JOB_COMPLETED=$hook_dir/job-completed.sh');
    for (const name of ['job-started.sh', 'job-completed.sh'])
      expect(build).toContain(`install -m 0755 -o root -g root /tmp/wpr-runner-hook.sh ${hookDir}/${name}`);
    expect(build).toContain(`WPR_HOOK_DIR=%s`);
    // GitHub: hook scripts must not live in the runner's application directory.
    expect(hookDir?.startsWith('/opt/actions-runner')).toBe(false);
    // The FIFO the hooks write to is where the unit's runtime directory is.
    expect(agent).toMatch(/^run_dir=\$\{WPR_RUN_DIR:-\/run\/wpr-agent\}$/m);
    expect(read('agent/wpr-runner-hook.sh')).toMatch(/\$\{WPR_AGENT_EVENTS:-\/run\/wpr-agent\/events\}/);
  });

  it('writes the watchdog defaults the recipe passes into the agent settings', () => {
    const build = commands(documents['instance-agent.yml'] as ComponentDocument, 'build').join('\n');
    expect(build).toContain('WPR_MAX_IDLE_SECONDS=%s');
    expect(build).toContain('WPR_MAX_LIFETIME_SECONDS=%s');
    expect(build).toContain('WPR_RUNNER_DISABLE_UPDATE=%s');
    expect(build).toContain('"{{ MaxIdleSeconds }}" "{{ MaxLifetimeSeconds }}" "{{ RunnerDisableUpdate }}"');
  });

  it('has the test instance prove the agent ran on boot and stood down', () => {
    const test = commands(documents['instance-agent.yml'] as ComponentDocument, 'test').join('\n');
    expect(test).toContain('event=stand-down');
  });

  it('has the test instance run the hooks as the runner does, with no agent listening', () => {
    const test = commands(documents['instance-agent.yml'] as ComponentDocument, 'test').join('\n');
    for (const name of ['job-started.sh', 'job-completed.sh'])
      expect(test).toContain(
        `runuser -u runner -- env WPR_AGENT_EVENTS=/nonexistent bash -e /usr/local/libexec/wpr/${name}`,
      );
  });
});

describe('the systemd unit', () => {
  const unit = read('agent/wpr-agent.service');

  it('starts on every boot without waiting for network-online (cloud-init), and does not block boot', () => {
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
    const directives = unit.split('\n').filter((line) => !line.startsWith('#'));
    expect(directives.filter((line) => line.includes('network-online'))).toEqual([]);
    expect(directives.filter((line) => /cloud-(init|config|final)/.test(line))).toEqual([]);
    // Ordered after the network daemons have started, so the lease comes while the agent retries IMDS.
    expect(unit).toMatch(/^After=systemd-networkd\.service systemd-resolved\.service$/m);
    // Default dependencies kept: after basic.target (local file systems), stopped before shutdown.
    expect(unit).not.toMatch(/^DefaultDependencies=no$/m);
    expect(unit).toMatch(/^Type=simple$/m);
    expect(unit).toMatch(/^Restart=no$/m);
    expect(unit).toMatch(/^RuntimeDirectory=wpr-agent$/m);
  });

  it('the image test checks the ordering on the built image', () => {
    const validate = commands(documents['instance-agent.yml'] as ComponentDocument, 'validate').join('\n');
    expect(validate).toContain(
      '! systemctl show -p After --value wpr-agent.service | grep -q network-online.target',
    );
  });

  it('loads the settings file the image writes and is not sandboxed (jobs inherit the sandbox)', () => {
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/wpr\/agent\.env$/m);
    expect(unit).not.toMatch(/^(ProtectSystem|PrivateTmp|ProtectHome|NoNewPrivileges)=/m);
  });
});
