/**
 * @module Key data formats ↔ PKCS#11 attributes: what importKey sends and exportKey returns.
 *
 * WebCrypto's formats (W3C Web Cryptography API §14.3.9-10): `raw` (secret
 * key bytes; an EC or RFC 8410 public point), `spki` (RFC 5280
 * SubjectPublicKeyInfo), `pkcs8` (RFC 5208/5958 PrivateKeyInfo), `jwk`
 * (RFC 7517/7518). PKCS#11 takes keys as components: CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT (RSA, PKCS#11 v2.40 §2.1.2), CKA_EC_PARAMS and
 * CKA_EC_POINT as a DER OCTET STRING (§2.3.3; docs/decisions.md), CKA_VALUE
 * for EC private scalars, RFC 8032/7748 private keys and secret keys.
 *
 * Parsing and re-encoding use node:crypto's KeyObject (no key is *used*
 * here: every operation runs in the HSM). Malformed key data is DataError.
 */
import { createPrivateKey, createPublicKey, ECDH, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { attr, type Attribute } from '../../../protocol/src/attributes.js';
import { CURVES, ED25519_OID, X25519_OID, type AlgorithmFacts, type NamedCurve } from './algorithms.js';
import { dataError, notSupported } from './errors.js';

const b64u = (s: string | undefined, what: string): Buffer => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw dataError(`${what} is not base64url`);
  return Buffer.from(s, 'base64url');
};

/** DER OCTET STRING around `v` (CKA_EC_POINT). */
export function derOctetString(v: Uint8Array): Uint8Array {
  const len = v.length;
  const head = len < 0x80 ? [0x04, len] : len < 0x100 ? [0x04, 0x81, len] : [0x04, 0x82, len >> 8, len & 0xff];
  return Uint8Array.from([...head, ...v]);
}

/** The content of a DER OCTET STRING, or the input itself when it is not one (raw points are accepted too). */
export function unwrapOctetString(v: Uint8Array): Uint8Array {
  if (v[0] !== 0x04 || v.length < 2) return v;
  let len = v[1]!;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 2 || v.length < 2 + n) return v;
    len = n === 1 ? v[2]! : (v[2]! << 8) | v[3]!;
    off = 2 + n;
  }
  return off + len === v.length ? v.subarray(off) : v;
}

/** The curve facts of a key, by what the algorithm says its curve is. */
export type CurveOf = NamedCurve | 'Ed25519' | 'X25519';

export function ecParamsOf(curve: CurveOf): Uint8Array {
  const hex = curve === 'Ed25519' ? ED25519_OID : curve === 'X25519' ? X25519_OID : CURVES[curve].oid;
  return Buffer.from(hex, 'hex');
}

/** What an imported asymmetric key looks like to the HSM and to the CryptoKey. */
export interface AsymmetricMaterial {
  readonly template: Attribute[];
  readonly modulusLength?: number;
  readonly publicExponent?: Uint8Array;
  readonly curve?: CurveOf;
  readonly spki: Uint8Array;
}

function nodeCurve(k: KeyObject): CurveOf | undefined {
  if (k.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (k.asymmetricKeyType === 'x25519') return 'X25519';
  const name = k.asymmetricKeyDetails?.namedCurve;
  return (Object.values(CURVES).find((c) => c.nodeName === name)?.name);
}

/** Check that a parsed key is of the algorithm's kind (and curve); DataError otherwise. */
function checkKind(k: KeyObject, facts: AlgorithmFacts, curve: CurveOf | undefined, what: string): CurveOf | undefined {
  const t = k.asymmetricKeyType;
  if (facts.family === 'rsa') {
    if (t !== 'rsa') throw dataError(`${what}: the key is not an RSA key (rsaEncryption)`);
    return undefined;
  }
  if (facts.family === 'ec') {
    if (t !== 'ec') throw dataError(`${what}: the key is not an elliptic-curve key`);
    const c = nodeCurve(k);
    if (!c) throw notSupported(`${what}: curve ${String(k.asymmetricKeyDetails?.namedCurve)} is not offered (P-256, P-384, P-521)`);
    if (curve !== undefined && c !== curve) throw dataError(`${what}: the key is on ${c}, not on the namedCurve ${curve}`);
    return c;
  }
  const want = facts.name === 'Ed25519' ? 'ed25519' : 'x25519';
  if (t !== want) throw dataError(`${what}: the key is not an ${facts.name} key`);
  return facts.name as 'Ed25519' | 'X25519';
}

const RSA_MIN = 2048;
const RSA_MAX = 4096;

function rsaBits(k: KeyObject, what: string): number {
  const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_MIN || bits > RSA_MAX) throw notSupported(`${what}: the HSM uses RSA keys of ${RSA_MIN} to ${RSA_MAX} bits (this one has ${bits})`);
  return bits;
}

/** The attributes of a public key (RSA, EC, Ed25519, X25519). */
export function publicMaterial(k: KeyObject, facts: AlgorithmFacts, curve: CurveOf | undefined, what: string): AsymmetricMaterial {
  const c = checkKind(k, facts, curve, what);
  const jwk = k.export({ format: 'jwk' });
  const spki = new Uint8Array(k.export({ format: 'der', type: 'spki' }));
  if (facts.family === 'rsa') {
    const n = b64u(jwk.n, 'n');
    const e = b64u(jwk.e, 'e');
    return { template: [attr.bytes(P.CKA_MODULUS, n), attr.bytes(P.CKA_PUBLIC_EXPONENT, e)], modulusLength: rsaBits(k, what), publicExponent: e, spki };
  }
  return { template: [attr.bytes(P.CKA_EC_PARAMS, ecParamsOf(c!)), attr.bytes(P.CKA_EC_POINT, derOctetString(rawPublicPoint(jwk, c!)))], curve: c!, spki };
}

