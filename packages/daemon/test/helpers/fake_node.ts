/**
 * A small in-process stand-in for an HSM node: TLS 1.3 with a given identity,
 * the real protocol server loop (serveConnection), the sign-in on the
 * connection, cluster-wide sessions and idempotency keys. Enough to test the
 * daemon's links, discovery, failover and sign-in without node processes.
 */
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { serveConnection, type ServedConnection } from '../../../protocol/src/connection.js';
import { HsmError, LOGIN_FAILED_MESSAGE } from '../../../protocol/src/errors.js';
import type { DecodedRequest } from '../../../protocol/src/messages.js';

export class FakeClusterState {
  readonly users = new Map<string, { password: string; role: string }>([['cu1', { password: 'user1234', role: 'CU' }], ['cu2', { password: 'password2', role: 'CU' }]]);
  readonly requestIds = new Map<string, number>();
  readonly sessions = new Set<number>();
  nextHandle = 262144;
  nextSession = 1;
  nodes: FakeNode[] = [];
}

interface Conn {
  user: string | undefined;
}

export class FakeNode {
  readonly id: number;
  readonly cluster: FakeClusterState;
  private identity: { key: string; cert: string };
  private server: tls.Server | undefined;
  private readonly conns = new Set<ServedConnection>();
  port = 0;
  /** [op, user] of every request served. */
  readonly served: [string, string | undefined][] = [];
  /** Do not answer these operations (simulate a hung node). */
  hang = new Set<string>();
  /** Answer these operations only after a delay (ms). */
  delay = new Map<string, number>();
  /** Apply generateKey, then drop the connection before answering (once). */
  dropAfterCommit = false;

  constructor(id: number, cluster: FakeClusterState, identity: { key: string; cert: string }) {
    this.id = id;
    this.cluster = cluster;
    this.identity = identity;
    cluster.nodes.push(this);
  }

  async start(port = this.port): Promise<void> {
    const server = tls.createServer({ minVersion: 'TLSv1.3', key: this.identity.key, cert: this.identity.cert });
    server.on('secureConnection', (socket) => {
      const conn: Conn = { user: undefined };
      const served = serveConnection(socket, {
        context: conn,
        hello: () => ({ server: 'OpenCloudHSM/test node', node: this.id }),
        handle: (c, req) => this.handle(c, req, socket),
        onClose: () => this.conns.delete(served),
      });
      this.conns.add(served);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.conns) c.close();
    this.conns.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  get connections(): number {
    return this.conns.size;
  }

  private async handle(c: Conn, req: DecodedRequest, socket: tls.TLSSocket): Promise<unknown> {
    this.served.push([req.op, c.user]);
    if (this.hang.has(req.op)) return new Promise(() => undefined);
    const ms = this.delay.get(req.op);
    if (ms) await new Promise((r) => setTimeout(r, ms));
    const cl = this.cluster;
    switch (req.op) {
      case 'login': {
        const u = cl.users.get(req.obj.user);
        if (!u || u.password !== req.obj.password) throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
        if (c.user) throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', 'already signed in');
        c.user = req.obj.user;
        return { user: req.obj.user, role: u.role };
      }
      case 'logout':
        if (!c.user) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'this connection is not signed in');
        c.user = undefined;
        return {};
      case 'status':
        return { component: 'node', version: 'test', uptime: 1, partitionState: 'e2e' };
      case 'getClusterInfo':
        return { nodes: cl.nodes.map((n) => ({ id: n.id, hostname: '127.0.0.1', port: n.port })) };
      case 'openSession': {
        const s = cl.nextSession++;
        cl.sessions.add(s);
        return { session: s };
      }
      case 'closeSession':
        cl.sessions.delete(req.obj.session);
        return {};
      case 'generateKey': {
        if (!c.user) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'sign in first');
        const rid = req.obj.requestId;
        let handle = rid ? cl.requestIds.get(rid) : undefined;
        if (handle === undefined) {
          handle = cl.nextHandle++;
          if (rid) cl.requestIds.set(rid, handle);
        }
        if (this.dropAfterCommit) {
          this.dropAfterCommit = false;
          socket.destroy();
          return new Promise(() => undefined);
        }
        return { handle };
      }
      case 'sign':
        if (!c.user) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'using a key needs a signed-in CU');
        return { signature: new TextEncoder().encode(`node${this.id}:${c.user}`) };
      case 'generateRandom':
        return { data: new Uint8Array(req.obj.length) };
      default:
        throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `${req.op} is not supported by the fake node`);
    }
  }
}
