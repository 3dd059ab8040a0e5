/**
 * The composition root: builds the real adapters once per cold start from validated settings and
 * hands the handlers a ready CoreDeps. The AWS SDK clients take their endpoints from the standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variables when set, which is how the local sandbox and the end-to-end
 * tests point the very same code at the peers on 127.0.0.1.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { abortAtCallDeadline, octokitAtCallDeadline } from '../scheduler/adapters/call-deadline.js';
import { DynamoDbPoolStore } from '../scheduler/adapters/dynamodb-pool-store.js';
import { createEc2Client } from '../scheduler/adapters/ec2-client.js';
import { Ec2Compute } from '../scheduler/adapters/ec2-compute.js';
import { EventBridgeEvents } from '../scheduler/adapters/eventbridge-events.js';
import {
  createGitHubAppOctokit,
  type GitHubAppOctokit,
  type GitHubAppOctokitOptions,
  RenewingGitHubApp,
} from '../scheduler/adapters/github-app-auth.js';
import { createGitHubApps, type InstallationBudget } from '../scheduler/adapters/github-apps.js';
import { OctokitGitHubRunners } from '../scheduler/adapters/github-runners.js';
import { SecretsManagerSecrets } from '../scheduler/adapters/secrets-manager-secrets.js';
import { SsmConfigSource } from '../scheduler/adapters/ssm-config-source.js';
import { SsmJitDelivery } from '../scheduler/adapters/ssm-jit-delivery.js';
import { type CoreDeps, poolOwnerProblems, type RunnerSettings } from '../scheduler/core/deps.js';
import type { Clock } from '../scheduler/ports/clock.js';
import type { ConfigSource } from '../scheduler/ports/config-source.js';
import type { GitHubRunners } from '../scheduler/ports/github-runners.js';
import type { Metrics } from '../scheduler/ports/metrics.js';
import { type DeploymentOwners, multiAppOwners, singleAppOwners } from './deployment-owners.js';
import { createLogger, EmfMetrics } from './observability.js';
import type { GitHubSettings, HandlerSettings } from './settings.js';

export interface ControlPlane {
  readonly settings: HandlerSettings;
  readonly deps: CoreDeps;
  readonly configSource: ConfigSource;
  /** The webhook secret and, during a rotation, the previous one. */
  readonly webhookSecrets: () => Promise<string[]>;
  /** The installations and owners this deployment serves; deliveries for any other pair are refused. */
  readonly owners: DeploymentOwners;
  /** Several Apps: each (App, installation)'s standing with GitHub's rate limits, for metrics. */
  readonly githubBudgets?: () => readonly InstallationBudget[];
  readonly logger: Logger;
}

export interface ControlPlaneOverrides {
  readonly clock?: Clock;
  readonly metrics?: Metrics;
  readonly logger?: Logger;
}

const systemClock: Clock = { now: () => Date.now() };

/** SDK attempts per call on the webhook path (the EC2 client's default elsewhere is 8). */
export const webhookSdkAttempts = 2;
/** Octokit on the webhook path: one retry of a 5xx, and a rate-limit wait only when it is short. */
export const webhookGitHubRetries = {
  serverErrorRetries: 1,
  retryBaseMs: 250,
  rateLimitRetries: 1,
  maxRateLimitWaitSeconds: 1,
} as const;

const appSecretSchema = z.object({
  appId: z.coerce.number().int().positive(),
  /** The single App's installation; with GITHUB_APPS the installations are in the settings. */
  installationId: z.coerce.number().int().positive().optional(),
  privateKey: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }),
});

export class AppSecretError extends Error {
  override readonly name = 'AppSecretError';
}

