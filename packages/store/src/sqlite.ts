/**
 * @module SqliteStore: the embedded KeyValueStore, one SQLite file shared by every node on a host.
 *
 * Trust boundary: untrusted, like every backend (see ./types.ts). The file
 * holds only what the barrier gives it: paths, versions, lease ids and masked
 * values. It is still created owner-only (0600), and a directory that others
 * can write to is refused, because the paths name users and objects and
 * because a stranger who can plant the `-wal`/`-shm` files can corrupt it.
 *
 * Several processes open the same file at once. That is safe because:
 * - every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
 *   write lock before reading anything, so a compare-and-swap reads and
 *   writes under one lock (no lost update between processes);
 * - `busy_timeout` makes a process wait for that lock instead of failing;
 * - a rollback journal (`journal_mode=TRUNCATE`) with `synchronous=FULL`
 *   makes an acknowledged write survive power loss;
 * - lease expiry is an absolute wall-clock time stored in the database, so
 *   every process agrees on which leases are alive (up to clock skew on one
 *   host, which is none);
 * - the revision counter lives in the database (`meta`), and `watch` reads
 *   what changed from a short-lived `changes` log, so a watcher sees the
 *   writes of every process, its own included. It reads at once after each
 *   write of this process, when the database file changes (inotify, for the
 *   writes of other processes), and on a short timer as a backstop. Each of
 *   those reads first looks at the file's change counter (4 bytes of its
 *   header, which SQLite advances on every commit in rollback-journal mode)
 *   and queries the revision only when it moved, so an idle store costs a
 *   stat and a 4-byte read per tick, not a read transaction.
 *
 * Faults fail closed (docs/storage-format.md, "Store faults"). Nothing of the
 * store is memory-mapped: WAL mode maps its `-shm` file, and a write fault on
 * a mapped page of a file that became immutable, or a page of a full or
 * truncated file, kills the process with SIGBUS before SQLite can report
 * anything. With a rollback journal and `mmap_size=0` every I/O is a system
 * call whose failure SQLite returns as an error. The price is one journal
 * per commit (about 4x the fsyncs of WAL), paid only by state changes: key use
 * goes to each node's own audit log. Every operation also checks that the
 * path still names the file that was opened (a removed or replaced file
 * would otherwise take writes that no restart will see); once it does not,
 * the store refuses everything until it is reopened.
 *
 * better-sqlite3 is synchronous; the methods are async only to fit the port.
 * A write may block the event loop for up to `busy_timeout` under contention.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync, statSync, watch as watchFile, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  StoreError,
  type Bytes, type Compare, type Entry, type KeyValueStore, type ListOptions, type Op,
  type TxnResult, type WatchEvent, type WatchOptions, StoreCompactedError,
} from './types.js';
import { checkKey, checkListOptions, checkTtl, checkTxnWrites, compareHolds, prefixEnd } from './util.js';

/** How long a process waits for another's write lock before failing (ms). */
const BUSY_TIMEOUT_MS = 10_000;
/**
 * How often `watch` reads the revision while watchers exist (ms), besides
 * reading at once after local writes and on WAL changes. Also the interval
 * of progress reports while idle.
 */
const WATCH_POLL_MS = 20;
/**
 * The SQLite header's file change counter (offset 24, 4 bytes big-endian): in
 * rollback-journal mode every transaction that modified the file advances it
 * before the write lock is released (https://www.sqlite.org/fileformat.html,
 * "File change counter"). A poll that finds it where the last revision query
 * left it has nothing to read.
 */
const CHANGE_COUNTER_OFFSET = 24;
/** However still the counter, the revision is queried at least this often (ms): a bound, should a commit ever leave it unchanged. */
const WATCH_QUERY_MAX_MS = 1000;
/**
 * The `changes` log only feeds watchers; it is
 * trimmed every TRIM_EVERY revisions to the last KEEP_REVISIONS revisions and
 * KEEP_MS of time, whichever is less. A watcher further behind than that is
 * told (a process warning) that it missed events, as etcd reports compaction.
 */
