/**
 * @module MemoryStore: an in-process KeyValueStore, for tests and single-process demos.
 *
 * Trust boundary: like every backend it is untrusted and sees only what the
 * barrier gives it (paths, versions, ciphertext). It holds nothing durable:
 * everything is lost when the process ends.
 *
 * Semantics match the SQLite backend and etcd v3 (see ./types.ts): a
 * store-wide revision that every write bumps by exactly one (a transaction's
 * writes share one revision); leases whose keys become invisible the moment
 * the lease expires and are purged (with delete events) lazily, on the next
 * write; watch listeners called in revision order, after the write.
 *
 * Time comes from an injectable clock so that lease tests need not sleep.
 */
import {
  StoreError,
  type Bytes, type Compare, type Entry, type KeyValueStore, type ListOptions, type Op,
  type TxnResult, type WatchEvent, type WatchOptions, StoreCompactedError,
} from './types.js';
import { checkKey, checkListOptions, checkTtl, checkTxnWrites, compareHolds, compareKeys } from './util.js';

interface Stored {
  value: Buffer;
  version: number;
  lease: number;
}

interface Lease {
  ttlMs: number;
  expiresAt: number;
}

interface Watcher {
  prefix: string;
  onEvent: (e: WatchEvent) => void;
  opts: WatchOptions;
}

export interface MemoryStoreOptions {
  /** Wall clock in milliseconds; defaults to Date.now. */
  readonly now?: () => number;
  /** How many change events are kept for watches that start from an earlier revision. */
  readonly historyMax?: number;
}

export class MemoryStore implements KeyValueStore {
  readonly kind = 'memory';
  /** Progress is reported right after the revision is read here (see KeyValueStore). */
  readonly progressIsCurrent = true;

  readonly #now: () => number;
  readonly #kv = new Map<string, Stored>();
  readonly #leases = new Map<number, Lease>();
  readonly #watchers = new Set<Watcher>();
  #revision = 0;
  #nextLease = 1;
  #closed = false;
  /** Recent change events, oldest first, for `watch` from a revision; bounded by #historyMax. */
  #history: WatchEvent[] = [];
  /** Changes at or below this revision are no longer kept. */
  #compacted = 0;
  readonly #historyMax: number;

  constructor(opts: MemoryStoreOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#historyMax = opts.historyMax ?? 10_000;
  }

  /** Forget the change history up to `revision` (default: all of it), as etcd's compaction does. */
  compact(revision = this.#revision): void {
    this.#compacted = Math.max(this.#compacted, Math.min(revision, this.#revision));
    this.#history = this.#history.filter((e) => e.revision > this.#compacted);
  }

  async get(key: string): Promise<Entry | undefined> {
    this.#open();
    checkKey(key);
    return this.#read(key, this.#now());
  }

  async put(key: string, value: Bytes, opts?: { lease?: number }): Promise<number> {
    this.#open();
    checkKey(key);
    const now = this.#now();
    this.#purge(now);
    const lease = opts?.lease ?? 0;
    this.#checkLease(lease, now);
    const revision = ++this.#revision;
    this.#kv.set(key, { value: Buffer.from(value), version: revision, lease });
    this.#emit([{ type: 'put', key, revision }]);
    return revision;
  }

