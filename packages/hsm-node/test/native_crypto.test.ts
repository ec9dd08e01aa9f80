/**
 * @module Tests of the node's libcrypto addon for raw CKM_ECDSA
 * (native/crypto-addon, src/native_crypto.ts, hsm-core/src/crypto/raw_ecdsa.ts):
 * signatures from the addon and from the JavaScript fallback both verify with
 * node:crypto, with the core's own verifier and with `openssl pkeyutl -verify`
 * (a separate program), on every signing curve and for hashes shorter and
 * longer than the order; the RFC 6979 §A.2.5 P-256 key signs and verifies
 * against its published public point; bad input is refused clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as P from '../../protocol/src/pkcs11.js';
import { MECHANISMS, curveOfKey } from '../../hsm-core/src/mechanisms/ec.js';
import { HASHES } from '../../hsm-core/src/mechanisms/hashes.js';
import { installRawEcdsa, rawEcdsaImplementation } from '../../hsm-core/src/crypto/raw_ecdsa.js';
import type { KeyMaterial } from '../../hsm-core/src/mechanisms/types.js';
import { ADDON_PATH, installNativeCrypto } from '../src/native_crypto.js';

const RAW = MECHANISMS.find((m) => m.mechanism === P.CKM_ECDSA)!;
const CURVES = ['prime256v1', 'secp384r1', 'secp521r1', 'secp256k1'];
const MSG = Buffer.from('OpenCloudHSM raw ECDSA through libcrypto');
const P1363 = { dsaEncoding: 'ieee-p1363' } as const;

const material = (privateKey: crypto.KeyObject): { priv: KeyMaterial; pub: KeyMaterial } => {
  const publicKey = crypto.createPublicKey(privateKey);
  const keyType = curveOfKey(privateKey).keyType;
  return { priv: { kind: 'private', keyType, key: privateKey, publicKey }, pub: { kind: 'public', keyType, key: publicKey } };
};

/* r || s → DER ECDSA-Sig-Value, for openssl. */
function derSig(sig: Buffer): Buffer {
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.of(0), v]);
    return Buffer.concat([Buffer.of(0x02, v.length), v]);
  };
  const half = sig.length / 2;
  const body = Buffer.concat([int(sig.subarray(0, half)), int(sig.subarray(half))]);
  const len = body.length < 128 ? Buffer.of(body.length) : Buffer.of(0x81, body.length);
  return Buffer.concat([Buffer.of(0x30), len, body]);
}

function opensslVerifies(dir: string, pub: crypto.KeyObject, digest: Buffer, sig: Buffer): boolean {
  writeFileSync(join(dir, 'pub.pem'), pub.export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'digest'), digest);
  writeFileSync(join(dir, 'sig'), derSig(sig));
  try {
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-in', join(dir, 'digest'), '-sigfile', join(dir, 'sig')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /Signature Verified Successfully/.test(out);
  } catch {
    return false;
  }
}

async function signAndCheckEverywhere(label: string, dir: string): Promise<void> {
  for (const curve of CURVES) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: curve });
    const { priv, pub } = material(privateKey);
    const publicKey = crypto.createPublicKey(privateKey);
    for (const h of HASHES) {
      const digest = crypto.createHash(h.name).update(MSG).digest();
      const sig = await RAW.sign!(priv, digest, {});
      const what = `${label} ${curve} over ${h.name}`;
      assert.equal(crypto.verify(h.name, MSG, { key: publicKey, ...P1363 }, sig), true, `${what}: node:crypto verifies`);
      assert.equal(await RAW.verify!(pub, digest, sig, {}), true, `${what}: the core verifies`);
      const other = Buffer.from(digest);
      other[0]! ^= 1;
      assert.equal(await RAW.verify!(pub, other, sig, {}), false, `${what}: another hash does not verify`);
      if (h.name === 'sha256' || h.name === 'sha512') assert.equal(opensslVerifies(dir, publicKey, digest, sig), true, `${what}: openssl verifies`);
    }
  }
}

test('the addon is built and installs; raw CKM_ECDSA then runs in libcrypto', () => {
  const status = installNativeCrypto();
  assert.deepEqual(status, { rawEcdsa: 'libcrypto' }, `${ADDON_PATH} (make build makes it)`);
  assert.equal(rawEcdsaImplementation(), 'libcrypto');
});

test('libcrypto and the JavaScript fallback both give signatures that node:crypto, the core and openssl verify', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-raw-ecdsa-'));
  try {
    assert.equal(installNativeCrypto().rawEcdsa, 'libcrypto');
    await signAndCheckEverywhere('libcrypto', dir);
    installRawEcdsa(undefined);
    assert.equal(rawEcdsaImplementation(), 'noble');
    await signAndCheckEverywhere('noble', dir);
  } finally {
    installNativeCrypto();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RFC 6979 §A.2.5: the published P-256 key signs SHA-256("sample"); the signature verifies against the published point', async () => {
  assert.equal(installNativeCrypto().rawEcdsa, 'libcrypto');
  const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64url');
  const x = '60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6';
  const y = '7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299';
  const d = 'C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721';
  const privateKey = crypto.createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: b64(x), y: b64(y), d: b64(d) }, format: 'jwk' });
  const published = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(x), y: b64(y) }, format: 'jwk' });
  const { priv } = material(privateKey);
  const digest = crypto.createHash('sha256').update('sample').digest();
  const sig = await RAW.sign!(priv, digest, {});
  assert.equal(sig.length, 64);
  assert.equal(crypto.verify('sha256', Buffer.from('sample'), { key: published, ...P1363 }, sig), true);
  // RFC 6979's own (deterministic) signature verifies with the core's verifier too
  const rfc = Buffer.from('EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' + 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8', 'hex');
  assert.equal(await RAW.verify!({ kind: 'public', keyType: priv.keyType, key: published }, digest, rfc, {}), true);
  // two signatures differ: the nonce is random, not a replay
  assert.notDeepEqual(await RAW.sign!(priv, digest, {}), sig);
});

