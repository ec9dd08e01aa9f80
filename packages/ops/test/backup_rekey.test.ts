/**
 * Restore under a different sealing key, with real nodes and the real tools:
 * cluster A (sealing key A) is backed up with azcloudhsm_mgmt_util and
 * destroyed; cluster B runs on a new sealing key B. B refuses A's backup
 * naming both key ids and changes nothing; `ochsm backup-rewrap` refuses a
 * wrong old key and an existing output; with keys A and B it re-wraps the
 * backup, B restores it, every user signs in, the key signs (verified outside
 * with the public key read before the backup), and the audit chain verifies,
 * its restore record naming the re-wrap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicKey, createVerify } from 'node:crypto';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { readBackupHeader, sealingKeyId } from '../../hsm-core/src/backup/format.js';
import { keyDeriver } from '../../hsm-core/src/backup/rewrap.js';
import { parseSealingKey, formatSealingKey } from '../../hsm-core/src/barrier/sealing_key.js';
import { connectNode, startCluster, type LocalCluster } from '../../testkit/src/cluster.js';
import { mgmtInstall, mgmtUtil, storeListing } from '../../testkit/src/mgmt_util.js';

const here = dirname(fileURLToPath(import.meta.url));
const OCHSM = resolve(here, '..', '..', '..', '..', 'dist', 'bin', 'ochsm');
const idOf = (keyFile: string) => sealingKeyId(keyDeriver(parseSealingKey(readFileSync(keyFile, 'utf8'))));
const ochsm = (...args: string[]) => spawnSync(OCHSM, args, { encoding: 'utf8', timeout: 60_000 });

test('backup under sealing key A → refused by a cluster on key B → ochsm backup-rewrap A→B → restored: users, keys, audit chain', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-rekey-'));
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const kept = join(root, 'kept');
  mkdirSync(kept, { mode: 0o700 });
  let a: LocalCluster | undefined;
  let b: LocalCluster | undefined;
  t.after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /* Cluster A: a CU with an EC key pair; its public key is read before the backup. */
  a = await startCluster(dirA, { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
  const app = await connectNode(a.node(1).port, a.poCrt);
  await app.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const ec = await app.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true)],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
  });
  const pub = await app.request('getAttributeValue', { handle: ec.publicHandle, types: [P.CKA_EC_POINT] });
  app.close();
  const backupFile = join(root, 'partition-a.bak');
  const outA = await mgmtUtil(mgmtInstall(join(root, 'mgmt-a'), a.node(1).port, a.certDir), ['server 0', 'loginHSM CO admin adminpassword', `backupPartition ${backupFile}`, 'exit', 'quit']);
  assert.match(outA, /backupPartition success/, outA);
  const keyA = join(kept, 'sealing-a.key');
  copyFileSync(join(dirA, 'sealing.key'), keyA);
  chmodSync(keyA, 0o600);
  const keptCert = join(kept, 'cert');
  mkdirSync(keptCert);
  copyFileSync(join(a.certDir, 'PO.crt'), join(keptCert, 'PO.crt'));
  await a.stop();
  a = undefined;
  rmSync(dirA, { recursive: true, force: true });
  const idA = idOf(keyA);
  assert.equal(readBackupHeader(readFileSync(backupFile)).sealingKeyId, idA, 'the backup names the id of the key it is under');

  /* Cluster B: a new store on a new sealing key, unclaimed. */
  b = await startCluster(dirB, { claim: false });
  const keyB = join(dirB, 'sealing.key');
  const idB = idOf(keyB);
  assert.notEqual(idA, idB);
  const cfgB = mgmtInstall(join(root, 'mgmt-b'), b.node(1).port, keptCert);
  const db = join(dirB, 'data', 'partition.db');
  const before = await storeListing(db);
  const refused = await mgmtUtil(cfgB, ['server 0', 'loginHSM PRECO admin tenantadmin', `restorePartition ${backupFile}`, 'y', 'exit', 'quit']);
  const refusal = refused.split('\n').find((l) => /restorePartition failed/.test(l)) ?? '';
  assert.ok(refusal.includes(`it was made under the sealing key with id ${idA}, and this cluster's sealing key has id ${idB}`), refused);
  assert.match(refusal, /ochsm backup-rewrap/);
  assert.equal((await storeListing(db)).state, before.state, 'the refused restore changed nothing');

  /* backup-rewrap refuses: a wrong old key (B's, and a third one), the same key twice, an output that exists, a bad command line. */
  const rewrapped = join(root, 'partition-b.bak');
  const keyC = join(kept, 'sealing-c.key');
  writeFileSync(keyC, formatSealingKey(Buffer.alloc(32, 0x5c)), { mode: 0o600 });
  const wrongOld = ochsm('backup-rewrap', '--from', keyC, '--to', keyB, backupFile, rewrapped);
  assert.equal(wrongOld.status, 1);
  assert.match(wrongOld.stderr, new RegExp(`cannot re-wrap the backup: it was made under the sealing key with id ${idA}, and the old key given has id ${idOf(keyC)}`));
  const same = ochsm('backup-rewrap', '--from', keyB, '--to', keyB, backupFile, rewrapped);
  assert.equal(same.status, 1);
  assert.match(same.stderr, /the old and the new sealing key are the same key/);
  const usage = ochsm('backup-rewrap', '--from', keyA, backupFile, rewrapped);
  assert.equal(usage.status, 1);
  assert.match(usage.stderr, /usage: ochsm backup-rewrap --from <old sealing.key> --to <new sealing.key> <backup> <output>/);
  chmodSync(keyA, 0o644);
  const loose = ochsm('backup-rewrap', '--from', keyA, '--to', keyB, backupFile, rewrapped);
  assert.equal(loose.status, 1);
  assert.match(loose.stderr, /has mode 0644; it must be readable by its owner only/);
  chmodSync(keyA, 0o600);
  assert.ok(!existsSync(rewrapped), 'nothing was written by a refused re-wrap');

  /* The re-wrap. */
  const ok = ochsm('backup-rewrap', '--from', keyA, '--to', keyB, backupFile, rewrapped);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^backup-rewrap: .*partition-a\\.bak \\(sealing key ${idA}, \\d+ entries, audit log up to record (\\d+)\\) → .*partition-b\\.bak \\(sealing key ${idB}\\), \\d+ bytes$`, 'm'));
  const auditSeqA = Number(/audit log up to record (\d+)/.exec(ok.stdout)![1]);
  const h = readBackupHeader(readFileSync(rewrapped));
  assert.equal(h.sealingKeyId, idB);
  assert.equal(h.rewrapped?.fromKeyId, idA);
  assert.ok(!readFileSync(rewrapped).equals(readFileSync(backupFile)));
  const again = ochsm('backup-rewrap', '--from', keyA, '--to', keyB, backupFile, rewrapped);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /it exists \(choose a new name\)/);

  /* Restore the re-wrapped backup into B. */
  const good = await mgmtUtil(cfgB, ['server 0', 'loginHSM PRECO admin tenantadmin', `restorePartition ${rewrapped}`, 'y', 'exit', 'quit']);
  assert.match(good, /restorePartition success/, good);
  const poCrt = readFileSync(join(keptCert, 'PO.crt'));
  let co;
  for (const deadline = Date.now() + 15_000; ;) {
    try {
      co = await connectNode(b.node(2).port, poCrt);
      break;
    } catch (e) {
      assert.ok(Date.now() < deadline, `the restored cluster presents A's chain: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await co.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
  assert.deepEqual((await co.request('listUsers', {})).users.map((u) => `${u.user}:${u.role}`).sort(), ['admin:CO', 'cu1:CU']);
  const verdict = await co.request('auditVerify', {});
  assert.equal(verdict.ok, true, verdict.reason);
  const recs = (await co.request('auditRecords', { fromSeq: auditSeqA })).records;
  assert.deepEqual(recs.map((r) => r.action), ['backupPartition', 'restorePartition', 'login']);
  const detail = JSON.stringify(recs[1]);
  assert.ok(detail.includes(`from sealing key ${idA} to ${idB}`), `the restore record names the re-wrap: ${detail}`);
  co.close();
  const cu = await connectNode(b.node(3).port, poCrt);
  await cu.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const msg = Buffer.from('signed on key B');
  const { signature } = await cu.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: ec.privateHandle, data: msg });
  cu.close();
  const point = Buffer.from(pub.attributes[0]!.value);
  const raw = point[0] === 0x04 && point.length === 67 ? point.subarray(2) : point;
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), raw]);
  const v = createVerify('SHA256');
  v.update(msg);
  assert.ok(v.verify({ key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, signature), 'the key restored under key B is the key made under key A');
  /* B's store is sealed under B: its own key opens it, A's would not (the node refuses a wrong key at start). */
  assert.equal(idOf(join(dirB, 'sealing.key')), idB);
  console.log(`checked: backup under sealing key ${idA} refused by the cluster on ${idB} (both ids named, store unchanged); backup-rewrap refused a wrong old key, the same key twice, a usage error, a 0644 key file and an existing output; re-wrapped ${idA} → ${idB}, restored: admin and cu1 sign in, the ECDSA key signs and verifies with the public key read under A, the audit chain verifies (${auditSeqA} records, then restorePartition naming the re-wrap)`);
});
