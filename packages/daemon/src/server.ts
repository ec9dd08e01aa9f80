/**
 * @module The client daemon `azcloudhsm_client` (docs/decisions.md; docs/daemon.md):
 * serves local applications on a Unix socket (or 127.0.0.1:PORT) with the one
 * protocol of docs/protocol.md, and forwards their requests to the cluster.
 *
 * The daemon answers itself: `hello`, `login` / `logout` / `loginStatus`
 * (the sign-in policy of login.ts) and `status` (its own view of the nodes).
 * `openSession` and `closeSession` are forwarded, and the daemon remembers
 * which sessions each application opened so that it closes them when the
 * application goes away. Everything else goes through the router.
 *
 * The daemon never holds key material: it imports only `protocol` and Node
 * built-ins (packages/daemon/README.md).
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { HsmError } from '../../protocol/src/errors.js';
import { serveConnection, type ServedConnection } from '../../protocol/src/connection.js';
import { daemonMetrics } from '../../ops/src/metrics/daemon.js';
import { OPS, STREAM_IDLE_MS, errorFromResponse, opByOpcode, type DecodedRequest, type NoticeOf, type OpName, type RequestOf, type ResponseOf } from '../../protocol/src/messages.js';
import type { Frame } from '../../protocol/src/codec.js';
import { peekMechanism, replyFrame, rewriteRequest } from '../../protocol/src/forward.js';
import { randomUUID } from 'node:crypto';
import {
  APPLICATION_CFG, CLIENT_CFG, loadApplicationConfig, loadClientConfig, loadDaemonConfig, loadResourceConfig, poCertPath,
  type DaemonConfig,
} from './config.js';
import { createLogger, type Logger } from './log.js';
import { ApplicationLogin, HostLogin, type AppHandle, type LoginManager, type RouteContext } from './login.js';
import { LinkPool, NodeDirectory, TrustStore, isTransient, type AccountRules, type LinkEnv, type LinkLike, type LinkSettings } from './nodes.js';
import { Router, routeSeed, type RevisionToken } from './router.js';
import { DAEMON_SOFTWARE, VERSION } from './version.js';

/** How long a shutdown waits for requests in flight. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The daemon's limits on its application socket (docs/daemon.md "Limits").
 * Per connection: the bounds of the protocol's server loop (unread replies,
 * partial frames, the first hello); in total: this many applications.
 */
export const DAEMON_LIMITS = Object.freeze({
  maxApplications: 1024,
  bounds: { maxInFlight: 256, maxUnreadReplyBytes: 8 * 1024 * 1024, maxBufferedReplyBytes: 48 * 1024 * 1024, partialFrameTimeoutMs: 30_000, helloTimeoutMs: 30_000 },
  /** Repeated refusals and violations: at most this many log lines a minute per kind. */
  logPerMinute: 10,
  /** Multi-part operations one application may have in progress (docs/protocol.md "Multi-part operations"). */
  streamsPerApplication: 1024,
});

/**
 * What the daemon answers or tracks itself (handleApp): these are decoded
 * (the multi-part operations too: they are sticky to one node and renumbered);
 * generateRandom too, as its small request asks for a large answer (the
 * server loop's reply reservation reads its length). Every other operation
 * is forwarded undecoded (forwardFrame).
 */
const DECODED_OPS: ReadonlySet<OpName> = new Set<OpName>(['hello', 'login', 'logout', 'loginStatus', 'status', 'openSession', 'closeSession', 'generateRandom', 'streamInit', 'streamUpdate', 'streamFinal', 'streamCancel']);
const FORWARDED_OPCODES: ReadonlySet<number> = new Set((Object.keys(OPS) as OpName[]).filter((op) => !DECODED_OPS.has(op)).map((op) => OPS[op].opcode));

/** A multi-part operation in progress: the node link (and its connection) that holds the context. */
interface Stream {
  readonly app: App;
  readonly link: LinkLike;
  readonly epoch: number;
  /** The node's id for it. */
  readonly remote: number;
  readonly session: number | undefined;
  lastUsed: number;
}

