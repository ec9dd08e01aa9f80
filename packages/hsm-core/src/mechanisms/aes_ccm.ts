/**
 * @module AES-CCM: CKM_AES_CCM (encrypt and decrypt).
 *
 * Specifications: NIST SP 800-38C (CCM), RFC 3610 for the formatting;
 * PKCS#11 v2.40 Current Mechanisms, "AES CCM" with CK_CCM_PARAMS.
 *
 * Parameters read (MechanismParams, the CK_CCM_PARAMS fields flattened):
 * `iv` is pNonce (7 to 13 bytes), `aad` is pAAD (optional), `tagBits` is
 * ulMACLen in bits (32, 48, 64, 80, 96, 112 or 128: SP 800-38C's Tlen of 4 to
 * 16 even bytes), and `length`, when given, is ulDataLen: the length of the
 * plaintext (encryption) or of the ciphertext without its tag (decryption).
 * A one-shot operation knows that length from the data, so `length` is only
 * checked, never needed.
 *
 * The nonce length n fixes the length field q = 15 - n, and so the largest
 * payload: fewer than 2^(8q) bytes (SP 800-38C A.1). Longer data is
 * ERR_DATA_LEN_RANGE.
 *
 * Output is ciphertext ‖ tag, as C_Encrypt returns it for CKM_AES_CCM. A
 * failed tag check is ERR_ENCRYPTED_DATA_INVALID with the AES family's one
 * message, and no plaintext leaves. CCM neither wraps nor unwraps here (the
 * Azure JCE guide lists it for encryption only).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { createCipheriv, createDecipheriv } from '../crypto/node.js';
import { AES_BASE, aesKey, invalidError, lengthError, paramError, type CipherOp } from './aes.js';
import { secretLength, type SecretKey } from './generic.js';
import type { Bytes, KeyMaterial, Mechanism, MechanismParams } from './types.js';

const CCM_TAG_BITS: readonly number[] = [32, 48, 64, 80, 96, 112, 128];
const CCM_NAMES: Readonly<Record<number, 'aes-128-ccm' | 'aes-192-ccm' | 'aes-256-ccm'>> = { 16: 'aes-128-ccm', 24: 'aes-192-ccm', 32: 'aes-256-ccm' };

function ccmKey(key: KeyMaterial): { name: 'aes-128-ccm' | 'aes-192-ccm' | 'aes-256-ccm'; value: SecretKey } {
  const value = aesKey(key);
  return { name: CCM_NAMES[secretLength(value)]!, value };
}

interface CcmParams {
  readonly nonce: Buffer;
  readonly aad: Buffer;
  readonly tagLength: number;
}

function ccmParams(params: MechanismParams): CcmParams {
  const { iv, aad, tagBits } = params;
  if (iv === undefined || iv.length < 7 || iv.length > 13) throw paramError('the CCM nonce must be 7 to 13 bytes');
  if (tagBits === undefined || !CCM_TAG_BITS.includes(tagBits)) throw paramError('the CCM MAC length must be 32 to 128 bits in steps of 16');
  return { nonce: Buffer.from(iv), aad: Buffer.from(aad ?? []), tagLength: tagBits / 8 };
}

/** SP 800-38C A.1: the payload is shorter than 2^(8q) bytes, q = 15 - nonce length. */
function checkPayload(op: CipherOp, p: CcmParams, payloadLength: number, params: MechanismParams): void {
  const q = 15 - p.nonce.length;
  if (q < 6 && payloadLength >= 2 ** (8 * q)) throw lengthError(op, `with a ${p.nonce.length}-byte nonce CCM takes fewer than 2^${8 * q} bytes`);
  if (params.length !== undefined && params.length !== payloadLength) {
    throw paramError(`ulDataLen is ${params.length}, but the ${op === 'encrypt' ? 'plaintext' : 'ciphertext without its tag'} is ${payloadLength} bytes`);
  }
}

function ccmSeal(key: KeyMaterial, data: Bytes, params: MechanismParams): Buffer {
  const k = ccmKey(key);
  const p = ccmParams(params);
  checkPayload('encrypt', p, data.length, params);
  const c = createCipheriv(k.name, k.value, p.nonce, { authTagLength: p.tagLength });
  c.setAAD(p.aad, { plaintextLength: data.length });
  const body = Buffer.concat([c.update(data), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

function ccmOpen(key: KeyMaterial, data: Bytes, params: MechanismParams): Buffer {
  const k = ccmKey(key);
  const p = ccmParams(params);
  if (data.length < p.tagLength) throw lengthError('decrypt', 'the encrypted data is shorter than the MAC');
  const split = data.length - p.tagLength;
  checkPayload('decrypt', p, split, params);
  const d = createDecipheriv(k.name, k.value, p.nonce, { authTagLength: p.tagLength });
  d.setAuthTag(data.subarray(split));
  d.setAAD(p.aad, { plaintextLength: split });
  const plain = d.update(data.subarray(0, split));
  try {
    d.final();
    return plain;
  } catch {
    plain.fill(0);
    throw invalidError('decrypt');
  }
}

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_AES_CCM,
    ...AES_BASE,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT,
    async encrypt(key, data, params) {
      return ccmSeal(key, data, params);
    },
    async decrypt(key, data, params) {
      return ccmOpen(key, data, params);
    },
  },
];
