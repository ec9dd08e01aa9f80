/**
 * @module What one mechanism can do, as data plus functions.
 *
 * Each mechanism family (aes.ts, rsa.ts, ...) exports a list of `Mechanism`
 * entries; index.ts is the one registration table. A capability that an entry
 * leaves out is answered by the core with CKR_MECHANISM_INVALID, in the manner
 * of kryoptic's default trait methods.
 *
 * The core checks, before calling an entry: that the key's CKK_* type is in
 * `keyTypes`, that its size is in [minKeySize, maxKeySize] (in `keySizeUnit`,
 * as CK_MECHANISM_INFO reports it), and that the key's usage attribute allows
 * the operation. Entries check their own parameters and data lengths and throw
 * HsmError with the standard code (ERR_MECHANISM_PARAM_INVALID,
 * ERR_DATA_LEN_RANGE, ERR_ENCRYPTED_DATA_INVALID, ...).
 */
import type { KeyObject } from '../crypto/node.js';

export type Bytes = Uint8Array;

/** Key material as a mechanism sees it. Never serialised by a mechanism. */
export type KeyMaterial =
  /* A secret key's value lives in the KeyObject (outside the JavaScript heap); `secretMaterial` (generic.ts) makes one. */
  | { readonly kind: 'secret'; readonly keyType: number; readonly key: KeyObject }
  | { readonly kind: 'private'; readonly keyType: number; readonly key: KeyObject; readonly publicKey: KeyObject }
  | { readonly kind: 'public'; readonly keyType: number; readonly key: KeyObject };

/**
 * Mechanism parameters, decoded from the CK_*_PARAMS structures into one flat,
 * typed record. Which fields a mechanism reads is documented in its family file.
 */
export interface MechanismParams {
  /** CBC / CBC_PAD / DES3 IV; CTR initial counter block (16 bytes); GCM IV. */
  readonly iv?: Bytes;
  /** CK_AES_CTR_PARAMS.ulCounterBits */
  readonly counterBits?: number;
  /** CK_GCM_PARAMS.pAAD */
  readonly aad?: Bytes;
  /** CK_GCM_PARAMS.ulTagBits */
  readonly tagBits?: number;
  /** PSS / OAEP hashAlg: a CKM_SHA* digest mechanism. */
  readonly hashAlg?: number;
  /** PSS / OAEP mgf: a CKG_MGF1_* value. */
  readonly mgf?: number;
  /** CK_RSA_PKCS_PSS_PARAMS.sLen */
  readonly saltLen?: number;
  /** CK_RSA_PKCS_OAEP_PARAMS.pSourceData (the OAEP label). */
  readonly sourceData?: Bytes;
  /** CK_ECDH1_DERIVE_PARAMS.kdf: a CKD_* value. */
  readonly kdf?: number;
  /** CK_ECDH1_DERIVE_PARAMS.pSharedData */
  readonly sharedData?: Bytes;
  /** CK_ECDH1_DERIVE_PARAMS.pPublicData: the peer's EC point (raw or DER OCTET STRING). */
  readonly publicData?: Bytes;
  /** CK_RSA_AES_KEY_WRAP_PARAMS.ulAESKeyBits */
  readonly aesKeyBits?: number;
  /**
   * Derivation output length in bytes: the CKA_VALUE_LEN (or the key type's
   * fixed length) of the key the core is deriving. Set by the core, not decoded
   * from a CK_*_PARAMS structure. Read by derivations whose output length is
   * open, such as CKM_ECDH1_DERIVE with an ANSI X9.63 KDF; when absent they
   * produce their natural length (one hash output).
   */
  readonly length?: number;
}

export interface GeneratedSecret {
  readonly value: Buffer;
}

