/**
 * @module Tests of state changes under contention on the real SQLite store
 * (partition/txn.ts): changes started together in one node are queued, so they
 * never conflict with each other; two nodes (two Partitions on one SQLite
 * file, as two node processes have) still conflict only with each other, every
 * acknowledged key exists once with its own handle, and the audit chain
 * verifies with one record per change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { SqliteStore } from '../../store/src/sqlite.js';
import { attr } from '../src/objects/attributes.js';
import { Partition, type CallContext } from '../src/partition.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const aes = () => [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];

async function claim(p: Partition): Promise<void> {
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co = await p.login('admin', 'adminpassword', 'CO');
  await p.createUser({ principal: co }, 'CU', 'cu1', 'user1234');
}
const cu = async (p: Partition): Promise<CallContext> => ({ principal: await p.login('cu1', 'user1234', 'CU') });

test('one node: 32 key generations started together all commit without a single conflict, handles distinct, chain verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-txn-'));
  const store = SqliteStore.open(join(dir, 'store.db'));
  try {
    const p = await Partition.open({ store, maskingKey: crypto.randomBytes(32), config: FAST });
    await claim(p);
    const ctx = await cu(p);
    const before = p.commitConflicts;
    const handles = await Promise.all(Array.from({ length: 32 }, () => p.generateKey(ctx, { mechanism: P.CKM_AES_KEY_GEN }, aes())));
    assert.equal(new Set(handles).size, 32, 'every key its own handle');
    assert.equal(p.commitConflicts - before, 0, 'changes of one node do not conflict with each other');
    const v = await p.auditVerify();
    assert.equal(v.ok, true, JSON.stringify(v));
    p.state.stop();
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two nodes on one SQLite file: 2 x 24 concurrent key generations, all acknowledged keys present once, chain verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-txn-'));
  const file = join(dir, 'store.db');
  const s1 = SqliteStore.open(file), s2 = SqliteStore.open(file);
  const maskingKey = crypto.randomBytes(32);
  try {
    const p1 = await Partition.open({ store: s1, maskingKey, config: FAST });
    await claim(p1);
    const p2 = await Partition.open({ store: s2, maskingKey, config: FAST });
    const [c1, c2] = [await cu(p1), await cu(p2)];
    const gen = (p: Partition, c: CallContext) => Array.from({ length: 24 }, () => p.generateKey(c, { mechanism: P.CKM_AES_KEY_GEN }, aes()));
    const handles = await Promise.all([...gen(p1, c1), ...gen(p2, c2)]);
    assert.equal(new Set(handles).size, 48, 'no handle given twice');
    for (const p of [p1, p2]) {
      const found = await p.findObjects(await cu(p), [attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY)]);
      for (const h of handles) assert.ok(found.includes(h), `handle ${h} seen by every node`);
    }
    const v = await p1.auditVerify();
    assert.equal(v.ok, true, JSON.stringify(v));
    console.log(`# conflicts: node 1 ${p1.commitConflicts}, node 2 ${p2.commitConflicts} (only between the two nodes)`);
    p1.state.stop();
    p2.state.stop();
  } finally {
    s1.close();
    s2.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
