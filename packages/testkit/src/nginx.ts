/**
 * @module A real nginx serving HTTPS with a key kept in the HSM, for the
 * OpenSSL engine's and provider's TLS-offload tests (the Azure Cloud HSM
 * guides' nginx set-up): its configuration, start-up until both workers run,
 * and a stop that leaves no worker behind.
 *
 * What differs between the two is only the main context: the engine names
 * itself (`ssl_engine …`) and the variables the workers keep (`env …`), the
 * provider is loaded from the OpenSSL configuration nginx reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './cluster.js';

/** The nginx binary, if installed (Debian package nginx). */
export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => existsSync(p));

export interface NginxOptions {
  /** Its own directory (created): nginx.conf, pid, error.log, temp paths. */
  readonly dir: string;
  /** The certificate chain and the key (an HSM key reference or a store URI) it serves with. */
  readonly cert: string;
  readonly key: string;
  /** Lines of the main context before `events`: `ssl_engine …;`, `env …;`. */
  readonly main: readonly string[];
  /** The working directory (where azcloudhsm_application.cfg is, as the guide's `cd /etc/nginx`). */
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Nginx {
  readonly port: number;
  readonly dir: string;
  readonly proc: ChildProcess;
  /** What nginx printed and its error log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** The configuration: two workers, one TLS 1.2/1.3 server on 127.0.0.1:`port` answering 200, no session resumption. */
export function nginxConf(o: Pick<NginxOptions, 'dir' | 'cert' | 'key' | 'main'>, port: number): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(o.dir, 'tmp', t)};`);
  return [
    'daemon off;',
    'master_process on;',
    'worker_processes 2;',
    'user root;',
    `pid ${join(o.dir, 'nginx.pid')};`,
    `error_log ${join(o.dir, 'error.log')} info;`,
    ...o.main,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    ...temp,
    '  server {',
    `    listen 127.0.0.1:${port} ssl;`,
    '    server_name localhost;',
    `    ssl_certificate ${o.cert};`,
    `    ssl_certificate_key ${o.key};`,
    '    ssl_protocols TLSv1.2 TLSv1.3;',
    '    ssl_session_cache off;',
    '    ssl_session_tickets off;',
    '    location / { return 200 "hello from an HSM key\\n"; }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Children of a process (nginx workers), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Start nginx on a free port and wait (at most 15 s) until both workers run; throws with its log otherwise. */
export async function startNginx(o: NginxOptions): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed (Debian package nginx; .ci/run installs it)');
  mkdirSync(join(o.dir, 'tmp'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(o.dir, 'nginx.conf'), nginxConf(o, port));
  const proc = spawn(NGINX, ['-p', o.dir, '-e', join(o.dir, 'error.log'), '-c', join(o.dir, 'nginx.conf')], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const log = () => out + (existsSync(join(o.dir, 'error.log')) ? readFileSync(join(o.dir, 'error.log'), 'utf8') : '');
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const workers = proc.pid ? childrenOf(proc.pid) : [];
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    for (const w of workers) {
      try {
        process.kill(w, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}:\n${log()}`);
    if (log().includes('start worker processes') && (proc.pid ? childrenOf(proc.pid).length : 0) >= 2) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not start:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, dir: o.dir, proc, log, stop };
}
