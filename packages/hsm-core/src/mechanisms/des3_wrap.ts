/**
 * @module Triple DES key wrap: CKM_DES3_NIST_WRAP (the Azure/Cavium vendor
 * mechanism 0x80008000; the JCE's DESedeWrap/ECB/NoPadding).
 *
 * NIST SP 800-38F §6.1 (the wrapping function W and its inverse, with the
 * 64-bit TDEA block, so 32-bit semiblocks) and §6.3 TKW: ICV1 = A6A6A6A6,
 * S = ICV1 ‖ P, C = W(S). P is at least 2 semiblocks (8 bytes) and a multiple
 * of 4 bytes; C is 4 bytes longer. Unwrapping checks the ICV and answers any
 * failure with the AES family's one message (ERR_WRAPPED_KEY_INVALID /
 * ERR_ENCRYPTED_DATA_INVALID).
 *
 * Key: CKK_DES3, 24 bytes. Wrap and unwrap only (the PKCS#11 guide lists it
 * in its key wrap table alone).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { createCipheriv, createDecipheriv, timingSafeEqual, type KeyObject } from '../crypto/node.js';
import { invalidError, lengthError, type CipherOp } from './aes.js';
import { secretValue } from './generic.js';
import type { Bytes, KeyMaterial, Mechanism } from './types.js';

const ICV1 = Buffer.from('a6a6a6a6', 'hex');
const SEMI = 4;

function des3Key(key: KeyMaterial): KeyObject {
  const value = secretValue(key, [P.CKK_DES3]);
  if (value.symmetricKeySize !== 24) throw new HsmError('ERR_KEY_SIZE_RANGE', 'a DES3 key is 24 bytes');
  return value;
}

/** W (SP 800-38F Algorithm 1) over n >= 3 semiblocks of S. */
function w(key: KeyObject, s: Buffer): Buffer {
  const n = s.length / SEMI;
  const c = createCipheriv('des-ede3', key, null);
  c.setAutoPadding(false);
  let a = Buffer.from(s.subarray(0, SEMI));
  const r: Buffer[] = [];
  for (let i = 1; i < n; i++) r.push(Buffer.from(s.subarray(i * SEMI, (i + 1) * SEMI)));
  const steps = 6 * (n - 1);
  for (let t = 1; t <= steps; t++) {
    const b = c.update(Buffer.concat([a, r[0]!]));
    a = Buffer.from(b.subarray(0, SEMI));
    a.writeUInt32BE((a.readUInt32BE(0) ^ t) >>> 0, 0);
    r.shift();
    r.push(Buffer.from(b.subarray(SEMI)));
  }
  return Buffer.concat([a, ...r]);
}

/** W^-1 (SP 800-38F Algorithm 2). */
function wInverse(key: KeyObject, cText: Bytes): Buffer {
  const n = cText.length / SEMI;
  const d = createDecipheriv('des-ede3', key, null);
  d.setAutoPadding(false);
  let a = Buffer.from(cText.subarray(0, SEMI));
  const r: Buffer[] = [];
  for (let i = 1; i < n; i++) r.push(Buffer.from(cText.subarray(i * SEMI, (i + 1) * SEMI)));
  for (let t = 6 * (n - 1); t >= 1; t--) {
    const x = Buffer.from(a);
    x.writeUInt32BE((x.readUInt32BE(0) ^ t) >>> 0, 0);
    const b = d.update(Buffer.concat([x, r[r.length - 1]!]));
    a = Buffer.from(b.subarray(0, SEMI));
    r.pop();
    r.unshift(Buffer.from(b.subarray(SEMI)));
  }
  return Buffer.concat([a, ...r]);
}

function tkw(op: CipherOp, key: KeyMaterial, data: Bytes): Buffer {
  const k = des3Key(key);
  if (op === 'wrap') {
    if (data.length < 2 * SEMI || data.length % SEMI !== 0) throw lengthError(op, 'TKW wraps a multiple of 4 bytes, at least 8');
    return w(k, Buffer.concat([ICV1, data]));
  }
  if (data.length < 3 * SEMI || data.length % SEMI !== 0) throw lengthError(op, 'a TKW-wrapped key is a multiple of 4 bytes, at least 12');
  const s = wInverse(k, data);
  if (!timingSafeEqual(s.subarray(0, SEMI), ICV1)) {
    s.fill(0);
    throw invalidError(op);
  }
  return Buffer.from(s.subarray(SEMI));
}

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_DES3_NIST_WRAP,
    keyTypes: [P.CKK_DES3],
    minKeySize: 24,
    maxKeySize: 24,
    keySizeUnit: 'bytes',
    flags: P.CKF_WRAP | P.CKF_UNWRAP,
    async wrap(key, keyBytes) {
      return tkw('wrap', key, keyBytes);
    },
    async unwrap(key, wrapped) {
      return tkw('unwrap', key, wrapped);
    },
  },
];
