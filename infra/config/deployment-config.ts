/**
 * The deployment configuration: everything an operator decides about one installation (account, GitHub
 * organization and App, network, initial pools, allowlists, alarm thresholds, the deploying repository).
 * One zod schema, checked at synth time, so a bad value stops `cdk synth` with a message naming the field,
 * what was given and what is allowed, instead of surfacing as a failed deployment or a broken control plane.
 *
 * Invariants checked beyond field types: the initial pool config passes the same validation the handlers
 * apply at runtime (`validatePoolsConfig`), and every subnet a pool uses is declared under `network.subnets`
 * with its availability zone (the handlers balance zones from that map without calling EC2).
 */
import { z } from 'zod';
import { poolOwnerProblems, type RunnerSettings } from '../../scheduler/core/deps.js';
import { type PoolsConfig, validatePoolsConfig } from '../../scheduler/core/pool-config.js';

/** Log retention periods CloudWatch Logs accepts, in days. */
const retentionDays = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653,
] as const;

const githubLogin = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, {
  message: 'must be a GitHub user or organization login (letters, digits, dashes)',
});
const repositoryName = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/, {
  message: 'must be "owner/repository"',
});
const positiveId = z.number({ message: 'must be a number' }).int().positive({ message: 'must be positive' });

/** An App installation beyond the main one: its id, the account it is installed on, where its runners register. */
const installationRef = z
  .object({
    id: positiveId,
    owner: githubLogin,
    /** `repo`: a repository-level install (a user account, selected repositories); runners register per repository. */
    runners: z.enum(['org', 'repo']).default('org'),
  })
  .strict();

/** A further GitHub App (more JIT mint capacity, or its own organizations); its key goes in its own secret. */
const additionalAppSchema = z
  .object({
    /** Names its secret (`<project>/github/app-<name>`) and its budget metrics. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, {
      message: 'must be 1-32 lowercase letters, digits or dashes',
    }),
    appId: positiveId,
    /** Whether its webhook points at this deployment too (its failed deliveries are then redelivered). */
    webhook: z.boolean().default(false),
    installations: z.array(installationRef).min(1, { message: 'must list at least one installation' }),
  })
  .strict();

const subnetSchema = z
  .object({
    id: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { message: 'is not a subnet id (subnet-0123abcd...)' }),
    availabilityZone: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d[a-z]$/, {
      message: 'is not an availability zone name (e.g. "us-east-1a")',
    }),
  })
  .strict();

/**
 * The fields of one installation, whoever deploys it: this project's own CDK app (deployment config) or
 * the WarmPoolRunners construct in someone else's app. The account, the region and the deploying
 * repository are the app's business, not the installation's.
 */
