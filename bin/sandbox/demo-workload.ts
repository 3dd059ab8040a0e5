/**
 * The demo workload `npm start` drives through the GitHub emulator: a compressed workday for the
 * default pools, written so that a newcomer sees every part of the control plane at work in a few
 * minutes — the schedule raising a pool at 08:00, matrix bursts draining the warm pool and the
 * ladder falling back to spot, cancellations, an EC2 capacity shortage in one zone (other zone,
 * resize, spot), a lost webhook recovered by the reconciler, and the pools refilling in the evening.
 * The x64 pool keeps a hot tier in working hours: two registered idle runners that take the first
 * jobs of each burst at once, refilled as they are taken.
 *
 * Repeatable: every choice the workload makes (arrival times, labels, durations, which live jobs to
 * cancel) comes from a PRNG seeded by `seed`; the timeline is in the sandbox clock's time, so `speed`
 * only compresses it.
 * What the control plane does with the jobs (which instance is claimed, races) is its own business.
 *
 * It narrates from what the store says (targets, drained and refilled pools, fallbacks), not from
 * what it expects, so the lines a human reads are facts.
 */
import { hotMarker } from '../../scheduler/core/hot-tier.js';
import type { PoolsConfig } from '../../scheduler/core/pool-config.js';
import type { InstanceRecord, JobRecord } from '../../scheduler/core/types.js';
import { type PoolSummary, summarizePools } from '../cli/state-snapshot.js';
import type { ScaledClock } from './scaled-clock.js';
import { seededRandom } from './seeded-random.js';
import type { Sandbox } from './stack.js';

