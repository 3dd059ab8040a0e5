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
  GITHUB_APP_SECRET_ARN: z.string().min(1),
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
  if (result.success) {
    if (result.data.RUNNER_SCOPE === 'org' && !result.data.GITHUB_ORG)
      throw new SettingsError('GITHUB_ORG: required when RUNNER_SCOPE is "org"');
    if (result.data.WEBHOOK_CALL_DEADLINE_MS <= result.data.WEBHOOK_BUDGET_MS)
      throw new SettingsError(
        `WEBHOOK_CALL_DEADLINE_MS: must be over WEBHOOK_BUDGET_MS (${result.data.WEBHOOK_BUDGET_MS})`,
      );
    return {
      ...result.data,
      IMAGE_PARAMETER_PREFIX: result.data.IMAGE_PARAMETER_PREFIX ?? `${result.data.PARAMETER_PREFIX}/ami`,
    };
  }
  throw new SettingsError(
    `invalid handler settings:\n  ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`,
  );
}
