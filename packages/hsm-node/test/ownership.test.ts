/**
 * Ownership as a unit, in one process over the in-memory store: the core's
 * claiming state (hsm-core/src/partition/ownership.ts) and the node's TLS
 * identity built from it (../src/ownership.ts). Two partitions on one store
 * stand for two nodes. The owner's certificates are made with the real
 * openssl, as the onboarding guide does.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { MemoryStore } from '../../store/src/memory.js';
import { PATH, type CallContext } from '../../hsm-core/src/partition.js';
import { Ownership, SLOT_PO, SLOT_POAC } from '../src/ownership.js';
import { makePki, signPartitionCsr } from '../../testkit/src/pki.js';
import { code, tempDirForFile, twoNodePartitions } from './helpers/in_process.js';

const tmp = tempDirForFile('ownership');

async function twoNodes() {
  const n = await twoNodePartitions();
  const preco: CallContext = { principal: await n.p1.login('admin', 'tenantadmin', 'PRECO') };
  return { ...n, o1: new Ownership(n.p1), o2: new Ownership(n.p2), preco };
}

/** Keys and versions of everything in the store: equal snapshots mean nothing changed. */
const snapshot = async (store: MemoryStore) => (await store.list('')).map((e) => `${e.key}@${e.version}`).join('\n');

