/**
 * A Parameter Store emulator speaking the SSM JSON 1.1 API, for the real adapters and the instance
 * agent's tests. What it keeps faithful:
 * - SecureString values are stored encrypted (AES-GCM under a per-peer key standing in for KMS) and a
 *   read without `WithDecryption` returns the ciphertext, never the plaintext;
 * - versions and LastModifiedDate per write; `ParameterAlreadyExists` without `Overwrite`; tags only on
 *   creation (AWS refuses Tags together with Overwrite); tier value limits (4 KB standard, 8 KB advanced);
 * - GetParameterHistory: every kept version (the last 100), oldest first, 50 per page;
 * - GetParametersByPath one level or recursive, 10 per page; DescribeParameters with Path/Name/Type
 *   filters, 50 per page; page tokens stay valid while parameters change;
 * - the account's read quota (40 TPS shared by GetParameter, GetParameters, GetParametersByPath) as a
 *   token bucket answering `ThrottlingException: Rate exceeded`.
 * Time comes from `now` (epoch ms) so a test can pin LastModifiedDate and the buckets.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  type AwsInput,
  AwsServiceError,
  type CallRecord,
  epochSeconds,
  type InjectedFault,
  localClientConfig,
  startAwsJsonServer,
  type ThrottleRule,
} from './aws-json-server.js';

export type ParameterType = 'String' | 'StringList' | 'SecureString';
export type ParameterTier = 'Standard' | 'Advanced';

export interface StoredParameter {
  readonly name: string;
  readonly type: ParameterType;
  /** Plaintext, for tests only. */
  readonly value: string;
  readonly version: number;
  readonly lastModified: number;
  readonly tier: ParameterTier;
  readonly keyId?: string;
  readonly description?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SsmPeerOptions {
  /** Epoch ms; defaults to the wall clock. */
  readonly now?: () => number;
  /** Throttle rules; the default read quota when absent, none when false. */
  readonly throttle?: readonly ThrottleRule[] | false;
  readonly requireSignature?: boolean;
  readonly accountId?: string;
}

export interface SsmPeer {
  readonly endpoint: string;
  /** An SSMClient for this peer (region us-east-1, dummy credentials, default retries). */
  readonly client: SSMClient;
  parameters(): StoredParameter[];
  parameter(name: string): StoredParameter | undefined;
  /** Seeds or replaces a parameter directly (no quota, no call log). */
  put(name: string, value: string, options?: { type?: ParameterType; tags?: Record<string, string> }): void;
  calls(action?: string): CallRecord[];
  clearCalls(): void;
  injectFault(fault: InjectedFault): void;
  clearFaults(): void;
  setThrottle(rules: readonly ThrottleRule[]): void;
  close(): Promise<void>;
}

/** Parameter Store's default throughput, per REFERENCE.md. */
export const defaultSsmThrottle: readonly ThrottleRule[] = [
  { actions: ['GetParameter', 'GetParameters', 'GetParametersByPath'], ratePerSecond: 40 },
];

const region = 'us-east-1';
const defaultKeyId = 'alias/aws/ssm';
const valueLimit: Record<ParameterTier, number> = { Standard: 4096, Advanced: 8192 };
const maxHierarchyLevels = 15;

interface Parameter {
  name: string;
  type: ParameterType;
  value: string;
  ciphertext?: string;
  keyId?: string;
  version: number;
  lastModified: number;
  tier: ParameterTier;
  description?: string;
  tags: Map<string, string>;
}

