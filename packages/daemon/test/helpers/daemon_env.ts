/** An installation directory for an in-process daemon: the three cfg files, the cert dir, a log capture, app clients. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { ProtocolClient } from '../../../protocol/src/connection.js';
import type { DecodedNotice } from '../../../protocol/src/messages.js';
import { createLogger, type Logger } from '../../src/log.js';

export interface Install {
  readonly dir: string;
  readonly binDir: string;
  readonly certDir: string;
  readonly resourceCfg: string;
  readonly socketPath: string;
}

export function writeInstall(dir: string, o: {
  servers: { hostname: string; port?: number }[];
  poCrt?: string;
  app?: string[];
  client?: Record<string, unknown>;
}): Install {
  const binDir = join(dir, 'bin');
  const certDir = join(dir, 'cert');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(certDir, { recursive: true });
  if (o.poCrt) copyFileSync(o.poCrt, join(certDir, 'PO.crt'));
  const resourceCfg = join(binDir, 'azcloudhsm_resource.cfg');
  writeFileSync(resourceCfg, JSON.stringify({ servers: o.servers }));
  writeFileSync(join(binDir, 'azcloudhsm_application.cfg'), (o.app ?? ['DAEMON_ID=1', 'SOCKET_TYPE=UNIXSOCKET', 'PORT=1111']).join('\n') + '\n');
  writeFileSync(join(binDir, 'azcloudhsm_client.cfg'), JSON.stringify({
    connect_timeout_ms: 2000, request_timeout_ms: 2000, health_interval_ms: 100, health_timeout_ms: 1000,
    retry: { attempts: 3, backoff_ms: 10, deadline_ms: 3000 }, log_level: 'debug', ...o.client,
  }));
  return { dir, binDir, certDir, resourceCfg, socketPath: join(dir, 'run', 'azcloudhsm_client.sock') };
}

export function captureLogger(): { log: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  return { log, lines, text: () => lines.join('') };
}

export interface AppClient extends ProtocolClient {
  notices: DecodedNotice[];
}

export async function connectApp(path: string | { host: string; port: number }, name = 'test-app'): Promise<AppClient> {
  const socket = typeof path === 'string' ? net.connect(path) : net.connect(path.port, path.host);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const notices: DecodedNotice[] = [];
  const c = new ProtocolClient(socket, { name: 'daemon', onNotice: (n) => notices.push(n) }) as AppClient;
  c.notices = notices;
  await c.hello(name, { timeoutMs: 5000 });
  return c;
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
