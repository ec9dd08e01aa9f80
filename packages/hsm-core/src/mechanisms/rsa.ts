/**
 * @module RSA mechanisms: key-pair generation, PKCS#1 v1.5, PSS, OAEP, RSA-AES key wrap.
 *
 * PKCS#11 v2.40 Current Mechanisms §2.1 (RSA): CKM_RSA_PKCS_KEY_PAIR_GEN
 * (§2.1.4), CKM_RSA_PKCS (§2.1.6), CKM_RSA_PKCS_OAEP (§2.1.8), CKM_RSA_PKCS_PSS
 * (§2.1.10), CKM_SHA*_RSA_PKCS (§2.1.12), CKM_SHA*_RSA_PKCS_PSS (§2.1.13),
 * CKM_RSA_AES_KEY_WRAP (§2.1.21). The schemes are RFC 8017's: RSAES-PKCS1-v1_5
 * (§7.2), RSAES-OAEP (§7.1), RSASSA-PKCS1-v1_5 (§8.2), EMSA-PSS (§9.1), MGF1
 * (App. B.2.1); the AES key wrap with padding is RFC 5649.
 *
 * Parameters read (see MechanismParams): PSS `hashAlg`, `mgf`, `saltLen`; OAEP
 * `hashAlg`, `mgf`, `sourceData` (label); RSA-AES wrap `aesKeyBits` plus the
 * OAEP ones. The MGF1 hash must be hashAlg, as node:crypto offers no other.
 *
 * Two places do not go through node:crypto's padding:
 * - Raw CKM_RSA_PKCS_PSS signs a precomputed hash, which node cannot do with
 *   PSS, so EMSA-PSS is encoded/verified here and the RSA primitive is
 *   privateEncrypt/publicDecrypt with RSA_NO_PADDING.
 * - CKM_RSA_PKCS decryption: Node 20 refuses RSA_PKCS1_PADDING in
 *   privateDecrypt (CVE-2023-46809, the Marvin attack) unless the process runs
 *   with --security-revert. We decrypt with RSA_NO_PADDING (OpenSSL's blinded
 *   primitive) and remove the type-2 padding with branch-free arithmetic; all
 *   padding failures give one error with one message. The result (success or
 *   CKR_ENCRYPTED_DATA_INVALID) is by PKCS#11's design an oracle, as it is in
 *   every PKCS#11 token: OAEP is the mechanism to recommend.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';
import {
  constants,
  createHash,
  generateKeyPair,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
  type SignKeyObjectInput,
  type VerifyKeyObjectInput,
} from '../crypto/node.js';
import { rfc5649Unwrap, rfc5649Wrap } from './aes.js';
import { hashByMechanism, hashByMgf, type HashInfo } from './hashes.js';
import { hashSignStream } from './hash_sign.js';
import type { Bytes, GeneratedPair, KeyMaterial, KeyPairSpec, Mechanism, MechanismParams } from './types.js';

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

const MIN_BITS = 2048;
const MAX_BITS = 4096;

function rsaKey(k: KeyObject, code: HsmErrorCode): KeyObject {
  if (k.asymmetricKeyType !== 'rsa') throw new HsmError(code, 'the key is not an RSA key');
  return k;
}

/** The private KeyObject; operations that need it refuse a public key. */
export function privateOf(key: KeyMaterial, code: HsmErrorCode = 'ERR_KEY_TYPE_INCONSISTENT'): KeyObject {
  if (key.kind !== 'private') throw new HsmError(code, 'this operation needs an RSA private key');
  return rsaKey(key.key, code);
}

/** The public KeyObject: a public key, or a private key's public half. */
export function publicOf(key: KeyMaterial, code: HsmErrorCode = 'ERR_KEY_TYPE_INCONSISTENT'): KeyObject {
  if (key.kind === 'private') return rsaKey(key.publicKey, code);
  if (key.kind === 'public') return rsaKey(key.key, code);
  throw new HsmError(code, 'this operation needs an RSA key');
}

