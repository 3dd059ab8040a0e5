/**
 * The instance agent, run for real (bash, curl, jq, dd) against the IMDS emulator and the SSM peer, one
 * boot per case. Every case also checks that the JIT config never reached the agent's own output or log.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSubnets, Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { type SsmPeer, startSsmPeer } from '../../stand-ins/aws/ssm.js';
import {
  type AgentExit,
  AgentSandbox,
  diskBytes,
  events,
  fakeJitConfig,
  parameterPrefix,
} from './agent-sandbox.js';
import { type AwsStandInServer, startAwsStandInServer } from './aws-stand-in-server.js';

let ssm: SsmPeer;
let ec2: Ec2Emulator;
let aws: AwsStandInServer;
// Torn down after the file: the tests run concurrently, so nothing is torn down between them.
const cleanups: (() => Promise<void>)[] = [];

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
      ],
    }),
  );
  ec2 = await Ec2Emulator.start({ throttling: false });
  aws = await startAwsStandInServer();
});
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  await aws.close();
  await ec2.close();
  await ssm.close();
});
/**
 * One instance: seeded in the EC2 emulator (where the agent's reason tag lands) with its tags, which IMDS
 * serves too. `awsAsScript` runs the stand-in CLI as a Node script on every call, as a real binary would be.
 */
async function sandbox(
  tags: Record<string, string>,
  { awsAsScript = false, ssmPeer = ssm } = {},
): Promise<{ box: AgentSandbox; instanceId: string }> {
  const subnetId = Object.keys(defaultSubnets)[0] ?? '';
  const instanceId = ec2.seedInstance({ instanceType: 'm7i.large', subnetId, tags }).id;
  const box = await AgentSandbox.create({
    instanceId,
    tags,
    ssmEndpoint: ssmPeer.endpoint,
    ec2Endpoint: ec2.url,
    ...(awsAsScript ? {} : { awsServerUrl: aws.url }),
  });
  cleanups.push(() => box.dispose());
  return { box, instanceId };
}

/** The reason the agent tagged on its instance in EC2, if any. */
const reasonTag = (instanceId: string) => ec2.instance(instanceId)?.tags['wpr:agent-reason'];

const jitName = (instanceId: string) => `${parameterPrefix}/jit/${instanceId}`;
const poolTags = { 'wpr:role': 'pool', 'wpr:pool': 'linux-x64', 'wpr:project': 'wpr' };
const plainPoolTags = { 'wpr:role': 'pool', 'wpr:pool': 'linux-plain', 'wpr:project': 'wpr' };
const ephemeralTags = { 'wpr:role': 'ephemeral', 'wpr:pool': 'linux-x64', 'wpr:project': 'wpr' };

function expectSecretKept(exit: AgentExit, secret: { encoded: string; marker: string }): void {
  for (const output of [exit.stdout, exit.stderr, exit.logFile]) {
    expect(output).not.toContain(secret.encoded);
    expect(output).not.toContain(secret.marker);
  }
}

describe.concurrent('first boot of a pool instance', () => {
  it('warms up: reads the whole volume, pre-pulls the pool images, checks the runner, marks, powers off', async () => {
    const { box, instanceId } = await sandbox(poolTags);

    const exit = await box.boot().exited;

    expect(exit.code).toBe(0);
    expect(await box.record('poweroff')).toHaveLength(1);
    expect(existsSync(box.markerPath)).toBe(true);
    expect(events(exit.stdout, 'warm-disk-done')[0]).toMatchObject({ tool: 'dd', bytes: String(diskBytes) });
    expect(await box.record('docker')).toEqual([
      'pull public.ecr.aws/docker/library/alpine:3.20',
      'pull ghcr.io/acme/missing-image:1',
    ]);
    expect(events(exit.stdout, 'prepull-done')[0]).toMatchObject({ pulled: '1', failed: '1' });
    expect(events(exit.stdout, 'runner-checked')[0]).toMatchObject({ version: '2.337.0' });
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'warmed' })]);
    // No job on a warm-up boot: the runner never ran and no JIT config was looked for.
    expect(await box.runnerLog()).toEqual(['listener --version']);
    const asked = ssm.calls('GetParameter').map((c) => c.input.Name);
    expect(asked).not.toContain(jitName(instanceId));
    expect(reasonTag(instanceId)).toBeUndefined();
    expect(exit.logFile).toContain('event=warmup-done');
  });

  it('does not mark an instance whose runner cannot start, and says why', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);
    await box.breakRunner();

    const exit = await box.boot().exited;

    expect(existsSync(box.markerPath)).toBe(false);
    expect(reasonTag(instanceId)).toBe('warmup-failed');
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'warmup-failed' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('then waits for a job on its next boot instead of warming up again', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);
    await box.boot().exited;
    const secret = fakeJitConfig();
    ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'warmup-started')).toHaveLength(0);
    expect(await box.runnerReceivedConfig()).toBe(secret.encoded);
    expect(await box.record('poweroff')).toHaveLength(2);
    expectSecretKept(exit, secret);
  });
});

