/**
 * The instance agent, as the sandbox plays it for emulated instances: the same decisions as
 * ami/agent (warm up on the first boot of a pool instance, then power off; otherwise wait for this
 * instance's JIT config, take it, delete it, run the runner once, power off), with the runner played
 * by the GitHub emulator and the power-off by the EC2 emulator. It reads its config from the SSM peer
 * over the SSM API, exactly as the real agent does with the AWS CLI. When its runner takes a job, it
 * tags its own instance `wpr:job-started` over the EC2 API (the runner's job-started hook), which the
 * EC2 peer publishes as a tag change for the lifecycle handler: the hot tier's webhook-independent signal.
 */
import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { tagKeys } from '../../scheduler/adapters/tags.js';
import type { Ec2Emulator } from '../../stand-ins/aws/ec2/index.js';
import type { GitHubEmulator } from '../../stand-ins/github/github-emulator.js';

export interface InstanceAgentOptions {
  readonly ec2: Ec2Emulator;
  readonly github: GitHubEmulator;
  readonly ssm: SSMClient;
  /** The EC2 API, for the job-started tag; absent: the agent sets no tag. */
  readonly ec2Client?: EC2Client;
  /** The time written in the tag (the sandbox's clock). */
  readonly now?: () => number;
  readonly parameterPrefix: string;
  /** How long the first-boot warm-up takes (reading the volume, pre-pulling images). */
  readonly warmupMs: number;
  /** How long a booted instance waits for its JIT config before powering off. */
  readonly configGraceMs: number;
  readonly pollMs: number;
  /** Called for every boot's outcome, for the sandbox's log. */
  readonly onOutcome?: (instanceId: string, outcome: AgentOutcome) => void;
}

export type AgentOutcome = 'warmed' | 'ran-job' | 'runner-removed' | 'no-config' | 'gone';

export class InstanceAgents {
  private readonly warmed = new Set<string>();
  private readonly booting = new Set<string>();
  private closed = false;

  constructor(private readonly options: InstanceAgentOptions) {}

  /** An instance reached `running`: its agent starts, as systemd would start it on every boot. */
  boot(instanceId: string): void {
    if (this.closed || this.booting.has(instanceId)) return;
    this.booting.add(instanceId);
    void this.run(instanceId)
      .then((outcome) => this.options.onOutcome?.(instanceId, outcome))
      .catch(() => this.options.onOutcome?.(instanceId, 'gone'))
      .finally(() => this.booting.delete(instanceId));
  }

  close(): void {
    this.closed = true;
  }

  private async run(instanceId: string): Promise<AgentOutcome> {
    const { ec2 } = this.options;
    const role = ec2.instance(instanceId)?.tags[tagKeys.role];
    if (role === 'pool' && !this.warmed.has(instanceId)) {
      await sleep(this.options.warmupMs);
      this.warmed.add(instanceId);
      return this.powerOff(instanceId, 'warmed');
    }
    const config = await this.waitForConfig(instanceId);
    if (config === undefined) return this.powerOff(instanceId, 'no-config');
    const runner = this.options.github.connectRunner(config);
    void runner.started.then((jobId) => (jobId === undefined ? undefined : this.tagJobStarted(instanceId)));
    const how = await runner.exited;
    return this.powerOff(instanceId, how === 'completed' ? 'ran-job' : 'runner-removed');
  }

  private async waitForConfig(instanceId: string): Promise<string | undefined> {
    const name = `${this.options.parameterPrefix}/jit/${instanceId}`;
    const until = Date.now() + this.options.configGraceMs;
    while (!this.closed && Date.now() < until) {
      if (this.options.ec2.instance(instanceId)?.state !== 'running') return undefined;
      try {
        const read = await this.options.ssm.send(
          new GetParameterCommand({ Name: name, WithDecryption: true }),
        );
        const value = read.Parameter?.Value;
        if (value !== undefined) {
          await this.options.ssm.send(new DeleteParameterCommand({ Name: name }));
          return value;
        }
      } catch (error) {
        if ((error as { name?: string }).name !== 'ParameterNotFound') throw error;
      }
      await sleep(this.options.pollMs);
    }
    return undefined;
  }

  /** What the runner's job-started hook does: CreateTags on its own instance. Best effort, like the hook. */
  private async tagJobStarted(instanceId: string): Promise<void> {
    const client = this.options.ec2Client;
    if (client === undefined || this.closed) return;
    const at = new Date(this.options.now?.() ?? Date.now()).toISOString();
    try {
      await client.send(
        new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: tagKeys.jobStarted, Value: at }] }),
      );
    } catch {
      // The hook never fails the job: the webhook path still marks the runner busy.
    }
  }

  private powerOff(instanceId: string, outcome: AgentOutcome): AgentOutcome {
    if (this.options.ec2.instance(instanceId)?.state !== 'running') return 'gone';
    this.options.ec2.guestPowerOff(instanceId);
    return outcome;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
