/**
 * Tests of src/webcrypto/errors.ts: bad input raises the error names
 * WebCrypto specifies — TypeError for misuse of the API, NotSupportedError
 * (naming what is not offered), InvalidAccessError for a key that cannot be
 * used so, OperationError, DataError, SyntaxError — whether the SDK catches
 * it first or the HSM refuses it. Name and message are both asserted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { webcrypto } from 'node:crypto';
import { HsmError } from '../../../protocol/src/errors.js';
import { HSM_TO_DOM, toDomError } from '../../src/webcrypto/errors.js';
import type { HsmCryptoKey, HsmCryptoKeyPair } from '../../src/webcrypto/key.js';
import type { HsmSubtleCrypto } from '../../src/webcrypto/subtle.js';
import { enc, startSdkEnv, type SdkEnv } from '../helpers.js';

let env: SdkEnv;
let s: HsmSubtleCrypto;
let ec: HsmCryptoKeyPair;
let aes: HsmCryptoKey;
let aesExtractable: HsmCryptoKey;

before(async () => {
  env = await startSdkEnv();
  s = (await env.signedIn()).hc.subtle;
  ec = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  aes = await s.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
  aesExtractable = await s.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt', 'decrypt']);
});
after(async () => {
  await env?.stop();
});

const data = enc('data');
const iv = new Uint8Array(12);

/** Assert a rejection with a DOMException (or TypeError) of this name whose message matches. */
async function rejectsWith(p: Promise<unknown>, name: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Error || e instanceof DOMException, `not an error: ${String(e)}`);
    assert.equal((e as Error).name, name, `${(e as Error).name}: ${(e as Error).message}`);
    assert.match((e as Error).message, message);
    return true;
  });
}