export interface DemoOptions {
  readonly sandbox: Sandbox;
  readonly clock: ScaledClock;
  readonly seed: number;
  /** One human-readable line per event. */
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Time zone of the clock shown in the log lines (the schedule's). */
  readonly timeZone?: string;
  /** Sandbox-clock ms between status lines; 0 turns them off. */
  readonly statusEveryMs?: number;
  /** Wall-clock ms between looks at the store. */
  readonly observeEveryMs?: number;
  /** The day to play: the full day (about four minutes of the sandbox clock) or the short one. */
  readonly day?: 'full' | 'short';
}

export interface DemoReport {
  readonly aborted: boolean;
  readonly jobsQueued: number;
  readonly jobsCompleted: number;
  readonly cancelled: number;
  /** Runner sources of the jobs the control plane provided for. */
  readonly sources: Record<string, number>;
  /** Jobs by the tier of the runner that took them (hot: an idle registered runner took it at once). */
  readonly tiers: Record<string, number>;
  /** Pools whose warm pool ran empty while jobs were in flight. */
  readonly drained: string[];
  /** Pools back at their target (ready, nothing warming) when the day ended. */
  readonly refilled: string[];
  /** The job whose webhook was dropped, and whether the reconciler brought it back. */
  readonly lostWebhook?: { readonly jobId: number; readonly recovered: boolean };
  /** Sandbox-clock ms from the first job to the end. */
  readonly durationMs: number;
}

const x64 = ['self-hosted', 'linux', 'x64'] as const;
const arm64 = ['self-hosted', 'linux', 'arm64'] as const;
const repositories = ['api', 'web', 'mobile', 'infra', 'data'] as const;

type Labels = readonly string[];

export interface PlannedJob {
  readonly labels: Labels;
  /** How long the job runs, in the sandbox clock's time. */
  readonly duration: number;
}

/** One thing that happens during the day, `at` sandbox-clock ms after the first job. */
export type DemoEvent = { readonly at: number } & (
  | {
      readonly kind: 'jobs';
      readonly repo: string;
      readonly workflow: string;
      readonly jobs: readonly PlannedJob[];
      readonly note?: string;
    }
  /** Cancels up to `count` live jobs, those still queued first. */
  | { readonly kind: 'cancel'; readonly count: number }
  | { readonly kind: 'capacity-out'; readonly instanceType: string; readonly availabilityZone: string }
  | { readonly kind: 'capacity-back' }
  | { readonly kind: 'lose-webhook'; readonly repo: string; readonly job: PlannedJob }
);

/**
 * The day, from the seeded random source alone: single pushes all day (one every ~7 s, mostly x64),
 * four matrix bursts, cancellations, a capacity shortage in one zone and a lost webhook. `scale`
 * shortens the day and its jobs alike (the tests play half a day).
 */
export function planDay(random: () => number, scale = 1): DemoEvent[] {
  const s = 1_000 * scale;
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const events: DemoEvent[] = [];
  // Exponential gaps: arrivals of independent pushes.
  const gap = () => Math.max(500, Math.round(-Math.log(1 - random()) * 7 * s));
  for (let at = gap(); at < 200 * s; at += gap()) {
    const labels = random() < 0.7 ? x64 : arm64;
    const job = { labels, duration: between(20 * s, 60 * s) };
    const repo = repositories[Math.floor(random() * repositories.length)] as string;
    events.push({ at, kind: 'jobs', repo, workflow: 'push', jobs: [job] });
  }
  const matrix = (labels: Labels, size: number, min: number, max: number) =>
    Array.from({ length: size }, () => ({ labels, duration: between(min * s, max * s) }));
  events.push(
    {
      at: 30 * s,
      kind: 'jobs',
      repo: 'api',
      workflow: 'test matrix',
      jobs: matrix(x64, 20, 30, 90),
      note: 'burst: acme/api opens a pull request — a test matrix of 20 linux-x64 jobs',
    },
    { at: 45 * s, kind: 'cancel', count: 3 },
    { at: 75 * s, kind: 'capacity-out', instanceType: 'm7i.large', availabilityZone: 'us-east-1a' },
    {
      at: 80 * s,
      kind: 'jobs',
      repo: 'web',
      workflow: 'build matrix',
      jobs: matrix(x64, 10, 30, 60),
      note: 'burst: acme/web — a build matrix of 10 linux-x64 jobs',
    },
    {
      at: 90 * s,
      kind: 'jobs',
      repo: 'mobile',
      workflow: 'arm64 builds',
      jobs: matrix(arm64, 6, 30, 60),
      note: 'burst: acme/mobile — 6 linux-arm64 jobs',
    },
    { at: 125 * s, kind: 'capacity-back' },
    { at: 130 * s, kind: 'lose-webhook', repo: 'infra', job: { labels: x64, duration: 20 * s } },
    {
      at: 160 * s,
      kind: 'jobs',
      repo: 'data',
      workflow: 'etl matrix',
      jobs: matrix(x64, 8, 20, 45),
      note: 'burst: acme/data — a matrix of 8 linux-x64 jobs',
    },
  );
  return events.sort((a, b) => a.at - b.at);
}

/**
 * A short day for quick checks (the tests): one burst larger than the warm pool, a cancellation, a
 * capacity shortage with a burst during it, and a lost webhook — about a minute of the sandbox clock.
 */
export function shortDay(random: () => number): DemoEvent[] {
  const s = 1_000;
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const jobs = (labels: Labels, n: number) =>
    Array.from({ length: n }, () => ({ labels, duration: between(10 * s, 20 * s) }));
  const events: DemoEvent[] = [
    { at: 0, kind: 'jobs', repo: 'web', workflow: 'push', jobs: jobs(x64, 1) },
    { at: 2 * s, kind: 'jobs', repo: 'mobile', workflow: 'push', jobs: jobs(arm64, 1) },
    {
      at: 5 * s,
      kind: 'jobs',
      repo: 'api',
      workflow: 'test matrix',
      jobs: jobs(x64, 10),
      note: 'burst: acme/api — a test matrix of 10 linux-x64 jobs',
    },
    { at: 8 * s, kind: 'cancel', count: 1 },
    { at: 12 * s, kind: 'capacity-out', instanceType: 'm7i.large', availabilityZone: 'us-east-1a' },
    {
      at: 13 * s,
      kind: 'jobs',
      repo: 'data',
      workflow: 'etl matrix',
      jobs: jobs(x64, 4),
      note: 'burst: acme/data — 4 linux-x64 jobs',
    },
    { at: 20 * s, kind: 'capacity-back' },
    { at: 22 * s, kind: 'lose-webhook', repo: 'infra', job: { labels: x64, duration: 10 * s } },
  ];
  return events;
}

interface Step {
  /** Sandbox-clock ms after the workload starts. */
  readonly at: number;
  readonly run: () => Promise<void> | void;
}

export class DemoAbortedError extends Error {
  override readonly name = 'DemoAbortedError';
}

export async function runDemoWorkload(options: DemoOptions): Promise<DemoReport> {
  const demo = new DemoRun(options);
  try {
    return await demo.run();
  } catch (error) {
    if (error instanceof DemoAbortedError) return demo.report(true);
    throw error;
  } finally {
    demo.stop();
  }
}

class DemoRun {
  private readonly random: () => number;
  private readonly clock: ScaledClock;
  private readonly sandbox: Sandbox;
  private readonly jobIds: number[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly drained = new Set<string>();
  private readonly draining = new Set<string>();
  private readonly targets = new Map<string, number>();
  private readonly firstTargets = new Map<string, number>();
  private readonly format: Intl.DateTimeFormat;
  private cancelled = 0;
  private lostWebhook: { jobId: number; recovered: boolean } | undefined;
  private startedAt = 0;
  private observer: NodeJS.Timeout | undefined;
  private observing = false;
  private lastStatusAt = 0;
  private pools: PoolSummary[] = [];
  private readonly hotOnline = new Set<string>();

  constructor(private readonly options: DemoOptions) {
    this.random = seededRandom(options.seed);
    this.clock = options.clock;
    this.sandbox = options.sandbox;
    this.format = new Intl.DateTimeFormat('en-GB', {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      ...(options.timeZone !== undefined && { timeZone: options.timeZone }),
    });
  }

  async run(): Promise<DemoReport> {
    this.say('demo: waiting for the warm pools to fill (launch, warm up, power off)…');
    this.observe();
    // The size each pool had when the demo started: a target raised meanwhile is part of the show.
    const initial = () => this.pools.every((p) => p.ready >= (this.firstTargets.get(p.name) ?? p.target));
    await this.until(() => this.pools.length > 0 && initial(), 120_000);
    this.startedAt = this.clock.now();
    this.say(`demo: pools warm — ${this.pools.map((p) => `${p.name} ${p.ready} ready`).join(', ')}`);
    this.say(`demo: the workday begins (seed ${this.options.seed}, ×${this.clock.speed} speed)`);

    const steps = this.steps();
    for (const step of steps) {
      await this.sleepUntil(step.at);
      this.track(Promise.resolve().then(step.run));
    }
    await this.settleJobs();
    this.say('demo: evening — no more jobs; waiting for every job to finish and the pools to refill…');
    await this.until(
      () => this.allJobsDone() && this.pools.every((p) => p.ready >= p.target && p.warming === 0),
      240_000,
    );
    const report = await this.report(false);
    this.say(
      `demo: day over — ${report.jobsCompleted} jobs done (${report.cancelled} cancelled); runners from ` +
        Object.entries(report.sources)
          .map(([source, n]) => `${source} ${n}`)
          .join(', ') +
        `; picked up by tier: ${
          Object.entries(report.tiers)
            .map(([tier, n]) => `${tier} ${n}`)
            .join(', ') || 'none recorded'
        }`,
    );
    return report;
  }

  stop(): void {
    if (this.observer !== undefined) clearInterval(this.observer);
  }

  async report(aborted: boolean): Promise<DemoReport> {
    const jobs = await this.jobRecords();
    const sources: Record<string, number> = {};
    for (const job of jobs)
      if (job.source !== undefined) sources[job.source] = (sources[job.source] ?? 0) + 1;
    const tiers: Record<string, number> = {};
    for (const job of jobs)
      if (job.pickupTier !== undefined) tiers[job.pickupTier] = (tiers[job.pickupTier] ?? 0) + 1;
    return {
      aborted,
      jobsQueued: this.jobIds.length,
      jobsCompleted: this.jobIds.filter((id) => this.sandbox.github.jobState(id)?.status === 'completed')
        .length,
      cancelled: this.cancelled,
      sources,
      tiers,
      drained: [...this.drained],
      refilled: this.pools.filter((p) => p.ready >= p.target && p.warming === 0).map((p) => p.name),
      ...(this.lostWebhook !== undefined && { lostWebhook: { ...this.lostWebhook } }),
      durationMs: this.startedAt === 0 ? 0 : this.clock.now() - this.startedAt,
    };
  }

  /** The plan's events, each run at its time without waiting for the ones before it to finish. */
  private steps(): Step[] {
    const plan = this.options.day === 'short' ? shortDay(this.random) : planDay(this.random);
    return plan.map((event) => ({
      at: event.at,
      run: () => this.perform(event),
    }));
  }

  private async perform(event: DemoEvent): Promise<void> {
    switch (event.kind) {
      case 'jobs':
        if (event.note !== undefined) this.say(event.note);
        await this.queue(event.repo, event.workflow, event.jobs);
        return;
      case 'cancel':
        return this.cancelSome(event.count);
      case 'capacity-out':
        this.sandbox.ec2.exhaustCapacity({
          instanceType: event.instanceType,
          availabilityZone: event.availabilityZone,
        });
        this.say(
          `EC2: ${event.instanceType} capacity runs out in ${event.availabilityZone} ` +
            '(InsufficientInstanceCapacity) — starts there fail; the ladder tries the other zone, a resize, then spot',
        );
        return;
      case 'capacity-back':
        this.sandbox.ec2.restoreCapacity();
        this.say('EC2: capacity is back');
        return;
      case 'lose-webhook':
        return this.loseAWebhook(event.repo, event.job);
    }
  }

  private async queue(repo: string, workflowName: string, jobs: readonly PlannedJob[]): Promise<number[]> {
    const { jobIds } = await this.sandbox.github.queueWorkflowRun({
      repository: { owner: 'acme', name: repo },
      workflowName,
      jobs: jobs.map((j) => ({
        labels: j.labels,
        // The runner runs in wall-clock time; the duration is in the sandbox clock's.
        durationMs: Math.round(this.clock.real(j.duration)),
      })),
    });
    this.jobIds.push(...jobIds);
    return jobIds;
  }

  /** Jobs cancelled, queued ones first, as developers do after a new push. */
  private async cancelSome(count: number): Promise<void> {
    const status = (id: number) => this.sandbox.github.jobState(id)?.status;
    const live = () => this.jobIds.filter((id) => status(id) === 'queued' || status(id) === 'in_progress');
    // A burst's job ids are known once GitHub has delivered its webhooks; on a busy machine that can be
    // after the moment planned for the cancellation, so wait for something to cancel a little while.
    await this.until(() => live().length > 0, 60_000);
    const queued = this.jobIds.filter((id) => status(id) === 'queued');
    const running = this.jobIds.filter((id) => status(id) === 'in_progress');
    const chosen = this.sample(queued, count);
    chosen.push(...this.sample(running, count - chosen.length));
    for (const id of chosen) {
      await this.sandbox.github.cancelJob(id);
      this.cancelled++;
    }
    if (chosen.length > 0)
      this.say(
        `GitHub: ${chosen.length} job(s) cancelled (${chosen.join(', ')}) — a new push superseded them`,
      );
  }

  /** The next webhook fails to arrive (GitHub records a 502); the reconciler redelivers it. */
  private async loseAWebhook(repo: string, job: PlannedJob): Promise<void> {
    let first = true;
    // Only the next delivery is dropped: the first draw is under the share, every later one above it.
    this.sandbox.github.dropDeliveries(0.5, {
      random: () => {
        const draw = first ? 0 : 1;
        first = false;
        return draw;
      },
    });
    const [jobId] = await this.queue(repo, 'deploy', [job]);
    this.sandbox.github.dropDeliveries(0);
    if (jobId === undefined) return;
    this.lostWebhook = { jobId, recovered: false };
    this.say(
      `GitHub: the queued webhook for job ${jobId} (acme/${repo} deploy) is lost in transit (502) — ` +
        'nothing reaches the control plane',
    );
    const store = this.sandbox.plane.deps.store;
    if (!(await this.until(async () => (await store.getJob(jobId)) !== undefined, 120_000))) return;
    this.lostWebhook = { jobId, recovered: true };
    this.say(`reconciler: found the failed delivery and redelivered it — job ${jobId} recorded and served`);
  }

  // ---- observing the store ----------------------------------------------------------------------

  private observe(): void {
    const every = this.options.observeEveryMs ?? 250;
    this.observer = setInterval(() => {
      if (this.observing) return;
      this.observing = true;
      this.look()
        .catch(() => undefined)
        .finally(() => {
          this.observing = false;
        });
    }, every);
    this.observer.unref();
  }

  private async look(): Promise<void> {
    const config: PoolsConfig = await this.sandbox.plane.configSource.load();
    const now = this.clock.now();
    const store = this.sandbox.plane.deps.store;
    const instances = await store.listLiveInstances();
    const hotRecords = new Map(
      await Promise.all(
        config.pools
          .filter((p) => p.hot !== undefined)
          .map(async (p) => [p.name, await store.getMarker(hotMarker(p.name))] as const),
      ),
    );
    this.pools = summarizePools(config, instances, now, { hotRecords });
    for (const pool of this.pools) {
      if (pool.hot !== undefined) {
        const online = pool.hot.idle >= pool.hot.target && pool.hot.target > 0;
        if (online && !this.hotOnline.has(pool.name))
          this.say(
            `hot tier: ${pool.name} has ${pool.hot.idle} registered idle runners (target ${pool.hot.target}) — ` +
              'the next jobs start at once, and each one taken is replaced',
          );
        if (online) this.hotOnline.add(pool.name);
        else if (pool.hot.target === 0) this.hotOnline.delete(pool.name);
      }
      if (!this.firstTargets.has(pool.name)) this.firstTargets.set(pool.name, pool.target);
      const before = this.targets.get(pool.name);
      if (before !== undefined && before !== pool.target)
        this.say(`schedule: ${pool.name} target ${before} → ${pool.target}`);
      this.targets.set(pool.name, pool.target);
      if (this.startedAt === 0) continue;
      if (pool.ready === 0 && pool.target > 0 && pool.busy > 0 && !this.draining.has(pool.name)) {
        const use = poolUse(pool.name, instances);
        this.draining.add(pool.name);
        if (use.jobs > 0) this.drained.add(pool.name);
        this.say(emptyPoolLine(pool, use));
      } else if (this.draining.has(pool.name) && pool.ready >= pool.target) {
        this.draining.delete(pool.name);
        this.say(`${pool.name}: refilled — ${pool.ready} of ${pool.target} ready`);
      }
    }
    const statusEvery = this.options.statusEveryMs ?? 20_000;
    if (statusEvery > 0 && this.startedAt !== 0 && now - this.lastStatusAt >= statusEvery) {
      this.lastStatusAt = now;
      this.say(await this.statusLine());
    }
  }

  private async statusLine(): Promise<string> {
    const jobs = await this.jobRecords();
    const by = (state: JobRecord['state']) => jobs.filter((j) => j.state === state).length;
    const fallbacks = jobs.filter((j) => j.source !== undefined && j.source !== 'pool').length;
    const pools = this.pools
      .map((p) => `${p.name} ${p.ready}/${p.target} ready, ${p.busy} busy, ${p.fallback} fallback`)
      .join(' · ');
    return (
      `status: ${pools} · jobs ${by('queued') + by('provisioned')} waiting, ${by('running')} running, ` +
      `${by('completed')} done · ${fallbacks} from fallbacks`
    );
  }

  private async jobRecords(): Promise<JobRecord[]> {
    const store = this.sandbox.plane.deps.store;
    const lists = await Promise.all(
      (['waiting', 'queued', 'provisioned', 'running', 'completed'] as const).map((s) => store.listJobs(s)),
    );
    return lists.flat();
  }

  // ---- time and randomness ----------------------------------------------------------------------

  private allJobsDone(): boolean {
    return this.jobIds.every((id) => this.sandbox.github.jobState(id)?.status === 'completed');
  }

  private async settleJobs(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work
      .catch((error: unknown) => {
        if (!(error instanceof DemoAbortedError))
          this.say(`demo: a step failed: ${(error as Error).message}`);
      })
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async sleepUntil(offsetMs: number): Promise<void> {
    const wait = this.startedAt + offsetMs - this.clock.now();
    if (wait > 0) await this.sleep(this.clock.real(wait));
  }

  /** Polls `condition` for up to `timeoutMs` of the sandbox clock; false when it never held. */
  private async until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const until = this.clock.now() + timeoutMs;
    while (!(await condition())) {
      if (this.clock.now() > until) {
        this.say('demo: gave up waiting; carrying on');
        return false;
      }
      await this.sleep(100);
    }
    return true;
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.options.signal;
    if (signal?.aborted) return Promise.reject(new DemoAbortedError('demo stopped'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new DemoAbortedError('demo stopped'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private sample<T>(list: readonly T[], n: number): T[] {
    const pool = [...list];
    const out: T[] = [];
    while (out.length < n && pool.length > 0)
      out.push(pool.splice(Math.floor(this.random() * pool.length), 1)[0] as T);
    return out;
  }

  private say(line: string): void {
    this.options.log(`${this.format.format(this.clock.now())}  ${line}`);
  }
}

/** What a pool's own instances that left `ready` are doing: running jobs, or waiting in the hot tier. */
export interface PoolUse {
  /** Claimed, starting or running for a job (or taken by one). */
  readonly jobs: number;
  /** Started for the hot tier and not yet taken by a job: registered idle runners, or on their way. */
  readonly hot: number;
}

export function poolUse(pool: string, instances: readonly InstanceRecord[]): PoolUse {
  const mine = instances.filter((i) => i.pool === pool && i.role === 'pool');
  const untakenHot = (i: InstanceRecord) =>
    i.tier === 'hot' &&
    ['claimed', 'starting', 'idle'].includes(i.state) &&
    i.servingJob === undefined &&
    i.jobStartedAt === undefined;
  return {
    hot: mine.filter(untakenHot).length,
    jobs: mine.filter((i) => ['claimed', 'starting', 'busy'].includes(i.state) && !untakenHot(i)).length,
  };
}

/**
 * The line for a pool whose ready instances are all gone: drained by jobs (later jobs fall back down the
 * ladder), or moved into the hot tier (a small pool refilling the tier is not a burst).
 */
export function emptyPoolLine(pool: Pick<PoolSummary, 'name' | 'target'>, use: PoolUse): string {
  const head = `${pool.name}: 0 of ${pool.target} ready`;
  if (use.jobs === 0)
    return (
      `${head} — all ${use.hot} went to the hot tier as registered idle runners, no job is waiting; ` +
      'the pool warms new ones, and a burst beyond the tier meanwhile goes down the ladder'
    );
  const hot = use.hot > 0 ? `, ${use.hot} in the hot tier` : '';
  return `${pool.name}: warm pool drained — 0 of ${pool.target} ready, ${use.jobs} on jobs${hot}; further jobs fall back down the ladder`;
}