function modulusBits(k: KeyObject): number {
  const bits = k.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'the RSA key has no modulus length');
  return bits;
}

export const modulusBytes = (k: KeyObject): number => Math.ceil(modulusBits(k) / 8);

/** CKA_PUBLIC_EXPONENT (big-endian bytes) as a number: odd, at least 3, at most 32 bits. */
function publicExponentOf(e: Bytes | undefined): number {
  if (e === undefined) return 65537;
  let i = 0;
  while (i < e.length && e[i] === 0) i++;
  const v = e.subarray(i);
  let n = 0;
  for (const b of v) n = n * 256 + b;
  if (v.length === 0 || v.length > 4 || n < 3 || n % 2 === 0) {
    throw new HsmError('ERR_TEMPLATE_INCONSISTENT', 'CKA_PUBLIC_EXPONENT must be an odd integer from 3 to 2^32-1');
  }
  return n;
}

async function generateRsaPair(spec: KeyPairSpec): Promise<GeneratedPair> {
  const bits = spec.modulusBits;
  if (bits === undefined) throw new HsmError('ERR_TEMPLATE_INCOMPLETE', 'CKA_MODULUS_BITS is required');
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS || bits % 256 !== 0) {
    throw new HsmError('ERR_KEY_SIZE_RANGE', `RSA modulus must be ${MIN_BITS} to ${MAX_BITS} bits in steps of 256`);
  }
  const publicExponent = publicExponentOf(spec.publicExponent);
  return new Promise<GeneratedPair>((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits, publicExponent }, (err, publicKey, privateKey) => {
      if (err) reject(new HsmError('ERR_DEVICE_ERROR', 'RSA key generation failed', { cause: err }));
      else resolve({ privateKey, publicKey });
    });
  });
}

/* ------------------------------------------------------------------------ */
/* Async wrappers over node:crypto's one-shot sign/verify (off the loop)    */
/* ------------------------------------------------------------------------ */

function signAsync(hash: string, data: Bytes, key: SignKeyObjectInput): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    nodeSign(hash, data, key, (err, sig) => {
      if (err) reject(new HsmError('ERR_GENERAL', 'RSA signing failed', { cause: err }));
      else resolve(sig);
    });
  });
}

