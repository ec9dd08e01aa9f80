#!/usr/bin/env node
/**
 * One HSM provider per worker thread (docs/sdk.md, "Threads"): the Azure Cloud HSM
 * authentication guide's multithreading advice for the JCE ("initialize the provider only once; do
 * not share SPI objects across threads") in Node terms.
 *
 *   cd /opt/azurecloudhsm/bin            # a folder holding azcloudhsm_application.cfg
 *   export HSM_USER=cu1 HSM_PASSWORD=user1234
 *   node /path/to/opencloudhsm/examples/worker-threads.mjs [WORKERS] [SIGNATURES]
 *
 * The main thread makes a persistent ECDSA key labelled with a fresh name.
 * Each worker has its own module instances, so its own LoginManager (signed in
 * implicitly from the environment it inherits) and its own HsmCrypto; a
 * CryptoKey cannot cross threads, so each worker finds the key again by its
 * label and signs in parallel with the others. The main thread verifies every
 * signature with Node's own WebCrypto, then deletes the key.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { HsmCrypto, LoginManager } from '../dist/packages/sdk/src/index.js';

const ALG = { name: 'ECDSA', hash: 'SHA-256' };

if (isMainThread) {
  const workers = Number(process.argv[2] ?? 4);
  const each = Number(process.argv[3] ?? 25);
  const hsm = new HsmCrypto();
  const label = `worker-example-${process.pid}-${Date.now()}`;
  const keys = await hsm.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256', label, persistent: true }, false, ['sign', 'verify']);
  const spki = await hsm.subtle.exportKey('spki', keys.publicKey);
  const verifier = await globalThis.crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  try {
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: workers }, (_, id) => new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { id, label, each } });
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`worker ${id} exited with ${code}`)));
    })));
    let ok = 0;
    for (const r of results) {
      for (const { message, signature } of r.signatures) {
        if (await globalThis.crypto.subtle.verify(ALG, verifier, signature, new TextEncoder().encode(message))) ok++;
      }
    }
    process.stdout.write(`${JSON.stringify({ label, workers, signatures: ok, expected: workers * each, handles: results.map((r) => r.handle), ms: Date.now() - t0 })}\n`);
    if (ok !== workers * each) process.exitCode = 1;
  } finally {
    await hsm.keys.delete(keys);
    hsm.close();
    LoginManager.getInstance().close();
  }
} else {
  /* A worker: its own provider, its own connection and sign-in. */
  const { id, label, each } = workerData;
  const hsm = new HsmCrypto();
  const key = await hsm.keys.getKey(label, undefined, { type: 'private' });
  if (!key) throw new Error(`worker ${id}: no private key labelled ${label}`);
  const signatures = await Promise.all(Array.from({ length: each }, async (_, i) => {
    const message = `worker ${id} message ${i}`;
    return { message, signature: await hsm.subtle.sign(ALG, key, new TextEncoder().encode(message)) };
  }));
  parentPort.postMessage({ id, handle: key.handle, signatures });
  hsm.close();
  LoginManager.getInstance().close();
}
