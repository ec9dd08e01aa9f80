/**
 * @module One node connection's requests → the partition.
 *
 * On the cluster leg the sign-in belongs to the connection (docs/protocol.md
 * §6.3): `login` sets the principal that every later request runs as. A
 * `session` number is a store lease, meaningful on every node, so that the
 * daemon may send a session's requests to any node and fail over.
 */
import { HsmError } from '../../protocol/src/errors.js';
import type { DecodedRequest, RequestOf } from '../../protocol/src/messages.js';
import type { AuditRecord } from '../../hsm-core/src/audit/audit.js';
import type { MechanismParams } from '../../hsm-core/src/mechanisms/types.js';
import type { CallContext, MechanismRequest, Partition, Principal } from '../../hsm-core/src/partition.js';
import type { KeyValueStore } from '../../store/src/types.js';
import type { UserInfo } from '../../hsm-core/src/users/users.js';
import { Ownership, SLOT_PO } from './ownership.js';
import type { NodeAuditLog } from './audit_log.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { removesAccess } from '../../hsm-core/src/partition/consistency.js';
import { admit } from '../../hsm-core/src/authz/door.js';
import type { QuorumGuard } from './quorum.js';
import { SignInThrottle } from '../../hsm-core/src/authz/signin_throttle.js';
import { MultiPartTable, multiPartKind, type MultiPartEntry } from '../../hsm-core/src/multipart.js';

const EMPTY = Buffer.alloc(0);

/** Beyond the freshness bound: timer and clock granularity. */
const SETTLE_MARGIN_MS = 5;
/** How long a node that is behind the caller may take to catch up before it answers ERR_NODE_BEHIND. */
export const CATCH_UP_MS = 2000;

export interface NodeInfo {
  readonly id: number;
  readonly hostname: string;
  readonly port: number;
}

export interface NodeEnv {
  readonly partition: Partition;
  readonly store: KeyValueStore;
  readonly ownership: Ownership;
  readonly cluster: () => readonly NodeInfo[];
  readonly nodeId: number;
  readonly version: string;
  readonly startedAt: number;
  /** Session leases live this long without use. */
  readonly sessionTtlMs: number;
  /** Called when E2E mode was just enabled, so the server reloads its TLS identity. */
  readonly onCertificatesChanged: () => void;
  /** This node's key-use audit log (absent: key-use records are in the store's chain). */
  readonly auditLog?: NodeAuditLog;
  /** Test hook (OCHSM_FAULT_KILL_AFTER_COMMIT): die between commit and reply. */
  readonly afterCommit?: (op: string) => void;
  /** On etcd: the node's hold on the store quorum (./quorum.ts); absent on SQLite. */
  readonly quorum?: QuorumGuard;
}

/** Requests answered without the partition, so also by a node cut off from the store quorum. */
const WITHOUT_QUORUM: ReadonlySet<string> = new Set(['getClusterInfo', 'loginStatus', 'logout']);

export interface ConnectionState {
  principal: Principal | undefined;
  /** Every user this connection has been signed in as (a session may be closed after signing out). */
  readonly formerUsers?: Set<string>;
  /** The peer's address: failed sign-ins slow down their own source only. */
  readonly source?: string;
}

type MechRecord = RequestOf<'sign'>['mechanism'];

function mech(m: MechRecord): MechanismRequest {
  const { mechanism, ...rest } = m as { mechanism: number } & Record<string, unknown>;
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) params[k] = v;
  return { mechanism, params: params as MechanismParams };
}

const userRecord = (u: UserInfo) => ({ id: u.id, user: u.name, role: u.role, locked: u.locked, failures: u.failures });

function auditRecord(r: AuditRecord) {
  return {
    seq: r.seq, time: r.time, user: r.user, role: r.role, action: r.action,
    ...(r.handles ? { handles: [...r.handles] } : {}),
    ...(r.mechanism !== undefined ? { mechanism: r.mechanism } : {}),
    ...(r.detail !== undefined ? { detail: r.detail } : {}),
    result: r.result, prev: r.prev, hash: r.hash,
    ...(r.node !== undefined ? { node: r.node } : {}),
  };
}

/** A session's lease is renewed on use, at most this often (a store write each time). */
const RENEW_EVERY_MS = 60_000;

export class NodeHandler {
  private readonly env: NodeEnv;
  private readonly renewed = new Map<number, number>();
  /** Sign-in delay per source address and account name (hsm-core authz/signin_throttle.ts). */
  readonly signIns = new SignInThrottle(() => Date.now());
  /** Multi-part operations in progress, each owned by the connection that began it (hsm-core multipart.ts). */
  readonly multiParts = new MultiPartTable<ConnectionState>(() => Date.now());

