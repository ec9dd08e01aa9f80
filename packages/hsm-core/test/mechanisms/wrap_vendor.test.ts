/**
 * @module Tests of the Triple DES key wrap (mechanisms/des3_wrap.ts, NIST CAVP SP 800-38F TKW-AE and
 * TKW-AD with FAIL records) and of the vendor AES key wrap variants (mechanisms/aes_wrap_vendor.ts):
 * NO_PAD is RFC 3394 (section 4 vectors), PKCS5_PAD and ZERO_PAD are RFC 3394 over the padded data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { generateKeyPairSync } from '../../src/crypto/node.js';
import { findMechanism } from '../../src/mechanisms/index.js';
import type { KeyMaterial, Mechanism } from '../../src/mechanisms/types.js';
import { hex, readRsp, readVectorJson } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

function mech(ckm: number): Mechanism {
  const m = findMechanism(ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}
const secret = (keyType: number, value: Buffer): KeyMaterial => secretMaterial(keyType, value);
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('CKM_DES3_NIST_WRAP: SP 800-38F TKW-AE and TKW-AD (with FAIL records)', async () => {
  const TKW = mech(P.CKM_DES3_NIST_WRAP);
  let n = 0;
  for (const { fields } of readRsp('nist', 'kw', 'TKW_AE.txt')) {
    if (fields.C === undefined) continue;
    assert.equal((await TKW.wrap!(secret(P.CKK_DES3, hex(fields.K)), hex(fields.P), {})).toString('hex'), fields.C, `TKW_AE COUNT ${fields.COUNT}`);
    n++;
  }
  let fails = 0;
  for (const { fields } of readRsp('nist', 'kw', 'TKW_AD.txt')) {
    if (fields.C === undefined) continue;
    const k = secret(P.CKK_DES3, hex(fields.K));
    if ('FAIL' in fields) {
      await assert.rejects(TKW.unwrap!(k, hex(fields.C), {}), code('ERR_WRAPPED_KEY_INVALID'), `TKW_AD COUNT ${fields.COUNT}`);
      fails++;
    } else {
      assert.equal((await TKW.unwrap!(k, hex(fields.C), {})).toString('hex'), fields.P, `TKW_AD COUNT ${fields.COUNT}`);
    }
    n++;
  }
  assert.ok(n >= 70 && fails >= 10, `${n} records, ${fails} FAIL`);
  const k = secret(P.CKK_DES3, Buffer.alloc(24, 3));
  await assert.rejects(TKW.wrap!(k, Buffer.alloc(4), {}), code('ERR_KEY_SIZE_RANGE'));
  await assert.rejects(TKW.wrap!(k, Buffer.alloc(10), {}), code('ERR_KEY_SIZE_RANGE'));
  await assert.rejects(TKW.unwrap!(k, Buffer.alloc(8), {}), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  await assert.rejects(TKW.wrap!(secret(P.CKK_AES, Buffer.alloc(24)), Buffer.alloc(8), {}));
  assert.equal(TKW.encrypt, undefined);
});

interface Rfc3394 { vectors: { section: string; kek: string; keyData: string; ciphertext: string }[] }

test('CKM_AES_KEY_WRAP_NO_PAD is RFC 3394; PKCS5_PAD and ZERO_PAD are RFC 3394 over the padded key', async () => {
  const KW = mech(P.CKM_AES_KEY_WRAP);
  const NO = mech(P.CKM_AES_KEY_WRAP_NO_PAD);
  const P5 = mech(P.CKM_AES_KEY_WRAP_PKCS5_PAD);
  const ZERO = mech(P.CKM_AES_KEY_WRAP_ZERO_PAD);
  const v = readVectorJson<Rfc3394>('rfc', 'rfc3394-aes-kw.json');
  for (const t of v.vectors) {
    const k = secret(P.CKK_AES, hex(t.kek));
    assert.equal((await NO.wrap!(k, hex(t.keyData), {})).toString('hex'), t.ciphertext.toLowerCase(), `RFC 3394 ${t.section}`);
    assert.equal((await NO.unwrap!(k, hex(t.ciphertext), {})).toString('hex'), t.keyData.toLowerCase());
    /* Whole 8-byte multiples: zero padding adds nothing, PKCS#5 a full block of 08. */
    assert.equal((await ZERO.wrap!(k, hex(t.keyData), {})).toString('hex'), t.ciphertext.toLowerCase());
    const p5 = await P5.wrap!(k, hex(t.keyData), {});
    assert.deepEqual(p5, await KW.wrap!(k, Buffer.concat([hex(t.keyData), Buffer.alloc(8, 8)]), {}));
    assert.deepEqual(await P5.unwrap!(k, p5, {}), hex(t.keyData));
  }
  const k = secret(P.CKK_AES, Buffer.alloc(32, 9));
  const odd = Buffer.alloc(21, 0x5a);
  const p5 = await P5.wrap!(k, odd, {});
  assert.deepEqual(p5, await KW.wrap!(k, Buffer.concat([odd, Buffer.alloc(3, 3)]), {}));
  assert.deepEqual(await P5.unwrap!(k, p5, {}), odd);
  /* A wrapped value whose padding is not PKCS#5 is refused with the one message. */
  await assert.rejects(P5.unwrap!(k, await KW.wrap!(k, Buffer.alloc(24, 0x09), {}), {}), code('ERR_WRAPPED_KEY_INVALID'));
  assert.deepEqual((await ZERO.wrap!(k, odd, {})), await KW.wrap!(k, Buffer.concat([odd, Buffer.alloc(3)]), {}));
  /* A PKCS#8 private key comes back at its DER length. */
  const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.notEqual(der.length % 8, 0);
  assert.deepEqual(await ZERO.unwrap!(k, await ZERO.wrap!(k, der, {}), {}), der);
  const bad = await NO.wrap!(k, Buffer.alloc(16), {});
  bad[0]! ^= 1;
  await assert.rejects(NO.unwrap!(k, bad, {}), code('ERR_WRAPPED_KEY_INVALID'));
});
