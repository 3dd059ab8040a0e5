/**
 * The pool configuration: one JSON document (an SSM parameter in AWS) read by the webhook handler, the
 * pool tuner, the reconciler and the CLI through this one schema. Validation reports every problem at
 * once, each naming the pool and the field, and a rejected document never replaces the last good one.
 */
import { z } from 'zod';

const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a 24-hour time "HH:MM"' });

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A window of the week: `days` between `from` and `to` in `timezone`; each kind adds what it sets. */
const windowTimes = {
  days: z.array(z.enum(weekdays)).min(1, { message: 'must name at least one day' }),
  from: clockTime,
  to: clockTime,
  timezone: z.string().refine(isTimeZone, { message: 'is not an IANA time zone (e.g. "Europe/Paris")' }),
};
const notEmpty = (w: { from: string; to: string }) => w.from !== w.to;
const notEmptyProblem = {
  message: '"from" and "to" are equal: the window would be empty',
  path: ['to'],
  // Also when other fields of the window are wrong: every problem is reported in one pass.
  when: (payload: { value: unknown }) => {
    const w = payload.value as { from?: unknown; to?: unknown } | null;
    return clockTime.safeParse(w?.from).success && clockTime.safeParse(w?.to).success;
  },
};

const windowSchema = z
  .object({ ...windowTimes, size: z.number().int().min(0) })
  .strict()
  .refine(notEmpty, notEmptyProblem);

// Graviton families carry a `g` after the generation (m7g, c7gn, t4g, r8g), except the first one (a1);
// the rest are x86.
const gravitonFamily = /^([a-z]+\d+g[a-z]*|a1)$/;
export function architectureOfType(instanceType: string): 'x64' | 'arm64' {
  const family = instanceType.split('.')[0] ?? '';
  return gravitonFamily.test(family) ? 'arm64' : 'x64';
}

/**
 * A window of the hot tier: while open, the tier holds between `min` and `max` idle runners, sized
 * in between by the cost model (or `max` when the pool has no cost model).
 */
const hotWindowSchema = z
  .object({ ...windowTimes, min: z.number().int().min(0).default(0), max: z.number().int().min(0) })
  .strict()
  .refine(notEmpty, notEmptyProblem);

export const hotFillSources = ['pool', 'spot', 'on-demand'] as const;

/**
 * The hot tier: registered idle runners kept RUNNING so that GitHub hands a queued job to one at
 * once. Absent: the pool has no hot tier and behaves as a stopped pool with spot/on-demand fallback.
 */
/** A GitHub account login: letters, digits and single dashes, at most 39 characters. */
const ownerLogin = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/, {
  message: 'is not a GitHub organization name',
});

