/**
 * Timings of the world around the control plane, as distributions in seconds. Figures marked REFERENCE
 * come from /work/shared/REFERENCE.md (their public source is named there and repeated here); figures
 * marked ASSUMPTION have no public measurement in that list and are kept small or neutral: they are
 * the same for every policy, so they shift all results alike rather than favour one.
 *
 * The pickup of a job served from the stopped pool, from GitHub's `created_at`, adds up as:
 *   webhook delivery (p50 2 s) + handler (claim: a few store calls) + StartInstances (1.8–2 s)
 *   + pending → running (~5 s) + OS boot (2.8–9 s) + runner start → job assigned (mean 3.7 s)
 * The JIT config is minted (~0.7 s) and delivered while the instance boots, off the critical path.
 */
import { type Distribution, lognormal, mixture, uniform } from './random.js';
import { type IncidentRates, referenceIncidents } from './webhook-delivery.js';

export interface Timings {
  /** GitHub → our webhook endpoint, after the job was created, outside incidents. */
  readonly webhookDelivery: Distribution;
  /** Stretches when GitHub holds every delivery (webhook-delivery.ts). */
  readonly webhookIncidents: IncidentRates;
  /** A runner process starting with its JIT config until GitHub assigns it a job. */
  readonly runnerConnect: Distribution;
  /** POST …/generate-jitconfig. */
  readonly jitMint: Distribution;
  readonly runInstances: Distribution;
  readonly createFleet: Distribution;
  readonly startInstances: Distribution;
  readonly pendingToRunning: Distribution;
  readonly osBoot: Distribution;
  /** Added to the first boot of a freshly launched instance, whose volume loads lazily from its snapshot. */
  readonly coldBootExtra: Distribution;
  /**
   * How much longer a job runs on an instance whose disk was not pre-warmed (a fresh volume loads its
   * blocks lazily from the snapshot; container images not pre-pulled).
   */
  readonly coldDiskPenalty: Distribution;
  /** Pool instance first boot: read the whole root volume (EBS hydration), pre-pull images. */
  readonly warmUp: Distribution;
  /** The guest powering off until EC2 reports it stopped (or terminated). */
  readonly shutdown: Distribution;
  /** EC2 state-change event → EventBridge → the lifecycle handler. */
  readonly stateChangeEvent: Distribution;
  /** API Gateway + Lambda invocation overhead before the handler's first line. */
  readonly handlerOverhead: Distribution;
  readonly dynamoDbCall: Distribution;
  readonly ssmCall: Distribution;
  /** GitHub REST calls other than the JIT mint (list runners, delete runner, get job, deliveries). */
  readonly gitHubCall: Distribution;
  /** TerminateInstances, ModifyInstanceAttribute, DescribeInstances, launch template look-ups. */
  readonly ec2OtherCall: Distribution;
  /** The agent's pause between two reads of its JIT config (ami/agent/wpr-agent.sh: 1 s + jitter). */
  readonly jitPoll: Distribution;
  /** How long the agent waits for its JIT config before powering off (wpr-agent.sh default). */
  readonly jitGraceSeconds: number;
  /** GitHub's secondary limit on JIT config mints per App, per sliding minute. */
  readonly jitMintsPerMinute: number;
  /** Chance per hour that EC2 reclaims a running spot instance (with its two-minute warning). */
  readonly spotInterruptionPerHour: number;
}

