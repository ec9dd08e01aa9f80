/**
 * Failover under load, with real processes: 16 applications sign continuously
 * through the daemon; the node with the most of them in flight is killed with
 * SIGKILL; no application sees a failed operation; the node restarts, rejoins,
 * and serves again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { connectDaemon, connectNode, startCluster, startDaemon, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { runLoad, waitNodeState, waitNodesUp } from '../../testkit/src/daemon_load.js';
import { generateEcSigningPair } from '../../testkit/src/keys.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('16 clients sign while a node is killed and restarted: no failed operation, the node rejoins', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-failover-'));
  const cluster = await startCluster(dir);
  const daemon = await startDaemon(cluster);
  const clients: Awaited<ReturnType<typeof connectDaemon>>[] = [];
  try {
    const admin = await connectDaemon(daemon.socketPath, 'failover-admin');
    clients.push(admin);
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const pair = await generateEcSigningPair(admin);
    /* Wait until the daemon has all three nodes up. */
    await waitNodesUp(admin, 3, 10_000);
    for (let i = 0; i < 16; i++) clients.push(await connectDaemon(daemon.socketPath, `signer-${i}`));
    /* The status request reports nodes, health, the sign-in state and load. */
    const st = await clients[5]!.request('status', {});
    assert.equal(st.component, 'daemon');
    assert.deepEqual([st.loggedIn, st.user, st.role, st.sessionMode, st.applications], [true, EXAMPLE_CU.user, 'CU', 'HOST', 17]);
    assert.deepEqual(st.nodes?.map((n) => [n.id, n.state]), [[1, 'up'], [2, 'up'], [3, 'up']]);
    const signers = clients.slice(1);
    const data = Buffer.from('failover');
    const load = runLoad(signers, async (c) => {
      const { signature } = await c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
      assert.equal(signature.length, 64);
    });
    await sleep(1000);
    /* Kill the node with the most requests in flight from the daemon: all of them under its default pack routing, a third under spread. */
    const inFlight = (await admin.request('status', {})).nodes ?? [];
    const victim = inFlight.reduce((a, b) => ((b.inFlight ?? 0) > (a.inFlight ?? 0) ? b : a)).id;
    const beforeKill = load.ok;
    await cluster.killNode(victim, 'SIGKILL');
    await sleep(2000);
    const duringOutage = load.ok - beforeKill;
    await cluster.startNode(victim);
    /* The daemon reconnects and sees the node up again. */
    await waitNodeState(admin, victim, 'up', 15_000);
    await sleep(1000);
    await load.stop();
    assert.deepEqual(load.failures, [], 'no application saw a failed operation');
    assert.ok(beforeKill > 0 && duringOutage > 0, `signatures before (${beforeKill}) and during the outage (${duringOutage})`);
    /* The restarted node serves: straight to it, and the signature verifies through the daemon. */
    const n2 = await connectNode(cluster.node(victim).port, cluster.poCrt);
    await n2.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const { signature } = await n2.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
    await admin.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data, signature });
    n2.close();
  } finally {
    for (const c of clients) c.close();
    await daemon.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
