/**
 * Why the figures are what they are: the pickup path of a pool hit and of a cold launch built up from
 * the medians of the reference timings, GitHub's webhook tail, and what a job served from a stopped
 * pool pays that a cold spot launch does not. Printed with the goals, so that a missed goal shows its
 * cause.
 */
import type { Trace } from '../traces/trace.js';
import { computeCost, type Prices, volumeCost } from './prices.js';
import { type Distribution, seededRandom } from './random.js';
import type { Timings } from './reference-timings.js';
import { type PolicySummary, percentile } from './report.js';

function sample(d: Distribution, n = 20_000): number[] {
  const random = seededRandom(1, 'explain');
  return Array.from({ length: n }, () => d(random)).sort((a, b) => a - b);
}

const median = (d: Distribution) => percentile(sample(d), 0.5);
const s = (v: number) => `${v.toFixed(1)} s`;
const usd = (v: number) => `$${v.toFixed(4)}`;

export function explain(
  timings: Timings,
  prices: Prices,
  trace: Trace,
  policies: Readonly<Record<string, PolicySummary>>,
  volumeSizeGb: number,
): string[] {
  const lines: string[] = [];
  const webhook = median(timings.webhookDelivery);
  const start = median(timings.startInstances);
  const fleet = median(timings.createFleet);
  const pending = median(timings.pendingToRunning);
  const boot = median(timings.osBoot);
  const cold = median(timings.coldBootExtra);
  const connect = median(timings.runnerConnect);
  const hit = start + pending + boot + connect;
  lines.push(
    `Pool hit, medians of the reference timings: StartInstances ${s(start)} + pending→running ${s(pending)} + OS boot ${s(boot)} + runner connect→assigned ${s(connect)} = ${s(hit)} after the webhook arrives, ${s(hit + webhook)} after created_at (webhook p50 ${s(webhook)}). A p50 of 10 s would need the EC2 and runner steps alone to take under 8 s.`,
  );
  lines.push(
    `Cold spot launch: CreateFleet ${s(fleet)} + pending→running ${s(pending)} + OS boot ${s(boot)} + cold first boot ${s(cold)} + connect ${s(connect)} = ${s(fleet + pending + boot + cold + connect)} after the webhook: the stopped pool saves ${s(fleet + cold - start)} at the median (brevdev: fresh ~25 s against stopped ~21 s).`,
  );
  const deliveries = sample(timings.webhookDelivery);
  const tail = deliveries.filter((d) => d > 60).length / deliveries.length;
  const incidents = timings.webhookIncidents;
  lines.push(
    `GitHub's webhooks: outside incidents ${(tail * 100).toFixed(1)} % of deliveries take over 60 s (p95 ${s(percentile(deliveries, 0.95))}); incidents (${incidents.perDay} a day on average, median ${incidents.medianMinutes} min) hold every delivery until they end, which puts ~5 % of deliveries minutes late and the whole distribution's p95 at ~150 s (carbonrunner.io). A webhook-driven control plane finds a job only when its webhook arrives or when a runner provided for another job takes it; a hot tier's idle runners take jobs with no webhook, and the instance's own job-started signal refills them.`,
  );
  const ours = policies.ours;
  if (ours?.lateWithTimelyWebhookShare !== undefined)
    lines.push(
      `Ours: ${(ours.over60sShare * 100).toFixed(1)} % of jobs waited over 60 s; ${(ours.lateWithTimelyWebhookShare * 100).toFixed(0)} % of those had their own webhook on time (their runner was taken by an older job whose webhook was late).`,
    );
  const tiered = policies.tiered;
  if (tiered !== undefined) {
    const hit = tiered.byHotHit.hit;
    const missed = tiered.byHotHit.missed;
    lines.push(
      `Tiered: ${(tiered.hotHitRate * 100).toFixed(0)} % of jobs were taken by an idle hot runner at once, at p50 ${s(hit.p50S)} — the runner's own connect → assigned time (reference median ${s(connect)}, depot.dev's mean 3.7 s), the floor of any pickup in this model, so a p50 ≤ 3 s needs that step under 3 s. The other ${(100 - tiered.hotHitRate * 100).toFixed(0)} % (bursts beyond the tier, jobs in the minutes before a refill lands) started at p50 ${s(missed.p50S)}, p95 ${s(missed.p95S)}: a warm start or a spot launch, or a refill that takes the oldest waiting job when it comes online.`,
    );
    lines.push(
      `Tiered's cost: ${usd(tiered.costPerJob)}/job, of which idle runners (the hot tier waiting, the small stopped pool) ${usd(tiered.cost.idle / Math.max(1, tiered.jobs))}; ${(tiered.coldDiskShare * 100).toFixed(0)} % of its jobs ran on a disk that was not pre-warmed (spot-filled hot runners), ${s(tiered.meanColdPenaltyS)} longer on average.`,
    );
  }
  const durations = trace.jobs.map((j) => j.durationS);
  const meanJob = durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length);
  const warm = sample(timings.warmUp).reduce((a, b) => a + b, 0) / 20_000;
  const premium = computeCost(prices, 'on-demand', meanJob + 30) - computeCost(prices, 'spot', meanJob + 30);
  const warmCost = computeCost(prices, 'on-demand', warm + pending);
  const waiting = ours === undefined ? 0 : ours.cost.idle / Math.max(1, ours.poolServed.jobs) - warmCost;
  lines.push(
    `A job served from a stopped pool pays, beyond a cold spot launch: the warm-up boot of the instance that replaces it (~${s(warm)} on-demand, ${usd(warmCost)}), its own run on on-demand instead of spot (mean job ${s(meanJob)}: ${usd(premium)} more), and its share of the pool's volumes while they wait${ours === undefined ? '' : ` (ours: ~${usd(Math.max(0, waiting))} per pool-served job; a ${volumeSizeGb} GB gp3 volume costs ${usd(volumeCost(prices, volumeSizeGb, 86_400))} a day)`}.`,
  );
  return lines;
}
