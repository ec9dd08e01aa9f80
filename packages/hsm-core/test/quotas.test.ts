/**
 * Per-user quotas in the core: object count and stored bytes, checked inside
 * the creating transaction, so concurrent creations on three partitions
 * over one store never pass the quota together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { MemoryStore } from '../../store/src/memory.js';
import { attr } from '../src/objects/attributes.js';
import { Partition, type CallContext } from '../src/partition.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };

async function three(config: Record<string, number>) {
  const store = new MemoryStore();
  const maskingKey = crypto.randomBytes(32);
  const p = await Partition.open({ store, maskingKey, config: { ...FAST, ...config } });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  await p.createUser(co, 'CU', 'cu2', 'user5678');
  const nodes = [p, await Partition.open({ store, maskingKey, config: { ...FAST, ...config } }), await Partition.open({ store, maskingKey, config: { ...FAST, ...config } })];
  return { nodes, cu1: { principal: { user: 'cu1', role: 'CU' } } as CallContext, cu2: { principal: { user: 'cu2', role: 'CU' } } as CallContext };
}

const data = (n: number) => [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_PRIVATE, true), attr.bytes(P.CKA_VALUE, Buffer.alloc(n, 7))];
const aes = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];

test('object quota: 30 concurrent creations over three partitions give exactly the quota, then a specific ERR_LIMIT; other users are unaffected', async () => {
  const { nodes, cu1, cu2 } = await three({ maxObjectsPerUser: 7 });
  const rs = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i % 2
    ? nodes[i % 3]!.createObject(cu1, data(16))
    : nodes[i % 3]!.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes))));
  const ok = rs.filter((r) => r.status === 'fulfilled').length;
  assert.equal(ok, 7);
  for (const r of rs) if (r.status === 'rejected') assert.ok(r.reason instanceof HsmError && r.reason.code === 'ERR_LIMIT' && /per-user quota is 7 objects \(maxObjectsPerUser\)/.test(r.reason.message), String(r.reason));
  assert.equal((await nodes[1]!.findObjects(cu1, [])).length, 7);
  /* A key pair is two objects: refused whole. */
  await assert.rejects(nodes[2]!.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_TOKEN, true)], [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)]), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LIMIT');
  await nodes[0]!.createObject(cu2, data(16));
  /* Deleting frees room. */
  const [h] = await nodes[0]!.findObjects(cu1, []);
  await nodes[0]!.destroyObject(cu1, h!);
  await nodes[2]!.createObject(cu1, data(16));
});

test('byte quota: large objects are refused past the bytes a user may own', async () => {
  const { nodes, cu1 } = await three({ maxObjectBytesPerUser: 100_000 });
  const rs = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => nodes[i % 3]!.createObject(cu1, data(20_000))));
  const ok = rs.filter((r) => r.status === 'fulfilled').length;
  /* Each is stored as hex JSON (about 40 KB), so two fit and a third does not. */
  assert.ok(ok >= 1 && ok <= 2, `${ok} created`);
  for (const r of rs) if (r.status === 'rejected') assert.ok(r.reason instanceof HsmError && r.reason.code === 'ERR_LIMIT' && /maxObjectBytesPerUser/.test(r.reason.message), String(r.reason));
  await nodes[0]!.createObject(cu1, data(10));
});

test('byte quota: setAttributeValue that grows an object past the quota is refused with ERR_LIMIT (as creation is); shrinking and other users are unaffected', async () => {
  const { nodes, cu1, cu2 } = await three({ maxObjectBytesPerUser: 60_000 });
  const pub = [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_PRIVATE, false), attr.bytes(P.CKA_VALUE, Buffer.alloc(10, 1))];
  const h = await nodes[0]!.createObject(cu1, pub);
  /* 20,000 bytes are about 40 KB stored (hex JSON): fits. */
  await nodes[1]!.setAttributeValue(cu1, h, [attr.bytes(P.CKA_VALUE, Buffer.alloc(20_000, 2))]);
  /* Twice that does not: refused, and the object keeps its value. */
  await assert.rejects(nodes[2]!.setAttributeValue(cu1, h, [attr.bytes(P.CKA_VALUE, Buffer.alloc(40_000, 3))]),
    (e: unknown) => e instanceof HsmError && e.code === 'ERR_LIMIT' && /maxObjectBytesPerUser/.test(e.message) && /delete objects first/.test(e.message));
  const [v] = await nodes[0]!.getAttributeValue(cu1, h, [P.CKA_VALUE]);
  assert.equal(Buffer.from(v!.value!).equals(Buffer.alloc(20_000, 2)), true, 'the refused change left the object as it was');
  /* Concurrent growth of two objects through three partitions: the quota holds (at most one grows). */
  const h2 = await nodes[0]!.createObject(cu1, pub);
  const rs = await Promise.allSettled([
    nodes[1]!.setAttributeValue(cu1, h2, [attr.bytes(P.CKA_VALUE, Buffer.alloc(7_000, 4))]),
    nodes[2]!.setAttributeValue(cu1, h, [attr.bytes(P.CKA_VALUE, Buffer.alloc(27_000, 5))]),
  ]);
  assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(rs.map((r) => r.status)));
  /* Shrinking is always allowed, and frees room. */
  await nodes[0]!.setAttributeValue(cu1, h, [attr.bytes(P.CKA_VALUE, Buffer.alloc(5, 6))]);
  await nodes[1]!.setAttributeValue(cu1, h2, [attr.bytes(P.CKA_VALUE, Buffer.alloc(20_000, 7))]);
  /* Another user's objects are counted apart. */
  const h3 = await nodes[2]!.createObject(cu2, pub);
  await nodes[2]!.setAttributeValue(cu2, h3, [attr.bytes(P.CKA_VALUE, Buffer.alloc(20_000, 8))]);
});

test('the running usage per owner follows creations, changes and deletions on every partition (no scan)', async () => {
  const { nodes, cu1, cu2 } = await three({});
  const usageOf = async (i: number, owner: string) => {
    await nodes[i]!.state.sync();
    return nodes[i]!.state.usage(owner);
  };
  const scan = async (i: number, owner: string) => {
    let objects = 0;
    let bytes = 0;
    for (const o of await nodes[i]!.state.objects()) if (o.obj.owner === owner) { objects++; bytes += o.masked.value.length; }
    return { objects, bytes };
  };
  const a = await nodes[0]!.createObject(cu1, data(100));
  const b = await nodes[1]!.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes);
  await nodes[2]!.createObject(cu2, data(50));
  await nodes[2]!.setAttributeValue(cu1, a, [attr.bytes(P.CKA_VALUE, Buffer.alloc(3000, 1))]);
  await nodes[0]!.destroyObject(cu1, b);
  for (let i = 0; i < 3; i++) {
    for (const owner of ['cu1', 'cu2', 'nobody']) assert.deepEqual(await usageOf(i, owner), await scan(i, owner), `partition ${i}, ${owner}`);
  }
  assert.equal((await usageOf(1, 'cu1')).objects, 1);
  assert.ok((await usageOf(1, 'cu1')).bytes > 6000, 'the grown value is counted');
  assert.deepEqual(await usageOf(0, 'nobody'), { objects: 0, bytes: 0 });
});