function verifyAsync(hash: string, data: Bytes, key: VerifyKeyObjectInput, signature: Bytes): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    try {
      nodeVerify(hash, data, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/* ------------------------------------------------------------------------ */
/* Branch-free helpers for the PKCS#1 v1.5 type-2 unpadding                 */
/* Inputs are small non-negative integers (bytes and indexes < 2^31).       */
/* ------------------------------------------------------------------------ */

/** 1 if x === 0 else 0. */
const ctIsZero = (x: number): number => (((x | -x) >>> 31) ^ 1) & 1;
/** 1 if a === b else 0. */
const ctEq = (a: number, b: number): number => ctIsZero(a ^ b);
/** 1 if a < b else 0. */
const ctLt = (a: number, b: number): number => ((a - b) >>> 31) & 1;
/** bit ? a : b, without a branch. */
const ctSelect = (bit: number, a: number, b: number): number => (a & -bit) | (b & ~-bit);

/**
 * RFC 8017 §7.2.2 step 3: EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M.
 * Every byte is examined whatever the content; the one branch is the final verdict.
 */
function unpadPkcs1Type2(em: Buffer): Buffer | undefined {
  let good = ctEq(em[0]!, 0) & ctEq(em[1]!, 2);
  let found = 0;
  let zeroAt = 0;
  for (let i = 2; i < em.length; i++) {
    const z = ctIsZero(em[i]!);
    zeroAt = ctSelect(z & (found ^ 1), i, zeroAt);
    found |= z;
  }
  good &= found & ctLt(9, zeroAt); // the separator comes after at least 8 PS bytes
  if (good !== 1) return undefined;
  return Buffer.from(em.subarray(zeroAt + 1));
}

/* ------------------------------------------------------------------------ */
/* Error sets: the same primitive used by C_Encrypt/C_Decrypt or C_WrapKey  */
/* ------------------------------------------------------------------------ */

interface Codes {
  /** input too long for the key */
  readonly tooLong: HsmErrorCode;
  /** ciphertext of the wrong length */
  readonly badLength: HsmErrorCode;
  /** ciphertext that does not decrypt */
  readonly invalid: HsmErrorCode;
  readonly keyType: HsmErrorCode;
}

const CIPHER: Codes = {
  tooLong: 'ERR_DATA_LEN_RANGE',
  badLength: 'ERR_ENCRYPTED_DATA_LEN_RANGE',
  invalid: 'ERR_ENCRYPTED_DATA_INVALID',
  keyType: 'ERR_KEY_TYPE_INCONSISTENT',
};

const WRAP: Codes = {
  tooLong: 'ERR_KEY_SIZE_RANGE',
  badLength: 'ERR_WRAPPED_KEY_LEN_RANGE',
  invalid: 'ERR_WRAPPED_KEY_INVALID',
  keyType: 'ERR_WRAPPING_KEY_TYPE_INCONSISTENT',
};

const UNWRAP: Codes = { ...WRAP, keyType: 'ERR_UNWRAPPING_KEY_TYPE_INCONSISTENT' };

const DECRYPT_FAILED = 'decryption failed';
const UNWRAP_FAILED = 'the wrapped key could not be unwrapped';
const failedMessage = (c: Codes): string => (c.invalid === 'ERR_WRAPPED_KEY_INVALID' ? UNWRAP_FAILED : DECRYPT_FAILED);

/* ------------------------------------------------------------------------ */
/* CKM_RSA_PKCS                                                             */
/* ------------------------------------------------------------------------ */

function pkcs1Sign(key: KeyMaterial, data: Bytes): Buffer {
  const priv = privateOf(key);
  const k = modulusBytes(priv);
  if (data.length > k - 11) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_RSA_PKCS signs at most ${k - 11} bytes with this key`);
  return privateEncrypt({ key: priv, padding: constants.RSA_PKCS1_PADDING }, data);
}

function pkcs1Verify(key: KeyMaterial, data: Bytes, signature: Bytes): boolean {
  const pub = publicOf(key);
  const k = modulusBytes(pub);
  if (data.length > k - 11) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_RSA_PKCS verifies at most ${k - 11} bytes with this key`);
  if (signature.length !== k) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `the signature must be ${k} bytes`);
  let recovered: Buffer;
  try {
    recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
  return recovered.length === data.length && timingSafeEqual(recovered, data);
}

function pkcs1Encrypt(key: KeyMaterial, data: Bytes, codes: Codes): Buffer {
  const pub = publicOf(key, codes.keyType);
  const k = modulusBytes(pub);
  if (data.length > k - 11) throw new HsmError(codes.tooLong, `CKM_RSA_PKCS encrypts at most ${k - 11} bytes with this key`);
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, data);
}

function pkcs1Decrypt(key: KeyMaterial, data: Bytes, codes: Codes): Buffer {
  const priv = privateOf(key, codes.keyType);
  const k = modulusBytes(priv);
  if (data.length !== k) throw new HsmError(codes.badLength, `the ciphertext must be ${k} bytes`);
  let em: Buffer;
  try {
    em = privateDecrypt({ key: priv, padding: constants.RSA_NO_PADDING }, data);
  } catch {
    throw new HsmError(codes.invalid, failedMessage(codes));
  }
  try {
    const m = em.length === k ? unpadPkcs1Type2(em) : undefined;
    if (!m) throw new HsmError(codes.invalid, failedMessage(codes));
    return m;
  } finally {
    em.fill(0);
  }
}

/* ------------------------------------------------------------------------ */
/* PSS (RFC 8017 §9.1)                                                      */
/* ------------------------------------------------------------------------ */

