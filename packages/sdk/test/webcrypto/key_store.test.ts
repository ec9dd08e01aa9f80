/**
 * Tests of src/webcrypto/key_store.ts: keys found by label and by handle
 * (also keys made outside the SDK), the algorithm chosen for them, session
 * keys versus token keys, persist and delete.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { attr } from '../../../protocol/src/attributes.js';
import { HsmCrypto } from '../../src/webcrypto/crypto.js';
import { enc, startSdkEnv, type SdkEnv } from '../helpers.js';

let env: SdkEnv;
let hc: HsmCrypto;

before(async () => {
  env = await startSdkEnv();
  hc = (await env.signedIn()).hc;
});
after(async () => {
  await env?.stop();
});

test('find by label and by handle; the first match; the pair by its public key', async () => {
  const label = 'store-ecdsa';
  const pair = await hc.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384', label, persistent: true }, false, ['sign', 'verify']);
  const found = await hc.keys.findByLabel(label);
  assert.deepEqual(found.map((k) => [k.type, k.handle]), [['public', pair.publicKey.handle], ['private', pair.privateKey.handle]]);
  for (const k of found) {
    assert.equal(k.label, label);
    assert.equal(k.persistent, true);
    assert.deepEqual(k.algorithm, { name: 'ECDSA', namedCurve: 'P-384' });
  }
  const first = await hc.keys.getKey(label);
  assert.equal(first?.handle, pair.privateKey.handle, 'private before public, as the JCE key store answers');
  assert.deepEqual(first?.usages, ['sign']);
  const again = await hc.keys.getKeyPair(label);
  assert.equal(again?.publicKey.handle, pair.publicKey.handle);
  assert.equal(again?.privateKey.handle, pair.privateKey.handle);
  const byHandle = await hc.keys.fromHandle(pair.privateKey.handle);
  const sig = await hc.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, byHandle, enc('m'));
  assert.equal(await hc.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, pair.publicKey, sig, enc('m')), true);
  assert.deepEqual(await hc.keys.findByLabel('no such label'), []);
  assert.equal(await hc.keys.getKey('no such label'), undefined);
  await hc.keys.delete(pair);
  assert.deepEqual(await hc.keys.findByLabel(label), []);
});

test('keys made outside the SDK (the daemon protocol, as azcloudhsm_util does) are found and used; the algorithm follows their attributes or the caller', async () => {
  const c = env.manager();
  await c.login('PARTITION_1', 'cu1', 'user1234');
  const { handle: kw } = await c.client.request('generateKey', {
    mechanism: { mechanism: P.CKM_AES_KEY_GEN },
    template: [attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_WRAP, true), attr.bool(P.CKA_UNWRAP, true), attr.utf8(P.CKA_LABEL, 'util-kek')],
  });
  const { handle: mac } = await c.client.request('generateKey', {
    mechanism: { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN },
    template: [attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.bool(P.CKA_VERIFY, true), attr.utf8(P.CKA_LABEL, 'util-hmac')],
  });
  const { publicHandle, privateHandle } = await c.client.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
    publicTemplate: [attr.ulong(P.CKA_MODULUS_BITS, 2048), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_VERIFY, true), attr.utf8(P.CKA_LABEL, 'util-rsa')],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.utf8(P.CKA_LABEL, 'util-rsa')],
  });
  const { handle: des } = await c.client.request('generateKey', { mechanism: { mechanism: P.CKM_DES3_KEY_GEN }, template: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_ENCRYPT, true), attr.utf8(P.CKA_LABEL, 'util-des3')] });

  const k = await hc.keys.fromHandle(kw);
  assert.deepEqual([k.algorithm, k.usages, k.extractable, k.label], [{ name: 'AES-KW', length: 256 }, ['wrapKey', 'unwrapKey'], true, 'util-kek']);
  const h = (await hc.keys.getKey('util-hmac'))!;
  assert.deepEqual(h.algorithm, { name: 'HMAC', hash: { name: 'SHA-256' }, length: 256 });
  assert.equal((await hc.subtle.sign('HMAC', h, enc('x'))).byteLength, 32);
  const rsa = await hc.keys.getKeyPair('util-rsa');
  assert.deepEqual(rsa?.privateKey.algorithm, { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: { name: 'SHA-256' } });
  assert.equal(rsa?.publicKey.handle, publicHandle);
  /* The caller chooses: the same private key as RSA-PSS with SHA-384. */
  const pss = await hc.keys.fromHandle(privateHandle, { name: 'RSA-PSS', hash: 'SHA-384' });
  const sig = await hc.subtle.sign({ name: 'RSA-PSS', saltLength: 48 }, pss, enc('m'));
  const pub = await globalThis.crypto.subtle.importKey('spki', await hc.subtle.exportKey('spki', rsa!.publicKey), { name: 'RSA-PSS', hash: 'SHA-384' }, false, ['verify']);
  assert.equal(await globalThis.crypto.subtle.verify({ name: 'RSA-PSS', saltLength: 48 }, pub, sig, enc('m')), true);
  await assert.rejects(hc.keys.fromHandle(privateHandle, { name: 'ECDSA', namedCurve: 'P-256' }), (e: unknown) => e instanceof DOMException && e.name === 'DataError' && /not usable as ECDSA/.test(e.message));
  await assert.rejects(hc.keys.fromHandle(des), (e: unknown) => e instanceof DOMException && e.name === 'NotSupportedError' && /has no WebCrypto algorithm/.test(e.message));
  assert.deepEqual(await hc.keys.findByLabel('util-des3'), [], 'searches leave out what WebCrypto cannot describe');
  await assert.rejects(hc.keys.fromHandle(999_999_999), (e: unknown) => e instanceof DOMException && e.name === 'InvalidAccessError');
  for (const handle of [kw, mac, publicHandle, privateHandle, des]) await hc.keys.delete(handle);
});