const TRIM_EVERY = 256;
const KEEP_REVISIONS = 100_000;
const KEEP_MS = 10 * 60_000;
/** Bumped when the schema changes; opening a newer file is refused. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (
    id       INTEGER PRIMARY KEY CHECK (id = 0),
    revision INTEGER NOT NULL
  );
  INSERT OR IGNORE INTO meta (id, revision) VALUES (0, 0);
  CREATE TABLE IF NOT EXISTS kv (
    key     TEXT PRIMARY KEY,
    value   BLOB NOT NULL,
    version INTEGER NOT NULL,
    lease   INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease != 0;
  CREATE TABLE IF NOT EXISTS leases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused
    ttl_ms     INTEGER NOT NULL,
    expires_at INTEGER NOT NULL                    -- wall-clock ms since the epoch
  );
  CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_at);
  CREATE TABLE IF NOT EXISTS changes (
    revision INTEGER NOT NULL,
    key      TEXT NOT NULL,
    type     TEXT NOT NULL CHECK (type IN ('put', 'delete')),
    at       INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS changes_by_revision ON changes (revision);
`;

interface Row {
  key: string;
  value: Buffer;
  version: number;
  lease: number;
}

interface Watcher {
  readonly prefix: string;
  readonly onEvent: (e: WatchEvent) => void;
  readonly opts: WatchOptions;
  /** Every change up to this revision has been delivered to this watcher. */
  seen: number;
}

export interface SqliteStoreOptions {
  /** Wall clock in milliseconds; defaults to Date.now. Every process sharing a file must use the real clock. */
  readonly now?: () => number;
  /**
   * Told once when the store starts failing (and again after it recovered
   * and fails anew), with a message naming the file; for the one log line a
   * fault gets. Never given values.
   */
  readonly onFault?: (message: string, state: 'failing' | 'recovered') => void;
}

const VISIBLE = '(kv.lease = 0 OR l.expires_at > @now)';
const SELECT = 'SELECT kv.key AS key, kv.value AS value, kv.version AS version, kv.lease AS lease FROM kv LEFT JOIN leases l ON l.id = kv.lease';

export class SqliteStore implements KeyValueStore {
  readonly kind = 'sqlite';
  /** Progress is reported right after the revision is read here (see KeyValueStore). */
  readonly progressIsCurrent = true;
  readonly path: string;

  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #stmts = new Map<string, Database.Statement>();
  readonly #watchers = new Set<Watcher>();
  #timer: NodeJS.Timeout | undefined;
  #walWatcher: FSWatcher | undefined;
  #polling = false;
  #closed = false;
  /** A read-only descriptor of the file while watchers exist, for the change counter. */
  #counterFd: number | undefined;
  readonly #counterBuf = Buffer.alloc(4);
  /** The change counter read just before the last revision query (-1: query at the next poll). */
  #queriedCounter = -1;
  /** When the revision was last queried (Date.now()). */
  #queriedAt = 0;
  readonly #onFault: ((message: string, state: 'failing' | 'recovered') => void) | undefined;
  /** The device and inode opened; the path must keep naming them. */
  readonly #identity: { dev: number; ino: number };
  /** Set when the file was removed or replaced: every operation fails with it. */
  #dead: StoreError | undefined;
  /** The fault currently reported (logged once), cleared by the next committed write. */
  #fault: string | undefined;
  /** Set by #write when its transaction committed. */
  #committed = false;