export async function startSsmPeer(options: SsmPeerOptions = {}): Promise<SsmPeer> {
  const now = options.now ?? Date.now;
  const accountId = options.accountId ?? '123456789012';
  const store = new Map<string, Parameter>();
  /** Every version written, oldest first; Parameter Store keeps the last 100. */
  const history = new Map<string, Parameter[]>();
  const kmsKey = randomBytes(32);

  const arnOf = (name: string) =>
    `arn:aws:ssm:${region}:${accountId}:parameter${name.startsWith('/') ? name : `/${name}`}`;

  const encrypt = (plaintext: string): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kmsKey, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  };
  const decrypt = (ciphertext: string): string => {
    const raw = Buffer.from(ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', kmsKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  };

  const find = (name: unknown): Parameter => {
    const parameter = typeof name === 'string' ? store.get(name) : undefined;
    if (parameter === undefined)
      throw new AwsServiceError('ParameterNotFound', `Parameter ${String(name)} not found.`);
    return parameter;
  };

  // A SecureString leaves the store decrypted only when asked for; otherwise as its ciphertext.
  const wireValue = (p: Parameter, withDecryption: boolean): string => {
    if (p.type !== 'SecureString' || p.ciphertext === undefined) return p.value;
    return withDecryption ? decrypt(p.ciphertext) : p.ciphertext;
  };

  const toWire = (p: Parameter, withDecryption: boolean) => ({
    Name: p.name,
    Type: p.type,
    Value: wireValue(p, withDecryption),
    Version: p.version,
    LastModifiedDate: epochSeconds(p.lastModified),
    ARN: arnOf(p.name),
    DataType: 'text',
  });

  const toMetadata = (p: Parameter) => ({
    Name: p.name,
    ARN: arnOf(p.name),
    Type: p.type,
    ...(p.keyId === undefined ? {} : { KeyId: p.keyId }),
    LastModifiedDate: epochSeconds(p.lastModified),
    LastModifiedUser: `arn:aws:sts::${accountId}:assumed-role/local/peer`,
    ...(p.description === undefined ? {} : { Description: p.description }),
    Version: p.version,
    Tier: p.tier,
    Policies: [],
    DataType: 'text',
  });

  const write = (
    name: string,
    value: string,
    type: ParameterType,
    extra: { keyId?: string; tier?: ParameterTier; description?: string; tags?: Map<string, string> },
  ): Parameter => {
    const previous = store.get(name);
    const parameter: Parameter = {
      name,
      type,
      value,
      version: (previous?.version ?? 0) + 1,
      lastModified: now(),
      tier: extra.tier ?? previous?.tier ?? 'Standard',
      tags: extra.tags ?? previous?.tags ?? new Map(),
    };
    if (type === 'SecureString') {
      parameter.keyId = extra.keyId ?? previous?.keyId ?? defaultKeyId;
      parameter.ciphertext = encrypt(value);
    }
    const description = extra.description ?? previous?.description;
    if (description !== undefined) parameter.description = description;
    store.set(name, parameter);
    const versions = [...(previous === undefined ? [] : (history.get(name) ?? [])), parameter];
    history.set(name, versions.slice(-100));
    return parameter;
  };

  const handlers = {
    PutParameter(input: AwsInput) {
      const name = requireName(input.Name);
      const value = input.Value;
      if (typeof value !== 'string' || value.length === 0)
        throw validation("Value at 'value' failed to satisfy constraint: Member must have length >= 1");
      const existing = store.get(name);
      const overwrite = input.Overwrite === true;
      const tags = parseTags(input.Tags);
      if (overwrite && tags !== undefined)
        throw validation(
          "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please " +
            'remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or ' +
            'RemoveTagsFromResource.',
        );
      if (existing !== undefined && !overwrite)
        throw new AwsServiceError(
          'ParameterAlreadyExists',
          'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
        );
      const type = parseType(input.Type) ?? existing?.type;
      if (type === undefined) throw validation('A parameter type is required when you create a parameter.');
      if (input.KeyId !== undefined && type !== 'SecureString')
        throw validation('KeyId is only allowed for a SecureString parameter.');
      const tier = chooseTier(input.Tier, value, existing?.tier);
      const extra: Parameters<typeof write>[3] = { tier };
      if (typeof input.KeyId === 'string') extra.keyId = input.KeyId;
      if (typeof input.Description === 'string') extra.description = input.Description;
      if (tags !== undefined) extra.tags = tags;
      const written = write(name, value, type, extra);
      return { Version: written.version, Tier: written.tier };
    },

    GetParameter(input: AwsInput) {
      return { Parameter: toWire(find(input.Name), input.WithDecryption === true) };
    },

    GetParameterHistory(input: AwsInput) {
      const parameter = find(input.Name);
      const pageSize = pageSizeOf(input.MaxResults, 50);
      const versions = history.get(parameter.name) ?? [parameter];
      let start = 0;
      if (input.NextToken !== undefined) {
        const token =
          typeof input.NextToken === 'string' ? Buffer.from(input.NextToken, 'base64url').toString() : '';
        const after = Number(token.startsWith('v:') ? token.slice(2) : Number.NaN);
        if (!Number.isInteger(after))
          throw new AwsServiceError('InvalidNextToken', 'The specified token is not valid.');
        start = versions.findIndex((v) => v.version > after);
        if (start === -1) start = versions.length;
      }
      const page = versions.slice(start, start + pageSize);
      const last = page[page.length - 1];
      return {
        Parameters: page.map((v) => ({
          ...toWire(v, input.WithDecryption === true),
          LastModifiedUser: `arn:aws:sts::${accountId}:assumed-role/local/peer`,
          Tier: v.tier,
          Labels: [],
          Policies: [],
        })),
        ...(start + pageSize < versions.length && last !== undefined
          ? { NextToken: Buffer.from(`v:${last.version}`).toString('base64url') }
          : {}),
      };
    },

    GetParameters(input: AwsInput) {
      const names = Array.isArray(input.Names) ? input.Names : [];
      if (names.length < 1 || names.length > 10)
        throw validation(
          "Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10",
        );
      const found = names.flatMap((n) => {
        const p = typeof n === 'string' ? store.get(n) : undefined;
        return p === undefined ? [] : [toWire(p, input.WithDecryption === true)];
      });
      const invalid = names.filter((n) => typeof n !== 'string' || !store.has(n));
      return { Parameters: found, InvalidParameters: invalid };
    },

    DeleteParameter(input: AwsInput) {
      const parameter = find(input.Name);
      store.delete(parameter.name);
      history.delete(parameter.name);
      return {};
    },

    DeleteParameters(input: AwsInput) {
      const names = Array.isArray(input.Names) ? input.Names.filter((n) => typeof n === 'string') : [];
      const deleted = names.filter((n) => {
        history.delete(n);
        return store.delete(n);
      });
      return { DeletedParameters: deleted, InvalidParameters: names.filter((n) => !deleted.includes(n)) };
    },

    GetParametersByPath(input: AwsInput) {
      const path = requirePath(input.Path);
      const recursive = input.Recursive === true;
      const pageSize = pageSizeOf(input.MaxResults, 10);
      const matches = sortedParameters().filter((p) => underPath(p.name, path, recursive));
      const { page, nextToken } = paginate(matches, pageSize, input.NextToken);
      return {
        Parameters: page.map((p) => toWire(p, input.WithDecryption === true)),
        ...(nextToken === undefined ? {} : { NextToken: nextToken }),
      };
    },

    DescribeParameters(input: AwsInput) {
      const pageSize = pageSizeOf(input.MaxResults, 50);
      const filters = Array.isArray(input.ParameterFilters) ? input.ParameterFilters : [];
      const predicates = filters.map((f) => filterPredicate(f as AwsInput));
      const matches = sortedParameters().filter((p) => predicates.every((matches) => matches(p)));
      const { page, nextToken } = paginate(matches, pageSize, input.NextToken);
      return {
        Parameters: page.map(toMetadata),
        ...(nextToken === undefined ? {} : { NextToken: nextToken }),
      };
    },

    ListTagsForResource(input: AwsInput) {
      if (input.ResourceType !== 'Parameter')
        throw new AwsServiceError('InvalidResourceType', 'Parameter only');
      const parameter = typeof input.ResourceId === 'string' ? store.get(input.ResourceId) : undefined;
      if (parameter === undefined)
        throw new AwsServiceError('InvalidResourceId', 'The resource ID is not valid.');
      return { TagList: [...parameter.tags].map(([Key, Value]) => ({ Key, Value })) };
    },

    AddTagsToResource(input: AwsInput) {
      if (input.ResourceType !== 'Parameter')
        throw new AwsServiceError('InvalidResourceType', 'Parameter only');
      const parameter = typeof input.ResourceId === 'string' ? store.get(input.ResourceId) : undefined;
      if (parameter === undefined)
        throw new AwsServiceError('InvalidResourceId', 'The resource ID is not valid.');
      for (const [key, value] of parseTags(input.Tags) ?? []) parameter.tags.set(key, value);
      return {};
    },
  };

  const sortedParameters = () => [...store.values()].sort((a, b) => (a.name < b.name ? -1 : 1));

  const server = await startAwsJsonServer({
    targetPrefix: 'AmazonSSM',
    signingName: 'ssm',
    handlers,
    redact: ['Value'],
    throttle: options.throttle === false ? [] : (options.throttle ?? defaultSsmThrottle),
    throttleErrorType: 'ThrottlingException',
    ...(options.requireSignature === undefined ? {} : { requireSignature: options.requireSignature }),
    now,
  });
  const client = new SSMClient(localClientConfig(server.endpoint));

  const snapshot = (p: Parameter): StoredParameter => ({
    name: p.name,
    type: p.type,
    value: p.value,
    version: p.version,
    lastModified: p.lastModified,
    tier: p.tier,
    ...(p.keyId === undefined ? {} : { keyId: p.keyId }),
    ...(p.description === undefined ? {} : { description: p.description }),
    tags: Object.fromEntries(p.tags),
  });

  return {
    endpoint: server.endpoint,
    client,
    parameters: () => sortedParameters().map(snapshot),
    parameter: (name) => {
      const p = store.get(name);
      return p === undefined ? undefined : snapshot(p);
    },
    put: (name, value, seed = {}) => {
      write(requireName(name), value, seed.type ?? 'String', {
        ...(seed.tags === undefined ? {} : { tags: new Map(Object.entries(seed.tags)) }),
      });
    },
    calls: server.calls,
    clearCalls: server.clearCalls,
    injectFault: server.injectFault,
    clearFaults: server.clearFaults,
    setThrottle: server.setThrottle,
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

function validation(message: string): AwsServiceError {
  return new AwsServiceError('ValidationException', message);
}

function requireName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 2048)
    throw validation(
      "Value at 'name' failed to satisfy constraint: Member must have length between 1 and 2048",
    );
  if (
    !/^[a-zA-Z0-9_.\-/]+$/.test(name) ||
    (name.includes('/') && !name.startsWith('/')) ||
    name.endsWith('/')
  )
    throw validation(
      'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, ' +
        'numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are ' +
        'not allowed. All sub-paths, if specified, must use the forward slash symbol "/". Valid example: ' +
        '/get/parameters2-/by1./path0_.',
    );
  if (/^\/?(aws|ssm)/i.test(name))
    throw validation('Parameter name: can\'t be prefixed with "aws" or "ssm".');
  if (name.split('/').filter((s) => s !== '').length > maxHierarchyLevels)
    throw new AwsServiceError(
      'HierarchyLevelLimitExceededException',
      'A hierarchy can have a maximum of 15 levels.',
    );
  return name;
}

function requirePath(path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw validation('The parameter path must begin with a forward slash "/".');
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function underPath(name: string, path: string, recursive: boolean): boolean {
  const base = path === '/' ? '/' : `${path}/`;
  if (!name.startsWith(base)) return false;
  return recursive || !name.slice(base.length).includes('/');
}

function parseType(type: unknown): ParameterType | undefined {
  if (type === undefined) return undefined;
  if (type === 'String' || type === 'StringList' || type === 'SecureString') return type;
  throw validation(
    `1 validation error detected: Value '${String(type)}' at 'type' failed to satisfy constraint`,
  );
}

function parseTags(tags: unknown): Map<string, string> | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) throw validation('Tags must be a list');
  const map = new Map<string, string>();
  for (const tag of tags as { Key?: unknown; Value?: unknown }[]) {
    if (typeof tag.Key !== 'string' || typeof tag.Value !== 'string')
      throw validation('A tag needs a Key and a Value');
    map.set(tag.Key, tag.Value);
  }
  if (map.size > 50) throw new AwsServiceError('TooManyTagsError', 'A resource can have at most 50 tags.');
  return map;
}

