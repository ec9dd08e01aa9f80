/**
 * @module Who calls and how: the caller context every entry point takes, and
 * the partition's configuration.
 */
import type { MechanismParams } from '../mechanisms/types.js';
import { DEFAULT_SCRYPT, type Role, type ScryptParams } from '../users/users.js';
import { DEFAULT_QUOTAS, type QuotaConfig } from '../users/quotas.js';

export interface PartitionConfig extends QuotaConfig {
  /** Consecutive failed sign-ins that lock an account. */
  readonly maxLoginFailures: number;
  readonly scrypt: ScryptParams;
  /** Largest data accepted by one single-part operation. */
  readonly maxDataBytes: number;
}

export const DEFAULT_CONFIG: PartitionConfig = { maxLoginFailures: 5, scrypt: DEFAULT_SCRYPT, maxDataBytes: 1 << 20, ...DEFAULT_QUOTAS };

export interface Principal {
  readonly user: string;
  readonly role: Role;
}

export interface CallContext {
  /** The signed-in user, or undefined for a public (not logged-in) session. */
  readonly principal?: Principal | undefined;
  /** The store lease that owns this caller's session objects (CKA_TOKEN FALSE). */
  readonly sessionLease?: number | undefined;
  /** The client's tag for its own session within `sessionLease` (the request's `creator`), kept on the session objects it creates. */
  readonly creator?: number | undefined;
  /** The request came from a session opened without CKF_RW_SESSION (the request's `readOnly`); the profile's READ_ONLY_SESSIONS row decides what that forbids. */
  readonly readOnly?: boolean | undefined;
  /** Idempotency key of a state-changing request: a retry returns the first result. */
  readonly requestId?: string | undefined;
}

export interface MechanismRequest {
  readonly mechanism: number;
  readonly params?: MechanismParams;
}

export interface AttributeResult {
  readonly type: number;
  /** Present when the attribute is readable. */
  readonly value?: Uint8Array;
  /** CKR_OK, CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID for this attribute. */
  readonly rv: number;
}
