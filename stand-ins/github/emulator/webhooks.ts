/**
 * The Apps' webhooks: a job event goes to every App that has a webhook and is installed on the job's
 * owner, each delivery signed with that App's secret and carrying that App's installation id. Signed
 * workflow_job deliveries (HMAC-SHA256 over the body, GitHub's headers), each
 * recorded as a hook delivery as GitHub records it, including failures (dropped on purpose, receiver
 * down, 10 s timeout); the deliveries API (list with a cursor, redeliver the same body under the same
 * guid with `redelivery: true`; each App sees and redelivers only its own); and test controls to drop, hold, reorder and duplicate deliveries.
 *
 * Each job's webhooks go out in order (a per-job promise chain), and every send is tracked so `idle()`
 * can wait for all of them.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { workflowJobPayload } from '../workflow-job-payload.js';
import { type Context, error, isoSeconds, linkHeader, type Reply } from './http.js';
import type { DeliveryRecord, GitHubState, JobState } from './state.js';

export interface HeldDelivery {
  readonly guid: string;
  /** The App whose webhook the delivery is for. */
  readonly appId: number;
  readonly event: string;
  readonly action: string | null;
  readonly jobId: number | undefined;
}

interface OutgoingWebhook {
  readonly guid: string;
  readonly appId: number;
  readonly event: string;
  readonly action: string | null;
  readonly body: string;
  readonly installationId: number;
  readonly repositoryId: number | null;
  readonly jobId: number | undefined;
  readonly redelivery: boolean;
}

export interface WebhookTarget {
  readonly url: string;
  readonly secret: string;
}

/** One App's webhook: whether it has one, and where it goes (undefined: deliveries fail to connect). */
export interface AppHook {
  readonly appId: number;
  target: WebhookTarget | undefined;
}

export class Webhooks {
  private readonly hooks = new Map<number, AppHook>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private drop: { share: number; statusCode: number; random: () => number } | undefined;
  private held: OutgoingWebhook[] | undefined;
  closed = false;

  /** `hooks`: the Apps that have a webhook, in delivery order; other Apps get no deliveries. */
  constructor(
    private readonly state: GitHubState,
    hooks: readonly AppHook[],
    private readonly timeoutMs: number,
  ) {
    for (const hook of hooks)
      this.hooks.set(hook.appId, { appId: hook.appId, target: hook.target ? { ...hook.target } : undefined });
  }

  setTarget(appId: number, target: WebhookTarget | undefined): void {
    const hook = this.hooks.get(appId);
    if (hook === undefined) throw new Error(`App ${appId} has no webhook`);
    hook.target = target ? { ...target } : undefined;
  }

  /** Forgets drops and held deliveries (the delivery log is the state's). */
  reset(): void {
    this.drop = undefined;
    this.held = undefined;
  }

  /** Waits for every webhook send and redelivery in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Sends the job's event to every App with a webhook installed on the job's owner, after its earlier ones. */
  send(job: JobState, action: 'queued' | 'in_progress' | 'completed'): Promise<void> {
    const webhooks = [...this.hooks.values()].flatMap((hook) => {
      const installation = this.state.installationOf(hook.appId, job.repository.owner);
      return installation ? [this.webhook(job, action, hook.appId, installation.id)] : [];
    });
    job.chain = job.chain.then(async () => {
      await Promise.all(webhooks.map((webhook) => this.post(webhook)));
    });
    return this.track(job.chain);
  }

  private webhook(
    job: JobState,
    action: 'queued' | 'in_progress' | 'completed',
    appId: number,
    installationId: number,
  ): OutgoingWebhook {
    const payload = workflowJobPayload({
      action,
      job: {
        id: job.id,
        runId: job.runId,
        runAttempt: job.runAttempt,
        name: job.name,
        workflowName: job.workflowName,
        labels: job.labels,
        status: job.status === 'queued' || action === 'queued' ? 'queued' : action,
        conclusion: action === 'completed' ? job.conclusion : null,
        createdAt: isoSeconds(job.createdAt),
        startedAt: isoSeconds(job.startedAt ?? job.createdAt),
        completedAt: action === 'completed' && job.completedAt !== null ? isoSeconds(job.completedAt) : null,
        runnerId: action === 'queued' ? null : job.runnerId,
        runnerName: action === 'queued' ? null : job.runnerName,
        runnerGroupId: action === 'queued' ? null : job.runnerGroupId,
        runnerGroupName: action === 'queued' ? null : job.runnerGroupName,
      },
      repository: job.repository,
      installationId,
    });
    return {
      guid: randomUUID(),
      appId,
      event: 'workflow_job',
      action,
      body: JSON.stringify(payload),
      installationId,
      repositoryId: job.repository.id,
      jobId: job.id,
      redelivery: false,
    };
  }

  // ---- test controls ------------------------------------------------------------------------------

  dropDeliveries(share: number, options: { statusCode?: number; random?: () => number }): void {
    this.drop =
      share > 0
        ? { share, statusCode: options.statusCode ?? 502, random: options.random ?? Math.random }
        : undefined;
  }

