/**
 * @module Tests of generic secret key generation (mechanisms/generic.ts), and
 * the table-driven check that every symmetric-family entry's CK_MECHANISM_INFO
 * flags name exactly the functions it provides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { MECHANISMS as AES } from '../../src/mechanisms/aes.js';
import { MECHANISMS as DES3 } from '../../src/mechanisms/des3.js';
import { MECHANISMS as DIGEST } from '../../src/mechanisms/digest.js';
import { MECHANISMS as GENERIC, secretValue, secretMaterial } from '../../src/mechanisms/generic.js';
import { MECHANISMS as HMAC } from '../../src/mechanisms/hmac.js';
import type { Mechanism } from '../../src/mechanisms/types.js';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('generic secret key generation: 1..800 random bytes', async () => {
  const [gen] = GENERIC;
  assert.ok(gen?.generateKey);
  assert.deepEqual([gen.mechanism, gen.keyTypes, gen.minKeySize, gen.maxKeySize, gen.keySizeUnit], [P.CKM_GENERIC_SECRET_KEY_GEN, [P.CKK_GENERIC_SECRET], 1, 800, 'bytes']);
  for (const len of [1, 16, 32, 64, 800]) {
    assert.equal((await gen.generateKey(len)).value.length, len);
  }
  const a = await gen.generateKey(32);
  const b = await gen.generateKey(32);
  assert.ok(!a.value.equals(b.value));
  for (const len of [0, 801, 1.5, -1]) await assert.rejects(gen.generateKey(len), code('ERR_KEY_SIZE_RANGE'));
});

test('secretValue: only secret keys of the listed types', () => {
  const value = Buffer.alloc(4, 1);
  assert.deepEqual(secretValue(secretMaterial(P.CKK_AES, value), [P.CKK_AES]).export(), value);
  assert.throws(() => secretValue(secretMaterial(P.CKK_DES3, value), [P.CKK_AES]), code('ERR_KEY_TYPE_INCONSISTENT'));
});

/** The flags an entry must carry, from the functions it has. */
function flagsFromFunctions(m: Mechanism): number {
  const pairs: [boolean, number][] = [
    [m.encrypt !== undefined, P.CKF_ENCRYPT],
    [m.decrypt !== undefined, P.CKF_DECRYPT],
    [m.sign !== undefined, P.CKF_SIGN],
    [m.verify !== undefined, P.CKF_VERIFY],
    [m.digest !== undefined, P.CKF_DIGEST],
    [m.generateKey !== undefined, P.CKF_GENERATE],
    [m.generateKeyPair !== undefined, P.CKF_GENERATE_KEY_PAIR],
    [m.wrap !== undefined, P.CKF_WRAP],
    [m.unwrap !== undefined, P.CKF_UNWRAP],
    [m.derive !== undefined, P.CKF_DERIVE],
  ];
  return pairs.reduce((acc, [has, flag]) => (has ? acc | flag : acc), 0);
}

const FAMILIES: readonly [string, readonly Mechanism[], readonly number[]][] = [
  ['aes', AES, [P.CKM_AES_KEY_GEN, P.CKM_AES_ECB, P.CKM_AES_CBC, P.CKM_AES_CBC_PAD, P.CKM_AES_CTR, P.CKM_AES_GCM, P.CKM_AES_KEY_WRAP, P.CKM_AES_KEY_WRAP_PAD]],
  ['des3', DES3, [P.CKM_DES3_KEY_GEN, P.CKM_DES3_ECB, P.CKM_DES3_CBC, P.CKM_DES3_CBC_PAD]],
  ['hmac', HMAC, [P.CKM_SHA_1_HMAC, P.CKM_SHA224_HMAC, P.CKM_SHA256_HMAC, P.CKM_SHA384_HMAC, P.CKM_SHA512_HMAC]],
  ['generic', GENERIC, [P.CKM_GENERIC_SECRET_KEY_GEN]],
  ['digest', DIGEST, [P.CKM_SHA_1, P.CKM_SHA224, P.CKM_SHA256, P.CKM_SHA384, P.CKM_SHA512]],
];

test('every symmetric entry: flags match its functions exactly; each mechanism once', () => {
  const seen = new Set<number>();
  for (const [family, entries, expected] of FAMILIES) {
    assert.deepEqual(entries.map((m) => m.mechanism).sort((x, y) => x - y), [...expected].sort((x, y) => x - y), `${family}: the mechanisms asked for`);
    for (const m of entries) {
      const name = `${family} 0x${m.mechanism.toString(16)}`;
      assert.equal(m.flags, flagsFromFunctions(m), `${name}: flags`);
      assert.ok(m.flags !== 0, `${name}: does something`);
      // Encrypt comes with decrypt, sign with verify, wrap with unwrap.
      assert.equal(m.encrypt === undefined, m.decrypt === undefined, name);
      assert.equal(m.sign === undefined, m.verify === undefined, name);
      assert.equal(m.wrap === undefined, m.unwrap === undefined, name);
      assert.ok(m.minKeySize <= m.maxKeySize, name);
      assert.ok(!seen.has(m.mechanism), `${name}: registered once`);
      seen.add(m.mechanism);
    }
  }
});

test('wrap/unwrap is offered by exactly GCM, CBC-PAD and the key wraps', () => {
  const wrappers = [...AES, ...DES3].filter((m) => m.wrap).map((m) => m.mechanism).sort((x, y) => x - y);
  assert.deepEqual(wrappers, [P.CKM_DES3_CBC_PAD, P.CKM_AES_CBC_PAD, P.CKM_AES_GCM, P.CKM_AES_KEY_WRAP, P.CKM_AES_KEY_WRAP_PAD].sort((x, y) => x - y));
});
