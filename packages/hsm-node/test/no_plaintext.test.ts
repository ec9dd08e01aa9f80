/**
 * The store reveals no key material and no password: create RSA, EC and AES
 * keys (imported with known values and generated inside the HSM, whose values
 * the test learns by wrapping them out under a KEK it knows) and a CU with a
 * known password, then scan the raw SQLite files (database, WAL, shared
 * memory) and the node's key-use audit log for every secret in raw, hex and
 * base64 forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { openLocalPartition, nodeAuditLogPath } from '../src/local_partition.js';
import { NodeAuditLog } from '../src/audit_log.js';
import { readAll, scanRaw } from '../../testkit/src/raw_scan.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const PASSWORD = 'Known-Pw-4711';
const b = (t: number, v: boolean) => attr.bool(t, v);
const u = (t: number, v: number) => attr.ulong(t, v);


test('raw SQLite files and the key-use audit log hold no key bytes and no password', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-scan-'));
  try {
    const auditLog = await NodeAuditLog.open(nodeAuditLogPath(dir, 1), 1);
    const { partition: p, store, paths } = await openLocalPartition(dir, { create: true, config: FAST, partition: { useLog: () => auditLog } });
    const secrets: [string, Buffer][] = [['password', Buffer.from(PASSWORD)]];
    const preco = await p.login('admin', 'tenantadmin');
    await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
    await p.createUser({ principal: await p.login('admin', 'adminpassword') }, 'CU', 'cu1', PASSWORD);
    const cu = { principal: await p.login('cu1', PASSWORD) };

    /* Imported keys with values the test knows. */
    const aesValue = crypto.randomBytes(32);
    secrets.push(['imported AES', aesValue]);
    await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_SECRET_KEY), u(P.CKA_KEY_TYPE, P.CKK_AES), b(P.CKA_TOKEN, true), attr.bytes(P.CKA_VALUE, aesValue)]);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) secrets.push([`imported RSA ${k}`, Buffer.from(rsa[k]!, 'base64url')]);
    const c = (k: keyof typeof rsa) => Buffer.from(rsa[k] as string, 'base64url');
    await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_PRIVATE_KEY), u(P.CKA_KEY_TYPE, P.CKK_RSA), b(P.CKA_TOKEN, true),
      attr.bytes(P.CKA_MODULUS, c('n')), attr.bytes(P.CKA_PUBLIC_EXPONENT, c('e')), attr.bytes(P.CKA_PRIVATE_EXPONENT, c('d')),
      attr.bytes(P.CKA_PRIME_1, c('p')), attr.bytes(P.CKA_PRIME_2, c('q')), attr.bytes(P.CKA_EXPONENT_1, c('dp')), attr.bytes(P.CKA_EXPONENT_2, c('dq')), attr.bytes(P.CKA_COEFFICIENT, c('qi'))]);
    const ecd = Buffer.from(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }).d!, 'base64url');
    secrets.push(['imported EC d', ecd]);
    await p.createObject(cu, [u(P.CKA_CLASS, P.CKO_PRIVATE_KEY), u(P.CKA_KEY_TYPE, P.CKK_EC), b(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bytes(P.CKA_VALUE, ecd)]);

    /* Generated keys, wrapped out under a KEK the test knows, to learn their values. */
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
    const genEc = await p.generateKeyPair(cu, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [b(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06052b81040022', 'hex'))], [b(P.CKA_TOKEN, true)]);
    const ecPkcs8 = unwrapLocally(await p.wrapKey(cu, kwp, kek, genEc.privateHandle));
    secrets.push(['generated EC PKCS#8', ecPkcs8], ['generated EC d', Buffer.from(crypto.createPrivateKey({ key: ecPkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d!, 'base64url')]);

    /* Key use of every kind, successful and failing, so the key-use log has records to scan. */
    const aesHandle = await p.generateKey(cu, { mechanism: P.CKM_AES_KEY_GEN }, [b(P.CKA_TOKEN, true), u(P.CKA_VALUE_LEN, 32), b(P.CKA_ENCRYPT, true), b(P.CKA_DECRYPT, true)]);
    secrets.push(['generated AES for use', unwrapLocally(await p.wrapKey(cu, kwp, kek, aesHandle))]);
    const gcm = { mechanism: P.CKM_AES_GCM, params: { iv: Buffer.alloc(12, 3), tagBits: 128 } };
    const ct = await p.encrypt(cu, gcm, aesHandle, Buffer.from(PASSWORD));
    await p.decrypt(cu, gcm, aesHandle, ct);
    await p.decrypt(cu, gcm, aesHandle, Buffer.alloc(40)).catch(() => undefined);
    await auditLog.flush();
    const logText = readFileSync(auditLog.path);
    assert.ok(logText.includes(Buffer.from('"action":"wrapKey"')) && logText.includes(Buffer.from('"action":"decrypt"')), 'the key-use log holds the uses');
    assert.deepEqual(scanRaw([{ where: 'the key-use audit log', bytes: logText }], secrets), []);

    /* Positive control: a value written around the barrier must be found, in the same files. */
    const canary = Buffer.from('CANARY-' + crypto.randomBytes(8).toString('hex'));
    await store.put('canary', canary);

    /* The store keeps a rollback journal (no WAL, no -shm: nothing memory-mapped); scan whatever is there. */
    const files = [paths.database, `${paths.database}-journal`, `${paths.database}-wal`, `${paths.database}-shm`].filter(existsSync);
    assert.ok(files.includes(paths.database), `database present: ${files.join(', ')}`);
    assert.deepEqual(scanRaw([{ where: 'the raw store files', bytes: readAll(files) }], secrets, canary), []);
    /* And after the store is closed. */
    p.close();
    await auditLog.close();
    await store.close();
    assert.deepEqual(scanRaw([{ where: 'the store files after closing', bytes: readAll([paths.database, `${paths.database}-journal`, `${paths.database}-wal`].filter(existsSync)) }], secrets, canary), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
