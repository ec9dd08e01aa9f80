/**
 * @module The metrics endpoint: `GET /metrics` in the Prometheus text format
 * over plain HTTP, on loopback unless the operator names another address.
 *
 * Configuration: the environment variable `OCHSM_METRICS`: unset or empty,
 * off; `9471`, 127.0.0.1:9471; `host:port`, that address (`[::1]:9471` for
 * IPv6). Port 0 picks a free port; `OCHSM_METRICS_ADDR_FILE`, when set, names a
 * file that receives the bound `host:port` (so `ochsm status --web` finds it).
 * The installed systemd units turn it on for loopback (docs/operations.md).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import type { Registry } from 'prom-client';

export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

export class MetricsConfigError extends Error {}

export function parseMetricsAddress(value: string | undefined): MetricsAddress | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new MetricsConfigError(`OCHSM_METRICS must be a port or host:port (got "${v}")`);
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

export interface MetricsServer {
  readonly address: MetricsAddress;
  close(): Promise<void>;
}

export async function startMetricsServer(registry: Registry, addr: MetricsAddress, addrFile?: string): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting the metrics failed: ${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const a = server.address() as AddressInfo;
  const bound = { host: a.address, port: a.port };
  if (addrFile) writeFileSync(addrFile, `${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}\n`);
  return {
    address: bound,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Start the endpoint when OCHSM_METRICS asks for one; undefined when it is off. */
export async function startMetricsFromEnv(registry: Registry, env: NodeJS.ProcessEnv = process.env): Promise<MetricsServer | undefined> {
  const addr = parseMetricsAddress(env.OCHSM_METRICS);
  if (!addr) return undefined;
  return startMetricsServer(registry, addr, env.OCHSM_METRICS_ADDR_FILE || undefined);
}