const hotSchema = z
  .object({
    /**
     * The organization its idle runners register with (they exist before any job names one). Absent:
     * the deployment's only organization; required when the deployment serves several.
     */
    organization: ownerLogin.optional(),
    windows: z.array(hotWindowSchema).default([]),
    /** Idle runners kept while no window is open; zero unless configured. */
    outsideWindows: z.number().int().min(0).default(0),
    /** Hard cap on the tier, whatever the windows and the cost model say. */
    maximum: z.number().int().min(0).max(200),
    /** USD the tier's idle runners may cost a day (UTC day); once spent, the tier drains until midnight. */
    dailyBudgetUsd: z.number().positive().optional(),
    /** Where refills come from, in order: ready pool instances (warm disk), then spot, then on-demand. */
    fill: z
      .array(z.enum(hotFillSources))
      .min(1, { message: 'must list at least one source' })
      .default(['pool', 'spot', 'on-demand']),
    /** An idle runner older than this is replaced (a fresh one re-registers; nothing stays stale). */
    maxIdleMinutes: z
      .number()
      .int()
      .min(5)
      .max(24 * 60)
      .default(240),
    /**
     * Keep the k-th runner of an hour only while the waiting it is expected to save pays for its
     * running hour (see hot-sizing.ts). Absent: each open window keeps its `max`.
     */
    costModel: z
      .object({
        /** What one second of a job waiting for a runner is worth, in USD. */
        valuePerWaitSecondUsd: z.number().min(0),
        /** Seconds a hit saves against the next tier (a stopped-pool start takes ~19.5 s at p50). */
        secondsSavedPerHit: z.number().positive().default(17),
        /** Typical job length: the arrival rate at a peak of P busy runners is P / jobMinutes. */
        jobMinutes: z.number().positive().default(10),
        /**
         * Seconds from a hot runner being taken to its replacement being idle (absent: 20 when the tier
         * fills from the stopped pool first, 30 from spot or on-demand — a fresh launch boots longer).
         */
        refillSeconds: z.number().positive().max(600).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const instanceTypeName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: 'is not an EC2 instance type' });

/** One quota: the most instances held at once in the pool, and the most jobs served a (UTC) day. */
const quotaLimitSchema = z
  .object({
    instances: z.number().int().min(0).max(10_000).optional(),
    jobsPerDay: z.number().int().min(0).max(10_000_000).optional(),
  })
  .strict();

// GitHub owner and repository names: letters, digits, `-`, `_`, `.`; compared case-insensitively.
const ownerName = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const repositoryName = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;

/**
 * Quotas per repository and per organization, in this pool. A job over a quota waits (queued, with the
 * quota it waits on) and is served when an instance its repository or organization held is given up.
 */
const quotasSchema = z
  .object({
    /** Every repository's quota, unless `repositories` names it. */
    repository: quotaLimitSchema.optional(),
    /** Every organization's quota (the repository owner's), unless `organizations` names it. */
    organization: quotaLimitSchema.optional(),
    /** Per-repository overrides, `"owner/name": { … }`; fields left out fall back to `repository`. */
    // Names are checked in quotaChecks: a record key's own error would not say what was wrong.
    repositories: z.record(z.string(), quotaLimitSchema).default({}),
    /** Per-organization overrides, `"owner": { … }`; fields left out fall back to `organization`. */
    organizations: z.record(z.string(), quotaLimitSchema).default({}),
  })
  .strict();

/** A size: one more label a job may carry to get a larger (or smaller) type of the pool's architecture. */
const sizeSchema = z.object({ instanceType: instanceTypeName }).strict();
const sizeLabel = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, { message: 'is not a runner label' });

const poolSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, {
      message: 'must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit',
    }),
    labels: z
      .array(z.string().min(1).max(100))
      .min(1, { message: 'must list at least one label' })
      .max(20, { message: 'GitHub allows at most 20 labels on a runner' }),
    architecture: z.enum(['x64', 'arm64']),
    instanceTypes: z.array(instanceTypeName).min(1, { message: 'must list at least one instance type' }),
    subnets: z
      .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { message: 'is not a subnet id' }))
      .min(1, { message: 'must list at least one subnet' }),
    volumeSizeGb: z.number().int().min(8).max(16_384).default(30),
    defaultSize: z.number().int().min(0),
    maximum: z.number().int().min(0).max(1_000),
    schedule: z.array(windowSchema).default([]),
    fallback: z
      .object({
        resize: z.boolean().default(true),
        spot: z.boolean().default(true),
        onDemand: z.boolean().default(true),
        /** Re-run a job whose spot instance was interrupted, once, on on-demand capacity. */
        rerunInterrupted: z.boolean().default(true),
      })
      .strict()
      .default({ resize: true, spot: true, onDemand: true, rerunInterrupted: true }),
    /** Learn the target from past demand by hour of week: target = max(schedule, forecast). */
    forecast: z
      .object({
        enabled: z.boolean().default(false),
        /** Share of the hour-of-week's past peak demand to keep warm. */
        quantile: z.number().min(0).max(1).default(0.9),
        /** Weeks of history to learn from. */
        weeks: z.number().int().min(1).max(12).default(4),
      })
      .strict()
      .default({ enabled: false, quantile: 0.9, weeks: 4 }),
    /** Container images the agent pre-pulls while warming. */
    prePullImages: z.array(z.string().min(1)).default([]),
    hot: hotSchema.optional(),
    /**
     * The runner group its runners join in each organization it serves (organization scope), by name;
     * the deployment's default group when absent.
     */
    runnerGroup: z.string().trim().min(1).max(100).optional(),
    quotas: quotasSchema.optional(),
    /**
     * Size labels: a job carrying the pool's labels plus one of these runs on that instance type
     * (`{ "large": { "instanceType": "m7i.2xlarge" } }`); a warm instance is resized before it starts.
     */
    sizes: z.record(sizeLabel, sizeSchema).optional(),
  })
  .strict();

