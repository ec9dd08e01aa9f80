/**
 * @module The audit log: hash-chained records of every state change and key use.
 *
 * Each record carries the SHA-256 of its predecessor; its own hash covers the
 * canonical JSON of every other field. Deleting, reordering or editing any
 * record breaks the chain at that point, and `verifyChain` names the first
 * broken link. The records are also masked by the barrier, so editing them in
 * the store additionally needs the masking key.
 */
import { createHash } from '../crypto/node.js';

export interface AuditEvent {
  /** Who: user name, or '' for an anonymous session. */
  readonly user: string;
  readonly role: string;
  /** What: an operation name (createUser, generateKey, sign, ...). */
  readonly action: string;
  /** Which object(s), if any. */
  readonly handles?: readonly number[];
  readonly mechanism?: number;
  /** Free-form, never secret: e.g. the target user name. */
  readonly detail?: string;
  /** 'ok' or the HsmError code. */
  readonly result: string;
  /** In a node's key-use log: the node that wrote the record. */
  readonly node?: number;
}

export interface AuditRecord extends AuditEvent {
  readonly seq: number;
  readonly time: number;
  readonly prev: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Canonical JSON: keys sorted, so the hash does not depend on construction order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + canonical(o[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonical(r)).digest('hex');
}

export function makeRecord(e: AuditEvent, seq: number, time: number, prev: string): AuditRecord {
  const base = { ...e, seq, time, prev };
  return { ...base, hash: recordHash(base) };
}

export interface ChainVerdict {
  readonly ok: boolean;
  readonly records: number;
  /** Sequence number of the first record that does not verify. */
  readonly brokenAt?: number;
  readonly reason?: string;
}

/** Verify records given in sequence order, starting from the first record ever written. */
export function verifyChain(records: readonly AuditRecord[]): ChainVerdict {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  for (const r of records) {
    if (r.seq !== expectSeq) return { ok: false, records: records.length, brokenAt: expectSeq, reason: `record ${expectSeq} is missing` };
    if (r.prev !== prev) return { ok: false, records: records.length, brokenAt: r.seq, reason: `record ${r.seq} does not follow record ${r.seq - 1}` };
    const { hash, ...rest } = r;
    if (recordHash(rest) !== hash) return { ok: false, records: records.length, brokenAt: r.seq, reason: `record ${r.seq} was altered` };
    prev = hash;
    expectSeq++;
  }
  return { ok: true, records: records.length };
}