export interface GeneratedPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Inputs to key-pair generation, taken from the public-key template. */
export interface KeyPairSpec {
  /** CKA_MODULUS_BITS (RSA) */
  readonly modulusBits?: number;
  /** CKA_PUBLIC_EXPONENT (RSA), big-endian */
  readonly publicExponent?: Bytes;
  /** CKA_EC_PARAMS (EC, Edwards, Montgomery): DER OID (or v3.0 printable string) */
  readonly ecParams?: Bytes;
}

/** The operations that have a multi-part (streamed) form: C_DigestUpdate, C_SignUpdate, ... */
export type MultiPartKind = 'digest' | 'sign' | 'verify' | 'encrypt' | 'decrypt';

/**
 * One multi-part operation in progress (PKCS#11 v2.40 Base §5.8-5.12). It
 * holds at most one block of input between calls, so its memory does not
 * grow with the data. Errors are thrown as HsmError with the same codes as
 * the single-part function; after an error the context must be dropped.
 */
export interface MultiPart {
  /**
   * Feed one part. Returns the output it releases: for encrypt and decrypt,
   * the whole blocks processed so far (never more than the part's length
   * rounded up to whole 16-byte blocks); for digest, sign and verify, nothing.
   */
  update(data: Bytes): Buffer;
  /** Finish: the last output (encrypt, decrypt), the digest (digest) or the signature/MAC (sign). */
  final(): Buffer;
  /** Finish a verify: whether `signature` is right (false for a wrong one, as `verify`). */
  verifyFinal?(signature: Bytes): boolean;
}

export interface Mechanism {
  /** CKM_* value */
  readonly mechanism: number;
  /** CKK_* key types this mechanism accepts (empty for digests). */
  readonly keyTypes: readonly number[];
  /** CK_MECHANISM_INFO.ulMinKeySize / ulMaxKeySize, in keySizeUnit. */
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly keySizeUnit: 'bits' | 'bytes';
  /** CK_MECHANISM_INFO.flags (CKF_ENCRYPT | CKF_SIGN | ...). Must match the functions present. */
  readonly flags: number;

  /** Secret-key generation; `lengthBytes` already checked against min/max. */
  generateKey?(lengthBytes: number): Promise<GeneratedSecret>;
  generateKeyPair?(spec: KeyPairSpec): Promise<GeneratedPair>;

  sign?(key: KeyMaterial, data: Bytes, params: MechanismParams): Promise<Buffer>;
  /** Resolves false for a wrong signature; throws only for malformed input. */
  verify?(key: KeyMaterial, data: Bytes, signature: Bytes, params: MechanismParams): Promise<boolean>;
  encrypt?(key: KeyMaterial, data: Bytes, params: MechanismParams): Promise<Buffer>;
  decrypt?(key: KeyMaterial, data: Bytes, params: MechanismParams): Promise<Buffer>;
  /** Wrap serialised key bytes (CKA_VALUE of a secret key, PKCS#8 DER of a private key). */
  wrap?(wrappingKey: KeyMaterial, keyBytes: Bytes, params: MechanismParams): Promise<Buffer>;
  unwrap?(unwrappingKey: KeyMaterial, wrapped: Bytes, params: MechanismParams): Promise<Buffer>;
  /** Key derivation: the raw derived secret; the core truncates to CKA_VALUE_LEN. */
  derive?(baseKey: KeyMaterial, params: MechanismParams): Promise<Buffer>;
  digest?(data: Bytes): Promise<Buffer>;
  /**
   * The multi-part form of `kind` (one of the functions above, which must be
   * present too), or absent when this mechanism has none (the client then
   * buffers the parts and calls the single-part function once). `key` is
   * undefined for a digest. Checks parameters as the single-part call does.
   */
  multiPart?(kind: MultiPartKind, key: KeyMaterial | undefined, params: MechanismParams): MultiPart;
  /** The kinds `multiPart` serves, when not every kind the mechanism offers (AES-GCM: encrypt only). */
  readonly multiPartKinds?: readonly MultiPartKind[];
}