const settingsSchema = z
  .object({
    /** Claimed or started instances whose runner has taken no job after this long are released. */
    claimTimeoutSeconds: z.number().int().min(30).default(600),
    /** A job still without a runner after this long is provisioned again by the reconciler. */
    pendingJobSeconds: z.number().int().min(5).default(60),
    /** An instance still launching or warming after this long is retired. */
    warmupTimeoutSeconds: z.number().int().min(60).default(1_200),
    /** Instances unknown to the store are terminated once older than this (launches in flight are not). */
    orphanGraceSeconds: z.number().int().min(60).default(600),
    /**
     * An instance started for a job that has not been seen starting one (no `in_progress`, no job-started
     * tag from the instance) this long after its start is terminated, whatever the webhooks said.
     */
    noJobTimeoutSeconds: z.number().int().min(300).default(1_800),
    /** No runner instance lives longer than this after its start (raise it for jobs longer than a day). */
    maxLifetimeSeconds: z.number().int().min(3_600).default(86_400),
    /** Outdated instances replaced per tuner run and pool. */
    rollBatchSize: z.number().int().min(1).max(50).default(2),
    /** Instances launched per tuner run and pool (EC2's RunInstances bucket refills at 2/s). */
    launchBatchSize: z.number().int().min(1).max(100).default(20),
    /**
     * GitHub requests an hour the reconciler may spend checking stuck jobs (a GET, then maybe a JIT
     * mint): the App has 5,000 an hour, most of which the webhook path needs during a burst.
     */
    reconcileGitHubRequestsPerHour: z.number().int().min(10).max(15_000).default(2_000),
    /** Job checks the reconciler runs at once. */
    reconcileConcurrency: z.number().int().min(1).max(32).default(8),
  })
  .strict();

export const poolsConfigSchema = z
  .object({
    pools: z.array(poolSchema),
    settings: settingsSchema.default(settingsSchema.parse({})),
  })
  .strict()
  // Runs even when fields are malformed, so that one pass reports every problem; each check reads only
  // fields that are well formed on their own.
  .superRefine(crossChecks, { when: () => true });

type Shape = (typeof poolSchema)['shape'];
/** A pool as given: fields may be anything until checked with `valid`. */
type RawPool = { readonly [K in keyof Shape]?: unknown };

function valid<K extends keyof Shape>(pool: RawPool, key: K): z.output<Shape[K]> | undefined {
  const result = poolSchema.shape[key].safeParse(pool[key]);
  return result.success ? (result.data as z.output<Shape[K]>) : undefined;
}

function crossChecks(config: unknown, ctx: z.RefinementCtx): void {
  const pools = (config as { pools?: unknown } | null)?.pools;
  if (!Array.isArray(pools)) return;
  const seenNames = new Set<string>();
  const seenLabelSets = new Map<string, string>();
  pools.forEach((raw: unknown, i) => {
    if (raw === null || typeof raw !== 'object') return;
    const pool = raw as RawPool;
    // The message names the value itself, so no "(given …)" is appended.
    const issue = (message: string, path: (string | number)[]) =>
      ctx.addIssue({ code: 'custom', message, path: ['pools', i, ...path], params: { namesValue: true } });

    const name = valid(pool, 'name');
    if (name !== undefined) {
      if (seenNames.has(name))
        ctx.addIssue({ code: 'custom', message: 'is used by another pool', path: ['pools', i, 'name'] });
      seenNames.add(name);
    }

    const labels = valid(pool, 'labels');
    if (labels !== undefined) {
      // Runners carry `self-hosted` anyway, and a label listed twice is one label.
      const labelKey = [...new Set(normalizedLabels(labels))]
        .filter((l) => l !== 'self-hosted')
        .sort()
        .join(',');
      const twin = seenLabelSets.get(labelKey);
      if (twin !== undefined)
        issue(`serves the same labels as pool "${twin}", so jobs could not tell them apart`, ['labels']);
      else seenLabelSets.set(labelKey, name ?? `pools[${i}]`);
    }

    const maximum = valid(pool, 'maximum');
    const defaultSize = valid(pool, 'defaultSize');
    if (maximum !== undefined && defaultSize !== undefined && defaultSize > maximum)
      issue(`${defaultSize} is over its maximum ${maximum}`, ['defaultSize']);
    if (maximum !== undefined && Array.isArray(pool.schedule))
      pool.schedule.forEach((window: unknown, w) => {
        const size = (window as { size?: unknown } | null)?.size;
        if (typeof size === 'number' && size > maximum)
          issue(`${size} is over its maximum ${maximum}`, ['schedule', w, 'size']);
      });

    const architecture = valid(pool, 'architecture');
    const types = Array.isArray(pool.instanceTypes) ? pool.instanceTypes : [];
    types.forEach((type: unknown, t) => {
      if (architecture === undefined || !instanceTypeName.safeParse(type).success) return;
      const arch = architectureOfType(type as string);
      if (arch !== architecture)
        issue(`${type} is ${arch}, the pool is ${architecture}`, ['instanceTypes', t]);
    });
    if (new Set(types).size !== types.length) issue('lists a type twice', ['instanceTypes']);
    const subnets = Array.isArray(pool.subnets) ? pool.subnets : [];
    if (new Set(subnets).size !== subnets.length) issue('lists a subnet twice', ['subnets']);
    hotChecks(pool.hot, (message, path) => issue(message, ['hot', ...path]));
    quotaChecks(pool.quotas, (message, path) => issue(message, ['quotas', ...path]));
    sizeChecks(pool.sizes, architecture, labels, (message, path) => issue(message, ['sizes', ...path]));
  });
}

