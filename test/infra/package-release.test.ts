/**
 * scripts/package-release.mjs, run by the release workflow: the template and every asset it reads, laid
 * out under the keys the template names (directories zipped, files as they are), and a refusal of an
 * assembly whose assets go anywhere but the AssetBucket parameter.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repositoryRoot } from './example-config.js';

let work: string;
afterEach(() => rmSync(work, { recursive: true, force: true }));

function assembly(destination: { bucketName: string; objectKey: string }) {
  work = mkdtempSync(join(tmpdir(), 'wpr-release-'));
  const dir = join(work, 'cdk.out.one-click');
  mkdirSync(join(dir, 'asset.aaaa'), { recursive: true });
  writeFileSync(join(dir, 'asset.aaaa', 'index.mjs'), 'export const handler = () => 1;\n');
  writeFileSync(join(dir, 'asset.bbbb.sh'), '#!/bin/sh\n');
  writeFileSync(join(dir, 'WarmPoolRunners.template.json'), '{"Resources":{}}');
  const asset = (path: string, packaging: string, key: string) => ({
    source: { path, packaging },
    destinations: { d: { ...destination, objectKey: destination.objectKey.replace('KEY', key) } },
  });
  writeFileSync(
    join(dir, 'WarmPoolRunners.assets.json'),
    JSON.stringify({
      files: {
        aaaa: asset('asset.aaaa', 'zip', 'aaaa.zip'),
        bbbb: asset('asset.bbbb.sh', 'file', 'bbbb.sh'),
      },
    }),
  );
  return dir;
}

const run = (dir: string) =>
  spawnSync(process.execPath, ['scripts/package-release.mjs', dir, join(work, 'out')], {
    cwd: repositoryRoot,
    encoding: 'utf8',
  });

describe('packaging a release', () => {
  it('writes the template and each asset under the key the template reads it from', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
    const result = run(assembly({ bucketName: '${AssetBucket}', objectKey: '${AssetPrefix}KEY' }));
    expect(result.status, result.stderr).toBe(0);
    expect(readdirSync(join(work, 'out'))).toEqual(['assets', 'warm-pool-runners.template.json']);
    expect(readdirSync(join(work, 'out', 'assets')).sort()).toEqual(['aaaa.zip', 'bbbb.sh']);
    // A zip archive (PK header) holding the directory's files at its root, as Lambda expects.
    const zip = readFileSync(join(work, 'out', 'assets', 'aaaa.zip'));
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(zip.toString('latin1')).toContain('index.mjs');
  });

  it('refuses an asset published anywhere but the AssetBucket parameter', () => {
    const result = run(assembly({ bucketName: 'cdk-hnb659fds-assets-1-eu-west-1', objectKey: 'KEY' }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('unexpected destination');
  });
});