export const referenceTimings: Timings = {
  // REFERENCE (carbonrunner.io/stats, measured): p50 2 s, p90 3 s; steady-state p95 < 60 s. A
  // log-normal body (median 2 s, p90 2.7 s) and a 1 % independent tail around a minute (ASSUMPTION);
  // the rest of the measured tail (p95 143–162 s) comes from the incidents below.
  webhookDelivery: mixture(lognormal(2, 0.236, { min: 0.3 }), lognormal(60, 0.8, { max: 900 }), 0.01),
  // ASSUMPTION calibrated to the REFERENCE figures above: see webhook-delivery.ts.
  webhookIncidents: referenceIncidents,
  // REFERENCE (depot.dev): mean 3.7 s, p99 9–39 s. Log-normal median 3.09 s, sigma 0.6: mean 3.7 s,
  // p99 12.5 s.
  runnerConnect: lognormal(3.09, 0.6, { max: 60 }),
  // REFERENCE (carbonrunner.io, measured): ~0.7 s.
  jitMint: lognormal(0.7, 0.2),
  // REFERENCE (daemonology.net; brevdev/ec2-coldboot-research): RunInstances 1.5–4.8 s; CreateFleet
  // (instant) is a RunInstances underneath.
  runInstances: uniform(1.5, 4.8),
  createFleet: uniform(1.5, 4.8),
  // REFERENCE (same sources): StartInstances 1.8–2 s.
  startInstances: uniform(1.8, 2),
  // REFERENCE (daemonology.net; brevdev): ~5 s, coarse upper bound 16–18 s.
  pendingToRunning: lognormal(5, 0.4, { min: 2, max: 18 }),
  // REFERENCE (depot.dev; martysweet.co.uk): 2.8–9 s tuned/untuned. No claim that our image is the
  // tuned end: uniform over the whole range.
  osBoot: uniform(2.8, 9),
  // REFERENCE (brevdev/ec2-coldboot-research): fresh launch ~25 s against a stopped start ~21 s. Of that
  // 4 s gap, the API calls explain ~1.3 s (RunInstances mean 3.15 s against StartInstances 1.9 s); the
  // rest is the first boot reading a volume not yet hydrated.
  coldBootExtra: uniform(1.5, 4),
  // ASSUMPTION, swept 0–300 s in the report: no public per-job figure. AWS documents that a volume
  // created from a snapshot has "increased I/O latency" until every block is fetched from S3, at a rate
  // that "fluctuates" (the paid Provisioned Rate for Volume Initialization offers 100–300 MiB/s); Canva
  // cut a CI fleet's agent start-up 27 → 8 min by baking caches into the image. A job that reads
  // 3–6 GB of toolchains and caches at tens of MB/s, or pulls an image of a GB, loses 0.5–2 min.
  coldDiskPenalty: uniform(30, 120),
  // ASSUMPTION: hydrating a 30 GB gp3 root volume at its 125 MB/s baseline takes ~4 min; pre-pulls vary.
  warmUp: uniform(150, 330),
  // ASSUMPTION: a systemd poweroff of a small image.
  shutdown: uniform(4, 12),
  // ASSUMPTION: EventBridge delivers EC2 state changes within about a second.
  stateChangeEvent: lognormal(0.8, 0.5, { max: 30 }),
  // ASSUMPTION: a warm Lambda behind an HTTP API.
  handlerOverhead: uniform(0.01, 0.05),
  // ASSUMPTION: DynamoDB single-digit milliseconds.
  dynamoDbCall: uniform(0.003, 0.012),
  // ASSUMPTION: Parameter Store reads and writes.
  ssmCall: uniform(0.02, 0.08),
  // ASSUMPTION: GitHub REST round trips.
  gitHubCall: uniform(0.2, 0.6),
  // ASSUMPTION: EC2 control-plane calls other than launches and starts.
  ec2OtherCall: uniform(0.3, 1),
  jitPoll: uniform(1, 1.5),
  jitGraceSeconds: 60,
  // REFERENCE (GitHub docs, secondary rate limits): 900 points a minute per endpoint, a POST costs 5.
  jitMintsPerMinute: 180,
  // ASSUMPTION: AWS's Spot Instance Advisor puts common large types in the "< 5 %" interruption band
  // (capacity reclaimed over the trailing month); read as 5 % of instances over a ten-hour life.
  spotInterruptionPerHour: 0.005,
};
