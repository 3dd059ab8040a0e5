/**
 * ControlPlaneFunctions: the four handlers, each with the environment the handlers' settings read and the
 * capabilities its handler uses (see ControlPlaneAccess):
 *
 *   handler     JIT configs        EC2                                             secrets
 *   webhook     deliver            start, resize, launch (+spot fleets), terminate  webhook, App
 *   lifecycle   deliver, remove    start, resize, launch (+spot fleets), terminate  App
 *   pool-tuner  deliver, remove    start, resize, launch (+spot fleets), terminate  App
 *   reconciler  deliver, list      start, resize, launch (+spot fleets), terminate  App
 *   cost-report –                  –                                               –
 *
 * The cost report reads the store (GetItem, and Query on the jobs-by-state index only), reads the pool
 * config and publishes its event: nothing else (see handlers/cost-report.ts).
 *
 * The lifecycle handler and the pool tuner start hot-tier runners (a job-started signal, an interrupted
 * idle runner, a tier below its target) up the pool's fill ladder, exactly as the webhook starts a job's
 * runner, and release idle ones (deregister, remove a config not yet taken).
 *
 * Every function reads the pool config, reads and writes the pool store, describes EC2 and publishes
 * lifecycle events; every function launches, so every one reads the AMI id of each architecture, which
 * each launch names.
 *
 * The environment is the same for all four: the handlers validate one settings schema at cold start
 * (handlers/settings.ts), and the composition root (handlers/control-plane.ts) builds every adapter for
 * every handler, reading the App secret eagerly — which is why the pool tuner, which never calls GitHub,
 * may read it. A variable names a resource; only a grant lets the function use it (the webhook secret is
 * readable by the webhook function alone).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { deploymentId } from '../deployment-id.js';
import type { ResolvedRunners } from '../runners-props.js';
import type { ControlPlaneAccess } from './control-plane-access.js';
import { ControlPlaneFunction, type HandlerName } from './control-plane-function.js';

export interface ControlPlaneFunctionsProps {
  readonly runners: ResolvedRunners;
  readonly access: ControlPlaneAccess;
  readonly tableName: string;
  readonly poolConfigParameterName: string;
  readonly webhookSecretArn: string;
  readonly appSecretArn: string;
  /** Further Apps' secrets by App name: the handlers then read every App from GITHUB_APPS. */
  readonly additionalAppSecretArns?: readonly { readonly name: string; readonly arn: string }[];
  readonly eventBusName: string;
  /** The KMS key JIT SecureStrings are written with. */
  readonly jitParameterKeyArn: string;
  readonly launchTemplateId: string;
  /** Where the image pipeline publishes each architecture's AMI id (`<prefix>/<arch>`). */
  readonly imageParameterPrefix: string;
  /** The launch template's root device, which each launch sizes to its pool's volume. */
  readonly rootDeviceName: string;
  readonly logRetention: RetentionDays;
}

export class ControlPlaneFunctions extends Construct {
  readonly webhook: ControlPlaneFunction;
  readonly lifecycle: ControlPlaneFunction;
  readonly poolTuner: ControlPlaneFunction;
  readonly reconciler: ControlPlaneFunction;
  readonly costReport: ControlPlaneFunction;

