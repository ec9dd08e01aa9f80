/**
 * @module AES-CMAC: CKM_AES_CMAC and CKM_AES_CMAC_GENERAL (sign and verify).
 *
 * Specifications: NIST SP 800-38B (CMAC), RFC 4493 (AES-CMAC); PKCS#11 v2.40
 * Current Mechanisms, "AES CMAC": CKM_AES_CMAC gives the full 16-byte MAC,
 * CKM_AES_CMAC_GENERAL the first `length` bytes of it (CK_MAC_GENERAL_PARAMS,
 * 1 to 16; required).
 *
 * Subkeys K1, K2 (SP 800-38B §6.1): L = AES_K(0^128), K1 = dbl(L), K2 =
 * dbl(K1), dbl being a left shift with the constant 0x87 folded in when the
 * top bit was set. The MAC is the last block of AES-CBC with a zero IV over the
 * message whose last block is XORed with K1 (complete) or, padded with 10*,
 * with K2 (incomplete or empty).
 *
 * Verify answers false for a wrong MAC, also one of the wrong length, and
 * compares with timingSafeEqual.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { createCipheriv, timingSafeEqual } from '../crypto/node.js';
import { AES_BASE, aesKey, paramError } from './aes.js';
import { secretLength, type SecretKey } from './generic.js';
import type { Bytes, KeyMaterial, Mechanism, MechanismParams } from './types.js';

const BLOCK = 16;

const cbcName = (key: SecretKey): string => `aes-${secretLength(key) * 8}-cbc`;

/** AES-CBC, zero IV, no padding: the last block of the output. */
function cbcLastBlock(key: SecretKey, data: Buffer): Buffer {
  const c = createCipheriv(cbcName(key), key, Buffer.alloc(BLOCK));
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(data), c.final()]);
  return out.subarray(out.length - BLOCK);
}

/** Doubling in GF(2^128) with R = 0x87 (SP 800-38B §6.1 step 2 and 3). */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((b[i]! << 1) | (i + 1 < BLOCK ? b[i + 1]! >>> 7 : 0)) & 0xff;
  /* Branch-free: msb is 0 or 1, the mask 0x00 or 0x87. */
  out[BLOCK - 1] = out[BLOCK - 1]! ^ (0x87 & -(b[0]! >>> 7));
  return out;
}

/** The full 16-byte AES-CMAC of `data` under `key` (16, 24 or 32 bytes, checked by aesKey). */
export function aesCmac(key: SecretKey, data: Bytes): Buffer {
  const l = cbcLastBlock(key, Buffer.alloc(BLOCK));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const complete = data.length > 0 && data.length % BLOCK === 0;
  const n = complete ? data.length / BLOCK : Math.floor(data.length / BLOCK) + 1;
  const m = Buffer.alloc(n * BLOCK);
  m.set(data);
  if (!complete) m[data.length] = 0x80;
  const sub = complete ? k1 : k2;
  for (let i = 0; i < BLOCK; i++) m[(n - 1) * BLOCK + i] = m[(n - 1) * BLOCK + i]! ^ sub[i]!;
  const mac = cbcLastBlock(key, m);
  for (const b of [l, k1, k2, m]) b.fill(0);
  return Buffer.from(mac);
}

function macLength(params: MechanismParams, general: boolean): number {
  if (!general) return BLOCK;
  const len = params.length;
  if (len === undefined || !Number.isInteger(len) || len < 1 || len > BLOCK) throw paramError('CKM_AES_CMAC_GENERAL needs a MAC length of 1 to 16 bytes');
  return len;
}

function cmacEntry(mechanism: number, general: boolean): Mechanism {
  const mac = (key: KeyMaterial, data: Bytes, params: MechanismParams): Buffer =>
    aesCmac(aesKey(key), data).subarray(0, macLength(params, general));
  return {
    mechanism,
    ...AES_BASE,
    flags: P.CKF_SIGN | P.CKF_VERIFY,
    async sign(key, data, params) {
      return Buffer.from(mac(key, data, params));
    },
    async verify(key, data, signature, params) {
      const expected = mac(key, data, params);
      if (signature.length !== expected.length) return false;
      return timingSafeEqual(expected, signature);
    },
  };
}

export const MECHANISMS: readonly Mechanism[] = [cmacEntry(P.CKM_AES_CMAC, false), cmacEntry(P.CKM_AES_CMAC_GENERAL, true)];
