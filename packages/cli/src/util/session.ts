/**
 * @module One azcloudhsm_util run: the connection to the local client daemon
 * (opened at the first command that needs it, from azcloudhsm_application.cfg),
 * the PKCS#11-style session used for `-sess` keys, and the output helpers that
 * print the real tool's lines.
 *
 * The tool talks only to the daemon (the Azure Cloud HSM onboarding guide). The
 * daemon's host-wide sign-in applies: if another application on the host is
 * signed in, requests here inherit it, and a different user's loginHSM fails
 * with CKR_USER_ANOTHER_ALREADY_LOGGED_IN (docs/daemon.md "Sign-in modes").
 */
import { checkDaemonSocket } from '../../../protocol/src/file_safety.js';
import * as net from 'node:net';
import { HsmError } from '../../../protocol/src/errors.js';
import { ConnectionLostError, ProtocolClient } from '../../../protocol/src/connection.js';
import type { OpName, RequestOf, ResponseOf } from '../../../protocol/src/messages.js';
import * as P from '../../../protocol/src/pkcs11.js';
import { ConfigError, ConfigNotFoundError, findApplicationConfig, type ApplicationConfig } from './config.js';
import { TAB, clusterStatusLines, oneLine, returnedLine, type NodeLine } from './format.js';
import { ApiFailure, LocalError } from './types.js';

export const CLIENT_NAME = 'azcloudhsm_util';
/** How long one request may wait for the daemon (RSA-4096 generation takes seconds; the daemon retries). */
const REQUEST_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface SessionOptions {
  /** Where output goes (stdout in the tool, a buffer in tests). */
  readonly write?: (s: string) => void;
  /** Find the application cfg (tests pass a fixed one). */
  readonly loadConfig?: () => ApplicationConfig;
}

export class UtilSession {
  private readonly write: (s: string) => void;
  private readonly loadConfig: () => ApplicationConfig;
  private cfg: ApplicationConfig | undefined;
  private conn: ProtocolClient | undefined;
  private connecting: Promise<ProtocolClient> | undefined;
  private sessionId: number | undefined;
  private lastBlank = false;

  constructor(opts: SessionOptions = {}) {
    this.write = opts.write ?? ((s) => process.stdout.write(s));
    this.loadConfig = opts.loadConfig ?? (() => findApplicationConfig());
  }

  /* ───────────────────────────── output ───────────────────────────── */

  out(line = ''): void {
    this.write(line + '\n');
    this.lastBlank = line === '';
  }

  /** Whether the last line written was blank (the dispatcher ends each command with one). */
  get endsWithBlank(): boolean {
    return this.lastBlank;
  }

  /** A blank line, then each line tab-indented: one paragraph of the tool's output. */
  para(...lines: string[]): void {
    this.out();
    for (const l of lines) this.out(l === '' ? '' : TAB + l);
  }

  /** `\n\t<api> returned: 0x00 : HSM Return: SUCCESS` */
  ok(api: string): void {
    this.para(returnedLine(api, 0));
  }

  /** The failure lines of an HSM call: the code, its name, and a one-line reason. */
  failed(api: string, e: HsmError): void {
    this.para(returnedLine(api, e.ckrv));
    this.out(TAB + `Reason: ${oneLine(e.message)}`);
  }

  /** The `Cluster Status:` block from the daemon's view of the nodes; nothing when the daemon cannot say. */
  async clusterStatus(): Promise<void> {
    let nodes: ResponseOf<'status'>['nodes'];
    try {
      nodes = (await (await this.client()).request('status', {}, { timeoutMs: CONNECT_TIMEOUT_MS })).nodes;
    } catch {
      return;
    }
    const lines: NodeLine[] = (nodes ?? [])
      .filter((n) => n.id > 0)
      .map((n) => (n.state === 'up' ? { id: n.id, rv: 0 } : { id: n.id, rv: P.CKR_DEVICE_ERROR, note: `node ${n.state === 'down' ? 'is down' : `is ${n.state}`}` }));
    if (lines.length === 0) return;
    this.para(...clusterStatusLines(lines));
  }

  /* ───────────────────────────── configuration ───────────────────────────── */

  /** The application cfg, read once (ConfigNotFoundError names every path tried). */
  config(): ApplicationConfig {
    if (!this.cfg) this.cfg = this.loadConfig();
    return this.cfg;
  }

  /** USER_KEK_HANDLE, read again at each use so that an edited file takes effect. */
  userKekHandle(): number | undefined {
    try {
      const fresh = this.loadConfig();
      return fresh.userKekHandle;
    } catch {
      return this.cfg?.userKekHandle;
    }
  }

  /* ───────────────────────────── the daemon ───────────────────────────── */

  /** The connection to the daemon, opened (or reopened after it dropped) on first use. */
  async client(): Promise<ProtocolClient> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (!this.connecting) {
      this.connecting = this.connect().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private async connect(): Promise<ProtocolClient> {
    let cfg: ApplicationConfig;
    try {
      cfg = this.config();
    } catch (e) {
      if (e instanceof ConfigNotFoundError || e instanceof ConfigError) throw new LocalError(e.message);
      throw e;
    }
    const where = cfg.socketType === 'TCPSOCKET' ? `127.0.0.1:${cfg.port}` : cfg.socketPath;
    if (cfg.socketType !== 'TCPSOCKET') {
      try {
        checkDaemonSocket(cfg.socketPath);
      } catch (e) {
        throw new LocalError(e instanceof Error ? e.message : String(e));
      }
    }
    const socket = cfg.socketType === 'TCPSOCKET' ? net.connect({ host: '127.0.0.1', port: cfg.port }) : net.connect(cfg.socketPath);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (e) {
      socket.destroy();
      const why = e instanceof Error ? e.message : String(e);
      throw new ApiFailure('Cfm3Initialize', new HsmError('ERR_DEVICE_ERROR',
        `LIQUIDSECURITY: Daemon socket connection error: Failed to connect socket ${where} (${why}); is azcloudhsm_client running?`));
    }
    const c = new ProtocolClient(socket, { name: 'azcloudhsm_client' });
    try {
      await c.hello(CLIENT_NAME, { timeoutMs: CONNECT_TIMEOUT_MS });
    } catch (e) {
      c.close();
      throw new ApiFailure('Cfm3Initialize', e instanceof HsmError ? e : new HsmError('ERR_DEVICE_ERROR', String(e)));
    }
    this.conn = c;
    this.sessionId = undefined;
    return c;
  }

  /** One request to the daemon; an HsmError becomes an ApiFailure naming the tool's API. */
  async req<K extends OpName>(api: string, op: K, obj: RequestOf<K>): Promise<ResponseOf<K>> {
    const c = await this.client();
    try {
      return await c.request(op, obj, { timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (e) {
      if (e instanceof HsmError) {
        if (e instanceof ConnectionLostError) this.sessionId = undefined;
        throw new ApiFailure(api, e);
      }
      throw e;
    }
  }

  /** The session id for `-sess` (session) keys, opened on first use; it lasts until the tool exits. */
  async session(): Promise<number> {
    if (this.sessionId !== undefined && this.conn && !this.conn.closed) return this.sessionId;
    const r = await this.req('Cfm3OpenSession', 'openSession', { flags: 0x6 /* CKF_RW_SESSION | CKF_SERIAL_SESSION */ });
    this.sessionId = r.session;
    return r.session;
  }

  /** `{ session }` when a session is open (so session keys are visible too), else `{}`. */
  get sessionField(): { session?: number } {
    return this.sessionId !== undefined && this.conn && !this.conn.closed ? { session: this.sessionId } : {};
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }
}
