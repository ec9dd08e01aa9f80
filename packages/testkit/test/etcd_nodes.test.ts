/**
 * The real topology on one machine: a three-member etcd with client and peer
 * TLS and authentication on, three HSM node processes on it, and the client
 * daemon. The partition is claimed through the onboarding flow, the CU signs
 * in through the daemon, generates a key and signs; every node serves that
 * key, whichever node created it. And etcd runs as in production: data
 * directories 0700, each member listening only on its own two addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, connectNode, startCluster, startDaemon, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { EtcdCluster, loopbackMembers } from '../src/etcd.js';
import { listeningAddresses } from '../src/listening.js';

const EC_P256 = Buffer.from('06082a8648ce3d030107', 'hex');

test('three nodes on a three-member TLS+auth etcd: claim, sign-in, key generation and signing through the daemon', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-nodes-'));
  const etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    /* etcd as in production. */
    for (const m of etcd.members) {
      assert.equal(statSync(etcd.dataDir(m.name)).mode & 0o777, 0o700, `${m.name} data directory mode`);
      const pid = etcd.procs.get(m.name)!.pid!;
      assert.deepEqual(listeningAddresses(pid), [`${m.host}:${m.clientPort}`, `${m.host}:${m.peerPort}`].sort(), `${m.name} listens only on its configured addresses`);
    }
    assert.equal(statSync(etcd.passwordFile('ochsm-node')).mode & 0o777, 0o600);
    assert.equal(statSync(etcd.pki.client('ochsm-node').key).mode & 0o777, 0o600);

    /* Each node names its own member first, then the others. */
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      store: (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }),
    });
    daemon = await startDaemon(cluster);
    const app = await connectDaemon(daemon.socketPath, 'etcd-app');
    try {
      await app.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
      const pair = await app.request('generateKeyPair', {
        mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
        publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, EC_P256), attr.bool(P.CKA_VERIFY, true)],
        privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
      });
      const data = Buffer.from('signed on etcd');
      for (let i = 0; i < 6; i++) {
        const { signature } = await app.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
        await app.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data, signature });
      }
      /* Every node serves the key, straight to it, once it has applied the store's revision of now
         (a direct caller's way to read what others wrote: pass the revision on; docs/consistency.md). */
      const [{ Status: st }] = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json'], { endpoints: [etcd.endpoints[0]!] })) as [{ Status: { header: { revision: number } } }];
      const now = st.header.revision;
      for (const n of cluster.nodes) {
        const c = await connectNode(n.port, cluster.poCrt);
        try {
          await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
          const { signature } = await c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data, minRevision: now });
          await app.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data, signature });
        } finally {
          c.close();
        }
      }
      /* A key made on node 3 is found on node 1 at once by a caller that passes on the revision it
         saw (the consistency token the daemon carries for applications; docs/consistency.md). */
      const n3 = await connectNode(cluster.node(3).port, cluster.poCrt);
      const n1 = await connectNode(cluster.node(1).port, cluster.poCrt);
      try {
        await n3.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
        await n1.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
        const aes = await n3.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true)], minRevision: 0 });
        assert.ok((aes.revision ?? 0) > 0, 'node 3 tells the revision it had applied');
        const found = await n1.request('findObjects', { template: [], minRevision: aes.revision });
        assert.ok(found.handles.includes(aes.handle), 'node 1 finds the key node 3 made');
      } finally {
        n3.close();
        n1.close();
      }
    } finally {
      app.close();
    }
    /* The state lives in etcd, not in a local file. */
    assert.equal(existsSync(join(dir, 'hsm', 'data', 'partition.db')), false);
    const keys = (await etcd.etcdctl(['get', '--prefix', '--keys-only', '/ochsm/'])).split('\n').filter((l) => l.trim() !== '');
    assert.ok(keys.some((k) => k.startsWith('/ochsm/obj')) && keys.length > 5, `objects stored in etcd: ${keys.slice(0, 10).join(', ')}`);
  } finally {
    await daemon?.stop();
    await cluster?.stop();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
