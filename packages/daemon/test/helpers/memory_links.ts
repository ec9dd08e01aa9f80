/**
 * In-memory stand-ins for node links (the LinkLike / LinkPoolLike interfaces
 * of src/nodes.ts): a tiny cluster whose sign-in belongs to the connection,
 * as on the real cluster leg. For unit tests of the sign-in state machine and
 * the router; no sockets.
 */
import { ConnectionLostError } from '../../../protocol/src/connection.js';
import { HsmError, LOGIN_FAILED_MESSAGE } from '../../../protocol/src/errors.js';
import type { OpName, RequestOf, ResponseOf } from '../../../protocol/src/messages.js';
import type { Endpoint, LinkLike, LinkPoolLike, LinkState } from '../../src/nodes.js';
import { RequestTimeoutError } from '../../src/nodes.js';

export interface MemUser {
  password: string;
  role: string;
  failures: number;
}

/** State shared by every node of the cluster (users, lockout, idempotency keys, handles). */
export class MemCluster {
  readonly users = new Map<string, MemUser>();
  readonly requestIds = new Map<string, number>();
  nextHandle = 262144;
  maxFailures = 5;
  /** Every login attempt: [node, user, ok]. */
  readonly loginLog: [string, string, boolean][] = [];

  addUser(name: string, password: string, role = 'CU'): void {
    this.users.set(name, { password, role, failures: 0 });
  }
}

type Handler = (link: MemLink, op: OpName, obj: Record<string, unknown>) => Promise<unknown> | unknown;

export class MemLink implements LinkLike {
  readonly name: string;
  readonly endpoint: Endpoint;
  state: LinkState = 'up';
  epoch = 1;
  authGen = 0;
  inFlight = 0;
  /** Who the node thinks is signed in on this connection. */
  connUser: string | undefined;
  readonly pool: MemPool;
  readonly cluster: MemCluster;
  /** Requests served: [op, user]. */
  readonly served: [string, string | undefined][] = [];
  /** Make the next requests fail: 'lost' (connection lost) or 'timeout'. */
  failNext: { kind: 'lost' | 'timeout'; count: number } | undefined;
  delayMs = 0;
  /**
   * Cut off: the connection looks up but nothing answers. A request fails with
   * RequestTimeoutError after its timeout, as the real link's deadline sweep
   * does (without a timeout it never settles).
   */
  cutOff = false;
  /** The `sessions` of every logout served, with the user signed in on the connection then. */
  readonly released: { user: string | undefined; sessions: number[] }[] = [];
  handler: Handler | undefined;

  constructor(name: string, pool: MemPool, cluster: MemCluster) {
    this.name = name;
    this.endpoint = { key: name, hostname: name, port: 2225, nodeId: undefined, source: 'config' };
    this.pool = pool;
    this.cluster = cluster;
  }

  setAuthGen(gen: number, epoch: number): void {
    if (epoch !== this.epoch) return;
    this.authGen = gen;
    this.pool.changed(this);
  }

  async request<K extends OpName>(op: K, obj: RequestOf<K>, timeoutMs?: number): Promise<ResponseOf<K>> {
    if (this.state === 'down') throw new ConnectionLostError(`${this.name}: not connected`);
    const epoch = this.epoch;
    this.inFlight++;
    try {
      if (this.cutOff) {
        await new Promise<void>((r) => { if (timeoutMs !== undefined) setTimeout(r, timeoutMs); });
        if (this.epoch !== epoch) throw new ConnectionLostError(`connection to ${this.name} closed`);
        throw new RequestTimeoutError(`${op} on ${this.name}: no answer within ${timeoutMs} ms`);
      }
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      else await Promise.resolve();
      if (this.failNext && this.failNext.count > 0) {
        this.failNext.count--;
        if (this.failNext.kind === 'lost') throw new ConnectionLostError(`connection to ${this.name} closed`);
        throw new RequestTimeoutError(`${op} on ${this.name}: no answer`);
      }
      if (this.epoch !== epoch || (this.state as LinkState) === 'down') throw new ConnectionLostError(`connection to ${this.name} closed`);
      return (await this.serve(op, obj as Record<string, unknown>)) as ResponseOf<K>;
    } finally {
      this.inFlight--;
    }
  }

