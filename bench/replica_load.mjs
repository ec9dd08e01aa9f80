/**
 * Start-up of a node's in-memory replica over a store that already holds
 * 10,000 keys (not a test; prints, asserts nothing): time from opening the
 * partition to serving, and the memory the replica takes, per 10,000 keys.
 *
 *   node bench/replica_load.mjs [count, default 10000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const dist = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist', 'packages');
const { openLocalPartition } = await import(join(dist, 'hsm-node', 'src', 'local_partition.js'));
const { PATH, FIRST_HANDLE } = await import(join(dist, 'hsm-core', 'src', 'partition.js'));
const { encodeObject } = await import(join(dist, 'hsm-core', 'src', 'partition', 'records.js'));
const P = await import(join(dist, 'protocol', 'src', 'pkcs11.js'));
const { encodeBool, encodeUlong } = await import(join(dist, 'hsm-core', 'src', 'objects', 'attributes.js'));

const count = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'ochsm-replica-'));
try {
  {
    const { partition, store } = await openLocalPartition(dir, { create: true });
    /* AES-256 keys as createObject stores them, written in batches straight through the barrier. */
    for (let i = 0; i < count; i += 500) {
      const ops = [];
      for (let h = FIRST_HANDLE + i; h < FIRST_HANDLE + Math.min(count, i + 500); h++) {
        const attrs = new Map([
          [P.CKA_CLASS, encodeUlong(P.CKO_SECRET_KEY)], [P.CKA_KEY_TYPE, encodeUlong(P.CKK_AES)], [P.CKA_TOKEN, encodeBool(true)],
          [P.CKA_PRIVATE, encodeBool(true)], [P.CKA_SENSITIVE, encodeBool(true)], [P.CKA_ENCRYPT, encodeBool(true)], [P.CKA_DECRYPT, encodeBool(true)],
          [P.CKA_VALUE_LEN, encodeUlong(32)], [P.CKA_LABEL, Buffer.from(`key-${h}`)], [P.CKA_ID, randomBytes(8)],
        ]);
        ops.push({ op: 'put', key: PATH.object(h), value: encodeObject({ handle: h, owner: 'cu1', shared: [], lease: 0, attrs, material: { kind: 'secret', bytes: randomBytes(32) } }) });
      }
      await partition.barrier.txn([], ops);
    }
    partition.close();
    await store.close();
  }
  globalThis.gc?.();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const { partition, store } = await openLocalPartition(dir);
  const ms = performance.now() - t0;
  globalThis.gc?.();
  const after = process.memoryUsage();
  const per10k = (b) => ((b * 10_000) / count / 2 ** 20).toFixed(1);
  console.log(`${partition.state.objectCount} objects: serving ${ms.toFixed(0)} ms after opening; heap +${per10k(after.heapUsed - before.heapUsed)} MiB and RSS +${per10k(after.rss - before.rss)} MiB per 10,000 keys${globalThis.gc ? '' : ' (run with --expose-gc for steadier numbers)'}`);
  partition.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
