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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, connectNode, startCluster, startDaemon, EXAMPLE_CU, type LocalCluster, type DaemonHandle } from '../../testkit/src/cluster.js';
import { EtcdCluster } from '../src/etcd.js';
import { HostNetwork } from '../src/netns.js';
import { listeningAddresses } from '../src/listening.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EC_P256 = Buffer.from('06082a8648ce3d030107', 'hex');
const ECDSA = { mechanism: P.CKM_ECDSA_SHA256 };

async function waitNodeState(admin: Awaited<ReturnType<typeof connectDaemon>>, id: number, state: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const st = await admin.request('status', {});
    if (st.nodes?.find((n) => n.id === id)?.state === state) return;
    if (Date.now() > deadline) assert.fail(`node ${id} not ${state} in the daemon within ${ms} ms: ${JSON.stringify(st.nodes)}`);
    await sleep(100);
  }
}

test('SIGKILL every process of one host under 16-client signing load: 0 failed operations; the host comes back and serves every key', { timeout: 180_000 }, async (t) => {
  const net = HostNetwork.create(3);
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-netns-'));
  let etcd: EtcdCluster | undefined;
  let cluster: LocalCluster | undefined;
  let daemon: DaemonHandle | undefined;
  const clients: Awaited<ReturnType<typeof connectDaemon>>[] = [];
  try {
    etcd = await EtcdCluster.start({
      dir: join(dir, 'etcd'),
      members: net.hosts.map((h) => ({ name: `etcd${h.index}`, host: h.address, clientPort: 2379, peerPort: 2380 })),
      wrap: (m) => net.exec(Number(m.name.slice(4))),
    });
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      ports: [2225, 2225, 2225],
      host: (id) => net.host(id).address,
      wrap: (id) => net.exec(id),
      store: (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }),
    });
    /* Each host's processes listen on that host's address only. */
    for (const h of net.hosts) {
      assert.deepEqual(listeningAddresses(etcd.procs.get(`etcd${h.index}`)!.pid!, h.netns), [`${h.address}:2379`, `${h.address}:2380`]);
      assert.deepEqual(listeningAddresses(cluster.node(h.index).proc!.pid!, h.netns), [`${h.address}:2225`]);
    }
    daemon = await startDaemon(cluster);
    const admin = await connectDaemon(daemon.socketPath, 'netns-admin');
    clients.push(admin);
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const genPair = () => admin.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, EC_P256), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });
    const pair = await genPair();
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    for (let i = 0; i < 16; i++) clients.push(await connectDaemon(daemon.socketPath, `signer-${i}`));
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const data = Buffer.from('host lost');
    const loops = clients.slice(1).map(async (c) => {
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
  } finally {
    for (const c of clients) c.close();
    await daemon?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(net.leftovers(), [], 'the namespaces, veths and bridge are gone');
});
