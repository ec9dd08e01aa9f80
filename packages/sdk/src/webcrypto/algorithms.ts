/**
 * @module Everything the provider needs to know about one WebCrypto algorithm, in one place.
 *
 * Each row of `ALGORITHMS` says which PKCS#11 key type carries the algorithm's
 * keys, which usages its public, private and secret keys may have (W3C Web
 * Cryptography API, the "Operations" table of each algorithm section), and
 * which PKCS#11 mechanism does each operation with which parameters
 * (PKCS#11 v2.40 Current Mechanisms; the HSM's parameter semantics are those
 * of packages/hsm-core/src/mechanisms/*.ts). The hash and curve tables below
 * give the per-hash and per-curve facts. subtle.ts reads these tables and has
 * no algorithm-specific branches of its own beyond them.
 *
 * Also here: the WebCrypto "normalize an algorithm" steps this provider needs
 * (a name, case-insensitive; the members each operation reads), with the
 * standard errors — TypeError for a missing or mistyped member,
 * NotSupportedError for an algorithm, hash or curve the HSM does not offer
 * (the message names it).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import type { RequestOf } from '../../../protocol/src/messages.js';
import { notSupported, operationError } from './errors.js';
import { curveByName, curveByParams } from '../../../protocol/src/curves.js';

export type KeyUsage = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'deriveKey' | 'deriveBits' | 'wrapKey' | 'unwrapKey';
export type KeyType = 'public' | 'private' | 'secret';
export type KeyFormat = 'raw' | 'spki' | 'pkcs8' | 'jwk';
export type Mechanism = RequestOf<'sign'>['mechanism'];

export const ALL_USAGES: readonly KeyUsage[] = ['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey'];

/* ─────────────────────────────── hashes ─────────────────────────────── */

export type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export interface HashFacts {
  readonly name: HashName;
  /** CKM_SHA* digest; also the PSS/OAEP hashAlg. */
  readonly digest: number;
  /** CKG_MGF1_* for PSS/OAEP (the HSM requires MGF1 with the same hash, as WebCrypto does). */
  readonly mgf: number;
  readonly hmac: number;
  readonly rsaPkcs1: number;
  readonly rsaPss: number;
  readonly ecdsa: number;
  readonly bytes: number;
  /** Block size: the default HMAC key length (WebCrypto HMAC "get key length"). */
  readonly blockBits: number;
  /** The digits JWA uses in "RS256", "HS384", "RSA-OAEP-512"... */
  readonly jwa: string;
}

export const HASHES: Readonly<Record<HashName, HashFacts>> = {
  'SHA-1': { name: 'SHA-1', digest: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1, hmac: P.CKM_SHA_1_HMAC, rsaPkcs1: P.CKM_SHA1_RSA_PKCS, rsaPss: P.CKM_SHA1_RSA_PKCS_PSS, ecdsa: P.CKM_ECDSA_SHA1, bytes: 20, blockBits: 512, jwa: '1' },
  'SHA-256': { name: 'SHA-256', digest: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, hmac: P.CKM_SHA256_HMAC, rsaPkcs1: P.CKM_SHA256_RSA_PKCS, rsaPss: P.CKM_SHA256_RSA_PKCS_PSS, ecdsa: P.CKM_ECDSA_SHA256, bytes: 32, blockBits: 512, jwa: '256' },
  'SHA-384': { name: 'SHA-384', digest: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384, hmac: P.CKM_SHA384_HMAC, rsaPkcs1: P.CKM_SHA384_RSA_PKCS, rsaPss: P.CKM_SHA384_RSA_PKCS_PSS, ecdsa: P.CKM_ECDSA_SHA384, bytes: 48, blockBits: 1024, jwa: '384' },
  'SHA-512': { name: 'SHA-512', digest: P.CKM_SHA512, mgf: P.CKG_MGF1_SHA512, hmac: P.CKM_SHA512_HMAC, rsaPkcs1: P.CKM_SHA512_RSA_PKCS, rsaPss: P.CKM_SHA512_RSA_PKCS_PSS, ecdsa: P.CKM_ECDSA_SHA512, bytes: 64, blockBits: 1024, jwa: '512' },
};

/* ─────────────────────────────── curves ─────────────────────────────── */

export type NamedCurve = 'P-256' | 'P-384' | 'P-521';

export interface CurveFacts {
  readonly name: NamedCurve;
  /** CKA_EC_PARAMS: the DER OBJECT IDENTIFIER of the named curve. */
  readonly oid: string;
  /** Bytes of one coordinate, and of the ECDH shared secret. */
  readonly bytes: number;
  /** node:crypto / OpenSSL name. */
  readonly nodeName: string;
}

