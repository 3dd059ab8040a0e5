/**
 * The webhook's time budget on the wire: every AWS and GitHub call made under a call deadline is
 * aborted at it, however slow the peer or however many retries the client would make, and a sweep of
 * launches stops between calls instead of being cut off in one.
 */
import { StartInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  abortAtCallDeadline,
  callTimeLeft,
  octokitAtCallDeadline,
  recordSlackMs,
  withCallDeadline,
} from '../../scheduler/adapters/call-deadline.js';
import { createEc2Client } from '../../scheduler/adapters/ec2-client.js';
import { Ec2Compute } from '../../scheduler/adapters/ec2-compute.js';
import { createGitHubAppOctokit } from '../../scheduler/adapters/github-app-auth.js';
import { OctokitGitHubRunners } from '../../scheduler/adapters/github-runners.js';
import { GitHubError } from '../../scheduler/ports/github-runners.js';
import { defaultLaunchTemplate, Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { generateAppKeyPair } from '../../stand-ins/github/app-jwt.js';
import { GitHubEmulator } from '../../stand-ins/github/github-emulator.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { poolOf, subnetA, subnetB, subnetZones, testConfig } from '../core/support.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

async function elapsed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const start = Date.now();
  const result = await work().catch((error: unknown) => error as Error);
  return { ms: Date.now() - start, result };
}

describe('calls under a call deadline', () => {
  let ec2: Ec2Emulator;
  let ssm: Awaited<ReturnType<typeof startSsmPeer>>;
  let github: GitHubEmulator;
  const keys = generateAppKeyPair();

  beforeAll(async () => {
    ec2 = await Ec2Emulator.start({ subnets: subnetZones, latencyMs: { StartInstances: 1_500 } });
    ssm = await startSsmPeer();
    ssm.put('/wpr/ami/x64', 'ami-0123456789abcdef0');
    github = await GitHubEmulator.start({ appId: 1, appPublicKey: keys.publicKey });
  });
  afterAll(async () => {
    await ec2?.close();
    await ssm?.close();
    await github?.close();
  });

  function compute(): Ec2Compute {
    return new Ec2Compute({
      client: abortAtCallDeadline(
        createEc2Client({ endpoint: ec2.url, region: 'us-east-1', credentials, maxAttempts: 2 }),
      ),
      launchTemplate: { id: defaultLaunchTemplate.id },
      images: { x64: { parameterName: '/wpr/ami/x64' }, arm64: { parameterName: '/wpr/ami/arm64' } },
      ssm: ssm.client,
      project: 'wpr',
      clock: new FixedClock(),
      subnetZones,
    });
  }

  it('aborts a slow EC2 call at the deadline instead of waiting for its answer', async () => {
    const { ms, result } = await elapsed(() =>
      withCallDeadline(200, () => compute().start('i-0123456789abcdef0')),
    );
    expect(result).toBeInstanceOf(Error);
    expect(ms).toBeLessThan(1_000);
  });

  it("gives the store's writes, which record what happened, a little longer than other calls", async () => {
    const records = abortAtCallDeadline(
      createEc2Client({ endpoint: ec2.url, region: 'us-east-1', credentials, maxAttempts: 1 }),
      { records: true },
    );
    const started = Date.now();
    const result = await withCallDeadline(200, () =>
      records.send(new StartInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
    ).catch((error: unknown) => error as Error);
    const ms = Date.now() - started;
    expect(result).toBeInstanceOf(Error);
    expect(ms).toBeGreaterThanOrEqual(200 + recordSlackMs - 50);
    expect(ms).toBeLessThan(1_400);
    records.destroy();
  });

  it('leaves calls outside a deadline alone', async () => {
    expect(callTimeLeft()).toBe(Number.POSITIVE_INFINITY);
    const { result } = await elapsed(() => compute().start('i-0123456789abcdef0'));
    expect(result).toEqual({ kind: 'not-found' });
  }, 10_000);

  it('aborts a slow GitHub call (and its retries) at the deadline', async () => {
    github.injectFault('POST /orgs/{org}/actions/runners/generate-jitconfig', {
      kind: 'slow',
      delayMs: 1_500,
    });
    const octokit = octokitAtCallDeadline(
      createGitHubAppOctokit({
        appId: 1,
        installationId: 1,
        privateKey: keys.privateKey,
        baseUrl: github.url,
        spaceWrites: false,
        log: { warn: () => {} },
      }),
    );
    const runners = new OctokitGitHubRunners(octokit);
    const { ms, result } = await elapsed(() =>
      withCallDeadline(300, () =>
        runners.createJitConfig({ kind: 'org', org: 'acme' }, { runnerName: 'wpr-1-i-1', labels: ['x64'] }),
      ),
    );
    expect(result).toBeInstanceOf(GitHubError);
    expect(ms).toBeLessThan(1_000);
  });

  it('stops the on-demand sweep over types × subnets between launches when time runs short', async () => {
    ec2.exhaustCapacity({ market: 'on-demand' });
    const pool = poolOf(testConfig({ subnets: [subnetA, subnetB] }));
    const before = ec2.callCount('RunInstances');
    const short = await withCallDeadline(1_000, () =>
      compute().launchEphemeral({ pool, market: 'on-demand', clientToken: 'job-1-0-on-demand' }),
    );
    expect(short).toEqual({ kind: 'insufficient-capacity', message: 'out of time' });
    expect(ec2.callCount('RunInstances')).toBe(before);
    const full = await withCallDeadline(8_000, () =>
      compute().launchEphemeral({ pool, market: 'on-demand', clientToken: 'job-1-1-on-demand' }),
    );
    expect(full.kind).toBe('insufficient-capacity');
    // Two types × two subnets, each refused.
    expect(ec2.callCount('RunInstances') - before).toBe(4);
  });
});
