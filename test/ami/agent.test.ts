/**
 * The instance agent, run for real (bash, curl, jq, dd) against the IMDS emulator and the SSM peer, one
 * boot per case: warm-up, taking the JIT config, the reasons it leaves on its instance. Every case also
 * checks that the JIT config never reached the agent's own output or log. The runner's hooks and the
 * watchdogs are in agent-watch.test.ts.
 */
import { existsSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { diskBytes, events, fakeJitConfig } from './agent-sandbox.js';
import {
  agentWorld,
  ephemeralTags,
  expectSecretKept,
  expectUpdateDisabled,
  jitName,
  plainPoolTags,
  poolTags,
} from './agent-world.js';

const world = agentWorld();
const sandbox: typeof world.sandbox = (tags, options) => world.sandbox(tags, options);
/** The reason the agent tagged on its instance in EC2, if any. */
const reasonTag = (instanceId: string) => world.tag(instanceId, 'wpr:agent-reason');

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
    const asked = world.ssm.calls('GetParameter').map((c) => c.input.Name);
    expect(asked).not.toContain(jitName(instanceId));
    // A success of its own, so that the control plane never has to read a missing tag as one.
    expect(reasonTag(instanceId)).toBe('warmed');
    expect(exit.logFile).toContain('event=warmup-done');
  });

  it('does not mark an instance whose runner cannot start, and says why', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);
    await box.breakRunner();

    const exit = await box.boot().exited;

    expect(existsSync(box.markerPath)).toBe(false);
    expect(reasonTag(instanceId)).toBe('warmup-runner-check-failed');
    expect(events(exit.stdout, 'power-off')).toEqual([
      expect.objectContaining({ reason: 'warmup-runner-check-failed' }),
    ]);
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('fails the warm-up, with a reason of its own, when the volume cannot be read', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);

    const exit = await box.boot({ WPR_WARM_DEVICE: join(box.dir, 'no-such-volume') }).exited;

    expect(existsSync(box.markerPath)).toBe(false);
    expect(reasonTag(instanceId)).toBe('warmup-disk-read-failed');
    expect(events(exit.stdout, 'warm-disk-failed')).toHaveLength(1);
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('fails the warm-up when the pool wants images pre-pulled and docker never answers', async () => {
    const { box, instanceId } = await sandbox(poolTags);

    const exit = await box.boot({ WPR_TEST_DOCKER_INFO_EXIT: '1', WPR_DOCKER_WAIT_SECONDS: '1' }).exited;

    expect(existsSync(box.markerPath)).toBe(false);
    expect(reasonTag(instanceId)).toBe('warmup-docker-unavailable');
    expect(await box.record('docker')).toEqual([]);
    expect(events(exit.stdout, 'power-off')).toEqual([
      expect.objectContaining({ reason: 'warmup-docker-unavailable' }),
    ]);
  });

  it('fails the warm-up when the marker cannot be written', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);

    // A state directory under a regular file: mkdir fails, as on a read-only or full volume.
    const exit = await box.boot({ WPR_STATE_DIR: join(box.dir, 'disk.img', 'state') }).exited;

    expect(reasonTag(instanceId)).toBe('warmup-marker-failed');
    expect(events(exit.stdout, 'power-off')).toEqual([
      expect.objectContaining({ reason: 'warmup-marker-failed' }),
    ]);
    expect(events(exit.stdout, 'agent-failed')).toEqual([]);
  });

  it('then waits for a job on its next boot instead of warming up again', async () => {
    const { box, instanceId } = await sandbox(plainPoolTags);
    await box.boot().exited;
    const secret = fakeJitConfig();
    world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'warmup-started')).toHaveLength(0);
    const received = await box.runnerReceivedConfig();
    expectUpdateDisabled(received, secret.encoded);
    expect(await box.record('poweroff')).toHaveLength(2);
    // The job boot's own reason replaces the warm-up's: the tag always speaks of the last boot.
    expect(reasonTag(instanceId)).toBe('job-done');
    expectSecretKept(exit, secret, received);
  });
});

