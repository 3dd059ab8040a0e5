/**
 * ControlPlaneFunction: one control-plane Lambda (webhook, lifecycle, pool tuner or reconciler) with its
 * own role, its own log group and nothing else. The role starts empty except for writing to that log
 * group; ControlPlaneFunctions grants each function what it does.
 *
 * Bundling runs esbuild from node_modules (never Docker), so `cdk synth` works offline on a fresh clone.
 * Output is ESM (`.mjs`), the format the project's `.js`-suffixed TypeScript imports are written for; the
 * banner gives bundled CommonJS dependencies the `require` that ESM lacks. The AWS SDK is bundled rather
 * than taken from the runtime, so the deployed code runs the SDK versions the tests ran.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CfnElement, type Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The Node.js runtime of every control-plane function, and the bundle's esbuild target (the same major):
 * docs/deploy.md, "Node.js versions", says how this, `engines`, CI and the guide agree.
 */
export const controlPlaneRuntime = Runtime.NODEJS_24_X;
export const controlPlaneTarget = 'node24';

export type HandlerName = 'webhook' | 'lifecycle' | 'pool-tuner' | 'reconciler' | 'cost-report';

export interface ControlPlaneFunctionProps {
  readonly project: string;
  readonly handler: HandlerName;
  readonly description: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetention: RetentionDays;
  /**
   * For a scheduled function: at most one run at a time (reserved concurrency 1) and no second attempt of
   * a run (asynchronous retries 0, events older than `maxEventAge` dropped): the next tick does the same
   * work, while an overlapping or retried run could launch the same instances twice.
   */
  readonly singleRun?: { readonly maxEventAge: Duration };
}

export class ControlPlaneFunction extends Construct {
  readonly function: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  /** The function name as a plain string (`<project>-<handler>`), for names and descriptions. */
  readonly functionName: string;

  constructor(scope: Construct, id: string, props: ControlPlaneFunctionProps) {
    super(scope, id);
    const functionName = `${props.project}-${props.handler}`;
    this.functionName = functionName;
    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${functionName}: only what the ${props.handler} handler does`,
    });
    // Instead of AWSLambdaBasicExecutionRole (any log group in the account): this function's group only.
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteOwnLogs',
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn, `${this.logGroup.logGroupArn}:log-stream:*`],
      }),
    );
    const logGroupId = Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as CfnElement);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logGroupId}.Arn>:log-stream:*]`,
      reason:
        "Lambda names its log streams at runtime; the statement is limited to this function's log group.",
    });

    this.function = new NodejsFunction(this, 'Function', {
      functionName,
      description: props.description,
      entry: join(projectRoot, 'handlers', `${props.handler}.ts`),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      runtime: controlPlaneRuntime,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      ...(props.singleRun === undefined ? {} : { reservedConcurrentExecutions: 1 }),
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: controlPlaneTarget,
        platform: 'node',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true,
        // esbuild's per-bundle size summary is noise in every synth; its errors still show.
        logLevel: LogLevel.ERROR,
        tsconfig: join(projectRoot, 'tsconfig.json'),
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    if (props.singleRun !== undefined)
      this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: props.singleRun.maxEventAge });
  }
}
