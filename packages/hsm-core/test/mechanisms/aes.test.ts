/**
 * @module Tests of the AES family (mechanisms/aes.ts) against published vectors
 * (NIST CAVP AESAVS and GCMVS, SP 800-38A F.5, SP 800-38F KW/KWP, RFC 3394,
 * RFC 5649; see test-vectors/README.md) and for its length, parameter and
 * integrity errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { generateKeyPairSync } from '../../src/crypto/node.js';
import { MECHANISMS } from '../../src/mechanisms/aes.js';
import type { KeyMaterial, Mechanism, MechanismParams } from '../../src/mechanisms/types.js';
import { hex, readRsp, readVectorJson, type RspRecord } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

function mech(ckm: number): Mechanism {
  const m = MECHANISMS.find((e) => e.mechanism === ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}

const aesKey = (value: Buffer): KeyMaterial => secretMaterial(P.CKK_AES, value);
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

const ECB = mech(P.CKM_AES_ECB);
const CBC = mech(P.CKM_AES_CBC);
const CBC_PAD = mech(P.CKM_AES_CBC_PAD);
const CTR = mech(P.CKM_AES_CTR);
const GCM = mech(P.CKM_AES_GCM);
const KW = mech(P.CKM_AES_KEY_WRAP);
const KWP = mech(P.CKM_AES_KEY_WRAP_PAD);
const KEY16 = aesKey(Buffer.alloc(16, 0x42));
const IV16 = Buffer.alloc(16, 0x24);

/** Run every ENCRYPT / DECRYPT record of an AESVS file through `m`; returns the number checked. */
async function runAesvs(m: Mechanism, file: string, withIv: boolean): Promise<number> {
  const records: RspRecord[] = readRsp('nist', 'aes', file);
  let n = 0;
  for (const { section, fields } of records) {
    const key = aesKey(hex(fields.KEY));
    const params: MechanismParams = withIv ? { iv: hex(fields.IV) } : {};
    if ('ENCRYPT' in section) {
      assert.equal((await m.encrypt!(key, hex(fields.PLAINTEXT), params)).toString('hex'), fields.CIPHERTEXT!.toLowerCase(), `${file} encrypt ${fields.COUNT}`);
    } else {
      assert.ok('DECRYPT' in section);
      assert.equal((await m.decrypt!(key, hex(fields.CIPHERTEXT), params)).toString('hex'), fields.PLAINTEXT!.toLowerCase(), `${file} decrypt ${fields.COUNT}`);
    }
    n++;
  }
  return n;
}

test('AES key generation: 16, 24 and 32 bytes; other lengths refused', async () => {
  const gen = mech(P.CKM_AES_KEY_GEN);
  assert.deepEqual([gen.keyTypes, gen.minKeySize, gen.maxKeySize, gen.keySizeUnit], [[P.CKK_AES], 16, 32, 'bytes']);
  for (const len of [16, 24, 32]) {
    const a = await gen.generateKey!(len);
    const b = await gen.generateKey!(len);
    assert.equal(a.value.length, len);
    assert.ok(!a.value.equals(b.value), 'two generated keys differ');
  }
  await assert.rejects(gen.generateKey!(20), code('ERR_KEY_SIZE_RANGE'));
});

test('AES-ECB: NIST CAVP GFSbox and MMT vectors', async () => {
  let n = 0;
  for (const f of ['ECBGFSbox128.rsp', 'ECBGFSbox256.rsp', 'ECBMMT128.rsp', 'ECBMMT192.rsp', 'ECBMMT256.rsp']) n += await runAesvs(ECB, f, false);
  assert.ok(n >= 50, `checked ${n} records`);
});

test('AES-CBC: NIST CAVP GFSbox and MMT vectors', async () => {
  let n = 0;
  for (const f of ['CBCGFSbox128.rsp', 'CBCGFSbox256.rsp', 'CBCMMT128.rsp', 'CBCMMT192.rsp', 'CBCMMT256.rsp']) n += await runAesvs(CBC, f, true);
  assert.ok(n >= 50, `checked ${n} records`);
});

