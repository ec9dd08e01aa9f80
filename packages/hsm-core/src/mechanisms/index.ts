/**
 * @module The one registration table of mechanisms.
 *
 * Each family file exports its entries; this list is the only place that says
 * what the HSM offers, so C_GetMechanismList, the CLIs and the docs all read
 * the same thing (kryoptic's enabled.rs, jose's jws_algorithms.ts).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { ckmName } from '../../../protocol/src/names.js';
import type { Mechanism } from './types.js';
import { MECHANISMS as AES } from './aes.js';
import { MECHANISMS as AES_CCM } from './aes_ccm.js';
import { MECHANISMS as AES_CMAC } from './aes_cmac.js';
import { MECHANISMS as AES_WRAP_VENDOR } from './aes_wrap_vendor.js';
import { MECHANISMS as DES3 } from './des3.js';
import { MECHANISMS as DES3_WRAP } from './des3_wrap.js';
import { MECHANISMS as DIGEST } from './digest.js';
import { MECHANISMS as EC } from './ec.js';
import { MECHANISMS as ECDH } from './ecdh.js';
import { MECHANISMS as GENERIC } from './generic.js';
import { MECHANISMS as HMAC } from './hmac.js';
import { MECHANISMS as RSA } from './rsa.js';
import { MECHANISMS as RSA_X_509 } from './rsa_x509.js';

export const FAMILIES: Readonly<Record<string, readonly Mechanism[]>> = { AES, AES_CCM, AES_CMAC, AES_WRAP_VENDOR, DES3, DES3_WRAP, DIGEST, EC, ECDH, GENERIC, HMAC, RSA, RSA_X_509 };

const REGISTRY = new Map<number, Mechanism>();
for (const [family, list] of Object.entries(FAMILIES)) {
  for (const m of list) {
    if (REGISTRY.has(m.mechanism)) throw new Error(`${ckmName(m.mechanism)} is registered twice (second time by ${family})`);
    REGISTRY.set(m.mechanism, m);
  }
}

/** All registered mechanisms, in ascending CKM_* order (as C_GetMechanismList returns them). */
export function listMechanisms(): Mechanism[] {
  return [...REGISTRY.values()].sort((a, b) => a.mechanism - b.mechanism);
}

export function findMechanism(mechanism: number): Mechanism | undefined {
  return REGISTRY.get(mechanism);
}

export function getMechanism(mechanism: number): Mechanism {
  const m = REGISTRY.get(mechanism);
  if (!m) throw new HsmError('ERR_MECHANISM_INVALID', `${ckmName(mechanism)} is not supported by this HSM`);
  return m;
}
