/**
 * The runtime part: everything that can be replaced or rolled back freely — the runner launch template and
 * instance role, the four control-plane functions and their triggers (webhook API, EC2 event rules,
 * schedules), the dashboard and the alarms. State lives in the stateful part, referenced by name and ARN.
 */
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IInstanceProfile } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { asInterface } from '../as-interface.js';
import { ControlPlaneAccess } from '../constructs/control-plane-access.js';
import { ControlPlaneFunctions } from '../constructs/control-plane-functions.js';
import { ControlPlaneSchedules } from '../constructs/control-plane-schedules.js';
import { InstanceEventRules } from '../constructs/instance-event-rules.js';
import { RunnerAlarms } from '../constructs/runner-alarms.js';
import { RunnerDashboard } from '../constructs/runner-dashboard.js';
import { RunnerInstanceRole } from '../constructs/runner-instance-role.js';
import { RunnerLaunchTemplate } from '../constructs/runner-launch-template.js';
import { WebhookApi } from '../constructs/webhook-api.js';
import { RunnerMetrics } from '../observability/runner-metrics.js';
import { parameterNames } from '../parameter-names.js';
import { importVpc, type ResolvedRunners } from '../runners-props.js';

export interface RuntimePartProps {
  readonly runners: ResolvedRunners;
  readonly tableName: string;
  readonly poolConfigParameterName: string;
  readonly webhookSecret: ISecret;
  readonly appSecret: ISecret;
  /** The further Apps' secrets (several Apps), by App name. */
  readonly additionalAppSecrets?: readonly { readonly name: string; readonly secret: ISecret }[];
  readonly eventBus: IEventBus;
  readonly jitParameterKey: IKey;
  /**
   * The launch template names the x64 image parameter, for launches made from the template alone. EC2
   * refuses it while the parameter does not exist, so only where the image is built in an earlier deploy.
   */
  readonly templateImageFromParameter: boolean;
}

export class RuntimePart {
  readonly instanceRole: RunnerInstanceRole;
  readonly launchTemplate: RunnerLaunchTemplate;
  readonly functions: ControlPlaneFunctions;
  readonly webhookApi: WebhookApi;
  readonly instanceEvents: InstanceEventRules;
  readonly schedules: ControlPlaneSchedules;
  readonly alarms: RunnerAlarms;
  readonly dashboard: RunnerDashboard;

  constructor(scope: Construct, props: RuntimePartProps) {
    const { runners } = props;
    const logRetention = runners.observability.logRetentionDays as RetentionDays;

    this.instanceRole = new RunnerInstanceRole(scope, 'RunnerInstanceRole', {
      project: runners.project,
      parameterPrefix: runners.parameterPrefix,
      sessionManager: runners.runners.sessionManager,
      jitParameterKey: props.jitParameterKey,
    });
    this.launchTemplate = new RunnerLaunchTemplate(scope, 'RunnerLaunchTemplate', {
      project: runners.project,
      parameterPrefix: runners.parameterPrefix,
      vpc: importVpc(scope, runners.network),
      instanceProfile: asInterface<IInstanceProfile>(this.instanceRole.instanceProfile),
      assignPublicIp: runners.network.assignPublicIp,
      imageFromParameter: props.templateImageFromParameter,
    });

    const access = new ControlPlaneAccess({
      project: runners.project,
      parameterPrefix: runners.parameterPrefix,
      tableName: props.tableName,
      poolConfigParameterName: props.poolConfigParameterName,
      webhookSecret: props.webhookSecret,
      appSecret: props.appSecret,
      additionalAppSecrets: (props.additionalAppSecrets ?? []).map((a) => a.secret),
      eventBus: props.eventBus,
      jitParameterKey: props.jitParameterKey,
      launchTemplate: this.launchTemplate.launchTemplate,
      securityGroup: this.launchTemplate.securityGroup,
      instanceRole: this.instanceRole.role,
      ...(runners.network.subnetIds === undefined ? {} : { subnetIds: runners.network.subnetIds }),
      vpcId: runners.network.vpcId,
    });
    this.functions = new ControlPlaneFunctions(scope, 'ControlPlane', {
      runners,
      access,
      tableName: props.tableName,
      poolConfigParameterName: props.poolConfigParameterName,
      webhookSecretArn: props.webhookSecret.secretArn,
      appSecretArn: props.appSecret.secretArn,
      additionalAppSecretArns: (props.additionalAppSecrets ?? []).map((a) => ({
        name: a.name,
        arn: a.secret.secretArn,
      })),
      eventBusName: props.eventBus.eventBusName,
      jitParameterKeyArn: props.jitParameterKey.keyArn,
      launchTemplateId: this.launchTemplate.launchTemplate.launchTemplateId ?? '',
      imageParameterPrefix: parameterNames.amiDirectory(runners.parameterPrefix),
      rootDeviceName: this.launchTemplate.rootDeviceName,
      logRetention,
    });

    this.webhookApi = new WebhookApi(scope, 'WebhookApi', {
      project: runners.project,
      handler: this.functions.webhook.function,
      throttleRateLimit: runners.api.throttleRateLimit,
      throttleBurstLimit: runners.api.throttleBurstLimit,
      logRetention,
    });
    this.instanceEvents = new InstanceEventRules(scope, 'InstanceEvents', {
      handler: this.functions.lifecycle.function,
    });
    this.schedules = new ControlPlaneSchedules(scope, 'Schedules', {
      project: runners.project,
      poolTuner: this.functions.poolTuner.function,
      reconciler: this.functions.reconciler.function,
      costReport: this.functions.costReport.function,
    });

    const metrics = new RunnerMetrics({ namespace: runners.observability.metricsNamespace });
    const poolNames = runners.pools.names;
    this.alarms = new RunnerAlarms(scope, 'Alarms', {
      project: runners.project,
      metrics,
      poolNames,
      functions: this.functions.all,
      poolTuner: this.functions.poolTuner,
      reconciler: this.functions.reconciler,
      webhookApi: this.webhookApi,
      lifecycleDeadLetters: this.instanceEvents.deadLetterQueue,
      emails: runners.alarms.emails,
      pickupLatencyP95Seconds: runners.alarms.pickupLatencyP95Seconds,
      poolEmptyMinutes: runners.alarms.poolEmptyMinutes,
      stuckJobs: runners.alarms.stuckJobs,
      handlerErrors: runners.alarms.handlerErrors,
      rejectedWebhooks: runners.alarms.rejectedWebhooks,
    });
    this.dashboard = new RunnerDashboard(scope, 'Dashboard', {
      project: runners.project,
      metrics,
      poolNames,
      functions: this.functions.all,
      webhookApi: this.webhookApi,
      lifecycleDeadLetters: this.instanceEvents.deadLetterQueue,
      poolConfigParameterName: props.poolConfigParameterName,
      alarms: this.alarms.alarms,
    });
  }
}