  hold(): void {
    this.held ??= [];
  }

  heldDeliveries(): HeldDelivery[] {
    return (this.held ?? []).map(({ guid, appId, event, action, jobId }) => ({
      guid,
      appId,
      event,
      action,
      jobId,
    }));
  }

  async release(arrange: (held: HeldDelivery[]) => readonly HeldDelivery[]): Promise<void> {
    const held = this.held ?? [];
    this.held = undefined;
    const byGuid = new Map(held.map((h) => [h.guid, h]));
    const listed = held.map(({ guid, appId, event, action, jobId }) => ({
      guid,
      appId,
      event,
      action,
      jobId,
    }));
    for (const choice of arrange(listed)) {
      const webhook = byGuid.get(choice.guid);
      if (webhook) await this.post(webhook);
    }
  }

  async duplicate(guid: string): Promise<void> {
    const original = this.state.deliveries.find((d) => d.guid === guid);
    if (!original) throw new Error(`no delivery ${guid}`);
    await this.post({ ...original, redelivery: false });
  }

  // ---- the deliveries API ---------------------------------------------------------------------------

  /** The deliveries of the App whose JWT asks, newest first. */
  listDeliveries(ctx: Context): Reply {
    const perPage = Math.min(Math.max(Number(ctx.query.get('per_page') ?? 30) || 30, 1), 100);
    const cursor = ctx.query.get('cursor');
    const before = cursor?.startsWith('v1_') ? Number(cursor.slice(3)) : Number.POSITIVE_INFINITY;
    const status = ctx.query.get('status');
    const matching = [...this.state.deliveries]
      .filter((d) => d.appId === ctx.appId)
      .sort((a, b) => b.id - a.id)
      .filter((d) => d.id < before)
      .filter(
        (d) =>
          status === null ||
          (status === 'success'
            ? d.statusCode >= 200 && d.statusCode < 400
            : d.statusCode >= 400 && d.statusCode < 600),
      );
    const page = matching.slice(0, perPage);
    const last = page.at(-1);
    return {
      status: 200,
      body: page.map((d) => ({
        id: d.id,
        guid: d.guid,
        delivered_at: isoSeconds(d.deliveredAt),
        redelivery: d.redelivery,
        duration: d.duration,
        status: d.status,
        status_code: d.statusCode,
        event: d.event,
        action: d.action,
        installation_id: d.installationId,
        repository_id: d.repositoryId,
        throttled_at: null,
      })),
      ...(matching.length > perPage && last
        ? {
            headers: {
              link: linkHeader(ctx.base, '/app/hook/deliveries', ctx.query, {
                next: { cursor: `v1_${last.id}` },
              }),
            },
          }
        : {}),
    };
  }

  /** Redelivers one of the asking App's deliveries; another App's is not found. */
  async redeliver(appId: number, deliveryId: number): Promise<Reply> {
    const original = this.state.deliveries.find((d) => d.id === deliveryId && d.appId === appId);
    if (!original) return error(404, 'Not Found');
    await this.track(this.post({ ...original, redelivery: true }));
    return { status: 202, body: {} };
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  /** Sends one webhook (or holds or drops it) and records the delivery as GitHub would. */
  private async post(webhook: OutgoingWebhook): Promise<void> {
    if (this.held && !webhook.redelivery) {
      this.held.push(webhook);
      return;
    }
    const startedAt = Date.now();
    const record = (statusCode: number, status: string) => {
      const delivery: DeliveryRecord = {
        id: this.state.ids.delivery++,
        guid: webhook.guid,
        deliveredAt: this.state.now(),
        redelivery: webhook.redelivery,
        duration: (Date.now() - startedAt) / 1000,
        status,
        statusCode,
        event: webhook.event,
        action: webhook.action,
        appId: webhook.appId,
        installationId: webhook.installationId,
        repositoryId: webhook.repositoryId,
        body: webhook.body,
        jobId: webhook.jobId,
      };
      this.state.deliveries.push(delivery);
    };
    if (!webhook.redelivery && this.drop && this.drop.random() < this.drop.share) {
      record(this.drop.statusCode, `Invalid HTTP Response: ${this.drop.statusCode}`);
      return;
    }
    const target = this.hooks.get(webhook.appId)?.target;
    if (!target || this.closed) {
      record(502, 'failed to connect');
      return;
    }
    const signature = createHmac('sha256', target.secret).update(webhook.body).digest('hex');
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/emulator',
          'x-github-event': webhook.event,
          'x-github-delivery': webhook.guid,
          'x-github-hook-id': '1',
          'x-github-hook-installation-target-type': 'integration',
          'x-github-hook-installation-target-id': String(webhook.appId),
          'x-hub-signature-256': `sha256=${signature}`,
        },
        body: webhook.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await response.arrayBuffer();
      record(response.status, response.ok ? 'OK' : `Invalid HTTP Response: ${response.status}`);
    } catch (cause) {
      const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
      record(timedOut ? 504 : 502, timedOut ? 'timed out' : 'failed to connect');
    }
  }
}
