/**
 * @module Key material ↔ PKCS#11 attributes.
 *
 * Builds node:crypto KeyObjects from the attributes of C_CreateObject and
 * C_UnwrapKey templates, and computes the public attributes (CKA_MODULUS,
 * CKA_EC_POINT, CKA_PUBLIC_KEY_INFO, CKA_CHECK_VALUE...) from key material.
 * Encodings: PKCS#11 v2.40 §2.1.2 (RSA), §2.3.3 (EC: CKA_EC_POINT is the DER
 * OCTET STRING of the X9.62 uncompressed point), v3.0 §2.3.6 (Edwards and
 * Montgomery points: the RFC 8032 / RFC 7748 encoding, also in an OCTET STRING).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { createCipheriv, createPrivateKey, createPublicKey, createHash, type KeyObject } from '../crypto/node.js';
import { curveByParams, type Curve } from '../mechanisms/curves.js';
import { curveOfKey, ecPointOf, publicKeyFromPoint } from '../mechanisms/ec.js';
import { sec1PrivateKey } from './der.js';
import { encodeUlong, Template } from './attributes.js';

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const fromB64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/* One set of EC point helpers for the whole core lives in mechanisms/ec.ts. */
export { curveOfKey as curveOfKeyObject, publicKeyFromPoint };

/** Big-endian integer bytes without leading zeros (PKCS#11 "Big integer"). */
function stripZeros(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i));
}

function requireCurve(ecParams: Uint8Array | undefined): Curve {
  if (!ecParams) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_EC_PARAMS is required');
  const c = curveByParams(ecParams);
  if (!c) throw new HsmError('ERR_CURVE_NOT_SUPPORTED', 'CKA_EC_PARAMS names a curve this HSM does not support');
  return c;
}

/** Check that a key type and a curve agree (CKK_EC for Weierstrass, CKK_EC_EDWARDS for Ed25519...). */
export function checkCurveKeyType(curve: Curve, keyType: number): void {
  if (curve.keyType !== keyType) {
    throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `curve ${curve.name} does not go with key type 0x${keyType.toString(16)}`);
  }
}

/** The key type (CKK_*) of an asymmetric KeyObject. */
export function keyTypeOf(k: KeyObject): number {
  if (k.asymmetricKeyType === 'rsa') return P.CKK_RSA;
  return curveOfKey(k).keyType;
}

/** Public attributes of an asymmetric key, shared by its public and private objects. */
export function publicAttributes(pub: KeyObject): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  m.set(P.CKA_PUBLIC_KEY_INFO, pub.export({ format: 'der', type: 'spki' }));
  if (pub.asymmetricKeyType === 'rsa') {
    const jwk = pub.export({ format: 'jwk' });
    const n = fromB64u(jwk.n);
    m.set(P.CKA_MODULUS, n);
    m.set(P.CKA_PUBLIC_EXPONENT, fromB64u(jwk.e));
    m.set(P.CKA_MODULUS_BITS, encodeUlong(pub.asymmetricKeyDetails?.modulusLength ?? n.length * 8));
  } else {
    const curve = curveOfKey(pub);
    m.set(P.CKA_EC_PARAMS, Buffer.from(curve.oidDer, 'hex'));
    m.set(P.CKA_EC_POINT, ecPointOf(pub));
  }
  return m;
}

/** Attributes that a private object does not carry although its public half does. */
export const PUBLIC_ONLY_ATTRIBUTES: readonly number[] = [P.CKA_EC_POINT];

/** A public KeyObject from a C_CreateObject template. */
export function publicKeyFromTemplate(keyType: number, t: Template): KeyObject {
  if (keyType === P.CKK_RSA) {
    const n = t.bytes(P.CKA_MODULUS)!;
    const e = t.bytes(P.CKA_PUBLIC_EXPONENT)!;
    try {
      return createPublicKey({ key: { kty: 'RSA', n: b64u(stripZeros(n)), e: b64u(stripZeros(e)) }, format: 'jwk' });
    } catch (cause) {
      throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'CKA_MODULUS / CKA_PUBLIC_EXPONENT do not form an RSA public key', { cause });
    }
  }
  const curve = requireCurve(t.bytes(P.CKA_EC_PARAMS));
  checkCurveKeyType(curve, keyType);
  return publicKeyFromPoint(curve, t.bytes(P.CKA_EC_POINT)!);
}