/** MGF1 (RFC 8017 App. B.2.1). */
function mgf1(hash: HashInfo, seed: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  for (let c = 0, off = 0; off < length; c++) {
    counter.writeUInt32BE(c);
    off += createHash(hash.name).update(seed).update(counter).digest().copy(out, off);
  }
  return out;
}

/**
 * EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with a given salt: the encoded message of
 * ceil(emBits/8) bytes. Exported for the tests, which check it against CAVP
 * SigGenPSS records (whose salt is published).
 */
export function emsaPssEncode(mHash: Uint8Array, emBits: number, hash: HashInfo, salt: Uint8Array): Buffer {
  const emLen = Math.ceil(emBits / 8);
  if (mHash.length !== hash.len) throw new HsmError('ERR_DATA_LEN_RANGE', `the hash must be ${hash.len} bytes`);
  if (emLen < hash.len + salt.length + 2) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'the PSS salt is too long for this key');
  const h = createHash(hash.name).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hash.len - 1);
  db[db.length - salt.length - 1] = 0x01;
  db.set(salt, db.length - salt.length);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >>> (8 * emLen - emBits));
  return Buffer.concat([db, h, Buffer.of(0xbc)]);
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with a known salt length. */
function emsaPssVerify(mHash: Uint8Array, em: Uint8Array, emBits: number, hash: HashInfo, sLen: number): boolean {
  const emLen = Math.ceil(emBits / 8);
  if (em.length !== emLen || mHash.length !== hash.len || emLen < hash.len + sLen + 2) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hash.len - 1);
  const h = em.subarray(emLen - hash.len - 1, emLen - 1);
  const top = 0xff >>> (8 * emLen - emBits);
  if ((maskedDb[0]! & ~top & 0xff) !== 0) return false;
  const db = mgf1(hash, h, maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ maskedDb[i]!;
  db[0] = db[0]! & top;
  const psLen = emLen - hash.len - sLen - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - sLen);
  const h2 = createHash(hash.name).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(h, h2);
}

interface PssParams {
  readonly hash: HashInfo;
  readonly saltLen: number;
}

/** CK_RSA_PKCS_PSS_PARAMS: hashAlg a CKM_SHA*, mgf its own MGF1, sLen given. */
function pssParams(params: MechanismParams, mechanismHash?: HashInfo): PssParams {
  const hash = hashByMechanism(params.hashAlg);
  if (!hash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'PSS hashAlg must be CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384 or CKM_SHA512');
  if (mechanismHash && hash !== mechanismHash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', "PSS hashAlg must be the mechanism's own hash");
  const mgf = hashByMgf(params.mgf);
  if (!mgf) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'PSS mgf must be a CKG_MGF1_* value');
  if (mgf !== hash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'the PSS MGF1 hash must be the same as hashAlg');
  const saltLen = params.saltLen;
  if (saltLen === undefined || !Number.isInteger(saltLen) || saltLen < 0) {
    throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'PSS sLen is required and must be a non-negative integer');
  }
  return { hash, saltLen };
}

function checkSaltFits(bits: number, p: PssParams): void {
  if (Math.ceil((bits - 1) / 8) < p.hash.len + p.saltLen + 2) {
    throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'the PSS salt is too long for this key');
  }
}