function chooseTier(requested: unknown, value: string, current: ParameterTier | undefined): ParameterTier {
  // Intelligent-Tiering picks Standard when the value fits; an advanced parameter never goes back.
  let tier: ParameterTier;
  if (requested === 'Advanced') tier = 'Advanced';
  else if (requested === 'Intelligent-Tiering')
    tier = current === 'Advanced' || value.length > valueLimit.Standard ? 'Advanced' : 'Standard';
  else if (requested === undefined || requested === 'Standard') {
    if (current === 'Advanced')
      throw validation('This parameter uses the advanced-parameter tier. You cannot downgrade a parameter.');
    tier = 'Standard';
  } else throw validation(`Value '${String(requested)}' at 'tier' failed to satisfy constraint`);
  if (value.length > valueLimit[tier])
    throw validation(
      tier === 'Standard'
        ? 'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger ' +
            'parameter value, upgrade the parameter to use the advanced-parameter tier.'
        : 'Advanced tier parameters support a maximum parameter value of 8192 characters.',
    );
  return tier;
}

function pageSizeOf(maxResults: unknown, limit: number): number {
  if (maxResults === undefined) return limit;
  if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > limit)
    throw validation(
      `Value at 'maxResults' failed to satisfy constraint: Member must be between 1 and ${limit}`,
    );
  return maxResults;
}

