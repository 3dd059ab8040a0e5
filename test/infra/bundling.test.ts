/**
 * `cdk synth` bundles the four handlers with the local esbuild (no Docker, no network) into ESM bundles
 * that Lambda's Node.js runtime loads as `index.handler`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourcesOf, type Synthesized, synthesize } from './synth.js';

let app: Synthesized;
beforeAll(() => {
  app = synthesize({ bundling: true });
}, 120_000);
afterAll(() => app.dispose());

function bundles(): { name: string; code: string }[] {
  const template = app.runtime.toJSON() as {
    Resources: Record<
      string,
      { Type: string; Properties: { FunctionName: string }; Metadata?: Record<string, string> }
    >;
  };
  return Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => {
      const assetPath = r.Metadata?.['aws:asset:path'];
      if (assetPath === undefined) throw new Error(`${r.Properties.FunctionName} has no asset`);
      const file = join(app.outdir, assetPath, 'index.mjs');
      return { name: r.Properties.FunctionName, code: existsSync(file) ? readFileSync(file, 'utf8') : '' };
    });
}

describe('handler bundles', () => {
  it('bundles each handler into an ESM index.mjs exporting `handler`', () => {
    const all = bundles();
    expect(all.map((b) => b.name).sort()).toEqual([
      'wpr-cost-report',
      'wpr-lifecycle',
      'wpr-pool-tuner',
      'wpr-reconciler',
      'wpr-webhook',
    ]);
    expect(Object.keys(resourcesOf(app.runtime, 'AWS::Lambda::Function'))).toHaveLength(5);
    for (const bundle of all) {
      expect(bundle.code.length, bundle.name).toBeGreaterThan(0);
      expect(bundle.code, bundle.name).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
      // CommonJS dependencies inside an ESM bundle get a `require` from the banner.
      expect(bundle.code, bundle.name).toContain('createRequire');
    }
  });

  it('leaves no import to resolve at runtime except Node built-ins', () => {
    for (const bundle of bundles()) {
      // Static imports at statement starts (esbuild hoists them to the top of the bundle).
      const imports = [
        ...bundle.code.matchAll(/(?:^|[;\n])\s*import\s*(?:[\w$*{}\s,]+?\s*from\s*)?["']([@\w./:-]+)["']/g),
      ].map((m) => m[1] ?? '');
      expect(imports.length, bundle.name).toBeGreaterThan(0);
      const external = imports.filter((specifier) => !specifier.startsWith('node:'));
      expect(external, bundle.name).toEqual([]);
    }
  });
});
