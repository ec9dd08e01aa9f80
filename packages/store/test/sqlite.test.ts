/**
 * SqliteStore against the store contract (a fresh file in a fresh temp dir
 * per test), plus what only a shared file can show: two real processes doing
 * compare-and-swap on one counter lose no update, and the file is owner-only.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

exerciseStore('sqlite', () => SqliteStore.open(join(freshDir(), 'store.db')), { compact: (s) => (s as SqliteStore).compact() });

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

test('sqlite: the database file is created with mode 0600', async () => {
  const dbPath = join(freshDir(), 'mode.db');
  const store = SqliteStore.open(dbPath);
  try {
    await store.put('k', Buffer.from('v'));
    assert.equal(statSync(dbPath).mode & 0o777, 0o600);
    /* SQLite gives the WAL and shared-memory files the main file's mode. */
    for (const f of [`${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(f)) assert.equal(statSync(f).mode & 0o777, 0o600, f);
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
