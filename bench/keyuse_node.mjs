/**
 * The cost of one key use inside a node, without the transport (not a test;
 * prints, asserts nothing): a partition opened as a node opens it (SQLite
 * store, the node's key-use audit log on disk, raw ECDSA in libcrypto when
 * built), then `ops` uses with `concurrency` in flight for ECDSA P-256 sign
 * (CKM_ECDSA; and of 1 KiB with CKM_ECDSA_SHA256), RSA-2048 sign (CKM_SHA256_RSA_PKCS), AES-256-GCM 1 KiB encrypt and, as the reference without a key,
 * SHA-256 of 1 KiB. Prints ops/s, the process's CPU per operation (user +
 * system, every thread: the event loop, the libuv pool, the fdatasync calls)
 * and the key-use records per fdatasync.
 *
 *   node bench/keyuse_node.mjs [ops per row, default 20000] [concurrency, default 16]
 *   OCHSM_KEYUSE_ONLY=ecdsa|ecsha|rsa|gcm|sha  one row only; node --cpu-prof bench/keyuse_node.mjs for a profile
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const dist = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist', 'packages');
const { openLocalPartition, nodeAuditLogPath } = await import(join(dist, 'hsm-node', 'src', 'local_partition.js'));
const { NodeAuditLog } = await import(join(dist, 'hsm-node', 'src', 'audit_log.js'));
const { installNativeCrypto } = await import(join(dist, 'hsm-node', 'src', 'native_crypto.js'));
const P = await import(join(dist, 'protocol', 'src', 'pkcs11.js'));
const { attr } = await import(join(dist, 'hsm-core', 'src', 'objects', 'attributes.js'));

const ops = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 16);
const only = process.env.OCHSM_KEYUSE_ONLY;
const native = installNativeCrypto();
const dir = mkdtempSync(join(tmpdir(), 'ochsm-keyuse-'));
try {
  const auditLog = await NodeAuditLog.open(nodeAuditLogPath(dir, 1), 1);
  const { partition: p, store } = await openLocalPartition(dir, {
    create: true,
    config: { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } },
    partition: { useLog: () => auditLog },
  });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  const cu1 = { principal: await p.login('cu1', 'user1234', 'CU') };
  const B = (t, v) => attr.bool(t, v);
  const ec = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_VERIFY, true)],
    [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
  const rsa = await p.generateKeyPair(cu1, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
    [B(P.CKA_TOKEN, true), attr.ulong(P.CKA_MODULUS_BITS, 2048), attr.bytes(P.CKA_PUBLIC_EXPONENT, Buffer.from([1, 0, 1])), B(P.CKA_VERIFY, true)],
    [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
  const aes = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [B(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true)]);
  const hash = createHash('sha256').update('keyuse').digest();
  const kib = randomBytes(1024);
  const iv = randomBytes(12);
  const rows = {
    ecdsa: ['ECDSA P-256 sign (CKM_ECDSA)', () => p.sign(cu1, { mechanism: P.CKM_ECDSA }, ec.privateHandle, hash)],
    ecsha: ['ECDSA P-256 sign of 1 KiB (CKM_ECDSA_SHA256)', () => p.sign(cu1, { mechanism: P.CKM_ECDSA_SHA256 }, ec.privateHandle, kib)],
    rsa: ['RSA-2048 sign (CKM_SHA256_RSA_PKCS) of 32 bytes', () => p.sign(cu1, { mechanism: P.CKM_SHA256_RSA_PKCS }, rsa.privateHandle, hash)],
    gcm: ['AES-256-GCM 1 KiB encrypt', () => p.encrypt(cu1, { mechanism: P.CKM_AES_GCM, params: { iv, aad: Buffer.alloc(0), tagBits: 128 } }, aes, kib)],
    sha: ['SHA-256 1 KiB (no key, no record)', () => p.digest({ mechanism: P.CKM_SHA256 }, kib)],
  };
  console.log(`raw ECDSA: ${native.rawEcdsa}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '(default 4)'}; ${ops} ops per row, ${concurrency} in flight`);
  for (const [name, [label, op]] of Object.entries(rows)) {
    if (only && only !== name) continue;
    /* Warm-up: the key is unmasked into the material cache, the code is compiled. */
    for (let i = 0; i < 200; i++) await op();
    const syncs0 = auditLog.stats.syncs;
    const recs0 = auditLog.stats.records;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < ops) await op();
    }));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const syncs = auditLog.stats.syncs - syncs0;
    const recs = auditLog.stats.records - recs0;
    console.log(`${label}: ${Math.round((ops * 1000) / ms).toLocaleString('en')} ops/s, CPU ${((cpu.user + cpu.system) / ops).toFixed(1)} µs/op (user ${(cpu.user / ops).toFixed(1)}, system ${(cpu.system / ops).toFixed(1)})${syncs ? `, ${(recs / syncs).toFixed(1)} records per fdatasync` : ''}`);
  }
  await p.flush();
  p.close();
  await auditLog.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
