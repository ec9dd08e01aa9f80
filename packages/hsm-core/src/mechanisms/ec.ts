/**
 * @module Elliptic-curve mechanisms: key-pair generation, ECDSA, EdDSA; EC point helpers.
 *
 * PKCS#11 v2.40 Current Mechanisms §2.3 (Elliptic Curve): CKM_EC_KEY_PAIR_GEN
 * (§2.3.6), CKM_ECDSA (§2.3.7), CKM_ECDSA_SHA1/SHA224/SHA256/SHA384/SHA512
 * (§2.3.8); PKCS#11 v3.0 §2.3.7-2.3.14: CKM_EC_EDWARDS_KEY_PAIR_GEN,
 * CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKM_EDDSA (Ed25519, RFC 8032 §5.1, pure
 * variant only). ECDSA is ANSI X9.62 / FIPS 186-4 §6.
 *
 * Curves: those of curves.ts. CKM_EC_KEY_PAIR_GEN generates on every row, as
 * the Azure Cloud HSM does for Ed25519 and X25519 (the key type then follows
 * the curve: CKK_EC, CKK_EC_EDWARDS or CKK_EC_MONTGOMERY). Signing is offered
 * where `canSign` is true: ECDSA on P-256, P-384, P-521 and secp256k1 (the
 * Azure guide lists only P-256 and P-384), EdDSA on Ed25519.
 *
 * Signatures are PKCS#11's r ‖ s, each the byte length of the group order.
 * Raw CKM_ECDSA signs a caller's hash, which node:crypto cannot do, so it uses
 * the libcrypto signer the node installs (../crypto/raw_ecdsa.ts: EVP_PKEY_sign
 * with no digest, random nonces; on the event loop for P-256, on the thread
 * pool for the slower curves: INLINE_ECDSA) and, where none is
 * installed, @noble/curves with prehash off: the hash is taken as an integer of its
 * leftmost order-length bits (FIPS 186-4 §6.4), RFC 6979 nonces with extra
 * randomness (hedged). The hashing variants are node:crypto's.
 *
 * CKA_EC_POINT (helpers ecPointOf / publicKeyFromPoint): the DER OCTET STRING
 * of the X9.62 uncompressed point 04 ‖ X ‖ Y for Weierstrass curves (§2.3.3),
 * and of the 32-byte RFC 8032 / RFC 7748 key for Ed25519 / X25519 (v3.0).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  createPublicKey,
  ECDH,
  generateKeyPair,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
  type SignKeyObjectInput,
  type VerifyKeyObjectInput,
} from '../crypto/node.js';
import { nativeRawEcdsaSign } from '../crypto/raw_ecdsa.js';
import { derOctetString, derRead, derTlv, unwrapOctetString } from '../objects/der.js';
import { CURVES, curveByParams, type Curve } from './curves.js';
import { hashByMechanism, type HashInfo } from './hashes.js';
import { hashSignStream } from './hash_sign.js';
import type { Bytes, GeneratedPair, KeyMaterial, KeyPairSpec, Mechanism } from './types.js';

/* ------------------------------------------------------------------------ */
/* Curves and points                                                        */
/* ------------------------------------------------------------------------ */

/** Byte length of a coordinate (and of the group order) on a curve. */
export const coordinateBytes = (curve: Curve): number => Math.ceil(curve.bits / 8);

/** Which curve a key (public or private) is on. */
export function curveOfKey(key: KeyObject): Curve {
  const t = key.asymmetricKeyType;
  if (t === 'ed25519' || t === 'x25519') return CURVES.find((c) => c.nodeType === t)!;
  if (t === 'ec') {
    const name = key.asymmetricKeyDetails?.namedCurve;
    const curve = CURVES.find((c) => c.nodeType === 'ec' && c.nodeName === name);
    if (curve) return curve;
    throw new HsmError('ERR_CURVE_NOT_SUPPORTED', `curve ${String(name)} is not supported`);
  }
  throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'the key is not an elliptic-curve key');
}

