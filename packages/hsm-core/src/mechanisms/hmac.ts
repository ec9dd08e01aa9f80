/**
 * @module HMAC: CKM_SHA_1_HMAC, CKM_SHA224_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC.
 *
 * PKCS#11 v2.40 Current Mechanisms, the "_HMAC" mechanism of each SHA
 * section ("SHA-1" ... "SHA-512"); RFC 2104, RFC 4231: sign and verify with a CKK_GENERIC_SECRET (or CKK_DES3, below) key; the
 * MAC is the full digest length (the _HMAC_GENERAL variants, which truncate,
 * are not offered). Verify answers false for a wrong MAC, including one of the
 * wrong length, and compares with timingSafeEqual so that the time taken does
 * not tell how many leading bytes were right.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { createHmac, timingSafeEqual } from '../crypto/node.js';
import { GENERIC_SECRET_MAX_BYTES, secretValue } from './generic.js';
import type { Bytes, KeyMaterial, Mechanism } from './types.js';

/*
 * Generic secrets, and Triple DES keys: the Azure JCE guide's HMAC sample keys HmacSHA224 with a
 * DESede key, so the HSM it targets takes one. A DES3 key still needs CKA_SIGN / CKA_VERIFY TRUE
 * (the core's usage rule); using one key for two algorithms is the owner's explicit choice.
 */
const HMAC_KEY_TYPES: readonly number[] = [P.CKK_GENERIC_SECRET, P.CKK_DES3];

function mac(hash: string, key: KeyMaterial, data: Bytes): Buffer {
  return createHmac(hash, secretValue(key, HMAC_KEY_TYPES)).update(data).digest();
}

const EMPTY = Buffer.alloc(0);

function sameMac(expected: Buffer, signature: Bytes): boolean {
  // timingSafeEqual throws on unequal lengths; a MAC of the wrong length is simply wrong.
  if (signature.length !== expected.length) return false;
  return timingSafeEqual(expected, signature);
}

function hmacEntry(mechanism: number, hash: string): Mechanism {
  return {
    mechanism,
    keyTypes: HMAC_KEY_TYPES,
    minKeySize: 1,
    maxKeySize: GENERIC_SECRET_MAX_BYTES,
    keySizeUnit: 'bytes',
    flags: P.CKF_SIGN | P.CKF_VERIFY,
    async sign(key, data) {
      return mac(hash, key, data);
    },
    async verify(key, data, signature) {
      return sameMac(mac(hash, key, data), signature);
    },
    multiPart(_kind, key) {
      const h = createHmac(hash, secretValue(key!, HMAC_KEY_TYPES));
      return {
        update: (data) => (h.update(data), EMPTY),
        final: () => h.digest(),
        verifyFinal: (signature) => sameMac(h.digest(), signature),
      };
    },
  };
}

export const MECHANISMS: readonly Mechanism[] = [
  hmacEntry(P.CKM_SHA_1_HMAC, 'sha1'),
  hmacEntry(P.CKM_SHA224_HMAC, 'sha224'),
  hmacEntry(P.CKM_SHA256_HMAC, 'sha256'),
  hmacEntry(P.CKM_SHA384_HMAC, 'sha384'),
  hmacEntry(P.CKM_SHA512_HMAC, 'sha512'),
];
