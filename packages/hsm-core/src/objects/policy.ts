/**
 * @module Attribute policy as data: one table per object class and key type.
 *
 * PKCS#11 v2.40 Base §4 (object classes) fixes which attributes an object of a
 * class may carry, which the token sets itself, which are readable and which
 * may change. This file records those rules, plus the Azure Cloud HSM
 * deviations from `azure-pkcs11-digest.md` §4 (CKA_ID not modifiable,
 * CKA_EXTRACTABLE fixed at creation, CKA_SENSITIVE and CKA_PRIVATE always TRUE
 * for keys, CKA_DERIVE never TRUE on public keys, CKA_TRUSTED settable by a CO
 * only, CKA_WRAP_WITH_TRUSTED one-way), as flags read by one checker below.
 * A deviation that the partition profile decides names its profile row
 * (`forcedBy`, protocol/src/profiles.ts) instead of a branch in the checker.
 * The table-driven test (test/objects/policy.test.ts) walks these tables.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { ckaName } from '../../../protocol/src/names.js';
import { decodeBool, encodeBool, encodeUlong, Template } from './attributes.js';
import { profileSettings, type ProfileSettings } from '../../../protocol/src/profiles.js';

/* checkSetTemplate never meets a profile row: the attributes they govern are UNCHANGEABLE. */
const AZURE = profileSettings('azure');

/* Rule flags. */
/** Must be in a C_CreateObject / unwrap template (after defaults). */
export const REQUIRED = 1 << 0;
/** Set by the token only (CKA_LOCAL ...): in any caller template it is CKR_ATTRIBUTE_READ_ONLY. */
export const TOKEN_SET = 1 << 1;
/** Fixed after creation: C_SetAttributeValue answers CKR_ATTRIBUTE_READ_ONLY. */
export const UNCHANGEABLE = 1 << 2;
/** Never revealed: C_GetAttributeValue answers CKR_ATTRIBUTE_SENSITIVE. */
export const SENSITIVE = 1 << 3;
/** Produced by key generation; in a generate template it is CKR_TEMPLATE_INCONSISTENT. */
export const GENERATED = 1 << 4;
/** Key material: kept in the masked material, never among the plain attributes. */
export const MATERIAL = 1 << 5;
/** Only a CO may set it TRUE (CKA_TRUSTED). */
export const CO_ONLY = 1 << 6;
/** May change FALSE→TRUE once and never back (CKA_WRAP_WITH_TRUSTED). */
export const ONE_WAY_TRUE = 1 << 7;
/** Always TRUE; FALSE is CKR_ATTRIBUTE_VALUE_INVALID (CKA_SENSITIVE, CKA_PRIVATE on keys). */
export const FORCED_TRUE = 1 << 8;
/** Always FALSE; TRUE is CKR_ATTRIBUTE_VALUE_INVALID (CKA_DERIVE on public keys). */
export const FORCED_FALSE = 1 << 9;
/** Required in a generate template (CKA_MODULUS_BITS, CKA_EC_PARAMS, CKA_VALUE_LEN for AES). */
export const REQUIRED_ON_GENERATE = 1 << 10;

export interface Rule {
  readonly flags: number;
  /** Value used when the template gives none (raw attribute bytes). */
  readonly default?: Uint8Array;
  /**
   * The partition profile's row (protocol/src/profiles.ts) that FORCED_TRUE / FORCED_FALSE hang
   * on: they hold only in a profile whose value for it is true (KEYS_ALWAYS_PRIVATE).
   */
  readonly forcedBy?: ProfileFlag;
}

/** The profile rows that are flags. */
export type ProfileFlag = { [K in keyof ProfileSettings]: ProfileSettings[K] extends boolean ? K : never }[keyof ProfileSettings];

export type Policy = ReadonlyMap<number, Rule>;

const T = encodeBool(true);
const F = encodeBool(false);
const EMPTY = new Uint8Array(0);

type Row = readonly [type: number, flags: number, def?: Uint8Array, forcedBy?: ProfileFlag];

const COMMON: Row[] = [
  [P.CKA_CLASS, REQUIRED | UNCHANGEABLE],
  [P.CKA_TOKEN, UNCHANGEABLE, F],
  [P.CKA_MODIFIABLE, UNCHANGEABLE, T],
  [P.CKA_COPYABLE, UNCHANGEABLE, T],
  [P.CKA_DESTROYABLE, 0, T],
  [P.CKA_LABEL, 0, EMPTY],
];