/** Overrides named twice (GitHub names are case-insensitive) or above their organization's quota. */
function quotaChecks(raw: unknown, issue: (message: string, path: (string | number)[]) => void): void {
  if (raw === null || typeof raw !== 'object') return;
  const quotas = raw as Record<string, unknown>;
  const overrides = (field: 'repositories' | 'organizations') => {
    const value = quotas[field];
    return value !== null && typeof value === 'object' ? Object.entries(value) : [];
  };
  const limitOf = (value: unknown, field: 'instances' | 'jobsPerDay') => {
    const limit = (value as Record<string, unknown> | null)?.[field];
    return typeof limit === 'number' && Number.isInteger(limit) ? limit : undefined;
  };
  for (const field of ['repositories', 'organizations'] as const) {
    const seen = new Map<string, string>();
    for (const [name] of overrides(field)) {
      if (field === 'repositories' && !repositoryName.test(name))
        issue(`"${name}" is not "owner/name"`, [field, name]);
      if (field === 'organizations' && !ownerName.test(name))
        issue(`"${name}" is not a GitHub owner name`, [field, name]);
      const twin = seen.get(name.toLowerCase());
      if (twin !== undefined)
        issue(`"${name}" and "${twin}" name the same (names ignore case)`, [field, name]);
      seen.set(name.toLowerCase(), name);
    }
  }
  const organizations = new Map(overrides('organizations').map(([name, v]) => [name.toLowerCase(), v]));
  for (const [name, value] of overrides('repositories'))
    for (const field of ['instances', 'jobsPerDay'] as const) {
      const own = limitOf(value, field);
      const owner = name.split('/')[0]?.toLowerCase() ?? '';
      const orgLimit = limitOf(organizations.get(owner), field) ?? limitOf(quotas.organization, field);
      if (own !== undefined && orgLimit !== undefined && own > orgLimit)
        issue(`${own} is over the organization quota ${orgLimit} of "${owner}": it could never be reached`, [
          'repositories',
          name,
          field,
        ]);
    }
}

/** Size labels: not a label the pool already has, a type of the pool's architecture, room for the label. */
function sizeChecks(
  raw: unknown,
  architecture: 'x64' | 'arm64' | undefined,
  labels: readonly string[] | undefined,
  issue: (message: string, path: (string | number)[]) => void,
): void {
  if (raw === null || typeof raw !== 'object') return;
  const sizes = Object.entries(raw as Record<string, unknown>);
  const base = new Set(['self-hosted', ...normalizedLabels(labels ?? [])]);
  const seen = new Map<string, string>();
  for (const [label, size] of sizes) {
    const normal = label.trim().toLowerCase();
    if (base.has(normal)) issue(`"${label}" is already a label of the pool: it cannot name a size`, [label]);
    const twin = seen.get(normal);
    if (twin !== undefined)
      issue(`"${label}" and "${twin}" are the same label (labels ignore case)`, [label]);
    seen.set(normal, label);
    const type = (size as { instanceType?: unknown } | null)?.instanceType;
    if (architecture !== undefined && instanceTypeName.safeParse(type).success) {
      const arch = architectureOfType(type as string);
      if (arch !== architecture)
        issue(`${type as string} is ${arch}, the pool is ${architecture}`, [label, 'instanceType']);
    }
  }
  if (sizes.length > 0 && labels !== undefined && labels.length >= 20)
    issue(
      'the pool has 20 labels already: a runner carrying a size label would have 21 (GitHub allows 20)',
      [],
    );
}

