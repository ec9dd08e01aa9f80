/**
 * @module The state of one azcloudhsm_mgmt_util run: the servers (0-based;
 * the bootstrap node is server 0, the rest follow in getClusterInfo order),
 * one protocol connection per server (the sign-in belongs to it), the scope
 * (`cloudmgmt>` = every server in turn, `serverN>` = one), and the output
 * conventions of the real tool (the Azure Cloud HSM guides).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { ConnectionLostError, type ProtocolClient, type RequestOptions } from '../../../protocol/src/connection.js';
import type { OpName, RequestOf, ResponseOf } from '../../../protocol/src/messages.js';
import { openServer, type ConnectResult, type Mode } from './connect.js';
import type { MgmtConfig } from './config.js';
import type { LineSource } from './io.js';
import { VERSION } from '../../../ops/src/version.js';

/** The tool's version lines show the one software version (packages/ops/src/version.ts, from package.json). */
export const TOOL_VERSION = VERSION;

export interface Server {
  readonly index: number;
  readonly hostname: string;
  readonly port: number;
  nodeId: number | undefined;
  client: ProtocolClient | undefined;
  mode: Mode | undefined;
  serverVersion: string | undefined;
  subjectCN: string | undefined;
}

export type Scope = { readonly kind: 'cloudmgmt' } | { readonly kind: 'server'; readonly index: number };

export const CAUTION_BANNER = [
  '************************CAUTION********************************',
  'This is a CRITICAL operation, should be done on all nodes in the',
  'cluster. Cav server does NOT synchronize these changes with the',
  'nodes on which this operation is not executed or failed, please',
  'ensure this operation is executed on all nodes in the cluster.',
  '***************************************************************',
];

/** Time allowed for one request (a sign-in runs scrypt on the node). */
const REQUEST_TIMEOUT_MS = 60_000;

export interface EachOptions {
  /** May run on a server in unencrypted (limited commands) mode. */
  readonly limited?: boolean;
  /** Print `<cmd> success[ on server N(host)]` after each server (default true). */
  readonly successLine?: boolean;
  /** After a success on an earlier server, is this server's error only the replicated store showing the change already made? */
  readonly alreadyApplied?: (srv: Server, err: unknown) => Promise<boolean>;
  /** After this error, do not send the command to the remaining servers. */
  readonly stopOn?: (err: unknown) => boolean;
  /** Run after the success line (storeCert 8: logging out, E2E enabled). */
  readonly afterSuccess?: (srv: Server) => Promise<void>;
}

export class Session {
  readonly cfg: MgmtConfig;
  readonly io: LineSource;
  readonly servers: Server[] = [];
  scope: Scope = { kind: 'cloudmgmt' };
  /** Did the last command fail? Decides the exit status (docs/cli.md). */
  lastFailed = false;
  private readonly write: (s: string) => void;

  constructor(cfg: MgmtConfig, io: LineSource, write: (s: string) => void = (s) => void process.stdout.write(s)) {
    this.cfg = cfg;
    this.io = io;
    this.write = write;
  }

  out(line = ''): void {
    this.write(line + '\n');
  }

  get inCloud(): boolean {
    return this.scope.kind === 'cloudmgmt';
  }

  get prompt(): string {
    return this.scope.kind === 'cloudmgmt' ? 'cloudmgmt>' : `server${this.scope.index}>`;
  }

  /** `server N(host)` */
  label(srv: Server): string {
    return `server ${srv.index}(${srv.hostname})`;
  }

  /** The servers the current scope acts on. */
  targets(): Server[] {
    return this.scope.kind === 'cloudmgmt' ? [...this.servers] : [this.servers[this.scope.index]!];
  }

  get current(): Server | undefined {
    return this.scope.kind === 'server' ? this.servers[this.scope.index] : undefined;
  }

  /* ────────────────────────────── connections ────────────────────────────── */

  private attach(srv: Server, res: Extract<ConnectResult, { kind: 'connected' }>): void {
    srv.client = res.client;
    srv.mode = res.mode;
    srv.serverVersion = res.serverVersion;
    srv.subjectCN = res.subjectCN;
    srv.nodeId ??= res.nodeId;
    const c = res.client;
    c.onClose(() => {
      if (srv.client === c) srv.client = undefined;
    });
  }

  disconnect(srv: Server): void {
    const c = srv.client;
    srv.client = undefined;
    c?.close();
  }