const KEY: Row[] = [
  [P.CKA_KEY_TYPE, REQUIRED | UNCHANGEABLE],
  /* Azure: TRUE on every key; the `standard` profile lets a template say FALSE (KEYS_ALWAYS_PRIVATE). */
  [P.CKA_PRIVATE, UNCHANGEABLE | FORCED_TRUE, T, 'keysAlwaysPrivate'],
  /* Azure: CKA_ID is not modifiable, unlike the specification. */
  [P.CKA_ID, UNCHANGEABLE, EMPTY],
  [P.CKA_START_DATE, 0, EMPTY],
  [P.CKA_END_DATE, 0, EMPTY],
  [P.CKA_LOCAL, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_KEY_GEN_MECHANISM, TOKEN_SET | UNCHANGEABLE],
];

const PUBLIC_KEY: Row[] = [
  ...KEY,
  [P.CKA_SUBJECT, 0, EMPTY],
  [P.CKA_ENCRYPT, 0, F],
  [P.CKA_VERIFY, 0, F],
  [P.CKA_VERIFY_RECOVER, 0, F],
  [P.CKA_WRAP, 0, F],
  [P.CKA_DERIVE, FORCED_FALSE, F],
  [P.CKA_TRUSTED, CO_ONLY, F],
  [P.CKA_PUBLIC_KEY_INFO, TOKEN_SET | UNCHANGEABLE],
];

const PRIVATE_KEY: Row[] = [
  ...KEY,
  [P.CKA_SUBJECT, 0, EMPTY],
  [P.CKA_SENSITIVE, UNCHANGEABLE | FORCED_TRUE, T],
  [P.CKA_DECRYPT, 0, F],
  [P.CKA_SIGN, 0, F],
  [P.CKA_SIGN_RECOVER, 0, F],
  [P.CKA_UNWRAP, 0, F],
  [P.CKA_DERIVE, 0, F],
  /* Azure: fixed at creation, not even TRUE→FALSE. */
  [P.CKA_EXTRACTABLE, UNCHANGEABLE, T],
  [P.CKA_ALWAYS_SENSITIVE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_NEVER_EXTRACTABLE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_WRAP_WITH_TRUSTED, ONE_WAY_TRUE, F],
  [P.CKA_ALWAYS_AUTHENTICATE, UNCHANGEABLE | FORCED_FALSE, F],
  [P.CKA_PUBLIC_KEY_INFO, TOKEN_SET | UNCHANGEABLE],
];

const SECRET_KEY: Row[] = [
  ...KEY,
  [P.CKA_SENSITIVE, UNCHANGEABLE | FORCED_TRUE, T],
  [P.CKA_ENCRYPT, 0, F],
  [P.CKA_DECRYPT, 0, F],
  [P.CKA_SIGN, 0, F],
  [P.CKA_VERIFY, 0, F],
  [P.CKA_WRAP, 0, F],
  [P.CKA_UNWRAP, 0, F],
  [P.CKA_DERIVE, 0, F],
  [P.CKA_EXTRACTABLE, UNCHANGEABLE, T],
  [P.CKA_ALWAYS_SENSITIVE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_NEVER_EXTRACTABLE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_CHECK_VALUE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_WRAP_WITH_TRUSTED, ONE_WAY_TRUE, F],
  [P.CKA_TRUSTED, CO_ONLY, F],
  [P.CKA_VALUE, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_VALUE_LEN, UNCHANGEABLE],
];

const RSA_PUBLIC: Row[] = [
  [P.CKA_MODULUS, REQUIRED | UNCHANGEABLE | GENERATED],
  [P.CKA_MODULUS_BITS, UNCHANGEABLE | REQUIRED_ON_GENERATE],
  [P.CKA_PUBLIC_EXPONENT, REQUIRED | UNCHANGEABLE],
];

