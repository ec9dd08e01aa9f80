/**
 * @module Triple DES: CKM_DES3_KEY_GEN, CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD.
 *
 * Specifications: PKCS#11 v2.40 Current Mechanisms, section "Triple-DES"
 * (DES3 key generation, ECB, CBC, CBC with PKCS padding); NIST SP 800-67
 * (TDEA, three-key keying option 1); SP 800-38A for the modes.
 *
 * Keys are CKK_DES3, 24 bytes (K1 ‖ K2 ‖ K3). Generation sets odd parity in
 * every byte, as DES keys carry it, and draws again in the negligible case of
 * two equal sub-keys (which would make the key two-key or single DES). Keys
 * handed in are used as they are: DES ignores the parity bits.
 *
 * Parameters read: CBC and CBC_PAD take `iv` (8 bytes). Error codes are those
 * of the AES block modes (see aes.ts, whose block-mode engine this reuses).
 * node:crypto runs these through OpenSSL 3's default provider ('des-ede3' and
 * 'des-ede3-cbc'), which still offers three-key TDEA.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { randomBytes, type KeyObject } from '../crypto/node.js';
import { blockModeEntry, type BlockModeSpec } from './aes.js';
import { secretValue } from './generic.js';
import type { KeyMaterial, Mechanism } from './types.js';

const DES3_KEY_TYPES: readonly number[] = [P.CKK_DES3];
const DES3_KEY_BYTES = 24;
const DES_BLOCK = 8;

/** Set each byte's low bit so the byte has an odd number of 1 bits (FIPS 46-3 parity). */
export function setOddParity(key: Buffer): Buffer {
  for (let i = 0; i < key.length; i++) {
    let b = key[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v !== 0; v >>= 1) ones += v & 1;
    if (ones % 2 === 0) b |= 1;
    key[i] = b;
  }
  return key;
}

function des3Key(key: KeyMaterial): KeyObject {
  const value = secretValue(key, DES3_KEY_TYPES);
  if (value.symmetricKeySize !== DES3_KEY_BYTES) throw new HsmError('ERR_KEY_SIZE_RANGE', 'a DES3 key is 24 bytes');
  return value;
}

const DES3_BASE = { keyTypes: DES3_KEY_TYPES, minKeySize: DES3_KEY_BYTES, maxKeySize: DES3_KEY_BYTES, keySizeUnit: 'bytes' } as const;

const ECB: BlockModeSpec = { cipherName: () => 'des-ede3', blockSize: DES_BLOCK, pad: false };
const CBC: BlockModeSpec = { cipherName: () => 'des-ede3-cbc', blockSize: DES_BLOCK, ivLength: DES_BLOCK, pad: false };
const CBC_PAD: BlockModeSpec = { ...CBC, pad: true };

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_DES3_KEY_GEN,
    ...DES3_BASE,
    flags: P.CKF_GENERATE,
    async generateKey(lengthBytes: number) {
      if (lengthBytes !== DES3_KEY_BYTES) throw new HsmError('ERR_KEY_SIZE_RANGE', 'a DES3 key is 24 bytes');
      for (;;) {
        const value = setOddParity(randomBytes(DES3_KEY_BYTES));
        const [k1, k2, k3] = [value.subarray(0, 8), value.subarray(8, 16), value.subarray(16, 24)];
        if (!k1.equals(k2) && !k2.equals(k3) && !k1.equals(k3)) return { value };
      }
    },
  },
  blockModeEntry(P.CKM_DES3_ECB, DES3_BASE, ECB, des3Key, false),
  blockModeEntry(P.CKM_DES3_CBC, DES3_BASE, CBC, des3Key, false),
  blockModeEntry(P.CKM_DES3_CBC_PAD, DES3_BASE, CBC_PAD, des3Key, true),
];
