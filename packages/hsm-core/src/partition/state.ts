/**
 * @module The partition state in memory: users, objects and the partition
 * record, loaded once and then kept current by following the store's change
 * feed (`watch`) from the revision they were loaded at.
 *
 * Key use, findObjects, getAttributeValue and sign-in checks read only this
 * replica. Objects are held without their key material: the masked store
 * entry is kept beside the attributes, and the material cache unmasks it on
 * demand, so plaintext key bytes are resident only for the (bounded) set of
 * keys in use.
 *
 * Two numbers say how current the replica is:
 * - `applied`: every change up to this store revision is in the maps;
 * - freshness: the last time (monotonic clock) the replica learnt that it had
 *   everything the store held. A read that finds the replica older than
 *   `freshnessMs` first catches up (one cheap revision read), so a change
 *   committed more than `freshnessMs` ago is always in force here; that is
 *   what lets a node acknowledge a removal of access after waiting that long
 *   (docs/consistency.md). The time is taken before the read of the
 *   revision it stands for; the watch's progress reports count only when the
 *   store says they mean "nothing newer" (`progressIsCurrent`: SQLite, not
 *   etcd, whose watch member may lag the cluster). Past half the bound a
 *   request starts the next confirmation in the background.
 *
 * A watch that falls behind the store's kept history (StoreCompactedError)
 * makes the replica reload everything and watch again; until it has, every
 * read waits. So does `resync`, for a watch that stays open but no longer
 * follows the cluster. A reload that fails is tried again (with a pause)
 * until one succeeds: the requests waiting meanwhile keep waiting, each for
 * at most `applyWaitMs`.
 *
 * With a scheduler (`schedule`, the node's timers), no wait for a revision
 * lasts longer than `applyWaitMs`: past it the wait
 * ends with ERR_NODE_BEHIND, which the daemon retries on another node. A
 * request that committed a change and then waits for its own write (so that
 * the answer's revision covers it) can end so too: its retry carries the
 * same request id, and the change's stored result is returned instead of
 * applying it again (partition/txn.ts priorResult).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Entry, StoreError } from '../../../store/src/types.js';
import type { Barrier } from '../barrier/barrier.js';
import type { UserRecord } from '../users/users.js';
import type { MaterialCache } from './material.js';
import { PATH, FIRST_HANDLE, dec, decodeObject, type LoadedObject, type LoadedUser, type PartitionRecord, type SessionRecord, type StoredObject } from './records.js';

export interface StateOptions {
  /** A monotonic clock in milliseconds (freshness is a duration on one process). */
  readonly monotonic: () => number;
  /** A read older than this catches up with the store first. */
  readonly freshnessMs: number;
  /** Told of records that cannot be read and of resyncs; never given secrets. */
  readonly onProblem?: (message: string) => void;
  /** The longest wait for a revision to be applied here (ms); default APPLY_WAIT_MS. */
  readonly applyWaitMs?: number;
  /**
   * Run `fn` after `ms` (the caller's timer; the core has none); returns a
   * cancel. Without it no wait is bounded and a failed reload is not tried
   * again: it fails the requests waiting (ERR_NODE_BEHIND).
   */
  readonly schedule?: (ms: number, fn: () => void) => () => void;
}

/**
 * The longest a request waits for this replica to apply a revision (ms). It
 * must cover a resync (the quorum guard notices a stale watch within its 3 s
 * bound, and a reload takes a few store round trips) and stay well inside the
 * daemon's retry deadline (10 s), so that the daemon can still retry on
 * another node.
 */
export const APPLY_WAIT_MS = 5000;
/** Pauses between attempts of a reload that failed (ms), doubling up to the last. */
const RELOAD_RETRY_MS = [200, 2000] as const;

interface Waiter { revision: number; resolve: () => void; reject: (e: unknown) => void; cancel: (() => void) | undefined }

type Item = { kind: 'event'; key: string; revision: number } | { kind: 'progress'; revision: number; at: number };

const OBJ_PREFIX = PATH.objects;
const USER_PREFIX = PATH.users;
const SESS_PREFIX = PATH.sessions;

/** An object as the replica holds it: attributes only, plus its masked store entry. */
export interface ReplicaObject extends LoadedObject {
  /** The masked entry, from which the material cache unmasks the key on demand. */
  readonly masked: Entry;
}

/** What one user owns: objects and their stored (masked) bytes (users/quotas.ts). */
export interface Usage {
  readonly objects: number;
  readonly bytes: number;
}

