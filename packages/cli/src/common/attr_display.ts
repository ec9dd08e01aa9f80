/**
 * @module How the tools show attributes, written once for azcloudhsm_util (getAttribute,
 * listAttributes) and azcloudhsm_mgmt_util (getAttribute, listAttributes).
 *
 * Attribute ids are the PKCS#11 CKA_* numbers, which are the Cavium OBJ_ATTR_* ids
 * (134 = OBJ_ATTR_TRUSTED = CKA_TRUSTED); they print as OBJ_ATTR_<name>. A value prints by the
 * attribute's kind (protocol/src/attributes.ts ATTRIBUTE_KINDS): booleans and integers as 0x%08x,
 * labels as text, everything else in hex.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { ckaName } from '../../../protocol/src/names.js';
import { ATTRIBUTE_KINDS } from '../../../protocol/src/attributes.js';

export const OBJ_ATTR_TRUSTED = P.CKA_TRUSTED; /* 134 */
/** `getAttribute … 512`: every listed attribute the key has and may show. */
export const OBJ_ATTR_ALL = 512;

/** What listAttributes shows and `getAttribute … 512` reads. */
export const LISTED_ATTRIBUTES: readonly number[] = [
  P.CKA_CLASS, P.CKA_TOKEN, P.CKA_PRIVATE, P.CKA_LABEL, P.CKA_ID, P.CKA_KEY_TYPE, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE,
  P.CKA_ALWAYS_SENSITIVE, P.CKA_NEVER_EXTRACTABLE, P.CKA_LOCAL, P.CKA_TRUSTED, P.CKA_WRAP_WITH_TRUSTED, P.CKA_ENCRYPT,
  P.CKA_DECRYPT, P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_SIGN, P.CKA_VERIFY, P.CKA_DERIVE, P.CKA_MODIFIABLE, P.CKA_COPYABLE,
  P.CKA_DESTROYABLE, P.CKA_VALUE_LEN, P.CKA_MODULUS_BITS, P.CKA_PUBLIC_EXPONENT, P.CKA_MODULUS, P.CKA_EC_PARAMS,
  P.CKA_EC_POINT, P.CKA_KEY_GEN_MECHANISM, P.CKA_CHECK_VALUE,
];

const TEXT_ATTRIBUTES = new Set<number>([P.CKA_LABEL, P.CKA_APPLICATION, P.CKA_URL]);

export function objAttrName(type: number): string {
  const n = ckaName(type);
  return n.startsWith('CKA_') ? `OBJ_ATTR_${n.slice(4)}` : n;
}

/** A value as the tool family prints it. */
export function formatAttrValue(type: number, v: Uint8Array): string {
  const b = Buffer.from(v);
  const kind = ATTRIBUTE_KINDS.get(type);
  if (TEXT_ATTRIBUTES.has(type)) return b.toString('utf8');
  if (kind === 'ulong' && b.length === 8) return '0x' + b.readBigUInt64LE().toString(16).padStart(8, '0');
  if (kind === 'bool' && b.length === 1) return '0x' + b[0]!.toString(16).padStart(8, '0');
  return b.length === 0 ? '(empty)' : b.toString('hex');
}
