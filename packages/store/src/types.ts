/**
 * @module The storage port: a plain, untrusted, asynchronous key-value store.
 *
 * Trust model: a backend is completely untrusted. It is only ever accessed
 * through the barrier (hsm-core/src/barrier), so it sees storage paths, version
 * numbers and ciphertext, never key material or passwords.
 *
 * The shape follows etcd v3 (the multi-host backend of a later issue): every
 * key carries a `version` that changes on every write (a store-wide revision
 * number, like etcd's mod_revision), so compare-and-swap is "write if the
 * version is still N" and "create if absent" is "write if the version is 0".
 * Leases give session objects a lifetime: keys attached to a lease vanish when
 * it expires or is revoked.
 *
 * This file holds types only and imports nothing, so the pure core can depend
 * on it (`import type`) without pulling in any backend.
 */

export type Bytes = Uint8Array;

export interface Entry {
  readonly key: string;
  readonly value: Bytes;
  /** Store-wide revision of the last write to this key; never 0 for a present key. */
  readonly version: number;
  /** Lease the key is attached to, or 0. */
  readonly lease: number;
}

/** A condition on one key, evaluated atomically with the rest of a transaction. */
export type Compare =
  | { readonly key: string; readonly op: 'version-eq'; readonly version: number } /* 0 = absent */
  | { readonly key: string; readonly op: 'exists' }
  | { readonly key: string; readonly op: 'absent' };

export type Op =
  | { readonly op: 'put'; readonly key: string; readonly value: Bytes; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The revision the transaction wrote at (unchanged when nothing was written). */
  readonly revision: number;
  /** One element per op of the branch that ran: the entry for 'get', undefined otherwise. */
  readonly results: ReadonlyArray<Entry | undefined>;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
}

export interface WatchOptions {
  /**
   * Report the changes after this revision (default: the store's revision
   * when `watch` is called). A revision whose history the store has already
   * discarded (compacted) ends the watch with a StoreCompactedError.
   */
  readonly fromRevision?: number;
  /**
   * Told, in order with the events, that every change up to `revision` has
   * been delivered. A backend reports progress after every batch of events,
   * while idle at least every 100 ms, and promptly after a `txn` of this
   * process resolves, so a reader can wait for "everything up to R".
   */
  readonly onProgress?: (revision: number) => void;
  /**
   * Told once when the watch cannot go on (it fell behind the history the
   * store keeps: StoreCompactedError); the watch has then stopped and the
   * watcher must read the state afresh and watch again.
   */
  readonly onError?: (err: StoreError) => void;
}

export interface ListOptions {
  /** Return at most this many entries, in key order. */
  readonly limit?: number;
  /** Start after this key (exclusive), for paging. */
  readonly after?: string;
}

export interface KeyValueStore {
  /** The backend's name, for status output ("sqlite", "memory", "etcd"). */
  readonly kind: string;
  /**
   * Whether a watch's progress report also means that the store held nothing
   * newer when the report was made. True for a backend read in this process
   * (SQLite, memory): it reports progress right after reading the revision.
   * False for etcd: a report says only that the member serving the watch had
   * sent every event up to that revision; the member may lag the cluster and
   * the report takes time to arrive, so a newer write may already have been
   * acknowledged elsewhere. A reader that must bound how stale it is (the
   * partition's freshness, docs/consistency.md) confirms with a read of the
   * revision (`txn([], [])`, linearizable) when this is false.
   */
  readonly progressIsCurrent: boolean;

  get(key: string): Promise<Entry | undefined>;
  /** Unconditional write; returns the new version. */
  put(key: string, value: Bytes, opts?: { lease?: number }): Promise<number>;
  /** Returns true when a key was deleted. */
  delete(key: string): Promise<boolean>;
  /** All entries whose key starts with `prefix`, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<Entry[]>;
  /** If every compare holds, run `success`, else `failure`; atomically. */
  txn(compare: readonly Compare[], success: readonly Op[], failure?: readonly Op[]): Promise<TxnResult>;

  /** Grant a lease that expires `ttlMs` after its last keep-alive. Returns its id (never 0). */
  grantLease(ttlMs: number): Promise<number>;
  /** Extend a lease; false when it has already expired or been revoked. */
  keepAlive(lease: number): Promise<boolean>;
  /** Revoke a lease and delete every key attached to it. */
  revokeLease(lease: number): Promise<void>;

  /**
   * Be told of changes under `prefix` (from this process and, for shared
   * backends, from every other process), in revision order. Returns a
   * function that stops watching. See WatchOptions for resuming from a
   * revision, progress, and what happens when the watcher falls behind.
   */
  watch(prefix: string, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): () => void;

  close(): Promise<void>;
}

/** Thrown by backends; the core wraps it in HsmError('ERR_STORE'). */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/**
 * The store refused a call without doing anything because the part of it
 * this client reaches has no quorum now (etcd: every member tried answered
 * "no leader"). Definite: nothing was written, so the call may be sent again,
 * here later or through another node.
 */
export class StoreNoQuorumError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreNoQuorumError';
  }
}

/** A watch asked for (or fell behind to) changes that the store no longer keeps. */
export class StoreCompactedError extends StoreError {
  /** The oldest revision whose changes the store still reports, at the time of the error. */
  readonly oldestKept: number;
  constructor(message: string, oldestKept: number) {
    super(message);
    this.name = 'StoreCompactedError';
    this.oldestKept = oldestKept;
  }
}
