/**
 * The one place the CDK app reads its configuration from. Layers, later ones winning field by field:
 *   1. the `wpr` object in cdk.json's context (committed example or sandbox values),
 *   2. a JSON file named by the `WPR_CONFIG_FILE` environment variable (an installation's own file; line
 *      and block comments allowed, as in docs/examples/deployment-config.jsonc),
 *   3. a JSON document in the `WPR_CONFIG` environment variable (CI: values kept in repository secrets).
 * Objects merge key by key; arrays and scalars replace. The merged document is validated once, and every
 * problem is reported together with the layers that were read, so the message says where to fix it.
 * Nothing else in infra/ reads process.env or the CDK context.
 */
import { type DeploymentConfig, validateDeploymentConfig } from './deployment-config.js';

export const contextKey = 'wpr';
export const configFileVariable = 'WPR_CONFIG_FILE';
export const configVariable = 'WPR_CONFIG';

export interface ConfigSources {
  /** Reads a CDK context value (cdk.json `context`, `-c` flags). */
  readonly context: (key: string) => unknown;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

export class InvalidDeploymentConfigError extends Error {
  override readonly name = 'InvalidDeploymentConfigError';
  constructor(
    readonly problems: readonly string[],
    readonly layers: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      [
        `invalid deployment configuration (read from ${layers.length > 0 ? layers.join(', then ') : 'nothing'}):`,
        ...problems.map((p) => `  ${p}`),
        `Fix the values in cdk.json context "${contextKey}", the file in ${configFileVariable}, or ${configVariable}.`,
      ].join('\n'),
      options,
    );
  }
}

export function loadDeploymentConfig(sources: ConfigSources): DeploymentConfig {
  const layers: string[] = [];
  const problems: string[] = [];
  let merged: unknown = {};

  const fromContext = parseLayer(sources.context(contextKey), `context "${contextKey}"`, problems, false);
  if (fromContext !== undefined) {
    layers.push(`cdk.json context "${contextKey}"`);
    merged = deepMerge(merged, fromContext);
  }

  const file = sources.env[configFileVariable];
  if (file !== undefined && file !== '') {
    let text: string | undefined;
    try {
      text = sources.readFile(file);
    } catch (error) {
      problems.push(`${configFileVariable}: cannot read ${file} (${(error as Error).message})`);
    }
    const fromFile =
      text === undefined
        ? undefined
        : parseLayer(withoutComments(text), `${configFileVariable} (${file})`, problems, false);
    if (fromFile !== undefined) {
      layers.push(`${configFileVariable} (${file})`);
      merged = deepMerge(merged, fromFile);
    }
  }

  const inline = sources.env[configVariable];
  if (inline !== undefined && inline !== '') {
    const fromEnv = parseLayer(inline, configVariable, problems, true);
    if (fromEnv !== undefined) {
      layers.push(configVariable);
      merged = deepMerge(merged, fromEnv);
    }
  }

  if (problems.length > 0) throw new InvalidDeploymentConfigError(problems, layers);
  const result = validateDeploymentConfig(merged);
  if (!result.ok) throw new InvalidDeploymentConfigError(result.problems, layers);
  return result.config;
}

/** A layer is an object, or JSON text of one (`-c wpr='{…}'` arrives as a string). */
function parseLayer(
  value: unknown,
  label: string,
  problems: string[],
  sensitive: boolean,
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      // V8 quotes the offending text in its message; WPR_CONFIG comes from a secret, so it gets none.
      problems.push(`${label}: not valid JSON${sensitive ? '' : ` (${(error as Error).message})`}`);
      return undefined;
    }
  }
  if (!isPlainObject(parsed)) {
    problems.push(`${label}: must be a JSON object`);
    return undefined;
  }
  return parsed;
}

/**
 * JSON with comments → JSON: drops `// …` and `/* … *\/` outside strings, keeping line breaks so that a
 * parse error still names the right line. Trailing commas stay an error.
 */
export function withoutComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) result[key] = deepMerge(base[key], value);
  return result;
}