/* The facts come from the one curve table (packages/protocol/src/curves.ts); this is the WebCrypto view of it. */
function facts(name: NamedCurve): CurveFacts {
  const c = curveByName(name);
  if (c === undefined) throw new Error(`${name} is missing from the protocol's curve table`);
  return { name, oid: c.oidDer, bytes: Math.ceil(c.bits / 8), nodeName: c.nodeName };
}

export const CURVES: Readonly<Record<NamedCurve, CurveFacts>> = { 'P-256': facts('P-256'), 'P-384': facts('P-384'), 'P-521': facts('P-521') };

/** CKA_EC_PARAMS of the RFC 8410 curves (docs/decisions.md: the OID form). */
export const ED25519_OID = curveByName('Ed25519')!.oidDer;
export const X25519_OID = curveByName('X25519')!.oidDer;

export function curveByOid(hex: string): NamedCurve | 'Ed25519' | 'X25519' | undefined {
  const c = curveByParams(Buffer.from(hex, 'hex'));
  if (c === undefined) return undefined;
  if (c.name === 'Ed25519' || c.name === 'X25519') return c.name;
  return c.name in CURVES ? (c.name as NamedCurve) : undefined;
}

/* ─────────────────────────────── algorithms ─────────────────────────────── */

export type AlgorithmName =
  | 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'RSA-OAEP'
  | 'ECDSA' | 'ECDH' | 'Ed25519' | 'X25519'
  | 'HMAC' | 'AES-GCM' | 'AES-CBC' | 'AES-CTR' | 'AES-KW';

export type Family = 'rsa' | 'ec' | 'okp' | 'aes' | 'hmac';

export interface AlgorithmFacts {
  readonly name: AlgorithmName;
  readonly family: Family;
  /** CKK_* of its keys. */
  readonly keyType: number;
  readonly publicUsages: readonly KeyUsage[];
  readonly privateUsages: readonly KeyUsage[];
  readonly secretUsages: readonly KeyUsage[];
  /** The HSM wraps and unwraps with this algorithm (C_WrapKey / C_UnwrapKey). */
  readonly wraps: boolean;
}

const pair = (name: AlgorithmName, family: Family, keyType: number, publicUsages: KeyUsage[], privateUsages: KeyUsage[], wraps = false): AlgorithmFacts =>
  ({ name, family, keyType, publicUsages, privateUsages, secretUsages: [], wraps });
const secret = (name: AlgorithmName, family: Family, keyType: number, secretUsages: KeyUsage[], wraps = false): AlgorithmFacts =>
  ({ name, family, keyType, publicUsages: [], privateUsages: [], secretUsages, wraps });

export const ALGORITHMS: Readonly<Record<AlgorithmName, AlgorithmFacts>> = {
  'RSASSA-PKCS1-v1_5': pair('RSASSA-PKCS1-v1_5', 'rsa', P.CKK_RSA, ['verify'], ['sign']),
  'RSA-PSS': pair('RSA-PSS', 'rsa', P.CKK_RSA, ['verify'], ['sign']),
  'RSA-OAEP': pair('RSA-OAEP', 'rsa', P.CKK_RSA, ['encrypt', 'wrapKey'], ['decrypt', 'unwrapKey'], true),
  ECDSA: pair('ECDSA', 'ec', P.CKK_EC, ['verify'], ['sign']),
  ECDH: pair('ECDH', 'ec', P.CKK_EC, [], ['deriveKey', 'deriveBits']),
  Ed25519: pair('Ed25519', 'okp', P.CKK_EC_EDWARDS, ['verify'], ['sign']),
  X25519: pair('X25519', 'okp', P.CKK_EC_MONTGOMERY, [], ['deriveKey', 'deriveBits']),
  HMAC: secret('HMAC', 'hmac', P.CKK_GENERIC_SECRET, ['sign', 'verify']),
  'AES-GCM': secret('AES-GCM', 'aes', P.CKK_AES, ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], true),
  'AES-CBC': secret('AES-CBC', 'aes', P.CKK_AES, ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], true),
  'AES-CTR': secret('AES-CTR', 'aes', P.CKK_AES, ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey']),
  'AES-KW': secret('AES-KW', 'aes', P.CKK_AES, ['wrapKey', 'unwrapKey'], true),
};

/** WebCrypto names this provider knows but the HSM cannot serve: NotSupportedError says why. */
const NOT_OFFERED: Readonly<Record<string, string>> = {
  hkdf: 'HKDF: the HSM offers no HKDF mechanism',
  pbkdf2: 'PBKDF2: the HSM offers no PBKDF2 mechanism',
  ed448: 'Ed448: the HSM has no Ed448 curve',
  x448: 'X448: the HSM has no X448 curve',
  'rsaes-pkcs1-v1_5': 'RSAES-PKCS1-v1_5: not a WebCrypto algorithm any more (use RSA-OAEP)',
  'sha-224': 'SHA-224: not a WebCrypto hash',
};

