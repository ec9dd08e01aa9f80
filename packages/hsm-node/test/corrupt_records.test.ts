/**
 * Corrupt records on a real node process (issue: store faults): one changed
 * bit in a stored object or user, a value moved to another key, and a damaged
 * entry of SQLite's key index. Each is reported as corrupt, naming the record
 * key (or the file, for the index), never answered as "absent", never served;
 * the other records keep working.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as P from '../../protocol/src/pkcs11.js';
import { PATH } from '../../hsm-core/src/partition/records.js';
import { startCluster, connectNode, EXAMPLE_CU, NODE_MAIN, type LocalCluster } from '../../testkit/src/cluster.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';

let dir: string;
let cluster: LocalCluster;
let db: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-corrupt-'));
  cluster = await startCluster(dir, { nodes: 1, users: [{ ...EXAMPLE_CU, role: 'CU' }, { user: 'cu2', password: 'user5678', role: 'CU' }] });
  db = join(dir, 'data', 'partition.db');
});

after(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function signedIn(user = EXAMPLE_CU.user, password = EXAMPLE_CU.password): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(1).port, cluster.poCrt);
  await c.request('login', { user, password, role: 'CU' });
  return c;
}

async function aesKey(c: ProtocolClient, label: string): Promise<number> {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(32n);
  const { handle } = await c.request('generateKey', {
    mechanism: { mechanism: P.CKM_AES_KEY_GEN },
    template: [{ type: P.CKA_TOKEN, value: Uint8Array.of(1) }, { type: P.CKA_VALUE_LEN, value: len }, { type: P.CKA_LABEL, value: Buffer.from(label) }, { type: P.CKA_ENCRYPT, value: Uint8Array.of(1) }],
  });
  return handle;
}

/** Stop the node, change the file, start it again. */
async function offline(edit: (d: Database.Database) => void): Promise<void> {
  await cluster.killNode(1, 'SIGTERM');
  const d = new Database(db);
  try {
    edit(d);
  } finally {
    d.close();
  }
  await cluster.startNode(1);
  await cluster.waitForE2E();
}

function flipBit(d: Database.Database, key: string, at: (len: number) => number): void {
  const row = d.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: Buffer } | undefined;
  assert.ok(row, `${key} is stored`);
  const v = Buffer.from(row.value);
  v[at(v.length)]! ^= 0x01;
  d.prepare('UPDATE kv SET value = ? WHERE key = ?').run(v, key);
}

const isCorrupt = (key: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, 'ERR_STORE', (e as Error).message);
  assert.ok((e as Error).message.includes(`stored record ${key} cannot be read`), (e as Error).message);
  return true;
};

test('a flipped bit in a stored object: ERR_STORE naming the record, not "handle invalid"; other keys work', { timeout: 120_000 }, async () => {
  let c = await signedIn();
  const good = await aesKey(c, 'good');
  const bad = await aesKey(c, 'bad');
  const tail = await aesKey(c, 'tail');
  c.close();
  /* The authentication tag (last bytes) of one, a byte in the middle of the ciphertext of another. */
  await offline((d) => {
    flipBit(d, PATH.object(bad), (n) => n - 1);
    flipBit(d, PATH.object(tail), (n) => Math.floor(n / 2));
  });
  c = await signedIn();
  try {
    for (const h of [bad, tail]) {
      await assert.rejects(c.request('getAttributeValue', { handle: h, types: [P.CKA_LABEL] }), isCorrupt(PATH.object(h)));
      await assert.rejects(c.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: h, data: Buffer.alloc(16) }), isCorrupt(PATH.object(h)));
      await assert.rejects(c.request('destroyObject', { handle: h }), isCorrupt(PATH.object(h)));
    }
    const ct = await c.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: good, data: Buffer.alloc(16) });
    assert.equal(ct.data.length, 16);
    /* findObjects still answers: it lists the readable keys (the damaged ones are reported above and in the log). */
    const { handles } = await c.request('findObjects', { template: [] });
    assert.ok(handles.includes(good) && !handles.includes(bad));
  } finally {
    c.close();
  }
});

test('a flipped bit in a stored user: sign-in answers ERR_STORE naming the record, not "wrong password" or "no such user"', { timeout: 120_000 }, async () => {
  await offline((d) => flipBit(d, PATH.user('cu2'), (n) => n - 3));
  const c = await connectNode(cluster.node(1).port, cluster.poCrt);
  try {
    await assert.rejects(c.request('login', { user: 'cu2', password: 'user5678', role: 'CU' }), isCorrupt(PATH.user('cu2')));
    /* cu1 is unaffected. */
    await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
  } finally {
    c.close();
  }
});

test('a value moved to another key (swapped records): both are corrupt, neither is served as the other', { timeout: 120_000 }, async () => {
  let c = await signedIn();
  const x = await aesKey(c, 'x');
  const y = await aesKey(c, 'y');
  c.close();
  await offline((d) => {
    const get = (h: number) => (d.prepare('SELECT value FROM kv WHERE key = ?').get(PATH.object(h)) as { value: Buffer }).value;
    const vx = get(x);
    const vy = get(y);
    d.prepare('UPDATE kv SET value = ? WHERE key = ?').run(vy, PATH.object(x));
    d.prepare('UPDATE kv SET value = ? WHERE key = ?').run(vx, PATH.object(y));
  });
  c = await signedIn();
  try {
    for (const h of [x, y]) await assert.rejects(c.request('getAttributeValue', { handle: h, types: [P.CKA_LABEL] }), isCorrupt(PATH.object(h)));
  } finally {
    c.close();
  }
});

test('a damaged entry of the key index: the node refuses to start, naming the file, instead of answering "absent"', { timeout: 120_000 }, async () => {
  const c = await signedIn();
  const h = await aesKey(c, 'indexed');
  c.close();
  await cluster.killNode(1, 'SIGTERM');
  const copy = `${db}.good`;
  copyFileSync(db, copy);
  /* Find the key in a page of the key index (b-tree page type 0x0a, index leaf) and change one byte of it. */
  const buf = readFileSync(db);
  const pageSize = buf.readUInt16BE(16) === 1 ? 65536 : buf.readUInt16BE(16);
  const needle = Buffer.from(PATH.object(h));
  let hit = -1;
  for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) {
    const page = Math.floor(at / pageSize);
    const header = page === 0 ? 100 : page * pageSize;
    if (buf[header] === 0x0a) {
      hit = at;
      break;
    }
  }
  assert.ok(hit >= 0, 'the key is found in an index page');
  buf[hit + needle.length - 1] ^= 0x02;
  writeFileSync(db, buf);
  const r = spawnSync(process.execPath, [NODE_MAIN, cluster.node(1).config], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.signal, null);
  assert.equal(r.status, 1, r.stderr);
  assert.ok(r.stderr.includes(`sqlite store ${db} is damaged`), r.stderr);
  copyFileSync(copy, db);
  rmSync(copy);
  await cluster.startNode(1);
  await cluster.waitForE2E();
  const c2 = await signedIn();
  try {
    const ct = await c2.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: h, data: Buffer.alloc(16) });
    assert.equal(ct.data.length, 16);
  } finally {
    c2.close();
  }
});
