/**
 * Consistency across real node processes (docs/consistency.md): a removal of
 * access is in force on every node once acknowledged; a caller carrying the
 * revision it has seen reads its own writes on any node; a revision from the
 * future is refused with a clear error.
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
import { startCluster, connectNode, EXAMPLE_CU, EXAMPLE_CO, type LocalCluster } from '../../testkit/src/cluster.js';

let dir: string;
let cluster: LocalCluster;
const clients: ProtocolClient[] = [];
const code = (c: string) => (e: unknown) => e instanceof HsmError && e.code === c;
const aesTpl = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true)];
const gcm = { mechanism: P.CKM_AES_GCM, iv: Buffer.alloc(12, 5), tagBits: 128 };

async function as(node: number, user: string, password: string): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(node).port, cluster.poCrt);
  clients.push(c);
  await c.request('login', { user, password });
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-consistency-'));
  cluster = await startCluster(dir);
  const co = await as(1, EXAMPLE_CO.user, EXAMPLE_CO.password);
  await co.request('createUser', { role: 'CU', user: 'cu2', password: 'user5678' });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('delete on node 1, then use the handle on nodes 2 and 3 at once: refused, every time', { timeout: 120_000 }, async () => {
  const [n1, n2, n3] = [await as(1, EXAMPLE_CU.user, EXAMPLE_CU.password), await as(2, EXAMPLE_CU.user, EXAMPLE_CU.password), await as(3, EXAMPLE_CU.user, EXAMPLE_CU.password)];
  for (let i = 0; i < 25; i++) {
    const { handle } = await n1.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
    /* Nodes 2 and 3 hold the key in memory, its material unmasked. */
    await Promise.all([n2, n3].map((c) => c.request('encrypt', { mechanism: gcm, handle, data: Buffer.from('x') })));
    await n1.request('destroyObject', { handle });
    const uses = await Promise.allSettled([n2, n3].map((c) => c.request('encrypt', { mechanism: gcm, handle, data: Buffer.from('x') })));
    for (const [k, u] of uses.entries()) {
      assert.equal(u.status, 'rejected', `round ${i}: node ${k + 2} used a key deleted on node 1`);
      assert.ok(code('ERR_KEY_HANDLE_INVALID')((u as PromiseRejectedResult).reason), String((u as PromiseRejectedResult).reason));
    }
  }
});

test('unshare on node 1: the other user is refused on nodes 2 and 3 at once, every time', { timeout: 120_000 }, async () => {
  const owner = await as(1, EXAMPLE_CU.user, EXAMPLE_CU.password);
  const others = [await as(2, 'cu2', 'user5678'), await as(3, 'cu2', 'user5678')];
  const { handle } = await owner.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
  for (let i = 0; i < 10; i++) {
    await owner.request('shareKey', { handle, users: ['cu2'], share: true });
    /* A grant made a moment ago on another node is seen (a refusal is decided on current state). */
    await Promise.all(others.map((c) => c.request('encrypt', { mechanism: gcm, handle, data: Buffer.from('x') })));
    await owner.request('shareKey', { handle, users: ['cu2'], share: false });
    const uses = await Promise.allSettled(others.map((c) => c.request('encrypt', { mechanism: gcm, handle, data: Buffer.from('x') })));
    assert.deepEqual(uses.map((u) => u.status), ['rejected', 'rejected'], `round ${i}`);
  }
});

test('a caller carrying the revision it saw finds its own write on every other node', { timeout: 60_000 }, async () => {
  const n1 = await as(1, EXAMPLE_CU.user, EXAMPLE_CU.password);
  const rest = [await as(2, EXAMPLE_CU.user, EXAMPLE_CU.password), await as(3, EXAMPLE_CU.user, EXAMPLE_CU.password)];
  for (let i = 0; i < 20; i++) {
    const label = attr.utf8(P.CKA_LABEL, `ryw-${i}-${Date.now()}`);
    const made = await n1.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [...aesTpl, label], minRevision: 0 });
    assert.ok(typeof made.revision === 'number' && made.revision > 0, 'the answer carries the revision');
    for (const c of rest) {
      const found: { readonly handles: readonly number[]; readonly revision?: number | undefined } = await c.request('findObjects', { template: [label], minRevision: made.revision });
      assert.deepEqual(found.handles, [made.handle], `round ${i}`);
      assert.ok(found.revision! >= made.revision!);
    }
  }
});

test('a revision from the future is refused with a clear error, and the node keeps serving', async () => {
  const c = await as(2, EXAMPLE_CU.user, EXAMPLE_CU.password);
  await assert.rejects(c.request('findObjects', { template: [], minRevision: 2 ** 50 }), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD' && /ahead of the store/.test(e.message));
  assert.ok(Array.isArray((await c.request('findObjects', { template: [] })).handles));
});
