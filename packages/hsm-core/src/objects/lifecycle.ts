/**
 * @module Object life cycle: creating, generating, copying, finding, changing,
 * sharing and destroying objects (PKCS#11 v2.40 Base §5.7, §5.13), and who
 * may see which object.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';
import { ckaName, ckmName } from '../../../protocol/src/names.js';
import type { Compare } from '../../../store/src/types.js';
import type { BarrierOp } from '../barrier/barrier.js';
import type { AuditEvent } from '../audit/audit.js';
import { X509Certificate, createPublicKey } from '../crypto/node.js';
import { Template, encodeBool, encodeUlong, decodeBool, type Attribute } from './attributes.js';
import { applyCreateTemplate, checkSetTemplate, isMaterial, isReadable, policyFor } from './policy.js';
import { checkQuota } from '../users/quotas.js';
import {
  checkGivenMatches, checkSecretLength, checkValue, privateKeyFromTemplate, publicAttributes, publicKeyFromTemplate, PUBLIC_ONLY_ATTRIBUTES,
} from './keys.js';
import { curveByParams } from '../mechanisms/curves.js';
import { getMechanism } from '../mechanisms/index.js';
import type { Mechanism } from '../mechanisms/types.js';
import type { AttributeResult, CallContext, MechanismRequest } from '../partition/context.js';
import type { Kernel } from '../partition/kernel.js';
import type { ReplicaObject } from '../partition/state.js';
import {
  FIRST_HANDLE, PATH, enc, dec, encodeObject, boolAttr, classOf, keyTypeOfObj, isKeyClass,
  type LoadedObject, type StoredObject,
} from '../partition/records.js';
import { requireRole } from '../users/roles.js';
import { settingsOf, type ProfileSettings } from '../authz/profile.js';
import { validateUserName } from '../users/users.js';

/** The mechanism, if it can do `fn`. */
export function mechanismFor(mechanism: number, fn: keyof Mechanism): Mechanism {
  const m = getMechanism(mechanism);
  if (typeof m[fn] !== 'function') throw new HsmError('ERR_MECHANISM_INVALID', `${ckmName(mechanism)} cannot be used for ${String(fn)}`);
  return m;
}

export class ObjectLifecycle {
  constructor(private readonly k: Kernel) {}

  visible(o: StoredObject, ctx: CallContext): boolean {
    if (o.lease !== 0 && o.lease !== ctx.sessionLease) return false;
    if (!boolAttr(o, P.CKA_PRIVATE)) return true;
    const p = ctx.principal;
    if (!p) return false;
    if (p.role === 'CO') return true; /* officers manage (trust, list) every key but cannot use one */
    return p.role === 'CU' && (o.owner === p.user || o.shared.includes(p.user));
  }

  /** Look up an object this caller can see; otherwise the given invalid-handle error. */
  async visibleObject(ctx: CallContext, handle: number, code: HsmErrorCode = 'ERR_OBJECT_HANDLE_INVALID'): Promise<LoadedObject> {
    const lo = await this.k.state.objectFor(handle, (o) => this.visible(o.obj, ctx));
    if (!lo) throw new HsmError(code, `object handle ${handle} is not valid for this user`);
    return lo;
  }

  /** Allocate `n` consecutive handles; returns the compare and write to include in the transaction. */
  private async allocateHandles(n: number): Promise<{ first: number; version: number; compare: Compare; op: BarrierOp }> {
    const e = await this.k.barrier.get(PATH.nextHandle);
    const first = e ? dec<{ next: number }>(e.value).next : FIRST_HANDLE;
    return {
      first,
      version: e?.version ?? 0,
      compare: { key: PATH.nextHandle, op: 'version-eq', version: e?.version ?? 0 },
      op: { op: 'put', key: PATH.nextHandle, value: enc({ next: first + n }) },
    };
  }

