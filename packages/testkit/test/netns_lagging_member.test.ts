/**
 * A node whose own etcd member falls out of the etcd cluster while the node
 * still reaches the other members (docs/deployment.md §6): three simulated
 * hosts, each node naming every member, its own first. Host 2's etcd peer
 * traffic is starved (port 2380 at 8 bit/s); its clients and its node still
 * reach every member's client port. A key node 2 has in memory is then
 * deleted through the others:
 * - node 2 never signs with the deleted key once the deletion is
 *   acknowledged (it answers ERR_NODE_BEHIND, or that the key is gone);
 * - when the peer traffic flows again, node 2 serves, and the key is gone there.
 * The node is reached from the root namespace: only host 2's peer port is cut.
 * The etcd client picks a member at random for each call and watch, so which
 * member node 2's watch follows is left to chance: the test checks the
 * outcome (docs/deployment.md §6 says what it does not cover).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode, EXAMPLE_CU } from '../src/cluster.js';
import { ECDSA_SHA256 as ECDSA, generateEcSigningPair } from '../src/keys.js';
import { skipWithoutRoot, waitNodeState, withHostCluster } from '../src/netns_cluster.js';
import { QUORUM_BOUND_MS } from '../../hsm-node/src/quorum.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PEER_PORT = 2380;

test('a node whose own etcd member is cut off from the other members (the node still reaching them) never signs with a key deleted meanwhile', {
  timeout: 180_000,
  /* It runs and reports, but is not yet reliable: see docs/deployment.md §6 (the lagging-member row). */
  todo: 'passed 3 of 9 runs; the others: the delete failed after its commit (through the daemon), a timeout, or node 2 answering nothing within 8 s (its watch likely on the cut-off member)',
}, async (t) => {
  if (skipWithoutRoot(t)) return;
  await withHostCluster({ prefix: 'netns-lag', endpoints: 'rotated' }, async ({ net, etcd, cluster, connect, onTeardown }) => {
    const admin = await connect('lagging-admin');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const doomed = await generateEcSigningPair(admin);
    const kept = await generateEcSigningPair(admin);
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    const n2 = await connectNode(2225, cluster.poCrt, net.host(2).address);
    onTeardown(() => n2.close());
    await n2.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const data = Buffer.from('lagging member');
    const signOn2 = async (handle: number): Promise<string> => {
      try {
        await n2.request('sign', { mechanism: ECDSA, handle, data }, { timeoutMs: 8000 });
        return 'signed';
      } catch (e) {
        return (e as { code?: string }).code ?? (e as Error).message;
      }
    };
    assert.equal(await signOn2(doomed.privateHandle), 'signed', 'node 2 has the key in memory');
    assert.equal(await signOn2(kept.privateHandle), 'signed');

    /* Member 2 out of the etcd cluster: its peers stop hearing from it; every client port still answers. */
    net.starvePort(2, PEER_PORT, true);
    let starved = true;
    onTeardown(() => {
      if (starved) net.starvePort(2, PEER_PORT, false);
    });
    const outAt = Date.now();
    for (;;) {
      const st = (await etcd.memberStatus()).find((m) => m.name === 'etcd2');
      if (st && st.reachable && !st.healthy) break;
      if (Date.now() - outAt > 20_000) assert.fail(`etcd member 2 still serves quorum reads 20 s after its peer traffic was cut: ${JSON.stringify(st)}`);
      await sleep(200);
    }
    t.diagnostic(`etcd member 2 stopped serving quorum reads ${Date.now() - outAt} ms after its peer traffic was cut; status ${JSON.stringify(await etcd.memberStatus())}`);

    /*
     * Delete the key on node 1; from the acknowledgement on, node 2 must not use it. Node 1's
     * own calls may also go to member 2 (the client's random pick): such an attempt fails, and
     * may have committed (etcd had the proposal, the answer did not come back), so a retry can
     * find the key gone. Through the daemon that retry is the application's error (1 run of 3
     * failed so: docs/deployment.md §6); here the test retries on node 1, and after an
     * ambiguous answer it waits out the bound an acknowledged removal waits.
     */
    const n1 = await connectNode(2225, cluster.poCrt, net.host(1).address);
    onTeardown(() => n1.close());
    await n1.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const failedDeletes: string[] = [];
    for (;;) {
      try {
        await n1.request('destroyObject', { handle: doomed.privateHandle }, { timeoutMs: 15_000 });
        break;
      } catch (e) {
        const code = (e as { code?: string }).code ?? (e as Error).message;
        if (code === 'ERR_OBJECT_HANDLE_INVALID' && failedDeletes.length > 0) {
          await sleep(QUORUM_BOUND_MS + 500);
          break;
        }
        failedDeletes.push(`${code}: ${(e as Error).message}`);
        if (failedDeletes.length >= 5) assert.fail(`node 1 could not delete the key: ${failedDeletes.join('; ')}`);
        await sleep(500);
      }
    }
    t.diagnostic(`deleting on node 1 with member 2 out: ${failedDeletes.length} failed attempts first ${JSON.stringify(failedDeletes)}`);
    const answers: Record<string, number> = {};
    const keptAnswers: Record<string, number> = {};
    const watchFor = Date.now();
    while (Date.now() - watchFor < 10_000) {
      const a = await signOn2(doomed.privateHandle);
      answers[a] = (answers[a] ?? 0) + 1;
      const k = await signOn2(kept.privateHandle);
      keptAnswers[k] = (keptAnswers[k] ?? 0) + 1;
      await sleep(100);
    }
    t.diagnostic(`node 2 while its member is out, for 10 s: the deleted key ${JSON.stringify(answers)}, a kept key ${JSON.stringify(keptAnswers)}`);
    assert.equal(answers.signed ?? 0, 0, `node 2 never signs with the key deleted while its member was out: ${JSON.stringify(answers)}`);
    assert.deepEqual(Object.keys(answers).filter((c) => c !== 'ERR_NODE_BEHIND' && c !== 'ERR_KEY_HANDLE_INVALID'), [], 'refused only as behind or as the key gone');

    /* Peer traffic back: member 2 rejoins, node 2 serves, and the key is gone there. */
    net.starvePort(2, PEER_PORT, false);
    starved = false;
    await etcd.waitHealthy(30_000);
    const backAt = Date.now();
    let back = '';
    while (Date.now() - backAt < 30_000) {
      back = await signOn2(kept.privateHandle);
      if (back === 'signed') break;
      await sleep(200);
    }
    assert.equal(back, 'signed', 'node 2 serves once its member is back');
    assert.equal(await signOn2(doomed.privateHandle), 'ERR_KEY_HANDLE_INVALID');
  });
});