  constructor(env: NodeEnv) {
    this.env = env;
  }

  /** The connection closed: its multi-part operations end with it. */
  connectionClosed(st: ConnectionState): void {
    this.multiParts.dropOwner(st);
  }

  /** This connection's multi-part operation `id`, still run by the user who began it. */
  private stream(st: ConnectionState, id: number): MultiPartEntry<ConnectionState> {
    const e = this.multiParts.get(st, id);
    if (e.user !== st.principal?.user) {
      this.multiParts.delete(st, id);
      throw new HsmError('ERR_OPERATION_NOT_INITIALIZED', `multi-part operation ${id} was begun by another sign-in on this connection; it has ended`);
    }
    return e;
  }

  private streamData(data: Uint8Array | undefined, what: string): void {
    const max = this.env.partition.config.maxDataBytes;
    if (data !== undefined && data.length > max) throw new HsmError('ERR_DATA_LEN_RANGE', `${what} is ${data.length} bytes; one part may carry at most ${max} (hello maxData)`);
  }

  /** Run a step of a multi-part operation; any error ends it. */
  private step<T>(st: ConnectionState, e: MultiPartEntry<ConnectionState>, run: () => T): T {
    try {
      return run();
    } catch (err) {
      this.multiParts.delete(st, e.id);
      throw err;
    }
  }

  private ctx(st: ConnectionState, o: { session?: number | undefined; creator?: number | undefined; readOnly?: boolean | undefined; requestId?: string | undefined }): CallContext {
    if (o.session !== undefined) this.renew(o.session);
    return { principal: st.principal, sessionLease: o.session, creator: o.creator, readOnly: o.readOnly, requestId: o.requestId };
  }

  /** A request acting in a session: the session must be open and this caller's (docs/protocol.md, sessions). */
  private async session(st: ConnectionState, req: DecodedRequest): Promise<void> {
    const s = (req.obj as { session?: number }).session;
    if (s === undefined || req.op === 'closeSession' || req.op === 'openSession') return;
    await this.env.partition.useSession(st.principal, s);
  }

  /** Keep a used session alive: its lease expires only after sessionTtlMs without any request. */
  private renew(session: number): void {
    const now = Date.now();
    if (now - (this.renewed.get(session) ?? 0) < RENEW_EVERY_MS) return;
    this.renewed.set(session, now);
    if (this.renewed.size > 100_000) this.renewed.clear();
    void this.env.store.keepAlive(session).catch(() => undefined);
  }

