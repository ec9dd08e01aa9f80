/**
 * @module Key use: sign, verify, encrypt, decrypt, digest, wrap, unwrap and
 * derive (PKCS#11 v2.40 Base §5.8–5.14). Each use of a private or secret key
 * is recorded in the key-use log before it is answered.
 */
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../protocol/src/errors.js';
import { ckaName, ckmName } from '../../protocol/src/names.js';
import { createPrivateKey, createPublicKey, randomBytes, KeyObject } from './crypto/node.js';
import { Template, encodeUlong, type Attribute } from './objects/attributes.js';
import { applyCreateTemplate, policyFor, SECRET_KEY_TYPES } from './objects/policy.js';
import { checkCurveKeyType, checkGivenMatches, checkSecretLength, checkValue, curveOfKeyObject, keyTypeOf, publicAttributes, PUBLIC_ONLY_ATTRIBUTES } from './objects/keys.js';
import { mechanismFor, type ObjectLifecycle } from './objects/lifecycle.js';
import { curveByParams } from './mechanisms/curves.js';
import type { KeyMaterial, Mechanism, MultiPart, MultiPartKind } from './mechanisms/types.js';
import type { CallContext, MechanismRequest } from './partition/context.js';
import type { Kernel } from './partition/kernel.js';
import { boolAttr, classOf, keyTypeOfObj, isKeyClass, ulongAttr, type LoadedObject, type StoredObject } from './partition/records.js';
import { requireRole } from './users/roles.js';
import { checkWrap } from './authz/export_policy.js';
import { defaultWrapWithTrusted } from './authz/partition_policy.js';

/** The usage attribute each operation needs (PKCS#11 v2.40 Base Table 25). */
const USAGE = {
  sign: P.CKA_SIGN, verify: P.CKA_VERIFY, encrypt: P.CKA_ENCRYPT, decrypt: P.CKA_DECRYPT,
  wrap: P.CKA_WRAP, unwrap: P.CKA_UNWRAP, derive: P.CKA_DERIVE,
} as const;
type Use = keyof typeof USAGE;

