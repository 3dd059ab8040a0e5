/**
 * shellcheck over every shell script of the image (ami/) and of the agent's test stand-ins: a script that
 * runs on every boot of every runner has no room for quoting or errexit mistakes.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const shellcheck = '/usr/bin/shellcheck';

function shellScripts(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return shellScripts(path);
    const firstLine = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
    return path.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(firstLine) ? [path] : [];
  });
}

const scripts = [...shellScripts(join(root, 'ami')), ...shellScripts(join(root, 'test/ami/stand-ins'))];

describe('shellcheck', () => {
  it('finds the agent among the scripts', () => {
    expect(scripts).toContain(join(root, 'ami/agent/wpr-agent.sh'));
    expect(existsSync(shellcheck)).toBe(true);
  });

  for (const script of scripts) {
    it(`passes ${script.slice(root.length)}`, async () => {
      const result = await promisify(execFile)(shellcheck, ['--shell=bash', '--severity=style', script]).then(
        () => ({ code: 0, stdout: '' }),
        (error: { code?: number; stdout?: string }) => ({
          code: error.code ?? -1,
          stdout: error.stdout ?? '',
        }),
      );
      expect(result.stdout).toBe('');
      expect(result.code).toBe(0);
    });
  }
});