const ID_EC_PUBLIC_KEY = Buffer.from('06072a8648ce3d0201', 'hex');

/** The raw point of a public key: 04 ‖ X ‖ Y (Weierstrass) or the 32-byte key (Ed25519/X25519). */
export function rawPointOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const curve = curveOfKey(pub);
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const spki = derRead(pub.export({ format: 'der', type: 'spki' }));
  const algorithm = derRead(spki.body);
  const bits = derRead(spki.body, algorithm.end);
  if (bits.tag !== 0x03 || bits.body[0] !== 0) throw new HsmError('ERR_GENERAL', 'unexpected public key encoding');
  let point: Buffer = Buffer.from(bits.body.subarray(1));
  if (curve.nodeType === 'ec' && point[0] !== 0x04) {
    point = ECDH.convertKey(point, curve.nodeName, undefined, undefined, 'uncompressed') as Buffer;
  }
  return point;
}

/** CKA_EC_POINT of a public key (or of a private key's public half). */
export function ecPointOf(publicKey: KeyObject): Buffer {
  return derOctetString(rawPointOf(publicKey));
}

/**
 * The raw point inside a CKA_EC_POINT / CK_ECDH1_DERIVE_PARAMS.pPublicData value,
 * raw or wrapped in a DER OCTET STRING. The two are told apart by length, which
 * never coincide on one curve (a raw uncompressed point also begins with 0x04).
 */
function rawPointFrom(curve: Curve, value: Uint8Array): Buffer | undefined {
  const fl = coordinateBytes(curve);
  const isRaw = (v: Uint8Array): boolean =>
    curve.nodeType === 'ec'
      ? (v.length === 1 + 2 * fl && v[0] === 0x04) || (v.length === 1 + fl && (v[0] === 0x02 || v[0] === 0x03))
      : v.length === 32;
  if (isRaw(value)) return Buffer.from(value);
  const inner = unwrapOctetString(value);
  return inner && isRaw(inner) ? Buffer.from(inner) : undefined;
}

/**
 * A public KeyObject from a curve and a point (raw or DER OCTET STRING). The
 * point must lie on the curve (OpenSSL checks while decoding); anything else is
 * refused with `code` (ERR_ATTRIBUTE_VALUE_INVALID for CKA_EC_POINT, callers
 * deriving pass ERR_MECHANISM_PARAM_INVALID).
 */
export function publicKeyFromPoint(curve: Curve, point: Uint8Array, code: HsmErrorCode = 'ERR_ATTRIBUTE_VALUE_INVALID'): KeyObject {
  const raw = rawPointFrom(curve, point);
  if (!raw) throw new HsmError(code, `the EC point has the wrong encoding for ${curve.name}`);
  const oid = Buffer.from(curve.oidDer, 'hex');
  const algorithm = curve.nodeType === 'ec' ? derTlv(0x30, Buffer.concat([ID_EC_PUBLIC_KEY, oid])) : derTlv(0x30, oid);
  const spki = derTlv(0x30, Buffer.concat([algorithm, derTlv(0x03, Buffer.concat([Buffer.of(0), raw]))]));
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (cause) {
    throw new HsmError(code, `the EC point is not a valid point on ${curve.name}`, { cause });
  }
}

/* ------------------------------------------------------------------------ */
/* Key-pair generation                                                      */
/* ------------------------------------------------------------------------ */

function curveForGeneration(spec: KeyPairSpec, allowed: (c: Curve) => boolean): Curve {
  if (!spec.ecParams) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_EC_PARAMS is required');
  const curve = curveByParams(spec.ecParams);
  if (!curve || !allowed(curve)) throw new HsmError('ERR_CURVE_NOT_SUPPORTED', 'CKA_EC_PARAMS names a curve this mechanism does not support');
  return curve;
}