/** Tokens name the last parameter returned, so writes between pages neither skip nor repeat one. */
function paginate<T extends { name: string }>(
  sorted: readonly T[],
  pageSize: number,
  token: unknown,
): { page: T[]; nextToken?: string } {
  let start = 0;
  if (token !== undefined) {
    if (typeof token !== 'string')
      throw new AwsServiceError('InvalidNextToken', 'The specified token is not valid.');
    let after: string;
    try {
      after = Buffer.from(token, 'base64url').toString('utf8');
    } catch {
      throw new AwsServiceError('InvalidNextToken', 'The specified token is not valid.');
    }
    if (!after.startsWith('after:'))
      throw new AwsServiceError('InvalidNextToken', 'The specified token is not valid.');
    const last = after.slice('after:'.length);
    start = sorted.findIndex((p) => p.name > last);
    if (start === -1) start = sorted.length;
  }
  const page = sorted.slice(start, start + pageSize);
  const lastItem = page[page.length - 1];
  if (start + pageSize >= sorted.length || lastItem === undefined) return { page };
  return { page, nextToken: Buffer.from(`after:${lastItem.name}`, 'utf8').toString('base64url') };
}

function filterPredicate(filter: AwsInput): (p: Parameter) => boolean {
  const key = filter.Key;
  const option = filter.Option;
  const values = Array.isArray(filter.Values)
    ? filter.Values.filter((v): v is string => typeof v === 'string')
    : [];
  switch (key) {
    case 'Path': {
      if (option !== undefined && option !== 'OneLevel' && option !== 'Recursive')
        throw new AwsServiceError('InvalidFilterOption', 'The Path filter takes OneLevel or Recursive.');
      const paths = values.map(requirePath);
      return (p) => paths.some((path) => underPath(p.name, path, option === 'Recursive'));
    }
    case 'Name': {
      const mode = option ?? 'Equals';
      if (mode !== 'Equals' && mode !== 'BeginsWith' && mode !== 'Contains')
        throw new AwsServiceError(
          'InvalidFilterOption',
          'The Name filter takes Equals, BeginsWith or Contains.',
        );
      return (p) =>
        values.some((v) =>
          mode === 'Equals'
            ? p.name === v
            : mode === 'BeginsWith'
              ? p.name.startsWith(v)
              : p.name.includes(v),
        );
    }
    case 'Type':
      return (p) => values.includes(p.type);
    default:
      if (typeof key === 'string' && key.startsWith('tag:')) {
        const tagKey = key.slice('tag:'.length);
        return (p) =>
          p.tags.has(tagKey) && (values.length === 0 || values.includes(p.tags.get(tagKey) ?? ''));
      }
      throw new AwsServiceError('InvalidFilterKey', `The filter key ${String(key)} is not supported.`);
  }
}
