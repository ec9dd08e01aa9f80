/**
 * @module Bring up a local cluster of real node processes and claim it the
 * way the onboarding guide does (§1.5): getCertReq → sign with PO.key using
 * the real `openssl` → storeCert 4 → storeCert 8 → PRECO becomes CO → CU
 * created. Used by `ochsm up` and by the integration tests, so both exercise
 * the same path a user's first day takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtocolClient } from '../../protocol/src/connection.js';
import { openLocalPartition } from '../../hsm-node/src/local_partition.js';
import type { StoreConfig } from '../../hsm-node/src/store_config.js';
import { sqliteLockFree } from '../../store/src/sqlite.js';
import { signPartitionCsr, type OwnerFiles } from './pki.js';
import type { ProfileName } from '../../protocol/src/profiles.js';

const here = dirname(fileURLToPath(import.meta.url));
export const NODE_MAIN = resolve(here, '..', '..', 'hsm-node', 'src', 'main.js');
export const DAEMON_MAIN = resolve(here, '..', '..', 'daemon', 'src', 'main.js');

export const FACTORY = { user: 'admin', password: 'tenantadmin' } as const;
export const EXAMPLE_CO = { user: 'admin', password: 'adminpassword' } as const;
export const EXAMPLE_CU = { user: 'cu1', password: 'user1234' } as const;

export interface NodeProc {
  readonly id: number;
  /** The address the node listens on and is reached at (127.0.0.1 unless ClusterOptions.host says otherwise). */
  readonly host: string;
  readonly port: number;
  readonly config: string;
  readonly pidFile: string;
  proc: ChildProcess | undefined;
  /** The node's log lines (stderr) of its current run, the last 200,000 characters (attached runs only): for a test's diagnostics. */
  log: string;
}

/** How much of an attached node's log a NodeProc keeps. */
const NODE_LOG_KEEP = 200_000;

