/**
 * What every agent test file shares: the SSM and EC2 peers and the in-process stand-in CLI, started once per
 * file, and instances seeded in EC2 (where the agent's tags land) with a sandbox each.
 * Call `agentWorld()` at the top of a test file; it registers the file's setup and teardown.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { defaultSubnets, Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { type AgentExit, AgentSandbox, parameterPrefix } from './agent-sandbox.js';
import { type AwsStandInServer, startAwsStandInServer } from './aws-stand-in-server.js';

export const poolTags = { 'wpr:role': 'pool', 'wpr:pool': 'linux-x64', 'wpr:project': 'wpr' };
export const plainPoolTags = { 'wpr:role': 'pool', 'wpr:pool': 'linux-plain', 'wpr:project': 'wpr' };
export const ephemeralTags = { 'wpr:role': 'ephemeral', 'wpr:pool': 'linux-x64', 'wpr:project': 'wpr' };

export const jitName = (instanceId: string) => `${parameterPrefix}/jit/${instanceId}`;

export interface AgentWorld {
  readonly ssm: SsmPeer;
  readonly ec2: Ec2Emulator;
  /**
   * One instance: seeded in the EC2 emulator with its tags, which IMDS serves too. `awsAsScript` runs the
   * stand-in CLI as a Node script on every call, as a real binary would be; `ec2Peer` is an EC2 emulator of
   * the test's own (for faults that would hit every test) — give it an `ssmPeer` of its own too: emulators
   * number instances alike, so its instance ids, and the JIT parameters named by them, are another
   * test's; `ec2Endpoint` is an unreachable EC2.
   */
  sandbox(
    tags: Record<string, string>,
    options?: { awsAsScript?: boolean; ssmPeer?: SsmPeer; ec2Peer?: Ec2Emulator; ec2Endpoint?: string },
  ): Promise<{ box: AgentSandbox; instanceId: string }>;
  /** A tag the agent set on its instance in EC2, if any. */
  tag(instanceId: string, key: string): string | undefined;
  /** Runs `cleanup` after the file (the tests run concurrently: nothing is torn down between them). */
  onTeardown(cleanup: () => Promise<void>): void;
}

export function agentWorld(): AgentWorld {
  let ssm: SsmPeer | undefined;
  let ec2: Ec2Emulator | undefined;
  let aws: AwsStandInServer | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const started = () => {
    if (ssm === undefined || ec2 === undefined || aws === undefined)
      throw new Error('agentWorld not started');
    return { ssm, ec2, aws };
  };

  beforeAll(async () => {
    ssm = await startSsmPeer({ throttle: false });
    ssm.put(
      `${parameterPrefix}/pools`,
      JSON.stringify({
        pools: [
          { name: 'other', prePullImages: ['never/pulled:1'] },
          {
            name: 'linux-x64',
            prePullImages: ['public.ecr.aws/docker/library/alpine:3.20', 'ghcr.io/acme/missing-image:1'],
          },
          { name: 'linux-plain', prePullImages: [] },
          // A pool with a hot tier (the control plane's schema: scheduler/core/pool-config.ts).
          { name: 'linux-hot', prePullImages: [], hot: { maximum: 2, maxIdleMinutes: 5 } },
        ],
      }),
    );
    ec2 = await Ec2Emulator.start({ throttling: false });
    aws = await startAwsStandInServer();
  });
  afterAll(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    await aws?.close();
    await ec2?.close();
    await ssm?.close();
  });

  return {
    get ssm() {
      return started().ssm;
    },
    get ec2() {
      return started().ec2;
    },
    async sandbox(tags, options = {}) {
      const world = started();
      const subnetId = Object.keys(defaultSubnets)[0] ?? '';
      const ec2 = options.ec2Peer ?? world.ec2;
      const instanceId = ec2.seedInstance({ instanceType: 'm7i.large', subnetId, tags }).id;
      const box = await AgentSandbox.create({
        instanceId,
        tags,
        ssmEndpoint: (options.ssmPeer ?? world.ssm).endpoint,
        ec2Endpoint: options.ec2Endpoint ?? ec2.url,
        ...(options.awsAsScript === true ? {} : { awsServerUrl: world.aws.url }),
      });
      cleanups.push(() => box.dispose());
      return { box, instanceId };
    },
    tag: (instanceId, key) => started().ec2.instance(instanceId)?.tags[key],
    onTeardown: (cleanup) => {
      cleanups.push(cleanup);
    },
  };
}

/** The config the runner was given, file by file, each decoded (JSON where it is JSON). */
export function decodeJitConfig(encoded: string): Record<string, unknown> {
  const files = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(files).map(([name, value]) => [
      name,
      JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as unknown,
    ]),
  );
}

/** The runner got the delivered config, with `.runner` told not to update itself and nothing else changed. */
export function expectUpdateDisabled(received: string | undefined, delivered: string): void {
  expect(received).toBeDefined();
  const got = decodeJitConfig(received ?? '');
  const sent = decodeJitConfig(delivered);
  expect(got['.runner']).toEqual({ ...(sent['.runner'] as object), disableUpdate: true });
  const { '.runner': _gotRunner, ...gotRest } = got;
  const { '.runner': _sentRunner, ...sentRest } = sent;
  expect(gotRest).toEqual(sentRest);
}

/** Neither the config as delivered, nor as handed to the runner, nor its secret part, reached any output. */
export function expectSecretKept(
  exit: AgentExit,
  secret: { encoded: string; marker: string },
  received?: string,
): void {
  for (const output of [exit.stdout, exit.stderr, exit.logFile]) {
    expect(output).not.toContain(secret.encoded);
    expect(output).not.toContain(secret.marker);
    if (received !== undefined && received !== '') expect(output).not.toContain(received);
  }
}
