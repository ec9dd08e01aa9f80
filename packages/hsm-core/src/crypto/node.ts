/**
 * @module The one door from the pure core to `node:crypto`.
 *
 * hsm-core does no I/O. Cryptographic primitives are not I/O, but keeping every
 * `node:crypto` import in this file means a later port (WebCrypto, a worker
 * pool, a FIPS provider) changes one file, and tools/check-imports.ts can
 * enforce the boundary mechanically.
 */
export {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSign,
  createVerify,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  ECDH,
  generateKeyPair,
  generateKeyPairSync,
  getCurves,
  hkdfSync,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  randomFillSync,
  randomUUID,
  scrypt,
  sign,
  timingSafeEqual,
  verify,
  constants,
  KeyObject,
  X509Certificate,
} from 'node:crypto';
export type { CipherGCM, DecipherGCM, JsonWebKey, ScryptOptions, SignKeyObjectInput, VerifyKeyObjectInput } from 'node:crypto';
