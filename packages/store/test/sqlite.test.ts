/**
 * SqliteStore against the store contract (a fresh file in a fresh temp dir
 * per test), plus what only a shared file can show: two real processes doing
 * compare-and-swap on one counter lose no update, and the file is owner-only.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/sqlite.js';
import { exerciseStore } from './conformance.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ochsm-sqlite-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/* A clock the lease tests move, as for the memory store: with the real one, a 400 ms lease had to
 * outlive a grant, a put and a keepAlive (each a synchronous=FULL commit, several fsyncs), which a
 * loaded disk can stretch past it. The real clock's expiry is exercised by the etcd run. */
let clock = 1_700_000_000_000;
exerciseStore('sqlite', () => SqliteStore.open(join(freshDir(), 'store.db'), { now: () => clock }), { advanceClock: (ms) => { clock += ms; }, compact: (s) => (s as SqliteStore).compact() });

const here = dirname(fileURLToPath(import.meta.url));

/** Run the CAS worker in a child process; resolves with its exit code and output, kills it on timeout. */
function runWorker(dbPath: string, key: string, count: number, timeoutMs: number, startAt = 0): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'fixtures', 'cas_worker.js'), dbPath, key, String(count), String(startAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cas worker timed out after ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('sqlite: two processes, 200 CAS increments each on one key: no lost update', { timeout: 90_000 }, async () => {
  const dbPath = join(freshDir(), 'shared.db');
  /* Create the schema first so both workers start on an initialised file. */
  const store = SqliteStore.open(dbPath);
  try {
    const startAt = Date.now() + 400;
    const [a, b] = await Promise.all([runWorker(dbPath, 'counter', 200, 60_000, startAt), runWorker(dbPath, 'counter', 200, 60_000, startAt)]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const e = await store.get('counter');
    assert.equal(Buffer.from(e!.value).toString('utf8'), '400');
  } finally {
    await store.close();
  }
});

test('sqlite: a watcher sees writes made by another process', { timeout: 60_000 }, async () => {
  const dbPath = join(freshDir(), 'watched.db');
  const store = SqliteStore.open(dbPath);
  const seen: string[] = [];
  const stop = store.watch('counter', (e) => seen.push(`${e.type} ${e.key}`));
  try {
    const r = await runWorker(dbPath, 'counter', 3, 30_000);
    assert.equal(r.code, 0, r.err);
    const deadline = Date.now() + 3000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(seen, ['put counter', 'put counter', 'put counter']);
  } finally {
    stop();
    await store.close();
  }
});

/** The SQLite header's file change counter (offset 24), read as the watch reads it. */
function changeCounter(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 24);
    return b.readUInt32BE(0);
  } finally {
    closeSync(fd);
  }
}

const until = async (what: string, ok: () => boolean, ms = 3000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
};

test('sqlite: the watch queries the revision only when the change counter moved, and misses no commit of another connection', { timeout: 30_000 }, async () => {
  const dbPath = join(freshDir(), 'counter.db');
  const store = SqliteStore.open(dbPath);
  const other = SqliteStore.open(dbPath); /* a second connection, as another node's process has */
  const seen: number[] = [];
  const progress: number[] = [];
  const stop = store.watch('k', (e) => seen.push(e.revision), { onProgress: (r) => progress.push(r) });
  try {
    for (let i = 1; i <= 5; i++) {
      const before = changeCounter(dbPath);
      await other.put(`k${i}`, Buffer.from('v'));
      assert.notEqual(changeCounter(dbPath), before, `commit ${i} of the other connection moves the file change counter`);
    }
    await until('the five commits', () => seen.length >= 5);
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    /* Idle: nothing moves the counter, and progress still comes, at the revision reached. */
    const reports = progress.length;
    await until('progress reports while idle', () => progress.length >= reports + 3);
    assert.equal(progress.at(-1), 5);
    /* A watcher that starts behind gets the history although the file did not change since the last query. */
    const late: number[] = [];
    const stopLate = store.watch('k', (e) => late.push(e.revision), { fromRevision: 2 });
    await until('the history after revision 2', () => late.length >= 3);
    stopLate();
    assert.deepEqual(late, [3, 4, 5]);
    /* A read-only transaction of the other connection changes nothing, and a later commit is still seen. */
    await other.get('k1');
    await other.delete('k1');
    await until('the delete', () => seen.length >= 6);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  } finally {
    stop();
    await other.close();
    await store.close();
  }
});

test('sqlite: the database file is created with mode 0600', async () => {
  const dbPath = join(freshDir(), 'mode.db');
  const store = SqliteStore.open(dbPath);
  try {
    await store.put('k', Buffer.from('v'));
    assert.equal(statSync(dbPath).mode & 0o777, 0o600);
    /* SQLite gives the journal the main file's mode. */
    assert.equal(statSync(`${dbPath}-journal`).mode & 0o777, 0o600);
  } finally {
    await store.close();
  }
});