/**
 * The replica's objects by handle, with a running total per owner, so a
 * quota check reads one entry instead of scanning every object.
 */
class ObjectTable {
  readonly #byHandle = new Map<number, ReplicaObject>();
  readonly #usage = new Map<string, { objects: number; bytes: number }>();

  get size(): number {
    return this.#byHandle.size;
  }

  get(handle: number): ReplicaObject | undefined {
    return this.#byHandle.get(handle);
  }

  values(): IterableIterator<ReplicaObject> {
    return this.#byHandle.values();
  }

  set(handle: number, ro: ReplicaObject): void {
    this.delete(handle);
    this.#byHandle.set(handle, ro);
    const u = this.#usage.get(ro.obj.owner) ?? { objects: 0, bytes: 0 };
    u.objects++;
    u.bytes += ro.masked.value.length;
    this.#usage.set(ro.obj.owner, u);
  }

  delete(handle: number): void {
    const old = this.#byHandle.get(handle);
    if (!old) return;
    this.#byHandle.delete(handle);
    const u = this.#usage.get(old.obj.owner)!;
    u.objects--;
    u.bytes -= old.masked.value.length;
    if (u.objects === 0) this.#usage.delete(old.obj.owner);
  }

  usage(owner: string): Usage {
    const u = this.#usage.get(owner);
    return { objects: u?.objects ?? 0, bytes: u?.bytes ?? 0 };
  }
}

export class PartitionState {
  #users = new Map<string, LoadedUser>();
  #objs = new ObjectTable();
  /** Records that exist but cannot be read (corrupt): reads of them fail instead of finding nothing. */
  #broken = new Map<string, string>();
  #part: { rec: PartitionRecord; version: number } | undefined;
  #sessions = new Map<number, { rec: SessionRecord; version: number }>();

  /** Every change up to this revision is in the maps. */
  #applied = 0;
  #freshAt = -Infinity;
  #queue: Item[] = [];
  #draining = false;
  #loaded = false;
  #generation = 0;
  #stopWatch: (() => void) | undefined;
  #waiters: Waiter[] = [];
  #syncing: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;
  #cancelRetry: (() => void) | undefined;
  #retryDelay: number = RELOAD_RETRY_MS[0];
  #closed = false;

  constructor(
    private readonly barrier: Barrier,
    private readonly material: MaterialCache,
    private readonly opts: StateOptions,
  ) {}

  /** The store revision this replica has applied completely. */
  get applied(): number {
    return this.#applied;
  }

  /** A decision here is never made on state older than this (ms). */
  get freshnessMs(): number {
    return this.opts.freshnessMs;
  }

  get objectCount(): number {
    return this.#objs.size;
  }

  /** Load everything and start following the store. */
  start(): Promise<void> {
    return this.#reload();
  }

  /**
   * Read everything afresh and watch again (on whichever member the store
   * picks): for a watch that stays open but no longer follows the cluster,
   * e.g. on an etcd member that fell out of it (the node's quorum guard sees
   * that). Until it is done, reads wait; a failed reload is reported and
   * tried again. Requests waiting for a revision keep waiting (within their
   * bound): the reload applies everything up to the store's revision now.
   */
  resync(reason: string): void {
    this.#restart(reason);
  }

  stop(): void {
    this.#closed = true;
    this.#stopWatch?.();
    this.#stopWatch = undefined;
    this.#cancelRetry?.();
    for (const w of this.#waiters.splice(0)) {
      w.cancel?.();
      w.reject(new HsmError('ERR_STORE', 'the partition is closing'));
    }
  }

  /* ───────────────────────────── reads ───────────────────────────── */

  async user(name: string): Promise<LoadedUser | undefined> {
    await this.fresh();
    this.#checkBroken(PATH.user(name));
    return this.#users.get(name);
  }