describe('ownership', () => {
  test('the partition key is made once for the cluster, even when two nodes race, with one audit record', async () => {
    const { store, p1, o1, o2, close } = await twoNodes();
    try {
      const [k1, k2] = await Promise.all([o1.partitionKey(), o2.partitionKey()]);
      const spki = (k: typeof k1) => createPublicKey(k).export({ format: 'der', type: 'spki' }).toString('hex');
      assert.equal(spki(k1), spki(k2));
      assert.equal(k1.asymmetricKeyDetails?.modulusLength, 2048);
      assert.equal((await p1.auditRecords(1, 1000)).filter((r) => r.action === 'createPartitionKey').length, 1);
      /* Stored masked: the raw store never shows the PEM. */
      const raw = await store.get(PATH.partitionKey);
      assert.ok(raw && !Buffer.from(raw.value).toString('latin1').includes('PRIVATE KEY'));
      assert.equal((await p1.auditVerify()).ok, true);
    } finally {
      close();
    }
  });

  test('unclaimed: a self-signed certificate for the partition key; the CSR is for that key', async () => {
    const { o1, o2, close } = await twoNodes();
    try {
      const creds = await o1.tlsCredentials(new Date());
      assert.equal(creds.mode, 'unencrypted');
      assert.equal(await o1.mode(), 'unencrypted');
      const cert = new X509Certificate(creds.cert);
      assert.ok(cert.checkPrivateKey(await o1.partitionKey()));
      assert.ok(cert.verify(cert.publicKey), 'self-signed');
      assert.match(cert.subject, /CN=HSM:[0-9A-F]{30}:PARTN:1\\, for non-FIPS mode/);
      /* The other node presents the same key (the subject is the same partition's). */
      assert.ok(new X509Certificate((await o2.tlsCredentials(new Date())).cert).checkPrivateKey(await o1.partitionKey()));
      const owner = signPartitionCsr(join(tmp(), 'csr-check'), await o2.certReq());
      assert.ok(new X509Certificate(readFileSync(owner.poacCrt)).checkPrivateKey(await o1.partitionKey()), 'the CSR carries the partition key');
    } finally {
      close();
    }
  });

  test('storeCert refuses the wrong caller, slot, order and certificates, and then changes nothing', async () => {
    const { store, p1, o1, preco, close } = await twoNodes();
    try {
      const owner = signPartitionCsr(join(tmp(), 'refusals'), await o1.certReq());
      const po = readFileSync(owner.poCrt);
      const before = await snapshot(store);
      await assert.rejects(o1.storeCert({ principal: undefined }, SLOT_PO, po), code('ERR_USER_NOT_LOGGED_IN'));
      await assert.rejects(o1.storeCert({ principal: { user: 'admin', role: 'CO' } }, SLOT_PO, po), code('ERR_NOT_PERMITTED', /PRECO, not a CO/));
      await assert.rejects(o1.storeCert(preco, 5, po), code('ERR_ARGUMENTS_BAD', /slot 5 cannot be written/));
      await assert.rejects(o1.storeCert(preco, SLOT_POAC, readFileSync(owner.poacCrt)), code('ERR_ARGUMENTS_BAD', /slot 4\) before the POAC/));
      await assert.rejects(o1.storeCert(preco, SLOT_PO, Buffer.from('not a certificate')), code('ERR_ARGUMENTS_BAD', /PO\.crt is not an X\.509 certificate/));
      const ec = makePki(join(tmp(), 'ec'));
      await assert.rejects(o1.storeCert(preco, SLOT_PO, readFileSync(ec.ca)), code('ERR_ARGUMENTS_BAD', /must hold an RSA key/));
      assert.equal(await snapshot(store), before, 'a refused storeCert wrote nothing');
      assert.equal((await p1.partitionRecord()).state, 'factory');
    } finally {
      close();
    }
  });

  test('claiming: each certificate, the partition state and its audit record commit in one transaction; the other node follows', async () => {
    const { store, p1, p2, o1, o2, preco, close } = await twoNodes();
    try {
      const owner = signPartitionCsr(join(tmp(), 'claim'), await o1.certReq());
      const once = { ...preco, requestId: 'req-store-po-' + Date.now().toString(36) };
      assert.equal(await o1.storeCert(once, SLOT_PO, readFileSync(owner.poCrt)), false);
      /* Its answer lost, retried with the same request id (also through the other node): the first answer, nothing written. */
      const head = (await store.get(PATH.auditHead))!.version;
      assert.equal(await o1.storeCert(once, SLOT_PO, readFileSync(owner.poCrt)), false);
      assert.equal(await o2.storeCert(once, SLOT_PO, readFileSync(owner.poCrt)), false);
      assert.equal((await store.get(PATH.auditHead))!.version, head);
      const one = async (slot: number) => {
        const [cert, part, head] = await Promise.all([store.get(PATH.cert(slot)), store.get(PATH.partition), store.get(PATH.auditHead)]);
        return { cert: cert!.version, part: part!.version, head: head!.version };
      };
      const po = await one(SLOT_PO);
      assert.deepEqual([po.part, po.head], [po.cert, po.cert], 'PO.crt, sys/partition and the audit head share one revision');
      assert.equal((await p1.partitionRecord()).state, 'po-stored');
      const rec = (await p1.auditRecords(1, 1000)).at(-1)!;
      assert.deepEqual([rec.action, rec.user, rec.role, rec.detail, rec.result], ['storeCert', 'admin', 'PRECO', 'slot 4, partition po-stored', 'ok']);
      /* PO.crt is write-once. */
      const other = signPartitionCsr(join(tmp(), 'claim-other'), await o1.certReq());
      await assert.rejects(o1.storeCert(preco, SLOT_PO, readFileSync(other.poCrt)), code('ERR_ARGUMENTS_BAD', /already stored and cannot be changed/));
      assert.equal(await o1.mode(), 'unencrypted');

      /* A POAC from another owner, or for another partition's key, is refused. */
      await assert.rejects(o1.storeCert(preco, SLOT_POAC, readFileSync(other.poacCrt)), code('ERR_ARGUMENTS_BAD', /not signed by the stored partition owner certificate/));
      const stranger = await twoNodes();
      try {
        const foreign = signPartitionCsr(join(tmp(), 'claim'), await stranger.o1.certReq());
        await assert.rejects(o1.storeCert(preco, SLOT_POAC, readFileSync(foreign.poacCrt)), code('ERR_ARGUMENTS_BAD', /does not certify this partition's key/));
      } finally {
        stranger.close();
      }

      const mine = signPartitionCsr(join(tmp(), 'claim'), await o1.certReq());
      assert.equal(await o1.storeCert(preco, SLOT_POAC, readFileSync(mine.poacCrt)), true);
      const poac = await one(SLOT_POAC);
      assert.deepEqual([poac.part, poac.head], [poac.cert, poac.cert]);
      assert.equal((await p1.partitionRecord()).state, 'e2e');
      await assert.rejects(o1.storeCert(preco, SLOT_POAC, readFileSync(mine.poacCrt)), code('ERR_ARGUMENTS_BAD', /slot 8\) is already stored/));

      /* Node 2 sees the claim and presents the chain [POAC, PO]. */
      await p2.state.sync();
      assert.equal((await p2.partitionRecord()).state, 'e2e');
      assert.equal(await o2.mode(), 'e2e');
      const creds = await o2.tlsCredentials(new Date());
      assert.equal(creds.mode, 'e2e');
      const pems = creds.cert.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)!;
      assert.equal(pems.length, 2);
      const [leaf, anchor] = pems.map((p) => new X509Certificate(p));
      assert.equal(anchor!.fingerprint256, new X509Certificate(readFileSync(mine.poCrt)).fingerprint256);
      assert.ok(leaf!.verify(anchor!.publicKey) && leaf!.checkPrivateKey(await o2.partitionKey()));
      assert.deepEqual((await p2.auditRecords(1, 1000)).filter((r) => r.action === 'storeCert').map((r) => r.detail), ['slot 4, partition po-stored', 'slot 8, partition e2e']);
      assert.equal((await p2.auditVerify()).ok, true);
    } finally {
      close();
    }
  });
});
