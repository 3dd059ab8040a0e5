/**
 * A webhook endpoint for tests: receives GitHub's POSTs on 127.0.0.1, checks X-Hub-Signature-256 over
 * the exact body with @octokit/webhooks-methods, and keeps what arrived. It answers `status` (200 unless
 * a test changes it), so a test can make deliveries fail at the receiver as well as at the sender.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verify } from '@octokit/webhooks-methods';

export interface ReceivedWebhook {
  readonly event: string;
  readonly deliveryId: string;
  readonly signatureValid: boolean;
  readonly body: string;
  readonly payload: Record<string, unknown> & {
    action?: string;
    workflow_job?: Record<string, unknown> & { id: number; runner_name: string | null };
  };
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  status = 200;
  private listeners: ((webhook: ReceivedWebhook) => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly secret: string,
  ) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = String(req.headers['x-hub-signature-256'] ?? '');
      const webhook: ReceivedWebhook = {
        event: String(req.headers['x-github-event'] ?? ''),
        deliveryId: String(req.headers['x-github-delivery'] ?? ''),
        signatureValid: signature !== '' && (await verify(secret, body, signature)),
        body,
        payload: JSON.parse(body) as ReceivedWebhook['payload'],
        headers: req.headers,
      };
      receiver?.received.push(webhook);
      for (const listener of receiver?.listeners ?? []) listener(webhook);
      res.writeHead(receiver?.status ?? 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}/workflow_job`, secret);
    return receiver;
  }

  /** Resolves with the first webhook (already received or to come) that satisfies the predicate. */
  next(predicate: (webhook: ReceivedWebhook) => boolean): Promise<ReceivedWebhook> {
    const seen = this.received.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const listener = (webhook: ReceivedWebhook) => {
        if (!predicate(webhook)) return;
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve(webhook);
      };
      this.listeners.push(listener);
    });
  }

  actions(jobId: number): string[] {
    return this.received
      .filter((w) => w.payload.workflow_job?.id === jobId)
      .map((w) => w.payload.action ?? '');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
