/**
 * The WarmPoolRunners construct's props, and how they become one checked installation (`ResolvedRunners`).
 *
 * The rules are the deployment configuration's (infra/config/deployment-config.ts): the same schema checks
 * both, so the construct and this project's own app cannot accept different things. Every problem is
 * collected and reported in one error at synth, each naming the prop.
 *
 * Values known only at deploy time (CloudFormation parameters, a VPC created in the same app) are
 * accepted where the control plane can do without them at synth: the VPC id, the subnets (given as one
 * `subnet-id:zone,…` string) and the initial pool config (a JSON string, validated by the control plane on
 * every read). Checks that need those values are skipped for them, and per-pool alarms and graphs need
 * literal pools (with deploy-time pools, the dashboard still finds pools by SEARCH).
 */
import { Fn, Token } from 'aws-cdk-lib';
import { type IVpc, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { PoolsConfig } from '../scheduler/core/pool-config.js';
import { type InstallationInput, installationSchema } from './config/deployment-config.js';

/** A subnet runners launch into, with its zone (the control plane balances zones without calling EC2). */
export interface RunnerSubnet {
  /** `subnet-…` */
  readonly id: string;
  /** e.g. `eu-west-1a` */
  readonly availabilityZone: string;
}

/**
 * Subnets known only at deploy time: one string of `subnet-id:zone` pairs separated by commas, e.g. a
 * CloudFormation parameter `subnet-0a1b2c3d:eu-west-1a,subnet-4e5f6a7b:eu-west-1b`.
 */
export interface DeployTimeSubnets {
  readonly subnetZonePairs: string;
}

export interface RunnerNetworkProps {
  /**
   * Your VPC: an IVpc (imported, or created in the same app), or its id (imported by attributes, no
   * lookup: synth needs no AWS access).
   */
  readonly vpc: IVpc | string;
  /** The subnets runners use; the pools name them. The first one also builds the runner image. */
  readonly subnets: readonly RunnerSubnet[] | DeployTimeSubnets;
  /** Give runners a public IPv4 address (subnets without a NAT gateway). @default false */
  readonly assignPublicIp?: boolean;
}

export interface GitHubAppProps {
  /** The organization (or user) the App is installed on. */
  readonly organization: string;
  readonly appId: number;
  readonly installationId: number;
  /** REST API root; `https://HOST/api/v3` for GitHub Enterprise Server. @default 'https://api.github.com' */
  readonly apiUrl?: string;
  /** Register runners for the organization or per repository. @default 'org' */
  readonly runnerScope?: 'org' | 'repo';
  /** @default 'Default' */
  readonly runnerGroup?: string;
  /** Runner names are `<prefix>-<installation id>-<instance id>`. @default the project name */
  readonly runnerNamePrefix?: string;
  /**
   * More accounts the same App is installed on (`organization`/`installationId` is the main one);
   * `runners: 'repo'` registers that account's runners with each job's repository. @default none
   */
  readonly additionalInstallations?: readonly GitHubInstallationProps[];
  /**
   * More GitHub Apps, each with its own secret (`<project>/github/app-<name>`, its key put after deploy)
   * and installations: more JIT mint capacity per organization, or organizations of their own. @default none
   */
  readonly additionalApps?: readonly AdditionalGitHubAppProps[];
}

export interface GitHubInstallationProps {
  readonly id: number;
  /** The organization or user account it is installed on. */
  readonly owner: string;
  /** @default 'org' */
  readonly runners?: 'org' | 'repo';
}

export interface AdditionalGitHubAppProps {
  /** Names its secret and its metrics: 1-32 lowercase letters, digits or dashes, not "main". */
  readonly name: string;
  readonly appId: number;
  /** Its webhook points at this deployment too. @default false */
  readonly webhook?: boolean;
  readonly installations: readonly GitHubInstallationProps[];
}

/** The initial pool config: a document (checked at synth) or a deploy-time JSON string. */
export type InitialPools = { readonly pools: readonly unknown[]; readonly settings?: unknown } | string;

export interface WarmPoolRunnersProps {
  /**
   * Names the installation: resource names, the runner name prefix and the `wpr:project` tag every IAM
   * condition checks. Two installations in one account need two names. @default 'wpr'
   */
  readonly project?: string;
  /** SSM path for the pool config, the JIT configs and the AMI ids. @default `/<project>` */
  readonly parameterPrefix?: string;
  readonly github: GitHubAppProps;
  readonly network: RunnerNetworkProps;
  /** The initial pool config (docs/examples/deployment-config.jsonc shows one); changed later with the CLI. */
  readonly pools: InitialPools;
  /** Which repositories get runners. @default any the App is installed for */
  readonly allowlist?: { readonly owners?: readonly string[]; readonly repositories?: readonly string[] };
  /** @default { sessionManager: false } */
  readonly runners?: { readonly sessionManager?: boolean };
  /** The runner image pipeline. @default x64 and arm64, rebuilt Mondays 04:00 UTC */
  readonly image?: {
    readonly architectures?: readonly ('x64' | 'arm64')[];
    readonly runnerVersion?: string | undefined;
    readonly runnerSha256?:
      | { readonly x64?: string | undefined; readonly arm64?: string | undefined }
      | undefined;
    readonly scheduleExpression?: string;
  };
  /** Webhook API throttling. @default 50 requests/s, bursts of 300 */
  readonly api?: { readonly throttleRateLimit?: number; readonly throttleBurstLimit?: number };
  /** Alarm thresholds and who is mailed. */
  readonly alarms?: {
    readonly emails?: readonly string[];
    readonly pickupLatencyP95Seconds?: number;
    readonly poolEmptyMinutes?: number;
    readonly stuckJobs?: number;
    readonly handlerErrors?: number;
    /** Webhook deliveries rejected with 401 (wrong or missing signature) within 5 minutes. @default 5 */
    readonly rejectedWebhooks?: number;
  };
  readonly observability?: {
    readonly metricsNamespace?: string;
    readonly logRetentionDays?: number;
    /** Repositories the daily cost metric names; the rest are `other`. Default 20. */
    readonly costTopRepositories?: number;
  };
  /**
   * Your own KMS key for the runners' JIT configs (SSM SecureStrings). Its key policy must let this
   * account's IAM policies grant use of it (the default key policy does). @default a new key, rotated yearly
   */
  readonly jitParameterKey?: IKey;
  /** Your own EventBridge bus for lifecycle events. @default a new bus `<project>-lifecycle` with an archive */
  readonly eventBus?: IEventBus;
}

/** The network as the parts use it: literal values or CloudFormation expressions. */
export interface ResolvedNetwork {
  /** The VPC object when the user gave one; otherwise each part imports `vpcId` (importVpc). */
  readonly vpc?: IVpc;
  readonly vpcId: string;
  /** Subnet ids; undefined when deploy-time (launches are then held to subnets of the VPC). */
  readonly subnetIds?: readonly string[];
  /** `{"subnet-…":"zone",…}` for the handlers' SUBNET_ZONES. */
  readonly subnetZonesJson: string;
  /** Where images are built: the first subnet. */
  readonly buildSubnet: RunnerSubnet;
  /** Zones of the subnets (for the VPC import), a list token when deploy-time. */
  readonly zones: string[];
  readonly assignPublicIp: boolean;
}

/** The installation the parts build: every default filled in, every literal value checked. */
export interface ResolvedRunners {
  readonly project: string;
  readonly parameterPrefix: string;
  readonly github: Required<GitHubAppProps>;
  readonly network: ResolvedNetwork;
  /** The initial document as written to SSM, and the pool names when known at synth. */
  readonly pools: {
    readonly document: string;
    readonly names: readonly string[];
    readonly config?: PoolsConfig;
  };
  readonly allowlist: { readonly owners: readonly string[]; readonly repositories: readonly string[] };
  readonly runners: { readonly sessionManager: boolean };
  readonly image: {
    readonly architectures: readonly ('x64' | 'arm64')[];
    readonly runnerVersion?: string | undefined;
    readonly runnerSha256?:
      | { readonly x64?: string | undefined; readonly arm64?: string | undefined }
      | undefined;
    readonly scheduleExpression: string;
  };
  readonly api: { readonly throttleRateLimit: number; readonly throttleBurstLimit: number };
  readonly alarms: {
    readonly emails: readonly string[];
    readonly pickupLatencyP95Seconds: number;
    readonly poolEmptyMinutes: number;
    readonly stuckJobs: number;
    readonly handlerErrors: number;
    readonly rejectedWebhooks: number;
  };
  readonly observability: {
    readonly metricsNamespace: string;
    readonly logRetentionDays: number;
    readonly costTopRepositories: number;
  };
}

export class InvalidWarmPoolRunnersPropsError extends Error {
  override readonly name = 'InvalidWarmPoolRunnersPropsError';
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(['invalid WarmPoolRunners props:', ...problems.map((p) => `  ${p}`)].join('\n'), options);
  }
}