export async function buildControlPlane(
  settings: HandlerSettings,
  handler: string,
  overrides: ControlPlaneOverrides = {},
): Promise<ControlPlane> {
  const clock = overrides.clock ?? systemClock;
  // Every client call is aborted at the deadline the handler sets (the webhook's, inside GitHub's 10 s);
  // on the webhook path retries are few and rate-limit waits short, so the deadline is what ends a call.
  const webhook = handler === 'webhook';
  const aws = { region: settings.AWS_REGION, ...(webhook && { maxAttempts: webhookSdkAttempts }) };
  const ssm = abortAtCallDeadline(new SSMClient(aws));
  const secrets = new SecretsManagerSecrets({
    client: abortAtCallDeadline(new SecretsManagerClient(aws)),
    clock,
  });

  const octokitOptions = {
    ...(webhook && webhookGitHubRetries),
    baseUrl: settings.GITHUB_API_URL,
    // One JIT mint per webhook: spacing writes a second apart would only add latency to the next
    // invocation in a warm container; secondary rate limits are handled by the throttling plugin.
    spaceWrites: false,
    ...(settings.GITHUB_ACCEPT !== undefined && { accept: settings.GITHUB_ACCEPT }),
  };
  const { github, owners, budgets } = await buildDeploymentGitHub(settings, {
    secrets,
    clock,
    octokit: octokitOptions,
    wrap: octokitAtCallDeadline,
  });

  const deps: CoreDeps = {
    store: new DynamoDbPoolStore({
      client: abortAtCallDeadline(new DynamoDBClient(aws), { records: true }),
      tableName: settings.TABLE_NAME,
      clock,
    }),
    compute: new Ec2Compute({
      client: abortAtCallDeadline(createEc2Client(aws)),
      launchTemplate: { id: settings.LAUNCH_TEMPLATE_ID },
      // The image pipeline publishes each architecture's AMI id under the image prefix.
      images: {
        x64: { parameterName: `${settings.IMAGE_PARAMETER_PREFIX}/x64` },
        arm64: { parameterName: `${settings.IMAGE_PARAMETER_PREFIX}/arm64` },
      },
      ssm,
      rootDeviceName: settings.ROOT_DEVICE_NAME,
      project: settings.PROJECT_TAG,
      ...(settings.DEPLOYMENT_ID !== undefined && { deploymentId: settings.DEPLOYMENT_ID }),
      clock,
      subnetZones: settings.SUBNET_ZONES,
    }),
    github,
    jit: new SsmJitDelivery({
      client: ssm,
      prefix: settings.PARAMETER_PREFIX,
      ...(settings.JIT_PARAMETER_KEY_ID !== undefined && { kmsKeyId: settings.JIT_PARAMETER_KEY_ID }),
    }),
    clock,
    metrics: overrides.metrics ?? new EmfMetrics(handler),
    events: new EventBridgeEvents({
      client: abortAtCallDeadline(new EventBridgeClient(aws)),
      eventBusName: settings.EVENT_BUS_NAME,
      clock,
    }),
    random: () => randomInt(0, 2 ** 32) / 2 ** 32,
    runners: owners.runners,
  };
  return {
    settings,
    deps,
    configSource: new SsmConfigSource({
      client: ssm,
      parameterName: settings.POOL_CONFIG_PARAMETER,
      clock,
      // A hot pool needs an organization its idle runners register with: without one, the config is
      // rejected (and the last good one kept), as any other config mistake.
      check: (config) => poolOwnerProblems(owners.runners, config.pools),
    }),
    webhookSecrets: () => secrets.getWebhookSecrets(settings.WEBHOOK_SECRET_ARN),
    owners,
    ...(budgets !== undefined && { githubBudgets: budgets }),
    logger: overrides.logger ?? createLogger(handler),
  };
}

/** The deployment's GitHub side: the port over its App(s), who it serves and, with several Apps, their budgets. */
export interface DeploymentGitHub {
  readonly github: GitHubRunners;
  readonly owners: DeploymentOwners;
  readonly budgets?: () => readonly InstallationBudget[];
}