  private async serve(op: OpName, obj: Record<string, unknown>): Promise<unknown> {
    this.served.push([op, this.connUser]);
    if (this.handler) {
      const r = await this.handler(this, op, obj);
      if (r !== undefined) return r;
    }
    const c = this.cluster;
    switch (op) {
      case 'login': {
        const u = c.users.get(obj.user as string);
        if (u && u.failures >= c.maxFailures) {
          c.loginLog.push([this.name, obj.user as string, false]);
          throw new HsmError('ERR_ACCOUNT_LOCKED', `user ${String(obj.user)} is locked`);
        }
        if (!u || u.password !== obj.password || (obj.role !== undefined && obj.role !== u.role)) {
          if (u) u.failures++;
          c.loginLog.push([this.name, obj.user as string, false]);
          throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
        }
        if (this.connUser !== undefined) throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', 'already signed in on this connection');
        u.failures = 0;
        c.loginLog.push([this.name, obj.user as string, true]);
        this.connUser = obj.user as string;
        return { user: obj.user, role: u.role };
      }
      case 'logout':
        if (Array.isArray(obj.sessions)) this.released.push({ user: this.connUser, sessions: [...(obj.sessions as number[])] });
        if (this.connUser === undefined) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'not signed in');
        this.connUser = undefined;
        return {};
      case 'status':
        return { component: 'node', version: '0', uptime: 1, partitionState: 'e2e' };
      case 'generateKey': {
        if (this.connUser === undefined) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'sign in first');
        const rid = obj.requestId as string | undefined;
        if (rid && c.requestIds.has(rid)) return { handle: c.requestIds.get(rid) };
        const handle = c.nextHandle++;
        if (rid) c.requestIds.set(rid, handle);
        return { handle };
      }
      case 'sign':
        if (this.connUser === undefined) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'sign in first');
        return { signature: new TextEncoder().encode(`${this.name}:${this.connUser}`) };
      case 'generateRandom':
        return { data: new Uint8Array(obj.length as number) };
      default:
        throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `${op} is not supported by the memory node`);
    }
  }

  /** The connection drops: the node forgets the sign-in. */
  drop(): void {
    this.state = 'down';
    this.connUser = undefined;
    this.authGen = 0;
    this.epoch++;
    this.pool.changed(this);
  }

  reset(): void {
    this.drop();
  }

  /** A new connection: prepare (sign in), then serve. */
  async reconnect(): Promise<void> {
    this.state = 'connecting';
    this.epoch++;
    this.authGen = 0;
    this.connUser = undefined;
    this.pool.changed(this);
    if (this.pool.prepare) await this.pool.prepare(this);
    this.state = 'up';
    this.pool.changed(this);
  }
}

export class MemPool implements LinkPoolLike {
  readonly name: string;
  readonly cluster: MemCluster;
  readonly all: MemLink[] = [];
  prepare: ((link: LinkLike) => Promise<void>) | undefined;
  private readonly listeners = new Set<(l: LinkLike) => void>();
  closed = false;
  started = false;
  /** verifyLogin calls: [user]. */
  readonly verified: string[] = [];

  constructor(name: string, cluster: MemCluster, nodes: number) {
    this.name = name;
    this.cluster = cluster;
    for (let i = 1; i <= nodes; i++) this.all.push(new MemLink(`node${i}`, this, cluster));
  }

  links(): readonly LinkLike[] {
    return this.closed ? [] : this.all;
  }
  starting(): boolean {
    return false;
  }
  changed(l: LinkLike): void {
    for (const cb of [...this.listeners]) cb(l);
  }
  onLinkChange(cb: (l: LinkLike) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  async waitFor(pred: (l: LinkLike) => boolean, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.links().some(pred)) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.links().some(pred);
  }
  async verifyLogin(user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>> {
    this.verified.push(user);
    /* A spare connection: a fresh link object that is not part of the pool. */
    const spare = new MemLink('spare', this, this.cluster);
    const r = await spare.request('login', { user, password, ...(role ? { role } : {}) });
    await spare.request('logout', {});
    return r;
  }
  start(): void {
    this.started = true;
  }
  close(): void {
    this.closed = true;
    for (const l of this.all) l.drop();
  }
}
