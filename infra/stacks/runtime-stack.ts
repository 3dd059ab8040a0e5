/**
 * RuntimeStack: everything that can be replaced or rolled back freely — the runner launch template and
 * instance role, the four control-plane functions and their triggers (webhook API, EC2 event rules,
 * schedules), the dashboard and the alarms. State lives in the StatefulStack it is given.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IInstanceProfile } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { asInterface } from '../as-interface.js';
import type { DeploymentConfig } from '../config/deployment-config.js';
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

export interface RuntimeStackProps extends StackProps {
  readonly config: DeploymentConfig;
  readonly tableName: string;
  readonly poolConfigParameterName: string;
  readonly webhookSecret: ISecret;
  readonly appSecret: ISecret;
  readonly eventBus: IEventBus;
}

export class RuntimeStack extends Stack {
  readonly instanceRole: RunnerInstanceRole;
  readonly launchTemplate: RunnerLaunchTemplate;
  readonly functions: ControlPlaneFunctions;
  readonly webhookApi: WebhookApi;
  readonly instanceEvents: InstanceEventRules;
  readonly schedules: ControlPlaneSchedules;
  readonly alarms: RunnerAlarms;
  readonly dashboard: RunnerDashboard;

  constructor(scope: Construct, id: string, props: RuntimeStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.observability.logRetentionDays as RetentionDays;

    // Attributes only, no lookup: synth needs no AWS access. Only the VPC id is used (security group).
    const vpc = Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.network.vpcId,
      availabilityZones: [...new Set(config.network.subnets.map((s) => s.availabilityZone))],
    });

    this.instanceRole = new RunnerInstanceRole(this, 'RunnerInstanceRole', {
      project: config.project,
      parameterPrefix: config.parameterPrefix,
      sessionManager: config.runners.sessionManager,
    });
    this.launchTemplate = new RunnerLaunchTemplate(this, 'RunnerLaunchTemplate', {
      project: config.project,
      parameterPrefix: config.parameterPrefix,
      vpc,
      instanceProfile: asInterface<IInstanceProfile>(this.instanceRole.instanceProfile),
      assignPublicIp: config.network.assignPublicIp,
    });

    const access = new ControlPlaneAccess({
      project: config.project,
      parameterPrefix: config.parameterPrefix,
      tableName: props.tableName,
      poolConfigParameterName: props.poolConfigParameterName,
      webhookSecret: props.webhookSecret,
      appSecret: props.appSecret,
      eventBus: props.eventBus,
      launchTemplate: this.launchTemplate.launchTemplate,
      securityGroup: this.launchTemplate.securityGroup,
      instanceRole: this.instanceRole.role,
      subnetIds: config.network.subnets.map((s) => s.id),
    });
    this.functions = new ControlPlaneFunctions(this, 'ControlPlane', {
      config,
      access,
      tableName: props.tableName,
      poolConfigParameterName: props.poolConfigParameterName,
      webhookSecretArn: props.webhookSecret.secretArn,
      appSecretArn: props.appSecret.secretArn,
      eventBusName: props.eventBus.eventBusName,
      launchTemplateId: this.launchTemplate.launchTemplate.launchTemplateId ?? '',
      imageParameterPrefix: parameterNames.amiDirectory(config.parameterPrefix),
      rootDeviceName: this.launchTemplate.rootDeviceName,
      logRetention,
    });

    this.webhookApi = new WebhookApi(this, 'WebhookApi', {
      project: config.project,
      handler: this.functions.webhook.function,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      logRetention,
    });
    this.instanceEvents = new InstanceEventRules(this, 'InstanceEvents', {
      handler: this.functions.lifecycle.function,
    });
    this.schedules = new ControlPlaneSchedules(this, 'Schedules', {
      project: config.project,
      poolTuner: this.functions.poolTuner.function,
      reconciler: this.functions.reconciler.function,
    });

    const metrics = new RunnerMetrics({ namespace: config.observability.metricsNamespace });
    const poolNames = config.pools.pools.map((p) => p.name);
    this.alarms = new RunnerAlarms(this, 'Alarms', {
      project: config.project,
      metrics,
      poolNames,
      functions: this.functions.all,
      poolTuner: this.functions.poolTuner,
      reconciler: this.functions.reconciler,
      webhookApi: this.webhookApi,
      lifecycleDeadLetters: this.instanceEvents.deadLetterQueue,
      emails: config.alarms.emails,
      pickupLatencyP95Seconds: config.alarms.pickupLatencyP95Seconds,
      poolEmptyMinutes: config.alarms.poolEmptyMinutes,
      stuckJobs: config.alarms.stuckJobs,
      handlerErrors: config.alarms.handlerErrors,
    });
    this.dashboard = new RunnerDashboard(this, 'Dashboard', {
      project: config.project,
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