const installationFields = {
  /**
   * Names the installation: stack names, resource names, the runner name prefix and the value of the
   * `wpr:project` tag that every IAM condition on EC2 checks. Two installations in one account need
   * two different names.
   */
  project: z.string().regex(/^[a-z][a-z0-9-]{1,19}$/, {
    message: 'must be 2-20 lowercase letters, digits or dashes, starting with a letter',
  }),
  /** SSM path under which the pool config, the JIT configs and the AMI ids live. Defaults to `/<project>`. */
  parameterPrefix: z
    .string()
    .regex(/^(?:\/[A-Za-z0-9_.-]+)+$/, { message: 'must be an SSM path like "/wpr" (no trailing slash)' })
    .optional(),
  github: z
    .object({
      organization: githubLogin,
      appId: positiveId,
      installationId: positiveId,
      /** REST API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server. */
      apiUrl: z
        .url({ protocol: /^https$/, message: 'must be an https:// URL' })
        .refine((u) => !u.endsWith('/'), { message: 'must not end with "/"' })
        .default('https://api.github.com'),
      runnerScope: z.enum(['org', 'repo']).default('org'),
      runnerGroup: z.string().min(1).max(100).default('Default'),
      /** Runner names are `<prefix>-<instance id>`. Defaults to the project name. */
      runnerNamePrefix: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,19}$/, { message: 'must be 1-20 lowercase letters, digits or dashes' })
        .optional(),
      /**
       * More organizations (or user accounts) of the same App, beyond `organization`/`installationId`. The
       * main installation keeps `runnerScope`; each of these says its own.
       */
      additionalInstallations: z.array(installationRef).default([]),
      /** More GitHub Apps, each with its installations (docs/deploy.md: "Two organizations, two Apps"). */
      additionalApps: z.array(additionalAppSchema).default([]),
    })
    .strict(),
  network: z
    .object({
      vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { message: 'is not a VPC id (vpc-0123abcd...)' }),
      subnets: z.array(subnetSchema).min(1, { message: 'must list at least one subnet' }),
      /**
       * Give runners a public IPv4 address (for subnets without a NAT gateway). Off by default: a public
       * address costs money and exposes the instance, even with an ingress-free security group.
       */
      assignPublicIp: z.boolean().default(false),
    })
    .strict(),
  /** The initial pool config document, written to the `<prefix>/pools` parameter. */
  pools: z.unknown(),
  allowlist: z
    .object({
      /** Repository owners whose jobs get runners; empty means any owner the App is installed for. */
      owners: z.array(githubLogin).default([]),
      /** `owner/repository` names whose jobs get runners; empty means any repository. */
      repositories: z.array(repositoryName).default([]),
    })
    .strict()
    .default({ owners: [], repositories: [] }),
  runners: z
    .object({
      /**
       * Let operators open a Session Manager shell on runners (ssmmessages and instance registration
       * only; never the AmazonSSMManagedInstanceCore policy, whose ssm:GetParameter on "*" would let one
       * runner read another's JIT config).
       */
      sessionManager: z.boolean().default(false),
    })
    .strict()
    .default({ sessionManager: false }),
  /** The runner image pipeline (EC2 Image Builder, Amazon Linux 2023). */
  image: z
    .object({
      /** Architectures to build; x64 is always built, the launch template's default image. */
      architectures: z
        .array(z.enum(['x64', 'arm64']))
        .min(1)
        .refine((a) => a.includes('x64'), {
          message: "must include x64 (the launch template's default image)",
        })
        .default(['x64', 'arm64']),
      /** actions/runner release, without the `v`; the image's pinned release when absent. */
      runnerVersion: z
        .string()
        .regex(/^\d+\.\d+\.\d+$/, { message: 'must be a release number like 2.337.0' })
        .optional(),
      /** SHA-256 of each architecture's runner tarball (from the release notes), with runnerVersion. */
      runnerSha256: z
        .object({
          x64: z
            .string()
            .regex(/^[0-9a-f]{64}$/, { message: 'is not a SHA-256 hex digest' })
            .optional(),
          arm64: z
            .string()
            .regex(/^[0-9a-f]{64}$/, { message: 'is not a SHA-256 hex digest' })
            .optional(),
        })
        .strict()
        .optional(),
      /** When scheduled builds run (Image Builder cron). */
      scheduleExpression: z.string().min(1).default('cron(0 4 ? * mon *)'),
    })
    .strict()
    .default({ architectures: ['x64', 'arm64'], scheduleExpression: 'cron(0 4 ? * mon *)' }),
  api: z
    .object({
      /** Steady-state requests per second the webhook stage accepts. */
      throttleRateLimit: z.number().positive().max(10_000).default(50),
      /** Burst of requests above the rate (a 256-job matrix arrives as one burst of webhooks). */
      throttleBurstLimit: z.number().int().positive().max(5_000).default(300),
    })
    .strict()
    .default({ throttleRateLimit: 50, throttleBurstLimit: 300 }),
  alarms: z
    .object({
      /** Addresses subscribed to the alarm topic (each confirms by mail). */
      emails: z.array(z.email({ message: 'is not an e-mail address' })).default([]),
      /** Warm-pool pickup latency p95 above this, in seconds, raises an alarm. */
      pickupLatencyP95Seconds: z.number().positive().max(3_600).default(30),
      /** A pool with a positive target and no ready instance for this many minutes raises an alarm. */
      poolEmptyMinutes: z.number().int().min(1).max(60).default(5),
      /** This many jobs stuck without a runner raises an alarm. */
      stuckJobs: z.number().int().min(1).default(1),
      /** This many handler errors within 5 minutes raises an alarm. */
      handlerErrors: z.number().int().min(1).default(3),
    })
    .strict()
    .default({
      emails: [],
      pickupLatencyP95Seconds: 30,
      poolEmptyMinutes: 5,
      stuckJobs: 1,
      handlerErrors: 3,
    }),
  observability: z
    .object({
      metricsNamespace: z
        .string()
        .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, { message: 'is not a CloudWatch namespace' })
        .refine((n) => !n.startsWith('AWS/'), { message: 'must not start with "AWS/"' })
        .default('WarmPoolRunners'),
      logRetentionDays: z
        .number()
        .refine((d) => (retentionDays as readonly number[]).includes(d), {
          message: `must be one of ${retentionDays.join(', ')}`,
        })
        .default(30),
      /** Repositories the daily cost metric names; the rest are summed as `other` (docs/cost.md). */
      costTopRepositories: z.number().int().min(0).max(100).default(20),
    })
    .strict()
    .default({ metricsNamespace: 'WarmPoolRunners', logRetentionDays: 30, costTopRepositories: 20 }),
};
const installationObject = z.object(installationFields).strict();

