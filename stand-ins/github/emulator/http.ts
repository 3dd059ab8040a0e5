/**
 * The emulator's HTTP plumbing: how a route is declared and matched, how an answer is written (with the
 * request id GitHub sends on every response), GitHub's error body, and page/Link-header pagination.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Context {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** The App the request authenticated as (its JWT, or the App of its installation token). */
  readonly appId: number;
  readonly installationId: number | undefined;
  /** Base for absolute URLs in Link headers: what the client called (proxy included), GHES prefix kept. */
  readonly base: string;
}

export type Handler = (ctx: Context) => Reply | Promise<Reply>;

export type RouteAuth = 'app-jwt' | 'installation-token';

export interface Route {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly auth: RouteAuth;
  readonly handler: Handler;
}

const docs = 'https://docs.github.com/rest';

export function route(method: string, template: string, auth: RouteAuth, handler: Handler): Route {
  const names: string[] = [];
  const source = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { method, template, pattern: new RegExp(`^${source}$`), names, auth, handler };
}

/** The first route that matches, with its path parameters decoded. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | undefined {
  for (const candidate of routes) {
    const match = candidate.method === method ? candidate.pattern.exec(path) : null;
    if (match) {
      const params = Object.fromEntries(
        candidate.names.map((n, i) => [n, decodeURIComponent(match[i + 1] ?? '')]),
      );
      return { route: candidate, params };
    }
  }
  return undefined;
}

export function error(status: number, message: string, headers?: Record<string, string>): Reply {
  return {
    status,
    body: { message, documentation_url: docs, status: String(status) },
    ...(headers ? { headers } : {}),
  };
}

export function writeReply(res: ServerResponse, reply: Reply): void {
  // Rate-limit headers come with the reply (limits.ts charges every authenticated request).
  const headers: Record<string, string> = {
    'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
    ...reply.headers,
  };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res
    .writeHead(reply.status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
    })
    .end(text);
}

export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function pageOf<T>(
  items: readonly T[],
  query: URLSearchParams,
): { page: T[]; next?: number; last: number } {
  const perPage = Math.min(Math.max(Number(query.get('per_page') ?? 30) || 30, 1), 100);
  const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
  const last = Math.max(Math.ceil(items.length / perPage), 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return page < last ? { page: slice, next: page + 1, last } : { page: slice, last };
}

export function linkHeader(
  base: string,
  path: string,
  query: URLSearchParams,
  rels: Record<string, Record<string, string>>,
): string {
  return Object.entries(rels)
    .map(([rel, overrides]) => {
      const q = new URLSearchParams(query);
      for (const [k, v] of Object.entries(overrides)) q.set(k, v);
      return `<${base}${path}?${q.toString()}>; rel="${rel}"`;
    })
    .join(', ');
}

/** A paged list's answer: the body, and the Link header when there is a next page. */
export function pagedReply(
  ctx: Context,
  path: string,
  body: unknown,
  paging: { next?: number; last: number },
): Reply {
  return {
    status: 200,
    body,
    ...(paging.next
      ? {
          headers: {
            link: linkHeader(ctx.base, path, ctx.query, {
              next: { page: String(paging.next) },
              last: { page: String(paging.last) },
            }),
          },
        }
      : {}),
  };
}
