/**
 * @module The HSM node server: one partition served over TLS 1.3 (there is
 * no plaintext mode). Before the partition is claimed the node presents a
 * self-signed certificate and answers only the claiming commands ("unencrypted
 * mode, limited commands"); once POAC.crt is stored it presents [POAC, PO],
 * which clients verify against their PO.crt ("E2E enabled"). Every node of a
 * cluster watches the store, so a claim made through one node re-keys them all.
 */
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { serveConnection, type ServedConnection } from '../../protocol/src/connection.js';
import type { Partition } from '../../hsm-core/src/partition.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { NodeHandler, type ConnectionState, type NodeInfo } from './handler.js';
import { Ownership, PATHS, type TlsCredentials } from './ownership.js';
import type { Logger } from './log.js';
import { VERSION } from '../../ops/src/version.js';
import { nodeMetrics } from '../../ops/src/metrics/node.js';
import type { NodeAuditLog } from './audit_log.js';

export { VERSION };
export const DEFAULT_NODE_PORT = 2225;
export const IDLE_TIMEOUT_MS = 120_000;
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
}

export class NodeServer {
  private readonly opts: NodeServerOptions;
  private readonly ownership: Ownership;
  private server: tls.Server | undefined;
  private readonly connections = new Set<ServedConnection>();
  private unwatch: (() => void) | undefined;
  private creds: TlsCredentials | undefined;

  constructor(opts: NodeServerOptions) {
    this.opts = opts;
    this.ownership = new Ownership(opts.partition);
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
    });
    const metrics = nodeMetrics();
    metrics.addNode(this.opts.id);
    const server = tls.createServer({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', key: this.creds.key, cert: this.creds.cert });
    server.on('secureConnection', (socket) => {
      const state: ConnectionState = { principal: undefined, formerUsers: new Set() };
      socket.setNoDelay(true);
      /* A peer that stops mid-frame (or goes silent) is dropped; live clients send health checks. */
      socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
      const conn = serveConnection(socket, {
        context: state,
        hello: () => ({ server: `OpenCloudHSM/${VERSION} node`, node: this.opts.id }),
        handle: (st, req) => metrics.instrument(this.opts.id, req, () => handler.handle(st, req), this.opts.partition),
        onClose: () => {
          this.connections.delete(conn);
          metrics.connections.dec({ node: String(this.opts.id) });
        },
      });
      this.connections.add(conn);
      metrics.connections.inc({ node: String(this.opts.id) });
    });
    server.on('tlsClientError', (err) => this.opts.log.warn('TLS handshake failed', { reason: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    /* A claim made through another node changes what this one must present. */
    this.unwatch = this.opts.store.watch(PATHS.certs, () => void this.reloadIdentity());
    this.opts.log.info(this.creds.mode === 'e2e' ? 'E2E enabled' : 'unencrypted mode, limited commands', { port: this.address?.port ?? this.opts.port });
  }

  private async reloadIdentity(): Promise<void> {
    try {
      const next = await this.ownership.tlsCredentials(new Date());
      if (this.creds && next.cert === this.creds.cert) return;
      this.creds = next;
      this.server?.setSecureContext({ key: next.key, cert: next.cert });
      this.opts.log.info(next.mode === 'e2e' ? 'E2E enabled' : 'TLS identity reloaded');
    } catch (e) {
      this.opts.log.error('reloading the TLS identity failed', { reason: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Stop accepting, let in-flight requests finish (bounded), then close every connection. */
  async stop(drainMs = 5000): Promise<void> {
    this.unwatch?.();
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    const deadline = Date.now() + drainMs;
    while ([...this.connections].some((c) => c.inFlight() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.close();
    await closed;
  }
}
