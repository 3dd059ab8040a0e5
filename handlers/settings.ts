/**
 * The handlers' settings, read from the environment in this one place and validated at cold start,
 * so a missing or malformed variable fails the first invocation with a message that names it, rather
 * than a later call with a confusing one. Everything below handlers/ takes these as parameters.
 */
import { z } from 'zod';

const commaList = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter((v) => v.length > 0),
  );

/** A GitHub account login: letters, digits and single dashes, at most 39 characters. */
const ownerLogin = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/, {
  message: 'is not a GitHub organization or user name',
});

/**
 * One GitHub App of a deployment that serves several organizations: its secret (`{ appId, privateKey }`)
 * and the installations it serves. `runners: "repo"` is a repository-level install (a user account, or
 * an organization that granted only selected repositories): its runners register with each job's
 * repository instead of the organization.
 */
const githubAppSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, {
      message: 'must be 1-32 lowercase letters, digits or dashes',
    }),
    secretArn: z.string().min(1),
    /** Whether this App's webhook delivers `workflow_job` events (its deliveries are redelivered when they fail). */
    webhook: z.boolean(),
    installations: z
      .array(
        z
          .object({
            id: z.number().int().positive(),
            owner: ownerLogin,
            runners: z.enum(['org', 'repo']).default('org'),
          })
          .strict(),
      )
      .min(1, { message: 'an App needs at least one installation' }),
  })
  .strict();

export type GitHubAppSettings = z.infer<typeof githubAppSchema>;

/** `GITHUB_APPS`: JSON, then the Apps' cross-checks, every problem reported at once. */
const githubAppsSetting = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of Apps' });
      return z.NEVER;
    }
  })
  .pipe(z.array(githubAppSchema).min(1, { message: 'must list at least one App' }))
  .superRefine((apps, ctx) => {
    for (const problem of appProblems(apps)) ctx.addIssue({ code: 'custom', message: problem });
  });

function appProblems(apps: readonly GitHubAppSettings[]): string[] {
  const problems: string[] = [];
  const twice = <T>(values: readonly T[]) => [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
  for (const name of twice(apps.map((a) => a.name))) problems.push(`App name "${name}" is listed twice`);
  for (const arn of twice(apps.map((a) => a.secretArn)))
    problems.push(`secret ${arn} is named by two Apps (each App has its own key)`);
  // Installation ids are unique across GitHub: one listed twice is a typo, and would route one owner's
  // calls through another's installation.
  for (const id of twice(apps.flatMap((a) => a.installations.map((i) => i.id))))
    problems.push(`installation ${id} is listed twice`);
  for (const app of apps)
    for (const owner of twice(app.installations.map((i) => i.owner.toLowerCase())))
      problems.push(
        `App "${app.name}": owner ${owner} is listed twice (an App is installed once per account)`,
      );
  const scopes = new Map<string, Set<string>>();
  for (const i of apps.flatMap((a) => a.installations))
    scopes.set(i.owner.toLowerCase(), (scopes.get(i.owner.toLowerCase()) ?? new Set()).add(i.runners));
  for (const [owner, kinds] of scopes)
    if (kinds.size > 1)
      problems.push(
        `owner ${owner}: its installations disagree on runners ("org" and "repo"); runners register in one place`,
      );
  if (!apps.some((a) => a.webhook))
    problems.push('no App has "webhook": true: nothing would deliver workflow_job events');
  return problems;
}

const parameterPath = (example: string) =>
  z.string().regex(/^\/[A-Za-z0-9_.\-/]+[^/]$/, { message: `must look like "${example}"` });

const settingsSchema = z.object({
  TABLE_NAME: z.string().min(1),
  PARAMETER_PREFIX: parameterPath('/wpr'),
  /**
   * Where the image pipeline publishes each architecture's AMI id (`<prefix>/x64`, `<prefix>/arm64`);
   * `<PARAMETER_PREFIX>/ami` when unset.
   */
  IMAGE_PARAMETER_PREFIX: parameterPath('/wpr/ami').optional(),
  /** The runner image's root device, which every launch sizes to its pool's volume. */
  ROOT_DEVICE_NAME: z
    .string()
    .regex(/^\/dev\/[a-z0-9]+$/, { message: 'must be a device name such as "/dev/xvda"' })
    .default('/dev/xvda'),
  POOL_CONFIG_PARAMETER: z.string().min(1),
  WEBHOOK_SECRET_ARN: z.string().min(1),
  /** The single App's secret (it names its installation); absent when GITHUB_APPS lists the Apps. */
  GITHUB_APP_SECRET_ARN: z.string().min(1).optional(),
  /** Several Apps and organizations (see githubAppSchema); the single App of GITHUB_APP_SECRET_ARN when unset. */
  GITHUB_APPS: githubAppsSetting.optional(),
  GITHUB_API_URL: z.url().default('https://api.github.com'),
  /** Accept header for GitHub API calls; Octokit's default when unset. */
  GITHUB_ACCEPT: z.string().optional(),
  GITHUB_ORG: z.string().optional(),
  RUNNER_SCOPE: z.enum(['org', 'repo']).default('org'),
  RUNNER_GROUP: z.string().optional(),
  RUNNER_NAME_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{1,20}$/)
    .default('wpr'),
  LAUNCH_TEMPLATE_ID: z.string().min(1),
  /** KMS key (id, ARN or alias) the JIT SecureStrings are written with; `alias/aws/ssm` when unset. */
  JIT_PARAMETER_KEY_ID: z.string().min(1).optional(),
  EVENT_BUS_NAME: z.string().min(1),
  ALLOWED_OWNERS: commaList,
  ALLOWED_REPOSITORIES: commaList,
  SUBNET_ZONES: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        return z.record(z.string(), z.string()).parse(JSON.parse(s));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of subnet id → availability zone' });
        return z.NEVER;
      }
    }),
  /** The webhook answers within GitHub's 10 s; provisioning stops starting new steps after this. */
  WEBHOOK_BUDGET_MS: z.coerce.number().int().min(500).max(9_000).default(6_500),
  /**
   * Every AWS and GitHub call of a webhook is aborted this long after it arrived: past the budget, so a
   * step started inside it can finish, and short of GitHub's 10 s with room for the store's writes that
   * record it (cut off 0.6 s later).
   */
  WEBHOOK_CALL_DEADLINE_MS: z.coerce.number().int().min(1_000).max(9_300).default(9_000),
  /** Largest webhook body accepted; workflow_job payloads are a few kilobytes. */
  WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).default(262_144),
  PROJECT_TAG: z.string().default('wpr'),
  /** Tagged `wpr:deployment` on every launch; orphans are only instances carrying it. */
  DEPLOYMENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
  AWS_REGION: z.string().default('us-east-1'),
  /**
   * How many repositories the daily cost metric names; the rest are summed as `other`. CloudWatch bills
   * every dimension value as its own metric, so this bounds what the metric costs.
   */
  COST_TOP_REPOSITORIES: z.coerce.number().int().min(0).max(100).default(20),
});

