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
   * Set by the instance agent (the runner's job-started hook) when its runner takes a job, value an
   * ISO-8601 time: EventBridge's "Tag Change on Resource" brings it to the lifecycle handler, which
   * marks the instance busy and refills the hot tier without waiting for GitHub's webhook.
   */
  jobStarted: 'wpr:job-started',
} as const;