const BY_LOWER = new Map<string, AlgorithmName>(Object.keys(ALGORITHMS).map((n) => [n.toLowerCase(), n as AlgorithmName]));
const HASH_BY_LOWER = new Map<string, HashName>(Object.keys(HASHES).map((n) => [n.toLowerCase(), n as HashName]));

/** The `name` of an AlgorithmIdentifier (a string, or an object with a string `name`). */
export function algorithmNameOf(alg: unknown, what: string): string {
  if (typeof alg === 'string') return alg;
  if (typeof alg === 'object' && alg !== null && typeof (alg as { name?: unknown }).name === 'string') return (alg as { name: string }).name;
  throw new TypeError(`${what}: the algorithm must be a name or an object with a string "name" member`);
}

/** Normalize an algorithm name for an operation; NotSupportedError names what is not offered. */
export function lookupAlgorithm(alg: unknown, what: string): AlgorithmFacts {
  const name = algorithmNameOf(alg, what);
  const canonical = BY_LOWER.get(name.toLowerCase());
  if (canonical) return ALGORITHMS[canonical];
  const why = NOT_OFFERED[name.toLowerCase()] ?? (HASH_BY_LOWER.has(name.toLowerCase()) ? `${name}: a hash, not a ${what} algorithm` : `${name}: not an algorithm this HSM provider offers`);
  throw notSupported(`${what}: ${why}`);
}

/** A HashAlgorithmIdentifier member (`hash: "SHA-256"` or `hash: { name: "SHA-256" }`). */
export function normalizeHash(h: unknown, what: string): HashFacts {
  if (h === undefined) throw new TypeError(`${what}: the "hash" member is required`);
  const name = algorithmNameOf(h, `${what} (hash)`);
  const canonical = HASH_BY_LOWER.get(name.toLowerCase());
  if (!canonical) throw notSupported(`${what}: hash ${name} is not offered (SHA-1, SHA-256, SHA-384, SHA-512)`);
  return HASHES[canonical];
}

/** An object's members, for reading dictionary members; strings have none. */
export function members(alg: unknown): Record<string, unknown> {
  return typeof alg === 'object' && alg !== null ? (alg as Record<string, unknown>) : {};
}

/** A BufferSource member or argument, copied (WebCrypto copies its inputs). */
export function bytesOf(v: unknown, what: string): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  if (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer) return new Uint8Array(v.slice(0));
  throw new TypeError(`${what} must be an ArrayBuffer or an ArrayBufferView (a BufferSource)`);
}

