/**
 * @module Raw RSA: CKM_RSA_X_509 (encrypt and decrypt).
 *
 * PKCS#11 v2.40 Current Mechanisms §2.1.7 (X.509, raw RSA): encryption takes
 * at most k bytes (k = modulus length), padded on the left with zeros to k, and
 * gives k bytes; decryption takes exactly k bytes and gives k bytes. The
 * integer must be smaller than the modulus (ERR_DATA_INVALID /
 * ERR_ENCRYPTED_DATA_INVALID otherwise). The primitive is OpenSSL's
 * RSA_NO_PADDING (blinded for the private key).
 *
 * The key's usage rules are the core's (CKA_ENCRYPT, CKA_DECRYPT). Note what a
 * raw private-key operation is: decrypting any value also makes a signature of
 * it, so a key whose CKA_DECRYPT is TRUE can, through this mechanism, sign.
 * No sign, verify, wrap or unwrap is offered with it.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { constants, privateDecrypt, publicEncrypt } from '../crypto/node.js';
import { modulusBytes, privateOf, publicOf, RSA } from './rsa.js';
import type { Mechanism } from './types.js';

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_RSA_X_509,
    ...RSA,
    flags: P.CKF_ENCRYPT | P.CKF_DECRYPT,
    async encrypt(key, data) {
      const pub = publicOf(key);
      const k = modulusBytes(pub);
      if (data.length > k) throw new HsmError('ERR_DATA_LEN_RANGE', `CKM_RSA_X_509 encrypts at most ${k} bytes with this key`);
      const block = Buffer.alloc(k);
      block.set(data, k - data.length);
      try {
        return publicEncrypt({ key: pub, padding: constants.RSA_NO_PADDING }, block);
      } catch {
        throw new HsmError('ERR_DATA_INVALID', 'the data is not smaller than the modulus');
      }
    },
    async decrypt(key, data) {
      const priv = privateOf(key);
      const k = modulusBytes(priv);
      if (data.length !== k) throw new HsmError('ERR_ENCRYPTED_DATA_LEN_RANGE', `the ciphertext must be ${k} bytes`);
      let out: Buffer;
      try {
        out = privateDecrypt({ key: priv, padding: constants.RSA_NO_PADDING }, data);
      } catch {
        throw new HsmError('ERR_ENCRYPTED_DATA_INVALID', 'the ciphertext is not smaller than the modulus');
      }
      if (out.length === k) return out;
      const full = Buffer.alloc(k);
      full.set(out, k - out.length);
      out.fill(0);
      return full;
    },
  },
];
