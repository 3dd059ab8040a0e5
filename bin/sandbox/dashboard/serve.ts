/**
 * Serves the dashboard: a static page (HTML, one script, one stylesheet, no build step) that polls
 * GET /api/state every second. Files are read once at mount; the routes are exact paths, as the
 * sandbox's router matches them.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Sandbox } from '../stack.js';

const assets = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/styles.css', file: 'styles.css', type: 'text/css; charset=utf-8' },
  { path: '/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
] as const;

export function mountDashboard(sandbox: Pick<Sandbox, 'route'>): void {
  for (const asset of assets) {
    const body = readFileSync(new URL(asset.file, import.meta.url));
    const send = (res: ServerResponse): void => {
      res
        .writeHead(200, {
          'content-type': asset.type,
          'cache-control': 'no-cache',
          // The page loads only its own files and talks only to this server.
          'content-security-policy':
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
          'x-content-type-options': 'nosniff',
        })
        .end(body);
    };
    sandbox.route('GET', asset.path, (_req, res) => send(res));
    if (asset.path === '/') sandbox.route('GET', '/index.html', (_req, res) => send(res));
  }
}
