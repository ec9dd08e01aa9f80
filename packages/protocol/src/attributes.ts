/**
 * @module CK_ATTRIBUTE values as bytes: the encoders every component shares.
 *
 * An attribute travels as `{ type, value }` exactly as CK_ATTRIBUTE carries it
 * (docs/protocol.md §3), so whoever builds a template — the HSM core, the
 * CLIs, the TypeScript SDK — encodes values the same way. Fixed decisions
 * (docs/decisions.md): CK_BBOOL is 1 byte, 0x00 or 0x01; CK_ULONG is 8 bytes
 * little-endian (LP64); CK_UTF8CHAR strings are UTF-8 without a terminator.
 *
 * Only the encoders and the two decoders a client needs live here; the
 * checking of values against their kinds is the HSM core's
 * (hsm-core/src/objects/attributes.ts), which re-exports these.
 */
import type { WireAttribute } from './codec.js';
import * as P from './pkcs11.js';

export type Attribute = WireAttribute;

export const encodeBool = (b: boolean): Uint8Array => Uint8Array.of(b ? 1 : 0);

export function encodeUlong(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

const utf8 = new TextEncoder();

export const encodeUtf8 = (s: string): Uint8Array => utf8.encode(s);

export function decodeBool(v: Uint8Array): boolean {
  return v[0] === 1;
}

/** A CK_ULONG value as a number, or undefined when it is not 8 bytes or is above 2^53 - 1. */
export function readUlong(v: Uint8Array): number | undefined {
  if (v.length !== 8) return undefined;
  const n = new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(n);
}

/** Attribute helpers for building templates. */
export const attr = {
  bool: (type: number, v: boolean): Attribute => ({ type, value: encodeBool(v) }),
  ulong: (type: number, v: number | bigint): Attribute => ({ type, value: encodeUlong(v) }),
  bytes: (type: number, v: Uint8Array): Attribute => ({ type, value: v }),
  utf8: (type: number, v: string): Attribute => ({ type, value: encodeUtf8(v) }),
};

export type AttrKind = 'bool' | 'ulong' | 'bytes' | 'utf8' | 'date';

/** The kind of every attribute this HSM knows. An attribute not listed here is CKR_ATTRIBUTE_TYPE_INVALID. */
export const ATTRIBUTE_KINDS: ReadonlyMap<number, AttrKind> = new Map<number, AttrKind>([
  [P.CKA_CLASS, 'ulong'],
  [P.CKA_TOKEN, 'bool'],
  [P.CKA_PRIVATE, 'bool'],
  [P.CKA_LABEL, 'utf8'],
  [P.CKA_APPLICATION, 'utf8'],
  [P.CKA_VALUE, 'bytes'],
  [P.CKA_OBJECT_ID, 'bytes'],
  [P.CKA_CERTIFICATE_TYPE, 'ulong'],
  [P.CKA_ISSUER, 'bytes'],
  [P.CKA_SERIAL_NUMBER, 'bytes'],
  [P.CKA_TRUSTED, 'bool'],
  [P.CKA_CERTIFICATE_CATEGORY, 'ulong'],
  [P.CKA_JAVA_MIDP_SECURITY_DOMAIN, 'ulong'],
  [P.CKA_URL, 'utf8'],
  [P.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 'bytes'],
  [P.CKA_HASH_OF_ISSUER_PUBLIC_KEY, 'bytes'],
  [P.CKA_NAME_HASH_ALGORITHM, 'ulong'],
  [P.CKA_CHECK_VALUE, 'bytes'],
  [P.CKA_KEY_TYPE, 'ulong'],
  [P.CKA_SUBJECT, 'bytes'],
  [P.CKA_ID, 'bytes'],
  [P.CKA_SENSITIVE, 'bool'],
  [P.CKA_ENCRYPT, 'bool'],
  [P.CKA_DECRYPT, 'bool'],
  [P.CKA_WRAP, 'bool'],
  [P.CKA_UNWRAP, 'bool'],
  [P.CKA_SIGN, 'bool'],
  [P.CKA_SIGN_RECOVER, 'bool'],
  [P.CKA_VERIFY, 'bool'],
  [P.CKA_VERIFY_RECOVER, 'bool'],
  [P.CKA_DERIVE, 'bool'],
  [P.CKA_START_DATE, 'date'],
  [P.CKA_END_DATE, 'date'],
  [P.CKA_MODULUS, 'bytes'],
  [P.CKA_MODULUS_BITS, 'ulong'],
  [P.CKA_PUBLIC_EXPONENT, 'bytes'],
  [P.CKA_PRIVATE_EXPONENT, 'bytes'],
  [P.CKA_PRIME_1, 'bytes'],
  [P.CKA_PRIME_2, 'bytes'],
  [P.CKA_EXPONENT_1, 'bytes'],
  [P.CKA_EXPONENT_2, 'bytes'],
  [P.CKA_COEFFICIENT, 'bytes'],
  [P.CKA_PUBLIC_KEY_INFO, 'bytes'],
  [P.CKA_VALUE_LEN, 'ulong'],
  [P.CKA_EXTRACTABLE, 'bool'],
  [P.CKA_LOCAL, 'bool'],
  [P.CKA_NEVER_EXTRACTABLE, 'bool'],
  [P.CKA_ALWAYS_SENSITIVE, 'bool'],
  [P.CKA_KEY_GEN_MECHANISM, 'ulong'],
  [P.CKA_MODIFIABLE, 'bool'],
  [P.CKA_COPYABLE, 'bool'],
  [P.CKA_DESTROYABLE, 'bool'],
  [P.CKA_EC_PARAMS, 'bytes'],
  [P.CKA_EC_POINT, 'bytes'],
  [P.CKA_ALWAYS_AUTHENTICATE, 'bool'],
  [P.CKA_WRAP_WITH_TRUSTED, 'bool'],
]);
