import { describe, expect, it } from 'vitest';
import { budgetReportIntervalMs, reportGitHubBudgets } from '../../handlers/github-budget-metrics.js';
import type { InstallationBudget } from '../../scheduler/adapters/github-apps.js';
import type { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { fakePlane } from './support.js';

/** The last value of a gauge on these dimensions. */
function last(
  metrics: InMemoryMetrics,
  name: string,
  dimensions: Record<string, string>,
): number | undefined {
  return metrics.recorded
    .filter((m) => m.name === name && Object.entries(dimensions).every(([k, v]) => m.dimensions[k] === v))
    .at(-1)?.value;
}

describe('per-App GitHub budget metrics', () => {
  it("reports each (App, owner)'s requests left, whether it is throttled and its mints since the last report, once a minute", () => {
    let budgets: InstallationBudget[] = [];
    const base = fakePlane();
    const plane = { ...base, githubBudgets: () => budgets };
    const now = base.clock.now();
    const budget = (app: string, fields: Partial<InstallationBudget>): InstallationBudget => ({
      app,
      installation: app === 'main' ? 1 : 2,
      owner: 'acme',
      remaining: undefined,
      limit: undefined,
      resetAt: undefined,
      throttledUntil: undefined,
      mints: 0,
      throttled: 0,
      ...fields,
    });
    budgets = [
      budget('main', { remaining: 4_200, mints: 5 }),
      budget('mint2', { throttledUntil: now + 30_000, mints: 2 }),
    ];
    reportGitHubBudgets(plane);
    const main = { App: 'main', Owner: 'acme' };
    const mint2 = { App: 'mint2', Owner: 'acme' };
    expect(last(base.metrics, 'GitHubRequestsRemaining', main)).toBe(4_200);
    expect(last(base.metrics, 'GitHubAppThrottled', main)).toBe(0);
    expect(last(base.metrics, 'GitHubAppThrottled', mint2)).toBe(1);
    expect(base.metrics.total('GitHubAppMints', main)).toBe(5);

    budgets = [budget('main', { remaining: 4_100, mints: 9 }), budget('mint2', { mints: 2 })];
    reportGitHubBudgets(plane); // too soon: nothing new
    expect(base.metrics.total('GitHubAppMints', main)).toBe(5);
    base.clock.advance(budgetReportIntervalMs);
    reportGitHubBudgets(plane);
    expect(base.metrics.total('GitHubAppMints', main)).toBe(9); // 5 + the 4 since
    expect(last(base.metrics, 'GitHubAppThrottled', mint2)).toBe(0);
  });

  it('reports nothing for a single App', () => {
    const plane = fakePlane();
    reportGitHubBudgets(plane);
    expect(plane.metrics.total('GitHubAppMints', { App: 'main', Owner: 'acme' })).toBe(0);
  });
});
