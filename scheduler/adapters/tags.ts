/**
 * Tag keys the control plane puts on every EC2 resource it creates. IAM policies condition EC2 actions
 * on `project`, so an instance without it is out of the control plane's reach. Never tag a secret.
 */
export const tagKeys = {
  project: 'wpr:project',
  pool: 'wpr:pool',
  role: 'wpr:role',
  spec: 'wpr:spec',
  /** Set by the instance agent when it powers off for a reason the control plane should see. */
  agentReason: 'wpr:agent-reason',
  /**
   * The deployment that launched the instance (its runtime stack's id), set only at launch by the
   * control plane (IAM requires it on every launch; nothing else may tag it). The reconciler terminates
   * as an orphan only an instance carrying this deployment's value.
   */
  deployment: 'wpr:deployment',
  /**
   * Set by the instance agent (the runner's job-started hook) when its runner takes a job, value an
   * ISO-8601 time: EventBridge's "Tag Change on Resource" brings it to the lifecycle handler, which
   * marks the instance busy and refills the hot tier without waiting for GitHub's webhook.
   */
  jobStarted: 'wpr:job-started',
  /**
   * The instance agent's idle bound in whole seconds (ami/README.md, the watchdog contract), set by the
   * control plane on a hot-tier runner — at launch, or right after StartInstances on a pool instance
   * (the agent re-reads it when its bound expires) — so the agent outlasts the tier's `maxIdleMinutes`.
   */
  maxIdleSeconds: 'wpr:max-idle-seconds',
} as const;