/** At most `perMinute` lines a minute per kind; the count of the rest is logged when the next minute opens. */
function rateLimited(log: Logger, perMinute: number): (kind: string, msg: string, fields?: Record<string, unknown>) => void {
  const counts = new Map<string, { since: number; logged: number; suppressed: number }>();
  return (kind, msg, fields) => {
    const now = Date.now();
    let c = counts.get(kind);
    if (!c || now - c.since >= 60_000) {
      if (c && c.suppressed) log.warn(`${c.suppressed} more of these were not logged`, { kind });
      c = { since: now, logged: 0, suppressed: 0 };
      counts.set(kind, c);
    }
    if (c.logged++ < perMinute) log.warn(msg, { kind, ...fields });
    else c.suppressed++;
  };
}

/* ─────────────────────────────── the Unix socket ─────────────────────────────── */

export class SocketSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SocketSetupError';
  }
}

/** Does something accept connections on this Unix socket? */
function somethingListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

/**
 * Make the socket's directory safe and its path free: create the directory
 * (mode 0750) when absent, refuse a world-writable one (anyone could replace
 * the socket there), and remove an old socket file only when nothing listens
 * on it (a daemon that crashed); a live daemon or a non-socket file is an error.
 */
export async function prepareSocketPath(path: string, log: Logger): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    chmodSync(dir, 0o750);
    log.info('created the socket directory', { dir, mode: '0750' });
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new SocketSetupError(`${dir} is not a directory; set SOCKET_PATH in ${APPLICATION_CFG} to a path in a private directory`);
  if (st.mode & 0o002) {
    throw new SocketSetupError(`refusing to put the daemon socket in ${dir}: the directory is world-writable (mode ${(st.mode & 0o7777).toString(8)}), so anyone could replace the socket; set SOCKET_PATH in ${APPLICATION_CFG} to a path in a private directory`);
  }
  let lst;
  try {
    lst = lstatSync(path);
  } catch {
    return;
  }
  if (!lst.isSocket()) throw new SocketSetupError(`${path} exists and is not a socket; refusing to replace it`);
  if (await somethingListens(path)) throw new SocketSetupError(`another daemon is already listening on ${path}`);
  unlinkSync(path);
  log.info('removed a stale socket file (nothing listened on it)', { path });
}

