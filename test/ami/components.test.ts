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

  it('has the test instance prove the agent ran on boot and stood down', () => {
    const test = commands(documents['instance-agent.yml'] as ComponentDocument, 'test').join('\n');
    expect(test).toContain('event=stand-down');
  });
});

describe('the systemd unit', () => {
  const unit = read('agent/wpr-agent.service');

  it('starts on every boot once the network is up, and is not a oneshot that would block boot', () => {
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(unit).toMatch(/^After=network-online\.target$/m);
    expect(unit).toMatch(/^Wants=network-online\.target$/m);
    expect(unit).toMatch(/^Type=simple$/m);
    expect(unit).toMatch(/^Restart=no$/m);
  });

  it('loads the settings file the image writes and is not sandboxed (jobs inherit the sandbox)', () => {
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/wpr\/agent\.env$/m);
    expect(unit).not.toMatch(/^(ProtectSystem|PrivateTmp|ProtectHome|NoNewPrivileges)=/m);
  });
});
