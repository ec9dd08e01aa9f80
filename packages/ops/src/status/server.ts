/**
 * @module `ochsm status --web`: the read-only status page on loopback.
 * Everything lives under a random path, `/<token>/`: the page, `app.js`,
 * `app.css`, `api/status` (the latest snapshot as JSON). The token keeps the
 * page (sign-in state, audit tail) from the host's other users, who can reach
 * loopback too; only whoever started it gets the URL. Anything but GET/HEAD
 * is refused; a Host header other than this loopback address is refused (no
 * DNS rebinding); the page loads nothing from elsewhere.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { CSS, HTML, JS } from './page.js';
import type { StatusCollector } from './collector.js';

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startStatusServer(collector: StatusCollector, opts: { port?: number; intervalMs?: number } = {}): Promise<StatusServer> {
  let port = 0;
  const token = randomBytes(16).toString('hex');
  const base = `/${token}/`;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const server = http.createServer((req, res) => {
    if (!allowedHosts().has(req.headers.host ?? '')) {
      res.writeHead(403, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('this page answers only on its loopback address\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
      return;
    }
    const url = (req.url ?? '/').split('?')[0]!;
    if (!url.startsWith(base)) {
      res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    const path = `/${url.slice(base.length)}`;
    const send = (type: string, body: string) => res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS }).end(req.method === 'HEAD' ? undefined : body);
    switch (path) {
      case '/': return send('text/html; charset=utf-8', HTML);
      case '/app.js': return send('text/javascript; charset=utf-8', JS);
      case '/app.css': return send('text/css; charset=utf-8', CSS);
      case '/api/status': {
        const s = collector.snapshot();
        if (!s) {
          res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1', ...SECURITY_HEADERS }).end('collecting the first sample\n');
          return;
        }
        return send('application/json', JSON.stringify(s));
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      await collector.sample();
    } catch {
      /* the next tick tries again; the page shows the last snapshot */
    }
    if (!stopped) timer = setTimeout(() => void tick(), opts.intervalMs ?? 2000);
  };
  await tick();
  return {
    url: `http://127.0.0.1:${port}${base}`,
    close: () => new Promise<void>((r) => {
      stopped = true;
      if (timer) clearTimeout(timer);
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