  private modeLines(srv: Server): void {
    if (srv.mode === 'e2e') this.out(`E2E enabled on server ${srv.index}(${srv.hostname})`);
    else {
      this.out(`Server ${srv.index}(${srv.hostname}) is in unencrypted mode now...`);
      this.out('running in limited commands mode');
    }
  }

  private poMissingLines(): void {
    this.out(`${this.cfg.poCrt},`);
    this.out('partition owner certificate not exist at given path');
  }

  /** Connect one server and print the real tool's connection lines. */
  async connectVerbose(srv: Server): Promise<boolean> {
    this.out(`Connecting to 'server ${srv.index}': hostname '${srv.hostname}', port ${srv.port}...`);
    const res = await openServer(srv.hostname, srv.port, this.cfg.poCrt);
    switch (res.kind) {
      case 'failed':
        this.out(`Connetion to server ${srv.hostname}(${srv.hostname}) on port ${srv.port} failed`);
        this.out();
        this.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
        return false;
      case 'cert-error':
        this.out('Certificate ERROR: [ certificate signature failure ]');
        this.out();
        this.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
        return false;
      case 'connected':
        this.attach(srv, res);
        this.out(`Received server version : ${res.serverVersion}, SDK version: ${res.serverVersion}, SDK Package Version: ${res.serverVersion}`);
        this.out(`Connected to 'server ${srv.index}': hostname '${srv.hostname}', port ${srv.port}...`);
        if (res.poMissing) this.poMissingLines();
        this.out();
        this.modeLines(srv);
        return true;
    }
  }

  /** Start-up: banner, bootstrap node, cluster discovery, the other nodes. */
  async connectAll(): Promise<boolean> {
    const field = (k: string, v: string) => this.out(`${k.padEnd(39)}:${' '.repeat(7)}${v}`);
    field('Liquidsec MGMT Util Version', TOOL_VERSION);
    field('SDK API Version', TOOL_VERSION);
    field('SDK Package Version', TOOL_VERSION);
    this.out();
    this.out('Connecting to the server(s), it may take time');
    this.out('depending on the server(s) load, please wait...');
    this.out();
    let boot: Server | undefined;
    for (const [i, e] of this.cfg.servers.entries()) {
      if (i > 0) this.out();
      const srv = blankServer(0, e.hostname, e.port);
      if (await this.connectVerbose(srv)) {
        boot = srv;
        break;
      }
    }
    if (!boot) return false;
    this.servers.push(boot);
    let nodes: ResponseOf<'getClusterInfo'>['nodes'] = [];
    try {
      nodes = (await this.req(boot, 'getClusterInfo', {})).nodes;
    } catch (e) {
      this.out(`getClusterInfo failed on server 0(${boot.hostname}): ${this.describe(e)}`);
    }
    const isBoot = (n: { id: number; hostname: string; port: number }) =>
      boot!.nodeId !== undefined ? n.id === boot!.nodeId : n.hostname === boot!.hostname && n.port === boot!.port;
    const others = nodes.filter((n) => !isBoot(n));
    if (others.length > 0) {
      this.out();
      this.out('Connecting to servers in the cluster.');
    }
    for (const n of others) {
      const srv = blankServer(this.servers.length, n.hostname, n.port);
      srv.nodeId = n.id;
      this.servers.push(srv);
      this.out();
      await this.connectVerbose(srv);
    }
    return true;
  }