const defaultRejectedWebhooks = 5;
/** Valid stand-ins for deploy-time values, so the schema checks everything else around them. */
const placeholderVpcId = 'vpc-00000000';
const placeholderSubnet = { id: 'subnet-00000000', availabilityZone: 'us-east-1a' };

function isDeployTimeSubnets(subnets: RunnerNetworkProps['subnets']): subnets is DeployTimeSubnets {
  return !Array.isArray(subnets);
}

/**
 * Checks the props and fills in defaults; throws InvalidWarmPoolRunnersPropsError listing every problem.
 * `region` is the stack's region when it is known at synth (each subnet's zone must be in it).
 */
export function resolveRunnerProps(props: WarmPoolRunnersProps, region?: string): ResolvedRunners {
  const problems: string[] = [];
  const { network } = props;
  const deployTimeSubnets = isDeployTimeSubnets(network.subnets);
  const deployTimePools = typeof props.pools === 'string' && Token.isUnresolved(props.pools);
  const literalSubnets = isDeployTimeSubnets(network.subnets) ? [] : network.subnets;
  for (const [i, subnet] of literalSubnets.entries())
    if (Token.isUnresolved(subnet.id) || Token.isUnresolved(subnet.availabilityZone))
      problems.push(
        `network.subnets[${i}]: must be known at synth (the pools name subnets by id); for deploy-time ` +
          'subnets pass { subnetZonePairs } instead',
      );

  let pools: unknown = props.pools;
  if (typeof props.pools === 'string' && !deployTimePools) {
    try {
      pools = JSON.parse(props.pools);
    } catch (error) {
      problems.push(`pools: not valid JSON (${(error as Error).message})`);
      pools = { pools: [] };
    }
  }
  const document: InstallationInput = {
    project: props.project ?? 'wpr',
    ...(props.parameterPrefix === undefined ? {} : { parameterPrefix: props.parameterPrefix }),
    github: { ...props.github, ...githubPlaceholders(props.github) },
    network: {
      // An IVpc's id is not checked: a lookup answers with a dummy id until the CLI has looked it up.
      vpcId:
        typeof network.vpc === 'string' && !Token.isUnresolved(network.vpc) ? network.vpc : placeholderVpcId,
      subnets: deployTimeSubnets ? [placeholderSubnet] : literalSubnets.map((s) => ({ ...s })),
      assignPublicIp: network.assignPublicIp ?? false,
    },
    pools: deployTimePools ? { pools: [] } : pools,
    ...(props.allowlist === undefined
      ? {}
      : {
          allowlist: {
            owners: [...(props.allowlist.owners ?? [])],
            repositories: [...(props.allowlist.repositories ?? [])],
          },
        }),
    ...(props.runners === undefined ? {} : { runners: { ...props.runners } }),
    ...(props.image === undefined
      ? {}
      : {
          image: {
            ...props.image,
            ...(props.image.architectures === undefined
              ? {}
              : { architectures: [...props.image.architectures] }),
          },
        }),
    ...(props.api === undefined ? {} : { api: { ...props.api } }),
    ...(props.alarms === undefined ? {} : { alarms: alarmInput(props.alarms) }),
    ...(props.observability === undefined ? {} : { observability: { ...props.observability } }),
  } as InstallationInput;
  const result = installationSchema({
    ...(region === undefined || Token.isUnresolved(region) ? {} : { region }),
    deployTimePools,
    deployTimeSubnets,
  }).safeParse(document);
  if (!result.success)
    for (const issue of result.error.issues) problems.push(`${describePath(issue.path)}: ${issue.message}`);
  const rejectedWebhooks = props.alarms?.rejectedWebhooks ?? defaultRejectedWebhooks;
  if (!Number.isInteger(rejectedWebhooks) || rejectedWebhooks < 1)
    problems.push('alarms.rejectedWebhooks: must be a positive whole number');
  if (problems.length > 0 || !result.success) throw new InvalidWarmPoolRunnersPropsError(problems);

  const parsed = result.data;
  const poolsConfig = deployTimePools ? undefined : (parsed.pools as PoolsConfig);
  return {
    project: parsed.project,
    parameterPrefix: parsed.parameterPrefix ?? `/${parsed.project}`,
    // Deploy-time values were checked as placeholders; the parts get the values themselves.
    github: {
      ...parsed.github,
      ...deployTimeGithub(props.github),
      runnerNamePrefix: parsed.github.runnerNamePrefix ?? parsed.project,
    },
    network: resolveNetwork(network),
    pools: {
      document: deployTimePools ? (props.pools as string) : JSON.stringify(validatedPools(pools)),
      names: poolsConfig === undefined ? [] : validatedPools(pools).pools.map((p) => p.name),
      ...(poolsConfig === undefined ? {} : { config: validatedPools(pools) }),
    },
    allowlist: parsed.allowlist,
    runners: parsed.runners,
    image: parsed.image,
    api: parsed.api,
    alarms: { ...parsed.alarms, rejectedWebhooks },
    observability: parsed.observability,
  };
}