  /**
   * Open (creating if needed) the store at `path`. Synchronous: it runs once at
   * start-up. Throws StoreError when the file or its directory is unsafe.
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const file = resolve(path);
    const created = prepareFile(file);
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: true });
    } catch (e) {
      throw new StoreError(`cannot open sqlite store ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      /* The busy timeout first, so that changing the journal mode waits for a concurrent opener. */
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      /* Nothing memory-mapped (see the module comment): no WAL (its -shm is mapped), no mmap I/O. */
      db.pragma('mmap_size = 0');
      let mode: string;
      try {
        mode = String(db.pragma('journal_mode = TRUNCATE', { simple: true })).toLowerCase();
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
        mode = 'wal (locked)';
      }
      if (mode !== 'truncate') {
        throw new StoreError(`sqlite store ${file}: cannot switch to the rollback journal (journal_mode is ${mode}); another process still has it open in WAL mode: stop every node on this host, then start them again`);
      }
      db.pragma('synchronous = FULL');
      db.transaction(() => {
        const v = Number(db.pragma('user_version', { simple: true }));
        const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
        /* A file that existed but holds no store was emptied or truncated: never start afresh on it. */
        if (!created && !hasMeta) throw new StoreError(`sqlite store ${file} exists but holds no store (empty or truncated); restore it from a backup, or remove it to start a new, empty partition`);
        if (v > SCHEMA_VERSION) throw new StoreError(`sqlite store ${file} has schema version ${v}; this program knows up to ${SCHEMA_VERSION}`);
        db.exec(SCHEMA);
        if (v < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
      /*
       * A damaged page or index is refused here, before anything is served
       * from it. The full check (not quick_check): a damaged entry of the key
       * index makes a lookup miss a present row, which would answer "no such
       * key" for a key that exists.
       */
      const check = integrityCheck(db);
      if (check.length > 0) {
        throw new StoreError(`sqlite store ${file} is damaged (${check.join('; ')}); run "ochsm verify" and restore it from a backup`);
      }
    } catch (e) {
      db.close();
      if (e instanceof StoreError) throw e;
      throw new StoreError(`cannot initialise sqlite store ${file}: ${(e as Error).message}`, { cause: e });
    }
    const st = statSync(file);
    return new SqliteStore(file, db, opts.now ?? Date.now, opts.onFault, { dev: st.dev, ino: st.ino });
  }

  private constructor(path: string, db: Database.Database, now: () => number, onFault: ((message: string, state: 'failing' | 'recovered') => void) | undefined, identity: { dev: number; ino: number }) {
    this.path = path;
    this.#db = db;
    this.#now = now;
    this.#onFault = onFault;
    this.#identity = identity;
  }

  async get(key: string): Promise<Entry | undefined> {
    return this.#guard(() => {
      checkKey(key);
      return this.#read(key, this.#now());
    });
  }

  async put(key: string, value: Bytes, opts?: { lease?: number }): Promise<number> {
    return this.#guardPoll(() => {
      checkKey(key);
      const buf = toBuffer(value);
      return this.#write((now) => {
        const lease = opts?.lease ?? 0;
        this.#checkLease(lease, now);
        const revision = this.#bump(now);
        this.#stmt('INSERT INTO kv (key, value, version, lease) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, lease = excluded.lease')
          .run(key, buf, revision, lease);
        this.#logChange(revision, key, 'put', now);
        return revision;
      });
    });
  }

  async delete(key: string): Promise<boolean> {
    return this.#guardPoll(() => {
      checkKey(key);
      return this.#write((now) => {
        if (this.#stmt('SELECT 1 FROM kv WHERE key = ?').get(key) === undefined) return false;
        const revision = this.#bump(now);
        this.#stmt('DELETE FROM kv WHERE key = ?').run(key);
        this.#logChange(revision, key, 'delete', now);
        return true;
      });
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<Entry[]> {
    return this.#guard(() => {
      checkListOptions(opts);
      const end = prefixEnd(prefix);
      const params: Record<string, unknown> = { lo: prefix, now: this.#now(), limit: opts.limit ? opts.limit : -1 };
      let where = 'kv.key >= @lo';
      if (end !== undefined) {
        where += ' AND kv.key < @hi';
        params.hi = end;
      }
      if (opts.after !== undefined) {
        where += ' AND kv.key > @after';
        params.after = opts.after;
      }
      const rows = this.#stmt(`${SELECT} WHERE ${where} AND ${VISIBLE} ORDER BY kv.key LIMIT @limit`).all(params) as Row[];
      /* The range is exact for valid UTF-16; the filter guards against lone surrogates. */
      return rows.filter((r) => r.key.startsWith(prefix)).map(toEntry);
    });
  }

  async txn(compare: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    return this.#guardPoll(() => {
      for (const c of compare) checkKey(c.key);
      for (const o of [...success, ...failure]) checkKey(o.key);
      checkTxnWrites(success);
      checkTxnWrites(failure);
      const values = new Map<Op, Buffer>();
      for (const o of [...success, ...failure]) if (o.op === 'put') values.set(o, toBuffer(o.value));

      const body = (now: number): TxnResult => {
        const succeeded = compare.every((c) => compareHolds(c, this.#read(c.key, now)));
        const ops = succeeded ? success : failure;
        for (const o of ops) if (o.op === 'put') this.#checkLease(o.lease ?? 0, now);
        /* Every write of one transaction shares one revision, as in etcd. */
        const revision = this.#revision() + 1;
        let wrote = false;
        const results: (Entry | undefined)[] = [];
        for (const o of ops) {
          if (o.op === 'get') {
            results.push(this.#read(o.key, now));
            continue;
          }
          results.push(undefined);
          if (o.op === 'put') {
            this.#stmt('INSERT INTO kv (key, value, version, lease) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, lease = excluded.lease')
              .run(o.key, values.get(o)!, revision, o.lease ?? 0);
            this.#logChange(revision, o.key, 'put', now);
            wrote = true;
          } else if (this.#stmt('DELETE FROM kv WHERE key = ?').run(o.key).changes > 0) {
            this.#logChange(revision, o.key, 'delete', now);
            wrote = true;
          }
        }
        if (wrote) this.#bump(now);
        return { succeeded, revision: this.#revision(), results };
      };

      /* A transaction that cannot write needs no write lock: a deferred transaction is a consistent snapshot. */
      const mayWrite = [...success, ...failure].some((o) => o.op !== 'get');
      if (mayWrite) return this.#write(body);
      return this.#db.transaction(() => body(this.#now())).deferred();
    });
  }

  async grantLease(ttlMs: number): Promise<number> {
    return this.#guard(() => {
      checkTtl(ttlMs);
      return this.#write((now) => Number(this.#stmt('INSERT INTO leases (ttl_ms, expires_at) VALUES (?, ?)').run(ttlMs, now + ttlMs).lastInsertRowid));
    });
  }

  async keepAlive(lease: number): Promise<boolean> {
    return this.#guard(() =>
      this.#write((now) => this.#stmt('UPDATE leases SET expires_at = @now + ttl_ms WHERE id = @id AND expires_at > @now').run({ id: lease, now }).changes > 0),
    );
  }

  async revokeLease(lease: number): Promise<void> {
    return this.#guardPoll(() => {
      this.#write((now) => {
        /* Revoking an unknown or already-expired lease is not an error: the keys are gone either way. */
        if (this.#stmt('DELETE FROM leases WHERE id = ?').run(lease).changes === 0) return;
        this.#dropLeaseKeys('lease = ?', [lease], now);
      });
    });
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}): () => void {
    this.#guard(() => undefined);
    const now = this.#revision();
    const from = opts.fromRevision ?? now;
    const w: Watcher = { prefix, onEvent, opts, seen: Math.min(from, now) };
    if (this.#watchers.size === 0) {
      this.#timer = setInterval(() => this.#poll(), WATCH_POLL_MS);
      /* Watching must not keep the process alive on its own. */
      this.#timer.unref();
      /*
       * Kept open until close(), after the database: closing a descriptor of a file
       * drops every POSIX lock this process holds on it, SQLite's included.
       */
      try {
        this.#counterFd ??= openSync(this.path, 'r');
      } catch {
        this.#counterFd = undefined; /* every poll queries the revision */
      }
      try {
        /* Another process's commit writes the database file: read at once instead of at the next tick. */
        this.#walWatcher = watchFile(this.path, { persistent: false }, () => this.#poll());
        this.#walWatcher.on('error', () => this.#stopWalWatcher());
      } catch {
        this.#walWatcher = undefined; /* no inotify: the timer still reads */
      }
    }
    this.#watchers.add(w);
    /* A new watcher may start behind the store: the next poll queries. */
    this.#queriedCounter = -1;
    /* The first read (history since `from`, or a compaction error) runs after `watch` returns. */
    queueMicrotask(() => this.#poll());
    return () => {
      this.#watchers.delete(w);
      if (this.#watchers.size === 0) this.#stopTimer();
    };
  }

  /** Forget the change log up to `revision` (default: all of it), as etcd's compaction does. */
  compact(revision?: number): void {
    this.#guard(() => {
      this.#stmt('DELETE FROM changes WHERE revision <= ?').run(revision ?? this.#revision());
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    this.#stopTimer();
    this.#db.close();
    if (this.#counterFd !== undefined) closeSync(this.#counterFd);
    this.#counterFd = undefined;
  }

  /* ---- internals ---- */

  /**
   * Run `fn`, turning closed-store use and SQLite failures into StoreError.
   * The file's identity is checked before and after, so a write that went to
   * a removed or replaced file is never acknowledged.
   */
  #guard<T>(fn: () => T): T {
    if (this.#closed) throw new StoreError('sqlite store is closed');
    let r: T;
    this.#committed = false;
    try {
      this.#checkIdentity();
      r = fn();
      this.#checkIdentity();
    } catch (e) {
      const err = e instanceof StoreError ? e : new StoreError(`sqlite store ${this.path}: ${describe(e)}`, { cause: e });
      /* Argument errors are the caller's, not a fault of the store. */
      if (!(e instanceof StoreError) || e === this.#dead) this.#reportFault(err.message);
      throw err;
    }
    /* Only a committed write proves the store works again (reads may go on while writes fail). */
    if (this.#fault !== undefined && this.#committed) {
      this.#fault = undefined;
      this.#onFault?.(`sqlite store ${this.path}: working again`, 'recovered');
    }
    return r;
  }

  #checkIdentity(): void {
    if (this.#dead) throw this.#dead;
    let why: string | undefined;
    try {
      const st = statSync(this.path);
      if (st.dev !== this.#identity.dev || st.ino !== this.#identity.ino) why = 'was replaced by another file';
    } catch (e) {
      why = `was removed (${(e as NodeJS.ErrnoException).code ?? describe(e)})`;
    }
    if (why === undefined) return;
    this.#dead = new StoreError(`sqlite store ${this.path} ${why} while open; nothing is read or written until the node is restarted on the restored file`);
    throw this.#dead;
  }

  #reportFault(message: string): void {
    if (this.#fault !== undefined) return;
    this.#fault = message;
    this.#onFault?.(message, 'failing');
  }

  /** As #guard, then deliver what changed (this write and any other process's) to watchers. */
  #guardPoll<T>(fn: () => T): T {
    const r = this.#guard(fn);
    if (this.#watchers.size > 0) this.#poll();
    return r;
  }

  /**
   * A write transaction: BEGIN IMMEDIATE takes the database's write lock
   * before the first read, so everything `fn` reads stays true until it
   * commits, across processes. Expired leases are purged first, so `fn` never
   * meets a key it cannot see. A throw rolls everything back.
   */
  #write<T>(fn: (now: number) => T): T {
    const r = this.#db.transaction(() => {
      const now = this.#now();
      this.#purge(now);
      return fn(now);
    }).immediate();
    this.#committed = true;
    return r;
  }

  #stmt(sql: string): Database.Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #read(key: string, now: number): Entry | undefined {
    const row = this.#stmt(`${SELECT} WHERE kv.key = @key AND ${VISIBLE}`).get({ key, now }) as Row | undefined;
    return row ? toEntry(row) : undefined;
  }

  #revision(): number {
    return (this.#stmt('SELECT revision FROM meta WHERE id = 0').get() as { revision: number }).revision;
  }

  /** Advance the store-wide revision by one; trims the change log now and then. */
  #bump(now: number): number {
    const revision = (this.#stmt('UPDATE meta SET revision = revision + 1 WHERE id = 0 RETURNING revision').get() as { revision: number }).revision;
    if (revision % TRIM_EVERY === 0) {
      this.#stmt('DELETE FROM changes WHERE revision <= ? OR at < ?').run(revision - KEEP_REVISIONS, now - KEEP_MS);
    }
    return revision;
  }

  #logChange(revision: number, key: string, type: 'put' | 'delete', now: number): void {
    this.#stmt('INSERT INTO changes (revision, key, type, at) VALUES (?, ?, ?, ?)').run(revision, key, type, now);
  }

  #checkLease(lease: number, now: number): void {
    if (lease === 0) return;
    const row = this.#stmt('SELECT expires_at FROM leases WHERE id = ?').get(lease) as { expires_at: number } | undefined;
    if (!row || row.expires_at <= now) throw new StoreError(`lease ${lease} not found or expired`);
  }

  /** Drop expired leases and delete their keys at one new revision (as etcd does on expiry). */
  #purge(now: number): void {
    if (this.#stmt('SELECT 1 FROM leases WHERE expires_at <= ? LIMIT 1').get(now) === undefined) return;
    this.#dropLeaseKeys('lease IN (SELECT id FROM leases WHERE expires_at <= ?)', [now], now);
    this.#stmt('DELETE FROM leases WHERE expires_at <= ?').run(now);
  }

  #dropLeaseKeys(where: string, params: unknown[], now: number): void {
    const keys = (this.#stmt(`SELECT key FROM kv WHERE ${where} ORDER BY key`).all(...params) as { key: string }[]).map((r) => r.key);
    if (keys.length === 0) return;
    const revision = this.#bump(now);
    const del = this.#stmt('DELETE FROM kv WHERE key = ?');
    for (const key of keys) {
      del.run(key);
      this.#logChange(revision, key, 'delete', now);
    }
  }

  /** The file's change counter, or -1 when it cannot be read (then the revision is queried). */
  #changeCounter(): number {
    if (this.#counterFd === undefined) return -1;
    try {
      if (readSync(this.#counterFd, this.#counterBuf, 0, 4, CHANGE_COUNTER_OFFSET) !== 4) return -1;
    } catch {
      return -1;
    }
    return this.#counterBuf.readUInt32BE(0);
  }

  /**
   * Deliver every change after each watcher's cursor, then report progress.
   * A watcher whose next change was trimmed from the log gets a
   * StoreCompactedError and is dropped: it must read afresh.
   */
  #poll(): void {
    if (this.#closed || this.#watchers.size === 0 || this.#polling) return;
    this.#polling = true;
    try {
      let revision: number;
      let events: { revision: number; key: string; type: 'put' | 'delete' }[] = [];
      let oldest: number;
      try {
        this.#checkIdentity();
        /* Read before the query: a commit after this read moves the counter, so the next poll queries again. */
        const counter = this.#changeCounter();
        const now = Date.now();
        if (counter >= 0 && counter === this.#queriedCounter && now - this.#queriedAt < WATCH_QUERY_MAX_MS) {
          /* Nothing committed since the last query: every watcher is still current. */
          for (const w of [...this.#watchers]) {
            try {
              w.opts.onProgress?.(w.seen);
            } catch (err) {
              process.emitWarning(`store watch listener threw: ${(err as Error)?.message ?? String(err)}`);
            }
          }
          return;
        }
        revision = this.#revision();
        this.#queriedCounter = counter;
        this.#queriedAt = now;
        let min = revision;
        for (const w of this.#watchers) min = Math.min(min, w.seen);
        if (min < revision) {
          events = this.#stmt('SELECT revision, key, type FROM changes WHERE revision > ? ORDER BY revision, rowid').all(min) as typeof events;
        }
        oldest = events.length > 0 ? events[0]!.revision : revision + 1;
      } catch (e) {
        /* A busy or failing database: try again at the next tick (reported once, not every tick). */
        const message = e === this.#dead ? (e as StoreError).message : `sqlite store ${this.path}: watch poll failed: ${describe(e)}`;
        if (this.#onFault) this.#reportFault(message);
        else if (this.#fault === undefined) {
          this.#fault = message;
          process.emitWarning(message);
        }
        return;
      }
      const last = Math.max(revision, events.length > 0 ? events[events.length - 1]!.revision : 0);
      for (const w of [...this.#watchers]) {
        if (!this.#watchers.has(w)) continue;
        if (w.seen < last) {
          /* Every revision logs at least one change, so a missing next revision means it was trimmed. */
          const next = events.find((e) => e.revision > w.seen);
          if (!next || next.revision > w.seen + 1) {
            this.#watchers.delete(w);
            const err = new StoreCompactedError(`sqlite store ${this.path}: a watcher fell behind; the changes after revision ${w.seen} are no longer kept (the log starts at ${oldest}); read afresh and watch again`, oldest);
            if (w.opts.onError) w.opts.onError(err);
            else process.emitWarning(err.message);
            continue;
          }
          for (const e of events) {
            if (e.revision <= w.seen || !e.key.startsWith(w.prefix)) continue;
            try {
              w.onEvent({ type: e.type, key: e.key, revision: e.revision });
            } catch (err) {
              process.emitWarning(`store watch listener threw: ${(err as Error)?.message ?? String(err)}`);
            }
            if (!this.#watchers.has(w)) break;
          }
          w.seen = last;
        }
        try {
          w.opts.onProgress?.(w.seen);
        } catch (err) {
          process.emitWarning(`store watch listener threw: ${(err as Error)?.message ?? String(err)}`);
        }
      }
      if (this.#watchers.size === 0) this.#stopTimer();
    } finally {
      this.#polling = false;
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#queriedCounter = -1;
    this.#stopWalWatcher();
  }

  #stopWalWatcher(): void {
    this.#walWatcher?.close();
    this.#walWatcher = undefined;
  }
}

/** SQLite's integrity check of an open database: the first problems found, or none. */
export function integrityCheck(db: Database.Database, max = 20): string[] {
  const rows = db.pragma(`integrity_check(${max})`) as { integrity_check: string }[];
  return rows.length === 1 && rows[0]!.integrity_check === 'ok' ? [] : rows.map((r) => r.integrity_check);
}

/**
 * Whether, at this instant, no process holds any lock on the store file (no reader inside a read,
 * no writer inside a write): an EXCLUSIVE transaction begun without waiting, then rolled back.
 * Tests that freeze a node (SIGSTOP) use it to be sure the frozen node holds no lock, since a
 * process frozen inside a transaction blocks every writer until it runs again.
 */
export function sqliteLockFree(path: string): boolean {
  const db = new Database(path, { fileMustExist: true, timeout: 0 });
  try {
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_BUSY') return false;
    throw e;
  } finally {
    db.close();
  }
}

/** One row of the store's table, as `readSqliteStoreOffline` returns it. */
export interface SqliteRow { key: string; value: Buffer; version: number; lease: number }

/**
 * Read a store file offline for `ochsm verify`: opened read-only (nothing written, a hot journal
 * is not rolled back), SQLite's full integrity check, then every row by a table scan (a row the
 * key index lost is still read). Throws with `stage` 'open' or 'read' and SQLite's `code`.
 */
export function readSqliteStoreOffline(path: string): { integrity: string[]; rows: SqliteRow[] } {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw Object.assign(e as Error, { stage: 'open' });
  }
  try {
    const integrity = integrityCheck(db);
    const rows = db.prepare('SELECT key, value, version, lease FROM kv NOT INDEXED ORDER BY rowid').all() as SqliteRow[];
    return { integrity, rows };
  } catch (e) {
    throw Object.assign(e as Error, { stage: 'read' });
  } finally {
    db.close();
  }
}

/** An SQLite error with its code (SQLITE_FULL, SQLITE_IOERR_WRITE, ...), for messages and logs. */
function describe(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && !msg.includes(code) ? `${msg} (${code})` : msg;
}

function toBuffer(v: Bytes): Buffer {
  if (!(v instanceof Uint8Array)) throw new StoreError('store value must be a Uint8Array');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function toEntry(r: Row): Entry {
  return { key: r.key, value: r.value, version: r.version, lease: r.lease };
}

function octal(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
}

/**
 * Create the database file owner-only, or check an existing one; true when
 * it was created now. SQLite gives the `-journal` file the main file's
 * permissions, so it inherits 0600.
 */
function prepareFile(file: string): boolean {
  const dir = dirname(file);
  let dirMode: number;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) throw new StoreError(`sqlite store directory ${dir} is not a directory`);
    dirMode = st.mode;
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(`sqlite store directory ${dir} is not accessible: ${(e as Error).message}`, { cause: e });
  }
  /* Even with the sticky bit, a world-writable directory lets anyone pre-create our -wal/-shm files. */
  if (dirMode & 0o002) {
    throw new StoreError(`sqlite store directory ${dir} is world-writable (mode ${octal(dirMode)}); put the store in a directory only its owner can write to`);
  }
  let created = false;
  try {
    closeSync(openSync(file, 'wx', 0o600));
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new StoreError(`cannot create sqlite store ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
  const st = statSync(file);
  if (!st.isFile()) throw new StoreError(`sqlite store ${file} is not a regular file`);
  if (st.mode & 0o077) {
    throw new StoreError(`sqlite store ${file} has mode ${octal(st.mode)}; it must be accessible by its owner only (chmod 600 ${file})`);
  }
  return created;
}