test('session keys are seen only through their session; token keys by every session of the user; persist makes a token copy', async () => {
  const session = await hc.subtle.generateKey({ name: 'AES-GCM', length: 128, label: 'visibility' }, false, ['encrypt', 'decrypt']);
  const token = await hc.subtle.generateKey({ name: 'AES-GCM', length: 128, label: 'visibility', persistent: true }, false, ['encrypt']);
  assert.deepEqual([session.persistent, token.persistent], [false, true]);
  assert.deepEqual((await hc.keys.findByLabel('visibility')).map((k) => k.handle), [session.handle, token.handle]);
  const other = await env.signedIn();
  assert.deepEqual((await other.hc.keys.findByLabel('visibility')).map((k) => k.handle), [token.handle], 'another connection sees the token key only');
  await assert.rejects(other.hc.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, session, enc('x')), (e: unknown) => e instanceof DOMException && e.name === 'InvalidAccessError' && /belongs to another HsmCrypto provider/.test(e.message));
  const persisted = await hc.keys.persist(session);
  assert.notEqual(persisted.handle, session.handle);
  assert.equal(persisted.persistent, true);
  assert.deepEqual(persisted.usages, ['encrypt', 'decrypt']);
  assert.deepEqual((await other.hc.keys.findByLabel('visibility')).map((k) => k.handle).sort(), [token.handle, persisted.handle].sort());
  const iv = new Uint8Array(12);
  assert.equal((await other.hc.keys.fromHandle(persisted.handle)).label, 'visibility');
  assert.deepEqual(new Uint8Array(await hc.subtle.decrypt({ name: 'AES-GCM', iv }, persisted, await other.hc.subtle.encrypt({ name: 'AES-GCM', iv }, await other.hc.keys.fromHandle(persisted.handle), enc('x')))), enc('x'));
  await hc.keys.delete(persisted);
  await hc.keys.delete(token.handle);
  assert.deepEqual(await hc.keys.findByLabel('visibility'), []);
});

test('list() shows the user\'s keys and hides the provider\'s transport key', async () => {
  const k = await hc.subtle.generateKey({ name: 'AES-GCM', length: 128, label: 'listed' }, true, ['encrypt']);
  await hc.subtle.exportKey('raw', k); /* makes the transport key */
  const all = await hc.keys.list();
  assert.ok(all.some((x) => x.handle === k.handle));
  assert.ok(!all.some((x) => x.label === 'opencloudhsm-sdk-transport'));
  assert.deepEqual((await hc.keys.list({ type: 'secret' })).every((x) => x.type === 'secret'), true);
});