const RSA_PRIVATE: Row[] = [
  [P.CKA_MODULUS, REQUIRED | UNCHANGEABLE | GENERATED],
  [P.CKA_PUBLIC_EXPONENT, REQUIRED | UNCHANGEABLE | GENERATED],
  [P.CKA_PRIVATE_EXPONENT, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_PRIME_1, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_PRIME_2, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_EXPONENT_1, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_EXPONENT_2, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  [P.CKA_COEFFICIENT, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
  /* Not in the spec's private-key table, but convenient and harmless: the token fills it. */
  [P.CKA_MODULUS_BITS, TOKEN_SET | UNCHANGEABLE],
];

/* EC, Edwards and Montgomery keys share one shape (PKCS#11 v3.0 §2.3, §2.3.5). */
const EC_PUBLIC: Row[] = [
  [P.CKA_EC_PARAMS, REQUIRED | UNCHANGEABLE | REQUIRED_ON_GENERATE],
  [P.CKA_EC_POINT, REQUIRED | UNCHANGEABLE | GENERATED],
];

const EC_PRIVATE: Row[] = [
  /* Not GENERATED: some applications repeat CKA_EC_PARAMS in the private template;
     the key-pair generator requires it to equal the public template's. */
  [P.CKA_EC_PARAMS, REQUIRED | UNCHANGEABLE],
  [P.CKA_VALUE, REQUIRED | UNCHANGEABLE | SENSITIVE | GENERATED | MATERIAL],
];

const CERTIFICATE: Row[] = [
  [P.CKA_PRIVATE, UNCHANGEABLE, F],
  [P.CKA_CERTIFICATE_TYPE, REQUIRED | UNCHANGEABLE],
  [P.CKA_TRUSTED, CO_ONLY, F],
  [P.CKA_CERTIFICATE_CATEGORY, 0, encodeUlong(0)],
  [P.CKA_CHECK_VALUE, TOKEN_SET | UNCHANGEABLE],
  [P.CKA_START_DATE, 0, EMPTY],
  [P.CKA_END_DATE, 0, EMPTY],
  [P.CKA_PUBLIC_KEY_INFO, 0, EMPTY],
  /* X.509 (§4.6.3) */
  [P.CKA_SUBJECT, REQUIRED | UNCHANGEABLE],
  [P.CKA_ID, 0, EMPTY],
  [P.CKA_ISSUER, 0, EMPTY],
  [P.CKA_SERIAL_NUMBER, 0, EMPTY],
  [P.CKA_VALUE, REQUIRED | UNCHANGEABLE],
  [P.CKA_URL, 0, EMPTY],
  [P.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 0, EMPTY],
  [P.CKA_HASH_OF_ISSUER_PUBLIC_KEY, 0, EMPTY],
  [P.CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, encodeUlong(0)],
  [P.CKA_NAME_HASH_ALGORITHM, 0, encodeUlong(P.CKM_SHA_1)],
];

const DATA: Row[] = [
  [P.CKA_PRIVATE, UNCHANGEABLE, F],
  [P.CKA_APPLICATION, 0, EMPTY],
  [P.CKA_OBJECT_ID, 0, EMPTY],
  [P.CKA_VALUE, 0, EMPTY],
];

function table(...groups: Row[][]): Policy {
  const m = new Map<number, Rule>();
  /* Later rows override earlier ones, so a key-type row refines a class row. */
  for (const g of groups) for (const [type, flags, def, forcedBy] of g) m.set(type, { flags, ...(def !== undefined ? { default: def } : {}), ...(forcedBy ? { forcedBy } : {}) });
  return m;
}

export const SECRET_KEY_TYPES: readonly number[] = [P.CKK_AES, P.CKK_DES3, P.CKK_GENERIC_SECRET];
export const ASYMMETRIC_KEY_TYPES: readonly number[] = [P.CKK_RSA, P.CKK_EC, P.CKK_EC_EDWARDS, P.CKK_EC_MONTGOMERY];

/** Every (class, key type) this HSM stores, with its policy. The test walks this list. */
export const POLICIES: ReadonlyArray<{ readonly cls: number; readonly keyType?: number; readonly policy: Policy }> = [
  { cls: P.CKO_DATA, policy: table(COMMON, DATA) },
  { cls: P.CKO_CERTIFICATE, policy: table(COMMON, CERTIFICATE) },
  ...SECRET_KEY_TYPES.map((kt) => ({ cls: P.CKO_SECRET_KEY, keyType: kt, policy: table(COMMON, SECRET_KEY) })),
  { cls: P.CKO_PUBLIC_KEY, keyType: P.CKK_RSA, policy: table(COMMON, PUBLIC_KEY, RSA_PUBLIC) },
  { cls: P.CKO_PRIVATE_KEY, keyType: P.CKK_RSA, policy: table(COMMON, PRIVATE_KEY, RSA_PRIVATE) },
  ...[P.CKK_EC, P.CKK_EC_EDWARDS, P.CKK_EC_MONTGOMERY].flatMap((kt) => [
    { cls: P.CKO_PUBLIC_KEY, keyType: kt, policy: table(COMMON, PUBLIC_KEY, EC_PUBLIC) },
    { cls: P.CKO_PRIVATE_KEY, keyType: kt, policy: table(COMMON, PRIVATE_KEY, EC_PRIVATE) },
  ]),
];

/** The policy for a class and key type, or CKR_TEMPLATE_INCONSISTENT naming what is unsupported. */
export function policyFor(cls: number, keyType?: number): Policy {
  const isKey = cls === P.CKO_SECRET_KEY || cls === P.CKO_PUBLIC_KEY || cls === P.CKO_PRIVATE_KEY;
  const row = POLICIES.find((p) => p.cls === cls && (isKey ? p.keyType === keyType : true));
  if (!row) {
    if (!POLICIES.some((p) => p.cls === cls)) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `object class 0x${cls.toString(16)} is not supported`);
    if (keyType === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_KEY_TYPE is required for a key');
    throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `key type 0x${keyType.toString(16)} is not supported for object class 0x${cls.toString(16)}`);
  }
  return row.policy;
}

export type CreateMode = 'create' | 'generate' | 'unwrap' | 'derive' | 'copy';

/**
 * Check a caller's template for an object about to be made, and return the
 * attribute set with defaults filled in (token-set and material attributes are
 * left for the caller to add). Order of checks follows PKCS#11 v2.40 §4.1.1.
 */
export function applyCreateTemplate(policy: Policy, tpl: Template, mode: CreateMode, isCO: boolean, profile: ProfileSettings = AZURE): Map<number, Uint8Array> {
  for (const [type, value] of tpl.map) {
    const rule = policy.get(type);
    if (!rule) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `${ckaName(type)} does not apply to this kind of object`);
    if (rule.flags & TOKEN_SET) throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', `${ckaName(type)} is set by the HSM and cannot be given`);
    if (mode !== 'create' && mode !== 'copy' && rule.flags & GENERATED) {
      throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `${ckaName(type)} is produced by the HSM and must not be in a ${mode} template`);
    }
    checkForcedValue(type, rule, value, profile);
    if (rule.flags & CO_ONLY && decodeBool(value) && !isCO) {
      throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', `${ckaName(type)} can be set TRUE by a crypto officer (CO) only`);
    }
  }
  const out = new Map<number, Uint8Array>();
  for (const [type, rule] of policy) {
    const given = tpl.map.get(type);
    if (given !== undefined) out.set(type, given);
    else if (rule.default !== undefined) out.set(type, rule.default);
  }
  if (mode === 'create') {
    for (const [type, rule] of policy) {
      if (rule.flags & REQUIRED && !out.has(type)) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', `${ckaName(type)} is required`);
    }
  }
  if (mode === 'generate') {
    for (const [type, rule] of policy) {
      if (rule.flags & REQUIRED_ON_GENERATE && !out.has(type)) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', `${ckaName(type)} is required to generate this key`);
    }
  }
  return out;
}

