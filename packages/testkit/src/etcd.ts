/**
 * @module Start a real etcd cluster (1 or 3 members) as it is run in production:
 * client and peer TLS with certificates from the cluster's own CA, client
 * certificates required, authentication on (a root user and a least-privilege
 * user for the HSM nodes, read-write on the nodes' prefix only), data
 * directories mode 0700, each member listening only on its own address.
 *
 * Used by the store's conformance run, the node tests, `ochsm up --store etcd`
 * and the network-namespace harness (which passes `wrap` to start a member
 * inside a namespace). Trust boundary: the passwords are generated here and
 * written to owner-only files; they never appear in a command line (etcdctl
 * reads them from stdin) or a log.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as net from 'node:net';
import { makePki, type Pki } from './pki.js';

export const ETCD_BIN = process.env.OCHSM_ETCD ?? 'etcd';
export const ETCDCTL_BIN = process.env.OCHSM_ETCDCTL ?? 'etcdctl';
/** The etcd user of the HSM nodes and the key prefix it may read and write. */
export const NODE_USER = 'ochsm-node';
export const NODE_PREFIX = '/ochsm/';

export interface MemberSpec {
  readonly name: string;
  /** The address this member listens on (clients and peers), and advertises. */
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

export interface EtcdClusterOptions {
  /** Base directory: pki/, one data directory per member, logs, password files. */
  readonly dir: string;
  /** Members (default: one, on 127.0.0.1 with free ports). */
  readonly members?: readonly MemberSpec[];
  /** Turn authentication on (default true). */
  readonly auth?: boolean;
  /** Prefix the command line of a member (e.g. `ip netns exec ns1`). */
  readonly wrap?: (member: MemberSpec) => string[];
  /** Detach members and log to files (for `ochsm up`); tests keep them attached. */
  readonly detached?: boolean;
  /** Faster elections for tests (heartbeat 100 ms, election 1000 ms are etcd's defaults). */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** Members already running (by their pid files): leave them alone. */
  readonly skip?: readonly string[];
}

export interface EtcdClientConfig {
  readonly endpoints: string[];
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly user?: string;
  readonly passwordFile?: string;
}

export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** `count` members on loopback with free ports (or the given client ports; peer ports then follow +1000). */
export async function loopbackMembers(count: number, clientPorts?: readonly number[]): Promise<MemberSpec[]> {
  const out: MemberSpec[] = [];
  for (let i = 0; i < count; i++) {
    const cp = clientPorts?.[i];
    out.push({ name: `etcd${i + 1}`, host: '127.0.0.1', clientPort: cp ?? (await freeLoopbackPort()), peerPort: cp ? cp + 1000 : await freeLoopbackPort() });
  }
  return out;
}

const url = (host: string, port: number) => `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

export interface MemberStatus {
  readonly name: string;
  readonly endpoint: string;
  readonly reachable: boolean;
  readonly leader: boolean;
  /** It knows a leader (false: it is cut off, or an election is on). */
  readonly hasLeader: boolean;
  readonly revision: number;
  readonly raftTerm: number;
  readonly healthy: boolean;
  readonly error?: string;
}

/** `ochsm status` lines for the members (one home for the format; tested in etcd_status.test.ts). */
export function formatMemberStatus(rows: readonly MemberStatus[]): string[] {
  return rows.map((r) => {
    const role = !r.reachable ? 'unreachable' : r.leader ? 'leader' : r.hasLeader ? 'follower' : 'no leader';
    const tail = r.reachable ? `revision ${r.revision} term ${r.raftTerm} ${r.healthy ? 'healthy' : 'unhealthy'}` : '';
    const err = r.error ? ` (${r.error.split('\n')[0]!.slice(0, 160)})` : '';
    return `${r.name.padEnd(7)} ${r.endpoint} ${role}${tail ? ` ${tail}` : ''}${r.healthy ? '' : err}`;
  });
}

export class EtcdCluster {
  readonly dir: string;
  readonly pki: Pki;
  readonly members: readonly MemberSpec[];
  readonly auth: boolean;
  readonly procs = new Map<string, ChildProcess>();
  readonly logs = new Map<string, string>();
  private readonly opts: EtcdClusterOptions;

  private constructor(opts: EtcdClusterOptions, members: readonly MemberSpec[]) {
    this.opts = opts;
    this.dir = opts.dir;
    this.members = members;
    this.auth = opts.auth ?? true;
    this.pki = makePki(join(opts.dir, 'pki'));
  }

  /** Create the CA and certificates, start every member, wait for a healthy cluster, and set up authentication. */
  static async start(opts: EtcdClusterOptions): Promise<EtcdCluster> {
    const members = opts.members ?? (await loopbackMembers(1));
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    chmodSync(opts.dir, 0o700);
    const c = new EtcdCluster(opts, members);
    const fresh = !existsSync(join(opts.dir, 'initialised'));
    try {
      for (const m of members) c.pki.member(m.name, [m.host]);
      c.pki.client('root');
      c.pki.client(NODE_USER);
      await Promise.all(members.filter((m) => !opts.skip?.includes(m.name)).map((m) => c.startMember(m.name, fresh ? 'new' : 'existing')));
      await c.waitHealthy(20_000);
      if (fresh) {
        if (c.auth) await c.setupAuth();
        writeFileSync(join(opts.dir, 'initialised'), '');
      }
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get endpoints(): string[] {
    return this.members.map((m) => url(m.host, m.clientPort));
  }

  passwordFile(user: string): string {
    return join(this.dir, `${user}.password`);
  }

  /** What a node's configuration names: endpoints, CA, its client certificate, its user and password file. */
  clientConfig(user = NODE_USER, endpoints = this.endpoints): EtcdClientConfig {
    const cert = this.pki.client(user);
    return { endpoints, ca: this.pki.ca, cert: cert.cert, key: cert.key, ...(this.auth ? { user, passwordFile: this.passwordFile(user) } : {}) };
  }

  /** EtcdStore options for `user` (Buffers read from the files). */
  storeOptions(user = NODE_USER, namespace = NODE_PREFIX): { endpoints: string[]; namespace: string; tls: { ca: Buffer; cert: Buffer; key: Buffer }; auth?: { username: string; password: string } } {
    const cc = this.clientConfig(user);
    return {
      endpoints: cc.endpoints,
      namespace,
      tls: { ca: readFileSync(cc.ca), cert: readFileSync(cc.cert), key: readFileSync(cc.key) },
      ...(cc.passwordFile ? { auth: { username: user, password: readFileSync(cc.passwordFile, 'utf8').trim() } } : {}),
    };
  }

  member(name: string): MemberSpec {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  }

  /** Where a detached member's pid is written. */
  pidFile(name: string): string {
    return join(this.dir, `${name}.pid`);
  }

  dataDir(name: string): string {
    return join(this.dir, `${name}.data`);
  }

  /** Start (or restart) one member. `state` is etcd's --initial-cluster-state. */
  async startMember(name: string, state: 'new' | 'existing' = 'existing'): Promise<void> {
    const m = this.member(name);
    const data = this.dataDir(name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    chmodSync(data, 0o700);
    const cert = this.pki.member(name, [m.host]);
    const args = [
      '--name', m.name,
      '--data-dir', data,
      '--listen-client-urls', url(m.host, m.clientPort),
      '--advertise-client-urls', url(m.host, m.clientPort),
      '--listen-peer-urls', url(m.host, m.peerPort),
      '--initial-advertise-peer-urls', url(m.host, m.peerPort),
      '--initial-cluster', this.members.map((x) => `${x.name}=${url(x.host, x.peerPort)}`).join(','),
      '--initial-cluster-state', state,
      '--initial-cluster-token', 'ochsm-' + this.pki.dir.length.toString(36),
      '--cert-file', cert.cert, '--key-file', cert.key, '--trusted-ca-file', this.pki.ca, '--client-cert-auth',
      '--peer-cert-file', cert.cert, '--peer-key-file', cert.key, '--peer-trusted-ca-file', this.pki.ca, '--peer-client-cert-auth',
      '--cipher-suites', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305',
      /* Watch progress every 100 ms: the nodes' watchers wait on it (etcd's default is 10 minutes). */
      '--experimental-watch-progress-notify-interval', '100ms',
      /* Pre-vote (off by default in 3.4): a member that was cut off and comes back does not depose a working leader with its raised term, which stalled the quorum for about a second at every rejoin. */
      '--pre-vote',
      '--heartbeat-interval', String(this.opts.heartbeatMs ?? 100),
      '--election-timeout', String(this.opts.electionMs ?? 1000),
      '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
    ];
    const argv = [...(this.opts.wrap?.(m) ?? []), ETCD_BIN, ...args];
    const logFile = join(this.dir, `${name}.log`);
    let proc: ChildProcess;
    if (this.opts.detached) {
      const out = openSync(logFile, 'a', 0o600);
      proc = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
      proc.unref();
      closeSync(out);
      if (proc.pid) writeFileSync(this.pidFile(name), `${proc.pid}\n`, { mode: 0o600 });
    } else {
      proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      this.logs.set(name, '');
      proc.stderr!.on('data', (d: Buffer) => this.logs.set(name, (this.logs.get(name)! + d.toString()).slice(-20_000)));
    }
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (e) => reject(new Error(`cannot start ${ETCD_BIN} (Debian package etcd-server): ${e.message}`)));
    });
    this.procs.set(name, proc);
  }

  /** Send `signal` to one member and wait for it to exit. */
  async killMember(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.killMember(m.name, 'SIGTERM')));
  }

  /** Run etcdctl as root (client certificate CN=root; with auth, also the root password from its file on stdin if asked). */
  etcdctl(args: string[], opts: { input?: string; endpoints?: string[]; user?: string; timeoutMs?: number } = {}): Promise<string> {
    const user = opts.user ?? 'root';
    const cert = this.pki.client(user);
    const env: NodeJS.ProcessEnv = { ...process.env, ETCDCTL_API: '3' };
    return new Promise((resolve, reject) => {
      const child = execFile(ETCDCTL_BIN, [
        '--endpoints', (opts.endpoints ?? this.endpoints).join(','),
        '--cacert', this.pki.ca, '--cert', cert.cert, '--key', cert.key,
        '--dial-timeout', '3s', '--command-timeout', `${Math.ceil((opts.timeoutMs ?? 10_000) / 1000)}s`,
        ...args,
      ], { env, timeout: (opts.timeoutMs ?? 10_000) + 2000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`etcdctl ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });
  }

  /** Wait until every member reports healthy. */
  async waitHealthy(timeoutMs = 15_000, names: readonly string[] = this.members.map((m) => m.name)): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const endpoints = names.map((n) => { const m = this.member(n); return url(m.host, m.clientPort); });
    let last = '';
    for (;;) {
      for (const [name, p] of this.procs) {
        if (names.includes(name) && p.exitCode !== null && !this.opts.detached) throw new Error(`etcd member ${name} exited with ${p.exitCode}: ${this.logs.get(name) ?? ''}`);
      }
      try {
        await this.etcdctl(['endpoint', 'health'], { endpoints, timeoutMs: 3000 });
        return;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy within ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The cluster of an existing directory (made by `start`), without starting anything: for status. */
  static attach(opts: EtcdClusterOptions & { members: readonly MemberSpec[] }): EtcdCluster {
    if (!existsSync(join(opts.dir, 'pki'))) throw new Error(`no etcd cluster in ${opts.dir}`);
    return new EtcdCluster(opts, opts.members);
  }

  /**
   * One line of facts per member, each asked on its own (a member that is
   * down does not hide the others): endpoint, reachable, leader or not, the
   * revision it has, its Raft term and health (it can serve a quorum read).
   */
  async memberStatus(timeoutMs = 3000): Promise<MemberStatus[]> {
    return Promise.all(this.members.map(async (m): Promise<MemberStatus> => {
      const endpoint = url(m.host, m.clientPort);
      try {
        const [st] = JSON.parse(await this.etcdctl(['endpoint', 'status', '-w', 'json'], { endpoints: [endpoint], timeoutMs })) as { Status: { header: { member_id: number; revision: number; raft_term: number }; leader: number } }[];
        let healthy = false;
        let why: string | undefined;
        try {
          const [h] = JSON.parse(await this.etcdctl(['endpoint', 'health', '-w', 'json'], { endpoints: [endpoint], timeoutMs })) as { health: boolean; error?: string }[];
          healthy = h?.health === true;
          why = h?.error;
        } catch (e) {
          why = (e as Error).message;
        }
        const hdr = st!.Status.header;
        return { name: m.name, endpoint, reachable: true, leader: hdr.member_id === st!.Status.leader, hasLeader: st!.Status.leader !== 0, revision: Number(hdr.revision), raftTerm: Number(hdr.raft_term), healthy, ...(why ? { error: why } : {}) };
      } catch (e) {
        return { name: m.name, endpoint, reachable: false, leader: false, hasLeader: false, revision: 0, raftTerm: 0, healthy: false, error: (e as Error).message };
      }
    }));
  }

  /** The name of the current leader, from `etcdctl endpoint status`. */
  async leader(): Promise<string> {
    const out = JSON.parse(await this.etcdctl(['endpoint', 'status', '-w', 'json'])) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
    const me = out.find((s) => s.Status.header.member_id === s.Status.leader);
    if (!me) throw new Error('no etcd member reports itself leader');
    const m = this.members.find((x) => url(x.host, x.clientPort) === me.Endpoint);
    if (!m) throw new Error(`leader endpoint ${me.Endpoint} is not a member of this cluster`);
    return m.name;
  }

  /** Root user, a node role read-write on NODE_PREFIX only, the node user, then `auth enable`. */
  private async setupAuth(): Promise<void> {
    for (const user of ['root', NODE_USER]) {
      const file = this.passwordFile(user);
      if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
    }
    const pw = (u: string) => readFileSync(this.passwordFile(u), 'utf8').trim() + '\n';
    await this.etcdctl(['user', 'add', 'root', '--interactive=false'], { input: pw('root') });
    await this.etcdctl(['user', 'grant-role', 'root', 'root']).catch(() => undefined); /* granted by `user add root` on some versions */
    await this.etcdctl(['role', 'add', NODE_USER]);
    await this.etcdctl(['role', 'grant-permission', NODE_USER, '--prefix=true', 'readwrite', NODE_PREFIX]);
    await this.etcdctl(['user', 'add', NODE_USER, '--interactive=false'], { input: pw(NODE_USER) });
    await this.etcdctl(['user', 'grant-role', NODE_USER, NODE_USER]);
    await this.etcdctl(['auth', 'enable']);
  }
}