/** Generate a key pair on a curve, off the event loop. */
export function generateOnCurve(curve: Curve): Promise<GeneratedPair> {
  return new Promise<GeneratedPair>((resolve, reject) => {
    const done = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject): void => {
      if (err) reject(new HsmError('ERR_DEVICE_ERROR', `key generation on ${curve.name} failed`, { cause: err }));
      else resolve({ privateKey, publicKey });
    };
    if (curve.nodeType === 'ec') generateKeyPair('ec', { namedCurve: curve.nodeName }, done);
    else if (curve.nodeType === 'ed25519') generateKeyPair('ed25519', {}, done);
    else generateKeyPair('x25519', {}, done);
  });
}

/* ------------------------------------------------------------------------ */
/* Signing keys                                                             */
/* ------------------------------------------------------------------------ */

function privateOf(key: KeyMaterial): KeyObject {
  if (key.kind !== 'private') throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'signing needs a private key');
  return key.key;
}

function publicOf(key: KeyMaterial): KeyObject {
  if (key.kind === 'private') return key.publicKey;
  if (key.kind === 'public') return key.key;
  throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'verification needs a public or private key');
}

/** A Weierstrass curve on which ECDSA is offered. */
function ecdsaCurve(key: KeyObject): Curve {
  const curve = curveOfKey(key);
  if (curve.nodeType !== 'ec') throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', `ECDSA does not use ${curve.name} keys`);
  if (!curve.canSign) throw new HsmError('ERR_CURVE_NOT_SUPPORTED', `ECDSA is not offered on ${curve.name}`);
  return curve;
}

function checkSignatureLength(curve: Curve, signature: Bytes): void {
  const n = 2 * coordinateBytes(curve);
  if (signature.length !== n) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `an ECDSA signature on ${curve.name} is ${n} bytes (r || s)`);
}

/* ------------------------------------------------------------------------ */
/* Raw ECDSA with @noble/curves                                             */
/* ------------------------------------------------------------------------ */

interface RawEcdsa {
  sign(message: Uint8Array, secretKey: Uint8Array, opts: { prehash: false; extraEntropy: true }): { toBytes(format: 'compact'): Uint8Array };
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, opts: { prehash: false; lowS: false; format: 'compact' }): boolean;
}

const NOBLE: ReadonlyMap<string, RawEcdsa> = new Map<string, RawEcdsa>([
  ['P-256', p256],
  ['P-384', p384],
  ['P-521', p521],
  ['secp256k1', secp256k1],
]);

/** Longest hash accepted by raw CKM_ECDSA (longer input is not a hash). */
const MAX_RAW_HASH = 512;

function rawEcdsa(curve: Curve): RawEcdsa {
  const noble = NOBLE.get(curve.name);
  if (!noble) throw new HsmError('ERR_CURVE_NOT_SUPPORTED', `CKM_ECDSA is not offered on ${curve.name}`);
  return noble;
}

/**
 * Curves whose ECDSA signature is signed on the event loop rather than handed
 * to the thread pool: a P-256 signature costs libcrypto ~18 µs (`openssl speed
 * ecdsap256`, 55,000/s on one core here), less than the pool's hand-off and
 * wake-ups around it (docs/performance.md, "Round 7: the key-use path").
 * P-384 (~540 µs) and P-521 (~180 µs) would hold the event loop too long.
 */
const INLINE_ECDSA: ReadonlySet<string> = new Set(['P-256']);
/** The hashing ECDSA mechanisms sign inline (on those curves) only data up to this long: hashing it costs a few µs. */
const INLINE_DATA_BYTES = 4096;