export type HandlerSettings = Omit<z.infer<typeof settingsSchema>, 'IMAGE_PARAMETER_PREFIX'> & {
  readonly IMAGE_PARAMETER_PREFIX: string;
};

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export function readSettings(env: Readonly<Record<string, string | undefined>>): HandlerSettings {
  const result = settingsSchema.safeParse(env);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  problems.push(...appSourceProblems(env, result.success ? result.data : undefined));
  if (result.success && result.data.WEBHOOK_CALL_DEADLINE_MS <= result.data.WEBHOOK_BUDGET_MS)
    problems.push(
      `WEBHOOK_CALL_DEADLINE_MS: must be over WEBHOOK_BUDGET_MS (${result.data.WEBHOOK_BUDGET_MS})`,
    );
  if (!result.success || problems.length > 0)
    throw new SettingsError(`invalid handler settings:\n  ${problems.join('\n  ')}`);
  return {
    ...result.data,
    IMAGE_PARAMETER_PREFIX: result.data.IMAGE_PARAMETER_PREFIX ?? `${result.data.PARAMETER_PREFIX}/ami`,
  };
}

const githubSettingsSchema = settingsSchema.pick({
  GITHUB_APP_SECRET_ARN: true,
  GITHUB_APPS: true,
  GITHUB_API_URL: true,
  GITHUB_ACCEPT: true,
  GITHUB_ORG: true,
  RUNNER_SCOPE: true,
  RUNNER_GROUP: true,
  RUNNER_NAME_PREFIX: true,
});

/** The settings that say which GitHub Apps, installations and owners a deployment has. */
export type GitHubSettings = z.infer<typeof githubSettingsSchema>;

/**
 * The GitHub part of the handler settings alone, checked as readSettings checks it: for tools (the
 * CLI) that reach the deployment's GitHub Apps without being a handler.
 */
export function readGitHubSettings(env: Readonly<Record<string, string | undefined>>): GitHubSettings {
  const result = githubSettingsSchema.safeParse(env);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  problems.push(...appSourceProblems(env, result.success ? result.data : undefined));
  if (!result.success || problems.length > 0)
    throw new SettingsError(`invalid GitHub settings:\n  ${problems.join('\n  ')}`);
  return result.data;
}

/**
 * One way to name the Apps: GITHUB_APPS, or the single App (GITHUB_APP_SECRET_ARN, GITHUB_ORG,
 * RUNNER_SCOPE). Mixing them is refused rather than guessed at: each installation names its owner and
 * where its runners register.
 */
function appSourceProblems(
  env: Readonly<Record<string, string | undefined>>,
  parsed: Pick<z.infer<typeof settingsSchema>, 'RUNNER_SCOPE'> | undefined,
): string[] {
  const set = (name: string) => env[name] !== undefined && env[name] !== '';
  if (set('GITHUB_APPS'))
    return ['GITHUB_APP_SECRET_ARN', 'GITHUB_ORG', 'RUNNER_SCOPE']
      .filter(set)
      .map(
        (name) => `${name}: not used with GITHUB_APPS (each App names its secret, owners and runner scope)`,
      );
  const problems: string[] = [];
  if (!set('GITHUB_APP_SECRET_ARN'))
    problems.push('GITHUB_APP_SECRET_ARN: required unless GITHUB_APPS is set');
  if ((parsed?.RUNNER_SCOPE ?? env.RUNNER_SCOPE ?? 'org') === 'org' && !set('GITHUB_ORG'))
    problems.push('GITHUB_ORG: required when RUNNER_SCOPE is "org"');
  return problems;
}
