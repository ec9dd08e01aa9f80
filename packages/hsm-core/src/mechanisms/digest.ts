/**
 * @module Message digests: CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512.
 *
 * PKCS#11 v2.40 Current Mechanisms, sections "SHA-1", "SHA-224",
 * "SHA-256", "SHA-384" and "SHA-512": digesting only, no key, no parameter. The
 * algorithms are FIPS 180-4's. `digestNameOf` is shared with the families that
 * name a hash by its CKM_SHA* value (PSS/OAEP hashAlg, ECDSA/RSA with SHA-x).
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { createHash } from '../crypto/node.js';
import { HASHES, hashByMechanism } from './hashes.js';
import type { Bytes, Mechanism } from './types.js';

const EMPTY = Buffer.alloc(0);

/** The node:crypto hash name of a CKM_SHA* digest mechanism, or undefined for any other value. */
export function digestNameOf(ckm: number): string | undefined {
  return hashByMechanism(ckm)?.name;
}

function digestEntry(mechanism: number, hash: string): Mechanism {
  return {
    mechanism,
    keyTypes: [],
    minKeySize: 0,
    maxKeySize: 0,
    keySizeUnit: 'bytes',
    flags: P.CKF_DIGEST,
    async digest(data: Bytes) {
      return createHash(hash).update(data).digest();
    },
    multiPart() {
      const h = createHash(hash);
      return { update: (data) => (h.update(data), EMPTY), final: () => h.digest() };
    },
  };
}

export const MECHANISMS: readonly Mechanism[] = HASHES.map((h) => digestEntry(h.ckm, h.name));