describe.concurrent('a boot with a JIT config waiting', () => {
  // The stand-in CLI runs as a Node script here, one process per call (GetParameter, DeleteParameter, two
  // CreateTags): seconds each on a busy machine, hence the longer timeout.
  it('fetches it with decryption, deletes it, runs the runner once with it, powers off', {
    timeout: 90_000,
  }, async () => {
    const { box, instanceId } = await sandbox(ephemeralTags, { awsAsScript: true });
    const secret = fakeJitConfig();
    world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(exit.code).toBe(0);
    const received = await box.runnerReceivedConfig();
    expectUpdateDisabled(received, secret.encoded);
    const runs = (await box.runnerLog()).filter((l) => l.startsWith('run '));
    expect(runs).toEqual(['run argc=0 args=']);
    // Through the environment, never argv; and none of the agent's variables reach the runner's jobs.
    expect(await box.runnerLog()).toContain('jitconfig=present');
    // Only where to send hook events (a path, for the job-started hook) passes; nothing else of the agent's.
    expect(await box.runnerLog()).toContain('leaked=WPR_AGENT_EVENTS ');
    expect(world.ssm.parameter(jitName(instanceId))).toBeUndefined();
    const get = world.ssm.calls('GetParameter').find((c) => c.input.Name === jitName(instanceId));
    expect(get?.input.WithDecryption).toBe(true);
    const calls = world.ssm
      .calls()
      .filter((c) => c.input.Name === jitName(instanceId))
      .map((c) => c.action);
    expect(calls).toEqual(['GetParameter', 'DeleteParameter']);
    expect(events(exit.stdout, 'runner-exited')[0]).toMatchObject({ status: '0' });
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
    expect(reasonTag(instanceId)).toBe('job-done');
    expect(existsSync(box.markerPath)).toBe(false);
    expectSecretKept(exit, secret, received);
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
      world.ssm.calls('GetParameter').filter((c) => c.input.Name === jitName(instanceId)).length < 2
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    const secret = fakeJitConfig();
    world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await agent.exited;

    const received = events(exit.stdout, 'jit-received')[0];
    expect(Number(received?.attempts)).toBeGreaterThanOrEqual(3);
    expectUpdateDisabled(await box.runnerReceivedConfig(), secret.encoded);
    expect(world.ssm.parameter(jitName(instanceId))).toBeUndefined();
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expectSecretKept(exit, secret);
  });

  it('hands the config over as delivered when runner updates are allowed', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const secret = fakeJitConfig();
    world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot({ WPR_RUNNER_DISABLE_UPDATE: 'false' }).exited;

    expect(await box.runnerReceivedConfig()).toBe(secret.encoded);
    expectSecretKept(exit, secret);
  });

  it('powers off after a failing runner too', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    await box.setRunnerExitCode(1);
    const secret = fakeJitConfig();
    world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'runner-exited')[0]).toMatchObject({ status: '1' });
    expect(reasonTag(instanceId)).toBe('runner-failed');
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'runner-failed' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
    expectSecretKept(exit, secret);
  });
});

describe.concurrent('waiting for the config', () => {
  it('asks again quickly at first, then less and less often, never faster than the backoff allows', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);

    const exit = await box.boot({
      WPR_JIT_GRACE_SECONDS: '4',
      WPR_JIT_BACKOFF_FIRST_MS: '50',
      WPR_JIT_BACKOFF_MAX_MS: '800',
    }).exited;

    const gaveUp = events(exit.stdout, 'no-jit-config')[0];
    const pauses = (gaveUp?.pauses_ms ?? '').split(',').map(Number);
    // Pause n is 50·2^(n-1) ms capped at 800, half of it jitter: [25, 50], [50, 100], [100, 200], ...; the
    // last one may be cut short by the end of the grace period. How many there are depends on how long each
    // CLI call takes on this machine; two already show the growth.
    expect(pauses.length).toBeGreaterThanOrEqual(2);
    for (const [i, pause] of pauses.slice(0, -1).entries()) {
      const step = Math.min(50 * 2 ** i, 800);
      expect(pause).toBeGreaterThanOrEqual(step / 2);
      expect(pause).toBeLessThanOrEqual(step);
    }
    expect(pauses.at(-1)).toBeLessThanOrEqual(800);
    // And it did pause: each call at least its pause after the one before (a call itself takes time too).
    const at = world.ssm
      .calls('GetParameter')
      .filter((c) => c.input.Name === jitName(instanceId))
      .map((c) => c.at);
    expect(at).toHaveLength(pauses.length + 1);
    for (const [i, pause] of pauses.entries())
      expect((at[i + 1] as number) - (at[i] as number)).toBeGreaterThanOrEqual(pause - 5);
  });
});

