/**
 * @module The bytes a partition owner signs with PO.key to reset a crypto officer's password
 * (`getChallenge`/`unlockCO`, docs/protocol.md §6.3). One home for the format: the node checks
 * it (hsm-core users/officer_reset.ts) and azcloudhsm_mgmt_util builds it.
 */

/** A node's answer to `getChallenge`. */
export interface ResetChallenge {
  readonly user: string;
  readonly serial: string;
  /** The node's clock when it issued the challenge (ms since 1970). */
  readonly time: number;
  /** Hex: binds the challenge to the CO's current password (its salt). */
  readonly challenge: string;
}

/**
 * The exact bytes the partition owner signs (RSA PKCS#1 v1.5 with SHA-256) for a reset to the
 * password whose SHA-256 is `newPasswordSha256Hex` (the password itself is never in the message).
 */
export function resetMessageBytes(c: ResetChallenge, newPasswordSha256Hex: string): Buffer {
  return Buffer.from(`OpenCloudHSM CO password reset v1\npartition ${c.serial}\nuser ${c.user}\ntime ${c.time}\nchallenge ${c.challenge}\nnew-password-sha256 ${newPasswordSha256Hex}\n`, 'utf8');
}