/** The schema's superRefine already accepted the pools; parse again for defaults and the type. */
function validatedPools(document: unknown): PoolsConfig {
  return installationSchema().shape.pools.parse(document) as PoolsConfig;
}

/** Valid stand-ins for the GitHub fields that are deploy-time values (CloudFormation parameters). */
function githubPlaceholders(github: GitHubAppProps): Partial<Record<keyof GitHubAppProps, unknown>> {
  return {
    ...(Token.isUnresolved(github.organization) ? { organization: 'deploy-time' } : {}),
    ...(Token.isUnresolved(github.appId) ? { appId: 1 } : {}),
    ...(Token.isUnresolved(github.installationId) ? { installationId: 1 } : {}),
  };
}

function deployTimeGithub(github: GitHubAppProps): Partial<GitHubAppProps> {
  return {
    ...(Token.isUnresolved(github.organization) ? { organization: github.organization } : {}),
    ...(Token.isUnresolved(github.appId) ? { appId: github.appId } : {}),
    ...(Token.isUnresolved(github.installationId) ? { installationId: github.installationId } : {}),
  };
}

function alarmInput(alarms: NonNullable<WarmPoolRunnersProps['alarms']>): Record<string, unknown> {
  const { rejectedWebhooks: _, emails, ...rest } = alarms;
  return { ...rest, ...(emails === undefined ? {} : { emails: [...emails] }) };
}

