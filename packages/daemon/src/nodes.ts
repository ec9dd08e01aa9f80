/**
 * @module The daemon's links to the HSM nodes (docs/decisions.md, docs/daemon.md
 * "Node links").
 *
 * A `NodeLink` is one TLS 1.3 connection to one node, kept alive: connect,
 * verify the partition's certificate chain against PO.crt, `hello`, run the
 * owner's preparation (sign-in) and only then serve; health-check with
 * `status`; reconnect with exponential backoff (100 ms doubling to 5 s, with
 * jitter) when the connection is lost.
 *
 * Why the host name is not checked: a claimed partition presents the chain
 * [POAC.crt, PO.crt], and POAC's subject is `HSM:<serial>:PARTN:1, for
 * non-FIPS mode`, not a DNS name. The partition's identity is "a key that the
 * partition owner's PO.key certified", so the trust anchor is the owner's
 * PO.crt and nothing else (`ca` holds only PO.crt; the system store is not
 * consulted), and `checkServerIdentity` accepts any name. A node that cannot
 * show a chain to PO.crt is never sent a request.
 *
 * A `LinkPool` is a set of links, one per known node, that share one owner
 * (the host-wide sign-in, or one application's sign-in). A `NodeDirectory`
 * is the list of known nodes: the bootstrap servers of the resource cfg plus
 * what `getClusterInfo` reports.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import { ConnectionLostError, ProtocolClient } from '../../protocol/src/connection.js';
import type { DecodedNotice, OpName, RequestOf, ResponseOf } from '../../protocol/src/messages.js';
import type { Frame } from '../../protocol/src/codec.js';
import type { Logger } from './log.js';

/* ─────────────────────────────── errors ─────────────────────────────── */

/** No answer within the request timeout (the request may still run on the node). */
export class RequestTimeoutError extends HsmError {
  constructor(message: string) {
    super('ERR_DEVICE_ERROR', message);
    this.name = 'RequestTimeoutError';
  }
}

/** The node's certificate chain does not lead to PO.crt (or it is not claimed yet). */
export class CertificateError extends HsmError {
  readonly reason: 'signature' | 'unclaimed';
  readonly tlsCode: string | undefined;
  constructor(reason: 'signature' | 'unclaimed', message: string, tlsCode?: string) {
    super('ERR_DEVICE_ERROR', message);
    this.name = 'CertificateError';
    this.reason = reason;
    this.tlsCode = tlsCode;
  }
}

/** PO.crt is missing or unreadable. */
export class TrustAnchorError extends HsmError {
  constructor(message: string) {
    super('ERR_DEVICE_ERROR', message);
    this.name = 'TrustAnchorError';
  }
}

/** The error that a retry on another node may cure: the link failed, not the operation. */
export function isTransient(e: unknown): boolean {
  return e instanceof ConnectionLostError || e instanceof RequestTimeoutError;
}

export const NO_NODE_MESSAGE = 'no HSM node is reachable';
export const noNodeError = (cause?: unknown) => new HsmError('ERR_DEVICE_ERROR', NO_NODE_MESSAGE, cause === undefined ? undefined : { cause });

/** The lines the Azure tools print (the Azure Cloud HSM onboarding guide). */
export const PO_MISSING_LINE = 'partition owner certificate not exist at given path';
export const CERT_SIGNATURE_FAILURE_LINE = 'Certificate ERROR: [ certificate signature failure ]';

/* ─────────────────────────────── the link interface ─────────────────────────────── */

export type LinkState = 'connecting' | 'up' | 'down';

export interface Endpoint {
  /** `hostname:port`, the directory key. */
  readonly key: string;
  readonly hostname: string;
  readonly port: number;
  /** The node's cluster id (1-based) once known from hello or getClusterInfo. */
  nodeId: number | undefined;
  readonly source: 'config' | 'cluster';
}