  /**
   * Store new objects (handles allocated here), with their audit record and the
   * request's idempotency record in one transaction. `make` receives the
   * allocated handles and returns the objects and the result to report.
   */
  async commitNew<T>(ctx: CallContext, action: string, count: number, make: (handles: number[]) => { objects: StoredObject[]; result: T; event: Partial<AuditEvent> }): Promise<T> {
    const prior = await this.k.txn.priorResult<T>(ctx, action);
    if (prior.found) return prior.result;
    const result = await this.k.txn.mutate(async () => {
      const again = await this.k.txn.priorResult<T>(ctx, action);
      if (again.found) return { result: again.result };
      const alloc = await this.allocateHandles(count);
      const handles = Array.from({ length: count }, (_, i) => alloc.first + i);
      const made = make(handles);
      const encoded = made.objects.map((o) => encodeObject(o));
      await this.checkQuotas(made.objects, encoded, alloc.version);
      return {
        compare: [alloc.compare, ...again.compare],
        ops: [
          alloc.op,
          ...made.objects.map((o, i): BarrierOp => ({ op: 'put', key: PATH.object(o.handle), value: encoded[i]!, ...(o.lease ? { lease: o.lease } : {}) })),
          ...again.ops(made.result),
        ],
        events: [this.k.txn.event(ctx, action, { handles, ...made.event })],
        result: made.result,
      };
    });
    return result;
  }

  /**
   * Per-user quotas (users/quotas.ts), on a replica that has applied every
   * creation up to the handle counter this transaction compares.
   */
  private async checkQuotas(objects: readonly StoredObject[], encoded: readonly Buffer[], counterVersion: number): Promise<void> {
    await this.k.state.waitApplied(counterVersion);
    await this.k.state.fresh();
    for (const owner of new Set(objects.map((o) => o.owner))) {
      const adding = { objects: 0, bytes: 0 };
      objects.forEach((o, i) => { if (o.owner === owner) { adding.objects++; adding.bytes += encoded[i]!.length; } });
      checkQuota(owner, this.k.state.usage(owner), adding, this.k.config);
    }
  }

  sessionLeaseFor(ctx: CallContext, attrs: ReadonlyMap<number, Uint8Array>): number {
    const token = decodeBool(attrs.get(P.CKA_TOKEN) ?? encodeBool(false));
    if (token) return 0;
    if (!ctx.sessionLease) throw new HsmError('ERR_ARGUMENTS_BAD', 'a session object (CKA_TOKEN FALSE) needs an open session; set CKA_TOKEN TRUE for a persistent object');
    return ctx.sessionLease;
  }

  /** The lease a new object lives in, and for a session object the creator tag of the request that made it. */
  private sessionBinding(ctx: CallContext, attrs: ReadonlyMap<number, Uint8Array>): { lease: number; creator?: number } {
    const lease = this.sessionLeaseFor(ctx, attrs);
    return lease !== 0 && ctx.creator !== undefined ? { lease, creator: ctx.creator } : { lease };
  }

  /** The partition profile's settings (authz/profile.ts). */
  async profile(): Promise<ProfileSettings> {
    return settingsOf((await this.k.state.requirePartition()).rec);
  }

  /**
   * Before sign-in (the door lets it through only in a profile with PUBLIC_SESSION_OBJECTS), an
   * object may be made, changed, copied or destroyed only if it is a public session object
   * (CKA_PRIVATE FALSE, CKA_TOKEN FALSE): PKCS#11 v2.40 §6.7.1's R/W public session, restricted to
   * session objects so that nobody who has not signed in leaves anything behind in the partition.
   */
  requirePublicSession(ctx: CallContext, profile: ProfileSettings, attrs: ReadonlyMap<number, Uint8Array>, what: string): void {
    /* Without the row the door admits nobody who has not signed in; the role checks here stay as they were. */
    if (ctx.principal || !profile.publicSessionObjects) return;
    const priv = decodeBool(attrs.get(P.CKA_PRIVATE) ?? encodeBool(false));
    const token = decodeBool(attrs.get(P.CKA_TOKEN) ?? encodeBool(false));
    if (priv || token) throw new HsmError('ERR_USER_NOT_LOGGED_IN', `${what}: before sign-in only public session objects (CKA_PRIVATE FALSE, CKA_TOKEN FALSE) can be used; sign in first`);
  }

  /**
   * READ_ONLY_SESSIONS: a request from a session opened without CKF_RW_SESSION may not create,
   * copy into, change or destroy a token object (CKR_SESSION_READ_ONLY); session objects stay
   * allowed (PKCS#11 v2.40 §5.6). `token` is the object's CKA_TOKEN (for a new one, its template's).
   */
  requireWritable(ctx: CallContext, profile: ProfileSettings, token: boolean, what: string): void {
    if (!token || ctx.readOnly !== true || !profile.readOnlySessions) return;
    throw new HsmError('ERR_SESSION_READ_ONLY', `${what}: a read-only session (opened without CKF_RW_SESSION) cannot change token objects; open a read/write session`);
  }

