/**
 * @module The Azure/Cavium lineage's AES key wrap variants:
 * CKM_AES_KEY_WRAP_NO_PAD (0x80002109), CKM_AES_KEY_WRAP_PKCS5_PAD (0x8000210A),
 * CKM_AES_KEY_WRAP_ZERO_PAD (0x8000216F) — the JCE's AESWrap/ECB/NoPadding,
 * /PKCS5Padding and /ZeroPadding.
 *
 * Each is RFC 3394 (aes.ts's `kw`, checked there against RFC 3394 and NIST
 * SP 800-38F) over the data as it is (NO_PAD), after PKCS#7 padding to a
 * multiple of 8 bytes (PKCS5_PAD: 1 to 8 bytes, the form of SunJCE's
 * AES/KW/PKCS5Padding), or after zero bytes up to a multiple of 8 (ZERO_PAD).
 * All four directions, as the PKCS#11 guide lists them for encryption too.
 *
 * Zero padding cannot be told from key bytes: unwrapping keeps the zeros,
 * except when the value is a DER SEQUENCE (a PKCS#8 private key), whose own
 * length says where it ends. A secret key whose length is not a multiple of 8
 * therefore comes back longer; AES and DES3 keys are multiples of 8 and never
 * padded.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { AES_BASE, aesKey, invalidError, kw, pkcs7Pad, pkcs7Unpad, type CipherOp } from './aes.js';
import type { Bytes, KeyMaterial, Mechanism, MechanismParams } from './types.js';

type Pad = 'none' | 'pkcs5' | 'zero';

/** The length a DER SEQUENCE at the start of `b` declares (header included), or undefined. */
function derLength(b: Buffer): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const first = b[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n < 1 || n > 3 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i]!;
  return 2 + n + len;
}

function unzero(b: Buffer): Buffer {
  const len = derLength(b);
  if (len === undefined || len > b.length || b.length - len >= 8) return b;
  for (let i = len; i < b.length; i++) if (b[i] !== 0) return b;
  return b.subarray(0, len);
}

function run(pad: Pad, op: CipherOp, key: KeyMaterial, data: Bytes, params: MechanismParams): Buffer {
  const k = aesKey(key);
  if (op === 'encrypt' || op === 'wrap') {
    const padded = pad === 'pkcs5' ? pkcs7Pad(data, 8) : pad === 'zero' && data.length % 8 !== 0 ? Buffer.concat([data, Buffer.alloc(8 - (data.length % 8))]) : data;
    return kw(op, k, padded, params);
  }
  const plain = kw(op, k, data, params);
  if (pad === 'none') return plain;
  if (pad === 'zero') return unzero(plain);
  const unpadded = pkcs7Unpad(plain, 8);
  if (unpadded === undefined) {
    plain.fill(0);
    throw invalidError(op);
  }
  return unpadded;
}

function entry(mechanism: number, pad: Pad): Mechanism {
  return {
    mechanism,
    ...AES_BASE,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT | P.CKF_WRAP | P.CKF_UNWRAP,
    async encrypt(key, data, params) {
      return run(pad, 'encrypt', key, data, params);
    },
    async decrypt(key, data, params) {
      return run(pad, 'decrypt', key, data, params);
    },
    async wrap(key, data, params) {
      return run(pad, 'wrap', key, data, params);
    },
    async unwrap(key, data, params) {
      return run(pad, 'unwrap', key, data, params);
    },
  };
}

export const MECHANISMS: readonly Mechanism[] = [
  entry(P.CKM_AES_KEY_WRAP_NO_PAD, 'none'),
  entry(P.CKM_AES_KEY_WRAP_PKCS5_PAD, 'pkcs5'),
  entry(P.CKM_AES_KEY_WRAP_ZERO_PAD, 'zero'),
];