  async users(): Promise<LoadedUser[]> {
    await this.fresh();
    return [...this.#users.values()];
  }

  async object(handle: number): Promise<ReplicaObject | undefined> {
    await this.fresh();
    if (!Number.isSafeInteger(handle) || handle < FIRST_HANDLE) return undefined;
    this.#checkBroken(PATH.object(handle));
    return this.#objs.get(handle);
  }

  /**
   * An object for a decision that `ok` accepts. A refusal (absent, not
   * visible, not shared) is decided only after catching up with the store, so
   * a grant or a creation made through another node a moment ago is seen.
   */
  async objectFor(handle: number, ok: (lo: ReplicaObject) => boolean): Promise<ReplicaObject | undefined> {
    const lo = await this.object(handle);
    if (lo && ok(lo)) return lo;
    await this.sync();
    const again = await this.object(handle);
    return again && ok(again) ? again : undefined;
  }

  /** A user, catching up with the store first when it is not (yet) here. */
  async userFor(name: string): Promise<LoadedUser | undefined> {
    const u = await this.user(name);
    if (u) return u;
    await this.sync();
    return this.user(name);
  }

  /** A session's record, catching up first when it is not (yet) here. */
  async sessionFor(lease: number): Promise<{ rec: SessionRecord; version: number } | undefined> {
    await this.fresh();
    const s = this.#sessions.get(lease);
    if (s) return s;
    await this.sync();
    return this.#sessions.get(lease);
  }

  async objects(): Promise<ReplicaObject[]> {
    await this.fresh();
    return [...this.#objs.values()];
  }

  /**
   * What `owner` owns (objects, stored bytes) in this replica, kept as a
   * running total. Not catching up: the quota check first waits for the
   * revision its transaction compares (objects/lifecycle.ts).
   */
  usage(owner: string): Usage {
    return this.#objs.usage(owner);
  }

  async partition(): Promise<{ rec: PartitionRecord; version: number } | undefined> {
    await this.fresh();
    return this.#part;
  }

  /** The partition record as this node last applied it, without catching up: for a liveness answer (status) that must not wait on a lagging store. */
  partitionApplied(): { rec: PartitionRecord; version: number } | undefined {
    return this.#part;
  }

  async requirePartition(): Promise<{ rec: PartitionRecord; version: number }> {
    const p = await this.partition();
    if (!p) throw new HsmError('ERR_PARTITION_STATE', 'the partition is not initialised');
    return p;
  }

  /** The stored object including its key material (unmasked now, not kept). */
  async withMaterial(lo: LoadedObject): Promise<StoredObject> {
    const masked = (lo as Partial<ReplicaObject>).masked;
    if (!masked) return lo.obj;
    return decodeObject((await this.barrier.unmask(masked)).value);
  }

  #checkBroken(path: string): void {
    const why = this.#broken.get(path);
    if (why !== undefined) throw new HsmError('ERR_STORE', `the stored record ${path} cannot be read (${why}); the store may be damaged`);
  }

  /* ───────────────────────────── currency ───────────────────────────── */

  /** Resolves at once when the replica is fresh; otherwise after catching up with the store. */
  fresh(): Promise<void> {
    if (this.#loaded) {
      const age = this.opts.monotonic() - this.#freshAt;
      if (age <= this.opts.freshnessMs) {
        /* Past half the bound, confirm in the background, so that a busy node's requests rarely wait for it. */
        if (age > this.opts.freshnessMs / 2 && this.#syncing === undefined && !this.#closed) this.sync().catch(() => undefined);
        return Promise.resolve();
      }
    }
    return this.sync();
  }

  /** Catch up with everything the store holds now. Concurrent callers share one catch-up. */
  sync(): Promise<void> {
    this.#syncing ??= (async () => {
      try {
        const at = this.opts.monotonic();
        const revision = await this.currentRevision();
        await this.waitApplied(revision);
        this.#freshAt = Math.max(this.#freshAt, at);
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  /** The store's revision now (an empty transaction reads it). */
  async currentRevision(): Promise<number> {
    return (await this.barrier.txn([], [])).revision;
  }

  /**
   * Resolves when every change up to `revision` is applied here; ERR_NODE_BEHIND
   * (retryable on another node) when that takes longer than `applyWaitMs`.
   */
  waitApplied(revision: number): Promise<void> {
    if (this.#loaded && this.#applied >= revision) return Promise.resolve();
    if (this.#closed) return Promise.reject(new HsmError('ERR_STORE', 'the partition is closing'));
    const ms = this.opts.applyWaitMs ?? APPLY_WAIT_MS;
    return new Promise((resolve, reject) => {
      const w: Waiter = { revision, resolve, reject, cancel: undefined };
      w.cancel = this.opts.schedule?.(ms, () => {
        const i = this.#waiters.indexOf(w);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        const why = this.#loaded ? `has applied revision ${this.#applied}` : 'is reloading from the store';
        this.opts.onProblem?.(`partition state: revision ${revision} not applied within ${ms} ms (this copy ${why}); the request is answered ERR_NODE_BEHIND`);
        reject(new HsmError('ERR_NODE_BEHIND', `this node's copy of the partition ${why} and did not reach revision ${revision} within ${ms} ms; retry on another node (a change already committed under the same request id is not made twice)`));
      });
      this.#waiters.push(w);
    });
  }

  /* ───────────────────────────── following the store ───────────────────────────── */

  #reload(): Promise<void> {
    this.#reloading ??= this.#load().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #load(): Promise<void> {
    const gen = ++this.#generation;
    this.#loaded = false;
    this.#freshAt = -Infinity;
    this.#stopWatch?.();
    this.#queue = [];
    const at = this.opts.monotonic();
    const from = await this.currentRevision();
    /* Watch first, then read: a change made while reading is also reported, and applying it again is harmless. */
    this.#stopWatch = this.barrier.store.watch('', (e) => this.#enqueue(gen, { kind: 'event', key: e.key, revision: e.revision }), {
      fromRevision: from,
      onProgress: (revision) => this.#enqueue(gen, { kind: 'progress', revision, at: this.opts.monotonic() }),
      onError: (err) => this.#watchFailed(gen, err),
    });
    const users = new Map<string, LoadedUser>();
    const objs = new ObjectTable();
    const broken = new Map<string, string>();
    const sessions = new Map<number, { rec: SessionRecord; version: number }>();
    for (const e of await this.#rawList(USER_PREFIX)) await this.#decodeInto(e, users, objs, broken);
    for (const e of await this.#rawList(OBJ_PREFIX)) await this.#decodeInto(e, users, objs, broken);
    for (const e of await this.#rawList(SESS_PREFIX)) await this.#decodeSession(e, sessions);
    const part = await this.barrier.get(PATH.partition);
    if (gen !== this.#generation) return;
    this.#users = users;
    this.#objs = objs;
    this.#broken = broken;
    this.#sessions = sessions;
    this.#part = part ? { rec: dec<PartitionRecord>(part.value), version: part.version } : undefined;
    this.#applied = from;
    this.#freshAt = at;
    this.#loaded = true;
    this.#settleWaiters();
    void this.#drain(gen);
  }

  async #rawList(prefix: string): Promise<Entry[]> {
    try {
      return await this.barrier.store.list(prefix);
    } catch (e) {
      throw new HsmError('ERR_STORE', `store (${this.barrier.store.kind}) failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }

  #watchFailed(gen: number, err: StoreError): void {
    if (gen !== this.#generation || this.#closed) return;
    this.#restart(err.message);
  }

  /** Reload (reported), and again after a pause while it fails; waiters stay (each within its bound). */
  #restart(reason: string): void {
    if (this.#closed) return;
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    this.opts.onProblem?.(`partition state: ${reason}; reloading from the store`);
    this.#reload().then(
      () => {
        this.#retryDelay = RELOAD_RETRY_MS[0];
      },
      (e: unknown) => {
        if (this.#closed) return;
        const message = (e as Error)?.message ?? String(e);
        if (!this.opts.schedule) {
          this.opts.onProblem?.(`partition state: reload failed: ${message}`);
          for (const w of this.#waiters.splice(0)) w.reject(new HsmError('ERR_NODE_BEHIND', `this node could not reload its copy of the partition (${message}); retry on another node`, { cause: e }));
          return;
        }
        const delay = this.#retryDelay;
        this.#retryDelay = Math.min(RELOAD_RETRY_MS[1], delay * 2);
        this.opts.onProblem?.(`partition state: reload failed: ${message}; trying again in ${delay} ms`);
        this.#cancelRetry = this.opts.schedule(delay, () => {
          this.#cancelRetry = undefined;
          this.#restart('the last reload failed');
        });
      },
    );
  }

  #enqueue(gen: number, item: Item): void {
    if (gen !== this.#generation || this.#closed) return;
    this.#queue.push(item);
    if (this.#loaded) void this.#drain(gen);
  }

  /** Apply queued changes in order; one drain at a time. */
  async #drain(gen: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && gen === this.#generation) {
        const item = this.#queue.shift()!;
        if (item.kind === 'progress') {
          if (item.revision > this.#applied) this.#applied = item.revision;
          /* Only a store whose progress means "nothing newer exists" confirms freshness by it (KeyValueStore.progressIsCurrent). */
          if (item.at > this.#freshAt && this.barrier.store.progressIsCurrent) this.#freshAt = item.at;
        } else {
          if (item.key.startsWith(USER_PREFIX) || item.key.startsWith(OBJ_PREFIX) || item.key.startsWith(SESS_PREFIX) || item.key === PATH.partition) {
            await this.#refresh(item.key, item.revision);
            if (gen !== this.#generation) return;
          }
          /* Changes of one revision may come as several events: only the one before is complete. */
          if (item.revision - 1 > this.#applied) this.#applied = item.revision - 1;
        }
        this.#settleWaiters();
      }
    } catch (e) {
      /* The store failed while reading a changed record: start over rather than miss it. */
      this.#draining = false;
      this.#restart((e as Error)?.message ?? String(e));
      return;
    } finally {
      this.#draining = false;
      /* A reload while this drain awaited: the new generation's changes wait in the queue. */
      if (this.#loaded && !this.#closed && this.#queue.length > 0 && gen !== this.#generation) void this.#drain(this.#generation);
    }
  }

  /** Re-read one changed key and apply what is there now (newer versions win). */
  async #refresh(key: string, revision: number): Promise<void> {
    let raw: Entry | undefined;
    try {
      raw = await this.barrier.store.get(key);
    } catch (e) {
      throw new HsmError('ERR_STORE', `store (${this.barrier.store.kind}) failed reading ${key}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (key.startsWith(SESS_PREFIX)) {
      const lease = Number(key.slice(SESS_PREFIX.length));
      if (raw) await this.#decodeSession(raw, this.#sessions);
      else if ((this.#sessions.get(lease)?.version ?? 0) <= revision) this.#sessions.delete(lease);
      return;
    }
    if (key === PATH.partition) {
      if (raw) {
        const e = await this.barrier.unmask(raw);
        this.#part = { rec: dec<PartitionRecord>(e.value), version: e.version };
      }
      return;
    }
    if (raw) {
      const cur = key.startsWith(USER_PREFIX) ? this.#users.get(key.slice(USER_PREFIX.length)) : this.#objs.get(Number(key.slice(OBJ_PREFIX.length)));
      if (cur && cur.version >= raw.version) return;
      await this.#decodeInto(raw, this.#users, this.#objs, this.#broken);
      return;
    }
    /* Gone now. Drop it unless what we hold is newer than this change (then a later event covers it). */
    this.#broken.delete(key);
    if (key.startsWith(USER_PREFIX)) {
      const name = key.slice(USER_PREFIX.length);
      const cur = this.#users.get(name);
      if (cur && cur.version <= revision) this.#users.delete(name);
    } else {
      const handle = Number(key.slice(OBJ_PREFIX.length));
      const cur = this.#objs.get(handle);
      if (cur && cur.version <= revision) {
        this.#objs.delete(handle);
        this.material.drop(handle);
      }
    }
  }

  async #decodeInto(raw: Entry, users: Map<string, LoadedUser>, objs: ObjectTable, broken: Map<string, string>): Promise<void> {
    try {
      const e = await this.barrier.unmask(raw);
      if (raw.key.startsWith(USER_PREFIX)) {
        const rec = dec<UserRecord>(e.value);
        users.set(rec.name, { rec, version: e.version });
      } else {
        const full = decodeObject(e.value);
        const { material: _material, ...obj } = full;
        void _material;
        objs.set(obj.handle, { obj, version: e.version, masked: raw });
        this.material.dropIfOlder(obj.handle, e.version);
      }
      broken.delete(raw.key);
    } catch (err) {
      /* A malformed record says which part is wrong (records.ts names fields, never values); the barrier's refusal is its code. */
      const why = err instanceof HsmError ? (err.code === 'ERR_STORE' ? err.message : err.code) : 'undecodable';
      broken.set(raw.key, why);
      if (raw.key.startsWith(USER_PREFIX)) users.delete(raw.key.slice(USER_PREFIX.length));
      else objs.delete(Number(raw.key.slice(OBJ_PREFIX.length)));
      this.opts.onProblem?.(`partition state: the stored record ${raw.key} cannot be read (${why})`);
    }
  }

  async #decodeSession(raw: Entry, into: Map<number, { rec: SessionRecord; version: number }>): Promise<void> {
    const lease = Number(raw.key.slice(SESS_PREFIX.length));
    try {
      const e = await this.barrier.unmask(raw);
      const cur = into.get(lease);
      if (!cur || cur.version < e.version) into.set(lease, { rec: dec<SessionRecord>(e.value), version: e.version });
    } catch {
      /* An unreadable session record: the session is unusable (fail closed). */
      into.delete(lease);
      this.opts.onProblem?.(`partition state: the stored record ${raw.key} cannot be read`);
    }
  }

  #settleWaiters(): void {
    if (!this.#loaded || this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.#applied >= w.revision) {
        w.cancel?.();
        w.resolve();
      } else still.push(w);
    }
    this.#waiters = still;
  }
}
