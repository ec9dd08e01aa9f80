/**
 * @module Reverse look-up of PKCS#11 identifiers: number → spec name, per prefix.
 * Built once from pkcs11.ts so that the two can never disagree.
 */
import * as P from './pkcs11.js';

type Prefix = 'CKR_' | 'CKM_' | 'CKA_' | 'CKO_' | 'CKK_';

const tables = new Map<Prefix, Map<number, string>>();
for (const prefix of ['CKR_', 'CKM_', 'CKA_', 'CKO_', 'CKK_'] as Prefix[]) {
  const table = new Map<number, string>();
  for (const [name, value] of Object.entries(P)) {
    /* First name wins, so aliases never shadow the canonical spelling. */
    if (name.startsWith(prefix) && typeof value === 'number' && !table.has(value)) table.set(value, name);
  }
  tables.set(prefix, table);
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** The spec name for a number, or `PREFIXunknown(0x…)`. */
export function ckName(prefix: Prefix, value: number): string {
  return tables.get(prefix)!.get(value) ?? `${prefix}UNKNOWN(${hex(value)})`;
}

export const ckrName = (rv: number) => ckName('CKR_', rv);
export const ckmName = (m: number) => ckName('CKM_', m);
export const ckaName = (a: number) => ckName('CKA_', a);