/** Raw PSS over a precomputed hash: our EMSA-PSS, then the bare RSA primitive. */
function pssSignHash(key: KeyMaterial, mHash: Bytes, p: PssParams): Buffer {
  const priv = privateOf(key);
  const bits = modulusBits(priv);
  const k = Math.ceil(bits / 8);
  if (mHash.length !== p.hash.len) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_RSA_PKCS_PSS signs a ${p.hash.len}-byte hash`);
  checkSaltFits(bits, p);
  const em = emsaPssEncode(mHash, bits - 1, p.hash, randomBytes(p.saltLen));
  const block = Buffer.alloc(k);
  em.copy(block, k - em.length);
  return privateEncrypt({ key: priv, padding: constants.RSA_NO_PADDING }, block);
}

function pssVerifyHash(key: KeyMaterial, mHash: Bytes, signature: Bytes, p: PssParams): boolean {
  const pub = publicOf(key);
  const bits = modulusBits(pub);
  const k = Math.ceil(bits / 8);
  if (mHash.length !== p.hash.len) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_RSA_PKCS_PSS verifies a ${p.hash.len}-byte hash`);
  if (signature.length !== k) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `the signature must be ${k} bytes`);
  let m: Buffer;
  try {
    m = publicDecrypt({ key: pub, padding: constants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const emLen = Math.ceil((bits - 1) / 8);
  if (m.length !== k) return false;
  for (let i = 0; i < k - emLen; i++) if (m[i] !== 0) return false;
  return emsaPssVerify(mHash, m.subarray(k - emLen), bits - 1, p.hash, p.saltLen);
}

/* ------------------------------------------------------------------------ */
/* OAEP                                                                     */
/* ------------------------------------------------------------------------ */

interface OaepParams {
  readonly hash: HashInfo;
  readonly label: Buffer;
}

/** CK_RSA_PKCS_OAEP_PARAMS: hashAlg a CKM_SHA*, mgf its own MGF1, optional label. */
function oaepParams(params: MechanismParams): OaepParams {
  const hash = hashByMechanism(params.hashAlg);
  if (!hash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'OAEP hashAlg must be CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384 or CKM_SHA512');
  const mgf = hashByMgf(params.mgf);
  if (!mgf) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'OAEP mgf must be a CKG_MGF1_* value');
  if (mgf !== hash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'the OAEP MGF1 hash must be the same as hashAlg');
  return { hash, label: Buffer.from(params.sourceData ?? []) };
}

function oaepEncrypt(pub: KeyObject, data: Bytes, p: OaepParams, codes: Codes): Buffer {
  const k = modulusBytes(pub);
  const max = k - 2 * p.hash.len - 2;
  if (data.length > max) throw new HsmError(codes.tooLong, `CKM_RSA_PKCS_OAEP encrypts at most ${Math.max(0, max)} bytes with this key and hash`);
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash.name, oaepLabel: p.label }, data);
}

function oaepDecrypt(priv: KeyObject, data: Bytes, p: OaepParams, codes: Codes): Buffer {
  const k = modulusBytes(priv);
  if (data.length !== k) throw new HsmError(codes.badLength, `the ciphertext must be ${k} bytes`);
  try {
    return privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash.name, oaepLabel: p.label }, data);
  } catch {
    throw new HsmError(codes.invalid, failedMessage(codes));
  }
}

/* ------------------------------------------------------------------------ */
/* CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21)                             */
/* ------------------------------------------------------------------------ */

/** AES key sizes (bytes) an RSA-AES wrap may carry. */
const AES_KEY_BYTES: ReadonlySet<number> = new Set([16, 24, 32]);

function aesKeyBytes(bits: number | undefined): number {
  if (bits !== 128 && bits !== 192 && bits !== 256) {
    throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'ulAESKeyBits must be 128, 192 or 256');
  }
  return bits / 8;
}

function rsaAesWrap(wrappingKey: KeyMaterial, keyBytes: Bytes, params: MechanismParams): Buffer {
  const n = aesKeyBytes(params.aesKeyBits);
  const oaep = oaepParams(params);
  const pub = publicOf(wrappingKey, WRAP.keyType);
  if (keyBytes.length === 0) throw new HsmError('ERR_KEY_SIZE_RANGE', 'there is no key material to wrap');
  const tmp = randomBytes(n);
  try {
    const wrappedAesKey = oaepEncrypt(pub, tmp, oaep, WRAP);
    return Buffer.concat([wrappedAesKey, rfc5649Wrap(tmp, keyBytes)]);
  } finally {
    tmp.fill(0);
  }
}