  /** Reopen a connection, retrying while the node still presents its pre-claim certificate. */
  private async reopen(srv: Server, waitForE2E: boolean): Promise<ConnectResult> {
    const deadline = Date.now() + (waitForE2E ? 5000 : 0);
    for (;;) {
      const res = await openServer(srv.hostname, srv.port, this.cfg.poCrt);
      if (res.kind !== 'connected' || res.mode === 'e2e' || res.poMissing || Date.now() >= deadline) return res;
      res.client.close();
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * After POAC.crt was stored: the node logged the session out and now
   * presents [POAC, PO]. Reconnect it, and every other server still in
   * unencrypted mode (they share the store, so they switch too), verified.
   */
  async upgradeToE2E(first: Server): Promise<void> {
    const list = [first, ...this.servers.filter((s) => s !== first && s.client && s.mode === 'unencrypted')];
    for (const srv of list) {
      this.disconnect(srv);
      const res = await this.reopen(srv, true);
      if (res.kind === 'connected') {
        this.attach(srv, res);
        if (res.poMissing) {
          this.poMissingLines();
          this.out();
        }
        this.modeLines(srv);
      } else if (res.kind === 'cert-error') {
        this.out('Certificate ERROR: [ certificate signature failure ]');
        this.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
      } else {
        this.out(`Connetion to server ${srv.hostname}(${srv.hostname}) on port ${srv.port} failed`);
        this.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
      }
    }
  }

  async reconnect(srv: Server): Promise<boolean> {
    this.disconnect(srv);
    return this.connectVerbose(srv);
  }

  async closeAll(): Promise<void> {
    for (const s of this.servers) this.disconnect(s);
  }

  /* ─────────────────────────────── requests ─────────────────────────────── */

  req<K extends OpName>(srv: Server, op: K, obj: RequestOf<K>, opts: RequestOptions = {}): Promise<ResponseOf<K>> {
    const c = srv.client;
    if (!c) return Promise.reject(new NotConnected(srv));
    return c.request(op, obj, { timeoutMs: REQUEST_TIMEOUT_MS, ...opts });
  }

  describe(e: unknown): string {
    if (e instanceof NotConnected) return e.message;
    if (e instanceof ConnectionLostError) return `connection lost: ${e.message}`;
    if (e instanceof HsmError) return `HSM Error: ${e.message} (${e.ckrName})`;
    return e instanceof Error ? e.message : String(e);
  }

  success(name: string, srv: Server): void {
    this.out(this.inCloud ? `${name} success on ${this.label(srv)}` : `${name} success`);
  }

  failure(name: string, srv: Server | undefined, e: unknown): void {
    if (e instanceof ConnectionLostError && srv) this.disconnect(srv);
    this.out(this.inCloud && srv ? `${name} failed on ${this.label(srv)}: ${this.describe(e)}` : `${name} failed: ${this.describe(e)}`);
  }

  /**
   * Run one command on every server of the scope, in turn, printing one
   * result line per server. Returns false when any server failed.
   */
  async each(name: string, fn: (srv: Server) => Promise<void>, opts: EachOptions = {}): Promise<boolean> {
    let ok = true;
    let anySucceeded = false;
    let stopped: { srv: Server } | undefined;
    for (const srv of this.targets()) {
      if (!srv.client) {
        this.out(`Server ${srv.index}(${srv.hostname}) is not connected`);
        if (!this.inCloud) ok = false;
        continue;
      }
      if (stopped) {
        this.out(`${name} not sent to ${this.label(srv)}: server ${stopped.srv.index} refused it, and the servers share one store`);
        continue;
      }
      if (srv.mode === 'unencrypted' && !opts.limited) {
        this.failure(name, srv, new Error(`server is in unencrypted mode (limited commands mode); ${name} needs E2E (PO.crt in ${this.cfg.certDir} and a claimed partition)`));
        ok = false;
        continue;
      }
      try {
        await fn(srv);
      } catch (e) {
        let replicated = false;
        if (anySucceeded && opts.alreadyApplied) {
          try {
            replicated = await opts.alreadyApplied(srv, e);
          } catch {
            replicated = false;
          }
        }
        if (!replicated) {
          this.failure(name, srv, e);
          ok = false;
          if (opts.stopOn?.(e)) stopped = { srv };
          continue;
        }
      }
      anySucceeded = true;
      if (opts.successLine !== false) this.success(name, srv);
      if (opts.afterSuccess) await opts.afterSuccess(srv);
    }
    return ok;
  }

  /* ─────────────────────────────── prompts ─────────────────────────────── */

  /** The CAUTION banner and `Do you want to continue(y/n)?`; end of input counts as no. */
  async confirm(): Promise<boolean> {
    for (const l of CAUTION_BANNER) this.out(l);
    this.out();
    for (;;) {
      const a = await this.io.next('Do you want to continue(y/n)?', { history: false });
      if (a === undefined) return false;
      const t = a.trim().toLowerCase();
      if (t === 'y' || t === 'yes') return true;
      if (t === 'n' || t === 'no') return false;
    }
  }

  /** A password typed at a prompt, not echoed (`-hpswd`). */
  async readSecret(prompt: string): Promise<string | undefined> {
    const a = await this.io.next(prompt, { secret: true });
    return a;
  }
}

export class NotConnected extends Error {
  constructor(srv: Server) {
    super(`Server ${srv.index}(${srv.hostname}) is not connected`);
    this.name = 'NotConnected';
  }
}

export function blankServer(index: number, hostname: string, port: number): Server {
  return { index, hostname, port, nodeId: undefined, client: undefined, mode: undefined, serverVersion: undefined, subjectCN: undefined };
}