  /** requireWritable for a new object's checked attributes. */
  requireWritableNew(ctx: CallContext, profile: ProfileSettings, attrs: ReadonlyMap<number, Uint8Array>, what: string): void {
    this.requireWritable(ctx, profile, decodeBool(attrs.get(P.CKA_TOKEN) ?? encodeBool(false)), what);
  }

  /** The same for an existing object: a public session object of the caller's session. */
  requirePublicSessionObject(ctx: CallContext, profile: ProfileSettings, obj: StoredObject, what: string): void {
    if (ctx.principal) return;
    const attrs = new Map(obj.attrs);
    if (obj.lease === 0) attrs.set(P.CKA_TOKEN, encodeBool(true));
    this.requirePublicSession(ctx, profile, attrs, what);
  }

  private ownerFor(ctx: CallContext, cls: number, attrs: ReadonlyMap<number, Uint8Array>): string {
    const priv = decodeBool(attrs.get(P.CKA_PRIVATE) ?? encodeBool(false));
    /* A public object made by a caller who has not signed in belongs to nobody (the entry point checked requirePublicSession). */
    if (!ctx.principal && !priv) return '';
    if (isKeyClass(cls)) {
      requireRole(ctx, ['CU'], 'creating a key');
    } else if (priv) {
      requireRole(ctx, ['CU'], 'creating a private object');
    }
    return ctx.principal?.user ?? '';
  }

