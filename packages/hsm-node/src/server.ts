/**
 * @module The HSM node server: one partition served over TLS 1.3 (there is
 * no plaintext mode). Before the partition is claimed the node presents a
 * self-signed certificate and answers only the claiming commands ("unencrypted
 * mode, limited commands"); once POAC.crt is stored it presents [POAC, PO],
 * which clients verify against their PO.crt ("E2E enabled"). Every node of a
 * cluster watches the store, so a claim made through one node re-keys them all.
 */
import type { QuorumGuard } from './quorum.js';
import * as tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { serveConnection, type ConnectionBounds, type ServedConnection } from '../../protocol/src/connection.js';
import type { Partition } from '../../hsm-core/src/partition.js';
import { NAME_MAX, PASSWORD_MAX, PASSWORD_MIN } from '../../hsm-core/src/users/users.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { NodeHandler, type ConnectionState, type NodeInfo } from './handler.js';
import { CERTS_PREFIX, Ownership, type TlsCredentials } from './ownership.js';
import { RateLimitedLog, type Logger } from './log.js';
import { VERSION } from '../../ops/src/version.js';
import { nodeMetrics } from '../../ops/src/metrics/node.js';
import type { NodeAuditLog } from './audit_log.js';

export { VERSION };
export const DEFAULT_NODE_PORT = 2225;
export const IDLE_TIMEOUT_MS = 120_000;

/**
 * TLS 1.3 only, on every secure context this server ever uses: the one it
 * starts with and every one it loads after a claim (a context made with only
 * key and cert would fall back to Node's defaults, which accept TLS 1.2 and
 * non-forward-secret suites). Every TLS 1.3 suite is forward secret.
 */
export function tlsContextOptions(creds: { key: string; cert: string }): tls.SecureContextOptions {
  return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', key: creds.key, cert: creds.cert };
}

/** The node's connection limits (docs/protocol.md §5.4); node.json "limits" may override each. */
export interface NodeLimits extends ConnectionBounds {
  /** Connections past the TLS handshake, in total and per source address. */
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
  /** Connections still in the TLS handshake, in total and per source; past either, the oldest is dropped. */
  readonly maxHandshakes: number;
  readonly maxHandshakesPerSource: number;
  /** A TLS handshake not finished in this time is dropped. */
  readonly handshakeTimeoutMs: number;
  /** A connection with no traffic for this long is dropped (daemons send health checks). */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_NODE_LIMITS: Readonly<NodeLimits> = Object.freeze({
  maxInFlight: 256,
  maxUnreadReplyBytes: 8 * 1024 * 1024,
  maxBufferedReplyBytes: 48 * 1024 * 1024,
  partialFrameTimeoutMs: 30_000,
  helloTimeoutMs: 10_000,
  maxConnections: 1024,
  maxConnectionsPerSource: 256,
  maxHandshakes: 256,
  maxHandshakesPerSource: 64,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
});

export function resolveNodeLimits(partial: Record<string, unknown> | undefined, where: string): NodeLimits {
  const out: Record<string, number> = { ...DEFAULT_NODE_LIMITS };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (!(k in DEFAULT_NODE_LIMITS)) throw new Error(`${where}: unknown limit "${k}" (known: ${Object.keys(DEFAULT_NODE_LIMITS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${where}: limit "${k}" must be a positive integer`);
    out[k] = v;
  }
  return out as unknown as NodeLimits;
}
/** A session (and its session objects) ends after this long without a request, unless closed first. */
export const SESSION_TTL_MS = 60 * 60_000;

export interface NodeServerOptions {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly partition: Partition;
  readonly store: KeyValueStore;
  readonly cluster: () => readonly NodeInfo[];
  readonly log: Logger;
  readonly sessionTtlMs?: number;
  readonly afterCommit?: (op: string) => void;
  readonly auditLog?: NodeAuditLog;
  readonly limits?: NodeLimits;
  readonly quorum?: QuorumGuard;
}

