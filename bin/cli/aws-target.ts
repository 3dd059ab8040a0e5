/**
 * Where a deployed control plane keeps its state, as the CLI's flags and environment name it. The
 * defaults are the CDK app's: table `<project>-pool-store`, parameters under `/<project>`, with the
 * project `wpr`. Endpoints come from the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables, which is how
 * the same commands reach the sandbox's peers.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Command } from 'commander';

export const defaultTable = 'wpr-pool-store';
export const defaultParameterPrefix = '/wpr';

export interface AwsTargetOptions {
  readonly region?: string;
  readonly table?: string;
  readonly parameterPrefix?: string;
  readonly poolsParameter?: string;
}

export interface AwsTarget {
  readonly region: string | undefined;
  readonly table: string;
  readonly poolsParameter: string;
}

export function addAwsTargetOptions(command: Command, what: { table: boolean }): Command {
  command.option('--region <region>', 'AWS region (default: AWS_REGION, then your AWS config)');
  if (what.table)
    command.option('--table <name>', `pool store table (env RUNNERS_TABLE, default ${defaultTable})`);
  return command
    .option(
      '--parameter-prefix <prefix>',
      `SSM parameter prefix (env RUNNERS_PARAMETER_PREFIX, default ${defaultParameterPrefix})`,
    )
    .option('--pools-parameter <name>', 'the pool config parameter (default <prefix>/pools)');
}

export function resolveAwsTarget(
  options: AwsTargetOptions,
  env: Readonly<Record<string, string | undefined>>,
): AwsTarget {
  const prefix = (options.parameterPrefix ?? env.RUNNERS_PARAMETER_PREFIX ?? defaultParameterPrefix).replace(
    /\/+$/,
    '',
  );
  return {
    region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    table: options.table ?? env.RUNNERS_TABLE ?? defaultTable,
    poolsParameter: options.poolsParameter ?? `${prefix}/pools`,
  };
}

export function ssmClient(target: { region: string | undefined }): SSMClient {
  return new SSMClient(target.region === undefined ? {} : { region: target.region });
}

export function dynamoDbClient(target: { region: string | undefined }): DynamoDBClient {
  return new DynamoDBClient(target.region === undefined ? {} : { region: target.region });
}

/** Where an SDK client sends its calls, for messages: the endpoint variable when set, else the region. */
export function describeEndpoint(
  service: 'SSM' | 'DYNAMODB',
  target: { region: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): string {
  return env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL ?? target.region ?? 'the default region';
}