  classAndType(tpl: Template, defaults: { cls?: number; keyType?: number } = {}): { cls: number; keyType: number | undefined } {
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
  finishObject(ctx: CallContext, handle: number, cls: number, keyType: number | undefined, attrs: Map<number, Uint8Array>, origin: { local: boolean; mechanism?: number; alwaysSensitive?: boolean }, material?: StoredObject['material']): StoredObject {
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
    return { handle, owner: this.ownerFor(ctx, cls, attrs), shared: [], ...this.sessionBinding(ctx, attrs), attrs, ...(material ? { material } : {}) };
  }

  /** C_CreateObject: data objects, certificates, and keys from their components. */
  async createObject(ctx: CallContext, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const { cls, keyType } = this.classAndType(tpl);
    const profile = await this.profile();
    if (isKeyClass(cls) && (ctx.principal || !profile.publicSessionObjects)) requireRole(ctx, ['CU'], 'creating a key');
    const policy = policyFor(cls, keyType);
    const attrs = applyCreateTemplate(policy, tpl, 'create', ctx.principal?.role === 'CO', profile);
    this.requirePublicSession(ctx, profile, attrs, 'C_CreateObject');
    this.requireWritableNew(ctx, profile, attrs, 'C_CreateObject');
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
    const profile = await this.profile();
    if (ctx.principal || !profile.publicSessionObjects) requireRole(ctx, ['CU'], 'generating a key');
    const m = mechanismFor(mech.mechanism, 'generateKey');
    const tpl = Template.parse(template);
    const keyType = m.keyTypes[0]!;
    const { cls } = this.classAndType(tpl, { cls: P.CKO_SECRET_KEY, keyType });
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'generate', false, profile);
    this.requirePublicSession(ctx, profile, attrs, 'generating a key');
    this.requireWritableNew(ctx, profile, attrs, 'C_GenerateKey');
    let len = tpl.ulong(P.CKA_VALUE_LEN);
    if (len === undefined) {
      if (m.minKeySize !== m.maxKeySize) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', `CKA_VALUE_LEN is required for ${ckmName(m.mechanism)}`);
      len = m.minKeySize;
    }
    if (len < m.minKeySize || len > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} makes keys of ${m.minKeySize} to ${m.maxKeySize} bytes, not ${len}`);
    checkSecretLength(keyType, len);
    this.sessionLeaseFor(ctx, attrs);
    const prior = await this.k.txn.priorResult<number>(ctx, 'generateKey');
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
    const profile = await this.profile();
    if (ctx.principal || !profile.publicSessionObjects) requireRole(ctx, ['CU'], 'generating a key pair');
    const m = mechanismFor(mech.mechanism, 'generateKeyPair');
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
    const pubAttrs = applyCreateTemplate(policyFor(pubT.cls, keyType), pubTpl, 'generate', false, profile);
    const privAttrs = applyCreateTemplate(policyFor(privT.cls, keyType), privTpl, 'generate', false, profile);
    this.requirePublicSession(ctx, profile, pubAttrs, 'generating a key pair');
    this.requirePublicSession(ctx, profile, privAttrs, 'generating a key pair');
    this.requireWritableNew(ctx, profile, pubAttrs, 'C_GenerateKeyPair');
    this.requireWritableNew(ctx, profile, privAttrs, 'C_GenerateKeyPair');
    const modulusBits = pubTpl.ulong(P.CKA_MODULUS_BITS);
    const bits = keyType === P.CKK_RSA ? modulusBits! : curveByParams(ecParams!)!.bits;
    if (bits < m.minKeySize || bits > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} makes keys of ${m.minKeySize} to ${m.maxKeySize} bits, not ${bits}`);
    this.sessionLeaseFor(ctx, pubAttrs);
    this.sessionLeaseFor(ctx, privAttrs);
    const prior = await this.k.txn.priorResult<{ publicHandle: number; privateHandle: number }>(ctx, 'generateKeyPair');
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
    const profile = await this.profile();
    await this.k.txn.mutate(async () => {
      const lo = await this.visibleObject(ctx, handle);
      const { obj, version } = lo;
      this.requirePublicSessionObject(ctx, profile, obj, 'C_SetAttributeValue');
      this.requireWritable(ctx, profile, obj.lease === 0, 'C_SetAttributeValue');
      const priv = boolAttr(obj, P.CKA_PRIVATE);
      if (!isCO && priv && obj.owner !== ctx.principal?.user) throw new HsmError('ERR_NOT_PERMITTED', `only the owner of object ${handle} can change it`);
      checkSetTemplate(policyFor(classOf(obj), keyTypeOfObj(obj)), obj.attrs, tpl, isCO);
      const attrs = new Map(obj.attrs);
      for (const [t, v] of tpl.map) attrs.set(t, v);
      const full = await this.k.state.withMaterial(lo);
      const value = encodeObject({ ...full, attrs });
      /*
       * An object that grows counts against its owner's byte quota as a new one
       * does. The growth also moves the handle counter (by 0), so it is ordered
       * with every creation and every other growth on any node, exactly as the
       * creating transaction's check is (users/quotas.ts).
       */
      const growth = value.length - encodeObject(full).length;
      const counter = growth > 0 ? await this.allocateHandles(0) : undefined;
      if (counter) {
        await this.k.state.waitApplied(counter.version);
        checkQuota(obj.owner, this.k.state.usage(obj.owner), { objects: 0, bytes: growth }, this.k.config);
      }
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }, ...(counter ? [counter.compare] : [])],
        ops: [{ op: 'put', key: PATH.object(handle), value, ...(obj.lease ? { lease: obj.lease } : {}) }, ...(counter ? [counter.op] : [])],
        events: [this.k.txn.event(ctx, 'setAttribute', { handles: [handle], detail: [...tpl.map.keys()].map(ckaName).join(',') })],
        result: undefined,
      };
    });
  }

  /** C_DestroyObject: the owner deletes a private object; anyone may delete a public one. */
  async destroyObject(ctx: CallContext, handle: number): Promise<void> {
    const profile = await this.profile();
    await this.k.txn.mutate(async () => {
      /*
       * The one state change that is not idempotent by itself: a retry of a delete whose answer
       * was lost (the daemon retries on another node with the same request id) must answer what
       * the first attempt did, not "no such object".
       */
      const prior = await this.k.txn.priorResult<number>(ctx, 'destroyObject');
      if (prior.found) return { result: undefined };
      const { obj, version } = await this.visibleObject(ctx, handle);
      this.requirePublicSessionObject(ctx, profile, obj, 'C_DestroyObject');
      this.requireWritable(ctx, profile, obj.lease === 0, 'C_DestroyObject');
      if (boolAttr(obj, P.CKA_PRIVATE) && obj.owner !== ctx.principal?.user) {
        throw new HsmError('ERR_NOT_PERMITTED', `only the owner of object ${handle} can delete it`);
      }
      if (!boolAttr(obj, P.CKA_DESTROYABLE)) throw new HsmError('ERR_ACTION_PROHIBITED', `object ${handle} has CKA_DESTROYABLE FALSE`);
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }, ...prior.compare],
        ops: [{ op: 'delete', key: PATH.object(handle) }, ...prior.ops(handle)],
        events: [this.k.txn.event(ctx, 'deleteObject', { handles: [handle] })],
        result: undefined,
      };
    });
    this.k.material.drop(handle);
  }

  /** C_CopyObject: a new object with the same material; the template may change what C_SetAttributeValue could, plus CKA_TOKEN. */
  async copyObject(ctx: CallContext, handle: number, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const profile = await this.profile();
    const lo = await this.visibleObject(ctx, handle);
    const { obj } = lo;
    this.requirePublicSessionObject(ctx, profile, obj, 'C_CopyObject');
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
    this.requirePublicSession(ctx, profile, attrs, 'C_CopyObject');
    this.requireWritableNew(ctx, profile, attrs, 'C_CopyObject');
    const { material } = await this.k.state.withMaterial(lo);
    return this.commitNew(ctx, 'copyObject', 1, ([h]) => {
      const copy: StoredObject = { handle: h!, owner: obj.owner, shared: [], ...this.sessionBinding(ctx, attrs), attrs, ...(material ? { material } : {}) };
      return { objects: [copy], result: h!, event: { detail: `copy of ${handle}` } };
    });
  }

  /**
   * C_FindObjects: every visible object whose attributes equal the template's.
   * Sensitive attributes never match, so a search cannot probe key values.
   */
  /**
   * The handles of the visible objects that match `template`. Finding none is
   * decided on current state, as a refusal is (docs/consistency.md): a lookup
   * by label of a key that another application made through another node a
   * moment ago finds it.
   */
  async findObjects(ctx: CallContext, template: readonly Attribute[]): Promise<number[]> {
    const tpl = Template.parse(template);
    const found = this.#match(ctx, tpl, await this.k.state.objects());
    if (found.length > 0) return found;
    await this.k.state.sync();
    return this.#match(ctx, tpl, await this.k.state.objects());
  }

  #match(ctx: CallContext, tpl: Template, objects: readonly ReplicaObject[]): number[] {
    const out: number[] = [];
    for (const { obj } of objects) {
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
    const caller = requireRole(ctx, ['CU'], 'sharing a key');
    for (const u of users) {
      const rec = await this.k.state.userFor(validateUserName(u));
      if (!rec || rec.rec.role !== 'CU') throw new HsmError('ERR_USER_NOT_FOUND', `no crypto user named ${u}`);
    }
    return this.k.txn.mutate(async () => {
      const lo = await this.visibleObject(ctx, handle, 'ERR_KEY_HANDLE_INVALID');
      const { obj, version } = lo;
      if (obj.owner !== caller.user) throw new HsmError('ERR_NOT_PERMITTED', `only the owner of key ${handle} can share it`);
      if (users.includes(obj.owner)) throw new HsmError('ERR_ARGUMENTS_BAD', 'a key cannot be shared with its owner');
      const shared = share ? [...new Set([...obj.shared, ...users])] : obj.shared.filter((u) => !users.includes(u));
      const full = await this.k.state.withMaterial(lo);
      return {
        compare: [{ key: PATH.object(handle), op: 'version-eq', version }],
        ops: [{ op: 'put', key: PATH.object(handle), value: encodeObject({ ...full, shared }), ...(obj.lease ? { lease: obj.lease } : {}) }],
        events: [this.k.txn.event(ctx, share ? 'shareKey' : 'unshareKey', { handles: [handle], detail: users.join(',') })],
        result: shared,
      };
    });
  }

  /** Owner and sharing of an object, for getKeyInfo. */
  async keyInfo(ctx: CallContext, handle: number): Promise<{ owner: string; shared: readonly string[]; token: boolean }> {
    const { obj } = await this.visibleObject(ctx, handle, 'ERR_KEY_HANDLE_INVALID');
    return { owner: obj.owner, shared: [...obj.shared], token: obj.lease === 0 };
  }
}