/** Count of live sockets per source address. */
class PerSource {
  private readonly m = new Map<string, number>();
  get(k: string): number {
    return this.m.get(k) ?? 0;
  }
  add(k: string, d: number): void {
    const n = this.get(k) + d;
    if (n <= 0) this.m.delete(k);
    else this.m.set(k, n);
  }
}

export class NodeServer {
  private readonly opts: NodeServerOptions;
  private readonly ownership: Ownership;
  private server: tls.Server | undefined;
  private readonly connections = new Set<ServedConnection>();
  private unwatch: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private creds: TlsCredentials | undefined;
  readonly limits: NodeLimits;
  private readonly failures: RateLimitedLog;
  /** Raw sockets still in the TLS handshake, oldest first. */
  private readonly handshaking = new Set<Socket>();
  private readonly handshakesBySource = new PerSource();
  private readonly connectedBySource = new PerSource();
  private connectedCount = 0;

  constructor(opts: NodeServerOptions) {
    this.opts = opts;
    this.ownership = new Ownership(opts.partition);
    this.limits = opts.limits ?? DEFAULT_NODE_LIMITS;
    this.failures = new RateLimitedLog(opts.log);
  }

  /** Live connection counts, for tests and status. */
  get counts(): { handshaking: number; connected: number } {
    return { handshaking: this.handshaking.size, connected: this.connectedCount };
  }

  /**
   * A new TCP connection, before TLS. Past the handshake limits the oldest
   * handshake (of that source, else overall) is dropped: a flood of silent
   * connections costs the attacker its own oldest ones and never blocks a
   * client that finishes its handshake promptly.
   */
  private onTcpConnection(raw: Socket): void {
    const L = this.limits;
    const src = raw.remoteAddress ?? '?';
    const dropOldest = (pred: (s: Socket) => boolean, why: string) => {
      for (const s of this.handshaking) {
        if (pred(s)) {
          this.failures.warn('handshake-evicted', 'dropped the oldest unfinished TLS handshake', { source: src, reason: why });
          this.forgetHandshake(s);
          s.destroy();
          return;
        }
      }
    };
    if (this.handshakesBySource.get(src) >= L.maxHandshakesPerSource) dropOldest((s) => (s.remoteAddress ?? '?') === src, `more than ${L.maxHandshakesPerSource} handshakes from one source`);
    if (this.handshaking.size >= L.maxHandshakes) dropOldest(() => true, `more than ${L.maxHandshakes} handshakes`);
    this.handshaking.add(raw);
    this.handshakesBySource.add(src, 1);
    (raw as Socket & { ochsmSource?: string }).ochsmSource = src;
    raw.once('close', () => this.forgetHandshake(raw));
  }

  private forgetHandshake(raw: Socket): void {
    if (!this.handshaking.delete(raw)) return;
    this.handshakesBySource.add((raw as Socket & { ochsmSource?: string }).ochsmSource ?? '?', -1);
  }

  get mode(): string {
    return this.creds?.mode ?? 'unknown';
  }

