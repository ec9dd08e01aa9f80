/**
 * @module The numeric ids azcloudhsm_util takes on its command line, as tables:
 * ECC curve ids (`genECCKeyPair -i`), signature mechanisms (`sign`/`verify -m`),
 * key types (`genSymKey -t`, `findKey -t`), key classes (`findKey -c`) and
 * wrapping mechanisms (`wrapKey -m`).
 *
 * Source: the Azure Cloud HSM onboarding guide (the Cavium/Marvell key_mgmt_util
 * family), the Azure Cloud HSM OpenSSL guide (2 = P-256, 28 = Ed25519). Decision (docs/cli.md):
 * id 14 is secp384r1 as in the family's tables, not NID_sect571r1 as the
 * onboarding guide's prose says; sect571r1 is 12, and binary curves (3–12) are
 * listed but not supported.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { curveByName, type Curve } from '../../../protocol/src/curves.js';

export interface CurveId {
  readonly id: number;
  /** The OpenSSL name (NID short name). */
  readonly name: string;
  /** Our curve row, or undefined when OpenCloudHSM does not offer the curve. */
  readonly curve: Curve | undefined;
  /** Bytes of a private scalar / private key on this curve (SEC1 privateKey length). */
  readonly privLen: number;
}

const c = (id: number, name: string, ours: string | undefined, privLen: number): CurveId => ({
  id, name, curve: ours === undefined ? undefined : curveByName(ours), privLen,
});

export const CURVE_IDS: readonly CurveId[] = [
  c(1, 'prime192v1', 'P-192', 24),
  c(2, 'prime256v1', 'P-256', 32),
  c(3, 'sect163k1', undefined, 21),
  c(4, 'sect163r2', undefined, 21),
  c(5, 'sect233k1', undefined, 29),
  c(6, 'sect233r1', undefined, 30),
  c(7, 'sect283k1', undefined, 36),
  c(8, 'sect283r1', undefined, 36),
  c(9, 'sect409k1', undefined, 51),
  c(10, 'sect409r1', undefined, 52),
  c(11, 'sect571k1', undefined, 72),
  c(12, 'sect571r1', undefined, 72),
  c(13, 'secp224r1', 'P-224', 28),
  c(14, 'secp384r1', 'P-384', 48),
  c(15, 'secp521r1', 'P-521', 66),
  c(16, 'secp256k1', 'secp256k1', 32),
  c(28, 'ED25519', 'Ed25519', 32),
];

export function curveById(id: number): CurveId | undefined {
  return CURVE_IDS.find((x) => x.id === id);
}

/** The curve id row whose CKA_EC_PARAMS (DER OID) is `oidDer` (hex). */
export function curveByOid(oidDerHex: string): CurveId | undefined {
  return CURVE_IDS.find((x) => x.curve !== undefined && x.curve.oidDer === oidDerHex);
}

export interface SignMech {
  readonly id: number;
  readonly name: string;
  readonly ckm: number;
  /** For the PSS mechanisms: the hash (CKM_SHA*), MGF1 and salt length (= hash length). */
  readonly pss?: { readonly hashAlg: number; readonly mgf: number; readonly saltLen: number };
  /** Not in the family's table: an OpenCloudHSM addition. */
  readonly addition?: boolean;
}

const pss = (hashAlg: number, mgf: number, saltLen: number) => ({ hashAlg, mgf, saltLen });

export const SIGN_MECHS: readonly SignMech[] = [
  { id: 0, name: 'SHA1_RSA_PKCS', ckm: P.CKM_SHA1_RSA_PKCS },
  { id: 1, name: 'SHA256_RSA_PKCS', ckm: P.CKM_SHA256_RSA_PKCS },
  { id: 2, name: 'SHA384_RSA_PKCS', ckm: P.CKM_SHA384_RSA_PKCS },
  { id: 3, name: 'SHA512_RSA_PKCS', ckm: P.CKM_SHA512_RSA_PKCS },
  { id: 4, name: 'SHA224_RSA_PKCS', ckm: P.CKM_SHA224_RSA_PKCS },
  { id: 5, name: 'SHA1_RSA_PKCS_PSS', ckm: P.CKM_SHA1_RSA_PKCS_PSS, pss: pss(P.CKM_SHA_1, P.CKG_MGF1_SHA1, 20) },
  { id: 6, name: 'SHA256_RSA_PKCS_PSS', ckm: P.CKM_SHA256_RSA_PKCS_PSS, pss: pss(P.CKM_SHA256, P.CKG_MGF1_SHA256, 32) },
  { id: 7, name: 'SHA384_RSA_PKCS_PSS', ckm: P.CKM_SHA384_RSA_PKCS_PSS, pss: pss(P.CKM_SHA384, P.CKG_MGF1_SHA384, 48) },
  { id: 8, name: 'SHA512_RSA_PKCS_PSS', ckm: P.CKM_SHA512_RSA_PKCS_PSS, pss: pss(P.CKM_SHA512, P.CKG_MGF1_SHA512, 64) },
  { id: 9, name: 'SHA224_RSA_PKCS_PSS', ckm: P.CKM_SHA224_RSA_PKCS_PSS, pss: pss(P.CKM_SHA224, P.CKG_MGF1_SHA224, 28) },
  { id: 15, name: 'ECDSA_SHA1', ckm: P.CKM_ECDSA_SHA1 },
  { id: 16, name: 'ECDSA_SHA224', ckm: P.CKM_ECDSA_SHA224 },
  { id: 17, name: 'ECDSA_SHA256', ckm: P.CKM_ECDSA_SHA256 },
  { id: 18, name: 'ECDSA_SHA384', ckm: P.CKM_ECDSA_SHA384 },
  { id: 19, name: 'ECDSA_SHA512', ckm: P.CKM_ECDSA_SHA512 },
  { id: 20, name: 'EDDSA (Ed25519)', ckm: P.CKM_EDDSA, addition: true },
];