/**
 * What the sign-in logic and the router need from a link. `NodeLink`
 * implements it over TLS; the unit tests implement it in memory.
 */
export interface LinkLike {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly state: LinkState;
  /** Requests in flight on this link. */
  readonly inFlight: number;
  /** Increases with every new connection; a sign-in belongs to one epoch. */
  readonly epoch: number;
  /** The sign-in generation of the current connection: 0 = not signed in. */
  readonly authGen: number;
  /** Record that the connection of `epoch` is now signed in as `gen` (ignored if it has been replaced). */
  setAuthGen(gen: number, epoch: number): void;
  /** Send one request on the current connection (works while the link prepares, too). */
  request<K extends OpName>(op: K, obj: RequestOf<K>, timeoutMs?: number): Promise<ResponseOf<K>>;
  /** Send an already encoded request body; resolves with the response frame undecoded (the forwarding path). */
  requestRaw?(op: OpName, opcode: number, body: Uint8Array, timeoutMs?: number): Promise<Frame>;
  /** Drop the current connection; the link reconnects with backoff. */
  reset(reason: string): void;
  /** Data bytes of one operation, as the node said in hello (undefined before the first hello, or from an older node). */
  readonly maxData?: number;
  /** The account rules the node said in hello (user name and password lengths). */
  readonly accountRules?: AccountRules;
  /** The partition profile the node said in hello (its name and the CK_RV of a wrong PIN). */
  readonly profile?: ProfileHello;
}

/** What a node's hello says of its partition's profile (protocol/src/profiles.ts). */
export interface ProfileHello {
  readonly profile: string;
  readonly wrongPinRv: number;
  /** The row SET_PIN: C_SetPIN changes the signed-in user's password (absent from an older node: no). */
  readonly setPin?: boolean;
}

/** The user name and password lengths a node accepts (hello's maxUserName, minPassword, maxPassword). */
export interface AccountRules {
  readonly maxUserName: number;
  readonly minPassword: number;
  readonly maxPassword: number;
}

export interface LinkPoolLike {
  readonly name: string;
  links(): readonly LinkLike[];
  /** True while some link has not finished its first connection attempt. */
  starting(): boolean;
  /** Resolves true as soon as `pred` holds for a link, false after `ms`. */
  waitFor(pred: (l: LinkLike) => boolean, ms: number): Promise<boolean>;
  /** Run on every new connection after hello, before the link serves. */
  prepare: ((link: LinkLike) => Promise<void>) | undefined;
  /** Run after a link has come up (or after its sign-in state changed). */
  onLinkChange(cb: (link: LinkLike) => void): () => void;
  /** Check a user's password with a real login on a spare connection (never on a serving link). */
  verifyLogin(user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>>;
  /** Open the links (after `prepare` is set). */
  start(): void;
  close(): void;
}

/* ─────────────────────────────── trust anchor ─────────────────────────────── */

export interface Anchor {
  readonly pem: string;
  readonly cert: X509Certificate;
}

/**
 * PO.crt, read afresh for every connection attempt so that copying the right
 * file into the cert directory takes effect without a restart. The missing-
 * file lines are printed once until the file appears.
 */
export class TrustStore {
  private path: string;
  private readonly log: Logger;
  private reportedMissing = false;

  constructor(path: string, log: Logger) {
    this.path = path;
    this.log = log;
  }

  setPath(path: string): void {
    if (path !== this.path) this.reportedMissing = false;
    this.path = path;
  }

  get poPath(): string {
    return this.path;
  }

