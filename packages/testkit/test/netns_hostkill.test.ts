/**
 * Three simulated hosts (network namespaces), each with an etcd member and
 * an HSM node; the daemon and 16 signing applications in the root namespace.
 * Every process of one host is killed with SIGKILL under load: no
 * application sees a failed operation, and keys are created while the host
 * is gone. The host comes back (the same etcd data directory, the same node
 * configuration): it catches up and serves every key, straight to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode, EXAMPLE_CU } from '../src/cluster.js';
import { listeningAddresses } from '../src/listening.js';
import { ECDSA_SHA256 as ECDSA, generateEcSigningPair } from '../src/keys.js';
import { waitNodeState } from '../src/daemon_load.js';
import { skipWithoutRoot, withHostCluster } from '../src/netns_cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL every process of one host under 16-client signing load: 0 failed operations; the host comes back and serves every key', { timeout: 180_000 }, async (t) => {
  if (skipWithoutRoot(t)) return;
  await withHostCluster({ prefix: 'netns', endpoints: 'rotated' }, async ({ net, etcd, cluster, connect, onTeardown }) => {
    /* Each host's processes listen on that host's address only. */
    for (const h of net.hosts) {
      assert.deepEqual(listeningAddresses(etcd.procs.get(`etcd${h.index}`)!.pid!, h.netns), [`${h.address}:2379`, `${h.address}:2380`]);
      assert.deepEqual(listeningAddresses(cluster.node(h.index).proc!.pid!, h.netns), [`${h.address}:2225`]);
    }
    const admin = await connect('netns-admin');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const genPair = () => generateEcSigningPair(admin);
    const pair = await genPair();
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    const clients = [];
    for (let i = 0; i < 16; i++) clients.push(await connect(`signer-${i}`));
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    /* Also when a check fails: the loops end, so the test's process does (and frees the netns lock). */
    onTeardown(() => void (stop = true));
    const data = Buffer.from('host lost');
    const loops = clients.map(async (c) => {
      while (!stop) {
        try {
          const { signature } = await c.request('sign', { mechanism: ECDSA, handle: pair.privateHandle, data });
          assert.equal(signature.length, 64);
          ok++;
        } catch (e) {
          failures.push(e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e));
        }
      }
    });
    await sleep(1500);
    const beforeKill = ok;
    const killed = net.killHost(2);
    assert.ok(killed >= 2, `killed the etcd member and the node of host 2 (${killed} processes)`);
    /* Keys created while host 2 is gone. */
    const madeWhileGone = [];
    for (let i = 0; i < 3; i++) madeWhileGone.push(await genPair());
    await sleep(1500);
    const duringOutage = ok - beforeKill;

    /* Bring host 2 back: its etcd member on its data directory, then its node. */
    await etcd.startMember('etcd2');
    await etcd.waitHealthy(30_000);
    await cluster.startNode(2);
    await waitNodeState(admin, 2, 'up', 20_000);
    await sleep(1000);
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, [], 'no application saw a failed operation');
    t.diagnostic(`signatures: ${beforeKill} before the kill, ${duringOutage} while host 2 was gone, ${ok} in all; ${madeWhileGone.length} key pairs made while it was gone`);
    assert.ok(beforeKill > 0 && duringOutage > 0, `signatures before (${beforeKill}) and during the outage (${duringOutage})`);

    /* The returned host serves every key, the ones made while it was gone included. */
    const n2 = await connectNode(2225, cluster.poCrt, net.host(2).address);
    try {
      await n2.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
      const found = await n2.request('findObjects', { template: [] });
      for (const k of [pair, ...madeWhileGone]) {
        assert.ok(found.handles.includes(k.privateHandle) && found.handles.includes(k.publicHandle), `host 2 lists key ${k.privateHandle}`);
        const { signature } = await n2.request('sign', { mechanism: ECDSA, handle: k.privateHandle, data });
        await admin.request('verify', { mechanism: ECDSA, handle: k.publicHandle, data, signature });
      }
    } finally {
      n2.close();
    }
  });
});
