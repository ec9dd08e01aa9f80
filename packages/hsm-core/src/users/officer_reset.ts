/**
 * @module Resetting a crypto officer's password with the partition owner's
 * key (PO.key), the recovery the Azure Cloud HSM onboarding guide describes:
 * whoever holds the owner's private key may reset a CO password, so a CO
 * locked out by strangers (or one that forgot its password) is never lost.
 *
 * No sign-in and nothing stored is needed. The node answers `getChallenge`
 * with a challenge derived from the CO's current password salt, the
 * partition serial and the node's time. The owner signs the reset message
 * (RSA PKCS#1 v1.5 with SHA-256, as `openssl dgst -sha256 -sign PO.key` does)
 * over that challenge and the SHA-256 of the new password; the node checks
 * the signature against the stored PO.crt. The reset gives the CO a new salt,
 * so a signature works once; a challenge older than RESET_WINDOW_MS is refused.
 */
import { createHash, createPublicKey, verify } from '../crypto/node.js';
import { HsmError } from '../../../protocol/src/errors.js';
import type { UserRecord } from './users.js';
import { resetMessageBytes, type ResetChallenge } from '../../../protocol/src/officer_reset.js';

/** How long a challenge may be used after the node issued it. */
export const RESET_WINDOW_MS = 10 * 60_000;

export type { ResetChallenge };

export function challengeFor(rec: Pick<UserRecord, 'name' | 'salt'>, serial: string, time: number): ResetChallenge {
  const challenge = createHash('sha256').update(`ochsm co reset challenge\0${serial}\0${rec.name}\0${rec.salt}\0${time}`).digest('hex');
  return { user: rec.name, serial, time, challenge };
}

/** The exact bytes the partition owner signs. */
export function resetMessage(c: ResetChallenge, newPassword: string): Buffer {
  return resetMessageBytes(c, createHash('sha256').update(newPassword, 'utf8').digest('hex'));
}

/**
 * Check a reset request against the CO's current record and the stored PO.crt;
 * throws the specific refusal.
 */
export function checkReset(args: { rec: UserRecord | undefined; poCert: Uint8Array | undefined; serial: string; now: number; time: number; newPassword: string; signature: Uint8Array }): void {
  const { rec, poCert } = args;
  if (!poCert) throw new HsmError('ERR_PARTITION_STATE', 'the partition has no owner certificate (PO.crt) yet, so no password can be reset with the owner key');
  if (!rec) throw new HsmError('ERR_USER_NOT_FOUND', 'no such crypto officer');
  if (rec.role !== 'CO') throw new HsmError('ERR_NOT_PERMITTED', `${rec.name} is a ${rec.role}; the partition owner key resets a crypto officer's password (a CO resets a CU's with changePswd and unlocks it with unlockUser)`);
  if (!Number.isSafeInteger(args.time) || args.time > args.now + 1000 || args.now - args.time > RESET_WINDOW_MS) {
    throw new HsmError('ERR_ARGUMENTS_BAD', `the reset challenge has expired (valid for ${RESET_WINDOW_MS / 60_000} minutes); ask for a new one with getChallenge`);
  }
  const msg = resetMessage(challengeFor(rec, args.serial, args.time), args.newPassword);
  let ok = false;
  try {
    ok = verify('sha256', msg, createPublicKey(Buffer.from(poCert)), Buffer.from(args.signature));
  } catch {
    ok = false;
  }
  if (!ok) throw new HsmError('ERR_SIGNATURE_INVALID', 'the reset is not signed by the partition owner key (PO.key) over the current challenge; sign a fresh challenge from getChallenge with the PO.key that matches PO.crt');
}
