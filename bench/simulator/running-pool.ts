/**
 * The running-idle-pool strategy (terraform-aws-github-runner's pool, ARC's minRunners), modelled
 * directly: it is another product's design, not this one's, so it does not run through our core.
 *
 * - The pool keeps `target` runners booted, registered and idle (the same schedule windows as the
 *   static stopped pool), on on-demand instances billed per second while they wait. A runner that takes
 *   a job is replaced at once (ARC keeps minRunners idle; it is the favourable reading for the strategy).
 * - GitHub hands a new job to an idle runner directly: the pickup is the runner's own connect-to-assign
 *   time, with no webhook on the path.
 * - A job that finds no idle runner waits; its webhook reaches the scale-up function, which launches one
 *   spot runner for it if the job is still queued then (terraform-aws-github-runner's scale-up with its
 *   queued-job check). A runner coming online takes the oldest queued job, else joins the idle runners;
 *   runners above the target are scaled down every minute. A job still waiting after a minute with no
 *   runner on its way gets one launched (the project's job-retry check, which starts from the job's
 *   webhook: a job whose webhook is held by an incident is not seen), as our reconciler does.
 * - Each runner registers with a JIT config before its instance is launched, within GitHub's secondary
 *   limit on mints (a refused one waits for the limit's window, as the scale-up's retry would).
 * - Runners are ephemeral: one job each, terminated when it ends. Their disks are not pre-warmed, so
 *   their jobs pay the cold-disk penalty.
 * Timings and prices are the same distributions the core-driven policies get.
 */
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import { scheduledSize } from '../../scheduler/core/schedule.js';
import type { Market } from '../../scheduler/core/types.js';
import type { Trace, TraceJob } from '../traces/trace.js';
import { Ledger } from './billing.js';
import { EventLoop } from './event-loop.js';
import type { JobOutcome, PolicyRun } from './outcome.js';
import type { Prices } from './prices.js';
import { seededRandom } from './random.js';
import type { Timings } from './reference-timings.js';
import { MintLimit } from './sim-ports.js';
import { type Outage, planIncidents, WebhookDelivery } from './webhook-delivery.js';

export interface RunningPoolOptions {
  readonly policy: string;
  readonly trace: Trace;
  /** The pool's schedule (sizes = idle runners kept). */
  readonly config: PoolsConfig;
  readonly seed: number;
  readonly timings: Timings;
  readonly prices: Prices;
  readonly start: number;
  readonly drainMs?: number;
  readonly webhookOutage?: Outage;
}

interface Runner {
  readonly id: string;
  readonly market: Market;
  readonly fromPool: boolean;
}

interface WaitingJob {
  readonly job: TraceJob;
  readonly index: number;
  /** Its `queued` webhook reached the scale-up function. */
  seen: boolean;
}

