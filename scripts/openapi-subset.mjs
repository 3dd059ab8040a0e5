#!/usr/bin/env node
/**
 * Regenerates stand-ins/github/openapi/api.github.com.subset.json: the operations of GitHub's REST API that
 * the GitHubRunners adapter and the GitHub emulator use, with every component they reference, cut from
 * the api.github.com description published in @octokit/openapi.
 *
 * That package is ~385 MB unpacked, so it is never a dependency: this script packs it into a temporary
 * directory, extracts the one file it needs, and deletes the directory. Pass a path to an existing
 * api.github.com.json to skip the download.
 *
 *   node scripts/openapi-subset.mjs [api.github.com.json]   (env OPENAPI_VERSION picks the package version)
 *
 * Media-type `examples` are dropped (they only serve mocking and make up most of the size).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageVersion = process.env.OPENAPI_VERSION ?? '23.0.2';
const output = join(
  dirname(fileURLToPath(import.meta.url)),
  '../stand-ins/github/openapi/api.github.com.subset.json',
);

/** path → methods kept. */
const operations = {
  '/app/installations/{installation_id}/access_tokens': ['post'],
  '/app/hook/deliveries': ['get'],
  '/app/hook/deliveries/{delivery_id}/attempts': ['post'],
  '/orgs/{org}/actions/runner-groups': ['get'],
  '/orgs/{org}/actions/runners': ['get'],
  '/orgs/{org}/actions/runners/generate-jitconfig': ['post'],
  '/orgs/{org}/actions/runners/{runner_id}': ['delete'],
  '/repos/{owner}/{repo}/actions/runners': ['get'],
  '/repos/{owner}/{repo}/actions/runners/generate-jitconfig': ['post'],
  '/repos/{owner}/{repo}/actions/runners/{runner_id}': ['delete'],
  '/repos/{owner}/{repo}/actions/jobs/{job_id}': ['get'],
  '/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun': ['post'],
};

function loadDescription(path) {
  if (path) return { spec: JSON.parse(readFileSync(path, 'utf8')), source: path };
  const dir = mkdtempSync(join(tmpdir(), 'octokit-openapi-'));
  try {
    const tarball = execFileSync('npm', ['pack', `@octokit/openapi@${packageVersion}`, '--silent'], {
      cwd: dir,
      encoding: 'utf8',
    }).trim();
    execFileSync('tar', ['xzf', tarball, 'package/generated/api.github.com.json'], { cwd: dir });
    const file = join(dir, 'package/generated/api.github.com.json');
    return { spec: JSON.parse(readFileSync(file, 'utf8')), source: `@octokit/openapi@${packageVersion}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Drops media-type examples (and `example` refs into components/examples) everywhere below `node`. */
function stripExamples(node) {
  if (Array.isArray(node)) return node.map(stripExamples);
  if (node === null || typeof node !== 'object') return node;
  const copy = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'examples' && value && typeof value === 'object' && !Array.isArray(value)) continue;
    copy[key] = stripExamples(value);
  }
  return copy;
}

function collectRefs(node, found) {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, found);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.add(value);
      else collectRefs(value, found);
    }
  }
}

function resolvePointer(spec, ref) {
  if (!ref.startsWith('#/')) throw new Error(`external reference ${ref} is not supported`);
  const segments = ref
    .slice(2)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  return segments.reduce((node, segment) => {
    if (node?.[segment] === undefined) throw new Error(`dangling reference ${ref}`);
    return node[segment];
  }, spec);
}

function subset(spec) {
  const paths = {};
  for (const [path, methods] of Object.entries(operations)) {
    const item = spec.paths[path];
    if (!item) throw new Error(`${path} is not in the description`);
    paths[path] = {};
    for (const method of methods) {
      if (!item[method]) throw new Error(`${method.toUpperCase()} ${path} is not in the description`);
      paths[path][method] = stripExamples(item[method]);
    }
    if (item.parameters) paths[path].parameters = item.parameters;
  }

  // Close over references: every component reachable from the kept operations, and nothing else.
  const components = {};
  const pending = new Set();
  collectRefs(paths, pending);
  const seen = new Set();
  while (pending.size > 0) {
    const [ref] = pending;
    pending.delete(ref);
    if (seen.has(ref)) continue;
    seen.add(ref);
    const [, section, name] = ref.match(/^#\/components\/([^/]+)\/(.+)$/) ?? [];
    if (!section || !name) throw new Error(`unexpected reference ${ref}`);
    const value = stripExamples(resolvePointer(spec, ref));
    components[section] ??= {};
    components[section][name] = value;
    collectRefs(value, pending);
  }
  for (const section of Object.keys(components)) {
    components[section] = Object.fromEntries(
      Object.entries(components[section]).sort(([a], [b]) => a.localeCompare(b)),
    );
  }
  return { paths, components };
}

const { spec, source } = loadDescription(process.argv[2]);
const { paths, components } = subset(spec);
const document = {
  openapi: spec.openapi,
  info: {
    ...spec.info,
    description: `Subset of GitHub's REST API description (${source}): only the operations the runner control plane uses. Regenerate with scripts/openapi-subset.mjs.`,
  },
  servers: spec.servers,
  externalDocs: spec.externalDocs,
  paths,
  components,
};
writeFileSync(output, `${JSON.stringify(document, null, 2)}\n`);
console.log(
  `wrote ${output}: ${Object.keys(paths).length} paths, ${[...Object.values(components)].reduce((n, c) => n + Object.keys(c).length, 0)} components`,
);
