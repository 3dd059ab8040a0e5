/**
 * Serving the jobs that wait on a quota (see quotas.ts) once their repository or organization has a
 * unit free: after an instance that held one is given up (the completed job's recycle, a stopped or
 * terminated instance) and, as a backstop, on every reconciler run.
 *
 * Each counter lists its waiting jobs; those are tried oldest (lowest GitHub job id) first, through
 * the ordinary provisioning, which takes the unit with the same conditional write as a webhook does —
 * so a waking job and a fresh webhook racing for the unit never both get it. A counter stops at its
 * first job still refused (the quota is full again); a job that no longer waits (completed, served,
 * gone) leaves the list.
 */
import type { CoreDeps } from './deps.js';
import type { PoolConfig, PoolsConfig } from './pool-config.js';
import { hasQuotas, waitKeyOf } from './quotas.js';
import { provisionForJob } from './workflow-job.js';

export interface ServeWaitingOptions {
  /** Epoch ms after which no job is started. */
  readonly deadline: number;
  /** Most jobs served by this call (event paths: a few; the reconciler: more). */
  readonly limit: number;
}

/** Serves waiting jobs of a pool's counters; returns how many got a runner. */
export async function serveWaitingJobs(
  deps: CoreDeps,
  config: PoolsConfig,
  pool: PoolConfig,
  options: ServeWaitingOptions,
): Promise<number> {
  if (!hasQuotas(pool)) return 0;
  const counters = (await deps.store.listQuotas(pool.name)).filter((c) => c.waiting.length > 0);
  let served = 0;
  for (const counter of counters)
    for (const jobId of counter.waiting) {
      if (served >= options.limit || deps.clock.now() >= options.deadline) return served;
      const job = await deps.store.getJob(jobId);
      if (job === undefined || job.state !== 'queued' || waitKeyOf(job) !== counter.key) {
        await deps.store.stopWaitingOnQuota(pool.name, counter.key, jobId);
        continue;
      }
      const outcome = await provisionForJob(deps, { config, deadline: options.deadline }, pool, job);
      if (outcome.kind !== 'provisioned') break; // still over a quota (or no capacity): the next run
      served++;
    }
  if (served > 0) deps.metrics.count('QuotaWaitersServed', served, { Pool: pool.name });
  return served;
}
