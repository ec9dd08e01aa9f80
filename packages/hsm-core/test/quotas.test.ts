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