  async delete(key: string): Promise<boolean> {
    this.#open();
    checkKey(key);
    this.#purge(this.#now());
    const existed = this.#kv.delete(key);
    if (existed) this.#emit([{ type: 'delete', key, revision: ++this.#revision }]);
    return existed;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<Entry[]> {
    this.#open();
    checkListOptions(opts);
    const now = this.#now();
    const keys: string[] = [];
    for (const key of this.#kv.keys()) {
      if (key.startsWith(prefix) && (opts.after === undefined || compareKeys(key, opts.after) > 0)) keys.push(key);
    }
    keys.sort(compareKeys);
    const out: Entry[] = [];
    for (const key of keys) {
      const e = this.#read(key, now);
      if (!e) continue;
      out.push(e);
      if (opts.limit && out.length >= opts.limit) break;
    }
    return out;
  }

  async txn(compare: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    this.#open();
    for (const c of compare) checkKey(c.key);
    for (const o of [...success, ...failure]) checkKey(o.key);
    checkTxnWrites(success);
    checkTxnWrites(failure);

    const now = this.#now();
    const writes = [...success, ...failure].some((o) => o.op !== 'get');
    /* Purge only when the transaction may write: a read-only transaction changes nothing. */
    if (writes) this.#purge(now);

    const succeeded = compare.every((c) => compareHolds(c, this.#read(c.key, now)));
    const ops = succeeded ? success : failure;

    /* Validate before mutating anything, so an error leaves the store untouched (atomicity). */
    for (const o of ops) if (o.op === 'put') this.#checkLease(o.lease ?? 0, now);

    const revision = this.#revision + 1;
    const events: WatchEvent[] = [];
    let wrote = false;
    const results: (Entry | undefined)[] = [];
    for (const o of ops) {
      switch (o.op) {
        case 'get':
          results.push(this.#read(o.key, now));
          break;
        case 'put':
          this.#kv.set(o.key, { value: Buffer.from(o.value), version: revision, lease: o.lease ?? 0 });
          events.push({ type: 'put', key: o.key, revision });
          wrote = true;
          results.push(undefined);
          break;
        case 'delete':
          if (this.#kv.delete(o.key)) {
            events.push({ type: 'delete', key: o.key, revision });
            wrote = true;
          }
          results.push(undefined);
          break;
      }
    }
    if (wrote) this.#revision = revision;
    this.#emit(events);
    return { succeeded, revision: this.#revision, results };
  }

  async grantLease(ttlMs: number): Promise<number> {
    this.#open();
    checkTtl(ttlMs);
    const id = this.#nextLease++;
    this.#leases.set(id, { ttlMs, expiresAt: this.#now() + ttlMs });
    return id;
  }

  async keepAlive(lease: number): Promise<boolean> {
    this.#open();
    const now = this.#now();
    this.#purge(now);
    const l = this.#leases.get(lease);
    if (!l) return false;
    l.expiresAt = now + l.ttlMs;
    return true;
  }

  async revokeLease(lease: number): Promise<void> {
    this.#open();
    this.#purge(this.#now());
    /* Revoking an unknown or already-expired lease is not an error: the keys are gone either way. */
    if (this.#leases.delete(lease)) this.#dropLeaseKeys(new Set([lease]));
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}): () => void {
    this.#open();
    const w: Watcher = { prefix, onEvent, opts };
    const from = opts.fromRevision ?? this.#revision;
    if (from < this.#compacted && from < this.#revision) {
      const err = new StoreCompactedError(`memory store: changes after revision ${from} are no longer kept (history starts after ${this.#compacted}); read afresh and watch again`, this.#compacted + 1);
      queueMicrotask(() => (opts.onError ? opts.onError(err) : process.emitWarning(err.message)));
      return () => undefined;
    }
    /* Replay the kept history after `from`, then follow live writes, on one microtask so order holds. */
    const replay = this.#history.filter((e) => e.revision > from);
    const at = this.#revision;
    this.#watchers.add(w);
    queueMicrotask(() => {
      if (!this.#watchers.has(w)) return;
      this.#deliver(w, replay);
      w.opts.onProgress?.(at);
    });
    return () => {
      this.#watchers.delete(w);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
  }

  /* ---- internals ---- */

  #open(): void {
    if (this.#closed) throw new StoreError('memory store is closed');
  }

  /** The visible entry, as a fresh copy (callers may not mutate the store's bytes). */
  #read(key: string, now: number): Entry | undefined {
    const s = this.#kv.get(key);
    if (!s) return undefined;
    if (s.lease !== 0) {
      const l = this.#leases.get(s.lease);
      if (!l || l.expiresAt <= now) return undefined;
    }
    return { key, value: Buffer.from(s.value), version: s.version, lease: s.lease };
  }

  #checkLease(lease: number, now: number): void {
    if (lease === 0) return;
    const l = this.#leases.get(lease);
    if (!l || l.expiresAt <= now) throw new StoreError(`lease ${lease} not found or expired`);
  }

  /** Drop expired leases and their keys at one new revision (as etcd does on expiry). */
  #purge(now: number): void {
    const expired = new Set<number>();
    for (const [id, l] of this.#leases) if (l.expiresAt <= now) expired.add(id);
    if (expired.size === 0) return;
    for (const id of expired) this.#leases.delete(id);
    this.#dropLeaseKeys(expired);
  }

  /** Delete every key attached to one of `leases`, at one new revision, and report it. */
  #dropLeaseKeys(leases: ReadonlySet<number>): void {
    const keys = [...this.#kv].filter(([, s]) => leases.has(s.lease)).map(([k]) => k).sort(compareKeys);
    if (keys.length === 0) return;
    const revision = ++this.#revision;
    for (const key of keys) this.#kv.delete(key);
    this.#emit(keys.map((key) => ({ type: 'delete' as const, key, revision })));
  }

  /**
   * Deliver events after the write has completed, on a microtask, so that a
   * listener never runs in the middle of a store operation and cannot break it.
   */
  #emit(events: readonly WatchEvent[]): void {
    if (events.length === 0) return;
    for (const e of events) this.#history.push(e);
    if (this.#history.length > this.#historyMax) {
      const drop = this.#history.length - this.#historyMax;
      this.#compacted = this.#history[drop - 1]!.revision;
      this.#history = this.#history.slice(drop);
    }
    if (this.#watchers.size === 0) return;
    const watchers = [...this.#watchers];
    const at = this.#revision;
    queueMicrotask(() => {
      for (const w of watchers) {
        if (!this.#watchers.has(w)) continue;
        this.#deliver(w, events);
        w.opts.onProgress?.(at);
      }
    });
  }

  #deliver(w: Watcher, events: readonly WatchEvent[]): void {
    for (const e of events) {
      if (!this.#watchers.has(w) || !e.key.startsWith(w.prefix)) continue;
      try {
        w.onEvent(e);
      } catch (err) {
        process.emitWarning(`store watch listener threw: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  }
}