export class KeyUse {
  constructor(private readonly k: Kernel, private readonly objects: ObjectLifecycle) {}

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
    /* Before sign-in only in a profile with PUBLIC_SESSION_OBJECTS, and only a public session key. */
    const profile = ctx.principal ? undefined : await this.objects.profile();
    const p = ctx.principal || !profile?.publicSessionObjects ? requireRole(ctx, ['CU'], 'using a key') : undefined;
    const m = mechanismFor(mech, fn);
    const lo = await this.k.state.objectFor(handle, (o) => this.objects.visible(o.obj, ctx) && isKeyClass(classOf(o.obj)) && (!boolAttr(o.obj, P.CKA_PRIVATE) || (p !== undefined && (o.obj.owner === p.user || o.obj.shared.includes(p.user)))));
    if (!lo) throw new HsmError(invalid, `key handle ${handle} is not valid for this user`);
    if (profile) this.objects.requirePublicSessionObject(ctx, profile, lo.obj, 'using a key');
    const kt = keyTypeOfObj(lo.obj)!;
    if (!m.keyTypes.includes(kt)) throw new HsmError(invalid === 'ERR_KEY_HANDLE_INVALID' ? 'ERR_KEY_TYPE_INCONSISTENT' : invalid === 'ERR_WRAPPING_KEY_HANDLE_INVALID' ? 'ERR_WRAPPING_KEY_TYPE_INCONSISTENT' : 'ERR_UNWRAPPING_KEY_TYPE_INCONSISTENT', `${ckmName(mech)} cannot use a key of this type`);
    if (!boolAttr(lo.obj, USAGE[use])) throw new HsmError('ERR_KEY_FUNCTION_NOT_PERMITTED', `key ${handle} does not allow ${use} (${ckaName(USAGE[use])} is FALSE)`);
    const size = this.keySize(lo.obj, m.keySizeUnit);
    if (size < m.minKeySize || size > m.maxKeySize) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(mech)} takes keys of ${m.minKeySize} to ${m.maxKeySize} ${m.keySizeUnit}`);
    return { lo, m, km: await this.k.material.get(lo, () => this.k.state.withMaterial(lo)) };
  }

  private checkData(data: Uint8Array, what = 'data'): void {
    if (!(data instanceof Uint8Array)) throw new HsmError('ERR_ARGUMENTS_BAD', `${what} must be bytes`);
    if (data.length > this.k.config.maxDataBytes) throw new HsmError('ERR_DATA_LEN_RANGE', `${what} is ${data.length} bytes; the limit for one operation is ${this.k.config.maxDataBytes}`);
  }

  /** Run a key use, then append its audit record (for private and secret keys) before answering. */
  private async audited<T>(ctx: CallContext, action: string, handle: number, km: KeyMaterial, mech: number, run: () => Promise<T>, detail?: string): Promise<T> {
    const needsRecord = km.kind !== 'public';
    const more = { handles: [handle], mechanism: mech, ...(detail !== undefined ? { detail } : {}) };
    let result: T;
    try {
      result = await run();
    } catch (e) {
      if (needsRecord) await this.k.useLog.append(this.k.txn.event(ctx, action, more, e instanceof HsmError ? e.code : 'ERR_GENERAL')).catch(() => undefined);
      throw e;
    }
    if (needsRecord) await this.k.useLog.append(this.k.txn.event(ctx, action, more));
    return result;
  }

  /**
   * Begin a multi-part operation (C_DigestInit ... C_DecryptInit followed by
   * updates). The key is resolved and every policy check of the single-part
   * call is made here, once; the key-use record is written here too, with
   * detail "multi-part": the key is put to use from the first update on (an
   * encryption hands out ciphertext before its final call, and an abandoned
   * operation never reaches one). A mechanism without a multi-part form is
   * ERR_FUNCTION_NOT_SUPPORTED, before any key check and without a record:
   * the client then buffers the parts and makes the single-part call, which
   * checks and records as usual.
   */
  async beginMultiPart(ctx: CallContext, kind: MultiPartKind, mech: MechanismRequest, handle: number | undefined): Promise<MultiPart> {
    const m = mechanismFor(mech.mechanism, kind);
    if (typeof m.multiPart !== 'function' || (m.multiPartKinds !== undefined && !m.multiPartKinds.includes(kind))) {
      throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `${ckmName(mech.mechanism)} has no multi-part form here; send the whole input in one ${kind} request`);
    }
    if (kind === 'digest') return m.multiPart('digest', undefined, mech.params ?? {});
    if (handle === undefined) throw new HsmError('ERR_ARGUMENTS_BAD', `a multi-part ${kind} needs a key handle`);
    const { km } = await this.keyFor(ctx, handle, mech.mechanism, kind, kind);
    return this.audited(ctx, kind, handle, km, m.mechanism, async () => m.multiPart!(kind, km, mech.params ?? {}), 'multi-part');
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
    return mechanismFor(mech.mechanism, 'digest').digest!(data);
  }

  async generateRandom(length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.k.config.maxDataBytes) {
      throw new HsmError('ERR_ARGUMENTS_BAD', `random length must be 0 to ${this.k.config.maxDataBytes} bytes`);
    }
    return randomBytes(length);
  }

  /**
   * C_WrapKey. The export table decides (authz/export_policy.ts), with the
   * partition's DEFAULT_WRAP_WITH_TRUSTED as it is in the store now.
   */
  async wrapKey(ctx: CallContext, mech: MechanismRequest, wrappingHandle: number, keyHandle: number): Promise<Buffer> {
    const { lo: wrapping, m, km } = await this.keyFor(ctx, wrappingHandle, mech.mechanism, 'wrap', 'wrap', 'ERR_WRAPPING_KEY_HANDLE_INVALID');
    const p = ctx.principal!;
    const target = await this.k.state.objectFor(keyHandle, (o) => this.objects.visible(o.obj, ctx) && (o.obj.owner === p.user || o.obj.shared.includes(p.user)));
    if (!target) {
      throw new HsmError('ERR_KEY_HANDLE_INVALID', `key handle ${keyHandle} is not valid for this user`);
    }
    /* The export and wrap policy is one table (authz/export_policy.ts). */
    const policy = (await this.k.state.requirePartition()).rec.policy;
    checkWrap({ caller: p.user, key: target.obj, wrappingKey: wrapping.obj, defaultWrapWithTrusted: defaultWrapWithTrusted(policy) });
    const full = await this.k.state.withMaterial(target);
    const bytes = full.material!.bytes;
    return this.audited(ctx, 'wrapKey', keyHandle, await this.k.material.get(target, async () => full), m.mechanism, () => m.wrap!(km, bytes, mech.params ?? {}));
  }

  /** C_UnwrapKey: the template must name the class and key type of what is inside. */
  async unwrapKey(ctx: CallContext, mech: MechanismRequest, unwrappingHandle: number, wrapped: Uint8Array, template: readonly Attribute[]): Promise<number> {
    this.checkData(wrapped, 'wrapped key');
    const tpl = Template.parse(template);
    const { cls, keyType } = this.objects.classAndType(tpl);
    if (cls !== P.CKO_SECRET_KEY && cls !== P.CKO_PRIVATE_KEY) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'only secret and private keys can be unwrapped');
    const profile = await this.objects.profile();
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'unwrap', false, profile);
    this.objects.requireWritableNew(ctx, profile, attrs, 'C_UnwrapKey');
    this.objects.sessionLeaseFor(ctx, attrs);
    const { m, km } = await this.keyFor(ctx, unwrappingHandle, mech.mechanism, 'unwrap', 'unwrap', 'ERR_UNWRAPPING_KEY_HANDLE_INVALID');
    const prior = await this.k.txn.priorResult<number>(ctx, 'unwrapKey');
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
    return this.objects.commitNew(ctx, 'unwrapKey', 1, ([h]) => ({
      objects: [this.objects.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: false, alwaysSensitive: false }, material)],
      result: h!,
      event: { mechanism: m.mechanism, detail: `unwrapped with ${unwrappingHandle}` },
    }));
  }

  /** C_DeriveKey (ECDH1): a secret key of the template's type and CKA_VALUE_LEN. */
  async deriveKey(ctx: CallContext, mech: MechanismRequest, baseHandle: number, template: readonly Attribute[]): Promise<number> {
    const tpl = Template.parse(template);
    const { cls, keyType } = this.objects.classAndType(tpl, { cls: P.CKO_SECRET_KEY, keyType: tpl.ulong(P.CKA_KEY_TYPE) ?? P.CKK_GENERIC_SECRET });
    const profile = await this.objects.profile();
    const attrs = applyCreateTemplate(policyFor(cls, keyType), tpl, 'derive', false, profile);
    this.objects.requireWritableNew(ctx, profile, attrs, 'C_DeriveKey');
    this.objects.sessionLeaseFor(ctx, attrs);
    const fixed = keyType === P.CKK_DES3 ? 24 : undefined;
    const len = tpl.ulong(P.CKA_VALUE_LEN) ?? fixed;
    if (len === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_VALUE_LEN is required to derive this key');
    checkSecretLength(keyType!, len);
    const { lo, m, km } = await this.keyFor(ctx, baseHandle, mech.mechanism, 'derive', 'derive');
    const prior = await this.k.txn.priorResult<number>(ctx, 'deriveKey');
    if (prior.found) return prior.result;
    const secret = await this.audited(ctx, 'deriveKey', baseHandle, km, m.mechanism, () => m.derive!(km, { ...(mech.params ?? {}), length: len }));
    if (secret.length < len) throw new HsmError('ERR_KEY_SIZE_RANGE', `${ckmName(m.mechanism)} yields ${secret.length} bytes, fewer than CKA_VALUE_LEN ${len}`);
    const value = Buffer.from(secret.subarray(0, len));
    attrs.set(P.CKA_VALUE_LEN, encodeUlong(len));
    attrs.set(P.CKA_CHECK_VALUE, checkValue(keyType!, value));
    const alwaysSensitive = boolAttr(lo.obj, P.CKA_ALWAYS_SENSITIVE);
    return this.objects.commitNew(ctx, 'deriveKey', 1, ([h]) => ({
      objects: [this.objects.finishObject(ctx, h!, cls, keyType, new Map(attrs), { local: false, alwaysSensitive }, { kind: 'secret', bytes: value })],
      result: h!,
      event: { mechanism: m.mechanism, detail: `derived from ${baseHandle}` },
    }));
  }
}