/** An installation as given to the construct: every field with a default may be left out. */
export type InstallationInput = z.input<typeof installationObject>;

/** What the checks may assume about values only known at deploy time (CloudFormation parameters). */
export interface InstallationCheckOptions {
  /** The region, when known at synth: every subnet's zone must be in it. */
  readonly region?: string;
  /** The pool config is a deploy-time value: the control plane validates it on every read instead. */
  readonly deployTimePools?: boolean;
  /** The subnets are a deploy-time value: the pools' subnets cannot be checked against them. */
  readonly deployTimeSubnets?: boolean;
}

/** The installation schema alone (no account, region or deploying repository), for the construct. */
export function installationSchema(options: InstallationCheckOptions = {}) {
  return installationObject.superRefine((config, ctx) => checkInstallation(config, ctx, options));
}

export const deploymentConfigSchema = z
  .object({
    ...installationFields,
    account: z.string().regex(/^\d{12}$/, { message: 'must be a 12-digit AWS account id' }),
    region: z
      .string()
      .regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, { message: 'is not an AWS region (e.g. "us-east-1")' }),
    /** Who may deploy: the repository whose workflows assume the deploy role through GitHub OIDC. */
    deploy: z
      .object({
        repository: repositoryName,
        branch: z.string().min(1).default('main'),
        environment: z.string().min(1).default('production'),
        /** An account holds one provider per URL: reuse an existing GitHub OIDC provider by ARN. */
        existingOidcProviderArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/, {
            message: 'is not the ARN of a token.actions.githubusercontent.com OIDC provider',
          })
          .optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((config, ctx) => checkInstallation(config, ctx, { region: config.region }));

type InstallationFields = z.output<typeof installationObject>;

/** Every check across fields, reported together (each issue names its path). */
function checkInstallation(
  config: InstallationFields,
  ctx: z.RefinementCtx,
  options: InstallationCheckOptions,
): void {
  const checkSubnets = options.deployTimeSubnets !== true;
  const built = new Set(config.image.architectures);
  if (options.deployTimePools !== true) {
    const pools = validatePoolsConfig(config.pools);
    if (!pools.ok) {
      for (const problem of pools.problems)
        ctx.addIssue({ code: 'custom', path: ['pools'], message: `pool config: ${problem}` });
      return;
    }
    for (const pool of pools.config.pools)
      if (!built.has(pool.architecture))
        ctx.addIssue({
          code: 'custom',
          path: ['image', 'architectures'],
          message: `pool "${pool.name}" runs on ${pool.architecture}, which is not built (add "${pool.architecture}")`,
        });
    const declared = new Set(config.network.subnets.map((s) => s.id));
    for (const pool of pools.config.pools)
      pool.subnets.forEach((subnet, i) => {
        if (checkSubnets && !declared.has(subnet))
          ctx.addIssue({
            code: 'custom',
            path: ['pools'],
            message: `pool "${pool.name}": subnets[${i}] ${subnet} is not declared under network.subnets (add it with its availability zone)`,
          });
      });
  }
  for (const problem of appProblems(config.github))
    ctx.addIssue({ code: 'custom', path: ['github', ...problem.path], message: problem.message });
  if (options.deployTimePools !== true && severalOwners(config.github)) {
    const pools = validatePoolsConfig(config.pools);
    if (pools.ok)
      for (const problem of poolOwnerProblems(deploymentRunners(config.github), pools.config.pools))
        ctx.addIssue({ code: 'custom', path: ['pools'], message: `pool config: ${problem}` });
  }
  if (checkSubnets) {
    const seen = new Set<string>();
    config.network.subnets.forEach((s, i) => {
      if (seen.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['network', 'subnets', i, 'id'], message: 'is listed twice' });
      seen.add(s.id);
      if (options.region !== undefined && !s.availabilityZone.startsWith(options.region))
        ctx.addIssue({
          code: 'custom',
          path: ['network', 'subnets', i, 'availabilityZone'],
          message: `${s.availabilityZone} is not in region ${options.region}`,
        });
    });
  }
}

type ParsedConfig = z.infer<typeof deploymentConfigSchema>;

/** The validated configuration, with defaults derived from the project name filled in. */
export type DeploymentConfig = Omit<ParsedConfig, 'pools' | 'parameterPrefix' | 'github'> & {
  readonly parameterPrefix: string;
  readonly github: ParsedConfig['github'] & { readonly runnerNamePrefix: string };
  readonly pools: PoolsConfig;
};

export type DeploymentConfigValidation =
  | { ok: true; config: DeploymentConfig }
  | { ok: false; problems: string[] };

/** Validates a merged configuration document, reporting every problem as `path: message (given …)`. */
export function validateDeploymentConfig(document: unknown): DeploymentConfigValidation {
  const result = deploymentConfigSchema.safeParse(document);
  if (!result.success)
    return {
      ok: false,
      problems: result.error.issues.map(
        (issue) => `${describePath(issue.path)}: ${issue.message}${describeGiven(document, issue.path)}`,
      ),
    };
  const parsed = result.data;
  // validatePoolsConfig already passed inside superRefine; parse again for its defaults and its type.
  const pools = validatePoolsConfig(parsed.pools);
  if (!pools.ok) return { ok: false, problems: pools.problems.map((p) => `pools: pool config: ${p}`) };
  return {
    ok: true,
    config: {
      ...parsed,
      parameterPrefix: parsed.parameterPrefix ?? `/${parsed.project}`,
      github: { ...parsed.github, runnerNamePrefix: parsed.github.runnerNamePrefix ?? parsed.project },
      pools: pools.config,
    },
  };
}

function describePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`))
    .join('');
}

function describeGiven(document: unknown, path: readonly PropertyKey[]): string {
  let value: unknown = document;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  if (value === undefined || (typeof value === 'object' && value !== null)) return '';
  return ` (given ${JSON.stringify(value)})`;
}

type GitHubFields = InstallationFields['github'];

/** Every installation of every App, the main one first: the first listed for an owner is its home. */
export function githubInstallations(
  github: GitHubFields,
): { id: number; owner: string; runners: 'org' | 'repo' }[] {
  return [
    { id: github.installationId, owner: github.organization, runners: github.runnerScope },
    ...github.additionalInstallations,
    ...github.additionalApps.flatMap((app) => app.installations),
  ];
}

/** Whether the deployment is configured with several Apps or installations (GITHUB_APPS for the handlers). */
export function severalInstallations(github: GitHubFields): boolean {
  return github.additionalInstallations.length > 0 || github.additionalApps.length > 0;
}

function severalOwners(github: GitHubFields): boolean {
  return new Set(githubInstallations(github).map((i) => i.owner.toLowerCase())).size > 1;
}

/** The owners as the handlers will see them, for the pool checks that depend on them. */
function deploymentRunners(github: GitHubFields): RunnerSettings {
  const owners: RunnerSettings['owners'][number][] = [];
  for (const i of githubInstallations(github))
    if (!owners.some((o) => o.owner.toLowerCase() === i.owner.toLowerCase()))
      owners.push({ owner: i.owner, scope: i.runners, namePrefix: String(i.id) });
  return { owners };
}

/** The handlers' GITHUB_APPS checks, at synth: a config the handlers would refuse never deploys. */
function appProblems(github: GitHubFields): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const all = githubInstallations(github);
  const ids = all.map((i) => i.id);
  for (const id of new Set(ids.filter((v, i) => ids.indexOf(v) !== i)))
    problems.push({ path: [], message: `installation ${id} is listed twice` });
  const main = [
    { id: github.installationId, owner: github.organization, runners: github.runnerScope },
    ...github.additionalInstallations,
  ];
  const perApp = [
    { path: ['additionalInstallations'], installations: main },
    ...github.additionalApps.map((app, i) => ({
      path: ['additionalApps', i],
      installations: app.installations,
    })),
  ];
  for (const app of perApp) {
    const owners = app.installations.map((i) => i.owner.toLowerCase());
    for (const owner of new Set(owners.filter((v, i) => owners.indexOf(v) !== i)))
      problems.push({
        path: app.path,
        message: `owner ${owner} is listed twice (an App is installed once per account)`,
      });
  }
  const names = github.additionalApps.map((a) => a.name);
  for (const name of new Set(
    names.filter((v, i) => names.indexOf(v) !== i).concat(names.filter((n) => n === 'main')),
  ))
    problems.push({ path: ['additionalApps'], message: `App name "${name}" is taken` });
  const scopes = new Map<string, Set<string>>();
  for (const i of all)
    scopes.set(i.owner.toLowerCase(), (scopes.get(i.owner.toLowerCase()) ?? new Set()).add(i.runners));
  for (const [owner, kinds] of scopes)
    if (kinds.size > 1)
      problems.push({
        path: [],
        message: `owner ${owner}: its installations disagree on runners ("org" and "repo")`,
      });
  return problems;
}
