#!/usr/bin/env node
/**
 * Packages the one-click template for a release: reads the cloud assembly `npm run synth:one-click`
 * wrote (cdk.out.one-click), and writes to dist/release/
 *   - warm-pool-runners.template.json   the CloudFormation template,
 *   - assets/<key>                      every asset as the template reads it from
 *                                       s3://<AssetBucket>/<AssetPrefix><key> (directories zipped, as
 *                                       `cdk deploy` would publish them; files as they are).
 * Usage: node scripts/package-release.mjs [assembly dir] [output dir]
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const assembly = resolve(process.argv[2] ?? 'cdk.out.one-click');
const output = resolve(process.argv[3] ?? 'dist/release');
const stack = 'WarmPoolRunners';
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
const prefix = '${AssetPrefix}';

rmSync(output, { recursive: true, force: true });
mkdirSync(join(output, 'assets'), { recursive: true });
copyFileSync(join(assembly, `${stack}.template.json`), join(output, 'warm-pool-runners.template.json'));

const manifest = JSON.parse(readFileSync(join(assembly, `${stack}.assets.json`), 'utf8'));
const written = [];
for (const [hash, asset] of Object.entries(manifest.files ?? {})) {
  const source = join(assembly, asset.source.path);
  for (const destination of Object.values(asset.destinations)) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not a JS template
    if (destination.bucketName !== '${AssetBucket}' || !destination.objectKey.startsWith(prefix))
      throw new Error(`asset ${hash}: unexpected destination ${JSON.stringify(destination)}`);
    const key = destination.objectKey.slice(prefix.length);
    const target = join(output, 'assets', key);
    if (asset.source.packaging === 'zip') {
      if (!statSync(source).isDirectory()) throw new Error(`asset ${hash}: ${source} is not a directory`);
      execFileSync('zip', ['-q', '-r', '-X', target, '.'], { cwd: source });
    } else copyFileSync(source, target);
    written.push(key);
  }
}
if (Object.keys(manifest.dockerImages ?? {}).length > 0)
  throw new Error('container image assets are not packaged');
console.log(`packaged the template and ${written.length} assets into ${output}`);
