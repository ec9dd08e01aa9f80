/**
 * @module The HSM partition: users, objects, policy, key use, audit.
 *
 * This is the pure core of one partition. It does no I/O of its own: durable
 * state lives behind the barrier in an injected store, time comes from an
 * injected clock, and node:crypto is reached only through crypto/node.ts.
 * Every node of a cluster runs one Partition over the same store; nothing here
 * depends on which node serves a request (handles, lockout counters and the
 * audit chain all live in the store and change only by compare-and-swap).
 *
 * Entry points mirror the PKCS#11 functions (PKCS#11 v2.40 Base §5) and the
 * Azure user-management commands; each takes a CallContext saying who calls.
 */
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError, LOGIN_FAILED_MESSAGE, type HsmErrorCode } from '../../protocol/src/errors.js';
import { ckaName, ckmName } from '../../protocol/src/names.js';
import type { Compare, KeyValueStore } from '../../store/src/types.js';
import { Barrier, type BarrierOp } from './barrier/barrier.js';
import { createPrivateKey, createPublicKey, randomBytes, KeyObject, X509Certificate } from './crypto/node.js';
import { makeRecord, verifyChain, GENESIS_HASH, type AuditEvent, type AuditRecord, type ChainVerdict } from './audit/audit.js';
import { Template, encodeBool, encodeUlong, decodeBool, decodeUlong, type Attribute } from './objects/attributes.js';
import { applyCreateTemplate, checkSetTemplate, isMaterial, isReadable, policyFor, SECRET_KEY_TYPES } from './objects/policy.js';
import {
  checkCurveKeyType, checkGivenMatches, checkSecretLength, checkValue, curveOfKeyObject, keyTypeOf,
  privateKeyFromTemplate, publicAttributes, publicKeyFromTemplate, PUBLIC_ONLY_ATTRIBUTES,
} from './objects/keys.js';
import { curveByParams } from './mechanisms/curves.js';
import { getMechanism, listMechanisms } from './mechanisms/index.js';
import type { KeyMaterial, Mechanism, MechanismParams } from './mechanisms/types.js';
import {
  DEFAULT_SCRYPT, hashPassword, parseRole, userInfo, validatePassword, validateUserName, verifyPassword,
  type Role, type ScryptParams, type UserInfo, type UserRecord,
} from './users/users.js';

/* Storage paths (docs/storage-format.md). */
export const PATH = {
  partition: 'sys/partition',
  nextHandle: 'sys/next_handle',
  nextUserId: 'sys/next_user_id',
  auditHead: 'sys/audit/head',
  user: (name: string) => `user/${name}`,
  users: 'user/',
  object: (h: number) => `obj/${String(h).padStart(10, '0')}`,
  objects: 'obj/',
  audit: (seq: number) => `audit/${String(seq).padStart(12, '0')}`,
  audits: 'audit/',
  idem: (id: string) => `idem/${id}`,
} as const;

/** The first object handle (0x40000), as the real service numbers keys. */
export const FIRST_HANDLE = 262144;
export const FACTORY_PRECO = { name: 'admin', password: 'tenantadmin' } as const;

export interface PartitionConfig {
  /** Consecutive failed sign-ins that lock an account. */
  readonly maxLoginFailures: number;
  readonly scrypt: ScryptParams;
  /** Largest data accepted by one single-part operation. */
  readonly maxDataBytes: number;
}

export const DEFAULT_CONFIG: PartitionConfig = { maxLoginFailures: 5, scrypt: DEFAULT_SCRYPT, maxDataBytes: 1 << 20 };

export interface Principal {
  readonly user: string;
  readonly role: Role;
}

export interface CallContext {
  /** The signed-in user, or undefined for a public (not logged-in) session. */
  readonly principal?: Principal | undefined;
  /** The store lease that owns this caller's session objects (CKA_TOKEN FALSE). */
  readonly sessionLease?: number | undefined;
  /** Idempotency key of a state-changing request: a retry returns the first result. */
  readonly requestId?: string | undefined;
}

export interface MechanismRequest {
  readonly mechanism: number;
  readonly params?: MechanismParams;
}

export interface AttributeResult {
  readonly type: number;
  /** Present when the attribute is readable. */
  readonly value?: Uint8Array;
  /** CKR_OK, CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID for this attribute. */
  readonly rv: number;
}

/** The partition record at `sys/partition`. */
export interface PartitionRecord {
  readonly version: 1;
  readonly created: number;
  /** Ownership state; the cluster layer drives claiming (storeCert...). */
  readonly state: 'factory' | 'po-stored' | 'e2e' | 'operational';
  readonly serial: string;
}

/** What is stored at obj/<handle>, masked by the barrier. */
interface StoredObject {
  handle: number;
  owner: string;
  shared: string[];
  lease: number;
  attrs: Map<number, Uint8Array>;
  material?: { kind: 'secret' | 'pkcs8' | 'spki'; bytes: Buffer };
}

interface LoadedObject {
  readonly obj: StoredObject;
  readonly version: number;
}

const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
const dec = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString('utf8')) as T;

function encodeObject(o: StoredObject): Buffer {
  return enc({
    v: 1, handle: o.handle, owner: o.owner, shared: o.shared, lease: o.lease,
    attrs: [...o.attrs].map(([t, v]) => [t, Buffer.from(v).toString('hex')]),
    material: o.material ? { kind: o.material.kind, hex: o.material.bytes.toString('hex') } : undefined,
  });
}

function decodeObject(b: Uint8Array): StoredObject {
  const j = dec<{ v: number; handle: number; owner: string; shared: string[]; lease: number; attrs: [number, string][]; material?: { kind: 'secret' | 'pkcs8' | 'spki'; hex: string } }>(b);
  if (j.v !== 1) throw new HsmError('ERR_STORE', `object record version ${j.v} is not supported`);
  return {
    handle: j.handle, owner: j.owner, shared: j.shared, lease: j.lease,
    attrs: new Map(j.attrs.map(([t, h]) => [t, Buffer.from(h, 'hex')])),
    ...(j.material ? { material: { kind: j.material.kind, bytes: Buffer.from(j.material.hex, 'hex') } } : {}),
  };
}

const boolAttr = (o: StoredObject, t: number): boolean => {
  const v = o.attrs.get(t);
  return v !== undefined && decodeBool(v);
};
const ulongAttr = (o: StoredObject, t: number): number | undefined => {
  const v = o.attrs.get(t);
  return v === undefined ? undefined : decodeUlong(t, v);
};
const classOf = (o: StoredObject): number => ulongAttr(o, P.CKA_CLASS)!;
const keyTypeOfObj = (o: StoredObject): number | undefined => ulongAttr(o, P.CKA_KEY_TYPE);
const isKeyClass = (c: number): boolean => c === P.CKO_SECRET_KEY || c === P.CKO_PRIVATE_KEY || c === P.CKO_PUBLIC_KEY;

/** The usage attribute each operation needs (PKCS#11 v2.40 Base Table 25). */
const USAGE = {
  sign: P.CKA_SIGN, verify: P.CKA_VERIFY, encrypt: P.CKA_ENCRYPT, decrypt: P.CKA_DECRYPT,
  wrap: P.CKA_WRAP, unwrap: P.CKA_UNWRAP, derive: P.CKA_DERIVE,
} as const;
type Use = keyof typeof USAGE;

/** Bound on the key-material cache; a miss costs a PKCS#8 parse. */
const MATERIAL_CACHE_MAX = 4096;
/** Bound on compare-and-swap retries under contention from other nodes. */
const MAX_CAS_ATTEMPTS = 200;

