/**
 * @module Partition policies: settings a crypto officer changes for the whole
 * partition (azcloudhsm_mgmt_util setPolicy / getPolicy), as one table.
 *
 * A policy is part of the partition record in the store (`sys/partition`),
 * changed in one transaction with its audit record, so every node reads the
 * same value from the same replicated state: there is no per-node copy that
 * could disagree. A policy never set has its default.
 *
 * DEFAULT_WRAP_WITH_TRUSTED is the guides' name (the Azure Cloud HSM PKCS#11
 * guide lists it among the azcloudhsm_application.cfg keys): when 1, every key
 * is wrapped only by a wrapping key with CKA_TRUSTED TRUE, as if each had
 * CKA_WRAP_WITH_TRUSTED (authz/export_policy.ts). A client's configuration
 * file cannot bind other clients, so here it is the partition's setting.
 * The names, defaults and descriptions are in protocol/src/policies.ts (the
 * CLI shows them too).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { POLICY_ROWS, type PartitionPolicy, type PolicyRow } from '../../../protocol/src/policies.js';

export type { PartitionPolicy, PolicyRow };
export { POLICY_ROWS };

/** The row for a policy name (case-insensitive), or a clear error. */
export function policyRow(name: string): PolicyRow {
  const row = POLICY_ROWS.find((r) => r.name === String(name).toUpperCase());
  if (!row) throw new HsmError('ERR_ARGUMENTS_BAD', `unknown partition policy ${JSON.stringify(String(name).slice(0, 64))}; known: ${POLICY_ROWS.map((r) => r.name).join(', ')}`);
  return row;
}

/** A policy value: 0 or 1. */
export function policyValue(row: PolicyRow, value: number): 0 | 1 {
  if (value !== 0 && value !== 1) throw new HsmError('ERR_ARGUMENTS_BAD', `${row.name} is 0 or 1 (got ${String(value)})`);
  return value;
}

/** Every policy's current value. */
export function policyValues(p: PartitionPolicy | undefined): { name: string; value: number }[] {
  return POLICY_ROWS.map((r) => ({ name: r.name, value: p?.[r.field] === undefined ? r.default : p[r.field] ? 1 : 0 }));
}

/** Is DEFAULT_WRAP_WITH_TRUSTED on? */
export const defaultWrapWithTrusted = (p: PartitionPolicy | undefined): boolean => p?.defaultWrapWithTrusted ?? POLICY_ROWS[0]!.default === 1;
