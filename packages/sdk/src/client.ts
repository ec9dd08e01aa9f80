/**
 * @module HsmClient: the SDK's connection to the client daemon `azcloudhsm_client`.
 *
 * One connection to the daemon's socket (docs/daemon.md), speaking
 * docs/protocol.md through the shared `ProtocolClient` (pipelining, request
 * ids, per-request timeouts, AbortSignal). What this class adds:
 *
 * - **Finding the daemon**: an explicit socket path or port, or
 *   `azcloudhsm_application.cfg` (config.ts).
 * - **Lazy connection and reconnection**: the first request connects; a
 *   request that fails with `ConnectionLostError` (the daemon restarted, the
 *   socket closed) reconnects and is retried under the **retry policy**
 *   `{ attempts, backoffMs, deadlineMs }` — the client-side retry logic the
 *   seed asks for ("Retries for integration of HSM operations"). The daemon
 *   itself retries on another node when a node fails; this policy covers the
 *   leg between the application and the daemon.
 * - **Idempotent retries**: every mutating request (key generation, object
 *   creation...) carries one `requestId` for all its attempts, so a request the
 *   daemon had already forwarded returns its first result instead of making a
 *   second key (docs/decisions.md).
 * - **Connection hooks** that run on every new connection before it is used:
 *   `LoginManager` signs in again there (automatic re-authentication).
 * - **A session per connection** (`openSession`): session keys (CKA_TOKEN
 *   false) belong to it and end with it. Each connection has an `epoch`; a
 *   request may require an epoch, and fails with `SessionKeyLostError` when the
 *   connection it belonged to is gone, instead of acting on a stale handle.
 * - The socket keeps the process alive only while requests are in flight, so
 *   a program exits when its work is done without an explicit `close()`.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { checkDaemonSocket } from '../../protocol/src/file_safety.js';
import { randomUUID } from 'node:crypto';
import { ConnectionLostError, ProtocolClient } from '../../protocol/src/connection.js';
import { HsmError } from '../../protocol/src/errors.js';
import { OPS, type DecodedNotice, type NoticeOf, type OpName, type RequestOf, type ResponseOf } from '../../protocol/src/messages.js';
import { describeEndpoint, findApplicationConfig, loadApplicationConfig, type Endpoint } from './config.js';
import { ConfigError, DaemonUnavailableError, SessionKeyLostError } from './errors.js';
import { retryDelay, retryPolicyProblem, SDK_RETRY, type RetryPolicy } from '../../protocol/src/retry.js';

export type { RetryPolicy } from '../../protocol/src/retry.js';

/** The SDK's default policy (packages/protocol/src/retry.ts SDK_RETRY, with the reason). */
export const DEFAULT_RETRY: RetryPolicy = SDK_RETRY;

export interface HsmClientOptions {
  /** The daemon's Unix socket; overrides the application cfg. */
  readonly socketPath?: string;
  /** The daemon's TCP port on 127.0.0.1 (SOCKET_TYPE=TCPSOCKET); overrides the application cfg. */
  readonly port?: number;
  /** An explicit `azcloudhsm_application.cfg`; otherwise the working directory, then AZCLOUDHSM_APPLICATION_CFG. */
  readonly configPath?: string;
  /** Where to look for the cfg (default: process.cwd()). */
  readonly cwd?: string;
  /** The environment to read AZCLOUDHSM_APPLICATION_CFG from (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  readonly retry?: Partial<RetryPolicy>;
  /** Per attempt: no answer within this time fails the request with ERR_DEVICE_ERROR (default 30 s; RSA-4096 generation takes seconds). */
  readonly timeoutMs?: number;
  /** Connecting and saying hello (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** The client name sent in hello (the daemon logs it). */
  readonly name?: string;
  /** Open a session on every connection, for session keys (default true). */
  readonly sessions?: boolean;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Overrides the client's per-attempt timeout. */
  readonly timeoutMs?: number;
  /** Overrides parts of the retry policy for this call; false: one attempt. */
  readonly retry?: Partial<RetryPolicy> | false;
  /** Send the connection's session (default: whenever the operation takes one and the request names none). */
  readonly session?: boolean;
  /** The request belongs to this connection epoch (a session key's): fail with SessionKeyLostError on any other. */
  readonly epoch?: number;
}

/** A request on one specific connection, for connection hooks (no retry, no reconnection). */
export type RawCall = <K extends OpName>(op: K, obj: RequestOf<K>) => Promise<ResponseOf<K>>;

/** Runs on every new connection before any request uses it. May throw ConnectionLostError (the attempt then fails and is retried). */
export type ConnectionHook = (call: RawCall, info: { readonly epoch: number; readonly reconnect: boolean }) => Promise<void>;