function rsaAesUnwrap(unwrappingKey: KeyMaterial, wrapped: Bytes, params: MechanismParams): Buffer {
  const oaep = oaepParams(params);
  const expected = params.aesKeyBits === undefined ? undefined : aesKeyBytes(params.aesKeyBits);
  const priv = privateOf(unwrappingKey, UNWRAP.keyType);
  const k = modulusBytes(priv);
  if (wrapped.length < k + 16 || (wrapped.length - k) % 8 !== 0) {
    throw new HsmError('ERR_WRAPPED_KEY_LEN_RANGE', 'the wrapped key has the wrong length for CKM_RSA_AES_KEY_WRAP');
  }
  const tmp = oaepDecrypt(priv, wrapped.subarray(0, k), oaep, UNWRAP);
  try {
    if (!AES_KEY_BYTES.has(tmp.length) || (expected !== undefined && tmp.length !== expected)) throw new HsmError('ERR_WRAPPED_KEY_INVALID', UNWRAP_FAILED);
    try {
      return rfc5649Unwrap(tmp, wrapped.subarray(k));
    } catch {
      throw new HsmError('ERR_WRAPPED_KEY_INVALID', UNWRAP_FAILED);
    }
  } finally {
    tmp.fill(0);
  }
}

/* ------------------------------------------------------------------------ */
/* The registration table                                                   */
/* ------------------------------------------------------------------------ */

export const RSA = { keyTypes: [P.CKK_RSA], minKeySize: MIN_BITS, maxKeySize: MAX_BITS, keySizeUnit: 'bits' } as const;

function hashingPkcs1(mechanism: number, hash: HashInfo): Mechanism {
  return {
    mechanism,
    ...RSA,
    flags: P.CKF_SIGN | P.CKF_VERIFY,
    async sign(key, data) {
      return signAsync(hash.name, data, { key: privateOf(key), padding: constants.RSA_PKCS1_PADDING });
    },
    async verify(key, data, signature) {
      const pub = publicOf(key);
      const k = modulusBytes(pub);
      if (signature.length !== k) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `the signature must be ${k} bytes`);
      return verifyAsync(hash.name, data, { key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
    },
    multiPart(kind, key) {
      return hashSignStream(kind, {
        hash: hash.name,
        signKey: () => ({ key: privateOf(key!), padding: constants.RSA_PKCS1_PADDING }),
        verifyKey: () => ({ key: publicOf(key!), padding: constants.RSA_PKCS1_PADDING }),
        checkSignature: (signature) => checkRsaSignatureLength(publicOf(key!), signature),
      });
    },
  };
}

function checkRsaSignatureLength(pub: KeyObject, signature: Bytes): void {
  const k = modulusBytes(pub);
  if (signature.length !== k) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `the signature must be ${k} bytes`);
}

function hashingPss(mechanism: number, hash: HashInfo): Mechanism {
  return {
    mechanism,
    ...RSA,
    flags: P.CKF_SIGN | P.CKF_VERIFY,
    async sign(key, data, params) {
      const p = pssParams(params, hash);
      const priv = privateOf(key);
      checkSaltFits(modulusBits(priv), p);
      return signAsync(hash.name, data, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLen });
    },
    async verify(key, data, signature, params) {
      const p = pssParams(params, hash);
      const pub = publicOf(key);
      const k = modulusBytes(pub);
      if (signature.length !== k) throw new HsmError('ERR_SIGNATURE_LEN_RANGE', `the signature must be ${k} bytes`);
      checkSaltFits(modulusBits(pub), p);
      return verifyAsync(hash.name, data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLen }, signature);
    },
    multiPart(kind, key, params) {
      const p = pssParams(params, hash);
      return hashSignStream(kind, {
        hash: hash.name,
        signKey: () => {
          const priv = privateOf(key!);
          checkSaltFits(modulusBits(priv), p);
          return { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLen };
        },
        verifyKey: () => {
          const pub = publicOf(key!);
          checkSaltFits(modulusBits(pub), p);
          return { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLen };
        },
        checkSignature: (signature) => checkRsaSignatureLength(publicOf(key!), signature),
      });
    },
  };
}

