/**
 * @module The partition policies' names, defaults and descriptions, shared by
 * the core that enforces them (hsm-core authz/partition_policy.ts) and the
 * mgmt_util commands that show and set them (getPolicy, setPolicy).
 */

/** The policies as stored in the partition record; a missing field is the default. */
export interface PartitionPolicy {
  readonly defaultWrapWithTrusted?: boolean;
}

export interface PolicyRow {
  /** The name setPolicy and getPolicy use. */
  readonly name: string;
  readonly field: keyof PartitionPolicy;
  readonly says: string;
  readonly default: 0 | 1;
}

export const POLICY_ROWS: readonly PolicyRow[] = [
  {
    name: 'DEFAULT_WRAP_WITH_TRUSTED',
    field: 'defaultWrapWithTrusted',
    says: '1: every key is wrapped only by a CKA_TRUSTED wrapping key (as if it had CKA_WRAP_WITH_TRUSTED); 0: only keys with CKA_WRAP_WITH_TRUSTED need one',
    default: 0,
  },
];

