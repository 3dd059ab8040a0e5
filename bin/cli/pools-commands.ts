/**
 * `runners pools validate FILE` and `runners pools apply FILE`: the pool config checked by the very
 * schema the handlers load it with (parsePoolsConfig), every problem listed at once; `apply` then
 * checks it against the account (subnets, type offerings per zone, each architecture's image and its
 * root snapshot: checkPoolsOnEc2), shows what changes against the live SSM parameter and writes it,
 * after a confirmation. `validate --check-aws` runs the same account checks without writing.
 * `validate --check-github`, and `apply` unless `--no-github-checks`, check that every pool's runner
 * group exists in every organization the deployment serves (github-checks.ts).
 *
 * A rejected document never reaches SSM. The handlers would refuse it anyway and keep their last good
 * config, but a reviewer should see the problem here, not in a log.
 */
import { readFile } from 'node:fs/promises';
import { EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { checkPoolsOnEc2 } from '../../scheduler/adapters/ec2-pool-checks.js';
import { type PoolsConfig, parsePoolsConfig } from '../../scheduler/core/pool-config.js';
import { poolTarget } from '../../scheduler/core/schedule.js';
import {
  type AwsTargetOptions,
  defaultParameterPrefix,
  describeEndpoint,
  resolveAwsTarget,
  ssmClient,
} from './aws-target.js';
import { CliError, describeAwsError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { diffPoolsConfig, formatDiff, summarizePool } from './config-diff.js';
import { githubChecks, type RunnerGroupSource, sandboxRunnerGroupSource } from './github-checks.js';
import { deploymentRunnerGroupSource, githubSettingsHint, namesGitHubApps } from './github-target.js';
import { fetchSandboxState } from './sandbox-api.js';

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${file}: no such file`
        : `${file}: cannot read it (${code ?? (error as Error).message})`,
      2,
      { cause: error },
    );
  }
}

/** Validates the file; prints every problem and returns undefined when there is one. */
async function validated(
  file: string,
  report: (text: string) => void,
): Promise<{ text: string; config: PoolsConfig } | undefined> {
  const text = await readConfigFile(file);
  const result = parsePoolsConfig(text);
  if (!result.ok) {
    const n = result.problems.length;
    report(
      `${file}: ${n} problem${n === 1 ? '' : 's'}\n${result.problems.map((p) => `  - ${p}\n`).join('')}`,
    );
    return undefined;
  }
  return { text, config: result.config };
}

export interface ValidateOptions extends AwsTargetOptions {
  /** Also check the document against the account (EC2 and the image parameters). */
  readonly checkAws?: boolean;
  /** Also check the pools' runner groups against the deployment's organizations on GitHub. */
  readonly checkGithub?: boolean;
  readonly sandbox?: string;
}

export async function validateCommand(
  file: string,
  io: CliIo,
  now = Date.now(),
  options: ValidateOptions = {},
): Promise<number> {
  // The problems are what `validate` is asked for: they go to stdout.
  const checked = await validated(file, io.out);
  if (checked === undefined) return 1;
  // Every check runs before the verdict, so that one run lists every problem.
  let ok = true;
  if (options.checkAws === true || options.sandbox !== undefined) {
    const target = await ssmTarget(options, io);
    ok = await accountChecks(file, checked.config, target, options, io.out);
  }
  if (options.checkGithub === true)
    ok = (await githubChecks(file, checked.config, await runnerGroupSource(options, io), io.out)) && ok;
  if (!ok) return 1;
  const { pools } = checked.config;
  io.out(`${file}: valid — ${pools.length} pool${pools.length === 1 ? '' : 's'}\n`);
  for (const pool of pools)
    io.out(`  ${pool.name}: ${summarizePool(pool)}; target now ${poolTarget(pool, now)}\n`);
  return 0;
}

export interface ApplyOptions extends AwsTargetOptions {
  readonly yes?: boolean;
  readonly dryRun?: boolean;
  readonly sandbox?: string;
  /** `--no-aws-checks`: skip the account checks (false); they run by default. */
  readonly awsChecks?: boolean;
  /** `--no-github-checks`: skip the runner group checks (false); they run by default. */
  readonly githubChecks?: boolean;
}

export async function applyCommand(file: string, options: ApplyOptions, io: CliIo): Promise<number> {
  const checked = await validated(file, io.err);
  if (checked === undefined) return 1;

  const target = await ssmTarget(options, io);
  const { client, parameter, where } = target;
  const awsOk =
    options.awsChecks === false || (await accountChecks(file, checked.config, target, options, io.err));
  let githubOk = true;
  if (options.githubChecks !== false) {
    if (options.sandbox === undefined && !namesGitHubApps(io.env))
      // Not knowing the deployment's Apps is not a reason to refuse a config; saying so is enough.
      io.err(`warning: runner groups not checked (--no-github-checks to silence): ${githubSettingsHint}\n`);
    else githubOk = await githubChecks(file, checked.config, await runnerGroupSource(options, io), io.err);
  }
  if (!(awsOk && githubOk)) return 1;
  io.err(`reading the live config ${parameter} (${where})…\n`);
  const live = await readLive(client, parameter, where);

  const document = JSON.stringify(JSON.parse(checked.text), null, 2);
  if (live === undefined) {
    io.out(`${parameter} does not exist yet; it will be created with:\n`);
    for (const pool of checked.config.pools) io.out(`  + pool "${pool.name}": ${summarizePool(pool)}\n`);
  } else {
    const parsed = parsePoolsConfig(live);
    if (!parsed.ok) {
      io.out(
        `the live config is invalid (${parsed.problems.length} problems; the handlers are serving their last ` +
          'good one); it will be replaced with:\n',
      );
      for (const pool of checked.config.pools) io.out(`  + pool "${pool.name}": ${summarizePool(pool)}\n`);
    } else {
      const diff = diffPoolsConfig(parsed.config, checked.config);
      if (diff.length === 0) {
        io.out(`no changes: ${parameter} already holds this config\n`);
        return 0;
      }
      io.out(`changes to ${parameter}:\n${formatDiff(diff)}\n`);
    }
  }

  if (options.dryRun === true) {
    io.out('dry run: nothing written\n');
    return 0;
  }
  if (options.yes !== true) {
    if (!io.interactive)
      throw new CliError('not writing without a confirmation: pass --yes (stdin is not a terminal)', 1);
    if (!(await io.confirm(`write this config to ${parameter}?`))) {
      io.out('nothing written\n');
      return 1;
    }
  }
  io.err(`writing ${parameter}…\n`);
  try {
    const written = await client.send(
      new PutParameterCommand({
        Name: parameter,
        Value: document,
        Type: 'String',
        Overwrite: true,
        // As the CDK app creates it: standard while it fits, advanced beyond 4 KB.
        Tier: 'Intelligent-Tiering',
      }),
    );
    io.out(
      `written: ${parameter} version ${written.Version ?? '?'}; the handlers pick it up within their cache time (30 s)\n`,
    );
  } catch (error) {
    throw describeAwsError(error, 'SSM', where) ?? error;
  }
  return 0;
}

/** Where the runner groups are read: the sandbox's API, or the deployment's GitHub Apps. */
function runnerGroupSource(
  options: { sandbox?: string; region?: string },
  io: CliIo,
): Promise<RunnerGroupSource> {
  return options.sandbox !== undefined
    ? sandboxRunnerGroupSource(options.sandbox, io)
    : deploymentRunnerGroupSource(io.env, options.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION);
}

interface SsmTarget {
  readonly client: SSMClient;
  readonly parameter: string;
  readonly where: string;
  readonly ec2: () => EC2Client;
}

async function ssmTarget(options: AwsTargetOptions & { sandbox?: string }, io: CliIo): Promise<SsmTarget> {
  if (options.sandbox !== undefined) {
    // The sandbox names its own SSM peer and parameter; its peer takes any credentials.
    const state = await fetchSandboxState(options.sandbox, io);
    const endpoint = state.sandbox.endpoints.ssm;
    if (endpoint === undefined) throw new CliError('the sandbox did not say where its SSM peer is');
    const credentials = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' };
    const ec2Endpoint = state.sandbox.endpoints.ec2;
    return {
      client: new SSMClient({ region: state.sandbox.region, endpoint, credentials }),
      parameter: options.poolsParameter ?? state.sandbox.poolConfigParameter,
      where: `the sandbox's SSM at ${endpoint}`,
      ec2: () => {
        if (ec2Endpoint === undefined) throw new CliError('the sandbox did not say where its EC2 peer is');
        return new EC2Client({ region: state.sandbox.region, endpoint: ec2Endpoint, credentials });
      },
    };
  }
  const target = resolveAwsTarget(options, io.env);
  return {
    client: ssmClient(target),
    parameter: target.poolsParameter,
    where: `SSM ${describeEndpoint('SSM', target, io.env)}`,
    ec2: () => new EC2Client(target.region === undefined ? {} : { region: target.region }),
  };
}