export class Partition {
  readonly barrier: Barrier;
  readonly config: PartitionConfig;
  private readonly clock: () => number;
  private readonly materialCache = new Map<string, KeyMaterial>();
  private auditQueue: { event: AuditEvent; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private auditFlushing: Promise<void> | undefined;

  private constructor(barrier: Barrier, config: PartitionConfig, clock: () => number) {
    this.barrier = barrier;
    this.config = config;
    this.clock = clock;
  }

  /**
   * Open the partition over a store, creating the factory state (PRECO
   * admin/tenantadmin) the first time. Safe when several nodes race to do so.
   */
  static async open(opts: { store: KeyValueStore; maskingKey: Uint8Array; clock?: () => number; config?: Partial<PartitionConfig> }): Promise<Partition> {
    const barrier = await Barrier.open(opts.store, opts.maskingKey);
    const p = new Partition(barrier, { ...DEFAULT_CONFIG, ...opts.config }, opts.clock ?? Date.now);
    await p.initialiseFactoryState();
    return p;
  }

  private async initialiseFactoryState(): Promise<void> {
    if (await this.barrier.get(PATH.partition)) return;
    const hashed = await hashPassword(FACTORY_PRECO.password, this.config.scrypt);
    const preco: UserRecord = { name: FACTORY_PRECO.name, role: 'PRECO', id: 1, ...hashed, failures: 0, locked: false, created: this.clock() };
    const rec: PartitionRecord = { version: 1, created: this.clock(), state: 'factory', serial: randomBytes(15).toString('hex').toUpperCase() };
    await this.mutate(async () => ({
      compare: [{ key: PATH.partition, op: 'absent' }],
      ops: [
        { op: 'put', key: PATH.partition, value: enc(rec) },
        { op: 'put', key: PATH.user(preco.name), value: enc(preco) },
        { op: 'put', key: PATH.nextUserId, value: enc({ next: 2 }) },
        { op: 'put', key: PATH.nextHandle, value: enc({ next: FIRST_HANDLE }) },
      ],
      events: [{ user: '', role: '', action: 'initialisePartition', result: 'ok' }],
      result: undefined,
      /* Another node initialised it first: that is fine. */
      onConflict: async () => ((await this.barrier.get(PATH.partition)) ? 'done' : 'retry'),
    }));
  }

  async partitionRecord(): Promise<PartitionRecord> {
    const e = await this.barrier.get(PATH.partition);
    if (!e) throw new HsmError('ERR_PARTITION_STATE', 'the partition is not initialised');
    return dec<PartitionRecord>(e.value);
  }

  /** Change the ownership state (used by the cluster layer's claiming flow). */
  async setPartitionState(state: PartitionRecord['state'], ctx: CallContext): Promise<void> {
    await this.mutate(async () => {
      const e = await this.barrier.get(PATH.partition);
      if (!e) throw new HsmError('ERR_PARTITION_STATE', 'the partition is not initialised');
      const rec = { ...dec<PartitionRecord>(e.value), state };
      return {
        compare: [{ key: PATH.partition, op: 'version-eq', version: e.version }],
        ops: [{ op: 'put', key: PATH.partition, value: enc(rec) }],
        events: [this.event(ctx, 'setPartitionState', { detail: state })],
        result: undefined,
      };
    });
  }

  /* ───────────────────────────── store transactions ───────────────────────────── */

  /**
   * Run a state change: `build` reads what it needs and returns the compares and
   * writes; the audit records of the change are appended in the same
   * transaction, so a change is never committed without its record. On a
   * conflict (another node wrote first) the change is rebuilt from fresh reads.
   */
  private async mutate<T>(build: () => Promise<{
    compare?: Compare[];
    ops?: BarrierOp[];
    events?: AuditEvent[];
    result: T;
    onConflict?: () => Promise<'retry' | 'done'>;
  }>): Promise<T> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const head = await this.barrier.get(PATH.auditHead);
      const plan = await build();
      const ops: BarrierOp[] = [...(plan.ops ?? [])];
      const compare: Compare[] = [...(plan.compare ?? [])];
      const events = plan.events ?? [];
      if (events.length > 0) {
        let { seq, hash } = head ? dec<{ seq: number; hash: string }>(head.value) : { seq: 0, hash: GENESIS_HASH };
        const now = this.clock();
        for (const e of events) {
          seq++;
          const r = makeRecord(e, seq, now, hash);
          hash = r.hash;
          ops.push({ op: 'put', key: PATH.audit(seq), value: enc(r) });
        }
        compare.push({ key: PATH.auditHead, op: 'version-eq', version: head?.version ?? 0 });
        ops.push({ op: 'put', key: PATH.auditHead, value: enc({ seq, hash }) });
      }
      if (ops.length === 0) return plan.result;
      const res = await this.barrier.txn(compare, ops);
      if (res.succeeded) return plan.result;
      if (plan.onConflict && (await plan.onConflict()) === 'done') return plan.result;
    }
    throw new HsmError('ERR_STORE', 'the store stayed too busy to commit the change; try again');
  }

  /** Append key-use records; concurrent callers share one transaction (group commit). */
  private logUse(event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.auditQueue.push({ event, resolve, reject });
      this.auditFlushing ??= this.flushAudit().finally(() => {
        this.auditFlushing = undefined;
      });
    });
  }

  private async flushAudit(): Promise<void> {
    while (this.auditQueue.length > 0) {
      const batch = this.auditQueue.splice(0, 512);
      try {
        await this.mutate(async () => ({ events: batch.map((b) => b.event), result: undefined }));
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
  }

  private event(ctx: CallContext, action: string, more: Partial<AuditEvent> = {}, result = 'ok'): AuditEvent {
    return { user: ctx.principal?.user ?? '', role: ctx.principal?.role ?? '', action, result, ...more };
  }

  /** Idempotency: the stored result of an earlier request with the same id, if any. */
  private async priorResult<T>(ctx: CallContext, action: string): Promise<{ found: true; result: T } | { found: false; compare: Compare[]; ops: (r: T) => BarrierOp[] }> {
    const id = ctx.requestId;
    if (id === undefined) return { found: false, compare: [], ops: () => [] };
    if (typeof id !== 'string' || !/^[A-Za-z0-9_.:-]{8,128}$/.test(id)) throw new HsmError('ERR_ARGUMENTS_BAD', 'request id must be 8 to 128 characters of [A-Za-z0-9_.:-]');
    const e = await this.barrier.get(PATH.idem(id));
    if (e) {
      const rec = dec<{ user: string; action: string; result: T }>(e.value);
      if (rec.user !== (ctx.principal?.user ?? '') || rec.action !== action) {
        throw new HsmError('ERR_ARGUMENTS_BAD', 'request id was already used for a different request');
      }
      return { found: true, result: rec.result };
    }
    return {
      found: false,
      compare: [{ key: PATH.idem(id), op: 'absent' }],
      ops: (r: T) => [{ op: 'put', key: PATH.idem(id), value: enc({ user: ctx.principal?.user ?? '', action, result: r, time: this.clock() }) }],
    };
  }

  /* ───────────────────────────────── users ───────────────────────────────── */

  private async getUser(name: string): Promise<{ rec: UserRecord; version: number } | undefined> {
    const e = await this.barrier.get(PATH.user(name));
    return e ? { rec: dec<UserRecord>(e.value), version: e.version } : undefined;
  }

  /**
   * Sign in. Unknown users, wrong passwords, a role that is not the user's and
   * malformed names all give the same ERR_LOGIN_FAILED (0xA3) after the same
   * work; a locked account gives ERR_ACCOUNT_LOCKED. Failures are counted in
   * the store, so the limit holds across every node of the cluster.
   */
  async login(name: string, password: string, role?: string): Promise<Principal> {
    const claimed = role === undefined ? undefined : parseRole(role);
    let found: { rec: UserRecord; version: number } | undefined;
    try {
      validateUserName(name);
      found = await this.getUser(name);
    } catch (e) {
      if (!(e instanceof HsmError) || e.code !== 'ERR_ARGUMENTS_BAD') throw e;
    }
    if (!found) {
      /* Same cost as a real check, so timing does not reveal which names exist. */
      await verifyPassword(String(password), { salt: '00', hash: '00'.repeat(32), scrypt: this.config.scrypt });
      await this.mutate(async () => ({ events: [{ user: String(name).slice(0, 64), role: claimed ?? '', action: 'login', result: 'ERR_LOGIN_FAILED' }], result: undefined }));
      throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
    }
    if (found.rec.locked) {
      await this.mutate(async () => ({ events: [{ user: name, role: found!.rec.role, action: 'login', result: 'ERR_ACCOUNT_LOCKED' }], result: undefined }));
      throw new HsmError('ERR_ACCOUNT_LOCKED', `account ${name} is locked after ${this.config.maxLoginFailures} failed sign-ins; a crypto officer must unlock it`);
    }
    const ok = typeof password === 'string' && (await verifyPassword(password, found.rec)) && (claimed === undefined || claimed === found.rec.role);
    if (!ok) {
      await this.mutate(async () => {
        const cur = await this.getUser(name);
        if (!cur) return { result: undefined };
        const failures = cur.rec.failures + 1;
        const locked = failures >= this.config.maxLoginFailures;
        return {
          compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
          ops: [{ op: 'put', key: PATH.user(name), value: enc({ ...cur.rec, failures, locked }) }],
          events: [{ user: name, role: cur.rec.role, action: 'login', result: 'ERR_LOGIN_FAILED', ...(locked ? { detail: 'account locked' } : {}) }],
          result: undefined,
        };
      });
      throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
    }
    await this.mutate(async () => {
      const cur = await this.getUser(name);
      const reset = cur && cur.rec.failures > 0;
      return {
        compare: reset ? [{ key: PATH.user(name), op: 'version-eq', version: cur.version }] : [],
        ops: reset ? [{ op: 'put', key: PATH.user(name), value: enc({ ...cur.rec, failures: 0 }) }] : [],
        events: [{ user: name, role: found!.rec.role, action: 'login', result: 'ok' }],
        result: undefined,
      };
    });
    return { user: name, role: found.rec.role };
  }

  private requireRole(ctx: CallContext, roles: readonly Role[], what: string): Principal {
    const p = ctx.principal;
    if (!p) throw new HsmError('ERR_USER_NOT_LOGGED_IN', `${what} needs a signed-in ${roles.join(' or ')}`);
    if (!roles.includes(p.role)) throw new HsmError('ERR_NOT_PERMITTED', `${what} is not permitted for a ${p.role}; it needs a ${roles.join(' or ')}`);
    return p;
  }

  async createUser(ctx: CallContext, role: string, name: string, password: string): Promise<UserInfo> {
    const caller = this.requireRole(ctx, ['CO'], 'creating a user');
    const r = parseRole(role);
    if (r === 'PRECO') throw new HsmError('ERR_USER_TYPE_INVALID', 'a PRECO cannot be created; the partition has exactly one, from the factory');
    validateUserName(name);
    validatePassword(password);
    const prior = await this.priorResult<UserInfo>(ctx, 'createUser');
    if (prior.found) return prior.result;
    const hashed = await hashPassword(password, this.config.scrypt);
    return this.mutate(async () => {
      if (await this.getUser(name)) throw new HsmError('ERR_USER_EXISTS', `user ${name} already exists`);
      const idE = await this.barrier.get(PATH.nextUserId);
      const id = idE ? dec<{ next: number }>(idE.value).next : 2;
      const rec: UserRecord = { name, role: r, id, ...hashed, failures: 0, locked: false, created: this.clock() };
      const info = userInfo(rec);
      return {
        compare: [{ key: PATH.user(name), op: 'absent' }, { key: PATH.nextUserId, op: 'version-eq', version: idE?.version ?? 0 }, ...prior.compare],
        ops: [
          { op: 'put', key: PATH.user(name), value: enc(rec) },
          { op: 'put', key: PATH.nextUserId, value: enc({ next: id + 1 }) },
          ...prior.ops(info),
        ],
        events: [{ user: caller.user, role: caller.role, action: 'createUser', detail: `${r} ${name}`, result: 'ok' }],
        result: info,
      };
    });
  }

  /**
   * Change a password. Anyone may change their own; a CO may change a CU's or
   * AU's. The PRECO changing its own password becomes a CO (the claiming step
   * of the onboarding guide §1.5 step 8).
   */
  async changePassword(ctx: CallContext, role: string, name: string, newPassword: string): Promise<UserInfo> {
    const caller = this.requireRole(ctx, ['PRECO', 'CO', 'CU', 'AU'], 'changing a password');
    const r = parseRole(role);
    validatePassword(newPassword);
    const self = caller.user === name;
    if (!self && caller.role !== 'CO') throw new HsmError('ERR_NOT_PERMITTED', 'only a crypto officer can change another user\'s password');
    const hashed = await hashPassword(newPassword, this.config.scrypt);
    return this.mutate(async () => {
      const cur = await this.getUser(name);
      if (!cur || cur.rec.role !== r) throw new HsmError('ERR_USER_NOT_FOUND', `no ${r} named ${name}`);
      if (!self && (cur.rec.role === 'CO' || cur.rec.role === 'PRECO')) throw new HsmError('ERR_NOT_PERMITTED', 'a crypto officer cannot change another officer\'s password');
      const promoted = cur.rec.role === 'PRECO';
      const rec: UserRecord = { ...cur.rec, ...hashed, role: promoted ? 'CO' : cur.rec.role };
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }],
        events: [{ user: caller.user, role: caller.role, action: 'changePswd', detail: promoted ? `${name} PRECO→CO` : name, result: 'ok' }],
        result: userInfo(rec),
      };
    });
  }

  async deleteUser(ctx: CallContext, name: string): Promise<void> {
    const caller = this.requireRole(ctx, ['CO'], 'deleting a user');
    if (caller.user === name) throw new HsmError('ERR_NOT_PERMITTED', 'a crypto officer cannot delete itself');
    const owned = (await this.allObjects()).filter((o) => o.obj.owner === name && o.obj.lease === 0).length;
    if (owned > 0) throw new HsmError('ERR_NOT_PERMITTED', `user ${name} owns ${owned} object(s); they must be deleted first`);
    await this.mutate(async () => {
      const cur = await this.getUser(name);
      if (!cur) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
      if (cur.rec.role === 'PRECO' || cur.rec.role === 'CO') {
        const officers = (await this.listUsers()).filter((u) => u.role === 'CO' || u.role === 'PRECO');
        if (officers.length <= 1) throw new HsmError('ERR_NOT_PERMITTED', 'the last crypto officer cannot be deleted');
      }
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'delete', key: PATH.user(name) }],
        events: [{ user: caller.user, role: caller.role, action: 'deleteUser', detail: name, result: 'ok' }],
        result: undefined,
      };
    });
  }

  async unlockUser(ctx: CallContext, name: string): Promise<UserInfo> {
    const caller = this.requireRole(ctx, ['CO'], 'unlocking a user');
    return this.mutate(async () => {
      const cur = await this.getUser(name);
      if (!cur) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
      const rec: UserRecord = { ...cur.rec, failures: 0, locked: false };
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }],
        events: [{ user: caller.user, role: caller.role, action: 'unlockUser', detail: name, result: 'ok' }],
        result: userInfo(rec),
      };
    });
  }

  async listUsers(): Promise<UserInfo[]> {
    const list = await this.barrier.list(PATH.users);
    return list.map((e) => userInfo(dec<UserRecord>(e.value))).sort((a, b) => a.id - b.id);
  }

  async getUserInfo(name: string): Promise<UserInfo> {
    const u = await this.getUser(name);
    if (!u) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
    return userInfo(u.rec);
  }

  /* ──────────────────────────────── objects ──────────────────────────────── */

  private async loadObject(handle: number): Promise<LoadedObject | undefined> {
    if (!Number.isSafeInteger(handle) || handle < FIRST_HANDLE) return undefined;
    const e = await this.barrier.get(PATH.object(handle));
    return e ? { obj: decodeObject(e.value), version: e.version } : undefined;
  }

  private async allObjects(): Promise<LoadedObject[]> {
    const list = await this.barrier.list(PATH.objects);
    return list.map((e) => ({ obj: decodeObject(e.value), version: e.version }));
  }

  /** May this caller see the object at all (find, get attributes)? */
  private visible(o: StoredObject, ctx: CallContext): boolean {
    if (o.lease !== 0 && o.lease !== ctx.sessionLease) return false;
    if (!boolAttr(o, P.CKA_PRIVATE)) return true;
    const p = ctx.principal;
    if (!p) return false;
    if (p.role === 'CO') return true; /* officers manage (trust, list) every key but cannot use one */
    return p.role === 'CU' && (o.owner === p.user || o.shared.includes(p.user));
  }

  /** Look up an object this caller can see; otherwise the given invalid-handle error. */
  private async visibleObject(ctx: CallContext, handle: number, code: HsmErrorCode = 'ERR_OBJECT_HANDLE_INVALID'): Promise<LoadedObject> {
    const lo = await this.loadObject(handle);
    if (!lo || !this.visible(lo.obj, ctx)) throw new HsmError(code, `object handle ${handle} is not valid for this user`);
    return lo;
  }

  /** Allocate `n` consecutive handles; returns the compare and write to include in the transaction. */
  private async allocateHandles(n: number): Promise<{ first: number; compare: Compare; op: BarrierOp }> {
    const e = await this.barrier.get(PATH.nextHandle);
    const first = e ? dec<{ next: number }>(e.value).next : FIRST_HANDLE;
    return {
      first,
      compare: { key: PATH.nextHandle, op: 'version-eq', version: e?.version ?? 0 },
      op: { op: 'put', key: PATH.nextHandle, value: enc({ next: first + n }) },
    };
  }

  /**
   * Store new objects (handles allocated here), with their audit record and the
   * request's idempotency record in one transaction. `make` receives the
   * allocated handles and returns the objects and the result to report.
   */
  private async commitNew<T>(ctx: CallContext, action: string, count: number, make: (handles: number[]) => { objects: StoredObject[]; result: T; event: Partial<AuditEvent> }): Promise<T> {
    const prior = await this.priorResult<T>(ctx, action);
    if (prior.found) return prior.result;
    const result = await this.mutate(async () => {
      const again = await this.priorResult<T>(ctx, action);
      if (again.found) return { result: again.result };
      const alloc = await this.allocateHandles(count);
      const handles = Array.from({ length: count }, (_, i) => alloc.first + i);
      const made = make(handles);
      return {
        compare: [alloc.compare, ...again.compare],
        ops: [
          alloc.op,
          ...made.objects.map((o): BarrierOp => ({ op: 'put', key: PATH.object(o.handle), value: encodeObject(o), ...(o.lease ? { lease: o.lease } : {}) })),
          ...again.ops(made.result),
        ],
        events: [this.event(ctx, action, { handles, ...made.event })],
        result: made.result,
      };
    });
    return result;
  }

  private sessionLeaseFor(ctx: CallContext, attrs: ReadonlyMap<number, Uint8Array>): number {
    const token = decodeBool(attrs.get(P.CKA_TOKEN) ?? encodeBool(false));
    if (token) return 0;
    if (!ctx.sessionLease) throw new HsmError('ERR_ARGUMENTS_BAD', 'a session object (CKA_TOKEN FALSE) needs an open session; set CKA_TOKEN TRUE for a persistent object');
    return ctx.sessionLease;
  }

  private ownerFor(ctx: CallContext, cls: number, attrs: ReadonlyMap<number, Uint8Array>): string {
    const priv = decodeBool(attrs.get(P.CKA_PRIVATE) ?? encodeBool(false));
    if (isKeyClass(cls)) {
      this.requireRole(ctx, ['CU'], 'creating a key');
    } else if (priv) {
      this.requireRole(ctx, ['CU'], 'creating a private object');
    }
    return ctx.principal?.user ?? '';
  }

  private classAndType(tpl: Template, defaults: { cls?: number; keyType?: number } = {}): { cls: number; keyType: number | undefined } {
    const cls = tpl.ulong(P.CKA_CLASS) ?? defaults.cls;
    if (cls === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_CLASS is required');
    if (defaults.cls !== undefined && cls !== defaults.cls) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_CLASS does not match the operation');
    const keyType = tpl.ulong(P.CKA_KEY_TYPE) ?? defaults.keyType;
    if (defaults.keyType !== undefined && keyType !== defaults.keyType) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_KEY_TYPE does not match the mechanism');
    if (isKeyClass(cls) && keyType === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_KEY_TYPE is required for a key');
    return { cls, keyType: isKeyClass(cls) ? keyType : undefined };
  }

  /**
   * Turn a checked attribute set plus key material into a stored object:
   * strips material attributes, adds the token-set ones (PKCS#11 v2.40 §4.7–4.10).
   */
  private finishObject(ctx: CallContext, handle: number, cls: number, keyType: number | undefined, attrs: Map<number, Uint8Array>, origin: { local: boolean; mechanism?: number; alwaysSensitive?: boolean }, material?: StoredObject['material']): StoredObject {
    const policy = policyFor(cls, keyType);
    attrs.set(P.CKA_CLASS, encodeUlong(cls));
    if (keyType !== undefined) {
      attrs.set(P.CKA_KEY_TYPE, encodeUlong(keyType));
      attrs.set(P.CKA_LOCAL, encodeBool(origin.local));
      attrs.set(P.CKA_KEY_GEN_MECHANISM, encodeUlong(origin.mechanism ?? 0xffffffff));
    }
    if (cls === P.CKO_SECRET_KEY || cls === P.CKO_PRIVATE_KEY) {
      attrs.set(P.CKA_ALWAYS_SENSITIVE, encodeBool(origin.alwaysSensitive ?? origin.local));
      attrs.set(P.CKA_NEVER_EXTRACTABLE, encodeBool(origin.local && !decodeBool(attrs.get(P.CKA_EXTRACTABLE)!)));
    }
    for (const t of [...attrs.keys()]) if (isMaterial(policy, t) || !policy.has(t)) attrs.delete(t);
    return { handle, owner: this.ownerFor(ctx, cls, attrs), shared: [], lease: this.sessionLeaseFor(ctx, attrs), attrs, ...(material ? { material } : {}) };
  }

  /** C_CreateObject: data objects, certificates, and keys from their components. */
  async createObject(ctx: CallContext, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const { cls, keyType } = this.classAndType(tpl);
    if (isKeyClass(cls)) this.requireRole(ctx, ['CU'], 'creating a key');
    const policy = policyFor(cls, keyType);
    const attrs = applyCreateTemplate(policy, tpl, 'create', ctx.principal?.role === 'CO');
    this.ownerFor(ctx, cls, attrs);
    this.sessionLeaseFor(ctx, attrs);
    let material: StoredObject['material'];
    if (cls === P.CKO_SECRET_KEY) {
      const value = Buffer.from(tpl.bytes(P.CKA_VALUE)!);
      checkSecretLength(keyType!, value.length);
      const len = tpl.ulong(P.CKA_VALUE_LEN);
      if (len !== undefined && len !== value.length) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_VALUE_LEN does not match CKA_VALUE');
      attrs.set(P.CKA_VALUE_LEN, encodeUlong(value.length));
      attrs.set(P.CKA_CHECK_VALUE, checkValue(keyType!, value));
      material = { kind: 'secret', bytes: value };
    } else if (cls === P.CKO_PRIVATE_KEY) {
      const key = privateKeyFromTemplate(keyType!, tpl);
      const pub = publicAttributes(createPublicKey(key));
      checkGivenMatches(tpl, pub, [P.CKA_MODULUS, P.CKA_PUBLIC_EXPONENT]);
      for (const [t, v] of pub) if (!PUBLIC_ONLY_ATTRIBUTES.includes(t)) attrs.set(t, v);
      material = { kind: 'pkcs8', bytes: key.export({ format: 'der', type: 'pkcs8' }) };
    } else if (cls === P.CKO_PUBLIC_KEY) {
      const key = publicKeyFromTemplate(keyType!, tpl);
      const pub = publicAttributes(key);
      const bits = tpl.ulong(P.CKA_MODULUS_BITS);
      if (bits !== undefined && encodeUlong(bits).toString() !== pub.get(P.CKA_MODULUS_BITS)?.toString()) {
        throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_MODULUS_BITS does not match CKA_MODULUS');
      }
      for (const [t, v] of pub) attrs.set(t, v);
      material = { kind: 'spki', bytes: Buffer.from(pub.get(P.CKA_PUBLIC_KEY_INFO)!) };
    } else if (cls === P.CKO_CERTIFICATE) {
      if (tpl.ulong(P.CKA_CERTIFICATE_TYPE) !== P.CKC_X_509) throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'CKA_CERTIFICATE_TYPE: only CKC_X_509 is supported');
      const der = Buffer.from(tpl.bytes(P.CKA_VALUE)!);
      try {
        new X509Certificate(der);
      } catch (cause) {
        throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'CKA_VALUE is not a DER X.509 certificate', { cause });
      }
      attrs.set(P.CKA_CHECK_VALUE, checkValue('certificate', der));
    }
    return this.commitNew(ctx, 'createObject', 1, ([h]) => ({
      objects: [this.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: false }, material)],
      result: h!,
      event: {},
    }));
  }

  /** C_GenerateKey */
  async generateKey(ctx: CallContext, mech: MechanismRequest, template: readonly Attribute[]): Promise<number> {
    this.requireRole(ctx, ['CU'], 'generating a key');
    const m = this.mechanismFor(mech.mechanism, 'generateKey');
    const tpl = Template.parse(template);
    const keyType = m.keyTypes[0]!;
    const { cls } = this.classAndType(tpl, { cls: P.CKO_SECRET_KEY, keyType });
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'generate', false);
    let len = tpl.ulong(P.CKA_VALUE_LEN);
    if (len === undefined) {
      if (m.minKeySize !== m.maxKeySize) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', `CKA_VALUE_LEN is required for ${ckmName(m.mechanism)}`);
      len = m.minKeySize;
    }
    if (len < m.minKeySize || len > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} makes keys of ${m.minKeySize} to ${m.maxKeySize} bytes, not ${len}`);
    checkSecretLength(keyType, len);
    this.sessionLeaseFor(ctx, attrs);
    const prior = await this.priorResult<number>(ctx, 'generateKey');
    if (prior.found) return prior.result;
    const { value } = await m.generateKey!(len);
    attrs.set(P.CKA_VALUE_LEN, encodeUlong(len));
    attrs.set(P.CKA_CHECK_VALUE, checkValue(keyType, value));
    return this.commitNew(ctx, 'generateKey', 1, ([h]) => ({
      objects: [this.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: true, mechanism: m.mechanism }, { kind: 'secret', bytes: value })],
      result: h!,
      event: { mechanism: m.mechanism },
    }));
  }

  /** C_GenerateKeyPair; handles are consecutive, public first. */
  async generateKeyPair(ctx: CallContext, mech: MechanismRequest, publicTemplate: readonly Attribute[], privateTemplate: readonly Attribute[]): Promise<{ publicHandle: number; privateHandle: number }> {
    this.requireRole(ctx, ['CU'], 'generating a key pair');
    const m = this.mechanismFor(mech.mechanism, 'generateKeyPair');
    const pubTpl = Template.parse(publicTemplate);
    const privTpl = Template.parse(privateTemplate);
    let keyType = m.keyTypes[0]!;
    const ecParams = pubTpl.bytes(P.CKA_EC_PARAMS);
    if (keyType !== P.CKK_RSA) {
      if (!ecParams) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_EC_PARAMS is required in the public key template');
      const curve = curveByParams(ecParams);
      if (!curve || !m.keyTypes.includes(curve.keyType)) throw new HsmError('ERR_CURVE_NOT_SUPPORTED', `CKA_EC_PARAMS names a curve that ${ckmName(m.mechanism)} does not support`);
      keyType = curve.keyType;
      const privParams = privTpl.bytes(P.CKA_EC_PARAMS);
      if (privParams && !Buffer.from(privParams).equals(Buffer.from(ecParams))) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_EC_PARAMS differs between the two templates');
    }
    const pubT = this.classAndType(pubTpl, { cls: P.CKO_PUBLIC_KEY, keyType });
    const privT = this.classAndType(privTpl, { cls: P.CKO_PRIVATE_KEY, keyType });
    const pubAttrs = applyCreateTemplate(policyFor(pubT.cls, keyType), pubTpl, 'generate', false);
    const privAttrs = applyCreateTemplate(policyFor(privT.cls, keyType), privTpl, 'generate', false);
    const modulusBits = pubTpl.ulong(P.CKA_MODULUS_BITS);
    const bits = keyType === P.CKK_RSA ? modulusBits! : curveByParams(ecParams!)!.bits;
    if (bits < m.minKeySize || bits > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} makes keys of ${m.minKeySize} to ${m.maxKeySize} bits, not ${bits}`);
    this.sessionLeaseFor(ctx, pubAttrs);
    this.sessionLeaseFor(ctx, privAttrs);
    const prior = await this.priorResult<{ publicHandle: number; privateHandle: number }>(ctx, 'generateKeyPair');
    if (prior.found) return prior.result;
    const pair = await m.generateKeyPair!({
      ...(modulusBits !== undefined ? { modulusBits } : {}),
      ...(pubTpl.bytes(P.CKA_PUBLIC_EXPONENT) ? { publicExponent: pubTpl.bytes(P.CKA_PUBLIC_EXPONENT)! } : {}),
      ...(ecParams ? { ecParams } : {}),
    });
    const pub = publicAttributes(pair.publicKey);
    for (const [t, v] of pub) {
      pubAttrs.set(t, v);
      if (!PUBLIC_ONLY_ATTRIBUTES.includes(t)) privAttrs.set(t, v);
    }
    const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const spki = Buffer.from(pub.get(P.CKA_PUBLIC_KEY_INFO)!);
    return this.commitNew(ctx, 'generateKeyPair', 2, ([ph, sh]) => ({
      objects: [
        this.finishObject(ctx, ph!, P.CKO_PUBLIC_KEY, keyType, new Map(pubAttrs), { local: true, mechanism: m.mechanism }, { kind: 'spki', bytes: spki }),
        this.finishObject(ctx, sh!, P.CKO_PRIVATE_KEY, keyType, new Map(privAttrs), { local: true, mechanism: m.mechanism }, { kind: 'pkcs8', bytes: pkcs8 }),
      ],
      result: { publicHandle: ph!, privateHandle: sh! },
      event: { mechanism: m.mechanism },
    }));
  }

  /** C_GetAttributeValue: one result per requested type, as the standard asks. */
  async getAttributeValue(ctx: CallContext, handle: number, types: readonly number[]): Promise<AttributeResult[]> {
    if (!Array.isArray(types) || types.length > 256) throw new HsmError('ERR_ARGUMENTS_BAD', 'attribute list must have at most 256 entries');
    const { obj } = await this.visibleObject(ctx, handle);
    const policy = policyFor(classOf(obj), keyTypeOfObj(obj));
    return types.map((type): AttributeResult => {
      if (!policy.has(type)) return { type, rv: P.CKR_ATTRIBUTE_TYPE_INVALID };
      if (!isReadable(policy, type)) return { type, rv: P.CKR_ATTRIBUTE_SENSITIVE };
      const value = obj.attrs.get(type);
      if (value === undefined) return { type, rv: P.CKR_ATTRIBUTE_TYPE_INVALID };
      return { type, value, rv: P.CKR_OK };
    });
  }

  /** C_SetAttributeValue */
  async setAttributeValue(ctx: CallContext, handle: number, template: readonly Attribute[]): Promise<void> {
    const tpl = Template.parse(template);
    const isCO = ctx.principal?.role === 'CO';
    await this.mutate(async () => {
      const { obj, version } = await this.visibleObject(ctx, handle);
      const priv = boolAttr(obj, P.CKA_PRIVATE);
      if (!isCO && priv && obj.owner !== ctx.principal?.user) throw new HsmError('ERR_NOT_PERMITTED', `only the owner of object ${handle} can change it`);
      checkSetTemplate(policyFor(classOf(obj), keyTypeOfObj(obj)), obj.attrs, tpl, isCO);
      const attrs = new Map(obj.attrs);
      for (const [t, v] of tpl.map) attrs.set(t, v);
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }],
        ops: [{ op: 'put', key: PATH.object(handle), value: encodeObject({ ...obj, attrs }), ...(obj.lease ? { lease: obj.lease } : {}) }],
        events: [this.event(ctx, 'setAttribute', { handles: [handle], detail: [...tpl.map.keys()].map(ckaName).join(',') })],
        result: undefined,
      };
    });
  }

  /** C_DestroyObject: the owner deletes a private object; anyone may delete a public one. */
  async destroyObject(ctx: CallContext, handle: number): Promise<void> {
    await this.mutate(async () => {
      const { obj, version } = await this.visibleObject(ctx, handle);
      if (boolAttr(obj, P.CKA_PRIVATE) && obj.owner !== ctx.principal?.user) {
        throw new HsmError('ERR_NOT_PERMITTED', `only the owner of object ${handle} can delete it`);
      }
      if (!boolAttr(obj, P.CKA_DESTROYABLE)) throw new HsmError('ERR_ACTION_PROHIBITED', `object ${handle} has CKA_DESTROYABLE FALSE`);
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }],
        ops: [{ op: 'delete', key: PATH.object(handle) }],
        events: [this.event(ctx, 'deleteObject', { handles: [handle] })],
        result: undefined,
      };
    });
    this.dropCached(handle);
  }

  /** C_CopyObject: a new object with the same material; the template may change what C_SetAttributeValue could, plus CKA_TOKEN. */
  async copyObject(ctx: CallContext, handle: number, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const { obj } = await this.visibleObject(ctx, handle);
    if (boolAttr(obj, P.CKA_PRIVATE) && obj.owner !== ctx.principal?.user) throw new HsmError('ERR_NOT_PERMITTED', `only the owner of object ${handle} can copy it`);
    if (!boolAttr(obj, P.CKA_COPYABLE)) throw new HsmError('ERR_ACTION_PROHIBITED', `object ${handle} has CKA_COPYABLE FALSE`);
    const cls = classOf(obj);
    const keyType = keyTypeOfObj(obj);
    const policy = policyFor(cls, keyType);
    const attrs = new Map(obj.attrs);
    const loose = new Set([P.CKA_TOKEN, P.CKA_MODIFIABLE, P.CKA_COPYABLE, P.CKA_DESTROYABLE]);
    const strict = new Map([...tpl.map].filter(([t]) => !loose.has(t)));
    checkSetTemplate(policy, attrs, Template.parse([...strict].map(([type, value]) => ({ type, value }))), false);
    for (const [t, v] of tpl.map) {
      if (!policy.has(t)) throw new HsmError('ERR_ATTRIBUTE_TYPE_INVALID', `${ckaName(t)} does not apply to this object`);
      if (t === P.CKA_COPYABLE && decodeBool(v) && !boolAttr(obj, P.CKA_COPYABLE)) throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', 'CKA_COPYABLE cannot go from FALSE to TRUE');
      attrs.set(t, v);
    }
    return this.commitNew(ctx, 'copyObject', 1, ([h]) => {
      const copy: StoredObject = { handle: h!, owner: obj.owner, shared: [], lease: this.sessionLeaseFor(ctx, attrs), attrs, ...(obj.material ? { material: obj.material } : {}) };
      return { objects: [copy], result: h!, event: { detail: `copy of ${handle}` } };
    });
  }

  /**
   * C_FindObjects: every visible object whose attributes equal the template's.
   * Sensitive attributes never match, so a search cannot probe key values.
   */
  async findObjects(ctx: CallContext, template: readonly Attribute[]): Promise<number[]> {
    const tpl = Template.parse(template);
    const out: number[] = [];
    for (const { obj } of await this.allObjects()) {
      if (!this.visible(obj, ctx)) continue;
      let match = true;
      for (const [t, v] of tpl.map) {
        const have = obj.attrs.get(t);
        if (have === undefined || !Buffer.from(have).equals(Buffer.from(v))) { match = false; break; }
      }
      if (match) out.push(obj.handle);
    }
    return out.sort((a, b) => a - b);
  }

  /** shareKey: the owner lets other CUs use (not delete) a key, or takes that back. */
  async shareKey(ctx: CallContext, handle: number, users: readonly string[], share: boolean): Promise<string[]> {
    const caller = this.requireRole(ctx, ['CU'], 'sharing a key');
    for (const u of users) {
      const rec = await this.getUser(validateUserName(u));
      if (!rec || rec.rec.role !== 'CU') throw new HsmError('ERR_USER_NOT_FOUND', `no crypto user named ${u}`);
    }
    return this.mutate(async () => {
      const { obj, version } = await this.visibleObject(ctx, handle, 'ERR_KEY_HANDLE_INVALID');
      if (obj.owner !== caller.user) throw new HsmError('ERR_NOT_PERMITTED', `only the owner of key ${handle} can share it`);
      if (users.includes(obj.owner)) throw new HsmError('ERR_ARGUMENTS_BAD', 'a key cannot be shared with its owner');
      const shared = share ? [...new Set([...obj.shared, ...users])] : obj.shared.filter((u) => !users.includes(u));
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }],
        ops: [{ op: 'put', key: PATH.object(handle), value: encodeObject({ ...obj, shared }), ...(obj.lease ? { lease: obj.lease } : {}) }],
        events: [this.event(ctx, share ? 'shareKey' : 'unshareKey', { handles: [handle], detail: users.join(',') })],
        result: shared,
      };
    });
  }

  /** Owner and sharing of an object, for getKeyInfo. */
  async keyInfo(ctx: CallContext, handle: number): Promise<{ owner: string; shared: readonly string[]; token: boolean }> {
    const { obj } = await this.visibleObject(ctx, handle, 'ERR_KEY_HANDLE_INVALID');
    return { owner: obj.owner, shared: [...obj.shared], token: obj.lease === 0 };
  }

  /* ─────────────────────────────── key use ─────────────────────────────── */

  private mechanismFor(mechanism: number, fn: keyof Mechanism): Mechanism {
    const m = getMechanism(mechanism);
    if (typeof m[fn] !== 'function') throw new HsmError('ERR_MECHANISM_INVALID', `${ckmName(mechanism)} cannot be used for ${String(fn)}`);
    return m;
  }

  private dropCached(handle: number): void {
    for (const k of this.materialCache.keys()) if (k.startsWith(`${handle}:`)) this.materialCache.delete(k);
  }

  /** Key material as a mechanism sees it, cached per object version. */
  private material(lo: LoadedObject): KeyMaterial {
    const ck = `${lo.obj.handle}:${lo.version}`;
    const hit = this.materialCache.get(ck);
    if (hit) return hit;
    const m = lo.obj.material;
    const keyType = keyTypeOfObj(lo.obj)!;
    if (!m) throw new HsmError('ERR_KEY_HANDLE_INVALID', `object ${lo.obj.handle} is not a key`);
    let km: KeyMaterial;
    if (m.kind === 'secret') km = { kind: 'secret', keyType, value: m.bytes };
    else if (m.kind === 'pkcs8') {
      const key = createPrivateKey({ key: m.bytes, format: 'der', type: 'pkcs8' });
      km = { kind: 'private', keyType, key, publicKey: createPublicKey(key) };
    } else km = { kind: 'public', keyType, key: createPublicKey({ key: m.bytes, format: 'der', type: 'spki' }) };
    if (this.materialCache.size >= MATERIAL_CACHE_MAX) this.materialCache.delete(this.materialCache.keys().next().value!);
    this.materialCache.set(ck, km);
    return km;
  }

  /** Size of a key in the unit a mechanism states its limits in. */
  private keySize(obj: StoredObject, unit: 'bits' | 'bytes'): number {
    const kt = keyTypeOfObj(obj);
    if (kt === P.CKK_RSA) return ulongAttr(obj, P.CKA_MODULUS_BITS)!;
    if (kt !== undefined && SECRET_KEY_TYPES.includes(kt)) {
      const bytes = ulongAttr(obj, P.CKA_VALUE_LEN)!;
      return unit === 'bytes' ? bytes : bytes * 8;
    }
    const curve = curveByParams(obj.attrs.get(P.CKA_EC_PARAMS) ?? new Uint8Array());
    return curve?.bits ?? 0;
  }

  /**
   * Resolve a key for one use: the caller must be a CU who owns or shares it,
   * the mechanism must take its type and size, and its usage attribute must be
   * TRUE. Errors use the standard codes, in the order PKCS#11 checks them.
   */
  private async keyFor(ctx: CallContext, handle: number, mech: number, use: Use, fn: keyof Mechanism, invalid: HsmErrorCode = 'ERR_KEY_HANDLE_INVALID'): Promise<{ lo: LoadedObject; m: Mechanism; km: KeyMaterial }> {
    const p = this.requireRole(ctx, ['CU'], 'using a key');
    const m = this.mechanismFor(mech, fn);
    const lo = await this.loadObject(handle);
    if (!lo || !this.visible(lo.obj, ctx) || !isKeyClass(classOf(lo.obj)) || (boolAttr(lo.obj, P.CKA_PRIVATE) && lo.obj.owner !== p.user && !lo.obj.shared.includes(p.user))) {
      throw new HsmError(invalid, `key handle ${handle} is not valid for this user`);
    }
    const kt = keyTypeOfObj(lo.obj)!;
    if (!m.keyTypes.includes(kt)) throw new HsmError(invalid === 'ERR_KEY_HANDLE_INVALID' ? 'ERR_KEY_TYPE_INCONSISTENT' : invalid === 'ERR_WRAPPING_KEY_HANDLE_INVALID' ? 'ERR_WRAPPING_KEY_TYPE_INCONSISTENT' : 'ERR_UNWRAPPING_KEY_TYPE_INCONSISTENT', `${ckmName(mech)} cannot use a key of this type`);
    if (!boolAttr(lo.obj, USAGE[use])) throw new HsmError('ERR_KEY_FUNCTION_NOT_PERMITTED', `key ${handle} does not allow ${use} (${ckaName(USAGE[use])} is FALSE)`);
    const size = this.keySize(lo.obj, m.keySizeUnit);
    if (size < m.minKeySize || size > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(mech)} takes keys of ${m.minKeySize} to ${m.maxKeySize} ${m.keySizeUnit}`);
    return { lo, m, km: this.material(lo) };
  }

  private checkData(data: Uint8Array, what = 'data'): void {
    if (!(data instanceof Uint8Array)) throw new HsmError('ERR_ARGUMENTS_BAD', `${what} must be bytes`);
    if (data.length > this.config.maxDataBytes) throw new HsmError('ERR_DATA_LEN_RANGE', `${what} is ${data.length} bytes; the limit for one operation is ${this.config.maxDataBytes}`);
  }

  /** Run a key use, then append its audit record (for private and secret keys) before answering. */
  private async audited<T>(ctx: CallContext, action: string, handle: number, km: KeyMaterial, mech: number, run: () => Promise<T>): Promise<T> {
    const needsRecord = km.kind !== 'public';
    let result: T;
    try {
      result = await run();
    } catch (e) {
      if (needsRecord) await this.logUse(this.event(ctx, action, { handles: [handle], mechanism: mech }, e instanceof HsmError ? e.code : 'ERR_GENERAL')).catch(() => undefined);
      throw e;
    }
    if (needsRecord) await this.logUse(this.event(ctx, action, { handles: [handle], mechanism: mech }));
    return result;
  }

  async sign(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> {
    this.checkData(data);
    const { m, km } = await this.keyFor(ctx, handle, mech.mechanism, 'sign', 'sign');
    return this.audited(ctx, 'sign', handle, km, m.mechanism, () => m.sign!(km, data, mech.params ?? {}));
  }

  /** Resolves on a good signature; throws ERR_SIGNATURE_INVALID otherwise. */
  async verify(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array, signature: Uint8Array): Promise<void> {
    this.checkData(data);
    this.checkData(signature, 'signature');
    const { m, km } = await this.keyFor(ctx, handle, mech.mechanism, 'verify', 'verify');
    const ok = await this.audited(ctx, 'verify', handle, km, m.mechanism, () => m.verify!(km, data, signature, mech.params ?? {}));
    if (!ok) throw new HsmError('ERR_SIGNATURE_INVALID', 'the signature does not verify');
  }

  async encrypt(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> {
    this.checkData(data);
    const { m, km } = await this.keyFor(ctx, handle, mech.mechanism, 'encrypt', 'encrypt');
    return this.audited(ctx, 'encrypt', handle, km, m.mechanism, () => m.encrypt!(km, data, mech.params ?? {}));
  }

  async decrypt(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> {
    this.checkData(data);
    const { m, km } = await this.keyFor(ctx, handle, mech.mechanism, 'decrypt', 'decrypt');
    return this.audited(ctx, 'decrypt', handle, km, m.mechanism, () => m.decrypt!(km, data, mech.params ?? {}));
  }

  /** C_Digest needs no key and no sign-in. */
  async digest(mech: MechanismRequest, data: Uint8Array): Promise<Buffer> {
    this.checkData(data);
    return this.mechanismFor(mech.mechanism, 'digest').digest!(data);
  }

  async generateRandom(length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.config.maxDataBytes) {
      throw new HsmError('ERR_ARGUMENTS_BAD', `random length must be 0 to ${this.config.maxDataBytes} bytes`);
    }
    return randomBytes(length);
  }

  /**
   * C_WrapKey. The wrapped key must be extractable; a key with
   * CKA_WRAP_WITH_TRUSTED TRUE may be wrapped only by a key with CKA_TRUSTED TRUE.
   */
  async wrapKey(ctx: CallContext, mech: MechanismRequest, wrappingHandle: number, keyHandle: number): Promise<Buffer> {
    const { lo: wrapping, m, km } = await this.keyFor(ctx, wrappingHandle, mech.mechanism, 'wrap', 'wrap', 'ERR_WRAPPING_KEY_HANDLE_INVALID');
    const p = ctx.principal!;
    const target = await this.loadObject(keyHandle);
    if (!target || !this.visible(target.obj, ctx) || (target.obj.owner !== p.user && !target.obj.shared.includes(p.user))) {
      throw new HsmError('ERR_KEY_HANDLE_INVALID', `key handle ${keyHandle} is not valid for this user`);
    }
    const cls = classOf(target.obj);
    if (cls !== P.CKO_SECRET_KEY && cls !== P.CKO_PRIVATE_KEY) throw new HsmError('ERR_KEY_NOT_WRAPPABLE', 'only secret and private keys can be wrapped');
    if (!boolAttr(target.obj, P.CKA_EXTRACTABLE)) throw new HsmError('ERR_KEY_UNEXTRACTABLE', `key ${keyHandle} has CKA_EXTRACTABLE FALSE`);
    if (boolAttr(target.obj, P.CKA_WRAP_WITH_TRUSTED) && !boolAttr(wrapping.obj, P.CKA_TRUSTED)) {
      throw new HsmError('ERR_KEY_NOT_WRAPPABLE', `key ${keyHandle} can be wrapped only by a trusted key (CKA_WRAP_WITH_TRUSTED)`);
    }
    const bytes = target.obj.material!.bytes;
    return this.audited(ctx, 'wrapKey', keyHandle, this.material(target), m.mechanism, () => m.wrap!(km, bytes, mech.params ?? {}));
  }

  /** C_UnwrapKey: the template must name the class and key type of what is inside. */
  async unwrapKey(ctx: CallContext, mech: MechanismRequest, unwrappingHandle: number, wrapped: Uint8Array, template: readonly Attribute[]): Promise<number> {
    this.checkData(wrapped, 'wrapped key');
    const tpl = Template.parse(template);
    const { cls, keyType } = this.classAndType(tpl);
    if (cls !== P.CKO_SECRET_KEY && cls !== P.CKO_PRIVATE_KEY) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'only secret and private keys can be unwrapped');
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'unwrap', false);
    this.sessionLeaseFor(ctx, attrs);
    const { m, km } = await this.keyFor(ctx, unwrappingHandle, mech.mechanism, 'unwrap', 'unwrap', 'ERR_UNWRAPPING_KEY_HANDLE_INVALID');
    const prior = await this.priorResult<number>(ctx, 'unwrapKey');
    if (prior.found) return prior.result;
    const bytes = await this.audited(ctx, 'unwrapKey', unwrappingHandle, km, m.mechanism, () => m.unwrap!(km, wrapped, mech.params ?? {}));
    let material: StoredObject['material'];
    if (cls === P.CKO_SECRET_KEY) {
      try {
        checkSecretLength(keyType!, bytes.length);
      } catch {
        throw new HsmError('ERR_WRAPPED_KEY_INVALID', 'the unwrapped value is not a valid key of the template\'s type');
      }
      attrs.set(P.CKA_VALUE_LEN, encodeUlong(bytes.length));
      attrs.set(P.CKA_CHECK_VALUE, checkValue(keyType!, bytes));
      material = { kind: 'secret', bytes };
    } else {
      let key: KeyObject;
      try {
        key = createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
        if (keyTypeOf(key) !== keyType) throw new Error('type');
        if (keyType !== P.CKK_RSA) {
          const given = tpl.bytes(P.CKA_EC_PARAMS);
          if (given) checkCurveKeyType(curveOfKeyObject(key), keyType!);
        }
      } catch {
        throw new HsmError('ERR_WRAPPED_KEY_INVALID', 'the unwrapped value is not a private key of the template\'s type');
      }
      const pub = publicAttributes(createPublicKey(key));
      checkGivenMatches(tpl, pub, [P.CKA_EC_PARAMS]);
      for (const [t, v] of pub) if (!PUBLIC_ONLY_ATTRIBUTES.includes(t)) attrs.set(t, v);
      material = { kind: 'pkcs8', bytes: key.export({ format: 'der', type: 'pkcs8' }) };
    }
    return this.commitNew(ctx, 'unwrapKey', 1, ([h]) => ({
      objects: [this.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: false, alwaysSensitive: false }, material)],
      result: h!,
      event: { mechanism: m.mechanism, detail: `unwrapped with ${unwrappingHandle}` },
    }));
  }

  /** C_DeriveKey (ECDH1): a secret key of the template's type and CKA_VALUE_LEN. */
  async deriveKey(ctx: CallContext, mech: MechanismRequest, baseHandle: number, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const { cls, keyType } = this.classAndType(tpl, { cls: P.CKO_SECRET_KEY, keyType: tpl.ulong(P.CKA_KEY_TYPE) ?? P.CKK_GENERIC_SECRET });
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'derive', false);
    this.sessionLeaseFor(ctx, attrs);
    const fixed = keyType === P.CKK_DES3 ? 24 : undefined;
    const len = tpl.ulong(P.CKA_VALUE_LEN) ?? fixed;
    if (len === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_VALUE_LEN is required to derive this key');
    checkSecretLength(keyType!, len);
    const { lo, m, km } = await this.keyFor(ctx, baseHandle, mech.mechanism, 'derive', 'derive');
    const prior = await this.priorResult<number>(ctx, 'deriveKey');
    if (prior.found) return prior.result;
    const secret = await this.audited(ctx, 'deriveKey', baseHandle, km, m.mechanism, () => m.derive!(km, { ...(mech.params ?? {}), length: len }));
    if (secret.length < len) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} yields ${secret.length} bytes, fewer than CKA_VALUE_LEN ${len}`);
    const value = Buffer.from(secret.subarray(0, len));
    attrs.set(P.CKA_VALUE_LEN, encodeUlong(len));
    attrs.set(P.CKA_CHECK_VALUE, checkValue(keyType!, value));
    const alwaysSensitive = boolAttr(lo.obj, P.CKA_ALWAYS_SENSITIVE);
    return this.commitNew(ctx, 'deriveKey', 1, ([h]) => ({
      objects: [this.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: false, alwaysSensitive }, { kind: 'secret', bytes: value })],
      result: h!,
      event: { mechanism: m.mechanism, detail: `derived from ${baseHandle}` },
    }));
  }

  /* ───────────────────────────── information ───────────────────────────── */

  mechanismList(): number[] {
    return listMechanisms().map((m) => m.mechanism);
  }

  mechanismInfo(mechanism: number): { minKeySize: number; maxKeySize: number; flags: number } {
    const m = getMechanism(mechanism);
    /* CKF_HW: the mechanism runs in the device (this HSM), not in the calling
     * library (PKCS#11 v2.40 §5.5 CK_MECHANISM_INFO); OpenSC's --test looks for it. */
    return { minKeySize: m.minKeySize, maxKeySize: m.maxKeySize, flags: m.flags | P.CKF_HW };
  }

  /** Audit records, oldest first; `fromSeq` for paging. */
  async auditRecords(fromSeq = 1, limit = 1000): Promise<AuditRecord[]> {
    const list = await this.barrier.list(PATH.audits, { limit, ...(fromSeq > 1 ? { after: PATH.audit(fromSeq - 1) } : {}) });
    return list.map((e) => dec<AuditRecord>(e.value));
  }

  /** Verify the whole audit chain, naming the first broken link. */
  async auditVerify(): Promise<ChainVerdict> {
    const all: AuditRecord[] = [];
    for (let from = 1; ; ) {
      const page = await this.auditRecords(from, 5000);
      all.push(...page);
      if (page.length < 5000) break;
      from = page[page.length - 1]!.seq + 1;
    }
    const verdict = verifyChain(all);
    const head = await this.barrier.get(PATH.auditHead);
    if (verdict.ok && head) {
      const h = dec<{ seq: number; hash: string }>(head.value);
      const last = all[all.length - 1];
      if (!last || last.seq !== h.seq || last.hash !== h.hash) {
        return { ok: false, records: all.length, brokenAt: (last?.seq ?? 0) + 1, reason: 'records after the last one present are missing' };
      }
    }
    return verdict;
  }

  /** Wait for queued audit writes (used at shutdown). */
  async flush(): Promise<void> {
    while (this.auditFlushing) await this.auditFlushing;
  }
}