describe.concurrent('a boot with a JIT config waiting', () => {
  it('fetches it with decryption, deletes it, runs the runner once with it, powers off', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags, { awsAsScript: true });
    const secret = fakeJitConfig();
    ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(exit.code).toBe(0);
    expect(await box.runnerReceivedConfig()).toBe(secret.encoded);
    const runs = (await box.runnerLog()).filter((l) => l.startsWith('run '));
    expect(runs).toEqual(['run argc=0 args=']);
    // Through the environment, never argv; and none of the agent's variables reach the runner's jobs.
    expect(await box.runnerLog()).toContain('jitconfig=present');
    expect(await box.runnerLog()).toContain('leaked=');
    expect(ssm.parameter(jitName(instanceId))).toBeUndefined();
    const get = ssm.calls('GetParameter').find((c) => c.input.Name === jitName(instanceId));
    expect(get?.input.WithDecryption).toBe(true);
    const calls = ssm
      .calls()
      .filter((c) => c.input.Name === jitName(instanceId))
      .map((c) => c.action);
    expect(calls).toEqual(['GetParameter', 'DeleteParameter']);
    expect(events(exit.stdout, 'runner-exited')[0]).toMatchObject({ status: '0' });
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
    expect(reasonTag(instanceId)).toBeUndefined();
    expect(existsSync(box.markerPath)).toBe(false);
    expectSecretKept(exit, secret);
    // IMDSv2 only: a session token first, then every metadata read carries a valid one.
    const imds = box.imds.requests().filter((r) => r.path.startsWith('/latest/'));
    expect(imds[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token', status: 200 });
    expect(Number(imds[0]?.ttlHeader)).toBeGreaterThan(0);
    expect(imds.slice(1).map((r) => r.path)).toEqual(
      expect.arrayContaining(['/latest/meta-data/instance-id', '/latest/meta-data/placement/region']),
    );
    expect(imds.slice(1).filter((r) => r.token !== 'valid')).toEqual([]);
  });

  it('still picks up a config that lands a few seconds after boot', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const agent = box.boot({ WPR_JIT_GRACE_SECONDS: '25' });
    await agent.waitForLine(/event=jit-waiting/);
    // Deliver only once the agent has looked at least twice and found nothing (or has given up already,
    // which the assertions below then catch).
    let exited = false;
    void agent.exited.then(() => {
      exited = true;
    });
    while (
      !exited &&
      ssm.calls('GetParameter').filter((c) => c.input.Name === jitName(instanceId)).length < 2
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    const secret = fakeJitConfig();
    ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await agent.exited;

    const received = events(exit.stdout, 'jit-received')[0];
    expect(Number(received?.attempts)).toBeGreaterThanOrEqual(3);
    expect(await box.runnerReceivedConfig()).toBe(secret.encoded);
    expect(ssm.parameter(jitName(instanceId))).toBeUndefined();
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expectSecretKept(exit, secret);
  });

  it('powers off after a failing runner too', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    await box.setRunnerExitCode(1);
    const secret = fakeJitConfig();
    ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'runner-exited')[0]).toMatchObject({ status: '1' });
    expect(reasonTag(instanceId)).toBe('runner-failed');
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
    expectSecretKept(exit, secret);
  });
});