export function signMechById(id: number): SignMech | undefined {
  return SIGN_MECHS.find((m) => m.id === id);
}

export interface SymKeyType {
  readonly id: number;
  readonly name: string;
  /** CKK_*; undefined when not supported (RC4). */
  readonly ckk: number | undefined;
  readonly genMech?: number;
  /** Valid `-s` values in bytes, as text for messages, and the check. */
  readonly sizes: string;
  readonly validSize: (n: number) => boolean;
}

/** `genSymKey -t` (the Azure Cloud HSM guides): -s is in bytes. */
export const SYM_KEY_TYPES: readonly SymKeyType[] = [
  { id: 16, name: 'GENERIC_SECRET', ckk: P.CKK_GENERIC_SECRET, genMech: P.CKM_GENERIC_SECRET_KEY_GEN, sizes: '1 to 3072', validSize: (n) => n >= 1 && n <= 3072 },
  { id: 18, name: 'RC4', ckk: undefined, sizes: 'none (RC4 is not supported)', validSize: () => false },
  { id: 21, name: 'DES3', ckk: P.CKK_DES3, genMech: P.CKM_DES3_KEY_GEN, sizes: '24', validSize: (n) => n === 24 },
  { id: 31, name: 'AES', ckk: P.CKK_AES, genMech: P.CKM_AES_KEY_GEN, sizes: '16, 24 or 32', validSize: (n) => n === 16 || n === 24 || n === 32 },
];

export function symKeyTypeById(id: number): SymKeyType | undefined {
  return SYM_KEY_TYPES.find((t) => t.id === id);
}

/** `findKey -t`: the key types, as CKK numbers (the Cavium ids are the same). */
export const KEY_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [P.CKK_RSA, 'RSA'],
  [P.CKK_DSA, 'DSA'],
  [P.CKK_EC, 'EC'],
  [P.CKK_GENERIC_SECRET, 'GENERIC_SECRET'],
  [P.CKK_RC4, 'RC4'],
  [P.CKK_DES3, 'DES3'],
  [P.CKK_AES, 'AES'],
  [P.CKK_EC_EDWARDS, 'EC_EDWARDS (Ed25519)'],
  [P.CKK_EC_MONTGOMERY, 'EC_MONTGOMERY (X25519)'],
]);

/** `findKey -c`: 2 public, 3 private, 4 secret (CKO numbers). */
export const KEY_CLASS_NAMES: ReadonlyMap<number, string> = new Map([
  [P.CKO_PUBLIC_KEY, 'public'],
  [P.CKO_PRIVATE_KEY, 'private'],
  [P.CKO_SECRET_KEY, 'secret'],
]);

export interface WrapMech {
  readonly id: number;
  readonly name: string;
  readonly ckm: number;
  /** The wrapping key is an RSA public key (7, 8); otherwise an AES key. */
  readonly rsa: boolean;
}

/** `wrapKey`/`unWrapKey -m` (the family's numbering); 6 is the default. */
export const WRAP_MECHS: readonly WrapMech[] = [
  { id: 5, name: 'NIST_AES_WRAP_NO_PAD', ckm: P.CKM_AES_KEY_WRAP, rsa: false },
  { id: 6, name: 'NIST_AES_WRAP_PAD', ckm: P.CKM_AES_KEY_WRAP_PAD, rsa: false },
  { id: 7, name: 'RSA_AES', ckm: P.CKM_RSA_AES_KEY_WRAP, rsa: true },
  { id: 8, name: 'RSA_OAEP', ckm: P.CKM_RSA_PKCS_OAEP, rsa: true },
];
export const DEFAULT_WRAP_MECH = 6;
/** Ids of the family that OpenCloudHSM does not implement. */
export const UNSUPPORTED_WRAP_MECHS: ReadonlyMap<number, string> = new Map([
  [4, 'AES_KEY_WRAP_PAD_PKCS5'],
  [9, 'NIST_TDEA_WRAP'],
  [10, 'AES_GCM'],
  [11, 'CLOUDHSM_AES_GCM'],
]);

export function wrapMechById(id: number): WrapMech | undefined {
  return WRAP_MECHS.find((m) => m.id === id);
}

/** `wrapKey -t` hash ids for RSA_AES / RSA_OAEP: the OAEP hash and MGF1. */
export const OAEP_HASHES: ReadonlyMap<number, { readonly name: string; readonly hashAlg: number; readonly mgf: number }> = new Map([
  [2, { name: 'SHA1', hashAlg: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1 }],
  [3, { name: 'SHA256', hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256 }],
  [4, { name: 'SHA384', hashAlg: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384 }],
  [5, { name: 'SHA512', hashAlg: P.CKM_SHA512, mgf: P.CKG_MGF1_SHA512 }],
  [6, { name: 'SHA224', hashAlg: P.CKM_SHA224, mgf: P.CKG_MGF1_SHA224 }],
]);
export const DEFAULT_OAEP_HASH = 3;