  constructor(scope: Construct, id: string, props: ControlPlaneFunctionsProps) {
    super(scope, id);
    const { runners: config, access } = props;
    const apps = githubAppsSetting(this, config, props);
    const base: Record<string, string> = {
      TABLE_NAME: props.tableName,
      PARAMETER_PREFIX: config.parameterPrefix,
      POOL_CONFIG_PARAMETER: props.poolConfigParameterName,
      EVENT_BUS_NAME: props.eventBusName,
      LAUNCH_TEMPLATE_ID: props.launchTemplateId,
      IMAGE_PARAMETER_PREFIX: props.imageParameterPrefix,
      ROOT_DEVICE_NAME: props.rootDeviceName,
      SUBNET_ZONES: config.network.subnetZonesJson,
      JIT_PARAMETER_KEY_ID: props.jitParameterKeyArn,
      RUNNER_NAME_PREFIX: config.github.runnerNamePrefix,
      // The value of the wpr:project tag on everything the EC2 adapter launches; IAM conditions check it.
      PROJECT_TAG: config.project,
      // Tagged wpr:deployment on every launch (IAM requires it); only such instances are ever orphans.
      DEPLOYMENT_ID: deploymentId(),
      POWERTOOLS_SERVICE_NAME: config.project,
      POWERTOOLS_METRICS_NAMESPACE: config.observability.metricsNamespace,
      WEBHOOK_SECRET_ARN: props.webhookSecretArn,
      ...(apps === undefined ? { GITHUB_APP_SECRET_ARN: props.appSecretArn } : { GITHUB_APPS: apps }),
      GITHUB_API_URL: config.github.apiUrl,
      ...(apps === undefined && {
        GITHUB_ORG: config.github.organization,
        RUNNER_SCOPE: config.github.runnerScope,
      }),
      RUNNER_GROUP: config.github.runnerGroup,
      ALLOWED_OWNERS: config.allowlist.owners.join(','),
      ALLOWED_REPOSITORIES: config.allowlist.repositories.join(','),
    };
    const make = (
      handler: HandlerName,
      description: string,
      environment: Record<string, string>,
      timeout: Duration,
      memorySize: number,
      singleRun?: { maxEventAge: Duration },
    ) =>
      new ControlPlaneFunction(this, pascal(handler), {
        project: config.project,
        handler,
        description,
        environment,
        timeout,
        memorySize,
        logRetention: props.logRetention,
        ...(singleRun === undefined ? {} : { singleRun }),
      });

    // GitHub counts a delivery as failed after 10 s; the reconciler redelivers failed ones.
    this.webhook = make(
      'webhook',
      'workflow_job webhook: verify, record, claim a warm instance, hand it a JIT config, start it',
      base,
      Duration.seconds(10),
      1024,
    );
    this.lifecycle = make(
      'lifecycle',
      'EC2 state changes and spot interruptions: ready, recycle, replace',
      base,
      Duration.seconds(60),
      512,
    );
    this.poolTuner = make(
      'pool-tuner',
      'Every minute: converge each pool to its scheduled size, roll outdated instances',
      base,
      Duration.seconds(55),
      512,
      { maxEventAge: Duration.minutes(1) },
    );
    this.reconciler = make(
      'reconciler',
      'Every 30 s (two passes a minute): pending jobs, stuck claims, orphans, failed deliveries, hot tiers',
      base,
      Duration.seconds(85),
      512,
      { maxEventAge: Duration.minutes(1) },
    );

    // Once a day; a large day's jobs are read a page at a time (20,000 jobs: seconds, see docs/cost.md).
    this.costReport = make(
      'cost-report',
      'Daily: attribute yesterday’s instance time to repositories and organizations, publish CostReport',
      { ...base, COST_TOP_REPOSITORIES: String(config.observability.costTopRepositories) },
      Duration.minutes(5),
      512,
      { maxEventAge: Duration.hours(1) },
    );
    access.readUsage(this.costReport.role);
    access.readConfig(this.costReport.role);
    access.publishEvents(this.costReport.role);

    for (const fn of [this.webhook, this.lifecycle, this.poolTuner, this.reconciler]) {
      access.readStore(fn.role);
      access.readAppSecret(fn.role);
      access.readConfig(fn.role);
      access.describeInstances(fn.role);
      access.publishEvents(fn.role);
      access.terminateInstances(fn.role);
    }

    access.readWebhookSecret(this.webhook.role);
    access.deliverJitConfigs(this.webhook.role);
    access.launchInstances(this.webhook.role, { fleets: true });
    access.startInstances(this.webhook.role);
    access.changeInstanceTypes(this.webhook.role);

    // Both start hot-tier runners (see the table above) and release idle ones.
    for (const role of [this.lifecycle.role, this.poolTuner.role]) {
      access.deliverJitConfigs(role);
      access.removeJitConfigs(role);
      access.launchInstances(role, { fleets: true });
      access.startInstances(role);
      access.changeInstanceTypes(role);
    }

    access.deliverJitConfigs(this.reconciler.role);
    access.listJitConfigs(this.reconciler.role);
    access.launchInstances(this.reconciler.role, { fleets: true });
    access.startInstances(this.reconciler.role);
    access.changeInstanceTypes(this.reconciler.role);
  }

  get all(): readonly ControlPlaneFunction[] {
    return [this.webhook, this.lifecycle, this.poolTuner, this.reconciler, this.costReport];
  }
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/**
 * GITHUB_APPS for several installations or Apps: every App with its secret and installations (the
 * main App is "main" and has the webhook); the single-App variables are then left out, as the handlers
 * require. Undefined for one App in one organization, which keeps the single-App variables as before.
 */
function githubAppsSetting(
  scope: Construct,
  config: ResolvedRunners,
  props: ControlPlaneFunctionsProps,
): string | undefined {
  const { github } = config;
  if (github.additionalInstallations.length === 0 && github.additionalApps.length === 0) return undefined;
  const arns = new Map((props.additionalAppSecretArns ?? []).map((a) => [a.name, a.arn]));
  const installation = (i: { id: number; owner: string; runners?: 'org' | 'repo' | undefined }) => ({
    id: i.id,
    owner: i.owner,
    runners: i.runners ?? 'org',
  });
  const apps = [
    {
      name: 'main',
      secretArn: props.appSecretArn,
      webhook: true,
      installations: [
        { id: github.installationId, owner: github.organization, runners: github.runnerScope },
        ...github.additionalInstallations.map(installation),
      ],
    },
    ...github.additionalApps.map((app) => {
      const secretArn = arns.get(app.name);
      if (secretArn === undefined) throw new Error(`no secret for GitHub App "${app.name}"`);
      return {
        name: app.name,
        secretArn,
        webhook: app.webhook ?? false,
        installations: app.installations.map(installation),
      };
    }),
  ];
  // toJsonString: the secret ARNs (and possibly the ids) are tokens resolved at deploy time.
  return Stack.of(scope).toJsonString(apps);
}