/** Listen on a Unix socket with mode 0660 (owner and group: add application users to the daemon's group). */
export async function listenUnix(server: Server, path: string, log: Logger): Promise<void> {
  await prepareSocketPath(path, log);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new SocketSetupError(`cannot listen on ${path}: ${e.message}`));
    server.once('error', onError);
    /* The bind happens inside listen(): the umask keeps the socket from ever being wider than 0660. */
    const old = process.umask(0o117);
    try {
      server.listen(path, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  chmodSync(path, 0o660);
}

export async function listenTcp(server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new SocketSetupError(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
    server.once('error', onError);
    /* Loopback only: the protocol carries passwords and is not encrypted on the local leg. */
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/* ─────────────────────────────── the daemon ─────────────────────────────── */

export interface DaemonOptions {
  readonly resourcePath: string;
  readonly pidFile?: string | undefined;
  readonly log?: Logger;
}

interface App extends AppHandle {
  readonly id: number;
  served: ServedConnection | undefined;
  inFlight: number;
  readonly sessions: Set<number>;
  /** The daemon ids of its multi-part operations in progress. */
  readonly streams: Set<number>;
  client: string | undefined;
  closed: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Daemon {
  private config: DaemonConfig;
  /**
   * The highest store revision any application of this daemon has seen
   * (docs/consistency.md): sent with every request, raised by every answer,
   * so each application reads its own writes and those of every other
   * application on this host, on whichever node serves it next.
   */
  private readonly seen: RevisionToken = { revision: 0 };
  private readonly resourcePath: string;
  private readonly pidFile: string | undefined;
  readonly log: Logger;
  private readonly directory: NodeDirectory;
  private readonly trust: TrustStore;
  private readonly env: LinkEnv;
  readonly hostPool: LinkPool;
  readonly login: LoginManager;
  private readonly router: Router;
  private readonly apps = new Map<number, App>();
  private readonly cleanups = new Set<Promise<void>>();
  private readonly server: Server;
  private readonly startedAt = Date.now();
  private readonly discovered = new WeakMap<object, number>();
  private nextAppId = 1;
  private readonly streams = new Map<number, Stream>();
  private nextStreamId = 1;
  private stopping: Promise<void> | undefined;
  private listening = false;
  private readonly limited: (kind: string, msg: string, fields?: Record<string, unknown>) => void;

  private constructor(config: DaemonConfig, opts: DaemonOptions, log: Logger) {
    this.config = config;
    this.resourcePath = config.resource.path;
    this.pidFile = opts.pidFile;
    this.log = log;
    this.directory = new NodeDirectory(log);
    this.trust = new TrustStore(poCertPath(config.client), log);
    this.env = { settings: () => this.linkSettings(), trust: this.trust, log, clientName: DAEMON_SOFTWARE };
    this.hostPool = new LinkPool('host', this.directory, this.env);
    /* A sign-out waits on a node no longer than a health check does (a node that silent is dropped anyway). */
    const timeouts = () => ({ requestTimeoutMs: this.config.client.requestTimeoutMs, connectTimeoutMs: this.config.client.connectTimeoutMs, signOutTimeoutMs: Math.min(this.config.client.healthTimeoutMs, this.config.client.requestTimeoutMs) });
    this.login = config.application.sessionMode === 'APPLICATION'
      ? new ApplicationLogin(this.hostPool, (name) => new LinkPool(name, this.directory, this.env), log, timeouts)
      : new HostLogin(this.hostPool, () => this.apps.values(), log, timeouts);
    /* Where this daemon starts on the ring of nodes under `pack` (docs/daemon.md "Routing, retries and idempotency"). */
    const seed = routeSeed(hostname(), `${config.application.daemonId}\0${this.address}`);
    this.router = new Router(() => ({
      retry: this.config.client.retry, requestTimeoutMs: this.config.client.requestTimeoutMs, connectTimeoutMs: this.config.client.connectTimeoutMs,
      routing: { policy: this.config.client.routing, packInFlight: this.config.client.packInFlight, seed },
    }), log);
    /* Discovery: every time a host link comes up, ask that node for the cluster's members. */
    this.hostPool.onLinkChange((link) => {
      if (link.state !== 'up' || this.discovered.get(link) === link.epoch) return;
      this.discovered.set(link, link.epoch);
      void this.discover(link);
    });
    this.server = createServer((s) => this.onConnection(s));
    this.server.maxConnections = DAEMON_LIMITS.maxApplications;
    this.limited = rateLimited(log, DAEMON_LIMITS.logPerMinute);
    this.server.on('drop', () => this.limited('refused', `refused an application connection: ${DAEMON_LIMITS.maxApplications} are connected`));
    this.server.on('error', (e) => this.log.error('listener error', { error: e }));
  }

  /** Read the configuration, listen for applications, connect to the nodes. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const config = loadDaemonConfig(opts.resourcePath);
    const log = opts.log ?? createLogger(config.client.logLevel);
    if (opts.log) log.level = config.client.logLevel;
    for (const w of config.warnings) log.warn(w);
    const d = new Daemon(config, opts, log);
    await d.listen();
    d.directory.addConfigServers(config.resource.servers);
    d.hostPool.start();
    if (d.pidFile) writeFileSync(d.pidFile, `${process.pid}\n`);
    log.info('azcloudhsm_client is ready', {
      version: VERSION, listen: d.address, sessionMode: config.application.sessionMode, routing: config.client.routing,
      servers: config.resource.servers.map((s) => `${s.hostname}:${s.port}`), poCrt: d.trust.poPath,
    });
    return d;
  }

  private linkSettings(): LinkSettings {
    const c = this.config.client;
    return { connectTimeoutMs: c.connectTimeoutMs, requestTimeoutMs: c.requestTimeoutMs, healthIntervalMs: c.healthIntervalMs, healthTimeoutMs: c.healthTimeoutMs };
  }

  /** The socket path, or `127.0.0.1:PORT`. */
  get address(): string {
    const a = this.config.application;
    return a.socketType === 'TCPSOCKET' ? `127.0.0.1:${a.port}` : a.socketPath;
  }

  get sessionMode(): string {
    return this.login.mode;
  }

  private async listen(): Promise<void> {
    const a = this.config.application;
    if (a.socketType === 'TCPSOCKET') await listenTcp(this.server, a.port);
    else await listenUnix(this.server, a.socketPath, this.log);
    this.listening = true;
  }

  private async discover(link: LinkLike): Promise<void> {
    try {
      const info = await link.request('getClusterInfo', {}, this.config.client.requestTimeoutMs);
      this.directory.mergeClusterInfo(info.nodes);
    } catch (e) {
      this.log.debug('getClusterInfo failed', { node: link.name, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /* ───────────── applications ───────────── */

  private onConnection(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const id = this.nextAppId++;
    const app: App = {
      id,
      served: undefined,
      inFlight: 0,
      sessions: new Set(),
      streams: new Set(),
      client: undefined,
      closed: false,
      notifyLogin: (state: NoticeOf<'loginChanged'>) => {
        if (!app.closed) app.served?.notify('loginChanged', state);
      },
    };
    this.apps.set(id, app);
    app.served = serveConnection(socket, {
      context: app,
      hello: async (ctx, req) => {
        ctx.client = req.client;
        /*
         * What the answer says of the partition (its profile, limits, account rules) comes from
         * the nodes' hello. An application that connects while the daemon's first connections
         * are still being made waits for one (at most connect_timeout_ms), rather than be told
         * nothing and assume the defaults: a PKCS#11 module told no profile answers C_SetPIN and
         * a wrong PIN as the azure profile does.
         */
        if (!this.hostPool.links().some((l) => l.profile) && this.hostPool.starting()) {
          await this.hostPool.waitFor((l) => l.profile !== undefined || l.state === 'up' || !this.hostPool.starting(), this.config.client.connectTimeoutMs);
        }
        const maxData = this.nodesMaxData();
        return { server: DAEMON_SOFTWARE, ...(maxData !== undefined ? { maxData } : {}), ...this.nodesAccountRules(), ...this.nodesProfile() };
      },
      handle: (ctx, req) => daemonMetrics().instrument(req, () => this.handle(ctx, req)),
      forwardOps: FORWARDED_OPCODES,
      forward: (ctx, frame) => this.forwardFrame(ctx, frame),
      onClose: (ctx) => this.onAppClose(ctx),
      bounds: DAEMON_LIMITS.bounds,
      onViolation: (ctx, reason, detail) => this.limited(`closed-${reason}`, 'closed an application connection', { app: ctx.id, reason, detail }),
    });
    this.log.debug('application connected', { app: id });
  }

  /**
   * The data limit of one operation that the nodes announced in their hello (the smallest, as a
   * request may go to any node); undefined before any node has answered. Applications size their
   * requests by it (the PKCS#11 module refuses a larger multi-part input at the update).
   */
  private nodesMaxData(): number | undefined {
    let min: number | undefined;
    for (const l of this.hostPool.links()) if (l.maxData !== undefined && (min === undefined || l.maxData < min)) min = l.maxData;
    return min;
  }

  /**
   * The account rules the nodes announced in their hello, the strictest of them (a sign-in may go
   * to any node); empty before any node has answered. The PKCS#11 module's token info says the PIN
   * lengths from them.
   */
  private nodesAccountRules(): Partial<AccountRules> {
    let r: AccountRules | undefined;
    for (const l of this.hostPool.links()) {
      const a = l.accountRules;
      if (!a) continue;
      r = r ? { maxUserName: Math.min(r.maxUserName, a.maxUserName), minPassword: Math.max(r.minPassword, a.minPassword), maxPassword: Math.min(r.maxPassword, a.maxPassword) } : a;
    }
    return r ?? {};
  }

  /**
   * The partition profile the nodes announced in their hello (one partition: every node says the
   * same); empty before any node has answered. The PKCS#11 module answers a PIN it cannot send
   * with its wrongPinRv, as the partition answers a wrong one, and answers C_SetPIN itself
   * (CKR_FUNCTION_NOT_SUPPORTED) unless setPin says the profile has it.
   */
  private nodesProfile(): { profile?: string; wrongPinRv?: number; setPin?: boolean } {
    for (const l of this.hostPool.links()) if (l.profile) return { ...l.profile };
    return {};
  }

  /** The consistency token is between the daemon and the nodes: an application never sees it. */
  private async handle(app: App, req: DecodedRequest): Promise<unknown> {
    const r = await this.handleApp(app, req);
    if (r !== null && typeof r === 'object' && 'revision' in r) {
      const { revision: _revision, ...rest } = r as { revision?: number };
      void _revision;
      return rest;
    }
    return r;
  }

  private async handleApp(app: App, req: DecodedRequest): Promise<unknown> {
    if (this.stopping) throw new HsmError('ERR_DEVICE_ERROR', 'the daemon is shutting down');
    app.inFlight++;
    try {
      switch (req.op) {
        case 'login':
          return await this.login.login(app, req.obj.user, req.obj.password, req.obj.role);
        case 'logout':
          await this.login.logout(app);
          return {};
        case 'loginStatus':
          return this.login.status(app);
        case 'status':
          return await this.status(app);
        case 'openSession': {
          const r = await this.router.forward(this.login.contextFor(app), 'openSession', req.obj, this.seen);
          if (app.closed) void this.closeSessions(app, [r.session]);
          else app.sessions.add(r.session);
          return r;
        }
        case 'closeSession': {
          const r = await this.router.forward(this.login.contextFor(app), 'closeSession', req.obj, this.seen);
          /* With `creator` only that client session's objects went; the cluster session stays open. */
          /* Its multi-part operations end with the cluster session; a client session's own (with `creator`) the client cancels itself. */
          if (req.obj.creator === undefined) {
            app.sessions.delete(req.obj.session);
            this.cancelStreams(app, req.obj.session);
          }
          return r;
        }
        case 'streamInit':
          return await this.streamInit(app, req.obj);
        case 'streamUpdate':
        case 'streamFinal':
        case 'streamCancel':
          return await this.streamStep(app, req.op, req.obj);
        default: {
          const forward = this.router.forward.bind(this.router) as (ctx: RouteContext, op: OpName, obj: unknown, token: RevisionToken) => Promise<unknown>;
          return await forward(this.login.contextFor(app), req.op, req.obj, this.seen);
        }
      }
    } finally {
      app.inFlight--;
    }
  }

  /**
   * The lean path for every operation the daemon does not answer or track
   * itself: the application's body goes to a node with only the token (and a
   * request id) set, the node's answer comes back with only its `revision`
   * removed (../../protocol/src/forward.ts). Undefined: decode it as usual
   * (a body whose top-level fields are unusual gets the full decoder's answer).
   */
  private forwardFrame(app: App, frame: Frame): Promise<Uint8Array> | undefined {
    const op = opByOpcode(frame.opcode)!;
    const body = rewriteRequest(frame.body, this.seen.revision, OPS[op].mutating ? randomUUID : undefined);
    if (!body) return undefined;
    return daemonMetrics().instrumentForwarded(op, peekMechanism(frame.body), async () => {
      if (this.stopping) throw new HsmError('ERR_DEVICE_ERROR', 'the daemon is shutting down');
      app.inFlight++;
      try {
        const { frame: answer, reply } = await this.router.forwardRaw(this.login.contextFor(app), op, frame.opcode, body, this.seen);
        const bytes = reply.ok ? replyFrame(frame.requestId, frame.opcode, answer.body, reply.cutStart, reply.cutEnd) : replyFrame(frame.requestId, frame.opcode, answer.body);
        return { bytes, error: reply.ok ? undefined : errorFromResponse(reply.code, reply.message).code };
      } finally {
        app.inFlight--;
      }
    }).then((r) => r.bytes);
  }

  /* ───────────── multi-part operations: sticky to the node that began them ───────────── */

  private async streamInit(app: App, obj: RequestOf<'streamInit'>): Promise<ResponseOf<'streamInit'>> {
    /* Streams the application abandoned have expired on their nodes: forget them here too. */
    const now = Date.now();
    for (const id of [...app.streams]) {
      const s = this.streams.get(id);
      if (s && now - s.lastUsed > STREAM_IDLE_MS) this.dropStream(id);
    }
    if (app.streams.size >= DAEMON_LIMITS.streamsPerApplication) {
      throw new HsmError('ERR_LIMIT', `this application already has ${DAEMON_LIMITS.streamsPerApplication} multi-part operations in progress; finish or cancel one first`);
    }
    const { result, link, epoch } = await this.router.forwardOn(this.login.contextFor(app), 'streamInit', obj, this.seen);
    if (app.closed) {
      void link.request('streamCancel', { stream: result.stream }, this.config.client.requestTimeoutMs).catch(() => undefined);
      throw new HsmError('ERR_DEVICE_ERROR', 'the application went away');
    }
    const id = this.nextStreamId;
    this.nextStreamId = this.nextStreamId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextStreamId + 1;
    this.streams.set(id, { app, link, epoch, remote: result.stream, session: obj.session, lastUsed: Date.now() });
    app.streams.add(id);
    return { stream: id };
  }

  private dropStream(id: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    s.app.streams.delete(id);
  }

  /**
   * An update, final or cancel goes to the link (and the very connection) that began the
   * operation, never retried elsewhere: no other node has its context. A lost node ends it with
   * ERR_DEVICE_ERROR (CKR_DEVICE_ERROR); any answer but an update's success ends it too.
   */
  private async streamStep(app: App, op: 'streamUpdate' | 'streamFinal' | 'streamCancel', obj: { readonly stream: number }): Promise<unknown> {
    const id = obj.stream;
    const s = this.streams.get(id);
    if (!s || s.app !== app) {
      if (op === 'streamCancel') return {};
      throw new HsmError('ERR_OPERATION_NOT_INITIALIZED', `multi-part operation ${id} is not active for this application; begin it again`);
    }
    const lost = (cause?: unknown) => {
      this.dropStream(id);
      this.log.info('a multi-part operation ended: its node was lost', { app: app.id, node: s.link.name });
      return new HsmError('ERR_DEVICE_ERROR', `the HSM node ${s.link.name} that held this multi-part operation was lost; the operation has ended, begin it again`, cause === undefined ? undefined : { cause });
    };
    if (s.link.epoch !== s.epoch || s.link.state !== 'up') {
      if (op === 'streamCancel') return (this.dropStream(id), {});
      throw lost();
    }
    const request = s.link.request.bind(s.link) as (op: OpName, obj: unknown, timeoutMs?: number) => Promise<unknown>;
    s.lastUsed = Date.now();
    try {
      const r = await request(op, { ...obj, stream: s.remote }, this.config.client.requestTimeoutMs);
      if (op !== 'streamUpdate') this.dropStream(id);
      return r;
    } catch (e) {
      if (isTransient(e)) throw lost(e);
      this.dropStream(id);
      throw e;
    }
  }

  /** End an application's multi-part operations (of one session, or all), telling their nodes. */
  private cancelStreams(app: App, session?: number): void {
    for (const id of [...app.streams]) {
      const s = this.streams.get(id);
      if (!s || (session !== undefined && s.session !== session)) continue;
      this.dropStream(id);
      if (s.link.epoch === s.epoch && s.link.state === 'up') void s.link.request('streamCancel', { stream: s.remote }, this.config.client.requestTimeoutMs).catch(() => undefined);
    }
  }

  private async closeSessions(app: App, sessions: readonly number[]): Promise<void> {
    const ctx = this.login.contextFor(app);
    await Promise.all(sessions.map(async (session) => {
      try {
        await this.router.forward(ctx, 'closeSession', { session });
      } catch (e) {
        this.log.debug('could not close a session of a departed application', { app: app.id, session, error: e instanceof Error ? e.message : String(e) });
      }
    }));
  }

  private onAppClose(app: App): void {
    if (app.closed) return;
    app.closed = true;
    this.apps.delete(app.id);
    this.log.debug('application disconnected', { app: app.id, sessions: app.sessions.size });
    this.login.departing(app);
    this.cancelStreams(app);
    const p = (async () => {
      /* Sessions first: closing them may need the sign-in that the departure may end. */
      try {
        if (app.sessions.size) await this.closeSessions(app, [...app.sessions]);
      } finally {
        app.sessions.clear();
        await this.login.disconnected(app);
      }
    })().catch((e) => this.log.error('cleanup after an application failed', { app: app.id, error: e }));
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  /* ───────────── status ───────────── */

  async status(app?: App): Promise<ResponseOf<'status'>> {
    const pools = this.login.pools();
    const nodes = this.directory.list()
      .sort((a, b) => (a.nodeId ?? Number.MAX_SAFE_INTEGER) - (b.nodeId ?? Number.MAX_SAFE_INTEGER) || a.key.localeCompare(b.key))
      .map((ep) => {
        const link = this.hostPool.link(ep.key);
        let inFlight = 0;
        for (const p of pools) inFlight += p.links().find((l) => l.endpoint.key === ep.key)?.inFlight ?? 0;
        return { id: ep.nodeId ?? 0, hostname: ep.hostname, port: ep.port, state: link?.state ?? 'connecting', inFlight };
      });
    let partitionState = this.hostPool.links().find((l) => l.state === 'up' && l.partitionState !== undefined)?.partitionState;
    if (partitionState === undefined) {
      const up = this.hostPool.links().find((l) => l.state === 'up');
      if (up) {
        try {
          partitionState = (await up.request('status', {}, this.config.client.healthTimeoutMs)).partitionState;
        } catch (e) {
          if (!isTransient(e)) this.log.debug('status from a node failed', { error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    const signIn = app ? this.login.status(app) : undefined;
    let inFlight = 0;
    for (const a of this.apps.values()) inFlight += a.inFlight;
    return {
      component: 'daemon',
      version: VERSION,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
      ...(partitionState !== undefined ? { partitionState } : {}),
      nodes,
      loggedIn: signIn?.loggedIn ?? false,
      ...(signIn?.loggedIn && signIn.user ? { user: signIn.user } : {}),
      ...(signIn?.loggedIn && signIn.role ? { role: signIn.role } : {}),
      sessionMode: this.login.mode,
      inFlight,
      applications: this.apps.size,
    };
  }

  /** In-flight requests per application (id → count). */
  inFlightByApp(): Map<number, number> {
    return new Map([...this.apps.values()].map((a) => [a.id, a.inFlight]));
  }

  /* ───────────── SIGHUP ───────────── */

  /**
   * Re-read the three files. New servers are connected; timeouts, retries,
   * the log level and the cert directory take effect at once. The socket and
   * the sign-in mode need a restart (a warning says so). A file with an error
   * changes nothing.
   */
  async reload(): Promise<void> {
    try {
      const warnings: string[] = [];
      const warn = (w: string) => warnings.push(w);
      const resource = loadResourceConfig(this.resourcePath, warn);
      const dir = dirname(resource.path);
      const application = loadApplicationConfig(join(dir, APPLICATION_CFG), warn);
      const client = loadClientConfig(join(dir, CLIENT_CFG), dir, warn);
      for (const w of warnings) this.log.warn(w);
      const old = this.config.application;
      if (old.socketType !== application.socketType || old.socketPath !== application.socketPath || old.port !== application.port || old.sessionMode !== application.sessionMode) {
        this.log.warn('SOCKET_TYPE, SOCKET_PATH, PORT and SESSION_MODE take effect only when the daemon restarts', { file: application.path });
      }
      this.config = { resource, application: old, client, warnings };
      this.log.level = client.logLevel;
      this.trust.setPath(poCertPath(client));
      const added = this.directory.addConfigServers(resource.servers);
      for (const link of this.hostPool.links()) if (link.state === 'up') void this.discover(link);
      this.log.info('configuration reloaded', { newServers: added, nodes: this.directory.list().length });
    } catch (e) {
      this.log.error('reload failed; the running configuration is kept', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /* ───────────── shutdown ───────────── */

  private totalInFlight(): number {
    let n = 0;
    for (const a of this.apps.values()) n += a.inFlight;
    return n;
  }

  /** Stop accepting, let requests in flight finish (at most 10 s), close everything, remove the socket. */
  stop(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('shutting down', { inFlight: this.totalInFlight(), applications: this.apps.size });
      this.server.close();
      const until = Date.now() + graceMs;
      while (this.totalInFlight() > 0 && Date.now() < until) await sleep(20);
      if (this.totalInFlight() > 0) this.log.warn('requests still in flight at the end of the grace period', { inFlight: this.totalInFlight() });
      for (const a of [...this.apps.values()]) {
        a.served?.notify('goodbye', { reason: 'the daemon is shutting down' });
        a.served?.close();
      }
      await Promise.race([Promise.allSettled([...this.cleanups]), sleep(2000)]);
      await Promise.race([this.login.close().catch(() => undefined), sleep(2000)]);
      this.hostPool.close();
      if (this.listening && this.config.application.socketType === 'UNIXSOCKET') {
        try {
          if (lstatSync(this.config.application.socketPath).isSocket()) unlinkSync(this.config.application.socketPath);
        } catch {
          /* already gone */
        }
      }
      if (this.pidFile) {
        try {
          unlinkSync(this.pidFile);
        } catch {
          /* already gone */
        }
      }
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