  load(): Anchor {
    let pem: string;
    try {
      pem = readFileSync(this.path, 'latin1');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!this.reportedMissing) {
        this.reportedMissing = true;
        this.log.plain(`${this.path},\n${PO_MISSING_LINE}`);
        this.log.error('partition owner certificate not found', { path: this.path, code });
      }
      throw new TrustAnchorError(`${this.path}: ${PO_MISSING_LINE}`);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem.includes('-----BEGIN') ? pem : Buffer.from(pem, 'latin1'));
      if (!pem.includes('-----BEGIN')) pem = cert.toString();
    } catch {
      if (!this.reportedMissing) {
        this.reportedMissing = true;
        this.log.error('partition owner certificate is not an X.509 certificate (PEM or DER)', { path: this.path });
      }
      throw new TrustAnchorError(`${this.path}: not an X.509 certificate (PEM or DER)`);
    }
    if (this.reportedMissing) this.log.info('partition owner certificate found', { path: this.path });
    this.reportedMissing = false;
    return { pem, cert };
  }
}

/* ─────────────────────────────── one connection ─────────────────────────────── */

export interface LinkSettings {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
}

export interface LinkEnv {
  readonly settings: () => LinkSettings;
  readonly trust: TrustStore;
  readonly log: Logger;
  /** What the daemon says in hello. */
  readonly clientName: string;
}

/* Verification errors that mean "this chain does not lead to PO.crt". */
const VALIDITY_ONLY = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * Decide whether the peer may be used. Chain verification against PO.crt
 * is OpenSSL's (`socket.authorized`). One deliberate exception: a chain that
 * fails only on its validity dates is accepted when the leaf's signature
 * verifies with PO.crt's key, because the real service keeps crypto
 * workloads running after PO.crt expires (the Azure Cloud HSM onboarding guide).
 */
function judgePeer(socket: TLSSocket, anchor: Anchor, log: Logger, name: string): CertificateError | undefined {
  if (socket.authorized) return undefined;
  const err = socket.authorizationError as unknown as (Error & { code?: string }) | string | null;
  const code = typeof err === 'string' ? err : err?.code ?? err?.message;
  const peer = socket.getPeerX509Certificate();
  if (code !== undefined && VALIDITY_ONLY.has(code) && peer && peer.verify(anchor.cert.publicKey)) {
    log.warn('node certificate is outside its validity period; accepted because PO.crt signed it', { node: name, code });
    return undefined;
  }
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return new CertificateError('unclaimed', `${name} presents a self-signed certificate: the partition is not claimed yet (unencrypted mode)`, code);
  }
  return new CertificateError('signature', `${name}: the certificate chain does not verify against PO.crt (${code ?? 'unknown'})`, code);
}

export interface OpenedConnection {
  readonly client: ProtocolClient;
  readonly hello: ResponseOf<'hello'>;
  /** The partition certificate's subject (POAC). */
  readonly subject: string | undefined;
}

/**
 * Open one verified connection and say hello. Every failure is an HsmError:
 * TrustAnchorError, CertificateError, or ConnectionLostError.
 */
