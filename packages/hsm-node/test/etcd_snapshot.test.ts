/**
 * etcd holds no key material and no password: a partition on a real etcd
 * (TLS, auth) gets imported and generated keys (whose values the test learns
 * by wrapping them out under a KEK it knows) and a CU with a known password;
 * then `etcdctl snapshot save` and the member's data directory (bbolt file
 * and Raft WAL) are scanned for every secret in raw, hex and base64 forms. A
 * value written around the barrier is found in the same files (the control).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { openLocalPartition } from '../src/local_partition.js';
import { EtcdCluster } from '../../testkit/src/etcd.js';
import { filesUnder, readAll, scanRaw } from '../../testkit/src/raw_scan.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const PASSWORD = 'Known-Pw-etcd-4711';
const b = (t: number, v: boolean) => attr.bool(t, v);
const u = (t: number, v: number) => attr.ulong(t, v);


test('an etcd snapshot and the member data directory hold no key bytes and no password', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-scan-'));
  const etcd = await EtcdCluster.start({ dir: join(dir, 'etcd') });
  try {
    const { partition: p, store } = await openLocalPartition(join(dir, 'hsm'), { create: true, config: FAST, store: { kind: 'etcd', ...etcd.clientConfig() } });
    assert.equal(store.kind, 'etcd');
    const secrets: [string, Buffer][] = [['password', Buffer.from(PASSWORD)]];
    try {
      const preco = await p.login('admin', 'tenantadmin');
      await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
      await p.createUser({ principal: await p.login('admin', 'adminpassword') }, 'CU', 'cu1', PASSWORD);
      const cu = { principal: await p.login('cu1', PASSWORD) };

      const aesValue = crypto.randomBytes(32);
      secrets.push(['imported AES', aesValue]);
      await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_SECRET_KEY), u(P.CKA_KEY_TYPE, P.CKK_AES), b(P.CKA_TOKEN, true), attr.bytes(P.CKA_VALUE, aesValue)]);
      const ecd = Buffer.from(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }).d!, 'base64url');
      secrets.push(['imported EC d', ecd]);
      await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_PRIVATE_KEY), u(P.CKA_KEY_TYPE, P.CKK_EC), b(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bytes(P.CKA_VALUE, ecd)]);

      const kekValue = crypto.randomBytes(32);
      secrets.push(['KEK', kekValue]);
      const kek = await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_SECRET_KEY), u(P.CKA_KEY_TYPE, P.CKK_AES), b(P.CKA_TOKEN, true), b(P.CKA_WRAP, true), attr.bytes(P.CKA_VALUE, kekValue)]);
      const unwrapLocally = (w: Buffer) => {
        const d = crypto.createDecipheriv('id-aes256-wrap-pad', kekValue, Buffer.from('a65959a6', 'hex'));
        return Buffer.concat([d.update(w), d.final()]);
      };
      const kwp = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
      const genAes = await p.generateKey(cu, { mechanism: P.CKM_AES_KEY_GEN }, [b(P.CKA_TOKEN, true), u(P.CKA_VALUE_LEN, 32)]);
      secrets.push(['generated AES', unwrapLocally(await p.wrapKey(cu, kwp, kek, genAes))]);
      const genRsa = await p.generateKeyPair(cu, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN }, [b(P.CKA_TOKEN, true), u(P.CKA_MODULUS_BITS, 2048)], [b(P.CKA_TOKEN, true)]);
      const rsaPkcs8 = unwrapLocally(await p.wrapKey(cu, kwp, kek, genRsa.privateHandle));
      const rsaJwk = crypto.createPrivateKey({ key: rsaPkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
      secrets.push(['generated RSA PKCS#8', rsaPkcs8], ['generated RSA d', Buffer.from(rsaJwk.d!, 'base64url')], ['generated RSA p', Buffer.from(rsaJwk.p!, 'base64url')]);
      const genEc = await p.generateKeyPair(cu, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [b(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex'))], [b(P.CKA_TOKEN, true)]);
      const ecPkcs8 = unwrapLocally(await p.wrapKey(cu, kwp, kek, genEc.privateHandle));
      secrets.push(['generated EC d', Buffer.from(crypto.createPrivateKey({ key: ecPkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d!, 'base64url')]);

      /* Positive control: a value written around the barrier. */
      const canary = Buffer.from('CANARY-' + crypto.randomBytes(8).toString('hex'));
      await store.put('canary', canary);
      await p.flush();

      const snap = join(dir, 'snapshot.db');
      await etcd.etcdctl(['snapshot', 'save', snap]);
      assert.deepEqual(scanRaw([
        { where: 'the snapshot', bytes: readFileSync(snap) },
        { where: 'the member data directory', bytes: readAll(filesUnder(etcd.dataDir(etcd.members[0]!.name))) },
      ], secrets, canary), []);
    } finally {
      await store.close();
    }
  } finally {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
