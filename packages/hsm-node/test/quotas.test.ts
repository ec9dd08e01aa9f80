/**
 * Per-user quotas with real node processes on one real SQLite store: one
 * user creating at once through all three nodes gets exactly its quota, then
 * a specific ERR_LIMIT; another user keeps working. A public object grown
 * with setAttributeValue past the byte quota is refused the same way.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { startCluster, connectNode, EXAMPLE_CO, EXAMPLE_CU, type LocalCluster } from '../../testkit/src/cluster.js';

const QUOTA = 6;
const BYTES = 200_000;
let dir: string;
let cluster: LocalCluster;
const clients: ProtocolClient[] = [];

async function client(node: number, login: { user: string; password: string }): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(node).port, cluster.poCrt);
  clients.push(c);
  await c.request('login', login);
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-quotas-'));
  cluster = await startCluster(dir, { partition: { maxObjectsPerUser: QUOTA, maxObjectBytesPerUser: BYTES } });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`maxObjectsPerUser ${QUOTA}: 24 concurrent creations over three nodes give exactly ${QUOTA}; the rest get ERR_LIMIT naming the quota`, async () => {
  const co = await client(1, EXAMPLE_CO);
  await co.request('createUser', { role: 'CU', user: 'cu2', password: 'user5678' });
  const cus = [await client(1, EXAMPLE_CU), await client(2, EXAMPLE_CU), await client(3, EXAMPLE_CU)];
  const tpl = (i: number) => [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_PRIVATE, true), attr.bytes(P.CKA_VALUE, Buffer.from(`v${i}`))];
  const rs = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => cus[i % 3]!.request('createObject', { template: tpl(i), minRevision: 0 })));
  const ok = rs.filter((r) => r.status === 'fulfilled').length;
  assert.equal(ok, QUOTA);
  for (const r of rs) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof HsmError && r.reason.code === 'ERR_LIMIT' && new RegExp(`per-user quota is ${QUOTA} objects \\(maxObjectsPerUser\\)`).test(r.reason.message), String(r.reason));
  }
  /* Node 2 lists with the revision of every creation, wherever it was made (docs/consistency.md). */
  const made = Math.max(...rs.map((r) => (r.status === 'fulfilled' ? r.value.revision ?? 0 : 0)));
  const { handles } = await cus[1]!.request('findObjects', { template: [], minRevision: made });
  assert.equal(handles.length, QUOTA);
  /* Another user is not affected; deleting frees room. */
  const other = await client(2, { user: 'cu2', password: 'user5678' });
  await other.request('createObject', { template: tpl(99) });
  await cus[0]!.request('destroyObject', { handle: handles[0]! });
  await cus[2]!.request('createObject', { template: tpl(100) });
});

test(`maxObjectBytesPerUser ${BYTES}: setAttributeValue growing a public object past it is refused with ERR_LIMIT through any node; the object keeps its value`, async () => {
  const co = await client(1, EXAMPLE_CO);
  await co.request('createUser', { role: 'CU', user: 'cu3', password: 'user9012' });
  const a = await client(2, { user: 'cu3', password: 'user9012' });
  const b = await client(3, { user: 'cu3', password: 'user9012' });
  const pub = [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_PRIVATE, false), attr.bytes(P.CKA_VALUE, Buffer.from('small'))];
  /* 60,000 bytes are stored as about 120 KB (hex JSON, masked): fits. */
  await a.request('createObject', { template: [...pub.slice(0, 3), attr.bytes(P.CKA_VALUE, Buffer.alloc(60_000, 1))] });
  const { handle } = await a.request('createObject', { template: pub });
  /* Growing the second to as much again would pass 200,000 bytes: refused through another node. */
  await assert.rejects(b.request('setAttributeValue', { handle, template: [attr.bytes(P.CKA_VALUE, Buffer.alloc(60_000, 2))] }),
    (e: unknown) => e instanceof HsmError && e.code === 'ERR_LIMIT' && new RegExp(`per-user quota is ${BYTES} bytes \\(maxObjectBytesPerUser\\)`).test(e.message));
  const { attributes } = await a.request('getAttributeValue', { handle, types: [P.CKA_VALUE] });
  assert.equal(Buffer.from(attributes[0]!.value).toString(), 'small', 'unchanged');
  /* Growing it less fits; shrinking is never refused. */
  await b.request('setAttributeValue', { handle, template: [attr.bytes(P.CKA_VALUE, Buffer.alloc(20_000, 3))] });
  await a.request('setAttributeValue', { handle, template: [attr.bytes(P.CKA_VALUE, Buffer.from('small again'))] });
});