const H = (ckm: number): HashInfo => hashByMechanism(ckm)!;

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN,
    ...RSA,
    flags: P.CKF_GENERATE_KEY_PAIR,
    generateKeyPair: generateRsaPair,
  },
  {
    mechanism: P.CKM_RSA_PKCS,
    ...RSA,
    flags: P.CKF_SIGN | P.CKF_VERIFY | P.CKF_ENCRYPT | P.CKF_DECRYPT | P.CKF_WRAP | P.CKF_UNWRAP,
    async sign(key, data) {
      return pkcs1Sign(key, data);
    },
    async verify(key, data, signature) {
      return pkcs1Verify(key, data, signature);
    },
    async encrypt(key, data) {
      return pkcs1Encrypt(key, data, CIPHER);
    },
    async decrypt(key, data) {
      return pkcs1Decrypt(key, data, CIPHER);
    },
    async wrap(wrappingKey, keyBytes) {
      return pkcs1Encrypt(wrappingKey, keyBytes, WRAP);
    },
    async unwrap(unwrappingKey, wrapped) {
      return pkcs1Decrypt(unwrappingKey, wrapped, UNWRAP);
    },
  },
  hashingPkcs1(P.CKM_SHA1_RSA_PKCS, H(P.CKM_SHA_1)),
  hashingPkcs1(P.CKM_SHA224_RSA_PKCS, H(P.CKM_SHA224)),
  hashingPkcs1(P.CKM_SHA256_RSA_PKCS, H(P.CKM_SHA256)),
  hashingPkcs1(P.CKM_SHA384_RSA_PKCS, H(P.CKM_SHA384)),
  hashingPkcs1(P.CKM_SHA512_RSA_PKCS, H(P.CKM_SHA512)),
  {
    mechanism: P.CKM_RSA_PKCS_PSS,
    ...RSA,
    flags: P.CKF_SIGN | P.CKF_VERIFY,
    async sign(key, data, params) {
      return pssSignHash(key, data, pssParams(params));
    },
    async verify(key, data, signature, params) {
      return pssVerifyHash(key, data, signature, pssParams(params));
    },
  },
  hashingPss(P.CKM_SHA1_RSA_PKCS_PSS, H(P.CKM_SHA_1)),
  hashingPss(P.CKM_SHA224_RSA_PKCS_PSS, H(P.CKM_SHA224)),
  hashingPss(P.CKM_SHA256_RSA_PKCS_PSS, H(P.CKM_SHA256)),
  hashingPss(P.CKM_SHA384_RSA_PKCS_PSS, H(P.CKM_SHA384)),
  hashingPss(P.CKM_SHA512_RSA_PKCS_PSS, H(P.CKM_SHA512)),
  {
    mechanism: P.CKM_RSA_PKCS_OAEP,
    ...RSA,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT | P.CKF_WRAP | P.CKF_UNWRAP,
    async encrypt(key, data, params) {
      const p = oaepParams(params);
      return oaepEncrypt(publicOf(key), data, p, CIPHER);
    },
    async decrypt(key, data, params) {
      const p = oaepParams(params);
      return oaepDecrypt(privateOf(key), data, p, CIPHER);
    },
    async wrap(wrappingKey, keyBytes, params) {
      const p = oaepParams(params);
      return oaepEncrypt(publicOf(wrappingKey, WRAP.keyType), keyBytes, p, WRAP);
    },
    async unwrap(unwrappingKey, wrapped, params) {
      const p = oaepParams(params);
      return oaepDecrypt(privateOf(unwrappingKey, UNWRAP.keyType), wrapped, p, UNWRAP);
    },
  },
  {
    mechanism: P.CKM_RSA_AES_KEY_WRAP,
    ...RSA,
    flags: P.CKF_WRAP | P.CKF_UNWRAP,
    async wrap(wrappingKey, keyBytes, params) {
      return rsaAesWrap(wrappingKey, keyBytes, params);
    },
    async unwrap(unwrappingKey, wrapped, params) {
      return rsaAesUnwrap(unwrappingKey, wrapped, params);
    },
  },
];
