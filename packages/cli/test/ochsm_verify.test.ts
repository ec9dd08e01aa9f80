/**
 * `ochsm verify` on a real installation: a node made keys, signed with them
 * (key-use audit log) and was stopped; the real command then checks the good
 * store (exit 0) and copies of it, each damaged one way (exit 1, the problem
 * named).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { PATH, enc } from '../../hsm-core/src/partition/records.js';
import { Barrier } from '../../hsm-core/src/barrier/barrier.js';
import { SqliteStore } from '../../store/src/sqlite.js';
import { loadSealingKeyFile } from '../../hsm-node/src/sealing_key_file.js';
import { startCluster, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { ECDSA_SHA256, exampleCuSigningPair } from '../../testkit/src/keys.js';

const OCHSM = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'ochsm.js');
let base: string;
let good: string;
let keyHandle: number;

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'ochsm-verify-'));
  good = join(base, 'good');
  const cluster = await startCluster(good, { nodes: 1 });
  try {
    /* Keys, and signatures for the key-use audit log. */
    keyHandle = (await exampleCuSigningPair(cluster, async (c, pair) => {
      for (let i = 0; i < 5; i++) await c.request('sign', { mechanism: ECDSA_SHA256, handle: pair.privateHandle, data: Buffer.from(`m${i}`) });
    })).privateHandle;
  } finally {
    await cluster.stop();
  }
});

after(() => rmSync(base, { recursive: true, force: true }));

function verify(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [OCHSM, 'verify', dir], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A copy of the good installation, changed by `damage`. */
async function damaged(name: string, damage: (dir: string) => void | Promise<void>): Promise<string> {
  const dir = join(base, name);
  cpSync(good, dir, { recursive: true });
  await damage(dir);
  return dir;
}

const dbOf = (dir: string) => join(dir, 'data', 'partition.db');

function sqlite(dir: string, fn: (d: Database.Database) => void): void {
  const d = new Database(dbOf(dir));
  try {
    fn(d);
  } finally {
    d.close();
  }
}

test('a good installation: every check passes, exit 0, with a summary', () => {
  const r = verify(good);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /integrity check ok/);
  assert.match(r.out, /records: \d+ checked, \d+ ok, 0 corrupt \(2 users, 2 objects, \d+ audit records\)/);
  assert.match(r.out, /store audit chain: \d+ records verify/);
  assert.match(r.out, /counters: .* consistent/);
  assert.match(r.out, /key-use audit log .*node-1\.log: 5 records verify/);
  assert.match(r.out, /verify: no problems found/);
  assert.ok(!r.out.includes(EXAMPLE_CU.password));
});

test('a flipped bit in a stored object: the record is named as corrupt, exit 1', async () => {
  const dir = await damaged('bitflip', (d) => sqlite(d, (db) => {
    const key = PATH.object(keyHandle);
    const v = Buffer.from((db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: Buffer }).value);
    v[20]! ^= 0x10;
    db.prepare('UPDATE kv SET value = ? WHERE key = ?').run(v, key);
  }));
  const r = verify(dir);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, new RegExp(`PROBLEM  record ${PATH.object(keyHandle)}: does not authenticate`));
  assert.match(r.out, /1 corrupt/);
});

test('a removed audit record: the chain is reported broken at that record', async () => {
  const dir = await damaged('audit', (d) => sqlite(d, (db) => db.prepare('DELETE FROM kv WHERE key = ?').run(PATH.audit(2))));
  const r = verify(dir);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /PROBLEM  store audit chain: broken at record 2: record 2 is missing/);
});

test('a handle counter behind the objects (validly sealed): reported as inconsistent', async () => {
  const dir = await damaged('counter', async (d) => {
    const store = SqliteStore.open(dbOf(d));
    try {
      const b = await Barrier.open(store, loadSealingKeyFile(join(d, 'sealing.key')));
      await b.put(PATH.nextHandle, enc({ next: keyHandle }));
    } finally {
      await store.close();
    }
  });
  const r = verify(dir);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /PROBLEM  counter sys\/next_handle is \d+, but object \d+ exists/);
});

test('an altered line in a key-use audit log: reported broken at that record', async () => {
  const dir = await damaged('uselog', (d) => {
    const path = join(d, 'data', 'audit', 'node-1.log');
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"sign"', '"verify"');
    writeFileSync(path, lines.join('\n'));
  });
  const r = verify(dir);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /PROBLEM  key-use audit log .*node-1\.log: broken at record 3: record 3 was altered/);
});

test('a truncated store file: the file is named as damaged', async () => {
  const dir = await damaged('truncated', (d) => truncateSync(dbOf(d), Math.floor(statSync(dbOf(d)).size / 2)));
  const r = verify(dir);
  assert.equal(r.status, 1, r.out);
  assert.ok(r.out.includes(`PROBLEM  sqlite store ${dbOf(dir)}`), r.out);
});

test('usage errors exit 2', () => {
  const r = spawnSync(process.execPath, [OCHSM, 'verify', 'a', 'b'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /at most one installation directory/);
});