/** A required integer member ([EnforceRange] unsigned long / octet). */
export function integerMember(m: Record<string, unknown>, key: string, what: string, max = 0xffffffff): number {
  const v = m[key];
  if (v === undefined) throw new TypeError(`${what}: the "${key}" member is required`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new TypeError(`${what}: "${key}" must be an integer from 0 to ${max}`);
  return v;
}

export function hashName(key: { algorithm: unknown }): HashName | undefined {
  const h = (key.algorithm as { hash?: { name?: string } }).hash;
  return h?.name as HashName | undefined;
}

/* ─────────────────────────────── mechanisms ─────────────────────────────── */

/** Sign/verify mechanism for a key of `alg` (hash from the key for RSA and HMAC, from the parameters for ECDSA). */
export function signatureMechanism(alg: AlgorithmFacts, params: unknown, keyHash: HashName | undefined, what: string): Mechanism {
  const m = members(params);
  switch (alg.name) {
    case 'RSASSA-PKCS1-v1_5':
      return { mechanism: HASHES[keyHash!].rsaPkcs1 };
    case 'RSA-PSS': {
      const saltLen = integerMember(m, 'saltLength', what);
      const h = HASHES[keyHash!];
      return { mechanism: h.rsaPss, hashAlg: h.digest, mgf: h.mgf, saltLen };
    }
    case 'ECDSA':
      return { mechanism: normalizeHash(m.hash, what).ecdsa };
    case 'Ed25519':
      return { mechanism: P.CKM_EDDSA };
    case 'HMAC':
      return { mechanism: HASHES[keyHash!].hmac };
    default:
      throw notSupported(`${what}: ${alg.name} does not sign`);
  }
}

const GCM_TAG_BITS: readonly number[] = [32, 64, 96, 104, 112, 120, 128];

/**
 * Encrypt/decrypt (and, where the HSM wraps with it, wrap/unwrap) mechanism
 * for `alg`, from the operation's parameters. Checks the WebCrypto parameter
 * rules (OperationError for an IV or tag length the algorithm refuses).
 */
export function cipherMechanism(alg: AlgorithmFacts, params: unknown, keyHash: HashName | undefined, what: string): Mechanism {
  const m = members(params);
  switch (alg.name) {
    case 'RSA-OAEP': {
      const h = HASHES[keyHash!];
      const label = m.label === undefined ? undefined : bytesOf(m.label, `${what}: label`);
      return { mechanism: P.CKM_RSA_PKCS_OAEP, hashAlg: h.digest, mgf: h.mgf, ...(label && label.length ? { sourceData: label } : {}) };
    }
    case 'AES-GCM': {
      if (m.iv === undefined) throw new TypeError(`${what}: the "iv" member is required`);
      const iv = bytesOf(m.iv, `${what}: iv`);
      const tagBits = m.tagLength === undefined ? 128 : integerMember(m, 'tagLength', what, 255);
      if (!GCM_TAG_BITS.includes(tagBits)) throw operationError(`${what}: AES-GCM tagLength must be 32, 64, 96, 104, 112, 120 or 128 (got ${tagBits})`);
      if (iv.length < 1 || iv.length > 128) throw operationError(`${what}: the HSM takes AES-GCM IVs of 1 to 128 bytes (got ${iv.length})`);
      const aad = m.additionalData === undefined ? undefined : bytesOf(m.additionalData, `${what}: additionalData`);
      return { mechanism: P.CKM_AES_GCM, iv, tagBits, ...(aad && aad.length ? { aad } : {}) };
    }
    case 'AES-CBC': {
      if (m.iv === undefined) throw new TypeError(`${what}: the "iv" member is required`);
      const iv = bytesOf(m.iv, `${what}: iv`);
      if (iv.length !== 16) throw operationError(`${what}: the AES-CBC iv must be 16 bytes (got ${iv.length})`);
      /* WebCrypto's AES-CBC pads with PKCS#7: CKM_AES_CBC_PAD. */
      return { mechanism: P.CKM_AES_CBC_PAD, iv };
    }
    case 'AES-CTR': {
      if (m.counter === undefined) throw new TypeError(`${what}: the "counter" member is required`);
      const counter = bytesOf(m.counter, `${what}: counter`);
      if (counter.length !== 16) throw operationError(`${what}: the AES-CTR counter must be 16 bytes (got ${counter.length})`);
      const length = integerMember(m, 'length', what, 255);
      if (length < 1 || length > 128) throw operationError(`${what}: the AES-CTR length must be 1 to 128 bits (got ${length})`);
      return { mechanism: P.CKM_AES_CTR, iv: counter, counterBits: length };
    }
    case 'AES-KW':
      return { mechanism: P.CKM_AES_KEY_WRAP };
    default:
      throw notSupported(`${what}: ${alg.name} does not encrypt`);
  }
}

/** The usage attribute (CKA_*) that allows each WebCrypto usage. */
export const USAGE_ATTRIBUTE: Readonly<Record<KeyUsage, number>> = {
  encrypt: P.CKA_ENCRYPT,
  decrypt: P.CKA_DECRYPT,
  sign: P.CKA_SIGN,
  verify: P.CKA_VERIFY,
  wrapKey: P.CKA_WRAP,
  unwrapKey: P.CKA_UNWRAP,
  deriveKey: P.CKA_DERIVE,
  deriveBits: P.CKA_DERIVE,
};

/** The JWA "alg" of a key (RFC 7518 §3.1, §4.1, §5.1), or undefined where JWA has none. */
export function jwkAlg(alg: AlgorithmName, hash: HashName | undefined, lengthBits: number | undefined): string | undefined {
  const h = hash ? HASHES[hash].jwa : undefined;
  switch (alg) {
    case 'RSASSA-PKCS1-v1_5':
      return `RS${h}`;
    case 'RSA-PSS':
      return `PS${h}`;
    case 'RSA-OAEP':
      return hash === 'SHA-1' ? 'RSA-OAEP' : `RSA-OAEP-${h}`;
    case 'HMAC':
      return `HS${h}`;
    case 'AES-GCM':
      return `A${lengthBits}GCM`;
    case 'AES-CBC':
      return `A${lengthBits}CBC`;
    case 'AES-CTR':
      return `A${lengthBits}CTR`;
    case 'AES-KW':
      return `A${lengthBits}KW`;
    case 'Ed25519':
      return 'Ed25519'; /* as Node exports it (RFC 8037 used "EdDSA", which import also accepts) */
    default:
      return undefined;
  }
}