interface Conn {
  readonly pc: ProtocolClient;
  readonly socket: Socket;
  readonly epoch: number;
  readonly server: string;
  session: number | undefined;
  inFlight: number;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** Resolve where the daemon is, from explicit options or the application cfg. */
export function resolveEndpoint(opts: HsmClientOptions): Endpoint {
  if (opts.socketPath !== undefined) return { kind: 'unix', path: opts.socketPath };
  if (opts.port !== undefined) {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new TypeError(`port must be a TCP port from 1 to 65535 (got ${String(opts.port)})`);
    return { kind: 'tcp', host: '127.0.0.1', port: opts.port };
  }
  const cfg = opts.configPath !== undefined ? loadApplicationConfig(opts.configPath) : findApplicationConfig(opts.cwd, opts.env);
  return cfg.endpoint;
}

export interface HsmClientEvents {
  connected: [info: { epoch: number; reconnect: boolean; server: string }];
  disconnected: [error: HsmError];
  notice: [notice: DecodedNotice];
  loginChanged: [state: NoticeOf<'loginChanged'>];
  goodbye: [reason: string];
  warning: [error: unknown];
}

export class HsmClient extends EventEmitter<HsmClientEvents> {
  readonly endpoint: Endpoint;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  private readonly name: string;
  private readonly sessions: boolean;
  private readonly hooks: ConnectionHook[] = [];
  private conn: Conn | undefined;
  private connecting: Promise<Conn> | undefined;
  private epochs = 0;
  private closedByUser = false;

  /** Resolves the endpoint now (config errors surface here); connects on the first request. */
  constructor(opts: HsmClientOptions = {}) {
    super();
    this.endpoint = resolveEndpoint(opts);
    this.retry = checkRetry({ ...DEFAULT_RETRY, ...opts.retry });
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.name = opts.name ?? `opencloudhsm-sdk/${process.pid}`;
    this.sessions = opts.sessions ?? true;
  }

  /** Create a client and connect it now (so an unreachable daemon fails here, after the retry policy). */
  static async connect(opts: HsmClientOptions = {}, callOpts: { signal?: AbortSignal } = {}): Promise<HsmClient> {
    const c = new HsmClient(opts);
    await c.connection(callOpts);
    return c;
  }

  /** The current connection's epoch (0 before the first connection). Increases with every reconnection. */
  get epoch(): number {
    return this.conn?.epoch ?? this.epochs;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.pc.closed;
  }

  /** The session of the current connection, if one is open. */
  get session(): number | undefined {
    return this.conn?.session;
  }

  /** The daemon's `server` string from hello. */
  get server(): string | undefined {
    return this.conn?.server;
  }

  /** Run `hook` on every new connection (and on the current one, at the next reconnection). */
  addConnectionHook(hook: ConnectionHook): void {
    this.hooks.push(hook);
  }

  /**
   * The current connection, connecting (under the retry policy) when there is
   * none. Resolves with its epoch and session.
   */
  async connection(opts: { signal?: AbortSignal; retry?: Partial<RetryPolicy> | false } = {}): Promise<{ epoch: number; session: number | undefined }> {
    const c = await this.withRetry('connect', opts, () => this.current(opts.signal));
    return { epoch: c.epoch, session: c.session };
  }

  /**
   * Send one request. Connection loss reconnects and retries under the retry
   * policy; every other error is the operation's own answer, thrown as the
   * `HsmError` the daemon sent.
   */
  async request<K extends OpName>(op: K, obj: RequestOf<K>, opts: CallOptions = {}): Promise<ResponseOf<K>> {
    const spec = OPS[op];
    let body = obj as Record<string, unknown>;
    if (spec.mutating && body.requestId === undefined) body = { ...body, requestId: randomUUID() };
    const wantsSession = opts.session ?? ('session' in spec.request && body.session === undefined);
    return this.withRetry(op, opts, async () => {
      const conn = await this.current(opts.signal);
      if (opts.epoch !== undefined && conn.epoch !== opts.epoch) {
        throw new SessionKeyLostError('this session key belonged to an earlier connection to the daemon; session keys (CKA_TOKEN false) end with their session when the connection is re-established: generate or import it again, or use a persistent key');
      }
      const sent = wantsSession && conn.session !== undefined ? { ...body, session: conn.session } : body;
      this.hold(conn);
      try {
        return await conn.pc.request(op, sent as RequestOf<K>, { timeoutMs: opts.timeoutMs ?? this.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (e) {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        throw e;
      } finally {
        this.release(conn);
      }
    });
  }

  /** Close the connection; later requests fail. The daemon closes this client's sessions (and, in HOST mode, signs the host out if this was the last application holding the sign-in). */
  close(): void {
    this.closedByUser = true;
    const c = this.conn;
    this.conn = undefined;
    c?.pc.close();
  }

  /* ───────────── internals ───────────── */

  private async withRetry<T>(what: string, opts: { signal?: AbortSignal; retry?: Partial<RetryPolicy> | false }, attempt: () => Promise<T>): Promise<T> {
    const policy = opts.retry === false ? { ...this.retry, attempts: 1 } : checkRetry({ ...this.retry, ...opts.retry });
    const start = Date.now();
    for (let n = 1; ; n++) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof ConnectionLostError) || e instanceof DaemonUnavailableError || this.closedByUser) throw e;
        const elapsed = Date.now() - start;
        if (n >= policy.attempts || elapsed >= policy.deadlineMs) {
          throw new DaemonUnavailableError(`${what}: the client daemon at ${describeEndpoint(this.endpoint)} did not answer after ${n} attempt${n === 1 ? '' : 's'} in ${elapsed} ms: ${e.message}`, { cause: e });
        }
        const wait = Math.min(retryDelay(policy, n), Math.max(0, policy.deadlineMs - elapsed));
        await sleep(wait, opts.signal);
      }
    }
  }

