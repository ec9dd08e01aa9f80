/**
 * @module AES: CKM_AES_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR,
 * CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD.
 *
 * Specifications: PKCS#11 v2.40 Current Mechanisms, sections "AES", "AES with
 * Counter", "Additional AES Mechanisms" (GCM) and "AES Key Wrap"; FIPS 197;
 * NIST SP 800-38A (ECB, CBC, CTR), SP 800-38D (GCM), SP 800-38F / RFC 3394
 * (KW) and RFC 5649 (KWP); PKCS#7 padding as PKCS#11 "CBC with PKCS padding".
 *
 * Parameters read (MechanismParams): CBC, CBC_PAD: `iv` (16 bytes). CTR: `iv`
 * (the 16-byte initial counter block) and `counterBits` (1..128). GCM: `iv`
 * (1..128 bytes), `aad` (optional), `tagBits` (32, 64, 96, 104, 112, 120 or
 * 128; required). KEY_WRAP: `iv` optional, 8 bytes (default A6A6A6A6A6A6A6A6).
 * KEY_WRAP_PAD: `iv` optional, 4 bytes (default A65959A6, the RFC 5649 AIV).
 *
 * CKM_AES_KEY_WRAP_PAD (0x210A) is RFC 5649 here, as SoftHSMv2 and the Azure
 * client model implement it; PKCS#11 v3.0 later named RFC 5649
 * CKM_AES_KEY_WRAP_KWP (0x210B) and deprecated 0x210A as "PKCS#7 then RFC 3394".
 *
 * Errors: a length a mode cannot take is ERR_DATA_LEN_RANGE (encrypt),
 * ERR_ENCRYPTED_DATA_LEN_RANGE (decrypt), ERR_KEY_SIZE_RANGE (wrap: the key
 * to be wrapped) or ERR_WRAPPED_KEY_LEN_RANGE (unwrap). A failed tag, padding
 * or integrity check is ERR_ENCRYPTED_DATA_INVALID (decrypt) or
 * ERR_WRAPPED_KEY_INVALID (unwrap), always with the same message, so that the
 * error tells nothing about which check failed.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';
import { createCipheriv, createDecipheriv, randomBytes } from '../crypto/node.js';
import { secretLength, secretValue, type SecretKey } from './generic.js';
import type { Bytes, KeyMaterial, Mechanism, MechanismParams, MultiPart, MultiPartKind } from './types.js';

const EMPTY = Buffer.alloc(0);

/** Which of the four data-moving functions is running: it decides the error codes. */
export type CipherOp = 'encrypt' | 'decrypt' | 'wrap' | 'unwrap';

const LEN_ERROR: Readonly<Record<CipherOp, HsmErrorCode>> = {
  encrypt: 'ERR_DATA_LEN_RANGE',
  decrypt: 'ERR_ENCRYPTED_DATA_LEN_RANGE',
  wrap: 'ERR_KEY_SIZE_RANGE',
  unwrap: 'ERR_WRAPPED_KEY_LEN_RANGE',
};

/** Uniform failure text: one message whatever check failed (tag, padding, integrity value). */
const INVALID_MESSAGE = 'the encrypted data is not authentic or is malformed';

export function lengthError(op: CipherOp, message: string): HsmError {
  return new HsmError(LEN_ERROR[op], message);
}

export function invalidError(op: CipherOp): HsmError {
  return op === 'unwrap'
    ? new HsmError('ERR_WRAPPED_KEY_INVALID', INVALID_MESSAGE)
    : new HsmError('ERR_ENCRYPTED_DATA_INVALID', INVALID_MESSAGE);
}

export function paramError(message: string): HsmError {
  return new HsmError('ERR_MECHANISM_PARAM_INVALID', message);
}

const AES_KEY_TYPES: readonly number[] = [P.CKK_AES];
const AES_KEY_LENGTHS: readonly number[] = [16, 24, 32];
const AES_BLOCK = 16;

export function aesKey(key: KeyMaterial): SecretKey {
  const value = secretValue(key, AES_KEY_TYPES);
  // [16, 32] is the advertised range, but only three lengths in it are AES keys.
  if (!AES_KEY_LENGTHS.includes(secretLength(value))) throw new HsmError('ERR_KEY_SIZE_RANGE', 'an AES key is 16, 24 or 32 bytes');
  return value;
}

function bits(key: SecretKey): 128 | 192 | 256 {
  const n = secretLength(key);
  return n === 16 ? 128 : n === 24 ? 192 : 256;
}

