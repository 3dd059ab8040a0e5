/**
 * Per-App GitHub budgets as CloudWatch metrics, for a deployment of several Apps: each (App, owner)
 * pair's requests left in GitHub's hourly window, whether it is being skipped for a rate limit, and the
 * JIT configs it minted. Each container sees only the answers its own calls got, so the figures are
 * per container; at most one report a minute per container keeps the log volume flat under a burst.
 */
import type { ControlPlane } from './control-plane.js';

/** How often one container reports its budgets. */
export const budgetReportIntervalMs = 60_000;

const lastReport = new WeakMap<ControlPlane, { at: number; mints: Map<string, number> }>();

export function reportGitHubBudgets(plane: ControlPlane): void {
  if (plane.githubBudgets === undefined) return;
  const { metrics, clock } = plane.deps;
  const now = clock.now();
  const last = lastReport.get(plane);
  if (last !== undefined && now - last.at < budgetReportIntervalMs) return;
  const mints = new Map<string, number>();
  for (const budget of plane.githubBudgets()) {
    const dimensions = { App: budget.app, Owner: budget.owner };
    const key = `${budget.app}/${budget.installation}`;
    if (budget.remaining !== undefined)
      metrics.gauge('GitHubRequestsRemaining', budget.remaining, dimensions);
    metrics.gauge(
      'GitHubAppThrottled',
      budget.throttledUntil !== undefined && budget.throttledUntil > now ? 1 : 0,
      dimensions,
    );
    // Mints since this container's last report: summed over containers, the App's mint rate.
    metrics.count('GitHubAppMints', budget.mints - (last?.mints.get(key) ?? 0), dimensions);
    mints.set(key, budget.mints);
  }
  lastReport.set(plane, { at: now, mints });
}