describe('NotSupportedError names what the HSM does not offer', () => {
  test('algorithms', async () => {
    await rejectsWith(s.generateKey({ name: 'HKDF' } as webcrypto.AesKeyGenParams, false, ['deriveKey']), 'NotSupportedError', /HKDF: the HSM offers no HKDF mechanism/);
    await rejectsWith(s.generateKey({ name: 'Ed448' } as webcrypto.AesKeyGenParams, false, ['sign']), 'NotSupportedError', /Ed448: the HSM has no Ed448 curve/);
    await rejectsWith(s.generateKey({ name: 'ROT13', length: 1 } as webcrypto.AesKeyGenParams, false, ['encrypt']), 'NotSupportedError', /ROT13: not an algorithm this HSM provider offers/);
    await rejectsWith(s.digest('MD5', data), 'NotSupportedError', /hash MD5 is not offered/);
    await rejectsWith(s.sign({ name: 'ECDSA', hash: 'SHA-224' }, ec.privateKey, data), 'NotSupportedError', /hash SHA-224 is not offered/);
  });
  test('curves and sizes', async () => {
    await rejectsWith(s.generateKey({ name: 'ECDSA', namedCurve: 'P-192' }, false, ['sign']), 'NotSupportedError', /curve P-192 is not offered/);
    await rejectsWith(s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign']), 'NotSupportedError', /1024-bit modulus: the HSM makes RSA keys of 2048 to 4096 bits/);
    await rejectsWith(s.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 12 }, false, ['sign']), 'NotSupportedError', /whole bytes/);
    const weak = (await globalThis.crypto.subtle.generateKey({ name: 'RSA-PSS', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    await rejectsWith(s.importKey('spki', await globalThis.crypto.subtle.exportKey('spki', weak.publicKey), { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify']), 'NotSupportedError', /RSA keys of 2048 to 4096 bits \(this one has 1024\)/);
  });
  test('formats and wrapping the HSM cannot do without letting the key out', async () => {
    const kek = await s.generateKey({ name: 'AES-KW', length: 256 }, false, ['wrapKey']);
    await rejectsWith(s.wrapKey('jwk', aesExtractable, kek, 'AES-KW'), 'NotSupportedError', /wraps secret keys as raw and private keys as pkcs8/);
    const ctr = await s.generateKey({ name: 'AES-CTR', length: 128 }, false, ['wrapKey']);
    await rejectsWith(s.wrapKey('raw', aesExtractable, ctr, { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }), 'NotSupportedError', /AES-CTR does not wrap in the HSM/);
    await rejectsWith(s.exportKey('spki', aesExtractable), 'NotSupportedError', /a secret key is exported as raw or jwk/);
    await rejectsWith(s.exportKey('raw', (await s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['encrypt', 'decrypt'])).publicKey), 'NotSupportedError', /RSA public keys are exported as spki or jwk/);
  });
});

describe('TypeError for misuse of the API', () => {
  test('missing or mistyped members and arguments', async () => {
    await rejectsWith(s.sign({ name: 'ECDSA' }, ec.privateKey, data), 'TypeError', /the "hash" member is required/);
    await rejectsWith(s.encrypt({ name: 'AES-GCM' } as webcrypto.AesGcmParams, aes, data), 'TypeError', /the "iv" member is required/);
    await rejectsWith(s.generateKey({ name: 'ECDSA' } as webcrypto.EcKeyGenParams, false, ['sign']), 'TypeError', /the "namedCurve" member is required/);
    await rejectsWith(s.generateKey({ name: 'AES-GCM', length: '128' } as unknown as webcrypto.AesKeyGenParams, false, ['encrypt']), 'TypeError', /"length" must be an integer/);
    await rejectsWith(s.generateKey({} as webcrypto.AesKeyGenParams, false, ['encrypt']), 'TypeError', /an object with a string "name" member/);
    await rejectsWith(s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, 'text' as unknown as Uint8Array), 'TypeError', /data must be an ArrayBuffer or an ArrayBufferView/);
    await rejectsWith(s.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'fly'] as webcrypto.KeyUsage[]), 'TypeError', /"fly" is not a KeyUsage/);
    await rejectsWith(s.sign({ name: 'ECDSA', hash: 'SHA-256' }, { type: 'private' } as unknown as webcrypto.CryptoKey, data), 'TypeError', /the key must be a CryptoKey/);
    await rejectsWith(s.exportKey('der' as 'raw', ec.publicKey), 'TypeError', /the format must be raw, spki, pkcs8 or jwk/);
    await rejectsWith(s.sign({ name: 'RSA-PSS' }, (await s.generateKey({ name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign'])).privateKey, data), 'TypeError', /the "saltLength" member is required/);
  });
});

describe('InvalidAccessError: the key cannot be used so', () => {
  test('wrong usage, wrong algorithm, another provider\'s key', async () => {
    await rejectsWith(s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, data), 'InvalidAccessError', /does not have the usage "sign" \(its usages: verify\)/);
    await rejectsWith(s.decrypt({ name: 'AES-GCM', iv }, aes, new Uint8Array(32)), 'InvalidAccessError', /does not have the usage "decrypt" \(its usages: encrypt\)/);
    await rejectsWith(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, aes, data), 'InvalidAccessError', /is for AES-GCM, not AES-CBC/);
    await rejectsWith(s.wrapKey('raw', aesExtractable, aes, { name: 'AES-GCM', iv }), 'InvalidAccessError', /does not have the usage "wrapKey"/);
    const nodeKey = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
    await rejectsWith(s.encrypt({ name: 'AES-GCM', iv }, nodeKey, data), 'InvalidAccessError', /belongs to another WebCrypto provider/);
  });
  test('exporting or wrapping a non-extractable key', async () => {
    await rejectsWith(s.exportKey('raw', aes), 'InvalidAccessError', /is not extractable \(CKA_EXTRACTABLE FALSE\)/);
    await rejectsWith(s.exportKey('pkcs8', ec.privateKey), 'InvalidAccessError', /is not extractable/);
    await rejectsWith(s.exportKey('jwk', ec.privateKey), 'InvalidAccessError', /is not extractable/);
    const kek = await s.generateKey({ name: 'AES-KW', length: 128 }, false, ['wrapKey']);
    await rejectsWith(s.wrapKey('raw', aes, kek, 'AES-KW'), 'InvalidAccessError', /is not extractable/);
    await rejectsWith(s.exportKey('pkcs8', ec.publicKey), 'InvalidAccessError', /a public key has no pkcs8 form/);
  });
  test('ECDH with a peer key of another curve or algorithm', async () => {
    const mine = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    const p384 = (await globalThis.crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits'])) as webcrypto.CryptoKeyPair;
    await rejectsWith(s.deriveBits({ name: 'ECDH', public: p384.publicKey }, mine.privateKey, 256), 'InvalidAccessError', /"public" is on P-384, the base key on P-256/);
    await rejectsWith(s.deriveBits({ name: 'ECDH', public: ec.publicKey }, mine.privateKey, 256), 'InvalidAccessError', /"public" is for ECDSA, not ECDH/);
    await rejectsWith(s.deriveBits({ name: 'ECDH', public: mine.privateKey }, mine.privateKey, 256), 'InvalidAccessError', /"public" must be a public key/);
    await rejectsWith(s.deriveKey({ name: 'ECDH', public: mine.publicKey }, mine.privateKey, { name: 'AES-GCM', length: 128 }, false, ['encrypt']), 'InvalidAccessError', /does not have the usage "deriveKey"/);
  });
});

describe('OperationError, DataError, SyntaxError', () => {
  test('parameters the algorithm refuses: OperationError', async () => {
    await rejectsWith(s.encrypt({ name: 'AES-GCM', iv, tagLength: 100 }, aes, data), 'OperationError', /tagLength must be 32, 64, 96, 104, 112, 120 or 128 \(got 100\)/);
    await rejectsWith(s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(0) }, aes, data), 'OperationError', /IVs of 1 to 128 bytes \(got 0\)/);
    const cbc = await s.generateKey({ name: 'AES-CBC', length: 128 }, false, ['encrypt']);
    await rejectsWith(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(8) }, cbc, data), 'OperationError', /the AES-CBC iv must be 16 bytes \(got 8\)/);
    const ctr = await s.generateKey({ name: 'AES-CTR', length: 128 }, false, ['encrypt']);
    await rejectsWith(s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 0 }, ctr, data), 'OperationError', /length must be 1 to 128 bits \(got 0\)/);
    await rejectsWith(s.generateKey({ name: 'AES-GCM', length: 100 }, false, ['encrypt']), 'OperationError', /AES keys are 128, 192 or 256 bits \(got 100\)/);
    await rejectsWith(s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 0]), hash: 'SHA-256' }, false, ['decrypt']), 'OperationError', /publicExponent must be an odd integer/);
    const mine = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    await rejectsWith(s.deriveBits({ name: 'ECDH', public: mine.publicKey }, mine.privateKey, 264), 'OperationError', /264 bits asked, the shared secret has 256/);
  });
  test('what the HSM refuses: OperationError with the HSM\'s error as cause', async () => {
    const ct = new Uint8Array(await s.encrypt({ name: 'AES-GCM', iv }, aesExtractable, data));
    ct[0]! ^= 1;
    await assert.rejects(s.decrypt({ name: 'AES-GCM', iv }, aesExtractable, ct), (e: unknown) => {
      assert.ok(e instanceof DOMException);
      assert.equal(e.name, 'OperationError');
      assert.match(e.message, /^decrypt: the encrypted data is not authentic or is malformed$/);
      const cause = (e as { cause?: unknown }).cause;
      assert.ok(cause instanceof HsmError && cause.code === 'ERR_ENCRYPTED_DATA_INVALID');
      return true;
    });
    const oaep = await s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['encrypt', 'decrypt']);
    await rejectsWith(s.encrypt({ name: 'RSA-OAEP' }, oaep.publicKey, new Uint8Array(300)), 'OperationError', /encrypts at most 190 bytes/);
    await rejectsWith(s.decrypt({ name: 'RSA-OAEP' }, oaep.privateKey, new Uint8Array(256)), 'OperationError', /decryption failed/);
    await rejectsWith(s.encrypt({ name: 'AES-GCM', iv }, aesExtractable, new Uint8Array(1024 * 1024 + 1)), 'OperationError', /the limit for one operation is 1048576/);
    const kek = await s.generateKey({ name: 'AES-KW', length: 128 }, false, ['unwrapKey']);
    await rejectsWith(s.unwrapKey('raw', new Uint8Array(24), kek, 'AES-KW', 'AES-GCM', false, ['encrypt']), 'OperationError', /not authentic or is malformed/);
  });
  test('key data that is not a key: DataError', async () => {
    await rejectsWith(s.importKey('raw', new Uint8Array(10), 'AES-GCM', false, ['encrypt']), 'DataError', /AES keys are 16, 24 or 32 bytes \(got 10\)/);
    await rejectsWith(s.importKey('spki', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']), 'DataError', /not a DER SubjectPublicKeyInfo/);
    await rejectsWith(s.importKey('raw', new Uint8Array(65), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']), 'DataError', /not a valid ECDSA public key on P-256/);
    const p384 = (await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    await rejectsWith(s.importKey('spki', await globalThis.crypto.subtle.exportKey('spki', p384.publicKey), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']), 'DataError', /the key is on P-384, not on the namedCurve P-256/);
    await rejectsWith(s.importKey('jwk', { kty: 'RSA', n: 'AQAB', e: 'AQAB' }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']), 'DataError', /ECDSA JWKs have kty "EC"/);
    await rejectsWith(s.importKey('jwk', { kty: 'oct', k: Buffer.alloc(16).toString('base64url'), alg: 'A256GCM' }, 'AES-GCM', false, ['encrypt']), 'DataError', /alg "A256GCM" does not match AES-GCM \(A128GCM\)/);
    await rejectsWith(s.importKey('jwk', { kty: 'oct', k: Buffer.alloc(16).toString('base64url'), ext: false }, 'AES-GCM', true, ['encrypt']), 'DataError', /ext false/);
    await rejectsWith(s.importKey('jwk', { kty: 'oct', k: Buffer.alloc(16).toString('base64url'), key_ops: ['encrypt'] }, 'AES-GCM', false, ['encrypt', 'decrypt']), 'DataError', /key_ops do not include decrypt/);
  });
  test('usages that make no sense for the key: SyntaxError', async () => {
    await rejectsWith(s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['encrypt']), 'SyntaxError', /ECDSA keys cannot have the usage encrypt/);
    await rejectsWith(s.generateKey({ name: 'AES-GCM', length: 128 }, false, []), 'SyntaxError', /a secret key needs at least one usage/);
    await rejectsWith(s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['encrypt']), 'SyntaxError', /the private key needs at least one usage/);
    await rejectsWith(s.importKey('raw', new Uint8Array(16), 'AES-KW', false, ['encrypt']), 'SyntaxError', /AES-KW keys cannot have the usage encrypt/);
  });
});

test('the mapping table: every HSM refusal of a key becomes InvalidAccessError; SDK errors pass through', () => {
  for (const code of ['ERR_KEY_UNEXTRACTABLE', 'ERR_KEY_FUNCTION_NOT_PERMITTED', 'ERR_KEY_NOT_WRAPPABLE'] as const) {
    assert.equal(HSM_TO_DOM[code], 'InvalidAccessError');
    const e = toDomError(new HsmError(code, 'refused'), 'exportKey') as DOMException;
    assert.equal(e.name, 'InvalidAccessError');
    assert.equal(e.message, 'exportKey: refused');
  }
  assert.equal((toDomError(new HsmError('ERR_TEMPLATE_INCONSISTENT', 'x'), 'importKey', 'DataError') as DOMException).name, 'DataError');
  const notLoggedIn = new HsmError('ERR_USER_NOT_LOGGED_IN', 'no');
  assert.equal(toDomError(notLoggedIn, 'sign'), notLoggedIn, 'sign-in errors are not WebCrypto errors');
});