/** The attributes of a private key: its components (C_CreateObject), public ones included. */
export function privateMaterial(k: KeyObject, facts: AlgorithmFacts, curve: CurveOf | undefined, what: string): AsymmetricMaterial {
  const c = checkKind(k, facts, curve, what);
  const jwk = k.export({ format: 'jwk' });
  const spki = new Uint8Array(createPublicKey(k).export({ format: 'der', type: 'spki' }));
  if (facts.family === 'rsa') {
    const g = (name: keyof JsonWebKey) => b64u(jwk[name] as string | undefined, String(name));
    return {
      template: [
        attr.bytes(P.CKA_MODULUS, g('n')), attr.bytes(P.CKA_PUBLIC_EXPONENT, g('e')), attr.bytes(P.CKA_PRIVATE_EXPONENT, g('d')),
        attr.bytes(P.CKA_PRIME_1, g('p')), attr.bytes(P.CKA_PRIME_2, g('q')), attr.bytes(P.CKA_EXPONENT_1, g('dp')),
        attr.bytes(P.CKA_EXPONENT_2, g('dq')), attr.bytes(P.CKA_COEFFICIENT, g('qi')),
      ],
      modulusLength: rsaBits(k, what),
      publicExponent: g('e'),
      spki,
    };
  }
  return { template: [attr.bytes(P.CKA_EC_PARAMS, ecParamsOf(c!)), attr.bytes(P.CKA_VALUE, b64u(jwk.d, 'd'))], curve: c!, spki };
}

/** The public point from a JWK: 04 ‖ X ‖ Y (Weierstrass) or the 32-byte RFC 8032/7748 key. */
function rawPublicPoint(jwk: JsonWebKey, curve: CurveOf): Uint8Array {
  if (curve === 'Ed25519' || curve === 'X25519') return b64u(jwk.x, 'x');
  const len = CURVES[curve].bytes;
  const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(Math.max(0, len - b.length)), b]);
  return Buffer.concat([Buffer.of(0x04), pad(b64u(jwk.x, 'x')), pad(b64u(jwk.y, 'y'))]);
}

/* ─────────────────────────────── parsing the formats ─────────────────────────────── */

export function parseSpki(der: Uint8Array, what: string): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (cause) {
    throw dataError(`${what}: not a DER SubjectPublicKeyInfo`, cause);
  }
}

export function parsePkcs8(der: Uint8Array, what: string): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw dataError(`${what}: not a DER PKCS#8 PrivateKeyInfo`, cause);
  }
}

/** A raw public key: an uncompressed or compressed EC point, or a 32-byte RFC 8410 key. */
export function parseRawPublic(raw: Uint8Array, facts: AlgorithmFacts, curve: CurveOf, what: string): KeyObject {
  try {
    if (curve === 'Ed25519' || curve === 'X25519') {
      if (raw.length !== 32) throw new Error('length');
      return createPublicKey({ key: { kty: 'OKP', crv: curve, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
    }
    const c = CURVES[curve];
    let point: Buffer = Buffer.from(raw);
    /* SEC 1 §2.3.4: a compressed point (02/03 ‖ X) is accepted and decompressed. */
    if ((point[0] === 0x02 || point[0] === 0x03) && point.length === 1 + c.bytes) point = ECDH.convertKey(point, c.nodeName, undefined, undefined, 'uncompressed') as Buffer;
    if (point[0] !== 0x04 || point.length !== 1 + 2 * c.bytes) throw new Error('encoding');
    const x = point.subarray(1, 1 + c.bytes).toString('base64url');
    const y = point.subarray(1 + c.bytes).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: curve, x, y }, format: 'jwk' });
  } catch (cause) {
    throw dataError(`${what}: not a valid ${facts.name} public key on ${curve} (raw keys are the uncompressed point, or 32 bytes for ${facts.family === 'okp' ? facts.name : 'Ed25519/X25519'})`, cause);
  }
}

/** A JWK of an asymmetric key, checked against the algorithm (RFC 7517 §4; WebCrypto's JWK import steps). */
export function parseJwkAsymmetric(jwk: JsonWebKey, facts: AlgorithmFacts, what: string): { key: KeyObject; isPrivate: boolean } {
  const kty = facts.family === 'rsa' ? 'RSA' : facts.family === 'ec' ? 'EC' : 'OKP';
  if (jwk.kty !== kty) throw dataError(`${what}: ${facts.name} JWKs have kty "${kty}" (got ${JSON.stringify(jwk.kty)})`);
  const isPrivate = jwk.d !== undefined;
  try {
    return { key: isPrivate ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' }), isPrivate };
  } catch (cause) {
    throw dataError(`${what}: the JWK is not a valid ${facts.name} key`, cause);
  }
}

/** The WebCrypto JWK of a public key from its SPKI. */
export function publicJwk(spki: Uint8Array): JsonWebKey {
  return parseSpki(spki, 'exportKey').export({ format: 'jwk' });
}

/** The raw public key (the EC point, uncompressed, or the 32-byte RFC 8410 key) from an SPKI. */
export function rawPublicFromSpki(spki: Uint8Array, curve: CurveOf): Uint8Array {
  return rawPublicPoint(publicJwk(spki), curve);
}
