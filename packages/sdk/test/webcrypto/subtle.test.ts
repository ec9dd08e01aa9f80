/**
 * Tests of src/webcrypto/subtle.ts: every algorithm against Node's own
 * WebCrypto (globalThis.crypto.subtle), on a real cluster through a real
 * daemon. Signatures made in the HSM verify in Node and Node's verify in the
 * HSM; what Node encrypts the HSM decrypts and the reverse; keys wrapped on
 * one side unwrap on the other; both sides derive the same ECDH secrets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { webcrypto } from 'node:crypto';
import { HsmCryptoKey, type HsmCryptoKeyPair } from '../../src/webcrypto/key.js';
import type { HsmSubtleCrypto } from '../../src/webcrypto/subtle.js';
import { enc, startSdkEnv, type SdkEnv } from '../helpers.js';

const node = globalThis.crypto.subtle;
const data = enc('The quick brown fox jumps over the lazy dog');
let env: SdkEnv;
let s: HsmSubtleCrypto;

before(async () => {
  env = await startSdkEnv();
  s = (await env.signedIn()).hc.subtle;
});
after(async () => {
  await env?.stop();
});

type Params = webcrypto.Algorithm & { readonly [member: string]: unknown };
const rsa = (name: string, hash: string): Params => ({ name, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash });
const u8 = (b: ArrayBuffer) => new Uint8Array(b);
const hex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');

/** The HSM pair's public key, in Node. */
async function toNode(pub: HsmCryptoKey, alg: webcrypto.AlgorithmIdentifier | webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams, usages: webcrypto.KeyUsage[]): Promise<webcrypto.CryptoKey> {
  return node.importKey('spki', await s.exportKey('spki', pub), alg, true, usages);
}