  /**
   * Which audit chain a request names: 'store' (default), the cluster's chain
   * of state changes; 'node', this node's key-use log.
   */
  private chain(name: string | undefined): NodeAuditLog | undefined {
    if (name === undefined || name === 'store') return undefined;
    if (name !== 'node') throw new HsmError('ERR_ARGUMENTS_BAD', `unknown audit chain ${JSON.stringify(name)}; use "store" (state changes) or "node" (this node's key use)`);
    if (!this.env.auditLog) throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `node ${this.env.nodeId} keeps its key-use records in the store's chain`);
    return this.env.auditLog;
  }

  private committed<T>(op: string, v: T): T {
    this.env.afterCommit?.(op);
    return v;
  }

  async handle(st: ConnectionState, req: DecodedRequest): Promise<unknown> {
    let failed = false;
    try {
      if (this.env.quorum && !WITHOUT_QUORUM.has(req.op)) this.env.quorum.check();
      const min = (req.obj as { minRevision?: number }).minRevision;
      /* Current already (the usual case): no catch-up call and no await on the request's path. */
      if (min !== undefined && this.env.partition.state.applied < min) await this.catchUp(min);
      const result = await this.dispatch(st, req);
      /* A caller that speaks the consistency protocol (sends minRevision, even 0) learns how current this node was. */
      return min === undefined ? result : { ...(result as object), revision: this.env.partition.state.applied };
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      /* A removal of access is acknowledged only once no node can still decide on the state before it. */
      /* On etcd also the quorum bound: a node cut off before this removal has stopped serving by then. */
      if (removesAccess(req.op, req.obj as Record<string, unknown>, failed)) await sleep(Math.max(this.env.partition.state.freshnessMs, this.env.quorum?.boundMs ?? 0) + SETTLE_MARGIN_MS);
    }
  }

  /**
   * Answer only once this node has applied `min`, the highest revision the
   * caller has seen: within CATCH_UP_MS, else ERR_NODE_BEHIND (retry, another
   * node may be current). A revision the store has not reached is refused.
   */
  private async catchUp(min: number): Promise<void> {
    const state = this.env.partition.state;
    if (state.applied >= min) return;
    const started = Date.now();
    const timedOut = Symbol('timeout');
    const within = async <T>(p: Promise<T>, ms: number): Promise<T | typeof timedOut> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([p, new Promise<typeof timedOut>((r) => { timer = setTimeout(() => r(timedOut), ms); })]);
      } finally {
        clearTimeout(timer);
      }
    };
    await within(state.sync(), CATCH_UP_MS);
    if (state.applied >= min) return;
    const current = await within(state.currentRevision(), Math.max(1, CATCH_UP_MS - (Date.now() - started)));
    if (current !== timedOut && current < min) {
      throw new HsmError('ERR_ARGUMENTS_BAD', `minRevision ${min} is ahead of the store (at revision ${current}): no node of this cluster has made it`);
    }
    if ((await within(state.waitApplied(min), Math.max(1, CATCH_UP_MS - (Date.now() - started)))) === timedOut || state.applied < min) {
      throw new HsmError('ERR_NODE_BEHIND', `node ${this.env.nodeId} has applied revision ${state.applied} and could not reach ${min} within ${CATCH_UP_MS} ms; retry`);
    }
  }

  private async dispatch(st: ConnectionState, req: DecodedRequest): Promise<unknown> {
    const { partition: p, ownership } = this.env;
    /* Claimed is for good: then the mode needs no await on the request's path. */
    const mode = ownership.claimedForGood ? 'e2e' : await ownership.mode();
    admit(req.op, st.principal, mode === 'unencrypted' ? 'unclaimed' : 'claimed', st.principal ? undefined : await p.profileSettings());
    await this.session(st, req);
    switch (req.op) {
      case 'hello':
        throw new HsmError('ERR_PROTOCOL', 'hello is answered by the connection layer');
      case 'login': {
        /* A locked account checks no password, so its answer (0xA4) is not delayed. */
        const locked = await p.getUserInfo(req.obj.user).then((u) => u.locked, () => false);
        const slot = locked ? { waitMs: 0, done: () => undefined } : this.signIns.begin(`${st.source ?? '?'} ${String(req.obj.user).slice(0, 64)}`);
        let ok = false;
        try {
          if (slot.waitMs > 0) await sleep(slot.waitMs);
          st.principal = await p.login(req.obj.user, req.obj.password, req.obj.role);
          ok = true;
        } finally {
          slot.done(ok);
        }
        st.formerUsers?.add(st.principal.user);
        return { user: st.principal.user, role: st.principal.role };
      }
      case 'logout': {
        /* The sessions the application keeps open after its sign-out serve its next user (PKCS#11 C_Logout). */
        const principal = st.principal;
        st.principal = undefined;
        if (principal && req.obj.sessions?.length) await p.releaseSessions(principal, req.obj.sessions);
        return {};
      }
      case 'getChallenge': {
        const c = await p.officerResetChallenge(req.obj.user);
        return { user: c.user, serial: c.serial, time: c.time, challenge: c.challenge };
      }
      case 'unlockCO':
        return { user: userRecord(await p.resetOfficerPassword(await ownership.cert(SLOT_PO), req.obj.user, req.obj.password, req.obj.time, req.obj.signature)) };
      case 'loginStatus':
        return st.principal ? { loggedIn: true, user: st.principal.user, role: st.principal.role } : { loggedIn: false };
      case 'openSession':
        return { session: await p.openSession(st.principal, this.env.sessionTtlMs) };
      case 'closeSession':
        await p.closeSession(st.principal, st.formerUsers ?? new Set(), req.obj.session, req.obj.creator);
        this.renewed.delete(req.obj.session);
        /* With `creator` only that client session's objects went and the cluster session stays open, so its other client sessions' multi-part operations go on. */
        if (req.obj.creator === undefined) this.multiParts.dropSession(req.obj.session);
        return {};

      case 'createObject':
        return this.committed(req.op, { handle: await p.createObject(this.ctx(st, req.obj), req.obj.template) });
      case 'copyObject':
        return this.committed(req.op, { handle: await p.copyObject(this.ctx(st, req.obj), req.obj.handle, req.obj.template) });
      case 'destroyObject':
        await p.destroyObject(this.ctx(st, req.obj), req.obj.handle);
        return this.committed(req.op, {});
      case 'getAttributeValue': {
        const res = await p.getAttributeValue(this.ctx(st, req.obj), req.obj.handle, req.obj.types);
        return { attributes: res.filter((r) => r.value !== undefined).map((r) => ({ type: r.type, value: r.value! })), rvs: res.map((r) => r.rv) };
      }
      case 'setAttributeValue':
        await p.setAttributeValue(this.ctx(st, req.obj), req.obj.handle, req.obj.template);
        return this.committed(req.op, {});
      case 'findObjects':
        return { handles: await p.findObjects(this.ctx(st, req.obj), req.obj.template) };
      case 'shareKey':
        return this.committed(req.op, { shared: await p.shareKey(this.ctx(st, req.obj), req.obj.handle, req.obj.users, req.obj.share) });
      case 'keyInfo': {
        const k = await p.keyInfo(this.ctx(st, req.obj), req.obj.handle);
        return { owner: k.owner, shared: [...k.shared], token: k.token };
      }

      case 'generateKey':
        return this.committed(req.op, { handle: await p.generateKey(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.template) });
      case 'generateKeyPair':
        return this.committed(req.op, await p.generateKeyPair(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.publicTemplate, req.obj.privateTemplate));
      case 'sign':
        return { signature: await p.sign(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.handle, req.obj.data) };
      case 'verify':
        await p.verify(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.handle, req.obj.data, req.obj.signature);
        return {};
      case 'encrypt':
        return { data: await p.encrypt(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.handle, req.obj.data) };
      case 'decrypt':
        return { data: await p.decrypt(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.handle, req.obj.data) };
      case 'digest':
        return { digest: await p.digest(mech(req.obj.mechanism), req.obj.data) };
      case 'streamInit': {
        const kind = multiPartKind(req.obj.kind);
        const context = await p.beginMultiPart(this.ctx(st, req.obj), kind, mech(req.obj.mechanism), req.obj.handle);
        const stream = this.multiParts.add(st, { kind, mechanism: req.obj.mechanism.mechanism, session: req.obj.session, user: st.principal?.user }, context);
        return { stream };
      }
      case 'streamUpdate': {
        const e = this.stream(st, req.obj.stream);
        return {
          data: this.step(st, e, () => {
            this.streamData(req.obj.data, 'a part');
            return e.context.update(req.obj.data);
          }),
        };
      }
      case 'streamFinal': {
        const e = this.stream(st, req.obj.stream);
        const out = this.step(st, e, () => {
          this.streamData(req.obj.data, 'the last part');
          this.streamData(req.obj.signature, 'the signature');
          const head = req.obj.data?.length ? e.context.update(req.obj.data) : EMPTY;
          if (e.kind === 'verify') {
            if (req.obj.signature === undefined) throw new HsmError('ERR_ARGUMENTS_BAD', 'the final call of a multi-part verify needs the signature');
            if (!e.context.verifyFinal?.(req.obj.signature)) throw new HsmError('ERR_SIGNATURE_INVALID', 'the signature does not verify');
            return EMPTY;
          }
          const tail = e.context.final();
          return head.length ? Buffer.concat([head, tail]) : tail;
        });
        this.multiParts.delete(st, e.id);
        return { data: out };
      }
      case 'streamCancel':
        this.multiParts.delete(st, req.obj.stream);
        return {};
      case 'wrapKey':
        return { wrapped: await p.wrapKey(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.wrappingHandle, req.obj.keyHandle) };
      case 'unwrapKey':
        return this.committed(req.op, { handle: await p.unwrapKey(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.unwrappingHandle, req.obj.wrapped, req.obj.template) });
      case 'deriveKey':
        return this.committed(req.op, { handle: await p.deriveKey(this.ctx(st, req.obj), mech(req.obj.mechanism), req.obj.baseHandle, req.obj.template) });
      case 'generateRandom':
        return { data: await p.generateRandom(req.obj.length) };
      case 'mechanismList':
        return { mechanisms: p.mechanismList() };
      case 'mechanismInfo':
        return p.mechanismInfo(req.obj.mechanism);

      case 'createUser':
        return this.committed(req.op, { user: userRecord(await p.createUser(this.ctx(st, req.obj), req.obj.role, req.obj.user, req.obj.password)) });
      case 'deleteUser':
        await p.deleteUser(this.ctx(st, req.obj), req.obj.user);
        return this.committed(req.op, {});
      case 'changePassword': {
        const role = req.obj.role ?? (st.principal?.user === req.obj.user ? st.principal.role : (await p.getUserInfo(req.obj.user)).role);
        const info = await p.changePassword(this.ctx(st, req.obj), role, req.obj.user, req.obj.password);
        /* The promoted PRECO keeps its connection, now as the CO it has become. */
        if (st.principal?.user === info.name) st.principal = { user: info.name, role: info.role };
        return this.committed(req.op, { user: userRecord(info) });
      }
      case 'setPin':
        return this.committed(req.op, { user: userRecord(await p.setPin(this.ctx(st, req.obj), req.obj.oldPin, req.obj.newPin)) });
      case 'listUsers':
        return { users: (await p.listUsers()).map(userRecord) };
      case 'getPolicy':
        return { policies: await p.getPolicy(), profile: await p.profile() };
      case 'setPolicy':
        return this.committed(req.op, { policies: await p.setPolicy(this.ctx(st, req.obj), req.obj.name, req.obj.value) });
      case 'unlockUser':
        return this.committed(req.op, { user: userRecord(await p.unlockUser(this.ctx(st, req.obj), req.obj.user)) });

      case 'getClusterInfo':
        /* On etcd the nodes alive now, from the store (./quorum.ts); else the configured list. */
        return { nodes: (this.env.quorum?.peers() ?? this.env.cluster()).map((n) => ({ id: n.id, hostname: n.hostname, port: n.port })) };
      case 'status':
        return {
          component: 'node', version: this.env.version, uptime: Math.floor((Date.now() - this.env.startedAt) / 1000),
          /* As applied here, never waiting on the store: the daemon's health check must not time out on a node that is only behind. */
          partitionState: (await p.partitionRecordApplied()).state,
        };
      case 'auditRecords': {
        const from = req.obj.fromSeq ?? 1;
        const limit = Math.min(req.obj.limit ?? 1000, 5000);
        const log = this.chain(req.obj.chain);
        return { records: (log ? await log.records(from, limit) : await p.auditRecords(from, limit)).map(auditRecord) };
      }
      case 'auditVerify': {
        const log = this.chain(req.obj.chain);
        const v = log ? await log.verify() : await p.auditVerify();
        return {
          ok: v.ok, records: v.records, ...(v.brokenAt !== undefined ? { brokenAt: v.brokenAt } : {}), ...(v.reason ? { reason: v.reason } : {}),
          ...(log ? { node: log.node } : {}),
        };
      }
      case 'backupPartition': {
        const { backup, header } = await p.backupPartition(this.ctx(st, {}), this.env.version);
        return { backup, entries: header.entries, auditSeq: header.auditHead.seq };
      }
      case 'restorePartition': {
        const r = await p.restorePartition(this.ctx(st, req.obj), req.obj.backup);
        /* The users were replaced: this connection signs in again; the certificates may have changed. */
        st.principal = undefined;
        this.env.onCertificatesChanged();
        return { entries: r.header.entries, auditSeq: r.auditSeq };
      }
      case 'approveNode': {
        /* A node that is alive and registered keeps its id: a request in its name is someone else's. Asked of the store, not the cached peer list: a replaced node's entry may have lapsed a moment ago. */
        if (await this.env.quorum?.registered(req.obj.node)) {
          throw new HsmError('ERR_ARGUMENTS_BAD', `node ${req.obj.node} is running and registered in this cluster; a join request in its name is not approved (stop that node first, or give the new node another id)`);
        }
        const r = await p.approveNode(this.ctx(st, req.obj), req.obj.node, req.obj.fingerprint);
        return this.committed(req.op, { fingerprint: r.fingerprint, host: r.host, port: r.port });
      }
      case 'joinKey':
        return { wrapped: await p.joinKey(req.obj.node) };
      case 'getCertReq':
        return { csr: Buffer.from(await ownership.certReq()) };
      case 'storeCert': {
        const e2e = await ownership.storeCert(this.ctx(st, req.obj), req.obj.slot, req.obj.cert);
        if (e2e) {
          /* The real node logs the session out once the POAC is stored ("logging out"). */
          st.principal = undefined;
          this.env.onCertificatesChanged();
        }
        return this.committed(req.op, {});
      }
      case 'getCert': {
        const c = await ownership.cert(req.obj.slot);
        if (!c) throw new HsmError('ERR_ARGUMENTS_BAD', `no certificate is stored in slot ${req.obj.slot}`);
        return { cert: c };
      }
    }
  }
}