test('AES-CBC-PAD: NIST CBC MMT ciphertext is the prefix, then one block of padding; round trips', async () => {
  for (const { section, fields } of readRsp('nist', 'aes', 'CBCMMT128.rsp')) {
    if (!('ENCRYPT' in section)) continue;
    const key = aesKey(hex(fields.KEY));
    const params = { iv: hex(fields.IV) };
    const pt = hex(fields.PLAINTEXT);
    const out = await CBC_PAD.encrypt!(key, pt, params);
    assert.equal(out.length, pt.length + 16);
    assert.equal(out.subarray(0, pt.length).toString('hex'), fields.CIPHERTEXT);
    assert.deepEqual(await CBC_PAD.decrypt!(key, out, params), pt);
  }
  for (let len = 0; len <= 33; len++) {
    const pt = Buffer.alloc(len, len);
    const ct = await CBC_PAD.encrypt!(KEY16, pt, { iv: IV16 });
    assert.equal(ct.length, (Math.floor(len / 16) + 1) * 16);
    assert.deepEqual(await CBC_PAD.decrypt!(KEY16, ct, { iv: IV16 }), pt);
    assert.deepEqual(await CBC_PAD.unwrap!(KEY16, await CBC_PAD.wrap!(KEY16, pt, { iv: IV16 }), { iv: IV16 }), pt);
  }
});

test('AES-CBC-PAD: malformed padding is ERR_ENCRYPTED_DATA_INVALID / ERR_WRAPPED_KEY_INVALID', async () => {
  const badLastBlocks = [
    Buffer.alloc(16, 0), // pad length 0
    Buffer.alloc(16, 17), // pad length > block
    Buffer.concat([Buffer.alloc(13, 0xaa), Buffer.from([0x02, 0x03, 0x03])]), // inconsistent pad bytes
    Buffer.concat([Buffer.alloc(15, 0x10), Buffer.from([0x10])]).fill(0x0f, 0, 1), // 16 claimed, first byte differs
  ];
  let message: string | undefined;
  for (const block of badLastBlocks) {
    const ct = await CBC.encrypt!(KEY16, block, { iv: IV16 }); // raw CBC: no padding added
    await assert.rejects(CBC_PAD.decrypt!(KEY16, ct, { iv: IV16 }), (e: Error & { code?: string }) => {
      message ??= e.message;
      return e.code === 'ERR_ENCRYPTED_DATA_INVALID' && e.message === message;
    });
    await assert.rejects(CBC_PAD.unwrap!(KEY16, ct, { iv: IV16 }), code('ERR_WRAPPED_KEY_INVALID'));
  }
  // A full block of 0x10 is valid padding for empty data.
  assert.equal((await CBC_PAD.decrypt!(KEY16, await CBC.encrypt!(KEY16, Buffer.alloc(16, 16), { iv: IV16 }), { iv: IV16 })).length, 0);
});

