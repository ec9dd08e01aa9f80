/**
 * Lockout across nodes on etcd: wrong passwords for one user arrive at the
 * same time on all three nodes (12 connections, 4 per node, two waves).
 * - The account ends locked cluster-wide: the right password is refused with
 *   ERR_ACCOUNT_LOCKED on every node, and the stored failure count is exactly
 *   the number of refusals for a wrong password (no increment lost to a race
 *   between nodes: the count is a compare-and-swap on etcd).
 * - The number of wrong guesses evaluated stays within the limit (5): each
 *   attempt is reserved in the store (one compare-and-swap on the failure
 *   count) before its password is checked. Attempts the per-source sign-in
 *   delay refuses unchecked (ERR_LIMIT) count against nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNode, startCluster, EXAMPLE_CO, EXAMPLE_CU, type LocalCluster } from '../src/cluster.js';
import { EtcdCluster, loopbackMembers } from '../src/etcd.js';

const LIMIT = 5;

test('wrong passwords spread over three nodes on etcd lock the user cluster-wide, check at most the limit, and the failure count loses no attempt', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-lockout-'));
  let etcd: EtcdCluster | undefined;
  let cluster: LocalCluster | undefined;
  const conns: Awaited<ReturnType<typeof connectNode>>[] = [];
  try {
    etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      store: (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }),
    });
    for (const n of cluster.nodes) for (let i = 0; i < 4; i++) conns.push(await connectNode(n.port, cluster.poCrt));
    const codes: string[] = [];
    for (let wave = 0; wave < 2; wave++) {
      await Promise.all(conns.map(async (c, i) => {
        try {
          await c.request('login', { user: EXAMPLE_CU.user, password: `wrong-${wave}-${i}` });
          codes.push('ok');
        } catch (e) {
          codes.push((e as { code?: string }).code ?? String(e));
        }
      }));
    }
    const evaluated = codes.filter((c) => c === 'ERR_LOGIN_FAILED').length;
    const locked = codes.filter((c) => c === 'ERR_ACCOUNT_LOCKED').length;
    const throttled = codes.filter((c) => c === 'ERR_LIMIT').length;
    assert.equal(evaluated + locked + throttled, codes.length, `every wrong attempt was refused: ${codes.join(', ')}`);
    t.diagnostic(`${codes.length} wrong attempts over 3 nodes: ${evaluated} refused as a wrong password, ${locked} as locked, ${throttled} by the sign-in delay (limit ${LIMIT})`);
    assert.ok(evaluated <= LIMIT, `${evaluated} wrong guesses were evaluated cluster-wide, limit ${LIMIT}`);

    /* Locked on every node, for the right password too. */
    for (const n of cluster.nodes) {
      const c = await connectNode(n.port, cluster.poCrt);
      conns.push(c);
      await assert.rejects(c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password }), (e: { code?: string }) => e.code === 'ERR_ACCOUNT_LOCKED', `node ${n.id} refuses the locked account`);
    }
    /* The stored count is every evaluated failure: none lost between nodes. */
    const co = await connectNode(cluster.node(2).port, cluster.poCrt);
    conns.push(co);
    await co.request('login', { user: EXAMPLE_CO.user, password: EXAMPLE_CO.password, role: 'CO' });
    const rec = (await co.request('listUsers', {})).users.find((u) => u.user === EXAMPLE_CU.user)!;
    assert.equal(rec.locked, true);
    assert.equal(rec.failures, evaluated, 'the stored failure count equals the refused wrong passwords');
    assert.ok(rec.failures >= LIMIT);

  } finally {
    for (const c of conns) c.close();
    await cluster?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