  /** The live connection, or a new one (one connection attempt, shared by concurrent callers). */
  private current(signal?: AbortSignal): Promise<Conn> {
    if (this.closedByUser) return Promise.reject(new ConnectionLostError('the client was closed'));
    if (this.conn && !this.conn.pc.closed) return Promise.resolve(this.conn);
    if (!this.connecting) {
      this.connecting = this.open().finally(() => {
        this.connecting = undefined;
      });
    }
    if (!signal) return this.connecting;
    /* A caller's abort stops its wait, not the shared connection attempt. */
    return Promise.race([this.connecting, new Promise<never>((_, reject) => {
      if (signal.aborted) reject(abortReason(signal));
      signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
    })]);
  }

  private async open(): Promise<Conn> {
    const ep = this.endpoint;
    const where = describeEndpoint(ep);
    if (ep.kind === 'unix') {
      try {
        checkDaemonSocket(ep.path);
      } catch (e) {
        throw new ConfigError(e instanceof Error ? e.message : String(e));
      }
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = ep.kind === 'unix' ? netConnect(ep.path) : netConnect(ep.port, ep.host);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConnectionLostError(`cannot reach the client daemon at ${where}: no connection within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is azcloudhsm_client running?)' : err.code === 'EACCES' ? " (add this user to the daemon's group)" : '';
        reject(new ConnectionLostError(`cannot reach the client daemon at ${where}: ${err.message}${hint}`, { cause: err }));
      });
    });
    let conn: Conn | undefined;
    const pc = new ProtocolClient(socket, { name: `azcloudhsm_client at ${where}`, onNotice: (n) => this.onNotice(conn, n) });
    try {
      const hello = await pc.hello(this.name, { timeoutMs: this.connectTimeoutMs });
      const epoch = ++this.epochs;
      conn = { pc, socket, epoch, server: hello.server, session: undefined, inFlight: 1 };
      const call: RawCall = (op, obj) => pc.request(op, obj, { timeoutMs: this.timeoutMs });
      for (const hook of this.hooks) await hook(call, { epoch, reconnect: epoch > 1 });
      if (this.sessions) conn.session = (await pc.request('openSession', {}, { timeoutMs: this.timeoutMs })).session;
    } catch (e) {
      pc.close();
      throw e;
    }
    const c = conn;
    c.inFlight = 0;
    socket.unref();
    pc.onClose((err) => {
      if (this.conn === c) {
        this.conn = undefined;
        this.emit('disconnected', err);
      }
    });
    if (this.closedByUser) {
      pc.close();
      throw new ConnectionLostError('the client was closed');
    }
    this.conn = c;
    this.emit('connected', { epoch: c.epoch, reconnect: c.epoch > 1, server: c.server });
    return c;
  }

  private onNotice(conn: Conn | undefined, n: DecodedNotice): void {
    if (conn !== undefined && this.conn !== undefined && conn !== this.conn) return; /* a notice on a connection being replaced */
    this.emit('notice', n);
    if (n.notice === 'loginChanged') this.emit('loginChanged', n.obj);
    else if (n.notice === 'goodbye') {
      /* The daemon is stopping: requests in flight finish there, new ones wait for the next connection. */
      if (conn !== undefined && this.conn === conn) {
        this.conn = undefined;
        this.emit('disconnected', new ConnectionLostError(`the client daemon is going away: ${n.obj.reason}`));
      }
      this.emit('goodbye', n.obj.reason);
    }
  }

  /* The socket keeps the event loop alive only while requests are in flight. */
  private hold(c: Conn): void {
    if (c.inFlight++ === 0) c.socket.ref();
  }

  private release(c: Conn): void {
    if (--c.inFlight === 0) c.socket.unref();
  }
}

function checkRetry(p: RetryPolicy): RetryPolicy {
  const problem = retryPolicyProblem(p);
  if (problem !== undefined) throw new TypeError(problem);
  return { attempts: p.attempts, backoffMs: p.backoffMs, deadlineMs: p.deadlineMs };
}
