/**
 * The agent while its runner runs: the runner's job-started hook, through the agent, tags the instance
 * `wpr:job-started` (the control plane's webhook-independent signal) without ever holding up or failing the
 * job; and the watchdogs: no job within the idle bound, or a boot past its maximum lifetime, stops the
 * runner and powers off with a reason. The stand-in runner (stand-ins/runner/run.sh) plays a job, a job
 * whose hook never fires, or a runner that never gets one.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import { startSsmPeer } from '../../stand-ins/aws/ssm.js';
import { events, fakeJitConfig, hookPath } from './agent-sandbox.js';
import { agentWorld, ephemeralTags, expectSecretKept, jitName } from './agent-world.js';

const world = agentWorld();

/** An instance with its config waiting, as the control plane leaves it before StartInstances. */
async function instanceWithConfig(tags: Record<string, string> = ephemeralTags, ec2Endpoint?: string) {
  const { box, instanceId } = await world.sandbox(tags, ec2Endpoint === undefined ? {} : { ec2Endpoint });
  const secret = fakeJitConfig();
  world.ssm.put(jitName(instanceId), secret.encoded, { type: 'SecureString' });
  return { box, instanceId, secret };
}

const reason = (instanceId: string) => world.tag(instanceId, 'wpr:agent-reason');
const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.concurrent('the job-started signal', () => {
  it('tags the instance wpr:job-started with the time the job started, and the job runs on', async () => {
    const { box, instanceId, secret } = await instanceWithConfig();
    await box.setRunnerMode('job', 300);
    const before = Date.now();

    const exit = await box.boot().exited;

    const startedAt = world.tag(instanceId, 'wpr:job-started');
    expect(startedAt).toMatch(iso);
    expect(Date.parse(startedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(startedAt ?? '')).toBeLessThanOrEqual(Date.now());
    expect(events(exit.stdout, 'job-started')).toEqual([
      expect.objectContaining({ at: startedAt, source: 'hook' }),
    ]);
    expect(events(exit.stdout, 'job-completed')).toHaveLength(1);
    const log = await box.runnerLog();
    expect(log).toEqual(
      expect.arrayContaining([expect.stringMatching(/^hook job-started exit=0 /), 'job done']),
    );
    expect(log).toEqual(expect.arrayContaining([expect.stringMatching(/^hook job-completed exit=0 /)]));
    expect(await box.hookOutput()).toContain(`wpr: job-started signalled at ${startedAt}`);
    expect(reason(instanceId)).toBe('job-done');
    expectSecretKept(exit, secret, await box.runnerReceivedConfig());
  });

  it('never fails or holds up the job when the tag cannot be set: bounded retries, then on', async () => {
    // EC2 unreachable: every CreateTags fails, the job-started one and the reason alike.
    const { box, instanceId } = await instanceWithConfig(ephemeralTags, 'http://127.0.0.1:9');
    await box.setRunnerMode('job', 0);

    const exit = await box.boot().exited;

    const log = await box.runnerLog();
    expect(log).toEqual(
      expect.arrayContaining([expect.stringMatching(/^hook job-started exit=0 /), 'job done']),
    );
    // The hook only hands a line to the agent: milliseconds, whatever EC2 does.
    const hookMs = Number(
      /^hook job-started exit=0 ms=(\d+)$/.exec(log.find((l) => l.startsWith('hook job-started')) ?? '')?.[1],
    );
    expect(hookMs).toBeLessThan(2500);
    expect(events(exit.stdout, 'tag-failed')).toEqual(
      expect.arrayContaining([expect.objectContaining({ tag: 'wpr:job-started', attempts: '4' })]),
    );
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'job-done' })]);
    expect(world.tag(instanceId, 'wpr:job-started')).toBeUndefined();
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('does not retry a tag the instance role may not set, and the job goes on', async () => {
    // An EC2 of its own: the refusal would otherwise hit every test's CreateTags. And an SSM of its own: EC2
    // emulators number instances from 1 each, so this instance's id (and JIT parameter name) is another's.
    const ec2 = await Ec2Emulator.start({ throttling: false });
    const ssm = await startSsmPeer({ throttle: false });
    world.onTeardown(() => Promise.all([ec2.close(), ssm.close()]).then(() => undefined));
    const { box, instanceId } = await world.sandbox(ephemeralTags, { ec2Peer: ec2, ssmPeer: ssm });
    ssm.put(jitName(instanceId), fakeJitConfig().encoded, { type: 'SecureString' });
    ec2.failNext('CreateTags', {
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
      status: 403,
    });

    const exit = await box.boot().exited;

    // Refused once, and never asked again for that tag (a connection failure on a loaded machine may come
    // first; it never reached EC2 and is retried, as it should be).
    expect(events(exit.stdout, 'tag-failed')).toEqual([
      expect.objectContaining({ tag: 'wpr:job-started', error: 'UnauthorizedOperation' }),
    ]);
    const jobStartedCalls = ec2
      .calls('CreateTags')
      .filter((c) => Object.values(c.params).includes('wpr:job-started'));
    expect(jobStartedCalls.map((c) => c.error)).toEqual(['UnauthorizedOperation']);
    expect(await box.runnerLog()).toContain('job done');
    expect(ec2.instance(instanceId)?.tags['wpr:agent-reason']).toBe('job-done');
  });

  it('exits 0 at once when no agent is listening, so the job still starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wpr-hook-'));
    world.onTeardown(() => rm(dir, { recursive: true, force: true }));
    const hook = join(dir, 'job-started.sh');
    await promisify(execFile)('ln', ['-s', hookPath, hook]);
    // Neither a FIFO nor a docker to wait for: PATH without docker.
    const result = await promisify(execFile)('bash', ['-e', hook], {
      env: { PATH: '/usr/bin:/bin', WPR_AGENT_EVENTS: join(dir, 'missing') },
    });
    expect(result.stderr).toContain('could not signal job-started');
  });

  it('puts together a line that reaches it in two parts (a read cut short by its timeout keeps its part)', async () => {
    const { box, instanceId } = await instanceWithConfig();
    await box.setRunnerMode('idle');
    const agent = box.boot({ WPR_MAX_IDLE_SECONDS: '30' });
    await agent.waitForLine(/event=runner-watching/);
    const fifo = join(box.dir, 'run', 'events');
    const write = (text: string) =>
      promisify(execFile)('bash', ['-c', 'printf "%s" "$1" >"$2"', '_', text, fifo]);
    await write('job-sta');
    // Longer than the loop's read timeout: the first part is read alone and must be kept.
    await new Promise((resolve) => setTimeout(resolve, 600));
    await write('rted 2026-01-05T09:12:03.214Z\n');

    const started = await agent.waitForLine(/event=job-started/);
    await agent.waitForLine(/event=tagged tag=wpr:job-started/);
    agent.process.kill('SIGTERM');
    await agent.exited;

    expect(started).toContain('at=2026-01-05T09:12:03.214Z source=hook');
    expect(world.tag(instanceId, 'wpr:job-started')).toBe('2026-01-05T09:12:03.214Z');
  });

  it('before the job, waits for a docker daemon that is still starting (bounded), then exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wpr-hook-'));
    world.onTeardown(() => rm(dir, { recursive: true, force: true }));
    const hook = join(dir, 'job-started.sh');
    await promisify(execFile)('ln', ['-s', hookPath, hook]);
    // A docker that answers on its third `info`, as a daemon finishing its start.
    await writeFile(
      join(dir, 'docker'),
      '#!/usr/bin/env bash\nn=$(($(cat "$0.count" 2>/dev/null || echo 0) + 1))\necho "$n" >"$0.count"\n((n >= 3))\n',
      { mode: 0o755 },
    );

    const result = await promisify(execFile)('bash', ['-e', hook], {
      env: { PATH: `${dir}:/usr/bin:/bin`, WPR_AGENT_EVENTS: join(dir, 'missing') },
    });

    expect(await readFile(join(dir, 'docker.count'), 'utf8')).toBe('3\n');
    expect(result.stderr).not.toContain('docker is not answering');
  });

  it('ignores lines on the FIFO that are not hook events (the job can write to it too)', async () => {
    const { box, instanceId } = await instanceWithConfig();
    await box.setRunnerMode('idle');
    const agent = box.boot({ WPR_MAX_IDLE_SECONDS: '2' });
    await agent.waitForLine(/event=runner-watching/);
    await promisify(execFile)('bash', [
      '-c',
      'printf "job-started yesterday\\nrm -rf /\\n" >"$1"',
      '_',
      join(box.dir, 'run', 'events'),
    ]);

    const exit = await agent.exited;

    expect(events(exit.stdout, 'event-ignored')).toHaveLength(2);
    expect(world.tag(instanceId, 'wpr:job-started')).toBeUndefined();
    expect(reason(instanceId)).toBe('idle-timeout');
  });
});

