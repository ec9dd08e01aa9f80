/**
 * A node whose watch falls behind the store's kept history, on the real
 * backend: node 2 is a real process stopped with SIGSTOP (a stalled follower)
 * while node 1 deletes a key node 2 holds unmasked in memory and makes more
 * changes, and the real SQLite change log is compacted under it (the store's
 * own compact(), as etcd compaction does). Resumed, node 2 must not use the
 * deleted key: it refuses (ERR_KEY_HANDLE_INVALID after its resync, or
 * ERR_NODE_BEHIND), never encrypts with it, and then serves what was made
 * while it was stopped.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { SqliteStore } from '../../store/src/sqlite.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { startCluster, connectNode, freezeOutsideStoreLock, EXAMPLE_CU, type LocalCluster } from '../../testkit/src/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'ochsm-watch-behind-'));
let cluster: LocalCluster | undefined;
const clients: ProtocolClient[] = [];
const aesTpl = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];
const gcm = { mechanism: P.CKM_AES_GCM, iv: Buffer.alloc(12, 5), tagBits: 128 };

after(async () => {
  const p = cluster?.node(2).proc;
  if (p?.pid) {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  }
  for (const c of clients) c.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cu(node: number): Promise<ProtocolClient> {
  const c = await connectNode(cluster!.node(node).port, cluster!.poCrt);
  clients.push(c);
  await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
  return c;
}

test('a stalled node resumed after the change log was compacted refuses the deleted key and then serves current state', { timeout: 120_000 }, async () => {
  cluster = await startCluster(dir);
  const [n1, n2] = [await cu(1), await cu(2)];
  const pid = cluster.node(2).proc!.pid!;
  let node2Log = '';
  cluster.node(2).proc!.stderr!.on('data', (d: Buffer) => (node2Log += d.toString()));
  for (let round = 0; round < 3; round++) {
    const { handle: doomed } = await n1.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
    /* Node 2 holds the key, its material unmasked. */
    await n2.request('encrypt', { mechanism: gcm, handle: doomed, data: Buffer.from('x') });
    await freezeOutsideStoreLock(pid, join(dir, 'data', 'partition.db'));
    let made: number[] = [];
    try {
      await n1.request('destroyObject', { handle: doomed });
      for (let i = 0; i < 20; i++) made.push((await n1.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl })).handle);
      /* Compact the real change log: node 2's watch position is now history the store no longer has. */
      const store = SqliteStore.open(join(dir, 'data', 'partition.db'));
      try {
        store.compact();
      } finally {
        await store.close();
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const use = await n2.request('encrypt', { mechanism: gcm, handle: doomed, data: Buffer.from('x') }).then(
      () => 'served',
      (e: unknown) => (e instanceof HsmError ? e.code : String(e)),
    );
    assert.ok(use === 'ERR_KEY_HANDLE_INVALID' || use === 'ERR_NODE_BEHIND', `round ${round}: node 2 answered ${use} for a key deleted while it was stopped`);
    /* And it caught up: what node 1 made while node 2 was stopped is served there. */
    for (const h of made) await n2.request('encrypt', { mechanism: gcm, handle: h, data: Buffer.from('y') });
    made = [];
    assert.equal(cluster.node(2).proc!.exitCode, null, 'node 2 is still running');
  }
  /* The compacted history was noticed and answered by a full reload, not skipped over. */
  assert.match(node2Log, /reloading from the store/);
});