function checkRawHash(data: Bytes): void {
  if (data.length === 0 || data.length > MAX_RAW_HASH) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_ECDSA signs a hash of 1 to ${MAX_RAW_HASH} bytes`);
}

async function ecdsaSignHash(key: KeyMaterial, hash: Bytes): Promise<Buffer> {
  const priv = privateOf(key);
  const curve = ecdsaCurve(priv);
  const noble = rawEcdsa(curve);
  checkRawHash(hash);
  const native = nativeRawEcdsaSign(priv, Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength), coordinateBytes(curve), INLINE_ECDSA.has(curve.name));
  if (native) {
    try {
      return await native;
    } catch (cause) {
      throw new HsmError('ERR_GENERAL', 'ECDSA signing failed', { cause });
    }
  }
  const d = Buffer.from(priv.export({ format: 'jwk' }).d ?? '', 'base64url');
  try {
    return Buffer.from(noble.sign(hash, d, { prehash: false, extraEntropy: true }).toBytes('compact'));
  } catch (cause) {
    throw new HsmError('ERR_GENERAL', 'ECDSA signing failed', { cause });
  } finally {
    d.fill(0);
  }
}

async function ecdsaVerifyHash(key: KeyMaterial, hash: Bytes, signature: Bytes): Promise<boolean> {
  const pub = publicOf(key);
  const curve = ecdsaCurve(pub);
  const noble = rawEcdsa(curve);
  checkRawHash(hash);
  checkSignatureLength(curve, signature);
  try {
    return noble.verify(signature, hash, rawPointOf(pub), { prehash: false, lowS: false, format: 'compact' });
  } catch {
    return false; // r or s out of range, and the like
  }
}

/* ------------------------------------------------------------------------ */
/* node:crypto sign/verify, async (libuv thread pool) but for INLINE_ECDSA  */
/* ------------------------------------------------------------------------ */

function signAsync(hash: string | null, data: Bytes, key: SignKeyObjectInput): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    nodeSign(hash, data, key, (err, sig) => {
      if (err) reject(new HsmError('ERR_GENERAL', 'signing failed', { cause: err }));
      else resolve(sig);
    });
  });
}

function verifyAsync(hash: string | null, data: Bytes, key: VerifyKeyObjectInput, signature: Bytes): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    try {
      nodeVerify(hash, data, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

function hashingEcdsa(mechanism: number, hash: HashInfo): Mechanism {
  return {
    mechanism,
    ...ECDSA,
    async sign(key, data) {
      const priv = privateOf(key);
      const curve = ecdsaCurve(priv);
      if (INLINE_ECDSA.has(curve.name) && data.length <= INLINE_DATA_BYTES) {
        try {
          return nodeSign(hash.name, data, { key: priv, dsaEncoding: 'ieee-p1363' });
        } catch (cause) {
          throw new HsmError('ERR_GENERAL', 'signing failed', { cause });
        }
      }
      return signAsync(hash.name, data, { key: priv, dsaEncoding: 'ieee-p1363' });
    },
    async verify(key, data, signature) {
      const pub = publicOf(key);
      checkSignatureLength(ecdsaCurve(pub), signature);
      return verifyAsync(hash.name, data, { key: pub, dsaEncoding: 'ieee-p1363' }, signature);
    },
    multiPart(kind, key) {
      return hashSignStream(kind, {
        hash: hash.name,
        signKey: () => {
          const priv = privateOf(key!);
          ecdsaCurve(priv);
          return { key: priv, dsaEncoding: 'ieee-p1363' };
        },
        verifyKey: () => {
          const pub = publicOf(key!);
          ecdsaCurve(pub);
          return { key: pub, dsaEncoding: 'ieee-p1363' };
        },
        checkSignature: (signature) => checkSignatureLength(ecdsaCurve(publicOf(key!)), signature),
      });
    },
  };
}

/* ------------------------------------------------------------------------ */
/* EdDSA (Ed25519, pure)                                                    */
/* ------------------------------------------------------------------------ */

function ed25519Key(k: KeyObject): KeyObject {
  if (k.asymmetricKeyType !== 'ed25519') throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'CKM_EDDSA needs an Ed25519 key');
  return k;
}

/* ------------------------------------------------------------------------ */
/* The registration table                                                   */
/* ------------------------------------------------------------------------ */

const WEIERSTRASS_FLAGS = P.CKF_EC_F_P | P.CKF_EC_NAMEDCURVE | P.CKF_EC_UNCOMPRESS;
const RFC_CURVE_FLAGS = P.CKF_EC_F_P | P.CKF_EC_NAMEDCURVE;

const ECDSA = {
  keyTypes: [P.CKK_EC],
  minKeySize: 256,
  maxKeySize: 521,
  keySizeUnit: 'bits',
  flags: P.CKF_SIGN | P.CKF_VERIFY | WEIERSTRASS_FLAGS,
} as const;

const H = (ckm: number): HashInfo => hashByMechanism(ckm)!;

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_EC_KEY_PAIR_GEN,
    keyTypes: [P.CKK_EC, P.CKK_EC_EDWARDS, P.CKK_EC_MONTGOMERY],
    minKeySize: Math.min(...CURVES.map((c) => c.bits)),
    maxKeySize: Math.max(...CURVES.map((c) => c.bits)),
    keySizeUnit: 'bits',
    flags: P.CKF_GENERATE_KEY_PAIR | WEIERSTRASS_FLAGS,
    async generateKeyPair(spec) {
      return generateOnCurve(curveForGeneration(spec, () => true));
    },
  },
  {
    mechanism: P.CKM_EC_EDWARDS_KEY_PAIR_GEN,
    keyTypes: [P.CKK_EC_EDWARDS],
    minKeySize: 255,
    maxKeySize: 255,
    keySizeUnit: 'bits',
    flags: P.CKF_GENERATE_KEY_PAIR | RFC_CURVE_FLAGS,
    async generateKeyPair(spec) {
      return generateOnCurve(curveForGeneration(spec, (c) => c.keyType === P.CKK_EC_EDWARDS));
    },
  },
  {
    mechanism: P.CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
    keyTypes: [P.CKK_EC_MONTGOMERY],
    minKeySize: 255,
    maxKeySize: 255,
    keySizeUnit: 'bits',
    flags: P.CKF_GENERATE_KEY_PAIR | RFC_CURVE_FLAGS,
    async generateKeyPair(spec) {
      return generateOnCurve(curveForGeneration(spec, (c) => c.keyType === P.CKK_EC_MONTGOMERY));
    },
  },
  {
    mechanism: P.CKM_ECDSA,
    ...ECDSA,
    sign: (key, data) => ecdsaSignHash(key, data),
    verify: (key, data, signature) => ecdsaVerifyHash(key, data, signature),
  },
  hashingEcdsa(P.CKM_ECDSA_SHA1, H(P.CKM_SHA_1)),
  hashingEcdsa(P.CKM_ECDSA_SHA224, H(P.CKM_SHA224)),
  hashingEcdsa(P.CKM_ECDSA_SHA256, H(P.CKM_SHA256)),
  hashingEcdsa(P.CKM_ECDSA_SHA384, H(P.CKM_SHA384)),
  hashingEcdsa(P.CKM_ECDSA_SHA512, H(P.CKM_SHA512)),
  {
    mechanism: P.CKM_EDDSA,
    keyTypes: [P.CKK_EC_EDWARDS],
    minKeySize: 255,
    maxKeySize: 255,
    keySizeUnit: 'bits',
    flags: P.CKF_SIGN | P.CKF_VERIFY | RFC_CURVE_FLAGS,
    async sign(key, data) {
      return signAsync(null, data, { key: ed25519Key(privateOf(key)) });
    },
    async verify(key, data, signature) {
      const pub = ed25519Key(publicOf(key));
      if (signature.length !== 64) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', 'an Ed25519 signature is 64 bytes');
      return verifyAsync(null, data, { key: pub }, signature);
    },
  },
];