test('AES ECB/CBC/CBC-PAD: data lengths and IV lengths', async () => {
  await assert.rejects(ECB.encrypt!(KEY16, Buffer.alloc(15), {}), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(ECB.decrypt!(KEY16, Buffer.alloc(17), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC.encrypt!(KEY16, Buffer.alloc(31), { iv: IV16 }), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(CBC.decrypt!(KEY16, Buffer.alloc(20), { iv: IV16 }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC_PAD.decrypt!(KEY16, Buffer.alloc(0), { iv: IV16 }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC_PAD.decrypt!(KEY16, Buffer.alloc(15), { iv: IV16 }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(CBC_PAD.unwrap!(KEY16, Buffer.alloc(15), { iv: IV16 }), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  for (const m of [CBC, CBC_PAD]) {
    for (const params of [{}, { iv: Buffer.alloc(15) }, { iv: Buffer.alloc(17) }, { iv: Buffer.alloc(8) }]) {
      await assert.rejects(m.encrypt!(KEY16, Buffer.alloc(16), params), code('ERR_MECHANISM_PARAM_INVALID'));
      await assert.rejects(m.decrypt!(KEY16, Buffer.alloc(16), params), code('ERR_MECHANISM_PARAM_INVALID'));
    }
  }
  assert.equal((await ECB.encrypt!(KEY16, Buffer.alloc(0), {})).length, 0);
});

test('AES: keys of the wrong kind, type or size are refused', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const wrongKind: KeyMaterial[] = [
    { kind: 'public', keyType: P.CKK_EC_EDWARDS, key: publicKey },
    { kind: 'private', keyType: P.CKK_EC_EDWARDS, key: privateKey, publicKey },
    secretMaterial(P.CKK_GENERIC_SECRET, Buffer.alloc(16)),
  ];
  for (const m of MECHANISMS.filter((e) => e.encrypt)) {
    for (const k of wrongKind) await assert.rejects(m.encrypt!(k, Buffer.alloc(16), { iv: IV16 }), code('ERR_KEY_TYPE_INCONSISTENT'));
    await assert.rejects(m.encrypt!(aesKey(Buffer.alloc(20)), Buffer.alloc(16), { iv: IV16 }), code('ERR_KEY_SIZE_RANGE'));
  }
  for (const m of MECHANISMS.filter((e) => e.wrap)) {
    await assert.rejects(m.wrap!(wrongKind[0]!, Buffer.alloc(16), { iv: IV16 }), code('ERR_KEY_TYPE_INCONSISTENT'));
  }
});

interface CtrFile {
  initialCounterBlock: string;
  plaintext: string;
  vectors: { section: string; key: string; ciphertext: string }[];
}

test('AES-CTR: NIST SP 800-38A F.5 vectors, several counter widths', async () => {
  const f = readVectorJson<CtrFile>('nist', 'aes', 'sp800-38a-f5-ctr.json');
  assert.equal(f.vectors.length, 3);
  for (const v of f.vectors) {
    for (const counterBits of [16, 32, 64, 128]) {
      const params = { iv: hex(f.initialCounterBlock), counterBits };
      assert.equal((await CTR.encrypt!(aesKey(hex(v.key)), hex(f.plaintext), params)).toString('hex'), v.ciphertext, `${v.section} encrypt`);
      assert.equal((await CTR.decrypt!(aesKey(hex(v.key)), hex(v.ciphertext), params)).toString('hex'), f.plaintext, `${v.section} decrypt`);
    }
  }
});

test('AES-CTR: input that would wrap the counter is refused; parameters checked', async () => {
  // Low byte 0xff with an 8-bit counter: one block is fine, a second would wrap.
  const iv = Buffer.alloc(16, 0x00);
  iv[15] = 0xff;
  assert.equal((await CTR.encrypt!(KEY16, Buffer.alloc(16), { iv, counterBits: 8 })).length, 16);
  await assert.rejects(CTR.encrypt!(KEY16, Buffer.alloc(17), { iv, counterBits: 8 }), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(CTR.decrypt!(KEY16, Buffer.alloc(17), { iv, counterBits: 8 }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  // The same block with a 9-bit counter has room for 257 blocks.
  assert.equal((await CTR.encrypt!(KEY16, Buffer.alloc(257 * 16), { iv, counterBits: 9 })).length, 257 * 16);
  await assert.rejects(CTR.encrypt!(KEY16, Buffer.alloc(257 * 16 + 1), { iv, counterBits: 9 }), code('ERR_DATA_LEN_RANGE'));
  // A full 128-bit counter at its maximum.
  const top = Buffer.alloc(16, 0xff);
  assert.equal((await CTR.encrypt!(KEY16, Buffer.alloc(5), { iv: top, counterBits: 128 })).length, 5);
  await assert.rejects(CTR.encrypt!(KEY16, Buffer.alloc(17), { iv: top, counterBits: 128 }), code('ERR_DATA_LEN_RANGE'));
  // Empty input uses no counter value.
  assert.equal((await CTR.encrypt!(KEY16, Buffer.alloc(0), { iv: top, counterBits: 1 })).length, 0);
  for (const params of [{ iv: IV16 }, { iv: IV16, counterBits: 0 }, { iv: IV16, counterBits: 129 }, { iv: IV16, counterBits: 1.5 }, { counterBits: 32 }, { iv: Buffer.alloc(12), counterBits: 32 }]) {
    await assert.rejects(CTR.encrypt!(KEY16, Buffer.alloc(16), params), code('ERR_MECHANISM_PARAM_INVALID'));
  }
});

function gcmParams(fields: Record<string, string>, section: Record<string, string>): MechanismParams {
  return { iv: hex(fields.IV), aad: hex(fields.AAD), tagBits: Number(section.Taglen) };
}

test('AES-GCM: NIST CAVP gcmEncryptExtIV vectors (IV 8/96/1024 bits, every tag length)', async () => {
  let n = 0;
  const tagLens = new Set<string>();
  for (const file of ['gcmEncryptExtIV128.rsp', 'gcmEncryptExtIV256.rsp']) {
    for (const { section, fields } of readRsp('nist', 'aes', file)) {
      const out = await GCM.encrypt!(aesKey(hex(fields.Key)), hex(fields.PT), gcmParams(fields, section));
      assert.equal(out.toString('hex'), (fields.CT ?? '') + fields.Tag, `${file} ${JSON.stringify(section)} Count ${fields.Count}`);
      tagLens.add(section.Taglen!);
      n++;
    }
  }
  assert.equal(tagLens.size, 7);
  assert.ok(n >= 100, `checked ${n} records`);
});

test('AES-GCM: NIST CAVP gcmDecrypt vectors, including the FAIL records', async () => {
  let pass = 0;
  let fail = 0;
  for (const file of ['gcmDecrypt128.rsp', 'gcmDecrypt256.rsp']) {
    for (const { section, fields } of readRsp('nist', 'aes', file)) {
      const key = aesKey(hex(fields.Key));
      const data = Buffer.concat([hex(fields.CT), hex(fields.Tag)]);
      const params = gcmParams(fields, section);
      if ('FAIL' in fields) {
        await assert.rejects(GCM.decrypt!(key, data, params), code('ERR_ENCRYPTED_DATA_INVALID'));
        await assert.rejects(GCM.unwrap!(key, data, params), code('ERR_WRAPPED_KEY_INVALID'));
        fail++;
      } else {
        assert.equal((await GCM.decrypt!(key, data, params)).toString('hex'), fields.PT ?? '');
        pass++;
      }
    }
  }
  assert.ok(pass > 10 && fail > 10, `checked ${pass} good and ${fail} failing records`);
});

test('AES-GCM: tampering with tag, ciphertext or AAD is ERR_ENCRYPTED_DATA_INVALID with one message', async () => {
  const params = { iv: Buffer.alloc(12, 1), aad: Buffer.from('header'), tagBits: 128 };
  const ct = await GCM.encrypt!(KEY16, Buffer.from('attack at dawn'), params);
  assert.equal((await GCM.decrypt!(KEY16, ct, params)).toString(), 'attack at dawn');
  const messages = new Set<string>();
  const expectInvalid = (e: Error & { code?: string }) => (messages.add(e.message), e.code === 'ERR_ENCRYPTED_DATA_INVALID');
  for (const i of [0, ct.length - 16, ct.length - 1]) {
    const t = Buffer.from(ct);
    t[i]! ^= 0x01;
    await assert.rejects(GCM.decrypt!(KEY16, t, params), expectInvalid);
  }
  await assert.rejects(GCM.decrypt!(KEY16, ct, { ...params, aad: Buffer.from('Header') }), expectInvalid);
  await assert.rejects(GCM.decrypt!(KEY16, ct, { ...params, aad: undefined }), expectInvalid);
  await assert.rejects(GCM.decrypt!(KEY16, ct, { ...params, iv: Buffer.alloc(12, 2) }), expectInvalid);
  assert.equal(messages.size, 1, 'one uniform message');
  // The same message as a CBC padding failure: no oracle on which check failed.
  await assert.rejects(CBC_PAD.decrypt!(KEY16, Buffer.alloc(16), { iv: IV16 }), (e: Error) => messages.has(e.message));
});

test('AES-GCM: parameters, short input, wrap = encrypt', async () => {
  const ok = { iv: Buffer.alloc(12), tagBits: 96 };
  for (const params of [{ tagBits: 128 }, { iv: Buffer.alloc(0), tagBits: 128 }, { iv: Buffer.alloc(129), tagBits: 128 }, { iv: Buffer.alloc(12) }, { iv: Buffer.alloc(12), tagBits: 0 }, { iv: Buffer.alloc(12), tagBits: 40 }, { iv: Buffer.alloc(12), tagBits: 136 }]) {
    await assert.rejects(GCM.encrypt!(KEY16, Buffer.alloc(4), params), code('ERR_MECHANISM_PARAM_INVALID'));
    await assert.rejects(GCM.decrypt!(KEY16, Buffer.alloc(32), params), code('ERR_MECHANISM_PARAM_INVALID'));
  }
  for (const ivLen of [1, 16, 128]) {
    const params = { iv: Buffer.alloc(ivLen, 7), tagBits: 32 };
    const ct = await GCM.encrypt!(KEY16, Buffer.from('x'), params);
    assert.equal(ct.length, 1 + 4);
    assert.equal((await GCM.decrypt!(KEY16, ct, params)).toString(), 'x');
  }
  await assert.rejects(GCM.decrypt!(KEY16, Buffer.alloc(11), ok), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(GCM.unwrap!(KEY16, Buffer.alloc(11), ok), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  const keyBytes = Buffer.alloc(32, 9);
  const wrapped = await GCM.wrap!(KEY16, keyBytes, ok);
  assert.deepEqual(wrapped, await GCM.encrypt!(KEY16, keyBytes, ok));
  assert.deepEqual(await GCM.unwrap!(KEY16, wrapped, ok), keyBytes);
});

interface KwFile {
  vectors: { kek: string; keyData: string; ciphertext: string; section?: string; example?: string }[];
}

test('AES-KW: RFC 3394 section 4 vectors through encrypt, decrypt, wrap and unwrap', async () => {
  const f = readVectorJson<KwFile>('rfc', 'rfc3394-aes-kw.json');
  assert.equal(f.vectors.length, 6);
  for (const v of f.vectors) {
    const key = aesKey(hex(v.kek));
    const ct = v.ciphertext.toLowerCase();
    assert.equal((await KW.encrypt!(key, hex(v.keyData), {})).toString('hex'), ct, v.section);
    assert.equal((await KW.wrap!(key, hex(v.keyData), {})).toString('hex'), ct, v.section);
    assert.equal((await KW.wrap!(key, hex(v.keyData), { iv: hex('A6A6A6A6A6A6A6A6') })).toString('hex'), ct, v.section);
    assert.equal((await KW.decrypt!(key, hex(v.ciphertext), {})).toString('hex'), v.keyData.toLowerCase());
    assert.equal((await KW.unwrap!(key, hex(v.ciphertext), {})).toString('hex'), v.keyData.toLowerCase());
  }
});

test('AES-KWP: RFC 5649 section 6 vectors through encrypt, decrypt, wrap and unwrap', async () => {
  const f = readVectorJson<KwFile>('rfc', 'rfc5649-aes-kwp.json');
  assert.equal(f.vectors.length, 2);
  for (const v of f.vectors) {
    const key = aesKey(hex(v.kek));
    assert.equal((await KWP.encrypt!(key, hex(v.keyData), {})).toString('hex'), v.ciphertext);
    assert.equal((await KWP.wrap!(key, hex(v.keyData), {})).toString('hex'), v.ciphertext);
    assert.equal((await KWP.decrypt!(key, hex(v.ciphertext), {})).toString('hex'), v.keyData);
    assert.equal((await KWP.unwrap!(key, hex(v.ciphertext), {})).toString('hex'), v.keyData);
  }
});

/** SP 800-38F KW-AE / KWP-AE: wrap P gives C. */
async function runAe(m: Mechanism, file: string): Promise<number> {
  let n = 0;
  for (const { fields } of readRsp('nist', 'kw', file)) {
    const key = aesKey(hex(fields.K));
    assert.equal((await m.encrypt!(key, hex(fields.P), {})).toString('hex'), fields.C, `${file} COUNT ${fields.COUNT}`);
    assert.equal((await m.wrap!(key, hex(fields.P), {})).toString('hex'), fields.C);
    n++;
  }
  return n;
}

/** SP 800-38F KW-AD / KWP-AD: unwrap C gives P, or fails its integrity check (FAIL). */
async function runAd(m: Mechanism, file: string): Promise<{ pass: number; fail: number }> {
  let pass = 0;
  let fail = 0;
  for (const { fields } of readRsp('nist', 'kw', file)) {
    const key = aesKey(hex(fields.K));
    if ('FAIL' in fields) {
      await assert.rejects(m.decrypt!(key, hex(fields.C), {}), code('ERR_ENCRYPTED_DATA_INVALID'), `${file} COUNT ${fields.COUNT}`);
      await assert.rejects(m.unwrap!(key, hex(fields.C), {}), code('ERR_WRAPPED_KEY_INVALID'));
      fail++;
    } else {
      assert.equal((await m.decrypt!(key, hex(fields.C), {})).toString('hex'), fields.P, `${file} COUNT ${fields.COUNT}`);
      assert.equal((await m.unwrap!(key, hex(fields.C), {})).toString('hex'), fields.P);
      pass++;
    }
  }
  return { pass, fail };
}

test('AES-KW and AES-KWP: NIST SP 800-38F CAVP vectors, including integrity failures', async () => {
  for (const [m, prefix] of [[KW, 'KW'], [KWP, 'KWP']] as const) {
    for (const bitsLen of ['128', '256']) {
      assert.ok((await runAe(m, `${prefix}_AE_${bitsLen}.txt`)) >= 10);
      const { pass, fail } = await runAd(m, `${prefix}_AD_${bitsLen}.txt`);
      assert.ok(pass >= 10 && fail >= 1, `${prefix}_AD_${bitsLen}: ${pass} good, ${fail} failing`);
    }
  }
});

test('AES-KW: lengths, IV parameter and integrity failure', async () => {
  for (const len of [0, 8, 20]) {
    await assert.rejects(KW.encrypt!(KEY16, Buffer.alloc(len), {}), code('ERR_DATA_LEN_RANGE'));
    await assert.rejects(KW.wrap!(KEY16, Buffer.alloc(len), {}), code('ERR_KEY_SIZE_RANGE'));
  }
  for (const len of [0, 8, 16, 28]) {
    await assert.rejects(KW.decrypt!(KEY16, Buffer.alloc(len), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
    await assert.rejects(KW.unwrap!(KEY16, Buffer.alloc(len), {}), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  }
  await assert.rejects(KW.encrypt!(KEY16, Buffer.alloc(16), { iv: Buffer.alloc(7) }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(KW.encrypt!(KEY16, Buffer.alloc(16), { iv: Buffer.alloc(16) }), code('ERR_MECHANISM_PARAM_INVALID'));
  const keyBytes = Buffer.alloc(32, 0x5c);
  const wrapped = await KW.wrap!(KEY16, keyBytes, {});
  assert.equal(wrapped.length, 40);
  for (const i of [0, 8, 39]) {
    const t = Buffer.from(wrapped);
    t[i]! ^= 0x80;
    await assert.rejects(KW.unwrap!(KEY16, t, {}), code('ERR_WRAPPED_KEY_INVALID'));
    await assert.rejects(KW.decrypt!(KEY16, t, {}), code('ERR_ENCRYPTED_DATA_INVALID'));
  }
  // An alternative IV round-trips, and is an integrity failure under the default IV.
  const altIv = { iv: Buffer.from('0123456789abcdef', 'hex') };
  const alt = await KW.wrap!(KEY16, keyBytes, altIv);
  assert.deepEqual(await KW.unwrap!(KEY16, alt, altIv), keyBytes);
  await assert.rejects(KW.unwrap!(KEY16, alt, {}), code('ERR_WRAPPED_KEY_INVALID'));
  // Wrong KEK.
  await assert.rejects(KW.unwrap!(aesKey(Buffer.alloc(16, 0x43)), wrapped, {}), code('ERR_WRAPPED_KEY_INVALID'));
});

test('AES-KWP: lengths, IV parameter, round trips and integrity failure', async () => {
  await assert.rejects(KWP.encrypt!(KEY16, Buffer.alloc(0), {}), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(KWP.wrap!(KEY16, Buffer.alloc(0), {}), code('ERR_KEY_SIZE_RANGE'));
  for (const len of [0, 8, 12, 20]) {
    await assert.rejects(KWP.decrypt!(KEY16, Buffer.alloc(len), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
    await assert.rejects(KWP.unwrap!(KEY16, Buffer.alloc(len), {}), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  }
  await assert.rejects(KWP.encrypt!(KEY16, Buffer.alloc(5), { iv: Buffer.alloc(8) }), code('ERR_MECHANISM_PARAM_INVALID'));
  for (let len = 1; len <= 41; len++) {
    const data = Buffer.alloc(len, len);
    const w = await KWP.wrap!(KEY16, data, {});
    assert.equal(w.length, Math.max(16, Math.ceil(len / 8) * 8 + 8));
    assert.deepEqual(await KWP.unwrap!(KEY16, w, {}), data);
    const t = Buffer.from(w);
    t[t.length - 1]! ^= 1;
    await assert.rejects(KWP.unwrap!(KEY16, t, {}), code('ERR_WRAPPED_KEY_INVALID'));
  }
});