export function openConnection(hostname: string, port: number, env: LinkEnv, onNotice?: (n: DecodedNotice) => void): Promise<OpenedConnection> {
  const name = `${hostname}:${port}`;
  const { connectTimeoutMs } = env.settings();
  let anchor: Anchor;
  try {
    anchor = env.trust.load();
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise<OpenedConnection>((resolve, reject) => {
    let settled = false;
    const fail = (e: HsmError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const socket = tlsConnect({
      host: hostname,
      port,
      ca: [anchor.pem],
      /* The partition's identity is its PO-signed chain, not a host name (module comment). */
      checkServerIdentity: () => undefined,
      /* Checked by judgePeer before a single byte of the protocol is sent. */
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ...(isIP(hostname) ? {} : { servername: hostname }),
    });
    const timer = setTimeout(() => fail(new ConnectionLostError(`${name}: no TLS connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    timer.unref();
    socket.once('error', (e: Error) => fail(new ConnectionLostError(`${name}: ${e.message}`, { cause: e })));
    socket.once('close', () => fail(new ConnectionLostError(`${name}: connection closed during the TLS handshake`)));
    socket.once('secureConnect', () => {
      if (settled) return;
      const bad = judgePeer(socket, anchor, env.log, name);
      if (bad) {
        fail(bad);
        return;
      }
      const peer = socket.getPeerX509Certificate();
      const client = new ProtocolClient(socket, { name, ...(onNotice ? { onNotice } : {}) });
      client.hello(env.clientName, { timeoutMs: connectTimeoutMs }).then(
        (hello) => {
          if (settled) {
            client.close();
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve({ client, hello, subject: peer?.subject });
        },
        (e: unknown) => {
          client.close();
          fail(isHsmError(e) && !(e instanceof ConnectionLostError) ? new ConnectionLostError(`${name}: hello failed: ${e.message}`, { cause: e }) : (e as HsmError));
        },
      );
    });
  });
}

/* ─────────────────────────────── the link ─────────────────────────────── */

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/** 100 ms doubling to 5 s, each delay drawn from [d/2, d] (jitter keeps nodes from being hit in step). */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const d = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16));
  return Math.round(d / 2 + (random() * d) / 2);
}

export class NodeLink implements LinkLike {
  maxData: number | undefined;
  accountRules: AccountRules | undefined;
  profile: ProfileHello | undefined;
  readonly endpoint: Endpoint;
  readonly name: string;
  private readonly pool: LinkPool;
  private readonly env: LinkEnv;
  private client: ProtocolClient | undefined;
  private state_: LinkState = 'connecting';
  private epoch_ = 0;
  private authGen_ = 0;
  private inFlight_ = 0;
  private failures = 0;
  private stopped = false;
  private running = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private healthPending = false;
  private lastFailure: string | undefined;
  /** True once the first connection attempt has finished, either way. */
  attempted = false;
  /** The partition state the node reported in its last health check. */
  partitionState: string | undefined;
  subject: string | undefined;

  constructor(endpoint: Endpoint, pool: LinkPool, env: LinkEnv) {
    this.endpoint = endpoint;
    this.name = endpoint.key;
    this.pool = pool;
    this.env = env;
  }

  get state(): LinkState {
    return this.state_;
  }
  get epoch(): number {
    return this.epoch_;
  }
  get authGen(): number {
    return this.authGen_;
  }
  get inFlight(): number {
    return this.inFlight_;
  }

  setAuthGen(gen: number, epoch: number): void {
    if (epoch !== this.epoch_ || !this.client) return;
    if (this.authGen_ === gen) return;
    this.authGen_ = gen;
    if (this.state_ === 'up') this.pool.changed(this);
  }

  start(): void {
    if (this.stopped || this.running || this.client) return;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.reconnectTimer = undefined;
    this.healthTimer = undefined;
    const c = this.client;
    this.client = undefined;
    this.authGen_ = 0;
    c?.close();
    this.setState('down');
  }

  reset(reason: string): void {
    const c = this.client;
    if (!c) return;
    this.env.log.warn('dropping the connection to a node', { node: this.name, reason });
    c.close();
  }

  async request<K extends OpName>(op: K, obj: RequestOf<K>, timeoutMs?: number): Promise<ResponseOf<K>> {
    const c = this.client;
    if (!c) throw new ConnectionLostError(`${this.name}: not connected`);
    const ms = timeoutMs ?? this.env.settings().requestTimeoutMs;
    /* The connection's deadline sweep, not an AbortController and a timer per request. */
    this.inFlight_++;
    try {
      return await c.request(op, obj, { timeoutMs: ms, timeoutError: () => new RequestTimeoutError(`${op} on ${this.name}: no answer within ${ms} ms`) });
    } finally {
      this.inFlight_--;
    }
  }

  async requestRaw(op: OpName, opcode: number, body: Uint8Array, timeoutMs?: number): Promise<Frame> {
    const c = this.client;
    if (!c) throw new ConnectionLostError(`${this.name}: not connected`);
    const ms = timeoutMs ?? this.env.settings().requestTimeoutMs;
    this.inFlight_++;
    try {
      return await c.requestRaw(op, opcode, body, { timeoutMs: ms, timeoutError: () => new RequestTimeoutError(`${op} on ${this.name}: no answer within ${ms} ms`) });
    } finally {
      this.inFlight_--;
    }
  }

  private setState(s: LinkState): void {
    if (this.state_ === s) return;
    this.state_ = s;
    this.pool.changed(this);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.setState('connecting');
    let opened: OpenedConnection | undefined;
    try {
      opened = await openConnection(this.endpoint.hostname, this.endpoint.port, this.env, (n) => this.onNotice(n));
      if (this.stopped) {
        opened.client.close();
        return;
      }
      const client = opened.client;
      this.client = client;
      this.epoch_++;
      this.authGen_ = 0;
      this.subject = opened.subject;
      client.onClose((e) => this.lost(client, e));
      if (opened.hello.node !== undefined) this.pool.noteNodeId(this, opened.hello.node);
      this.maxData = opened.hello.maxData;
      const h = opened.hello;
      this.accountRules = h.maxUserName !== undefined && h.minPassword !== undefined && h.maxPassword !== undefined
        ? { maxUserName: h.maxUserName, minPassword: h.minPassword, maxPassword: h.maxPassword }
        : undefined;
      this.profile = h.profile !== undefined && h.wrongPinRv !== undefined ? { profile: h.profile, wrongPinRv: h.wrongPinRv, ...(h.setPin !== undefined ? { setPin: h.setPin } : {}) } : undefined;
      if (this.stopped) return;
      if (this.pool.prepare) await this.pool.prepare(this);
      if (client.closed || this.client !== client) throw new ConnectionLostError(`${this.name}: connection closed while it was being prepared`);
      if (this.stopped) return;
      if (this.lastFailure !== undefined || this.failures > 0) this.env.log.info('node link is up again', { node: this.name, pool: this.pool.name, nodeId: opened.hello.node });
      else this.env.log.info('node link is up', { node: this.name, pool: this.pool.name, nodeId: opened.hello.node, server: opened.hello.server, subject: opened.subject?.replace(/\n/g, ', ') });
      this.failures = 0;
      this.lastFailure = undefined;
      this.attempted = true;
      this.startHealth();
      this.setState('up');
    } catch (e) {
      if (opened && this.client === opened.client) this.client = undefined;
      opened?.client.close();
      this.failed(e);
    } finally {
      this.running = false;
    }
  }

  /** Report a failed attempt (once per kind of failure) and schedule the next one. */
  private failed(e: unknown): void {
    this.attempted = true;
    this.failures++;
    if (this.stopped) return;
    const kind = e instanceof CertificateError ? `cert:${e.reason}` : e instanceof TrustAnchorError ? 'anchor' : 'connect';
    if (kind !== this.lastFailure) {
      if (e instanceof CertificateError && e.reason === 'signature') {
        this.env.log.plain(CERT_SIGNATURE_FAILURE_LINE);
        this.env.log.error('certificate signature failure: the node is not used', { node: this.name, tlsCode: e.tlsCode, poCrt: this.env.trust.poPath });
      } else if (e instanceof CertificateError) {
        this.env.log.warn('the partition is not claimed yet (unencrypted mode): the node is not used until it presents its PO-signed certificate', { node: this.name });
      } else if (!(e instanceof TrustAnchorError)) {
        this.env.log.warn('cannot connect to a node', { node: this.name, error: e instanceof Error ? e.message : String(e) });
      }
      this.lastFailure = kind;
    } else {
      this.env.log.debug('connection attempt failed', { node: this.name, error: e instanceof Error ? e.message : String(e) });
    }
    this.setState('down');
    this.scheduleReconnect();
  }

  private lost(client: ProtocolClient, e: HsmError): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.authGen_ = 0;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    if (this.stopped) return;
    if (this.state_ === 'up') {
      this.env.log.warn('lost the connection to a node', { node: this.name, pool: this.pool.name, error: e.message });
      this.lastFailure = 'connect';
    }
    this.setState('down');
    if (!this.running) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = backoffDelay(this.failures);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.start();
    }, delay);
    this.reconnectTimer.unref();
  }

  private startHealth(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    const { healthIntervalMs } = this.env.settings();
    this.healthTimer = setInterval(() => void this.healthCheck(), healthIntervalMs);
    this.healthTimer.unref();
  }

  /** `status` with a timeout; a link that does not answer is dropped and reconnected. */
  async healthCheck(): Promise<void> {
    if (this.healthPending || this.state_ !== 'up' || !this.client) return;
    this.healthPending = true;
    const client = this.client;
    try {
      const s = await this.request('status', {}, this.env.settings().healthTimeoutMs);
      this.partitionState = s.partitionState;
    } catch (e) {
      if (this.client === client) this.reset(`health check failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.healthPending = false;
    }
  }

  private onNotice(n: DecodedNotice): void {
    if (n.notice === 'goodbye') {
      this.env.log.info('node said goodbye', { node: this.name, reason: n.obj.reason });
      this.reset(`node said goodbye: ${n.obj.reason}`);
    } else if (n.notice === 'loginChanged' && !n.obj.loggedIn && this.authGen_ !== 0) {
      /* The node ended this connection's sign-in: reconnect, which signs in again. */
      this.reset('the node signed this connection out');
    }
  }
}

/* ─────────────────────────────── the directory of nodes ─────────────────────────────── */

export const endpointKey = (hostname: string, port: number) => `${hostname.toLowerCase()}:${port}`;

export class NodeDirectory {
  private readonly eps = new Map<string, Endpoint>();
  private readonly listeners = new Set<() => void>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  list(): Endpoint[] {
    return [...this.eps.values()];
  }

  get(key: string): Endpoint | undefined {
    return this.eps.get(key);
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private changed(): void {
    for (const cb of [...this.listeners]) cb();
  }

  /** Add the resource cfg's servers; returns how many were new. */
  addConfigServers(servers: readonly { hostname: string; port: number }[]): number {
    let added = 0;
    for (const s of servers) {
      const key = endpointKey(s.hostname, s.port);
      if (this.eps.has(key)) continue;
      this.eps.set(key, { key, hostname: s.hostname, port: s.port, nodeId: undefined, source: 'config' });
      added++;
    }
    if (added) this.changed();
    return added;
  }

  /** Merge what getClusterInfo reported: a node already known (by id or address) is not added twice. */
  mergeClusterInfo(nodes: readonly { id: number; hostname: string; port: number }[]): number {
    let added = 0;
    for (const n of nodes) {
      if (this.list().some((e) => e.nodeId === n.id)) continue;
      const key = endpointKey(n.hostname, n.port);
      const known = this.eps.get(key);
      if (known) {
        known.nodeId ??= n.id;
        continue;
      }
      this.eps.set(key, { key, hostname: n.hostname, port: n.port, nodeId: n.id, source: 'cluster' });
      this.log.info('discovered a node', { nodeId: n.id, node: key });
      added++;
    }
    if (added) this.changed();
    return added;
  }

  /**
   * A link learned its node's id from hello. Two addresses for one node (the
   * bootstrap name and the name getClusterInfo gives) keep one link: the
   * configured address wins.
   */
  noteNodeId(key: string, id: number): void {
    const ep = this.eps.get(key);
    if (!ep) return;
    ep.nodeId = id;
    const dup = this.list().find((e) => e !== ep && e.nodeId === id);
    if (!dup) return;
    const drop = dup.source === 'cluster' && ep.source === 'config' ? dup : ep;
    this.log.info('two addresses reach the same node; keeping one', { nodeId: id, kept: (drop === ep ? dup : ep).key, dropped: drop.key });
    this.eps.delete(drop.key);
    this.changed();
  }
}

/* ─────────────────────────────── a pool of links ─────────────────────────────── */

export class LinkPool implements LinkPoolLike {
  readonly name: string;
  private readonly env: LinkEnv;
  private readonly directory: NodeDirectory;
  private readonly map = new Map<string, NodeLink>();
  private readonly listeners = new Set<(l: LinkLike) => void>();
  /** waitFor callers: woken on every change and on close. */
  private readonly wakers = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private closed = false;
  private started = false;
  prepare: ((link: LinkLike) => Promise<void>) | undefined;

  constructor(name: string, directory: NodeDirectory, env: LinkEnv) {
    this.name = name;
    this.env = env;
    this.directory = directory;
    this.unsubscribe = directory.onChange(() => this.sync());
  }

  start(): void {
    this.started = true;
    this.sync();
  }

  /** Create links for new nodes and stop links to nodes that left the directory. */
  sync(): void {
    if (this.closed || !this.started) return;
    const want = new Map(this.directory.list().map((e) => [e.key, e]));
    for (const [key, link] of this.map) {
      if (!want.has(key)) {
        link.stop();
        this.map.delete(key);
      }
    }
    for (const [key, ep] of want) {
      if (this.map.has(key)) continue;
      const link = new NodeLink(ep, this, this.env);
      this.map.set(key, link);
      link.start();
    }
  }

  links(): readonly NodeLink[] {
    return [...this.map.values()];
  }

  link(key: string): NodeLink | undefined {
    return this.map.get(key);
  }

  starting(): boolean {
    return this.links().some((l) => !l.attempted);
  }

  onLinkChange(cb: (l: LinkLike) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Called by links on every state or sign-in change. */
  changed(link: LinkLike): void {
    for (const w of [...this.wakers]) w();
    for (const cb of [...this.listeners]) {
      try {
        cb(link);
      } catch (e) {
        this.env.log.error('link listener failed', { error: e });
      }
    }
  }

  noteNodeId(link: NodeLink, id: number): void {
    this.directory.noteNodeId(link.endpoint.key, id);
  }

  waitFor(pred: (l: LinkLike) => boolean, ms: number): Promise<boolean> {
    if (this.links().some(pred)) return Promise.resolve(true);
    if (ms <= 0 || this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waker = () => {
        if (this.closed || this.links().some(pred)) {
          clearTimeout(timer);
          this.wakers.delete(waker);
          resolve(!this.closed);
        }
      };
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        resolve(false);
      }, ms);
      timer.unref();
      this.wakers.add(waker);
    });
  }

  async verifyLogin(user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>> {
    const up = this.links().filter((l) => l.state === 'up');
    const candidates = [...up, ...this.links().filter((l) => l.state !== 'up')];
    let last: unknown;
    for (const link of candidates) {
      let opened: OpenedConnection | undefined;
      try {
        opened = await openConnection(link.endpoint.hostname, link.endpoint.port, this.env);
        const r = await opened.client.request('login', { user, password, ...(role ? { role } : {}) }, { timeoutMs: this.env.settings().requestTimeoutMs });
        await opened.client.request('logout', {}, { timeoutMs: this.env.settings().requestTimeoutMs }).catch(() => undefined);
        return r;
      } catch (e) {
        if (!(e instanceof ConnectionLostError || e instanceof RequestTimeoutError || e instanceof CertificateError || e instanceof TrustAnchorError)
          && !(isHsmError(e, 'ERR_DEVICE_ERROR') && /no answer within/.test(e.message))) throw e;
        last = e;
      } finally {
        opened?.client.close();
      }
    }
    throw noNodeError(last);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const l of this.map.values()) l.stop();
    this.map.clear();
    this.listeners.clear();
    for (const w of [...this.wakers]) w();
  }
}