  get address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async start(): Promise<void> {
    this.creds = await this.ownership.tlsCredentials(new Date());
    const handler = new NodeHandler({
      partition: this.opts.partition,
      store: this.opts.store,
      ownership: this.ownership,
      cluster: this.opts.cluster,
      nodeId: this.opts.id,
      version: VERSION,
      startedAt: Date.now(),
      sessionTtlMs: this.opts.sessionTtlMs ?? SESSION_TTL_MS,
      onCertificatesChanged: () => void this.reloadIdentity(),
      ...(this.opts.afterCommit ? { afterCommit: this.opts.afterCommit } : {}),
      ...(this.opts.auditLog ? { auditLog: this.opts.auditLog } : {}),
      ...(this.opts.quorum ? { quorum: this.opts.quorum } : {}),
    });
    /* Idle multi-part contexts go even when no new one is begun (hsm-core multipart.ts). */
    this.sweeper = setInterval(() => handler.multiParts.sweep(), 30_000);
    this.sweeper.unref();
    const metrics = nodeMetrics();
    metrics.addNode(this.opts.id);
    const L = this.limits;
    const server = tls.createServer({ ...tlsContextOptions(this.creds), handshakeTimeout: L.handshakeTimeoutMs });
    server.on('connection', (raw: Socket) => this.onTcpConnection(raw));
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const raw = (socket as tls.TLSSocket & { _parent?: Socket })._parent;
      if (raw) this.forgetHandshake(raw);
      const src = socket.remoteAddress ?? '?';
      if (this.connectedCount >= L.maxConnections || this.connectedBySource.get(src) >= L.maxConnectionsPerSource) {
        this.failures.warn('connection-refused', 'refused a connection: too many connections', { source: src, total: this.connectedCount, fromSource: this.connectedBySource.get(src) });
        socket.destroy();
        return;
      }
      this.connectedCount++;
      this.connectedBySource.add(src, 1);
      socket.once('close', () => {
        this.connectedCount--;
        this.connectedBySource.add(src, -1);
      });
      const state: ConnectionState = { principal: undefined, formerUsers: new Set(), source: src };
      socket.setNoDelay(true);
      /* A peer that goes silent is dropped; live clients send health checks. */
      socket.setTimeout(L.idleTimeoutMs, () => socket.destroy());
      const conn = serveConnection(socket, {
        context: state,
        bounds: L,
        /* The account rules and the partition profile go with the limits, so that clients (the PKCS#11 module's token info, its answer to a PIN it cannot send) need no copy of them. */
        hello: () => ({ server: `OpenCloudHSM/${VERSION} node`, node: this.opts.id, maxData: this.opts.partition.config.maxDataBytes, maxUserName: NAME_MAX, minPassword: PASSWORD_MIN, maxPassword: PASSWORD_MAX, ...this.opts.partition.profileHello() }),
        handle: (st, req) => metrics.instrument(this.opts.id, req, () => handler.handle(st, req), this.opts.partition),
        onClose: () => {
          handler.connectionClosed(state);
          this.connections.delete(conn);
          metrics.connections.dec({ node: String(this.opts.id) });
        },
        onViolation: (_st, reason, detail) => this.failures.warn(`closed-${reason}`, 'closed a connection', { source: src, reason, detail }),
      });
      this.connections.add(conn);
      metrics.connections.inc({ node: String(this.opts.id) });
    });
    server.on('tlsClientError', (err, raw) => {
      this.forgetHandshake((raw as tls.TLSSocket & { _parent?: Socket })._parent ?? (raw as unknown as Socket));
      this.failures.warn('tls-handshake', 'TLS handshake failed', { reason: err.message, source: raw?.remoteAddress });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    /* A claim made through another node changes what this one must present. */
    this.unwatch = this.opts.store.watch(CERTS_PREFIX, () => void this.reloadIdentity());
    this.opts.log.info(this.creds.mode === 'e2e' ? 'E2E enabled' : 'unencrypted mode, limited commands', { port: this.address?.port ?? this.opts.port });
  }

  private async reloadIdentity(): Promise<void> {
    try {
      const next = await this.ownership.tlsCredentials(new Date());
      if (this.creds && next.cert === this.creds.cert) return;
      this.creds = next;
      this.server?.setSecureContext(tlsContextOptions(next));
      this.opts.log.info(next.mode === 'e2e' ? 'E2E enabled' : 'TLS identity reloaded');
    } catch (e) {
      this.opts.log.error('reloading the TLS identity failed', { reason: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Stop accepting, let in-flight requests finish (bounded), then close every connection. */
  async stop(drainMs = 5000): Promise<void> {
    this.unwatch?.();
    if (this.sweeper) clearInterval(this.sweeper);
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    const deadline = Date.now() + drainMs;
    while ([...this.connections].some((c) => c.inFlight() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.close();
    await closed;
  }
}
