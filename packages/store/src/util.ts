/**
 * @module Argument checks and key ordering shared by the store backends.
 *
 * Trust boundary: none of its own; these helpers make every backend refuse
 * the same malformed calls with the same messages, so that the conformance
 * suite can hold them all to one contract (and etcd's).
 */
import { StoreError, type Compare, type Entry, type ListOptions, type Op } from './types.js';

export function checkKey(key: unknown): asserts key is string {
  /* etcd refuses an empty key; refusing it everywhere keeps backends interchangeable. */
  if (typeof key !== 'string' || key.length === 0) throw new StoreError('store key must be a non-empty string');
}

export function checkListOptions(opts: ListOptions): void {
  if (opts.limit !== undefined && !(Number.isSafeInteger(opts.limit) && opts.limit >= 0)) {
    throw new StoreError(`list limit must be a non-negative integer, got ${String(opts.limit)}`);
  }
  if (opts.after !== undefined && typeof opts.after !== 'string') throw new StoreError('list "after" must be a string');
}

export function checkTtl(ttlMs: number): void {
  if (!(Number.isSafeInteger(ttlMs) && ttlMs > 0)) throw new StoreError(`lease TTL must be a positive integer of milliseconds, got ${String(ttlMs)}`);
}

/** etcd refuses a transaction that writes one key twice ("duplicate key given in txn request"); so do we. */
export function checkTxnWrites(ops: readonly Op[]): void {
  const seen = new Set<string>();
  for (const o of ops) {
    if (o.op === 'get') continue;
    if (seen.has(o.key)) throw new StoreError(`transaction writes key "${o.key}" more than once`);
    seen.add(o.key);
  }
}

/**
 * Key order is UTF-8 byte order, as in SQLite (BINARY collation of TEXT) and
 * etcd. JavaScript's `<` on strings compares UTF-16 code units, which differs
 * for characters above U+FFFF, so compare code points instead.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The smallest string greater than every string that starts with `prefix`,
 * or undefined when there is none (empty prefix), so a prefix scan can be an
 * index range `key >= prefix AND key < end`.
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (cps.length > 0) {
    let last = cps.pop()!;
    if (last === 0x10ffff) continue;
    last = last === 0xd7ff ? 0xe000 : last + 1; /* skip the surrogate range: not encodable in UTF-8 */
    cps.push(last);
    return String.fromCodePoint(...cps);
  }
  return undefined;
}

/** Whether one transaction compare holds for the key's current entry (undefined = absent). */
export function compareHolds(c: Compare, e: Entry | undefined): boolean {
  switch (c.op) {
    case 'version-eq': return (e?.version ?? 0) === c.version;
    case 'exists': return e !== undefined;
    case 'absent': return e === undefined;
  }
}
