/**
 * WebhookApi: the HTTP API GitHub delivers `workflow_job` events to — one route, POST /workflow_job, on
 * the `$default` stage, throttled, with JSON access logs. Every other path and method is answered by API
 * Gateway itself (404) without invoking the function.
 *
 * There is no API Gateway authorizer on purpose: GitHub signs each delivery with HMAC-SHA256 over the raw
 * body (X-Hub-Signature-256), and the webhook handler verifies that signature before reading the payload.
 * An authorizer could not check it (it does not see the body).
 */
import { CfnOutput, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface WebhookApiProps {
  readonly project: string;
  readonly handler: IFunction;
  /** Steady-state requests per second. */
  readonly throttleRateLimit: number;
  /** Requests allowed above the rate in a burst. */
  readonly throttleBurstLimit: number;
  readonly logRetention: RetentionDays;
}

export const webhookPath = '/workflow_job';

export class WebhookApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  /** The URL to enter as the GitHub App's webhook URL. */
  readonly webhookUrl: string;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      apiName: `${props.project}-webhook`,
      description: 'GitHub workflow_job webhooks for warm-pool runners',
      createDefaultStage: false,
    });
    this.api.addRoutes({
      path: webhookPath,
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('Webhook', props.handler),
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit, burstLimit: props.throttleBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No headers: the signature header never reaches a log.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            route: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.webhookUrl = `${this.api.apiEndpoint}${webhookPath}`;
    new CfnOutput(this, 'WebhookUrl', {
      value: this.webhookUrl,
      description: 'Enter this as the GitHub App webhook URL (content type application/json)',
    });

    const route = this.api.node.findAll().find((c) => c.node.id === `POST${webhookPath}`);
    Validations.of(route ?? this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Deliveries are authenticated by their HMAC-SHA256 signature (X-Hub-Signature-256), verified by the ' +
        'webhook handler over the raw body; an API Gateway authorizer cannot see the body.',
    });
  }
}