describe.concurrent('a boot without a usable config', () => {
  it('powers off after the grace period when none arrives', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);

    const exit = await box.boot({ WPR_JIT_GRACE_SECONDS: '2' }).exited;

    expect(exit.code).toBe(0);
    const gaveUp = events(exit.stdout, 'no-jit-config')[0];
    expect(Number(gaveUp?.waited_ms)).toBeGreaterThanOrEqual(2000);
    expect(ssm.calls('GetParameter').filter((c) => c.input.Name === jitName(instanceId)).length).toBe(
      Number(gaveUp?.attempts),
    );
    expect(await box.runnerLog()).toEqual([]);
    expect(reasonTag(instanceId)).toBe('no-jit-config');
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'no-jit-config' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('tags the reason and powers off at once when the config cannot be read', async () => {
    // A peer of its own: the fault hits every GetParameter.
    const denying = await startSsmPeer({ throttle: false });
    cleanups.push(() => denying.close());
    const { box, instanceId } = await sandbox(ephemeralTags, { ssmPeer: denying });
    const secret = fakeJitConfig();
    denying.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });
    denying.injectFault({
      action: 'GetParameter',
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform ssm:GetParameter',
      times: Number.POSITIVE_INFINITY,
    });

    const exit = await box.boot({ WPR_JIT_GRACE_SECONDS: '60' }).exited;

    expect(reasonTag(instanceId)).toBe('jit-access-denied');
    expect(events(exit.stdout, 'jit-access-denied')[0]).toMatchObject({ error: 'AccessDeniedException' });
    expect(denying.calls('GetParameter')).toHaveLength(1);
    expect(await box.runnerLog()).toEqual([]);
    expect(await box.record('poweroff')).toHaveLength(1);
    expectSecretKept(exit, secret);
  });

  it('deletes a malformed config, tags the reason and powers off without running the runner', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const malformed = `not a jit config ${fakeJitConfig().marker}`;
    ssm.put(jitName(instanceId), malformed, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(ssm.parameter(jitName(instanceId))).toBeUndefined();
    expect(reasonTag(instanceId)).toBe('jit-malformed');
    expect(await box.runnerLog()).toEqual([]);
    expect(await box.record('poweroff')).toHaveLength(1);
    for (const output of [exit.stdout, exit.stderr, exit.logFile]) expect(output).not.toContain(malformed);
  });
});

describe.concurrent('identity and settings', () => {
  it('stands down on an instance without a wpr:role tag (the Image Builder test instance)', async () => {
    const { box } = await sandbox({ Name: 'image-builder-test' });

    const exit = await box.boot().exited;

    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(events(exit.stdout, 'stand-down')[0]).toMatchObject({ reason: 'no-role-tag' });
    expect(await box.record('poweroff')).toEqual([]);
    expect(await box.record('aws')).toEqual([]);
  });

  it('refuses to run on bad settings: tags the reason, names the setting, powers off', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);

    const exit = await box.boot({ WPR_PARAMETER_PREFIX: 'wpr/', WPR_JIT_POLL_MS: 'soon' }).exited;

    expect(reasonTag(instanceId)).toBe('agent-misconfigured');
    expect(events(exit.stdout, 'agent-misconfigured')[0]).toMatchObject({
      invalid: 'WPR_PARAMETER_PREFIX WPR_JIT_POLL_MS',
    });
    expect(await box.record('poweroff')).toHaveLength(1);
    expect(await box.runnerLog()).toEqual([]);
  });

  it('the IMDS emulator refuses what IMDSv2 refuses: no token, no TTL, a forged token', async () => {
    const { box } = await sandbox(ephemeralTags);
    const unsigned = await fetch(`${box.imds.endpoint}/latest/meta-data/instance-id`);
    expect(unsigned.status).toBe(401);
    const noTtl = await fetch(`${box.imds.endpoint}/latest/api/token`, { method: 'PUT' });
    expect(noTtl.status).toBe(400);
    const getToken = await fetch(`${box.imds.endpoint}/latest/api/token`);
    expect(getToken.status).toBe(405);
    const forged = await fetch(`${box.imds.endpoint}/latest/meta-data/instance-id`, {
      headers: { 'X-aws-ec2-metadata-token': 'forged' },
    });
    expect(forged.status).toBe(401);
    const token = await fetch(`${box.imds.endpoint}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
    }).then((r) => r.text());
    const read = await fetch(`${box.imds.endpoint}/latest/meta-data/tags/instance/wpr:role`, {
      headers: { 'X-aws-ec2-metadata-token': token },
    });
    expect(await read.text()).toBe('ephemeral');
  });

  it('stops without powering off when the unit is stopped mid-wait', async () => {
    const { box } = await sandbox(ephemeralTags);
    const agent = box.boot({ WPR_JIT_GRACE_SECONDS: '60' });
    await agent.waitForLine(/event=jit-waiting/);

    agent.process.kill('SIGTERM');
    const exit = await agent.exited;

    expect(exit.code).toBe(143);
    expect(events(exit.stdout, 'stopped-by-signal')).toHaveLength(1);
    expect(await box.record('poweroff')).toEqual([]);
  });
});
