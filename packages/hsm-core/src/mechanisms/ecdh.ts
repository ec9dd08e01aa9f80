/**
 * @module Elliptic-curve Diffie-Hellman: CKM_ECDH1_DERIVE.
 *
 * PKCS#11 v2.40 Current Mechanisms §2.3.10 (CKM_ECDH1_DERIVE) with
 * CK_ECDH1_DERIVE_PARAMS: `kdf` (CKD_NULL or CKD_SHA1/224/256/384/512_KDF),
 * `sharedData` (must be empty with CKD_NULL), `publicData` (the peer's point, raw
 * or in a DER OCTET STRING). The primitive is the SP 800-56A / ANSI X9.63
 * ECC CDH (the x-coordinate of d·Q, padded to the field length) on the
 * Weierstrass curves, and X25519 (RFC 7748 §5, via PKCS#11 v3.0's Montgomery
 * keys) on Curve25519. The KDFs are the ANSI X9.63 §3.6.1 one:
 * K = Hash(Z ‖ counter₃₂ ‖ SharedInfo) ‖ ..., counter from 1.
 *
 * Curves: those with `canDerive` in curves.ts. The output is the raw secret
 * (CKD_NULL) or `params.length` KDF bytes (one hash output if not given); the
 * core truncates to CKA_VALUE_LEN.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { createHash, diffieHellman } from '../crypto/node.js';
import { CURVES } from './curves.js';
import { curveOfKey, publicKeyFromPoint } from './ec.js';
import { hashByKdf, type HashInfo } from './hashes.js';
import type { KeyMaterial, Mechanism, MechanismParams } from './types.js';

/** ANSI X9.63 §3.6.1 key derivation function. */
export function x963Kdf(hash: HashInfo, z: Uint8Array, sharedInfo: Uint8Array, length: number): Buffer {
  const blocks = Math.ceil(length / hash.len);
  const out = Buffer.alloc(blocks * hash.len);
  const counter = Buffer.alloc(4);
  for (let i = 0; i < blocks; i++) {
    counter.writeUInt32BE(i + 1);
    createHash(hash.name).update(z).update(counter).update(sharedInfo).digest().copy(out, i * hash.len);
  }
  const result = Buffer.from(out.subarray(0, length));
  out.fill(0);
  return result;
}

/** The longest KDF output offered: the largest CKK_GENERIC_SECRET value (Azure guide §2.1). */
const MAX_KDF_OUTPUT = 3072;

async function ecdh1Derive(baseKey: KeyMaterial, params: MechanismParams): Promise<Buffer> {
  if (baseKey.kind !== 'private') throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', 'ECDH needs a private base key');
  const curve = curveOfKey(baseKey.key);
  if (!curve.canDerive) throw new HsmError('ERR_KEY_TYPE_INCONSISTENT', `ECDH is not offered on ${curve.name}`);

  const kdf = params.kdf ?? P.CKD_NULL;
  const hash = kdf === P.CKD_NULL ? undefined : hashByKdf(kdf);
  if (kdf !== P.CKD_NULL && !hash) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'kdf must be CKD_NULL or CKD_SHA1/SHA224/SHA256/SHA384/SHA512_KDF');
  const sharedData = params.sharedData ?? new Uint8Array(0);
  if (!hash && sharedData.length > 0) throw new HsmError('ERR_MECHANISM_PARAM_INVALID', 'CKD_NULL takes no shared data');
  let length = 0;
  if (hash) {
    length = params.length ?? hash.len;
    if (!Number.isInteger(length) || length < 1 || length > MAX_KDF_OUTPUT) {
      throw new HsmError('ERR_MECHANISM_PARAM_INVALID', `the derived length must be 1 to ${MAX_KDF_OUTPUT} bytes`);
    }
  }
  if (!params.publicData || params.publicData.length === 0) {
    throw new HsmError('ERR_MECHANISM_PARAM_INVALID', "pPublicData (the peer's public point) is required");
  }

  const peer = publicKeyFromPoint(curve, params.publicData, 'ERR_MECHANISM_PARAM_INVALID');
  let z: Buffer;
  try {
    z = diffieHellman({ privateKey: baseKey.key, publicKey: peer });
  } catch (cause) {
    // e.g. an X25519 point of small order, whose shared value is all zero
    throw new HsmError('ERR_MECHANISM_PARAM_INVALID', "the peer's public point gives no shared secret", { cause });
  }
  if (!hash) return z;
  try {
    return x963Kdf(hash, z, sharedData, length);
  } finally {
    z.fill(0);
  }
}

const DERIVING = CURVES.filter((c) => c.canDerive);

export const MECHANISMS: readonly Mechanism[] = [
  {
    mechanism: P.CKM_ECDH1_DERIVE,
    keyTypes: [P.CKK_EC, P.CKK_EC_MONTGOMERY],
    minKeySize: Math.min(...DERIVING.map((c) => c.bits)),
    maxKeySize: Math.max(...DERIVING.map((c) => c.bits)),
    keySizeUnit: 'bits',
    flags: P.CKF_DERIVE | P.CKF_EC_F_P | P.CKF_EC_NAMEDCURVE | P.CKF_EC_UNCOMPRESS,
    derive: ecdh1Derive,
  },
];
