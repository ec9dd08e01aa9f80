/**
 * @module Tests of the Triple-DES family (mechanisms/des3.ts) against the NIST
 * CAVP TDES multi-block message tests (three-key TECBMMT3, TCBCMMT3; see
 * test-vectors/README.md), plus key generation, padding and length errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { MECHANISMS, setOddParity } from '../../src/mechanisms/des3.js';
import type { KeyMaterial, Mechanism } from '../../src/mechanisms/types.js';
import { hex, readRsp } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

function mech(ckm: number): Mechanism {
  const m = MECHANISMS.find((e) => e.mechanism === ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}

const desKey = (value: Buffer): KeyMaterial => secretMaterial(P.CKK_DES3, value);
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;
const ECB = mech(P.CKM_DES3_ECB);
const CBC = mech(P.CKM_DES3_CBC);
const CBC_PAD = mech(P.CKM_DES3_CBC_PAD);
const KEY = desKey(setOddParity(Buffer.from('0123456789abcdeffedcba987654321089abcdef01234567', 'hex')));
const IV = Buffer.from('1234567890abcdef', 'hex');

const oddParity = (b: number): boolean => {
  let ones = 0;
  for (let v = b; v !== 0; v >>= 1) ones += v & 1;
  return ones % 2 === 1;
};

async function runTmmt(m: Mechanism, file: string, withIv: boolean): Promise<number> {
  let n = 0;
  for (const { section, fields } of readRsp('nist', 'tdes', file)) {
    const key = desKey(Buffer.concat([hex(fields.KEY1), hex(fields.KEY2), hex(fields.KEY3)]));
    const params = withIv ? { iv: hex(fields.IV) } : {};
    if ('ENCRYPT' in section) {
      assert.equal((await m.encrypt!(key, hex(fields.PLAINTEXT), params)).toString('hex'), fields.CIPHERTEXT, `${file} encrypt ${fields.COUNT}`);
    } else {
      assert.ok('DECRYPT' in section);
      assert.equal((await m.decrypt!(key, hex(fields.CIPHERTEXT), params)).toString('hex'), fields.PLAINTEXT, `${file} decrypt ${fields.COUNT}`);
    }
    n++;
  }
  return n;
}

test('DES3 key generation: 24 bytes, odd parity, three distinct sub-keys', async () => {
  const gen = mech(P.CKM_DES3_KEY_GEN);
  assert.deepEqual([gen.keyTypes, gen.minKeySize, gen.maxKeySize, gen.keySizeUnit], [[P.CKK_DES3], 24, 24, 'bytes']);
  for (let i = 0; i < 20; i++) {
    const { value } = await gen.generateKey!(24);
    assert.equal(value.length, 24);
    assert.ok([...value].every(oddParity), 'every byte has odd parity');
    const parts = [0, 8, 16].map((o) => value.subarray(o, o + 8).toString('hex'));
    assert.equal(new Set(parts).size, 3);
  }
  await assert.rejects(gen.generateKey!(16), code('ERR_KEY_SIZE_RANGE'));
});

test('setOddParity keeps the key bits and fixes the parity bit', () => {
  const fixed = setOddParity(Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x80]));
  assert.deepEqual([...fixed], [0x01, 0x01, 0xfe, 0xfe, 0x80]);
});

test('DES3-ECB: NIST CAVP TECBMMT3 (three-key) vectors', async () => {
  assert.ok((await runTmmt(ECB, 'TECBMMT3.rsp', false)) >= 20);
});

test('DES3-CBC: NIST CAVP TCBCMMT3 (three-key) vectors', async () => {
  assert.ok((await runTmmt(CBC, 'TCBCMMT3.rsp', true)) >= 20);
});

test('DES3-CBC-PAD: CBC vectors as prefix, round trips, wrap and unwrap', async () => {
  for (const { section, fields } of readRsp('nist', 'tdes', 'TCBCMMT3.rsp')) {
    if (!('ENCRYPT' in section)) continue;
    const key = desKey(Buffer.concat([hex(fields.KEY1), hex(fields.KEY2), hex(fields.KEY3)]));
    const pt = hex(fields.PLAINTEXT);
    const out = await CBC_PAD.encrypt!(key, pt, { iv: hex(fields.IV) });
    assert.equal(out.length, pt.length + 8);
    assert.equal(out.subarray(0, pt.length).toString('hex'), fields.CIPHERTEXT);
  }
  for (let len = 0; len <= 17; len++) {
    const pt = Buffer.alloc(len, 0xa5);
    const ct = await CBC_PAD.encrypt!(KEY, pt, { iv: IV });
    assert.equal(ct.length, (Math.floor(len / 8) + 1) * 8);
    assert.deepEqual(await CBC_PAD.decrypt!(KEY, ct, { iv: IV }), pt);
    assert.deepEqual(await CBC_PAD.unwrap!(KEY, await CBC_PAD.wrap!(KEY, pt, { iv: IV }), { iv: IV }), pt);
  }
});

test('DES3-CBC-PAD: bad padding is ERR_ENCRYPTED_DATA_INVALID / ERR_WRAPPED_KEY_INVALID', async () => {
  for (const last of [Buffer.alloc(8, 0), Buffer.alloc(8, 9), Buffer.from('0000000000000302', 'hex')]) {
    const ct = await CBC.encrypt!(KEY, last, { iv: IV });
    await assert.rejects(CBC_PAD.decrypt!(KEY, ct, { iv: IV }), code('ERR_ENCRYPTED_DATA_INVALID'));
    await assert.rejects(CBC_PAD.unwrap!(KEY, ct, { iv: IV }), code('ERR_WRAPPED_KEY_INVALID'));
  }
});

test('DES3: lengths, IV, key type and size errors', async () => {
  await assert.rejects(ECB.encrypt!(KEY, Buffer.alloc(7), {}), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(ECB.decrypt!(KEY, Buffer.alloc(9), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC.encrypt!(KEY, Buffer.alloc(12), { iv: IV }), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(CBC_PAD.decrypt!(KEY, Buffer.alloc(12), { iv: IV }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC_PAD.decrypt!(KEY, Buffer.alloc(0), { iv: IV }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  for (const m of [CBC, CBC_PAD]) {
    for (const params of [{}, { iv: Buffer.alloc(7) }, { iv: Buffer.alloc(16) }]) {
      await assert.rejects(m.encrypt!(KEY, Buffer.alloc(8), params), code('ERR_MECHANISM_PARAM_INVALID'));
    }
  }
  for (const m of [ECB, CBC, CBC_PAD]) {
    await assert.rejects(m.encrypt!(desKey(Buffer.alloc(16, 1)), Buffer.alloc(8), { iv: IV }), code('ERR_KEY_SIZE_RANGE'));
    await assert.rejects(m.encrypt!(secretMaterial(P.CKK_AES, Buffer.alloc(24)), Buffer.alloc(8), { iv: IV }), code('ERR_KEY_TYPE_INCONSISTENT'));
  }
});