/** A private KeyObject from a C_CreateObject template's components. */
export function privateKeyFromTemplate(keyType: number, t: Template): KeyObject {
  try {
    if (keyType === P.CKK_RSA) {
      const g = (a: number) => b64u(stripZeros(t.bytes(a)!));
      return createPrivateKey({
        key: {
          kty: 'RSA', n: g(P.CKA_MODULUS), e: g(P.CKA_PUBLIC_EXPONENT), d: g(P.CKA_PRIVATE_EXPONENT),
          p: g(P.CKA_PRIME_1), q: g(P.CKA_PRIME_2), dp: g(P.CKA_EXPONENT_1), dq: g(P.CKA_EXPONENT_2), qi: g(P.CKA_COEFFICIENT),
        },
        format: 'jwk',
      });
    }
  } catch (cause) {
    throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', 'the RSA components do not form a private key', { cause });
  }
  const curve = requireCurve(t.bytes(P.CKA_EC_PARAMS));
  checkCurveKeyType(curve, keyType);
  return ecPrivateKeyFromScalar(curve, t.bytes(P.CKA_VALUE)!);
}

/** Private key from CKA_VALUE: the scalar d (Weierstrass) or the 32-byte RFC 8032/7748 private key. */
export function ecPrivateKeyFromScalar(curve: Curve, value: Uint8Array): KeyObject {
  try {
    if (curve.nodeType === 'ec') {
      const len = Math.ceil(curve.bits / 8);
      if (value.length === 0 || value.length > len) throw new Error('length');
      const d = Buffer.concat([Buffer.alloc(len - value.length), value]);
      return createPrivateKey({ key: sec1PrivateKey(d, Buffer.from(curve.oidDer, 'hex')), format: 'der', type: 'sec1' });
    }
    if (value.length !== 32) throw new Error('length');
    const prefix = curve.nodeType === 'ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420';
    return createPrivateKey({ key: Buffer.concat([Buffer.from(prefix, 'hex'), value]), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new HsmError('ERR_ATTRIBUTE_VALUE_INVALID', `CKA_VALUE is not a valid private key on ${curve.name}`, { cause });
  }
}

/** Check a public attribute the caller supplied against the one computed from the key. */
export function checkGivenMatches(t: Template, computed: ReadonlyMap<number, Uint8Array>, types: readonly number[]): void {
  for (const type of types) {
    const given = t.bytes(type);
    const have = computed.get(type);
    if (given === undefined || have === undefined) continue;
    const same = type === P.CKA_MODULUS || type === P.CKA_PUBLIC_EXPONENT
      ? stripZeros(given).equals(stripZeros(have))
      : Buffer.from(given).equals(Buffer.from(have));
    if (!same) throw new HsmError('ERR_TEMPLATE_INCONSISTENT', `attribute 0x${type.toString(16)} does not match the key`);
  }
}

/** Valid CKA_VALUE lengths, in bytes, per secret key type. */
export function checkSecretLength(keyType: number, len: number): void {
  const ok =
    keyType === P.CKK_AES ? len === 16 || len === 24 || len === 32
    : keyType === P.CKK_DES3 ? len === 24
    : keyType === P.CKK_GENERIC_SECRET ? len >= 1 && len <= 3072
    : false;
  if (!ok) throw new HsmError('ERR_KEY_SIZE_RANGE', `a ${len}-byte value is not a valid length for key type 0x${keyType.toString(16)}`);
}

/**
 * CKA_CHECK_VALUE (PKCS#11 v2.40 §2.8, §2.10, §4.6.3): the first three bytes of
 * ECB-encrypting a zero block (AES, DES3), of SHA-1 of the value (certificates,
 * generic secrets).
 */
export function checkValue(keyType: number | 'certificate', value: Uint8Array): Buffer {
  if (keyType === P.CKK_AES) {
    const c = createCipheriv(`aes-${value.length * 8}-ecb`, value, null).setAutoPadding(false);
    return Buffer.concat([c.update(Buffer.alloc(16)), c.final()]).subarray(0, 3);
  }
  if (keyType === P.CKK_DES3) {
    const c = createCipheriv('des-ede3', value, null).setAutoPadding(false);
    return Buffer.concat([c.update(Buffer.alloc(8)), c.final()]).subarray(0, 3);
  }
  return createHash('sha1').update(value).digest().subarray(0, 3);
}