test('sqlite: refuses a file others can access, and a world-writable directory', () => {
  const d = freshDir();
  const loose = join(d, 'loose.db');
  writeFileSync(loose, '', { mode: 0o600 });
  chmodSync(loose, 0o644);
  assert.throws(() => SqliteStore.open(loose), (e: Error) => e.name === 'StoreError' && e.message.includes(loose) && e.message.includes('0644'));

  const open = join(d, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.throws(() => SqliteStore.open(join(open, 'x.db')), (e: Error) => e.name === 'StoreError' && e.message.includes('world-writable'));
  assert.equal(existsSync(join(open, 'x.db')), false);
});

test('sqlite: data and the revision survive reopening', async () => {
  const dbPath = join(freshDir(), 'reopen.db');
  let s = SqliteStore.open(dbPath);
  const v = await s.put('k', Buffer.from('v'));
  await s.close();
  s = SqliteStore.open(dbPath);
  try {
    assert.equal((await s.get('k'))?.version, v);
    assert.ok((await s.put('k2', Buffer.from('w'))) > v);
  } finally {
    await s.close();
  }
});

test('sqlite: nothing memory-mapped: a rollback journal, mmap off; a WAL store of an earlier version is converted', async () => {
  const dbPath = join(freshDir(), 'journal.db');
  {
    const store = SqliteStore.open(dbPath);
    await store.put('k', Buffer.from('v'));
    await store.close();
  }
  /* Make it a WAL store, as earlier versions left it. */
  const old = new Database(dbPath);
  assert.equal(old.pragma('journal_mode = WAL', { simple: true }), 'wal');
  old.close();
  const store = SqliteStore.open(dbPath);
  try {
    assert.deepEqual((await store.get('k'))?.value, Buffer.from('v'));
    await store.put('k2', Buffer.from('w'));
    assert.ok(!existsSync(`${dbPath}-wal`) && !existsSync(`${dbPath}-shm`), 'no WAL and no -shm after opening');
  } finally {
    await store.close();
  }
  const peek = new Database(dbPath, { readonly: true });
  assert.equal(peek.pragma('journal_mode', { simple: true }), 'delete', 'the file is in rollback-journal mode at rest');
  peek.close();
});

test('sqlite: a WAL store still held open elsewhere is refused with the fix', () => {
  const dbPath = join(freshDir(), 'held.db');
  const other = new Database(dbPath);
  chmodSync(dbPath, 0o600);
  other.pragma('journal_mode = WAL');
  other.exec('CREATE TABLE t (x)');
  try {
    assert.throws(() => SqliteStore.open(dbPath), (e: Error) => e.message.includes(dbPath) && /WAL mode: stop every node/.test(e.message));
  } finally {
    other.close();
  }
});

test('sqlite: an existing file that holds no store, or a damaged one, is refused, never started afresh', async () => {
  const d = freshDir();
  const empty = join(d, 'empty.db');
  writeFileSync(empty, '', { mode: 0o600 });
  assert.throws(() => SqliteStore.open(empty), /empty\.db exists but holds no store \(empty or truncated\)/);
  const damaged = join(d, 'damaged.db');
  const s = SqliteStore.open(damaged);
  for (let i = 0; i < 400; i++) await s.put(`k/${String(i).padStart(4, '0')}`, Buffer.alloc(200, i));
  await s.close();
  truncateSync(damaged, Math.floor(statSync(damaged).size / 2));
  assert.throws(() => SqliteStore.open(damaged), (e: Error) => e.message.includes(damaged) && /damaged|malformed/.test(e.message));
});

test('sqlite: a removed file fails every later operation, naming the file, and tells onFault once', async () => {
  const dbPath = join(freshDir(), 'gone.db');
  const faults: string[] = [];
  const store = SqliteStore.open(dbPath, { onFault: (m, state) => faults.push(`${state}: ${m}`) });
  try {
    await store.put('k', Buffer.from('v'));
    rmSync(dbPath);
    await assert.rejects(store.put('k', Buffer.from('w')), (e: Error) => e.message.includes(dbPath) && /was removed/.test(e.message));
    await assert.rejects(store.get('k'), /was removed/);
    writeFileSync(dbPath, '', { mode: 0o600 });
    await assert.rejects(store.get('k'), /was removed/, 'a new file at the path does not revive it');
    assert.equal(faults.length, 1, faults.join('\n'));
    assert.match(faults[0]!, /^failing: sqlite store .*gone\.db was removed/);
  } finally {
    await store.close();
  }
});
