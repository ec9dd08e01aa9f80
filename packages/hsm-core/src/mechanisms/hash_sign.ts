/**
 * @module The multi-part form of the signatures that hash their input
 * (CKM_SHA*_RSA_PKCS, CKM_SHA*_RSA_PKCS_PSS, CKM_ECDSA_SHA*): node:crypto's
 * streaming Sign / Verify hash each part as it comes, so a context holds a
 * hash state and the key, never the data. The key and parameters are checked
 * when the context is made, as the single-part call checks them.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { createSign, createVerify, type SignKeyObjectInput, type VerifyKeyObjectInput } from '../crypto/node.js';
import type { Bytes, MultiPart, MultiPartKind } from './types.js';

const EMPTY = Buffer.alloc(0);

export interface HashSignSpec {
  /** node:crypto hash name. */
  readonly hash: string;
  /** The private key with its padding or encoding (checked when called, at init). */
  readonly signKey: () => SignKeyObjectInput;
  /** The public key with its padding or encoding (checked when called, at init). */
  readonly verifyKey: () => VerifyKeyObjectInput;
  /** Throws ERR_SIGNATURE_LEN_RANGE for a signature of the wrong length. */
  readonly checkSignature: (signature: Bytes) => void;
}

export function hashSignStream(kind: MultiPartKind, spec: HashSignSpec): MultiPart {
  if (kind === 'sign') {
    const key = spec.signKey();
    const s = createSign(spec.hash);
    return {
      update: (data) => (s.update(data), EMPTY),
      final: () => {
        try {
          return s.sign(key);
        } catch (e) {
          throw new HsmError('ERR_GENERAL', 'signing failed', { cause: e });
        }
      },
    };
  }
  if (kind === 'verify') {
    const key = spec.verifyKey();
    const v = createVerify(spec.hash);
    return {
      update: (data) => (v.update(data), EMPTY),
      final: () => {
        throw new HsmError('ERR_ARGUMENTS_BAD', 'a multi-part verify ends with the signature');
      },
      verifyFinal: (signature) => {
        spec.checkSignature(signature);
        try {
          return v.verify(key, signature);
        } catch {
          return false;
        }
      },
    };
  }
  throw new HsmError('ERR_MECHANISM_INVALID', `a signature mechanism cannot ${kind}`);
}
