/**
 * EtcdStore against the store contract, on a real one-member etcd that this
 * test starts with TLS (client certificates required) and authentication on,
 * as the nodes' least-privilege user. Each test gets a fresh namespace; at
 * its end the namespace is wiped and its leases revoked, so that nothing of
 * one test (a lease expiring later, say) moves the revision under the next.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EtcdStore } from '../src/etcd.js';
import { EtcdCluster, NODE_PREFIX } from '../../testkit/src/etcd.js';
import { exerciseStore } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-'));
let etcd: EtcdCluster;
let admin: EtcdStore;

before(async () => {
  etcd = await EtcdCluster.start({ dir });
  admin = await EtcdStore.open(etcd.storeOptions('root', '/'));
}, { timeout: 60_000 });

after(async () => {
  await admin?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

exerciseStore('etcd', async () => {
  const ns = `${NODE_PREFIX}test-${randomBytes(6).toString('hex')}/`;
  const s = await EtcdStore.open(etcd.storeOptions(undefined, ns));
  const leases: number[] = [];
  const grant = s.grantLease.bind(s);
  const close = s.close.bind(s);
  let cleaned = false;
  return Object.assign(s, {
    grantLease: async (ttl: number) => {
      const l = await grant(ttl);
      leases.push(l);
      return l;
    },
    close: async () => {
      if (!cleaned) {
        cleaned = true;
        for (const l of leases) await admin.revokeLease(l);
        for (const e of await admin.list(ns.slice(1))) await admin.delete(e.key);
      }
      await close();
    },
  });
}, { compact: (s) => (s as EtcdStore).compact() });

test('etcd: the node user may not touch keys outside its prefix', async () => {
  /* Opening checks access to the namespace, so a store outside the prefix fails at once. */
  await assert.rejects(EtcdStore.open(etcd.storeOptions(undefined, '/elsewhere/')), (e: Error) => e.name === 'StoreError' && /permission denied/i.test(e.message));
  /* etcd 3.4 lets any authenticated user compact: compaction drops history, never current data, and nodes resync from it. */
});

test('etcd: a wrong password, or no client certificate, is refused', async () => {
  const good = etcd.storeOptions();
  await assert.rejects(EtcdStore.open({ ...good, auth: { username: good.auth!.username, password: 'wrong' } }), (e: Error) => e.name === 'StoreError' && /authentication failed|invalid/i.test(e.message));
  await assert.rejects(EtcdStore.open({ ...good, tls: { ca: good.tls.ca }, requestTimeoutMs: 3000 }), { name: 'StoreError' });
  /* And an endpoint list that mixes plain http into a TLS configuration is refused before connecting. */
  await assert.rejects(EtcdStore.open({ ...good, endpoints: ['http://127.0.0.1:1'] }), /plain http/);
});