/** PKCS#7 padding: 1..blockSize bytes, each holding the pad length. */
export function pkcs7Pad(data: Bytes, blockSize: number): Buffer {
  const n = blockSize - (data.length % blockSize);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

/**
 * Remove PKCS#7 padding, or return undefined if it is malformed. Every pad
 * byte position is examined whatever the data, with no early exit, so the
 * time taken does not depend on where the padding goes wrong (JavaScript gives
 * no hard constant-time guarantee; this removes the obvious data-dependent
 * branches).
 */
export function pkcs7Unpad(buf: Buffer, blockSize: number): Buffer | undefined {
  const n = buf[buf.length - 1]!;
  // bad != 0 when n == 0 or n > blockSize.
  let bad = ((n - 1) >>> 31) | ((blockSize - n) >>> 31);
  for (let i = 1; i <= blockSize; i++) {
    const inPad = (i - n - 1) >>> 31; // 1 when i <= n
    const diff = buf[buf.length - i]! ^ n;
    bad |= inPad & (((diff + 0xff) >>> 8) & 1);
  }
  return bad === 0 ? buf.subarray(0, buf.length - n) : undefined;
}

/** One-shot ECB or CBC over whole blocks, padding off: the callers pad and check lengths. */
function rawBlocks(cipherName: string, key: SecretKey, iv: Buffer | null, data: Bytes, encrypt: boolean): Buffer {
  const c = encrypt ? createCipheriv(cipherName, key, iv) : createDecipheriv(cipherName, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** What a block-cipher mode needs to know about its cipher: shared with des3.ts. */
export interface BlockModeSpec {
  /** node:crypto cipher name for this key. */
  readonly cipherName: (key: SecretKey) => string;
  readonly blockSize: number;
  /** IV length when the mode takes one (CBC), else undefined (ECB). */
  readonly ivLength?: number;
  /** PKCS#7 padding (the *_CBC_PAD mechanisms). */
  readonly pad: boolean;
}

function blockIv(spec: BlockModeSpec, params: MechanismParams): Buffer | null {
  if (spec.ivLength === undefined) return null;
  const iv = params.iv;
  if (iv === undefined || iv.length !== spec.ivLength) throw paramError(`the IV must be ${spec.ivLength} bytes`);
  return Buffer.from(iv);
}

/** ECB / CBC / CBC with PKCS padding, for any block cipher described by `spec`. */
export function blockMode(op: CipherOp, spec: BlockModeSpec, key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const iv = blockIv(spec, params);
  const bs = spec.blockSize;
  const name = spec.cipherName(key);
  if (op === 'encrypt' || op === 'wrap') {
    if (spec.pad) return rawBlocks(name, key, iv, pkcs7Pad(data, bs), true);
    if (data.length % bs !== 0) throw lengthError(op, `the data must be a multiple of ${bs} bytes`);
    return rawBlocks(name, key, iv, data, true);
  }
  if (data.length % bs !== 0 || (spec.pad && data.length === 0)) {
    throw lengthError(op, `the encrypted data must be a non-empty multiple of ${bs} bytes`);
  }
  const plain = rawBlocks(name, key, iv, data, false);
  if (!spec.pad) return plain;
  const unpadded = pkcs7Unpad(plain, bs);
  if (unpadded === undefined) {
    plain.fill(0);
    throw invalidError(op);
  }
  return unpadded;
}

/**
 * The multi-part form of `blockMode`: each update releases the whole blocks
 * received so far and holds the rest (less than one block; with padding on
 * decrypt, the last whole block too, so that final can strip the padding).
 * Final checks lengths and padding exactly as the single-part call does.
 */
export function blockModeStream(op: 'encrypt' | 'decrypt', spec: BlockModeSpec, key: SecretKey, params: MechanismParams): MultiPart {
  const iv = blockIv(spec, params);
  const bs = spec.blockSize;
  const c = op === 'encrypt' ? createCipheriv(spec.cipherName(key), key, iv) : createDecipheriv(spec.cipherName(key), key, iv);
  c.setAutoPadding(false);
  const holdLast = op === 'decrypt' && spec.pad;
  let held: Buffer = EMPTY;
  return {
    update(data) {
      const all = held.length ? Buffer.concat([held, data]) : Buffer.from(data.buffer, data.byteOffset, data.length);
      const take = holdLast ? (all.length > bs ? Math.floor((all.length - 1) / bs) * bs : 0) : Math.floor(all.length / bs) * bs;
      held = Buffer.from(all.subarray(take));
      return take ? c.update(all.subarray(0, take)) : EMPTY;
    },
    final() {
      if (op === 'encrypt') {
        if (spec.pad) return Buffer.concat([c.update(pkcs7Pad(held, bs)), c.final()]);
        if (held.length) throw lengthError(op, `the data must be a multiple of ${bs} bytes`);
        return c.final();
      }
      if (held.length % bs !== 0 || (spec.pad && held.length === 0)) {
        throw lengthError(op, `the encrypted data must be a non-empty multiple of ${bs} bytes`);
      }
      if (!spec.pad) return c.final();
      const plain = Buffer.concat([c.update(held), c.final()]);
      const unpadded = pkcs7Unpad(plain, bs);
      if (unpadded === undefined) {
        plain.fill(0);
        throw invalidError(op);
      }
      return Buffer.from(unpadded);
    },
  };
}

function cipherKind(kind: MultiPartKind): 'encrypt' | 'decrypt' {
  if (kind !== 'encrypt' && kind !== 'decrypt') throw new HsmError('ERR_MECHANISM_INVALID', `a cipher mechanism cannot ${kind}`);
  return kind;
}

/** A mechanism entry for a block mode: encrypt/decrypt, plus wrap/unwrap when `wraps`. */
export function blockModeEntry(
  mechanism: number,
  base: Pick<Mechanism, 'keyTypes' | 'minKeySize' | 'maxKeySize' | 'keySizeUnit'>,
  spec: BlockModeSpec,
  keyOf: (key: KeyMaterial) => SecretKey,
  wraps: boolean,
): Mechanism {
  const entry: Mechanism = {
    mechanism,
    ...base,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT | (wraps ? P.CKF_WRAP | P.CKF_UNWRAP : 0),
    async encrypt(key, data, params) {
      return blockMode('encrypt', spec, keyOf(key), data, params);
    },
    async decrypt(key, data, params) {
      return blockMode('decrypt', spec, keyOf(key), data, params);
    },
    multiPart(kind, key, params) {
      return blockModeStream(cipherKind(kind), spec, keyOf(key!), params);
    },
  };
  if (!wraps) return entry;
  return {
    ...entry,
    async wrap(key, keyBytes, params) {
      return blockMode('wrap', spec, keyOf(key), keyBytes, params);
    },
    async unwrap(key, wrapped, params) {
      return blockMode('unwrap', spec, keyOf(key), wrapped, params);
    },
  };
}

/* ---- CTR ---- */

/** The counter block and how many blocks it may count before its low counterBits would wrap. */
function ctrParams(params: MechanismParams): { iv: Bytes; room: bigint } {
  const { iv, counterBits } = params;
  if (iv === undefined || iv.length !== AES_BLOCK) throw paramError('the counter block must be 16 bytes');
  if (counterBits === undefined || !Number.isInteger(counterBits) || counterBits < 1 || counterBits > 128) {
    throw paramError('counterBits must be 1 to 128');
  }
  // node increments the whole 128-bit block; refusing any input that would carry
  // out of the low counterBits makes that identical to PKCS#11's counter.
  const width = BigInt(counterBits);
  const start = BigInt('0x' + Buffer.from(iv).toString('hex')) & ((1n << width) - 1n);
  return { iv, room: (1n << width) - start };
}

function ctr(op: CipherOp, key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const { iv, room } = ctrParams(params);
  if (BigInt(Math.ceil(data.length / AES_BLOCK)) > room) throw lengthError(op, 'the data would wrap the counter');
  const c = createCipheriv(`aes-${bits(key)}-ctr`, key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** CTR in parts: a stream cipher, so each update returns exactly its own length. */
function ctrStream(op: 'encrypt' | 'decrypt', key: SecretKey, params: MechanismParams): MultiPart {
  const { iv, room } = ctrParams(params);
  const c = createCipheriv(`aes-${bits(key)}-ctr`, key, iv);
  let total = 0;
  return {
    update(data) {
      if (BigInt(Math.ceil((total + data.length) / AES_BLOCK)) > room) throw lengthError(op, 'the data would wrap the counter');
      total += data.length;
      return c.update(data);
    },
    final: () => c.final(),
  };
}

/* ---- GCM ---- */

const GCM_TAG_BITS: readonly number[] = [32, 64, 96, 104, 112, 120, 128];
const GCM_NAMES = { 128: 'aes-128-gcm', 192: 'aes-192-gcm', 256: 'aes-256-gcm' } as const;

function gcmParams(params: MechanismParams): { iv: Buffer; aad: Buffer; tagLength: number } {
  const { iv, aad, tagBits } = params;
  if (iv === undefined || iv.length < 1 || iv.length > 128) throw paramError('the GCM IV must be 1 to 128 bytes');
  if (tagBits === undefined || !GCM_TAG_BITS.includes(tagBits)) {
    throw paramError('tagBits must be one of 32, 64, 96, 104, 112, 120, 128');
  }
  return { iv: Buffer.from(iv), aad: Buffer.from(aad ?? []), tagLength: tagBits / 8 };
}

/** Output is ciphertext ‖ tag, as C_Encrypt returns it for CKM_AES_GCM. */
function gcmSeal(key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const { iv, aad, tagLength } = gcmParams(params);
  const c = createCipheriv(GCM_NAMES[bits(key)], key, iv, { authTagLength: tagLength });
  if (aad.length > 0) c.setAAD(aad);
  const body = Buffer.concat([c.update(data), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

function gcmOpen(op: CipherOp, key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const { iv, aad, tagLength } = gcmParams(params);
  if (data.length < tagLength) throw lengthError(op, 'the encrypted data is shorter than the tag');
  const split = data.length - tagLength;
  const d = createDecipheriv(GCM_NAMES[bits(key)], key, iv, { authTagLength: tagLength });
  d.setAuthTag(data.subarray(split));
  if (aad.length > 0) d.setAAD(aad);
  const plain = d.update(data.subarray(0, split));
  try {
    return Buffer.concat([plain, d.final()]);
  } catch {
    // node hands out plaintext before the tag is checked: wipe it.
    plain.fill(0);
    throw invalidError(op);
  }
}

/**
 * GCM encryption in parts: the ciphertext of each part at once (GCM is a
 * counter mode), the tag at final. Decryption has no multi-part form: PKCS#11
 * lets no plaintext out before the tag is checked, so it stays single-part.
 */
function gcmSealStream(key: SecretKey, params: MechanismParams): MultiPart {
  const { iv, aad, tagLength } = gcmParams(params);
  const c = createCipheriv(GCM_NAMES[bits(key)], key, iv, { authTagLength: tagLength });
  if (aad.length > 0) c.setAAD(aad);
  return {
    update: (data) => c.update(data),
    final: () => Buffer.concat([c.final(), c.getAuthTag()]),
  };
}

/* ---- KW (RFC 3394) and KWP (RFC 5649) ---- */

const KW_DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const KWP_DEFAULT_IV = Buffer.from('a65959a6', 'hex');

function wrapIv(params: MechanismParams, length: number, fallback: Buffer): Buffer {
  if (params.iv === undefined) return fallback;
  if (params.iv.length !== length) throw paramError(`the key wrap IV must be ${length} bytes`);
  return Buffer.from(params.iv);
}

/** Whole-message wrap cipher: node's id-aesNNN-wrap[-pad] take all input in one update. */
function wrapCipher(op: CipherOp, name: string, key: SecretKey, iv: Buffer, data: Bytes): Buffer {
  if (op === 'encrypt' || op === 'wrap') {
    const c = createCipheriv(name, key, iv);
    return Buffer.concat([c.update(data), c.final()]);
  }
  try {
    const d = createDecipheriv(name, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    // OpenSSL reports a failed integrity check as an error from update/final.
    throw invalidError(op);
  }
}

export function kw(op: CipherOp, key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const iv = wrapIv(params, 8, KW_DEFAULT_IV);
  const sealing = op === 'encrypt' || op === 'wrap';
  // RFC 3394 §2: n >= 2 64-bit blocks in, n + 1 out.
  const min = sealing ? 16 : 24;
  if (data.length % 8 !== 0 || data.length < min) throw lengthError(op, `the data must be a multiple of 8 bytes, at least ${min}`);
  return wrapCipher(op, `id-aes${bits(key)}-wrap`, key, iv, data);
}

/**
 * RFC 5649 (AES key wrap with padding), the one implementation: CKM_AES_KEY_WRAP_PAD below and the
 * second step of CKM_RSA_AES_KEY_WRAP (rsa.ts) both use it. `key` is 16, 24 or 32 bytes; unwrap
 * throws when the integrity check fails (callers turn that into their own CKR).
 */
function rfc5649(op: CipherOp, key: SecretKey, data: Bytes, iv: Buffer): Buffer {
  return wrapCipher(op, `id-aes${bits(key)}-wrap-pad`, key, iv, data);
}
export function rfc5649Wrap(key: SecretKey, data: Bytes, iv: Buffer = KWP_DEFAULT_IV): Buffer {
  return rfc5649('wrap', key, data, iv);
}
export function rfc5649Unwrap(key: SecretKey, data: Bytes, iv: Buffer = KWP_DEFAULT_IV): Buffer {
  return rfc5649('unwrap', key, data, iv);
}

function kwp(op: CipherOp, key: SecretKey, data: Bytes, params: MechanismParams): Buffer {
  const iv = wrapIv(params, 4, KWP_DEFAULT_IV);
  const sealing = op === 'encrypt' || op === 'wrap';
  if (sealing) {
    // RFC 5649 §3: 1 to 2^32 - 1 octets (MLI is a 32-bit length).
    if (data.length < 1 || data.length > 0xffffffff) throw lengthError(op, 'the data must be 1 to 2^32 - 1 bytes');
  } else if (data.length % 8 !== 0 || data.length < 16) {
    throw lengthError(op, 'the wrapped data must be a multiple of 8 bytes, at least 16');
  }
  return rfc5649(op, key, data, iv);
}

/* ---- the table ---- */

export const AES_BASE = { keyTypes: AES_KEY_TYPES, minKeySize: 16, maxKeySize: 32, keySizeUnit: 'bytes' } as const;

type ModeFn = (op: CipherOp, key: SecretKey, data: Bytes, params: MechanismParams) => Buffer;

/** An entry whose four data functions share one mode function. */
function allDirections(mechanism: number, mode: ModeFn): Mechanism {
  return {
    mechanism,
    ...AES_BASE,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT | P.CKF_WRAP | P.CKF_UNWRAP,
    async encrypt(key, data, params) {
      return mode('encrypt', aesKey(key), data, params);
    },
    async decrypt(key, data, params) {
      return mode('decrypt', aesKey(key), data, params);
    },
    async wrap(key, keyBytes, params) {
      return mode('wrap', aesKey(key), keyBytes, params);
    },
    async unwrap(key, wrapped, params) {
      return mode('unwrap', aesKey(key), wrapped, params);
    },
  };
}

const gcm: ModeFn = (op, key, data, params) =>
  op === 'encrypt' || op === 'wrap' ? gcmSeal(key, data, params) : gcmOpen(op, key, data, params);

const ecbName = (key: SecretKey): string => `aes-${bits(key)}-ecb`;
const cbcName = (key: SecretKey): string => `aes-${bits(key)}-cbc`;

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_AES_KEY_GEN,
    ...AES_BASE,
    flags: P.CKF_GENERATE,
    async generateKey(lengthBytes: number) {
      if (!AES_KEY_LENGTHS.includes(lengthBytes)) throw new HsmError('ERR_KEY_SIZE_RANGE', 'an AES key is 16, 24 or 32 bytes');
      return { value: randomBytes(lengthBytes) };
    },
  },
  blockModeEntry(P.CKM_AES_ECB, AES_BASE, { cipherName: ecbName, blockSize: AES_BLOCK, pad: false }, aesKey, false),
  blockModeEntry(P.CKM_AES_CBC, AES_BASE, { cipherName: cbcName, blockSize: AES_BLOCK, ivLength: AES_BLOCK, pad: false }, aesKey, false),
  blockModeEntry(P.CKM_AES_CBC_PAD, AES_BASE, { cipherName: cbcName, blockSize: AES_BLOCK, ivLength: AES_BLOCK, pad: true }, aesKey, true),
  {
    mechanism: P.CKM_AES_CTR,
    ...AES_BASE,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT,
    async encrypt(key, data, params) {
      return ctr('encrypt', aesKey(key), data, params);
    },
    async decrypt(key, data, params) {
      return ctr('decrypt', aesKey(key), data, params);
    },
    multiPart(kind, key, params) {
      return ctrStream(cipherKind(kind), aesKey(key!), params);
    },
  },
  {
    ...allDirections(P.CKM_AES_GCM, gcm),
    multiPartKinds: ['encrypt'],
    multiPart(kind, key, params) {
      if (kind !== 'encrypt') throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', 'AES-GCM decryption has no multi-part form');
      return gcmSealStream(aesKey(key!), params);
    },
  },
  allDirections(P.CKM_AES_KEY_WRAP, kw),
  allDirections(P.CKM_AES_KEY_WRAP_PAD, kwp),
];