describe.concurrent('a boot without a usable config', () => {
  it('powers off after the grace period when none arrives', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);

    const exit = await box.boot({ WPR_JIT_GRACE_SECONDS: '2' }).exited;

    expect(exit.code).toBe(0);
    const gaveUp = events(exit.stdout, 'no-jit-config')[0];
    expect(Number(gaveUp?.waited_ms)).toBeGreaterThanOrEqual(2000);
    expect(world.ssm.calls('GetParameter').filter((c) => c.input.Name === jitName(instanceId)).length).toBe(
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
    world.onTeardown(() => denying.close());
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

  it('hands over a config whose .runner it cannot edit as it came: an optimisation never costs a job', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const files = {
      '.runner': Buffer.from('not json').toString('base64'),
      '.credentials': Buffer.from('{}').toString('base64'),
    };
    const delivered = Buffer.from(JSON.stringify(files)).toString('base64');
    world.ssm.put(jitName(instanceId), delivered, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'runner-update-not-disabled')).toHaveLength(1);
    expect(await box.runnerReceivedConfig()).toBe(delivered);
    expect(world.ssm.parameter(jitName(instanceId))).toBeUndefined();
  });

  it('reads a .runner that starts with a byte-order mark', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const secret = fakeJitConfig();
    const files = JSON.parse(Buffer.from(secret.encoded, 'base64').toString('utf8')) as Record<
      string,
      string
    >;
    const runner = Buffer.from(files['.runner'] ?? '', 'base64').toString('utf8');
    files['.runner'] = Buffer.from(`\ufeff${runner}`).toString('base64');
    world.ssm.put(jitName(instanceId), Buffer.from(JSON.stringify(files)).toString('base64'), {
      type: 'SecureString',
    });

    await box.boot().exited;

    expectUpdateDisabled(await box.runnerReceivedConfig(), secret.encoded);
  });

  it('refuses a config that is base64 JSON but not a map of settings files', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    world.ssm.put(jitName(instanceId), Buffer.from('{".runner": 42}').toString('base64'), {
      type: 'SecureString',
    });

    await box.boot().exited;

    expect(reasonTag(instanceId)).toBe('jit-malformed');
    expect(await box.runnerLog()).toEqual([]);
    expect(world.ssm.parameter(jitName(instanceId))).toBeUndefined();
  });

  it('deletes a malformed config, tags the reason and powers off without running the runner', async () => {
    const { box, instanceId } = await sandbox(ephemeralTags);
    const malformed = `not a jit config ${fakeJitConfig().marker}`;
    world.ssm.put(jitName(instanceId), malformed, { type: 'SecureString' });

    const exit = await box.boot().exited;

    expect(world.ssm.parameter(jitName(instanceId))).toBeUndefined();
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

    const exit = await box.boot({
      WPR_PARAMETER_PREFIX: 'wpr/',
      WPR_JIT_BACKOFF_FIRST_MS: 'soon',
      WPR_MAX_IDLE_SECONDS: '0',
      WPR_RUNNER_DISABLE_UPDATE: 'yes',
    }).exited;

    expect(reasonTag(instanceId)).toBe('agent-misconfigured');
    expect(events(exit.stdout, 'agent-misconfigured')[0]).toMatchObject({
      invalid: 'WPR_PARAMETER_PREFIX WPR_JIT_BACKOFF_FIRST_MS WPR_MAX_IDLE_SECONDS WPR_RUNNER_DISABLE_UPDATE',
    });
    expect(await box.record('poweroff')).toHaveLength(1);
    expect(await box.runnerLog()).toEqual([]);
  });

  it('reaches IMDS within moments of it answering, when the network comes up after the agent started', async () => {
    const { box } = await sandbox({ Name: 'not-a-runner' });
    // A port with nothing on it yet, as IMDS before the DHCP lease; then a relay to the emulator on it.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const agent = box.boot({ WPR_IMDS_ENDPOINT: `http://127.0.0.1:${port}` });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const imdsPort = Number(new URL(box.imds.endpoint).port);
    let upAt = 0;
    let firstAt = 0;
    const relay: Server = createServer((socket) => {
      firstAt ||= Date.now();
      socket.pipe(connect(imdsPort, '127.0.0.1')).pipe(socket);
    });
    world.onTeardown(() => new Promise((resolve) => relay.close(() => resolve())));
    await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', () => resolve()));
    upAt = Date.now();

    const exit = await agent.exited;

    expect(events(exit.stdout, 'stand-down')).toHaveLength(1);
    expect(Number(events(exit.stdout, 'imds-ready')[0]?.attempts)).toBeGreaterThan(3);
    // Retries from 50 ms, doubling to at most 1 s (plus a loaded machine's slack): found soon after IMDS
    // answers, however long it took to come up.
    expect(firstAt - upAt).toBeLessThan(2500);
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