export interface DeploymentGitHubOptions {
  readonly secrets: SecretsManagerSecrets;
  readonly clock: Clock;
  /** For every client: base URL, retries, Accept… (the credentials come from the App secrets). */
  readonly octokit: Omit<GitHubAppOctokitOptions, 'appId' | 'privateKey' | 'installationId'>;
  /** Applied to every client once built (the handlers abort calls at their deadline). */
  readonly wrap?: (octokit: GitHubAppOctokit) => GitHubAppOctokit;
}

/**
 * Builds the GitHubRunners port from the settings' App(s), reading each App secret through `secrets`:
 * the handlers' composition root and the CLI's GitHub checks share it. The App key is read again on a
 * TTL and whenever GitHub answers 401, so a rotated key reaches warm containers too; the installations
 * are fixed for the port's life (names and checks depend on them).
 */
export async function buildDeploymentGitHub(
  settings: GitHubSettings,
  options: DeploymentGitHubOptions,
): Promise<DeploymentGitHub> {
  const { secrets, clock } = options;
  const wrap = options.wrap ?? ((octokit: GitHubAppOctokit) => octokit);
  const readApp = async (arn: string, { fresh }: { fresh: boolean }) =>
    parseAppSecret(arn, await secrets.getSecret(arn, { fresh }));
  if (settings.GITHUB_APPS === undefined) {
    const arn = settings.GITHUB_APP_SECRET_ARN ?? '';
    const app = await readApp(arn, { fresh: false });
    if (app.installationId === undefined)
      throw new AppSecretError(`GitHub App secret ${arn} is invalid: installationId`);
    const { installationId } = app;
    const github = new OctokitGitHubRunners(
      new RenewingGitHubApp({
        read: async (how) => {
          const credentials = await readApp(arn, how);
          if (credentials.installationId !== installationId)
            throw new AppSecretError(
              `GitHub App secret ${arn} names another installation; redeploy to change it`,
            );
          return { appId: credentials.appId, privateKey: credentials.privateKey, installationId };
        },
        build: (credentials) => wrap(createGitHubAppOctokit({ ...credentials, ...options.octokit })),
        clock,
      }),
    );
    return { github, owners: singleAppOwners(settings, app.installationId) };
  }
  const apps = settings.GITHUB_APPS;
  // Fail the cold start on an unreadable or malformed secret, not the first call that needs it.
  await Promise.all(apps.map((app) => readApp(app.secretArn, { fresh: false })));
  // Every call goes to an installation serving its owner, spread over the Apps by their rate-limit
  // budgets; a throttled App is skipped (scheduler/adapters/github-apps.ts).
  const router = createGitHubApps({
    apps,
    readSecret: (app, how) => readApp(app.secretArn, how),
    octokit: options.octokit,
    wrap,
    clock,
  });
  return { github: router, owners: multiAppOwners(settings, apps), budgets: () => router.budgets() };
}

/**
 * Where and under which names a single-App deployment registers runners. Names carry the App
 * installation id (`<prefix>-<installation>-<instance id>`): two deployments in one organization (two
 * Apps, each its own installation) may share a prefix, and each must recognise only its own runners, or
 * each one's orphan reaping deletes the other's runners.
 */
export function runnerSettings(settings: HandlerSettings, installationId: number): RunnerSettings {
  return singleAppOwners(settings, installationId).runners;
}

function parseAppSecret(arn: string, text: string): z.infer<typeof appSecretSchema> {
  const parsed = appSecretSchema.safeParse(safeJson(text));
  if (!parsed.success)
    // Name the fields only: the secret's content must never reach an error message.
    throw new AppSecretError(
      `GitHub App secret ${arn} is invalid: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
    );
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One control plane per cold start, built on first use; a failed build is retried by the next
 * invocation instead of poisoning the container.
 */
export function lazyControlPlane(build: () => Promise<ControlPlane>): () => Promise<ControlPlane> {
  let plane: Promise<ControlPlane> | undefined;
  return () => {
    plane ??= build().catch((error: unknown) => {
      plane = undefined;
      throw error;
    });
    return plane;
  };
}
