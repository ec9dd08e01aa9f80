/**
 * @module Generic secret keys: CKM_GENERIC_SECRET_KEY_GEN.
 *
 * PKCS#11 v2.40 Current Mechanisms, "Generic secret key": a generic
 * secret key is CKA_VALUE_LEN random bytes with no further structure; HMAC
 * (hmac.ts) signs with it. Also home of `secretValue`, the one check every
 * symmetric family makes on the key material it is handed.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { createSecretKey, randomBytes, type KeyObject } from '../crypto/node.js';
import type { KeyMaterial, Mechanism } from './types.js';

/** Largest generic secret this token makes or accepts, in bytes (6400 bits). */
export const GENERIC_SECRET_MAX_BYTES = 800;

/** A secret key as the ciphers take it: a resident KeyObject, or raw bytes for a key made for one operation. */
export type SecretKey = Buffer | KeyObject;

/** Its length in bytes. */
export function secretLength(key: SecretKey): number {
  return Buffer.isBuffer(key) ? key.length : key.symmetricKeySize!;
}

/** Key material for a secret key of `keyType` with this value (copied into the KeyObject). */
export function secretMaterial(keyType: number, value: Uint8Array): KeyMaterial {
  return { kind: 'secret', keyType, key: createSecretKey(value) };
}

/**
 * The KeyObject of a secret key, after checking that it is a secret key of
 * one of `keyTypes`. The core checks the type too; checking again here keeps
 * an entry safe if it is ever called directly.
 */
export function secretValue(key: KeyMaterial, keyTypes: readonly number[]): KeyObject {
  if (key.kind !== 'secret' || !keyTypes.includes(key.keyType)) {
    throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'the key is not a secret key of a type this mechanism accepts');
  }
  return key.key;
}

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_GENERIC_SECRET_KEY_GEN,
    keyTypes: [P.CKK_GENERIC_SECRET],
    minKeySize: 1,
    maxKeySize: GENERIC_SECRET_MAX_BYTES,
    keySizeUnit: 'bytes',
    flags: P.CKF_GENERATE,
    async generateKey(lengthBytes: number) {
      // The core has checked the range; a non-integer would make randomBytes throw a RangeError.
      if (!Number.isInteger(lengthBytes) || lengthBytes < 1 || lengthBytes > GENERIC_SECRET_MAX_BYTES) {
        throw new HsmError('ERR_KEY_SIZE_RANGE', 'generic secret length must be 1 to 800 bytes');
      }
      return { value: randomBytes(lengthBytes) };
    },
  },
];
