/**
 * Tests of src/webcrypto/crypto.ts (and random.ts, key.ts): the Crypto
 * object — random values from the HSM with WebCrypto's checks, randomUUID,
 * and what an HsmCryptoKey looks like to the rest of Node.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { webcrypto } from 'node:crypto';
import { LoginManager } from '../../src/login_manager.js';
import { HsmCrypto } from '../../src/webcrypto/crypto.js';
import { HsmCryptoKey } from '../../src/webcrypto/key.js';
import { startSdkEnv, type SdkEnv } from '../helpers.js';

let env: SdkEnv;
let hc: HsmCrypto;

before(async () => {
  env = await startSdkEnv();
  hc = (await env.signedIn()).hc;
});
after(async () => {
  await env?.stop();
});

test('getRandomValues fills every integer typed array from the HSM, synchronously', () => {
  for (const T of [Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array, BigUint64Array, BigInt64Array]) {
    const a = new T(64);
    assert.equal(hc.getRandomValues(a), a, 'returns its argument');
    assert.ok(a.some((x: number | bigint) => x !== 0 && x !== 0n), T.name);
  }
  const big = hc.getRandomValues(new Uint8Array(65536));
  assert.ok(new Set(big).size > 250, 'looks random');
  assert.equal(hc.getRandomValues(new Uint8Array(0)).length, 0);
  const a = hc.getRandomValues(new Uint8Array(32));
  const b = hc.getRandomValues(new Uint8Array(32));
  assert.notDeepEqual(a, b);
  const view = new Uint8Array(new ArrayBuffer(16), 4, 8);
  hc.getRandomValues(view);
  assert.deepEqual(new Uint8Array(view.buffer, 0, 4), new Uint8Array(4), 'only the view is filled');
});

test('getRandomValues: QuotaExceededError above 65536 bytes, TypeMismatchError for float arrays', () => {
  assert.throws(() => hc.getRandomValues(new Uint8Array(65537)), (e: unknown) => e instanceof DOMException && e.name === 'QuotaExceededError' && /65537 bytes asked; at most 65536/.test(e.message));
  assert.throws(() => hc.getRandomValues(new Float64Array(2) as unknown as Uint8Array), (e: unknown) => e instanceof DOMException && e.name === 'TypeMismatchError');
  assert.throws(() => hc.getRandomValues(new DataView(new ArrayBuffer(4)) as unknown as Uint8Array), (e: unknown) => e instanceof DOMException && e.name === 'TypeMismatchError');
});

test('getRandomValues without a daemon: OperationError, not a hang', () => {
  const lost = new HsmCrypto({ loginManager: new LoginManager({ socketPath: `${env.dir}/no-daemon.sock` }), randomTimeoutMs: 2000 });
  try {
    const t0 = Date.now();
    assert.throws(() => lost.getRandomValues(new Uint8Array(4)), (e: unknown) => e instanceof DOMException && e.name === 'OperationError' && /could not be reached/.test(e.message));
    assert.ok(Date.now() - t0 < 7000);
  } finally {
    lost.close();
  }
});

test('randomUUID: RFC 4122 version 4, all different', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const u = hc.randomUUID();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(u);
  }
  assert.equal(seen.size, 100);
});

test('an HsmCryptoKey is a CryptoKey to instanceof and to duck typing, carries its handle and label, and Node\'s own subtle refuses it', async () => {
  const k = await hc.subtle.generateKey({ name: 'HMAC', hash: 'SHA-384', label: 'looks-like-a-key' }, false, ['sign', 'verify']);
  assert.ok(k instanceof HsmCryptoKey);
  assert.ok(k instanceof (globalThis as unknown as { CryptoKey: new () => webcrypto.CryptoKey }).CryptoKey);
  assert.equal(Object.prototype.toString.call(k), '[object CryptoKey]');
  assert.deepEqual([k.type, k.extractable, k.usages, k.algorithm], ['secret', false, ['sign', 'verify'], { name: 'HMAC', hash: { name: 'SHA-384' }, length: 1024 }]);
  assert.equal(k.label, 'looks-like-a-key');
  assert.ok(Number.isInteger(k.handle) && k.handle >= 262144);
  assert.ok(Object.isFrozen(k) && Object.isFrozen(k.usages) && Object.isFrozen(k.algorithm));
  assert.match(inspect(k), /^HsmCryptoKey \{ type: 'secret'.*handle: \d+, label: 'looks-like-a-key', persistent: false \}$/);
  assert.throws(() => new (HsmCryptoKey as unknown as new (...a: unknown[]) => unknown)(Symbol('x'), {}), /Illegal constructor/);
  await assert.rejects(globalThis.crypto.subtle.sign('HMAC', k as unknown as webcrypto.CryptoKey, new Uint8Array(1)));
  assert.equal(hc.CryptoKey, globalThis.crypto.CryptoKey);
});