/**
 * The account checks (checkPoolsOnEc2); prints warnings and errors, returns false when there are errors.
 * The image parameters sit beside the pool config parameter (`<prefix>/pools`, `<prefix>/ami/<arch>`).
 */
async function accountChecks(
  file: string,
  config: PoolsConfig,
  target: SsmTarget,
  options: AwsTargetOptions,
  report: (text: string) => void,
): Promise<boolean> {
  const prefix =
    options.parameterPrefix?.replace(/\/+$/, '') ??
    (target.parameter.endsWith('/pools')
      ? target.parameter.slice(0, -'/pools'.length)
      : defaultParameterPrefix);
  const ec2 = target.ec2();
  let result: Awaited<ReturnType<typeof checkPoolsOnEc2>>;
  try {
    result = await checkPoolsOnEc2(
      { ec2, ssm: target.client, imageParameter: (arch) => `${prefix}/ami/${arch}` },
      config,
    );
  } catch (error) {
    throw describeAwsError(error, 'EC2', target.where) ?? error;
  } finally {
    ec2.destroy();
  }
  for (const warning of result.warnings) report(`warning: ${warning}\n`);
  if (result.errors.length === 0) return true;
  const n = result.errors.length;
  report(
    `${file}: ${n} problem${n === 1 ? '' : 's'} with this account\n${result.errors.map((p) => `  - ${p}\n`).join('')}`,
  );
  return false;
}

async function readLive(client: SSMClient, parameter: string, where: string): Promise<string | undefined> {
  try {
    const { Parameter } = await client.send(new GetParameterCommand({ Name: parameter }));
    if (Parameter?.Type === 'SecureString')
      throw new CliError(`${parameter} is a SecureString; the pool config must be a String parameter`);
    return Parameter?.Value ?? '';
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    if (error instanceof CliError) throw error;
    throw describeAwsError(error, 'SSM', where) ?? error;
  }
}