describe('sign in the HSM, verify in Node (and the reverse)', () => {
  const cases: { label: string; gen: Params; sign: Params; imp: Params }[] = [
    { label: 'RSASSA-PKCS1-v1_5 SHA-256', gen: rsa('RSASSA-PKCS1-v1_5', 'SHA-256'), sign: { name: 'RSASSA-PKCS1-v1_5' }, imp: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } },
    { label: 'RSASSA-PKCS1-v1_5 SHA-512', gen: rsa('RSASSA-PKCS1-v1_5', 'SHA-512'), sign: { name: 'RSASSA-PKCS1-v1_5' }, imp: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' } },
    { label: 'RSA-PSS SHA-256 salt 32', gen: rsa('RSA-PSS', 'SHA-256'), sign: { name: 'RSA-PSS', saltLength: 32 }, imp: { name: 'RSA-PSS', hash: 'SHA-256' } },
    { label: 'RSA-PSS SHA-384 salt 0', gen: rsa('RSA-PSS', 'SHA-384'), sign: { name: 'RSA-PSS', saltLength: 0 }, imp: { name: 'RSA-PSS', hash: 'SHA-384' } },
    { label: 'ECDSA P-256 SHA-256', gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' }, imp: { name: 'ECDSA', namedCurve: 'P-256' } },
    { label: 'ECDSA P-384 SHA-384', gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' }, imp: { name: 'ECDSA', namedCurve: 'P-384' } },
    { label: 'ECDSA P-256 SHA-384 (hash wider than the curve)', gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-384' }, imp: { name: 'ECDSA', namedCurve: 'P-256' } },
    { label: 'ECDSA P-521 SHA-512', gen: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' }, imp: { name: 'ECDSA', namedCurve: 'P-521' } },
    { label: 'Ed25519', gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' }, imp: { name: 'Ed25519' } },
  ];
  for (const c of cases) {
    test(c.label, async () => {
      const pair = (await s.generateKey(c.gen as unknown as webcrypto.EcKeyGenParams, false, ['sign', 'verify'])) as HsmCryptoKeyPair;
      assert.ok(pair.privateKey instanceof HsmCryptoKey);
      assert.deepEqual([pair.publicKey.type, pair.privateKey.type], ['public', 'private']);
      assert.deepEqual([pair.publicKey.usages, pair.privateKey.usages], [['verify'], ['sign']]);
      assert.equal(pair.publicKey.extractable, true);
      assert.equal(pair.privateKey.extractable, false);
      assert.equal(pair.publicKey.id, pair.privateKey.id, 'both halves share CKA_ID');
      const sig = await s.sign(c.sign, pair.privateKey, data);
      const pub = await toNode(pair.publicKey, c.imp, ['verify']);
      assert.equal(await node.verify(c.sign, pub, sig, data), true, 'Node verifies the HSM signature');
      assert.equal(await s.verify(c.sign, pair.publicKey, sig, data), true, 'the HSM verifies its own signature');
      const bad = u8(sig).slice();
      bad[bad.length - 1]! ^= 1;
      assert.equal(await s.verify(c.sign, pair.publicKey, bad, data), false);
      assert.equal(await s.verify(c.sign, pair.publicKey, bad.subarray(1), data), false, 'a signature of the wrong length is false, not an error');
      /* Node signs; the HSM verifies with the key imported from Node. */
      const np = (await node.generateKey(c.gen as unknown as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const nsig = await node.sign(c.sign, np.privateKey, data);
      const imported = await s.importKey('spki', await node.exportKey('spki', np.publicKey), c.imp, true, ['verify']);
      assert.equal(await s.verify(c.sign, imported, nsig, data), true, 'the HSM verifies a Node signature');
      assert.equal(await s.verify(c.sign, imported, nsig, enc('other')), false);
    });
  }

  test('HMAC SHA-256 and SHA-512: the same MAC on both sides', async () => {
    for (const hash of ['SHA-256', 'SHA-512']) {
      const key = await s.generateKey({ name: 'HMAC', hash }, true, ['sign', 'verify']);
      assert.equal((key.algorithm as { length: number }).length, hash === 'SHA-256' ? 512 : 1024, 'default length: the block size');
      const nk = await node.importKey('raw', await s.exportKey('raw', key), { name: 'HMAC', hash }, false, ['sign', 'verify']);
      const mac = await s.sign('HMAC', key, data);
      assert.equal(hex(mac), hex(await node.sign('HMAC', nk, data)));
      assert.equal(await s.verify('HMAC', key, mac, data), true);
      assert.equal(await s.verify('HMAC', key, mac, enc('x')), false);
      /* A Node-made key imported into the HSM. */
      const raw = globalThis.crypto.getRandomValues(new Uint8Array(40));
      const hk = await s.importKey('raw', raw, { name: 'HMAC', hash }, false, ['sign']);
      const nk2 = await node.importKey('raw', raw, { name: 'HMAC', hash }, false, ['sign']);
      assert.equal(hex(await s.sign('HMAC', hk, data)), hex(await node.sign('HMAC', nk2, data)));
    }
  });
});

describe('encrypt and decrypt, both ways', () => {
  test('RSA-OAEP SHA-256 with and without a label; SHA-1', async () => {
    for (const [hash, label] of [['SHA-256', undefined], ['SHA-256', enc('label')], ['SHA-1', undefined]] as const) {
      const pair = (await s.generateKey(rsa('RSA-OAEP', hash) as unknown as webcrypto.RsaHashedKeyGenParams, false, ['encrypt', 'decrypt'])) as HsmCryptoKeyPair;
      const params = { name: 'RSA-OAEP', ...(label ? { label } : {}) };
      const npub = await toNode(pair.publicKey, { name: 'RSA-OAEP', hash }, ['encrypt']);
      const ct = await node.encrypt(params, npub, data);
      assert.deepEqual(u8(await s.decrypt(params, pair.privateKey, ct)), data, 'Node encrypts, the HSM decrypts');
      const np = (await node.generateKey(rsa('RSA-OAEP', hash) as unknown as webcrypto.RsaHashedKeyGenParams, true, ['encrypt', 'decrypt'])) as webcrypto.CryptoKeyPair;
      const hpub = await s.importKey('spki', await node.exportKey('spki', np.publicKey), { name: 'RSA-OAEP', hash }, true, ['encrypt']);
      assert.deepEqual(u8(await node.decrypt(params, np.privateKey, await s.encrypt(params, hpub, data))), data, 'the HSM encrypts, Node decrypts');
    }
  });

  const aesCases: { name: string; params: () => Params; lengths: number[] }[] = [
    { name: 'AES-GCM', params: () => ({ name: 'AES-GCM', iv: globalThis.crypto.getRandomValues(new Uint8Array(12)), additionalData: enc('aad'), tagLength: 96 }), lengths: [128, 256] },
    { name: 'AES-GCM', params: () => ({ name: 'AES-GCM', iv: globalThis.crypto.getRandomValues(new Uint8Array(16)) }), lengths: [192] },
    { name: 'AES-CBC', params: () => ({ name: 'AES-CBC', iv: globalThis.crypto.getRandomValues(new Uint8Array(16)) }), lengths: [128, 256] },
    { name: 'AES-CTR', params: () => ({ name: 'AES-CTR', counter: globalThis.crypto.getRandomValues(new Uint8Array(16)), length: 64 }), lengths: [128, 256] },
  ];
  for (const c of aesCases) {
    test(`${c.name} ${c.lengths.join('/')}`, async () => {
      for (const bits of c.lengths) {
        const raw = globalThis.crypto.getRandomValues(new Uint8Array(bits / 8));
        const hk = await s.importKey('raw', raw, c.name, false, ['encrypt', 'decrypt']);
        assert.deepEqual(hk.algorithm, { name: c.name, length: bits });
        const nk = await node.importKey('raw', raw, c.name, false, ['encrypt', 'decrypt']);
        for (const msg of [data, new Uint8Array(0), globalThis.crypto.getRandomValues(new Uint8Array(1000))]) {
          const p = c.params();
          const mine = await s.encrypt(p, hk, msg);
          assert.equal(hex(mine), hex(await node.encrypt(p, nk, msg)), 'the same ciphertext as Node');
          assert.deepEqual(u8(await s.decrypt(p, hk, await node.encrypt(p, nk, msg))), msg);
          assert.deepEqual(u8(await node.decrypt(p, nk, mine)), msg);
        }
      }
    });
  }

  test('AES-CTR whose counter wraps within its length bits: split into two HSM calls, as WebCrypto wraps it', async () => {
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const hk = await s.importKey('raw', raw, 'AES-CTR', false, ['encrypt', 'decrypt']);
    const nk = await node.importKey('raw', raw, 'AES-CTR', false, ['encrypt', 'decrypt']);
    const counter = new Uint8Array(16).fill(0xab);
    counter[15] = 0xfd; /* 3 blocks before the low 8 bits wrap */
    const p = { name: 'AES-CTR', counter, length: 8 };
    const msg = globalThis.crypto.getRandomValues(new Uint8Array(16 * 5 + 3));
    assert.equal(hex(await s.encrypt(p, hk, msg)), hex(await node.encrypt(p, nk, msg)));
    await assert.rejects(s.encrypt(p, hk, new Uint8Array(16 * 257)), (e: unknown) => e instanceof DOMException && e.name === 'OperationError');
  });

  test('a generated AES key exported (extractable) works in Node', async () => {
    const hk = await s.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
    const raw = await s.exportKey('raw', hk);
    assert.equal(raw.byteLength, 32);
    const jwk = await s.exportKey('jwk', hk);
    assert.deepEqual({ ...jwk, k: undefined }, { kty: 'oct', k: undefined, alg: 'A256GCM', ext: true, key_ops: ['encrypt', 'decrypt'] });
    assert.equal(Buffer.from(jwk.k!, 'base64url').toString('hex'), hex(raw));
    const nk = await node.importKey('jwk', jwk, 'AES-GCM', false, ['decrypt']);
    const iv = new Uint8Array(12);
    assert.deepEqual(u8(await node.decrypt({ name: 'AES-GCM', iv }, nk, await s.encrypt({ name: 'AES-GCM', iv }, hk, data))), data);
  });
});

describe('wrapKey and unwrapKey, both ways', () => {
  test('AES-KW: Node wraps, the HSM unwraps (the key never appears in plaintext there); the HSM wraps, Node unwraps', async () => {
    const kek = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const hkek = await s.importKey('raw', kek, 'AES-KW', false, ['wrapKey', 'unwrapKey']);
    const nkek = await node.importKey('raw', kek, 'AES-KW', false, ['wrapKey', 'unwrapKey']);
    const nkey = await node.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
    const wrapped = await node.wrapKey('raw', nkey, nkek, 'AES-KW');
    const hkey = await s.unwrapKey('raw', wrapped, hkek, 'AES-KW', { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
    assert.deepEqual([hkey.type, hkey.extractable, hkey.usages, hkey.algorithm], ['secret', false, ['encrypt'], { name: 'AES-GCM', length: 256 }]);
    const iv = new Uint8Array(12).fill(7);
    assert.deepEqual(u8(await node.decrypt({ name: 'AES-GCM', iv }, nkey, await s.encrypt({ name: 'AES-GCM', iv }, hkey, data))), data);
    /* The other way: an extractable HSM key wrapped in the HSM, unwrapped by Node; the same bytes as Node's own wrap. */
    const inHsm = await s.generateKey({ name: 'AES-CBC', length: 128 }, true, ['encrypt', 'decrypt']);
    const w2 = await s.wrapKey('raw', inHsm, hkek, 'AES-KW');
    const back = await node.unwrapKey('raw', w2, nkek, 'AES-KW', 'AES-CBC', true, ['decrypt']);
    assert.equal(hex(await node.exportKey('raw', back)), hex(await s.exportKey('raw', inHsm)));
  });

  test('RSA-OAEP: wrap an AES key for the HSM\'s RSA key in Node, unwrap in the HSM; and the reverse', async () => {
    const pair = (await s.generateKey(rsa('RSA-OAEP', 'SHA-256') as unknown as webcrypto.RsaHashedKeyGenParams, false, ['wrapKey', 'unwrapKey'])) as HsmCryptoKeyPair;
    assert.deepEqual([pair.publicKey.usages, pair.privateKey.usages], [['wrapKey'], ['unwrapKey']]);
    const npub = await toNode(pair.publicKey, { name: 'RSA-OAEP', hash: 'SHA-256' }, ['wrapKey']);
    const nkey = await node.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt', 'decrypt']);
    const wrapped = await node.wrapKey('raw', nkey, npub, { name: 'RSA-OAEP' });
    const hkey = await s.unwrapKey('raw', wrapped, pair.privateKey, { name: 'RSA-OAEP' }, 'AES-GCM', false, ['decrypt']);
    const iv = new Uint8Array(12);
    assert.deepEqual(u8(await s.decrypt({ name: 'AES-GCM', iv }, hkey, await node.encrypt({ name: 'AES-GCM', iv }, nkey, data))), data);
    const np = (await node.generateKey(rsa('RSA-OAEP', 'SHA-256') as unknown as webcrypto.RsaHashedKeyGenParams, true, ['wrapKey', 'unwrapKey'])) as webcrypto.CryptoKeyPair;
    const hpub = await s.importKey('spki', await node.exportKey('spki', np.publicKey), { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['wrapKey']);
    const secret = await s.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, true, ['sign']);
    const w2 = await s.wrapKey('raw', secret, hpub, { name: 'RSA-OAEP' });
    const nsecret = await node.unwrapKey('raw', w2, np.privateKey, { name: 'RSA-OAEP' }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
    assert.equal(hex(await node.sign('HMAC', nsecret, data)), hex(await s.sign('HMAC', secret, data)));
  });

  test('a private key as pkcs8 under AES-GCM: wrapped in the HSM, unwrapped by Node, and back', async () => {
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const hk = await s.importKey('raw', raw, 'AES-GCM', false, ['wrapKey', 'unwrapKey']);
    const nk = await node.importKey('raw', raw, 'AES-GCM', false, ['wrapKey', 'unwrapKey']);
    const pair = (await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as HsmCryptoKeyPair;
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
    const wrapped = await s.wrapKey('pkcs8', pair.privateKey, hk, { name: 'AES-GCM', iv });
    const npriv = await node.unwrapKey('pkcs8', wrapped, nk, { name: 'AES-GCM', iv }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const sig = await node.sign({ name: 'ECDSA', hash: 'SHA-256' }, npriv, data);
    assert.equal(await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, sig, data), true);
    /* Node wraps a private key; the HSM unwraps it, signs with it; Node verifies. */
    const np = (await node.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const w2 = await node.wrapKey('pkcs8', np.privateKey, nk, { name: 'AES-GCM', iv });
    const hpriv = await s.unwrapKey('pkcs8', w2, hk, { name: 'AES-GCM', iv }, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign']);
    assert.deepEqual(hpriv.algorithm, { name: 'ECDSA', namedCurve: 'P-384' });
    assert.equal(await node.verify({ name: 'ECDSA', hash: 'SHA-384' }, np.publicKey, await s.sign({ name: 'ECDSA', hash: 'SHA-384' }, hpriv, data), data), true);
  });
});

describe('deriveBits and deriveKey', () => {
  for (const curve of ['P-256', 'P-384'] as const) {
    test(`ECDH ${curve}: the same secret as Node, with a Node peer key and with an HSM peer key`, async () => {
      const alg = { name: 'ECDH', namedCurve: curve };
      const mine = (await s.generateKey(alg, false, ['deriveBits', 'deriveKey'])) as HsmCryptoKeyPair;
      assert.deepEqual([mine.publicKey.usages, mine.privateKey.usages], [[], ['deriveKey', 'deriveBits']]);
      const theirs = (await node.generateKey(alg, true, ['deriveBits', 'deriveKey'])) as webcrypto.CryptoKeyPair;
      const bits = await s.deriveBits({ name: 'ECDH', public: theirs.publicKey }, mine.privateKey, null);
      assert.equal(bits.byteLength, curve === 'P-256' ? 32 : 48);
      const myPubInNode = await toNode(mine.publicKey, alg, []);
      assert.equal(hex(bits), hex(await node.deriveBits({ name: 'ECDH', public: myPubInNode }, theirs.privateKey, bits.byteLength * 8)));
      const short = await s.deriveBits({ name: 'ECDH', public: theirs.publicKey }, mine.privateKey, 128);
      assert.equal(hex(short), hex(bits).slice(0, 32), 'a shorter length is the leading bits');
      /* An HSM peer: both HSM private keys agree. */
      const other = (await s.generateKey(alg, false, ['deriveBits'])) as HsmCryptoKeyPair;
      assert.equal(hex(await s.deriveBits({ name: 'ECDH', public: other.publicKey }, mine.privateKey, null)), hex(await s.deriveBits({ name: 'ECDH', public: mine.publicKey }, other.privateKey, null)));
      /* deriveKey: an AES key that never leaves the HSM, the same as Node's. */
      const hk = await s.deriveKey({ name: 'ECDH', public: theirs.publicKey }, mine.privateKey, { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
      assert.deepEqual(hk.algorithm, { name: 'AES-GCM', length: 256 });
      const nk = await node.deriveKey({ name: 'ECDH', public: myPubInNode }, theirs.privateKey, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
      const iv = new Uint8Array(12);
      assert.deepEqual(u8(await node.decrypt({ name: 'AES-GCM', iv }, nk, await s.encrypt({ name: 'AES-GCM', iv }, hk, data))), data);
      const hmac = await s.deriveKey({ name: 'ECDH', public: theirs.publicKey }, mine.privateKey, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']);
      const nhmac = await node.importKey('raw', bits.slice(0, 32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      assert.equal(hex(await s.sign('HMAC', hmac, data)), hex(await node.sign('HMAC', nhmac, data)));
    });
  }

  test('X25519: the same secret as Node', async () => {
    const mine = (await s.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as HsmCryptoKeyPair;
    const theirs = (await node.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as webcrypto.CryptoKeyPair;
    const raw = await s.exportKey('raw', mine.publicKey);
    assert.equal(raw.byteLength, 32);
    const myPub = await node.importKey('raw', raw, { name: 'X25519' }, true, []);
    assert.equal(hex(await s.deriveBits({ name: 'X25519', public: theirs.publicKey }, mine.privateKey, 256)), hex(await node.deriveBits({ name: 'X25519', public: myPub }, theirs.privateKey, 256)));
  });
});

test('digest: SHA-1, SHA-256, SHA-384, SHA-512 as Node computes them', async () => {
  for (const h of ['SHA-1', 'SHA-256', 'SHA-384', { name: 'SHA-512' }]) {
    assert.equal(hex(await s.digest(h, data)), hex(await node.digest(h, data)));
  }
});

describe('importKey and exportKey', () => {
  test('public keys: spki, jwk and raw round trips equal Node\'s encodings', async () => {
    for (const alg of [{ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'Ed25519' }, rsa('RSA-PSS', 'SHA-256')]) {
      const np = (await node.generateKey(alg as unknown as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const imp = { ...alg, publicExponent: undefined, modulusLength: undefined };
      const viaSpki = await s.importKey('spki', await node.exportKey('spki', np.publicKey), imp as unknown as webcrypto.EcKeyImportParams, true, ['verify']);
      assert.equal(hex(await s.exportKey('spki', viaSpki)), hex(await node.exportKey('spki', np.publicKey)));
      const njwk = await node.exportKey('jwk', np.publicKey);
      const viaJwk = await s.importKey('jwk', njwk, imp as unknown as webcrypto.EcKeyImportParams, true, ['verify']);
      assert.deepEqual(await s.exportKey('jwk', viaJwk), njwk);
      if (alg.name !== 'RSA-PSS') {
        const raw = await node.exportKey('raw', np.publicKey);
        const viaRaw = await s.importKey('raw', raw, imp as unknown as webcrypto.EcKeyImportParams, true, ['verify']);
        assert.equal(hex(await s.exportKey('raw', viaRaw)), hex(raw));
      }
      if (alg.name === 'RSA-PSS') assert.equal((viaSpki.algorithm as { modulusLength: number }).modulusLength, 2048);
    }
  });

  test('a compressed P-256 point imports raw', async () => {
    const np = (await node.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const raw = u8(await node.exportKey('raw', np.publicKey));
    const compressed = Uint8Array.of(2 + (raw[64]! & 1), ...raw.subarray(1, 33));
    const k = await s.importKey('raw', compressed, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    assert.equal(hex(await s.exportKey('raw', k)), hex(raw.buffer));
  });

  test('private keys: pkcs8 and jwk imports sign in the HSM; an extractable one exports as Node would', async () => {
    const cases = [
      { gen: rsa('RSASSA-PKCS1-v1_5', 'SHA-256'), imp: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
      { gen: { name: 'ECDSA', namedCurve: 'P-384' }, imp: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
      { gen: { name: 'Ed25519' }, imp: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
    ];
    for (const c of cases) {
      const np = (await node.generateKey(c.gen as unknown as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      for (const fmt of ['pkcs8', 'jwk'] as const) {
        const keyData = fmt === 'jwk' ? await node.exportKey('jwk', np.privateKey) : await node.exportKey('pkcs8', np.privateKey);
        const hk = fmt === 'jwk'
          ? await s.importKey('jwk', keyData as webcrypto.JsonWebKey, c.imp as unknown as webcrypto.EcKeyImportParams, true, ['sign'])
          : await s.importKey('pkcs8', keyData as ArrayBuffer, c.imp as unknown as webcrypto.EcKeyImportParams, true, ['sign']);
        assert.equal(hk.type, 'private');
        assert.equal(await node.verify(c.sign, np.publicKey, await s.sign(c.sign, hk, data), data), true, `${c.imp.name} ${fmt}`);
        const back = await s.exportKey('jwk', hk);
        const nj = await node.exportKey('jwk', np.privateKey);
        assert.equal(back.d, nj.d, 'the private key exported from the HSM is the one imported');
        const pkcs8 = await s.exportKey('pkcs8', hk);
        const again = await node.importKey('pkcs8', pkcs8, c.imp as unknown as webcrypto.EcKeyImportParams, true, ['sign']);
        assert.equal((await node.exportKey('jwk', again)).d, nj.d);
      }
    }
  });
});