test('P-256 signs on the calling thread (signSync), the slower curves on the thread pool (sign); both verify', async () => {
  const addon = createRequire(import.meta.url)(ADDON_PATH) as { loadKey(b: Buffer): object; sign(k: object, h: Buffer, n: number): Promise<Buffer>; signSync(k: object, h: Buffer, n: number): Buffer };
  const calls: string[] = [];
  installRawEcdsa({
    loadKey: (der) => addon.loadKey(der),
    sign: (k, h, n) => (calls.push('sign'), addon.sign(k, h, n)),
    signSync: (k, h, n) => (calls.push('signSync'), addon.signSync(k, h, n)),
  });
  try {
    for (const [curve, expected] of [['prime256v1', 'signSync'], ['secp384r1', 'sign'], ['secp521r1', 'sign'], ['secp256k1', 'sign']] as const) {
      calls.length = 0;
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: curve });
      const { priv } = material(privateKey);
      const digest = crypto.createHash('sha256').update(MSG).digest();
      const sig = await RAW.sign!(priv, digest, {});
      assert.deepEqual(calls, [expected], curve);
      assert.equal(crypto.verify('sha256', MSG, { key: crypto.createPublicKey(privateKey), ...P1363 }, sig), true, curve);
    }
    // a signer without signSync (an addon built before it) signs P-256 on the pool
    installRawEcdsa({ loadKey: (der) => addon.loadKey(der), sign: (k, h, n) => (calls.push('sign'), addon.sign(k, h, n)) });
    calls.length = 0;
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const sig = await RAW.sign!(material(privateKey).priv, crypto.createHash('sha256').update(MSG).digest(), {});
    assert.deepEqual(calls, ['sign']);
    assert.equal(crypto.verify('sha256', MSG, { key: crypto.createPublicKey(privateKey), ...P1363 }, sig), true);
    // a failing signSync is a clean ERR_GENERAL, no key bytes in it
    installRawEcdsa({ loadKey: (der) => addon.loadKey(der), sign: addon.sign, signSync: () => { throw new Error('boom'); } });
    await assert.rejects(RAW.sign!(material(privateKey).priv, Buffer.alloc(32, 1), {}), (e: { code?: string; message?: string }) => e.code === 'ERR_GENERAL' && e.message === 'ECDSA signing failed');
  } finally {
    installNativeCrypto();
  }
});

test('bad input: a missing addon falls back with a reason; the addon refuses non-EC keys and bad arguments', async () => {
  const missing = installNativeCrypto('/nonexistent/ochsm_crypto.node');
  assert.equal(missing.rawEcdsa, 'noble');
  assert.match(missing.reason ?? '', /is not there/);
  assert.equal(installNativeCrypto().rawEcdsa, 'libcrypto');
  const addon = createRequire(import.meta.url)(ADDON_PATH) as { loadKey(b: unknown): object; sign(k: unknown, h: unknown, n: unknown): Promise<Buffer>; signSync(k: unknown, h: unknown, n: unknown): Buffer };
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.throws(() => addon.loadKey(rsa), /not an EC private key/);
  assert.throws(() => addon.loadKey(Buffer.from('not DER')), /not an EC private key/);
  assert.throws(() => addon.loadKey('x'), /PKCS#8 DER buffer/);
  const ec = addon.loadKey(crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'der', type: 'pkcs8' }));
  assert.throws(() => addon.sign(ec, Buffer.alloc(0), 32), /1 to 512 bytes/);
  assert.throws(() => addon.sign(ec, Buffer.alloc(513), 32), /1 to 512 bytes/);
  assert.throws(() => addon.sign({}, Buffer.alloc(32), 32), /sign takes/);
  assert.throws(() => addon.sign(ec, Buffer.alloc(32), 0), /sign takes/);
  // an order length too short for r and s is a clean rejection, not a crash
  await assert.rejects(addon.sign(ec, Buffer.alloc(32, 1), 8), /ECDSA signing failed/);
  // signSync checks the same and throws the same
  assert.throws(() => addon.signSync(ec, Buffer.alloc(0), 32), /1 to 512 bytes/);
  assert.throws(() => addon.signSync(ec, Buffer.alloc(513), 32), /1 to 512 bytes/);
  assert.throws(() => addon.signSync({}, Buffer.alloc(32), 32), /sign takes/);
  assert.throws(() => addon.signSync(ec, 'x', 32), /sign takes/);
  assert.throws(() => addon.signSync(ec, Buffer.alloc(32, 1), 8), /ECDSA signing failed/);
  assert.equal(addon.signSync(ec, Buffer.alloc(32, 1), 32).length, 64);
  const { priv } = material(crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
  await assert.rejects(RAW.sign!(priv, Buffer.alloc(0), {}), (e: { code?: string }) => e.code === 'ERR_DATA_LEN_RANGE');
});