function checkForcedValue(type: number, rule: Rule, value: Uint8Array, profile: ProfileSettings): void {
  if (rule.forcedBy && !profile[rule.forcedBy]) return;
  if (rule.flags & FORCED_TRUE && !decodeBool(value)) {
    throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', `${ckaName(type)} must be TRUE: this HSM keeps every key ${type === P.CKA_SENSITIVE ? 'sensitive' : 'private'}`);
  }
  if (rule.flags & FORCED_FALSE && decodeBool(value)) {
    throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', `${ckaName(type)} cannot be TRUE on this kind of object`);
  }
}

/**
 * Check a C_SetAttributeValue template against an existing object's
 * attributes. A CO may change CKA_TRUSTED only; nobody else may change it.
 */
export function checkSetTemplate(policy: Policy, current: ReadonlyMap<number, Uint8Array>, tpl: Template, isCO: boolean): void {
  if (current.has(P.CKA_MODIFIABLE) && !decodeBool(current.get(P.CKA_MODIFIABLE)!)) {
    throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', 'the object has CKA_MODIFIABLE FALSE');
  }
  for (const [type, value] of tpl.map) {
    const rule = policy.get(type);
    if (!rule) throw new HsmError('ERR_ATTRIBUTE_TYPE_INVALID', `${ckaName(type)} does not apply to this object`);
    if (isCO && !(rule.flags & CO_ONLY)) {
      throw new HsmError('ERR_NOT_PERMITTED', `a crypto officer may change CKA_TRUSTED only, not ${ckaName(type)}`);
    }
    const old = current.get(type);
    const same = old !== undefined && Buffer.from(old).equals(Buffer.from(value));
    if (same) continue; /* writing the present value is allowed, as for CKA_EXTRACTABLE FALSE→FALSE */
    if (rule.flags & (UNCHANGEABLE | TOKEN_SET | MATERIAL)) throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', `${ckaName(type)} cannot be changed after the object is created`);
    checkForcedValue(type, rule, value, AZURE);
    if (rule.flags & CO_ONLY && !isCO) throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', `${ckaName(type)} can be changed by a crypto officer (CO) only`);
    if (rule.flags & ONE_WAY_TRUE && !decodeBool(value)) {
      throw new HsmError('ERR_ATTRIBUTE_READ_ONLY', `${ckaName(type)} can go from FALSE to TRUE once, and never back`);
    }
  }
}

/** Whether an attribute may be read back (CKR_ATTRIBUTE_SENSITIVE otherwise). */
export function isReadable(policy: Policy, type: number): boolean {
  const rule = policy.get(type);
  return rule === undefined || !(rule.flags & SENSITIVE);
}

export function isMaterial(policy: Policy, type: number): boolean {
  return ((policy.get(type)?.flags ?? 0) & MATERIAL) !== 0;
}
