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

/* An AuditRecord's fields but `hash`, in canonical (sorted) order. */
const RECORD_FIELDS: ReadonlySet<string> = new Set(['action', 'detail', 'handles', 'mechanism', 'node', 'prev', 'result', 'role', 'seq', 'time', 'user']);

/**
 * The canonical JSON of `{ ...e, node, seq, time, prev }` (`node` only when
 * given), exactly as `canonical` writes it, built in one pass without the
 * intermediate objects: the key-use log writes one of these per operation.
 * An event with a field the record does not know goes the general way.
 */
export function canonicalRecord(e: AuditEvent, seq: number, time: number, prev: string, node?: number): string {
  let general = e.user === undefined || e.role === undefined || e.action === undefined || e.result === undefined;
  for (const k in e) if (!RECORD_FIELDS.has(k) || k === 'seq' || k === 'time' || k === 'prev') general = true;
  if (general) return canonical({ ...e, ...(node !== undefined ? { node } : {}), seq, time, prev });
  const n = node ?? e.node;
  let s = '{"action":' + JSON.stringify(e.action);
  if (e.detail !== undefined) s += ',"detail":' + JSON.stringify(e.detail);
  if (e.handles !== undefined) s += ',"handles":' + canonical(e.handles);
  if (e.mechanism !== undefined) s += ',"mechanism":' + JSON.stringify(e.mechanism);
  if (n !== undefined) s += ',"node":' + JSON.stringify(n);
  return s + ',"prev":' + JSON.stringify(prev) + ',"result":' + JSON.stringify(e.result) + ',"role":' + JSON.stringify(e.role) +
    ',"seq":' + JSON.stringify(seq) + ',"time":' + JSON.stringify(time) + ',"user":' + JSON.stringify(e.user) + '}';
}

/**
 * One record as a line of JSON text (newline included) and its hash: the
 * hash covers the canonical JSON of every other field, and the line is that
 * same text with the hash added last, so it is serialised once.
 */
export function recordLine(e: AuditEvent, seq: number, time: number, prev: string, node?: number): { line: string; hash: string } {
  const json = canonicalRecord(e, seq, time, prev, node);
  const hash = createHash('sha256').update(json).digest('hex');
  return { line: json.slice(0, -1) + ',"hash":"' + hash + '"}\n', hash };
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