describe.concurrent('a runner that ends without a job', () => {
  it('powers off with no-job, not job-done, so the control plane can tell the two apart', async () => {
    const { box, instanceId } = await instanceWithConfig();
    await box.setRunnerMode('no-job');

    const exit = await box.boot().exited;

    expect(events(exit.stdout, 'runner-exited')[0]).toMatchObject({ status: '0', job_started: '0' });
    expect(reason(instanceId)).toBe('no-job');
    expect(world.tag(instanceId, 'wpr:job-started')).toBeUndefined();
    expect(await box.record('poweroff')).toHaveLength(1);
  });
});

describe.concurrent('the watchdogs', () => {
  it('stops a runner that gets no job within the idle bound and powers off: idle-timeout', async () => {
    // A tag that is not a number is ignored (and said so), the agent's default applies.
    const { box, instanceId } = await instanceWithConfig({
      ...ephemeralTags,
      'wpr:max-idle-seconds': 'soon',
    });
    await box.setRunnerMode('idle');

    const exit = await box.boot({ WPR_MAX_IDLE_SECONDS: '1' }).exited;

    expect(events(exit.stdout, 'tag-ignored')[0]).toMatchObject({
      tag: 'wpr:max-idle-seconds',
      value: 'soon',
    });
    expect(events(exit.stdout, 'runner-stopping')).toEqual([
      expect.objectContaining({ reason: 'idle-timeout' }),
    ]);
    expect(Number(events(exit.stdout, 'runner-exited')[0]?.duration_ms)).toBeGreaterThanOrEqual(1000);
    expect(await box.runnerLog()).toContain('terminated');
    expect(reason(instanceId)).toBe('idle-timeout');
    expect(world.tag(instanceId, 'wpr:job-started')).toBeUndefined();
    expect(events(exit.stdout, 'power-off')).toEqual([expect.objectContaining({ reason: 'idle-timeout' })]);
    expect(await box.record('poweroff')).toHaveLength(1);
  });

  it('takes the idle bound from the instance tag, and re-reads it before stopping (a runner kept hot)', async () => {
    const { box, instanceId } = await instanceWithConfig({ ...ephemeralTags, 'wpr:max-idle-seconds': '2' });
    await box.setRunnerMode('idle');
    const agent = box.boot({ WPR_MAX_IDLE_SECONDS: '600' });
    const watching = await agent.waitForLine(/event=runner-watching/);
    expect(watching).toContain('max_idle_s=2 ');
    // The control plane decides to keep this runner longer: it raises the tag.
    box.imds.setTag('wpr:max-idle-seconds', '4');

    const exit = await agent.exited;

    expect(events(exit.stdout, 'idle-bound-extended')).toEqual([
      expect.objectContaining({ max_idle_s: '4', source: 'tag' }),
    ]);
    expect(Number(events(exit.stdout, 'runner-exited')[0]?.duration_ms)).toBeGreaterThanOrEqual(4000);
    expect(reason(instanceId)).toBe('idle-timeout');
  });

  it('keeps an untagged idle runner of a pool with a hot tier as long as the tier keeps its runners', async () => {
    const { box, instanceId } = await instanceWithConfig({ ...ephemeralTags, 'wpr:pool': 'linux-hot' });
    await box.setRunnerMode('idle');
    const agent = box.boot({ WPR_MAX_IDLE_SECONDS: '1' });

    // The pool's hot.maxIdleMinutes (5) plus the agent's default (1 s): the control plane retires first.
    const extended = await agent.waitForLine(/event=idle-bound-extended/);
    agent.process.kill('SIGTERM');
    const exit = await agent.exited;

    expect(extended).toContain('max_idle_s=301 source=pool-config');
    expect(events(exit.stdout, 'runner-stopping')).toEqual([]);
    expect(reason(instanceId)).toBeUndefined();
  });

  it('does not stop a runner busy with a job whose hook never fired: the worker log says it took one', async () => {
    const { box, instanceId } = await instanceWithConfig();
    await box.setRunnerMode('silent-job', 2500);

    const exit = await box.boot({ WPR_MAX_IDLE_SECONDS: '1' }).exited;

    expect(events(exit.stdout, 'job-started')).toEqual([expect.objectContaining({ source: 'worker-log' })]);
    expect(world.tag(instanceId, 'wpr:job-started')).toMatch(/Z$/);
    expect(events(exit.stdout, 'runner-stopping')).toEqual([]);
    expect(await box.runnerLog()).toContain('job done');
    expect(reason(instanceId)).toBe('job-done');
  });

  it('stops the runner past the maximum lifetime, job or not: max-lifetime', async () => {
    const { box, instanceId } = await instanceWithConfig({
      ...ephemeralTags,
      'wpr:max-lifetime-seconds': '6',
    });
    await box.setRunnerMode('job', 60_000);

    const exit = await box.boot({ WPR_MAX_LIFETIME_SECONDS: '43200' }).exited;

    expect(events(exit.stdout, 'runner-watching')[0]).toMatchObject({ max_lifetime_s: '6' });
    expect(world.tag(instanceId, 'wpr:job-started')).toMatch(/Z$/);
    expect(events(exit.stdout, 'runner-stopping')).toEqual([
      expect.objectContaining({ reason: 'max-lifetime' }),
    ]);
    expect(await box.runnerLog()).toContain('terminated');
    expect(await box.runnerLog()).not.toContain('job done');
    expect(reason(instanceId)).toBe('max-lifetime');
    expect(await box.record('poweroff')).toHaveLength(1);
  });
});
