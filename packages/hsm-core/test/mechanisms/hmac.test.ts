/**
 * @module Tests of the HMAC family (mechanisms/hmac.ts) against RFC 4231
 * (HMAC-SHA-224/256/384/512) and RFC 2202 (HMAC-SHA-1) test cases kept in
 * test-vectors/rfc/, and of verify's answers for wrong and mis-sized MACs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { generateKeyPairSync } from '../../src/crypto/node.js';
import { MECHANISMS } from '../../src/mechanisms/hmac.js';
import type { KeyMaterial, Mechanism } from '../../src/mechanisms/types.js';
import { hex, readVectorJson } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

const BY_HASH: Readonly<Record<string, number>> = {
  'SHA-1': P.CKM_SHA_1_HMAC,
  'SHA-224': P.CKM_SHA224_HMAC,
  'SHA-256': P.CKM_SHA256_HMAC,
  'SHA-384': P.CKM_SHA384_HMAC,
  'SHA-512': P.CKM_SHA512_HMAC,
};

function mech(ckm: number): Mechanism {
  const m = MECHANISMS.find((e) => e.mechanism === ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}

const secret = (value: Buffer): KeyMaterial => secretMaterial(P.CKK_GENERIC_SECRET, value);
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

interface HmacFile {
  vectors: { hash: string; testCase: number; key: string; data: string; mac: string }[];
}

async function runFile(file: string): Promise<number> {
  const f = readVectorJson<HmacFile>('rfc', file);
  for (const v of f.vectors) {
    const m = mech(BY_HASH[v.hash]!);
    const key = secret(hex(v.key));
    const label = `${file} ${v.hash} case ${v.testCase}`;
    assert.equal((await m.sign!(key, hex(v.data), {})).toString('hex'), v.mac, label);
    assert.equal(await m.verify!(key, hex(v.data), hex(v.mac), {}), true, label);
  }
  return f.vectors.length;
}

test('HMAC-SHA-224/256/384/512: RFC 4231 test cases', async () => {
  assert.equal(await runFile('rfc4231-hmac-sha2.json'), 24);
});

test('HMAC-SHA-1: RFC 2202 test cases', async () => {
  assert.equal(await runFile('rfc2202-hmac-sha1.json'), 7);
});

test('HMAC verify: false for a wrong, truncated or extended MAC, and for other data or key', async () => {
  for (const m of MECHANISMS) {
    const key = secret(Buffer.from('a key of some length'));
    const data = Buffer.from('message');
    const mac = await m.sign!(key, data, {});
    const flipped = Buffer.from(mac);
    flipped[mac.length - 1]! ^= 1;
    assert.equal(await m.verify!(key, data, mac, {}), true);
    assert.equal(await m.verify!(key, data, flipped, {}), false);
    assert.equal(await m.verify!(key, data, mac.subarray(0, mac.length - 1), {}), false);
    assert.equal(await m.verify!(key, data, Buffer.concat([mac, Buffer.alloc(1)]), {}), false);
    assert.equal(await m.verify!(key, data, Buffer.alloc(0), {}), false);
    assert.equal(await m.verify!(key, Buffer.from('messagE'), mac, {}), false);
    assert.equal(await m.verify!(secret(Buffer.from('another key')), data, mac, {}), false);
  }
});

test('HMAC: full-length MACs, generic secret keys of 1..800 bytes and DES3 keys only', async () => {
  const lengths: Record<number, number> = { [P.CKM_SHA_1_HMAC]: 20, [P.CKM_SHA224_HMAC]: 28, [P.CKM_SHA256_HMAC]: 32, [P.CKM_SHA384_HMAC]: 48, [P.CKM_SHA512_HMAC]: 64 };
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  for (const m of MECHANISMS) {
    assert.deepEqual([m.keyTypes, m.minKeySize, m.maxKeySize, m.keySizeUnit], [[P.CKK_GENERIC_SECRET, P.CKK_DES3], 1, 800, 'bytes']);
    assert.equal((await m.sign!(secret(Buffer.alloc(1)), Buffer.alloc(0), {})).length, lengths[m.mechanism]);
    /* A DES3 key (the guide's MacExample) MACs with its 24 bytes as an HMAC key. */
    const v = Buffer.alloc(24, 0x3d);
    assert.deepEqual(await m.sign!(secretMaterial(P.CKK_DES3, v), Buffer.from('abc'), {}), await m.sign!(secret(v), Buffer.from('abc'), {}));
    const wrong: KeyMaterial[] = [
      secretMaterial(P.CKK_AES, Buffer.alloc(16)),
      { kind: 'public', keyType: P.CKK_EC_EDWARDS, key: publicKey },
      { kind: 'private', keyType: P.CKK_EC_EDWARDS, key: privateKey, publicKey },
    ];
    for (const k of wrong) {
      await assert.rejects(m.sign!(k, Buffer.alloc(1), {}), code('ERR_KEY_TYPE_INCONSISTENT'));
      await assert.rejects(m.verify!(k, Buffer.alloc(1), Buffer.alloc(32), {}), code('ERR_KEY_TYPE_INCONSISTENT'));
    }
  }
});