/** The hot tier's bounds against each other; each check reads only fields well formed on their own. */
function hotChecks(raw: unknown, issue: (message: string, path: (string | number)[]) => void): void {
  if (raw === null || typeof raw !== 'object') return;
  const hot = raw as Record<string, unknown>;
  const cap = typeof hot.maximum === 'number' && Number.isInteger(hot.maximum) ? hot.maximum : undefined;
  if (cap !== undefined && typeof hot.outsideWindows === 'number' && hot.outsideWindows > cap)
    issue(`${hot.outsideWindows} is over the hot tier's maximum ${cap}`, ['outsideWindows']);
  if (Array.isArray(hot.fill) && new Set(hot.fill).size !== hot.fill.length)
    issue('lists a source twice', ['fill']);
  if (!Array.isArray(hot.windows)) return;
  hot.windows.forEach((window: unknown, w) => {
    const { min, max } = (window ?? {}) as { min?: unknown; max?: unknown };
    if (typeof max !== 'number') return;
    if (typeof min === 'number' && min > max) issue(`min ${min} is over max ${max}`, ['windows', w, 'min']);
    if (cap !== undefined && max > cap)
      issue(`${max} is over the hot tier's maximum ${cap}`, ['windows', w, 'max']);
  });
}

export type PoolsConfig = z.infer<typeof poolsConfigSchema>;
export type PoolConfig = PoolsConfig['pools'][number];
export type ScheduleWindow = PoolConfig['schedule'][number];
export type Settings = PoolsConfig['settings'];
export type HotConfig = NonNullable<PoolConfig['hot']>;
export type HotWindow = HotConfig['windows'][number];
export type QuotasConfig = NonNullable<PoolConfig['quotas']>;
export type QuotaLimit = NonNullable<QuotasConfig['repository']>;

/** GitHub compares labels case-insensitively. */
export function normalizedLabels(labels: readonly string[]): string[] {
  return labels.map((l) => l.trim().toLowerCase());
}

export type ConfigValidation = { ok: true; config: PoolsConfig } | { ok: false; problems: string[] };

/** Validates a parsed document, reporting every problem as `path: message`. */
export function validatePoolsConfig(document: unknown): ConfigValidation {
  const result = poolsConfigSchema.safeParse(document);
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    problems: result.error.issues.map(
      (issue) =>
        `${describePath(document, issue.path)}: ${issue.message}${
          issue.code === 'custom' && issue.params?.namesValue === true
            ? ''
            : describeGiven(document, issue.path)
        }`,
    ),
  };
}

/** Parses and validates JSON text; malformed JSON is one problem like any other. */
export function parsePoolsConfig(text: string): ConfigValidation {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`(root): not valid JSON (${(error as Error).message})`] };
  }
  return validatePoolsConfig(document);
}

export class InvalidPoolConfigError extends Error {
  override readonly name = 'InvalidPoolConfigError';
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`invalid pool config:\n  ${problems.join('\n  ')}`, options);
  }
}

/** `pool "linux-x64": schedule[0].size` rather than `pools.0.schedule.0.size`. */
function describePath(document: unknown, path: readonly PropertyKey[]): string {
  const fields = (keys: readonly PropertyKey[]) =>
    keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('');
  if (path[0] === 'pools' && typeof path[1] === 'number') {
    const pools = (document as { pools?: unknown[] }).pools;
    const name = (pools?.[path[1]] as { name?: unknown } | undefined)?.name;
    const pool = typeof name === 'string' ? `pool "${name}"` : `pools[${path[1]}]`;
    return path.length > 2 ? `${pool}: ${fields(path.slice(2))}` : pool;
  }
  return path.length > 0 ? fields(path) : '(root)';
}

function describeGiven(document: unknown, path: readonly PropertyKey[]): string {
  let value: unknown = document;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  if (value === undefined || typeof value === 'object') return '';
  return ` (given ${JSON.stringify(value)})`;
}