function resolveNetwork(network: RunnerNetworkProps): ResolvedNetwork {
  const assignPublicIp = network.assignPublicIp ?? false;
  if (!isDeployTimeSubnets(network.subnets)) {
    const subnets = network.subnets;
    const [first] = subnets;
    if (first === undefined) throw new InvalidWarmPoolRunnersPropsError(['network.subnets: must list one']);
    return {
      ...vpcOf(network),
      subnetIds: subnets.map((s) => s.id),
      subnetZonesJson: JSON.stringify(Object.fromEntries(subnets.map((s) => [s.id, s.availabilityZone]))),
      buildSubnet: first,
      zones: [...new Set(subnets.map((s) => s.availabilityZone))],
      assignPublicIp,
    };
  }
  // `a:z1,b:z2` → `{"a":"z1","b":"z2"}` with Split/Join as a string replace (CloudFormation has none).
  const pairs = network.subnets.subnetZonePairs;
  const replace = (text: string, from: string, to: string) => Fn.join(to, Fn.split(from, text));
  const subnetZonesJson = Fn.join('', ['{"', replace(replace(pairs, ',', '","'), ':', '":"'), '"}']);
  const firstPair = Fn.split(':', Fn.select(0, Fn.split(',', pairs)));
  return {
    ...vpcOf(network),
    subnetZonesJson,
    buildSubnet: { id: Fn.select(0, firstPair), availabilityZone: Fn.select(1, firstPair) },
    zones: [Fn.select(1, firstPair)],
    assignPublicIp,
  };
}

function vpcOf(network: RunnerNetworkProps): { vpc?: IVpc; vpcId: string } {
  return typeof network.vpc === 'string'
    ? { vpcId: network.vpc }
    : { vpc: network.vpc, vpcId: network.vpc.vpcId };
}

/** The user's VPC, or an import by attributes in this scope (no resource, no lookup). */
export function importVpc(scope: Construct, network: ResolvedNetwork): IVpc {
  return (
    network.vpc ??
    Vpc.fromVpcAttributes(scope, 'Vpc', { vpcId: network.vpcId, availabilityZones: network.zones })
  );
}

function describePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(props)';
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`))
    .join('');
}