export interface ClusterOptions {
  /** Data bytes of one operation on every node (node config `maxDataBytes`); absent = the core's default. */
  readonly maxDataBytes?: number;
  /** Ports for nodes 1..n; 0 or absent picks free loopback ports. */
  readonly ports?: readonly number[];
  readonly nodes?: number;
  /** Run the ownership flow and create the example CU (default true). */
  readonly claim?: boolean;
  /** Extra environment for node processes, per node id (fault injection in tests). */
  readonly env?: (id: number) => Record<string, string>;
  /** Detach node processes and log to files (for `make run`); tests keep them attached. */
  readonly detached?: boolean;
  readonly users?: ReadonlyArray<{ user: string; password: string; role: 'CU' | 'CO' }>;
  /** Node ids already running (by their pid files): leave them alone. */
  readonly skip?: readonly number[];
  /** The store every node uses (default: the SQLite file under dir); per node id, so each may name its own etcd endpoint. */
  readonly store?: StoreConfig | ((id: number) => StoreConfig);
  /** The address of each node (default 127.0.0.1), e.g. inside its own network namespace. */
  readonly host?: (id: number) => string;
  /** node.json "partition" settings for every node (per-user quotas, lockout limit). */
  readonly partition?: Readonly<Record<string, number>>;
  /** Prefix of a node's command line (e.g. `ip netns exec ns1`). */
  readonly wrap?: (id: number) => string[];
  /** The partition profile chosen at initialisation (protocol/src/profiles.ts; default azure). */
  readonly profile?: ProfileName;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A protocol client to a node, TLS-verified against `ca` (PO.crt) or, unclaimed, unverified. */
export async function connectNode(port: number, ca?: string | Buffer, host = '127.0.0.1', localAddress?: string): Promise<ProtocolClient> {
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host, port, minVersion: 'TLSv1.3', ...(localAddress ? { localAddress } : {}),
      ...(ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  const c = new ProtocolClient(socket, { name: `node on port ${port}` });
  await c.hello('ochsm', { timeoutMs: 5000 });
  return c;
}

export class LocalCluster {
  readonly dir: string;
  readonly certDir: string;
  readonly runDir: string;
  readonly nodes: NodeProc[];
  private readonly opts: ClusterOptions;

  constructor(dir: string, nodes: NodeProc[], opts: ClusterOptions) {
    this.dir = dir;
    this.certDir = join(dir, 'cert');
    this.runDir = join(dir, 'run');
    this.nodes = nodes;
    this.opts = opts;
  }

  get poCrt(): Buffer {
    return readFileSync(join(this.certDir, 'PO.crt'));
  }

  node(id: number): NodeProc {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Start (or restart) one node and wait until it answers hello. */
  async startNode(id: number): Promise<void> {
    const n = this.node(id);
    const env = { ...process.env, ...(this.opts.env?.(id) ?? {}) };
    const argv = [...(this.opts.wrap?.(id) ?? []), process.execPath, ...nodeFlags(), NODE_MAIN, n.config, '--pid-file', n.pidFile];
    if (this.opts.detached) {
      const out = openSync(join(this.runDir, `hsm${id}.log`), 'a');
      n.proc = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: ['ignore', out, out] });
      n.proc.unref();
      closeSync(out);
    } else {
      n.proc = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
      n.log = '';
      n.proc.stderr!.on('data', (d: Buffer) => (n.log = (n.log + d.toString()).slice(-NODE_LOG_KEEP)));
      n.proc.once('exit', (code, sig) => {
        if (code && code !== 0) process.stderr.write(`node ${id} exited with ${code ?? sig}: ${n.log.slice(-4000)}\n`);
      });
    }
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const c = await connectNode(n.port, undefined, n.host);
        c.close();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`node ${id} did not start on port ${n.port}`);
        if (n.proc.exitCode !== null) throw new Error(`node ${id} exited with code ${n.proc.exitCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Send a signal to a node (SIGKILL in fault tests) and wait for it to exit. */
  async killNode(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.node(id).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.killNode(n.id, 'SIGTERM')));
  }

  /**
   * The id of the node that used the most CPU over the next `windowMs`: the one serving a
   * load (all of one daemon's load under its default `pack` routing), which a fault test
   * should kill rather than a node that may be idle.
   */
  async busiestNode(windowMs: number): Promise<number> {
    const ticks = (n: NodeProc) => {
      if (!n.proc?.pid || n.proc.exitCode !== null || n.proc.signalCode !== null) return 0;
      const f = readFileSync(`/proc/${n.proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    const before = this.nodes.map(ticks);
    await new Promise((r) => setTimeout(r, windowMs));
    const used = this.nodes.map((n, i) => ticks(n) - before[i]!);
    return this.nodes[used.indexOf(Math.max(...used))]!.id;
  }

  /** The real ownership flow of the onboarding guide, through node 1. */
  async claim(): Promise<void> {
    const n1 = this.nodes[0]!;
    let c = await connectNode(n1.port, undefined, n1.host);
    let owner: OwnerFiles;
    try {
      owner = signPartitionCsr(this.certDir, (await c.request('getCertReq', {})).csr);
    } finally {
      c.close();
    }
    c = await connectNode(n1.port, undefined, n1.host);
    try {
      await c.request('login', { user: FACTORY.user, password: FACTORY.password, role: 'PRECO' });
      await c.request('storeCert', { slot: 4, cert: readFileSync(owner.poCrt) });
      await c.request('storeCert', { slot: 8, cert: readFileSync(owner.poacCrt) });
    } finally {
      c.close();
    }
    /* Now E2E: every node presents [POAC, PO]; verify it as a client would. */
    await this.waitForE2E();
    c = await connectNode(n1.port, this.poCrt, n1.host);
    try {
      await c.request('login', { user: FACTORY.user, password: FACTORY.password, role: 'PRECO' });
      await c.request('changePassword', { role: 'PRECO', user: FACTORY.user, password: EXAMPLE_CO.password });
      for (const u of this.opts.users ?? [{ ...EXAMPLE_CU, role: 'CU' as const }]) {
        await c.request('createUser', { role: u.role, user: u.user, password: u.password });
      }
      await c.request('logout', {});
    } finally {
      c.close();
    }
  }

  /** Wait until every running node presents the PO-signed chain. */
  async waitForE2E(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const n of this.nodes) {
      if (!n.proc || n.proc.exitCode !== null) continue;
      for (;;) {
        try {
          (await connectNode(n.port, this.poCrt, n.host)).close();
          break;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`node ${n.id} does not present the PO-signed chain: ${e instanceof Error ? e.message : String(e)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }
}

/**
 * Create (or reuse) an installation under `dir`, start its nodes, and claim
 * it when it is new. Safe to call again on a running or half-running cluster
 * only through `ochsm up`, which checks pid files first.
 */
export async function startCluster(dir: string, opts: ClusterOptions = {}): Promise<LocalCluster> {
  const count = opts.nodes ?? 3;
  const runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  /* Initialise the sealing key and the store once, before any node starts. */
  const fresh = !existsSync(join(dir, 'sealing.key'));
  const storeOf = (id: number) => (typeof opts.store === 'function' ? opts.store(id) : opts.store);
  if (fresh) {
    const s1 = storeOf(1);
    const { partition, store } = await openLocalPartition(dir, { create: true, ...(s1 ? { store: s1 } : {}), ...(opts.profile ? { partition: { profile: opts.profile } } : {}) });
    partition.close();
    await store.close();
  }
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(opts.ports?.[i] || (await freePort()));
  const cluster = ports.map((port, i) => ({ id: i + 1, hostname: opts.host?.(i + 1) ?? '127.0.0.1', port }));
  const nodes: NodeProc[] = cluster.map((n) => {
    const config = join(runDir, `hsm${n.id}.json`);
    const store = storeOf(n.id);
    writeFileSync(config, JSON.stringify({ id: n.id, host: n.hostname, port: n.port, dir, cluster, ...(store ? { store } : {}), ...(opts.maxDataBytes !== undefined ? { maxDataBytes: opts.maxDataBytes } : {}), ...(opts.partition ? { partition: opts.partition } : {}) }, null, 2) + '\n', { mode: 0o600 });
    return { id: n.id, host: n.hostname, port: n.port, config, pidFile: join(runDir, `hsm${n.id}.pid`), proc: undefined, log: '' };
  });
  const lc = new LocalCluster(dir, nodes, opts);
  try {
    for (const n of nodes) if (!opts.skip?.includes(n.id)) await lc.startNode(n.id);
    if (fresh && opts.claim !== false) await lc.claim();
  } catch (e) {
    await lc.stop();
    throw e;
  }
  return lc;
}

export interface DaemonHandle {
  readonly socketPath: string;
  readonly binDir: string;
  readonly proc: ChildProcess;
  /** stderr of the daemon so far (structured log lines). */
  readonly log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Write the three client configuration files (azcloudhsm_resource.cfg,
 * azcloudhsm_application.cfg, azcloudhsm_client.cfg) into `<cluster dir>/<name>/`
 * and start a real `azcloudhsm_client` on them; resolves once its socket accepts.
 */
export async function startDaemon(lc: LocalCluster, opts: {
  name?: string; sessionMode?: 'HOST' | 'APPLICATION'; certDir?: string; bootstrap?: number; env?: Record<string, string>;
  /** More keys of azcloudhsm_client.cfg (e.g. `{ routing: 'spread' }`). */
  client?: Record<string, unknown>;
} = {}): Promise<DaemonHandle> {
  const binDir = join(lc.dir, opts.name ?? 'bin');
  mkdirSync(binDir, { recursive: true, mode: 0o700 });
  const socketDir = join(lc.dir, `${opts.name ?? 'bin'}-run`);
  mkdirSync(socketDir, { recursive: true, mode: 0o750 });
  const socketPath = join(socketDir, 'azcloudhsm_client.sock');
  const boot = lc.node(opts.bootstrap ?? 1);
  writeFileSync(join(binDir, 'azcloudhsm_resource.cfg'), JSON.stringify({ servers: [{ hostname: boot.host, port: boot.port }] }) + '\n');
  writeFileSync(join(binDir, 'azcloudhsm_application.cfg'), ['DAEMON_ID=1', 'SOCKET_TYPE=UNIXSOCKET', 'PORT=1111', `SOCKET_PATH=${socketPath}`, `SESSION_MODE=${opts.sessionMode ?? 'HOST'}`, ''].join('\n'));
  writeFileSync(join(binDir, 'azcloudhsm_client.cfg'), JSON.stringify({ cert_dir: opts.certDir ?? lc.certDir, health_interval_ms: 200, ...opts.client }) + '\n');
  const proc = spawn(process.execPath, [...nodeFlags(), DAEMON_MAIN, join(binDir, 'azcloudhsm_resource.cfg')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-200_000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(socketPath);
      s.once('connect', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (proc.exitCode !== null) throw new Error(`azcloudhsm_client exited with ${proc.exitCode}: ${log}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`azcloudhsm_client did not open ${socketPath}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socketPath, binDir, proc, log: () => log,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
  };
}

/** A protocol client to the daemon's socket, as an application would connect. */
export async function connectDaemon(socketPath: string, name = 'app'): Promise<ProtocolClient> {
  const socket = net.connect(socketPath);
  await new Promise((r, j) => socket.once('connect', r).once('error', j));
  const c = new ProtocolClient(socket, { name: 'azcloudhsm_client' });
  await c.hello(name, { timeoutMs: 5000 });
  return c;
}

/** Extra flags for the node and daemon processes (benchmarks: OCHSM_NODE_FLAGS="--cpu-prof --cpu-prof-dir=..."). */
function nodeFlags(): string[] {
  return (process.env.OCHSM_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
}

/**
 * Freeze a node (SIGSTOP) at an instant it holds no lock on the SQLite store `db`. A process
 * frozen inside a store transaction blocks every other node's writes until it runs again, which
 * is not the stalled follower a test means; so freeze, wait until the kernel reports the process
 * stopped, check the file is unlocked, and otherwise let it run a moment and try again.
 */
export async function freezeOutsideStoreLock(pid: number, db: string, tries = 500): Promise<void> {
  const stopped = () => /^\d+ \(.*\) T/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  for (let i = 0; i < tries; i++) {
    process.kill(pid, 'SIGSTOP');
    for (let w = 0; w < 100 && !stopped(); w++) await new Promise((r) => setTimeout(r, 1));
    if (sqliteLockFree(db)) return;
    process.kill(pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 5)));
  }
  throw new Error(`node ${pid} could not be frozen outside a store transaction in ${tries} tries`);
}
