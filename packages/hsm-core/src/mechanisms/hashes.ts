/**
 * @module The hash table of the core (digests, RSA, EC, ECDH).
 *
 * PKCS#11 names a hash in three ways: a digest mechanism (CKM_SHA256, in
 * CK_RSA_PKCS_PSS_PARAMS.hashAlg and CK_RSA_PKCS_OAEP_PARAMS.hashAlg), a mask
 * generation function (CKG_MGF1_SHA256, in the same structures' mgf), and a key
 * derivation function (CKD_SHA256_KDF, in CK_ECDH1_DERIVE_PARAMS.kdf). One row
 * per hash ties the three to node:crypto's name and the output length (FIPS
 * 180-4), so "the MGF1 hash must equal hashAlg" is a comparison of rows.
 *
 * The one hash table of the core: digest.ts builds its CKM_SHA* entries from it.
 */
import * as P from '../../../protocol/src/pkcs11.js';

export interface HashInfo {
  /** CKM_SHA_1, CKM_SHA224, ... */
  readonly ckm: number;
  /** CKG_MGF1_SHA1, ... */
  readonly mgf: number;
  /** CKD_SHA1_KDF, ... (ANSI X9.63 KDF with this hash) */
  readonly kdf: number;
  /** node:crypto hash name */
  readonly name: 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
  /** output length in bytes */
  readonly len: number;
}

export const HASHES: readonly HashInfo[] = [
  { ckm: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1, kdf: P.CKD_SHA1_KDF, name: 'sha1', len: 20 },
  { ckm: P.CKM_SHA224, mgf: P.CKG_MGF1_SHA224, kdf: P.CKD_SHA224_KDF, name: 'sha224', len: 28 },
  { ckm: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, kdf: P.CKD_SHA256_KDF, name: 'sha256', len: 32 },
  { ckm: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384, kdf: P.CKD_SHA384_KDF, name: 'sha384', len: 48 },
  { ckm: P.CKM_SHA512, mgf: P.CKG_MGF1_SHA512, kdf: P.CKD_SHA512_KDF, name: 'sha512', len: 64 },
];

/** The row of a CKM_SHA* digest mechanism, or undefined. */
export function hashByMechanism(ckm: number | undefined): HashInfo | undefined {
  return HASHES.find((h) => h.ckm === ckm);
}

/** The row of a CKG_MGF1_* value, or undefined. */
export function hashByMgf(mgf: number | undefined): HashInfo | undefined {
  return HASHES.find((h) => h.mgf === mgf);
}

/** The row of a CKD_SHA*_KDF value, or undefined (CKD_NULL has none). */
export function hashByKdf(kdf: number | undefined): HashInfo | undefined {
  return HASHES.find((h) => h.kdf === kdf);
}

/** The row of a node:crypto hash name, or undefined. */
export function hashByName(name: string): HashInfo | undefined {
  return HASHES.find((h) => h.name === name);
}
