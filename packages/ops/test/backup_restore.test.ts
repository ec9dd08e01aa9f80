/**
 * The backup round trip: a claimed cluster with users, keys and a share is
 * backed up with azcloudhsm_mgmt_util backupPartition, then destroyed (its
 * directory deleted, only the sealing key and PO.crt kept). A fresh cluster
 * on the same sealing key refuses a tampered and a truncated backup without
 * changing anything, then restorePartition brings everything back: every key
 * signs or encrypts, every user signs in, the audit chain verifies and ends
 * with the restore's own record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVerify, createPublicKey } from 'node:crypto';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, connectNode, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { mgmtInstall, mgmtUtil, storeListing } from '../../testkit/src/mgmt_util.js';

const CU2 = { user: 'cu2', password: 'Second-CU-4321' };

test('backupPartition → destroy → restorePartition: keys sign, users sign in, the audit chain verifies; damaged backups change nothing', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-backup-'));
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const kept = join(root, 'kept');
  mkdirSync(kept);
  let a: LocalCluster | undefined;
  let b: LocalCluster | undefined;
  let d: DaemonHandle | undefined;
  t.after(async () => {
    await d?.stop().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /* Cluster A: two CUs, an EC key pair shared with cu2, an AES key, a signature. */
  a = await startCluster(dirA, { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }, { ...CU2, role: 'CU' }] });
  d = await startDaemon(a);
  const app = await connectDaemon(d.socketPath, 'backup-test');
  await app.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const ec = await app.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true), attr.utf8(P.CKA_LABEL, 'backup-ec')],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.utf8(P.CKA_LABEL, 'backup-ec')],
  });
  const aes = await app.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true), attr.utf8(P.CKA_LABEL, 'backup-aes')] });
  await app.request('shareKey', { handle: ec.privateHandle, users: [CU2.user], share: true });
  const iv = Buffer.alloc(12, 7);
  const gcm = { mechanism: P.CKM_AES_GCM, iv, tagBits: 128 };
  const { data: sealed } = await app.request('encrypt', { mechanism: gcm, handle: aes.handle, data: Buffer.from('kept across the restore') });
  const pub = await app.request('getAttributeValue', { handle: ec.publicHandle, types: [P.CKA_EC_POINT] });
  app.close();
  await d.stop();
  d = undefined;

  const cfgA = mgmtInstall(join(root, 'mgmt-a'), a.node(1).port, a.certDir);
  const backupFile = join(root, 'partition.bak');
  const outA = await mgmtUtil(cfgA, ['server 0', 'loginHSM CO admin adminpassword', `backupPartition ${backupFile}`, 'exit', 'quit']);
  assert.match(outA, /backupPartition success/, outA);
  assert.match(outA, /backupPartition: \d+ entries, audit log up to record \d+, \d+ bytes written to /);
  assert.equal(statSync(backupFile).mode & 0o777, 0o600, 'the backup file is private');
  const backup = readFileSync(backupFile);
  for (const secret of ['user1234', CU2.password, 'adminpassword', 'kept across the restore']) assert.ok(!backup.includes(Buffer.from(secret)), `the backup does not hold ${secret} in the clear`);
  const auditSeqA = Number(/audit log up to record (\d+)/.exec(outA)![1]);

  /* Destroy A; keep only what an operator keeps apart: the sealing key and PO.crt. */
  copyFileSync(join(dirA, 'sealing.key'), join(kept, 'sealing.key'));
  const keptCert = join(kept, 'cert');
  mkdirSync(keptCert);
  copyFileSync(join(a.certDir, 'PO.crt'), join(keptCert, 'PO.crt'));
  await a.stop();
  a = undefined;
  rmSync(dirA, { recursive: true, force: true });

  /* Cluster B: a new store on the kept sealing key, unclaimed (factory PRECO). */
  mkdirSync(dirB, { mode: 0o700 });
  copyFileSync(join(kept, 'sealing.key'), join(dirB, 'sealing.key'));
  b = await startCluster(dirB, { claim: false });
  const cfgB = mgmtInstall(join(root, 'mgmt-b'), b.node(1).port, keptCert);
  const db = join(dirB, 'data', 'partition.db');
  const before = await storeListing(db);
  const tampered = Buffer.from(backup);
  tampered[Math.floor(tampered.length / 2)]! ^= 0x01;
  writeFileSync(join(root, 'tampered.bak'), tampered);
  writeFileSync(join(root, 'truncated.bak'), backup.subarray(0, backup.length - 100));
  writeFileSync(join(root, 'stub.bak'), backup.subarray(0, 20));
  const bad = await mgmtUtil(cfgB, ['server 0', 'loginHSM PRECO admin tenantadmin',
    `restorePartition ${join(root, 'tampered.bak')}`, 'y', `restorePartition ${join(root, 'truncated.bak')}`, 'y', `restorePartition ${join(root, 'stub.bak')}`, 'y', 'exit', 'quit']);
  const refusals = bad.split('\n').filter((l) => /restorePartition failed/.test(l));
  assert.equal(refusals.length, 3, bad);
  assert.match(refusals[0]!, /not a usable partition backup: authentication failed: the file was changed or truncated/);
  assert.match(refusals[1]!, /not a usable partition backup: authentication failed/);
  assert.match(refusals[2]!, /not a usable partition backup: 20 bytes is too short/);
  const after = await storeListing(db);
  assert.equal(after.state, before.state, 'a refused restore changed nothing in the store');
  assert.equal(after.audits, before.audits + 1, 'only the PRECO sign-in was recorded');

  /* The real restore. */
  const good = await mgmtUtil(cfgB, ['server 0', 'loginHSM PRECO admin tenantadmin', `restorePartition ${backupFile}`, 'y', 'exit', 'quit']);
  assert.match(good, /restorePartition success/, good);
  assert.match(good, /restorePartition: \d+ entries restored, audit log now at record (\d+)/);

  /* Every user signs in (the restored partition presents A's chain, verified against the kept PO.crt). */
  const poCrt = readFileSync(join(keptCert, 'PO.crt'));
  const deadline = Date.now() + 15_000;
  let co;
  for (;;) {
    try {
      co = await connectNode(b.node(2).port, poCrt);
      break;
    } catch (e) {
      assert.ok(Date.now() < deadline, `the restored cluster presents the backed-up chain: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await co.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
  const users = (await co.request('listUsers', {})).users.map((u) => `${u.user}:${u.role}`).sort();
  assert.deepEqual(users, ['admin:CO', 'cu1:CU', 'cu2:CU']);
  const verdict = await co.request('auditVerify', {});
  assert.equal(verdict.ok, true, verdict.reason);
  assert.equal(verdict.records, auditSeqA + 2, 'the backed-up chain, the restore record, this sign-in');
  const lastRecords = (await co.request('auditRecords', { fromSeq: auditSeqA })).records;
  assert.deepEqual(lastRecords.map((r) => r.action), ['backupPartition', 'restorePartition', 'login']);
  co.close();
  await assert.rejects((async () => {
    const preco = await connectNode(b.node(1).port, poCrt);
    try {
      await preco.request('login', { user: 'admin', password: 'tenantadmin', role: 'PRECO' });
    } finally {
      preco.close();
    }
  })(), (e: unknown) => e instanceof HsmError, 'the factory PRECO of B is gone');

  /* Every key works through a daemon of the restored cluster. */
  d = await startDaemon(b, { certDir: keptCert });
  const app2 = await connectDaemon(d.socketPath, 'after-restore');
  await app2.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const msg = Buffer.from('signed after the restore');
  const { signature } = await app2.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: ec.privateHandle, data: msg });
  await app2.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: ec.publicHandle, data: msg, signature });
  /* And outside the HSM, with the public key read before the backup. */
  const point = Buffer.from(pub.attributes[0]!.value);
  const raw = point[0] === 0x04 && point.length === 67 ? point.subarray(2) : point;
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), raw]);
  const v = createVerify('SHA256');
  v.update(msg);
  assert.ok(v.verify({ key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, signature), 'the restored key is the backed-up key');
  const { data: opened } = await app2.request('decrypt', { mechanism: gcm, handle: aes.handle, data: sealed });
  assert.equal(Buffer.from(opened).toString(), 'kept across the restore');
  await app2.request('logout', {});
  /* cu2 signs in and uses the key shared with it. */
  const cu2 = await connectNode(b.node(3).port, poCrt);
  await cu2.request('login', { user: CU2.user, password: CU2.password, role: 'CU' });
  await cu2.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: ec.privateHandle, data: msg });
  cu2.close();
  app2.close();
  /* Over a partition with keys, a restore is refused. */
  const again = await mgmtUtil(cfgB, ['server 0', 'loginHSM CO admin adminpassword', `restorePartition ${backupFile}`, 'y', 'exit', 'quit']);
  assert.match(again, /restorePartition failed: .*refuses one that holds objects/, again);
  console.log(`checked: backup of ${backup.length} bytes (${auditSeqA} audit records, mode 0600, no password or data in the clear); tampered, truncated and 20-byte files refused with the store unchanged; restored into a new store on the kept sealing key: admin/cu1/cu2 sign in, ECDSA key signs (verified outside with the old public key), AES-GCM decrypts, the share holds, audit chain verifies: ${auditSeqA} backed-up records, then restorePartition; a second restore over keys refused`);
});