export async function runRunningPool(options: RunningPoolOptions): Promise<PolicyRun> {
  const began = performance.now();
  const { trace, timings } = options;
  const pool = options.config.pools[0];
  if (pool === undefined) throw new Error('running pool: the config has no pool');
  const loop = new EventLoop(options.start);
  const ledger = new Ledger(options.prices);
  const random = seededRandom(options.seed, `${options.policy}/world`);
  const disk = seededRandom(options.seed, `${options.policy}/disk`);
  const incidents = planIncidents(
    timings.webhookIncidents,
    { start: options.start, end: trace.end },
    seededRandom(options.seed, 'webhook-incidents'),
    options.webhookOutage,
  );
  const webhooks = new WebhookDelivery(
    timings.webhookDelivery,
    incidents,
    timings.webhookIncidents.drainSeconds,
  );
  const mints = new MintLimit(timings.jitMintsPerMinute);
  const idle: Runner[] = [];
  const waiting: WaitingJob[] = [];
  let booting = 0;
  /** Spot runners launched for waiting jobs and not yet online. */
  let scalingUp = 0;
  let nextId = 1;
  let completed = 0;
  const counters: Record<string, number> = {};
  const targets: [number, number][] = [];
  const outcomes: (JobOutcome | undefined)[] = trace.jobs.map(() => undefined);
  const count = (name: string, by = 1) => {
    counters[name] = (counters[name] ?? 0) + by;
  };

  const target = () => scheduledSize(pool, loop.now());

  const launch = (market: Market, fromPool: boolean) => {
    const runner: Runner = { id: `r-${nextId++}`, market, fromPool };
    if (fromPool) booting++;
    else scalingUp++;
    count(fromPool ? 'launched:pool' : `launched:${market}`);
    register(runner, market);
  };

  /** The runner's JIT config is minted within the secondary limit; its instance is launched at once. */
  const register = (runner: Runner, market: Market) => {
    if (!mints.take(loop.now())) {
      count('github:mint-secondary-limit');
      loop.at(mints.nextFree(loop.now()), () => register(runner, market));
      return;
    }
    // The mint itself overlaps the boot (the runner reads its config once the instance is up).
    const api = market === 'spot' ? timings.createFleet(random) : timings.runInstances(random);
    const { fromPool } = runner;
    loop.after(api, () => {
      ledger.open(runner.id, loop.now(), { market, volumeGb: pool.volumeSizeGb, category: 'idle' });
      loop.after(timings.pendingToRunning(random), () => {
        ledger.running(runner.id, loop.now());
        const boot = timings.osBoot(random) + timings.coldBootExtra(random);
        loop.after(boot + timings.runnerConnect(random), () => {
          if (fromPool) booting--;
          else scalingUp--;
          online(runner);
        });
      });
    });
  };

  /** Connected: takes the oldest queued job at once, or waits idle. */
  const online = (runner: Runner) => {
    const next = waiting.shift();
    if (next !== undefined) {
      assign(next, runner, loop.now(), false);
      return;
    }
    idle.push(runner);
  };

  const assign = (w: WaitingJob, runner: Runner, at: number, hit: boolean) => {
    ledger.setCategory(runner.id, at, 'job');
    ledger.served(runner.id);
    // A fresh instance: its volume loads from the snapshot as the job reads it.
    const penaltyS = timings.coldDiskPenalty(disk);
    const completedAt = at + (w.job.durationS + penaltyS) * 1000;
    outcomes[w.index] = {
      createdAt: w.job.createdAt,
      startedAt: at,
      ranOn: runner.fromPool ? 'pool' : runner.market === 'spot' ? 'spot' : 'on-demand',
      poolHit: hit,
      hotHit: hit,
      completedAt,
      workS: w.job.durationS,
      coldPenaltyS: penaltyS,
      market: runner.market,
    };
    loop.at(completedAt, () => {
      completed++;
      loop.after(timings.shutdown(random), () => ledger.close(runner.id, loop.now()));
    });
  };

  const topUp = () => {
    for (let n = idle.length + booting; n < target(); n++) launch('on-demand', true);
  };

  const arrive = (job: TraceJob, index: number) => {
    const runner = idle.shift();
    if (runner !== undefined) {
      // Handed to an idle runner by GitHub: only the runner's own pickup time.
      assign({ job, index, seen: true }, runner, loop.now() + timings.runnerConnect(random) * 1000, true);
      topUp();
      return;
    }
    const w: WaitingJob = { job, index, seen: false };
    waiting.push(w);
    const webhook = webhooks.delay(loop.now(), random) + timings.handlerOverhead(random);
    loop.after(webhook, () => {
      w.seen = true;
      if (waiting.includes(w)) launch('spot', false);
    });
  };

  /** Jobs seen waiting over a minute with fewer runners on their way than jobs: one more each. */
  const retry = () => {
    const stale = waiting.filter((w) => w.seen && loop.now() - w.job.createdAt > 60_000).length;
    const missing = Math.max(0, Math.min(stale, waiting.length - scalingUp - booting));
    for (let n = 0; n < missing; n++) launch('spot', false);
    count('retried', missing);
  };

  trace.jobs.forEach((job, index) => {
    loop.at(job.createdAt, () => arrive(job, index));
  });
  const drainUntil = trace.end + (options.drainMs ?? 6 * 3_600_000);
  let minute = 0;
  const scale = () => {
    topUp();
    if (minute++ % 2 === 0) retry();
    // Scale down idle runners above the target, newest first (the oldest keep their place).
    while (idle.length > target()) {
      const surplus = idle.pop();
      if (surplus !== undefined) ledger.close(surplus.id, loop.now());
    }
    counters.maxTarget = Math.max(counters.maxTarget ?? 0, target());
    targets.push([loop.now(), target()]);
    if (loop.now() < drainUntil) loop.after(60, scale);
  };
  loop.at(options.start, scale);
  await loop.run(drainUntil, () => completed >= trace.jobs.length && loop.now() >= trace.end);
  // A few minutes more, as for the core-driven policies: the last runners shut down.
  await loop.run(loop.now() + 5 * 60_000);
  const end = loop.now();
  const jobs = outcomes.filter((o): o is JobOutcome => o !== undefined);
  return {
    policy: options.policy,
    jobs,
    expectedJobs: trace.jobs.length,
    startedTwice: 0,
    bill: ledger.totals(end),
    start: options.start,
    end,
    counters,
    targets,
    events: loop.events,
    wallMs: performance.now() - began,
    incidents: {
      count: incidents.length,
      minutes: Math.round(incidents.reduce((sum, i) => sum + (i.to - i.from), 0) / 60_000),
    },
  };
}
