/**
 * @module The partition profiles, as one table: what the `azure` profile (the
 * default, the Azure Cloud HSM partition's behaviour) and the `standard`
 * profile (PKCS#11 v2.40 token semantics, for generic PKCS#11 software) do
 * differently. One row per deviation, with both values and what it changes.
 *
 * A partition's profile is chosen once, when the partition is initialised
 * (hsm-core Partition.open `profile`, `ochsm init --profile`, the test kit's
 * startCluster `profile`), stored in the partition record and audited. The
 * core and the node's door read the rows (hsm-core authz/profile.ts); no code
 * asks which profile it is. The node tells the daemon in hello (`profile`,
 * `wrongPinRv`), and the daemon tells the PKCS#11 module, which needs nothing
 * else. docs/pkcs11.md "Profiles" gives the table and the reasons.
 */
import * as P from './pkcs11.js';
import type { HsmErrorCode } from './errors.js';

export const PROFILE_NAMES = ['azure', 'standard'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
export const DEFAULT_PROFILE: ProfileName = 'azure';

/** What a profile decides; the fields the core reads. */
export interface ProfileSettings {
  /** The error (and so the CK_RV) of a sign-in with a wrong user name, password or PIN format. */
  readonly wrongPinError: Extract<HsmErrorCode, 'ERR_LOGIN_FAILED' | 'ERR_PIN_INCORRECT'>;
  /** Every key has CKA_PRIVATE TRUE (a template with FALSE is refused). */
  readonly keysAlwaysPrivate: boolean;
  /**
   * A session nobody has signed in to may create, use and destroy public
   * session objects (CKA_PRIVATE FALSE, CKA_TOKEN FALSE): data objects,
   * certificates and keys (PKCS#11 v2.40 §6.7.1, "R/W Public Session").
   */
  readonly publicSessionObjects: boolean;
  /**
   * A session opened without CKF_RW_SESSION (the request's `readOnly`) cannot
   * create, copy, change or destroy token objects (CKR_SESSION_READ_ONLY);
   * session objects stay allowed (PKCS#11 v2.40 §5.6).
   */
  readonly readOnlySessions: boolean;
  /**
   * C_SetPIN(old, new) changes the signed-in user's own password (setPin, 0x0307); without it
   * CKR_FUNCTION_NOT_SUPPORTED (users and passwords are managed with azcloudhsm_mgmt_util).
   */
  readonly setPin: boolean;
}

export interface ProfileRow<F extends keyof ProfileSettings = keyof ProfileSettings> {
  /** The name getPolicy shows and the documents use. */
  readonly name: string;
  readonly field: F;
  readonly azure: ProfileSettings[F];
  readonly standard: ProfileSettings[F];
  /** What the row changes, in one sentence. */
  readonly says: string;
}

export const PROFILE_ROWS: readonly ProfileRow[] = [
  {
    name: 'WRONG_PIN_CODE',
    field: 'wrongPinError',
    azure: 'ERR_LOGIN_FAILED',
    standard: 'ERR_PIN_INCORRECT',
    says: `a wrong password, an unknown user or a PIN that is not "user:password" answers 0x${P.CKR_PIN_EXPIRED.toString(16).toUpperCase()} (CKR_PIN_EXPIRED, the Azure code) or 0x${P.CKR_PIN_INCORRECT.toString(16).toUpperCase()} (CKR_PIN_INCORRECT, the standard's)`,
  },
  {
    name: 'KEYS_ALWAYS_PRIVATE',
    field: 'keysAlwaysPrivate',
    azure: true,
    standard: false,
    says: 'CKA_PRIVATE is TRUE on every key (FALSE is CKR_ATTRIBUTE_VALUE_INVALID), or as the template says (default TRUE)',
  },
  {
    name: 'PUBLIC_SESSION_OBJECTS',
    field: 'publicSessionObjects',
    azure: false,
    standard: true,
    says: 'nothing is created before C_Login, or a session not signed in may create, use and destroy public session objects (CKA_PRIVATE FALSE, CKA_TOKEN FALSE), keys included',
  },
  {
    name: 'READ_ONLY_SESSIONS',
    field: 'readOnlySessions',
    azure: false,
    standard: true,
    says: `a session opened without CKF_RW_SESSION may change token objects as a read/write one does, or it cannot create, copy, change or destroy one (0x${P.CKR_SESSION_READ_ONLY.toString(16).toUpperCase()}, CKR_SESSION_READ_ONLY; session objects stay allowed)`,
  },
  {
    name: 'SET_PIN',
    field: 'setPin',
    azure: false,
    standard: true,
    says: `C_SetPIN answers 0x${P.CKR_FUNCTION_NOT_SUPPORTED.toString(16).toUpperCase()} (CKR_FUNCTION_NOT_SUPPORTED; passwords are changed with azcloudhsm_mgmt_util), or C_SetPIN(old, new) changes the signed-in user's own password (a wrong old PIN answers as WRONG_PIN_CODE says)`,
  },
];

/** Is this a profile name? */
export function isProfileName(s: unknown): s is ProfileName {
  return typeof s === 'string' && (PROFILE_NAMES as readonly string[]).includes(s);
}

/** The settings of a profile, read from the rows. */
export function profileSettings(profile: ProfileName): ProfileSettings {
  const out: Record<string, unknown> = {};
  for (const r of PROFILE_ROWS) out[r.field] = r[profile];
  return out as unknown as ProfileSettings;
}
