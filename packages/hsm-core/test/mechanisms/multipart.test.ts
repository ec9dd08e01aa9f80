/**
 * @module Tests of the multi-part forms (MultiPart in mechanisms/types.ts):
 * streamed results equal the published vectors and the single-part results
 * at odd part sizes (NIST SHAVS ShortMsg, RFC 4231 / RFC 2202 HMAC, NIST
 * AESVS CBC/ECB MMT, SP 800-38A CTR); each update releases only whole
 * blocks, at most the part's length rounded up to 16; final checks lengths,
 * padding and MACs as the single-part call does; and the context table
 * (multipart.ts) keeps its bounds, owners and idle expiry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { MECHANISMS as DIGESTS } from '../../src/mechanisms/digest.js';
import { MECHANISMS as HMACS } from '../../src/mechanisms/hmac.js';
import { MECHANISMS as AES } from '../../src/mechanisms/aes.js';
import { MECHANISMS as DES3 } from '../../src/mechanisms/des3.js';
import type { Bytes, KeyMaterial, Mechanism, MechanismParams, MultiPart, MultiPartKind } from '../../src/mechanisms/types.js';
import { MultiPartTable, multiPartKind } from '../../src/multipart.js';
import { hex, readRsp, readVectorJson } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

const find = (list: readonly Mechanism[], ckm: number): Mechanism => {
  const m = list.find((e) => e.mechanism === ckm);
  assert.ok(m?.multiPart, `0x${ckm.toString(16)} has a multi-part form`);
  return m;
};
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

/** Part sizes that cross block boundaries in every way: 1, 7, 13, 16, 17, 31 bytes, repeating. */
const ODD = [1, 7, 13, 16, 17, 31, 0, 5];

/** Cut `data` into parts of the sizes in `sizes` (cycling), including empty parts. */
function parts(data: Bytes, sizes: readonly number[]): Bytes[] {
  const out: Bytes[] = [];
  let off = 0;
  for (let i = 0; off < data.length || i === 0; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Stream `data` through `mp` in `sizes` parts; checks each update's output bound. */
function stream(mp: MultiPart, data: Bytes, sizes: readonly number[], bound = true): Buffer {
  const out: Buffer[] = [];
  for (const p of parts(data, sizes)) {
    const o = mp.update(p);
    if (bound) assert.ok(o.length <= Math.ceil(p.length / 16) * 16, `update of ${p.length} gave ${o.length}`);
    out.push(o);
  }
  out.push(mp.final());
  return Buffer.concat(out);
}

const SHA_FILES: readonly [number, string][] = [
  [P.CKM_SHA_1, 'SHA1ShortMsg.rsp'], [P.CKM_SHA224, 'SHA224ShortMsg.rsp'], [P.CKM_SHA256, 'SHA256ShortMsg.rsp'],
  [P.CKM_SHA384, 'SHA384ShortMsg.rsp'], [P.CKM_SHA512, 'SHA512ShortMsg.rsp'],
];

test('digest in parts: NIST SHAVS ShortMsg vectors at odd part sizes, and long input equals one-shot', async () => {
  let n = 0;
  for (const [ckm, file] of SHA_FILES) {
    const m = find(DIGESTS, ckm);
    for (const { fields } of readRsp('nist', 'sha', file)) {
      const msg = hex(fields.Msg).subarray(0, Number(fields.Len) / 8);
      for (const sizes of [ODD, [1], [msg.length || 1]]) {
        assert.equal(stream(m.multiPart!('digest', undefined, {}), msg, sizes).toString('hex'), fields.MD, `${file} Len ${fields.Len}`);
        n++;
      }
    }
    const big = Buffer.alloc(3 * 65536 + 77);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    assert.deepEqual(stream(m.multiPart!('digest', undefined, {}), big, [65536 + 3, 999]), await m.digest!(big));
  }
  assert.ok(n > 300, `${n} streamed digests`);
});

interface HmacFile {
  vectors: { hash: string; key: string; data: string; mac: string; truncated?: boolean }[];
}
const HMAC_OF: Readonly<Record<string, number>> = {
  'SHA-1': P.CKM_SHA_1_HMAC, 'SHA-224': P.CKM_SHA224_HMAC, 'SHA-256': P.CKM_SHA256_HMAC, 'SHA-384': P.CKM_SHA384_HMAC, 'SHA-512': P.CKM_SHA512_HMAC,
};

test('HMAC in parts: RFC 4231 and RFC 2202 cases sign and verify at odd part sizes; a wrong MAC fails', async () => {
  let n = 0;
  for (const file of ['rfc4231-hmac-sha2.json', 'rfc2202-hmac-sha1.json']) {
    for (const v of readVectorJson<HmacFile>('rfc', file).vectors) {
      const m = find(HMACS, HMAC_OF[v.hash]!);
      const key: KeyMaterial = secretMaterial(P.CKK_GENERIC_SECRET, hex(v.key));
      const data = hex(v.data);
      const mac = stream(m.multiPart!('sign', key, {}), data, ODD);
      assert.deepEqual(mac, await m.sign!(key, data, {}));
      /* The files hold truncated MACs for the truncation cases (RFC 4231 case 5): the full MAC starts with them. */
      assert.ok(mac.toString('hex').startsWith(v.mac), `${file} ${v.hash}`);
      const ver = m.multiPart!('verify', key, {});
      for (const p of parts(data, [3, 50])) assert.equal(ver.update(p).length, 0);
      assert.equal(ver.verifyFinal!(mac), true);
      const bad = Buffer.from(mac);
      bad[bad.length - 1]! ^= 1;
      const ver2 = m.multiPart!('verify', key, {});
      ver2.update(data);
      assert.equal(ver2.verifyFinal!(bad), false);
      const ver3 = m.multiPart!('verify', key, {});
      ver3.update(data);
      assert.equal(ver3.verifyFinal!(mac.subarray(1)), false, 'a MAC of the wrong length is wrong');
      n++;
    }
  }
  assert.ok(n >= 30, `${n} HMAC cases`);
});

const aesKey = (value: Buffer): KeyMaterial => secretMaterial(P.CKK_AES, value);

test('AES-ECB and AES-CBC in parts: NIST AESVS MMT vectors at odd part sizes, both directions', () => {
  let n = 0;
  for (const [ckm, files, withIv] of [
    [P.CKM_AES_ECB, ['ECBMMT128.rsp', 'ECBMMT192.rsp', 'ECBMMT256.rsp'], false],
    [P.CKM_AES_CBC, ['CBCMMT128.rsp', 'CBCMMT192.rsp', 'CBCMMT256.rsp'], true],
  ] as const) {
    const m = find(AES, ckm);
    for (const file of files) {
      for (const { section, fields } of readRsp('nist', 'aes', file)) {
        const key = aesKey(hex(fields.KEY));
        const params: MechanismParams = withIv ? { iv: hex(fields.IV) } : {};
        const [kind, input, expected] = 'ENCRYPT' in section ? ['encrypt', fields.PLAINTEXT, fields.CIPHERTEXT] as const : ['decrypt', fields.CIPHERTEXT, fields.PLAINTEXT] as const;
        for (const sizes of [ODD, [16], [1]]) {
          assert.equal(stream(m.multiPart!(kind, key, params), hex(input), sizes).toString('hex'), expected!.toLowerCase(), `${file} ${kind} ${fields.COUNT}`);
          n++;
        }
      }
    }
  }
  assert.ok(n > 100, `${n} streamed AESVS records`);
});

test('AES-CBC and ECB in parts: an update releases exactly the whole blocks so far; final refuses a partial block', () => {
  const cbc = find(AES, P.CKM_AES_CBC);
  const key = aesKey(Buffer.alloc(16, 7));
  const mp = cbc.multiPart!('encrypt', key, { iv: Buffer.alloc(16, 1) });
  assert.equal(mp.update(Buffer.alloc(15)).length, 0);
  assert.equal(mp.update(Buffer.alloc(1)).length, 16);
  assert.equal(mp.update(Buffer.alloc(17)).length, 16);
  assert.equal(mp.update(Buffer.alloc(15)).length, 16);
  assert.equal(mp.update(Buffer.alloc(3)).length, 0);
  assert.throws(() => mp.final(), code('ERR_DATA_LEN_RANGE'));
  const dec = find(AES, P.CKM_AES_ECB).multiPart!('decrypt', key, {});
  dec.update(Buffer.alloc(20));
  assert.throws(() => dec.final(), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  assert.throws(() => cbc.multiPart!('encrypt', key, { iv: Buffer.alloc(8) }), code('ERR_MECHANISM_PARAM_INVALID'));
  assert.throws(() => cbc.multiPart!('sign', key, { iv: Buffer.alloc(16) }), code('ERR_MECHANISM_INVALID'));
});

test('AES-CBC-PAD in parts equals one-shot for every length 0..70 and part pattern; decrypt holds the last block back', async () => {
  const m = find(AES, P.CKM_AES_CBC_PAD);
  const key = aesKey(Buffer.alloc(32, 0x5a));
  const params = { iv: Buffer.alloc(16, 0x24) };
  for (let len = 0; len <= 70; len++) {
    const pt = Buffer.alloc(len);
    for (let i = 0; i < len; i++) pt[i] = (i * 7 + len) & 0xff;
    const ct = await m.encrypt!(key, pt, params);
    for (const sizes of [ODD, [1], [16], [len + 16]]) {
      assert.deepEqual(stream(m.multiPart!('encrypt', key, params), pt, sizes), ct, `encrypt ${len}`);
      assert.deepEqual(stream(m.multiPart!('decrypt', key, params), ct, sizes), pt, `decrypt ${len}`);
    }
  }
  const dec = m.multiPart!('decrypt', key, params);
  assert.equal(dec.update(Buffer.alloc(16)).length, 0, 'one whole block is held back');
  assert.equal(dec.update(Buffer.alloc(16)).length, 16);
  /* Bad padding: the same error as the single-part call, and no plaintext of the last block. */
  const bad = m.multiPart!('decrypt', key, params);
  const ct = await m.encrypt!(key, Buffer.alloc(20, 1), params);
  ct[ct.length - 1]! ^= 0x55;
  bad.update(ct);
  assert.throws(() => bad.final(), code('ERR_ENCRYPTED_DATA_INVALID'));
  const empty = m.multiPart!('decrypt', key, params);
  assert.throws(() => empty.final(), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
});

interface CtrFile {
  initialCounterBlock: string;
  plaintext: string;
  vectors: { section: string; key: string; ciphertext: string }[];
}

test('AES-CTR in parts: SP 800-38A F.5 vectors at odd part sizes; each update returns its own length; the counter bound holds', async () => {
  const m = find(AES, P.CKM_AES_CTR);
  const f = readVectorJson<CtrFile>('nist', 'aes', 'sp800-38a-f5-ctr.json');
  for (const v of f.vectors) {
    const params = { iv: hex(f.initialCounterBlock), counterBits: 128 };
    for (const [kind, input, expected] of [['encrypt', f.plaintext, v.ciphertext], ['decrypt', v.ciphertext, f.plaintext]] as const) {
      const mp = m.multiPart!(kind as MultiPartKind, aesKey(hex(v.key)), params);
      const out: Buffer[] = [];
      for (const p of parts(hex(input), ODD)) {
        const o = mp.update(p);
        assert.equal(o.length, p.length);
        out.push(o);
      }
      out.push(mp.final());
      assert.equal(Buffer.concat(out).toString('hex'), expected, `${v.section} ${kind}`);
    }
  }
  /* counterBits 2 from counter 0: four blocks, and not one byte more, across parts as in one call. */
  const key = aesKey(Buffer.alloc(16, 3));
  const params = { iv: Buffer.alloc(16, 0), counterBits: 2 };
  const mp = m.multiPart!('encrypt', key, params);
  assert.equal(mp.update(Buffer.alloc(33)).length, 33);
  assert.equal(mp.update(Buffer.alloc(31)).length, 31);
  assert.throws(() => mp.update(Buffer.alloc(1)), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(m.encrypt!(key, Buffer.alloc(65), params), code('ERR_DATA_LEN_RANGE'));
});

test('DES3-CBC in parts (8-byte blocks) equals one-shot', async () => {
  const m = DES3.find((e) => e.multiPart && e.mechanism === P.CKM_DES3_CBC);
  assert.ok(m);
  const key: KeyMaterial = secretMaterial(P.CKK_DES3, Buffer.from('0123456789abcdeffedcba987654321089abcdef01234567', 'hex'));
  const pt = Buffer.alloc(8 * 13, 9);
  const params = { iv: Buffer.alloc(8, 1) };
  assert.deepEqual(stream(m.multiPart!('encrypt', key, params), pt, ODD), await m.encrypt!(key, pt, params));
});

test('the mechanisms without a multi-part form (key wrap) say so by having none; GCM streams encryption only', () => {
  for (const ckm of [P.CKM_AES_KEY_WRAP, P.CKM_AES_KEY_WRAP_PAD]) {
    assert.equal(AES.find((e) => e.mechanism === ckm)!.multiPart, undefined);
  }
  assert.deepEqual(AES.find((e) => e.mechanism === P.CKM_AES_GCM)!.multiPartKinds, ['encrypt']);
});

test('AES-GCM encryption in parts: NIST gcmEncryptExtIV vectors at odd part sizes (ciphertext || tag, as single-part)', async () => {
  const m = find(AES, P.CKM_AES_GCM);
  let n = 0;
  for (const file of ['gcmEncryptExtIV128.rsp', 'gcmEncryptExtIV256.rsp']) {
    for (const { section, fields } of readRsp('nist', 'aes', file)) {
      const key = aesKey(hex(fields.Key));
      const params: MechanismParams = { iv: hex(fields.IV), aad: hex(fields.AAD ?? ''), tagBits: Number(section.Taglen) };
      const pt = hex(fields.PT ?? '');
      const mp = m.multiPart!('encrypt', key, params);
      const out = stream(mp, pt, ODD);
      assert.equal(out.toString('hex'), (fields.CT ?? '') + fields.Tag, `${file} ${fields.Count}`);
      assert.deepEqual(out, await m.encrypt!(key, pt, params));
      n++;
    }
  }
  assert.ok(n >= 100, `${n} GCM records`);
  assert.throws(() => m.multiPart!('decrypt', aesKey(Buffer.alloc(16)), { iv: Buffer.alloc(12), tagBits: 128 }), code('ERR_FUNCTION_NOT_SUPPORTED'));
});

/* ─────────────────────────── the context table ─────────────────────────── */

const dummy = (): MultiPart => ({ update: () => Buffer.alloc(0), final: () => Buffer.alloc(0) });
const entry = (session?: number) => ({ kind: 'digest' as const, mechanism: P.CKM_SHA256, session, user: undefined });

test('MultiPartTable: contexts belong to their owner, end on delete, session close, owner close and idle expiry', () => {
  let now = 1000;
  const t = new MultiPartTable<object>(() => now, { perOwner: 3, total: 5, idleMs: 100 });
  const a = {};
  const b = {};
  const a1 = t.add(a, entry(7), dummy());
  const a2 = t.add(a, entry(8), dummy());
  const b1 = t.add(b, entry(7), dummy());
  assert.ok(t.get(a, a1));
  assert.throws(() => t.get(b, a1), code('ERR_OPERATION_NOT_INITIALIZED'), 'another connection cannot use it');
  t.delete(b, a1);
  assert.ok(t.get(a, a1), 'nor end it');
  assert.equal(t.dropSession(7), 2);
  assert.throws(() => t.get(a, a1), code('ERR_OPERATION_NOT_INITIALIZED'));
  assert.throws(() => t.get(b, b1), code('ERR_OPERATION_NOT_INITIALIZED'));
  assert.ok(t.get(a, a2));
  now += 101;
  assert.throws(() => t.get(a, a2), code('ERR_OPERATION_NOT_INITIALIZED'), 'idle too long');
  assert.equal(t.size, 0);
  t.add(a, entry(), dummy());
  t.add(a, entry(), dummy());
  const a5 = t.add(a, entry(), dummy());
  assert.throws(() => t.add(a, entry(), dummy()), code('ERR_LIMIT'));
  t.add(b, entry(), dummy());
  t.add(b, entry(), dummy());
  assert.throws(() => t.add(b, entry(), dummy()), code('ERR_LIMIT'), 'the total bound');
  now += 50;
  t.get(a, a5);
  now += 60;
  assert.equal(t.sweep(), 4, 'the four idle ones go; the one used 60 ms ago stays');
  assert.equal(t.dropOwner(a), 1);
  assert.equal(t.size, 0);
  assert.equal(t.countFor(a), 0);
  assert.equal(multiPartKind('encrypt'), 'encrypt');
  assert.throws(() => multiPartKind('wrap'), code('ERR_ARGUMENTS_BAD'));
});

/* ─────────────────────────── hashing signatures ─────────────────────────── */

import { MECHANISMS as RSA } from '../../src/mechanisms/rsa.js';
import { MECHANISMS as EC } from '../../src/mechanisms/ec.js';
import { generateKeyPairSync } from '../../src/crypto/node.js';

test('hashing RSA (PKCS#1 v1.5, PSS) and ECDSA signatures in parts: verified by the single-part call and the other way round', async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cases: [string, readonly Mechanism[], number, KeyMaterial, KeyMaterial, MechanismParams][] = [
    ['SHA256_RSA_PKCS', RSA, P.CKM_SHA256_RSA_PKCS, { kind: 'private', keyType: P.CKK_RSA, key: rsa.privateKey, publicKey: rsa.publicKey }, { kind: 'public', keyType: P.CKK_RSA, key: rsa.publicKey }, {}],
    ['SHA384_RSA_PKCS_PSS', RSA, P.CKM_SHA384_RSA_PKCS_PSS, { kind: 'private', keyType: P.CKK_RSA, key: rsa.privateKey, publicKey: rsa.publicKey }, { kind: 'public', keyType: P.CKK_RSA, key: rsa.publicKey }, { hashAlg: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384, saltLen: 48 }],
    ['ECDSA_SHA256', EC, P.CKM_ECDSA_SHA256, { kind: 'private', keyType: P.CKK_EC, key: ec.privateKey, publicKey: ec.publicKey }, { kind: 'public', keyType: P.CKK_EC, key: ec.publicKey }, {}],
  ];
  const data = Buffer.alloc(100_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  for (const [name, list, ckm, priv, pub, params] of cases) {
    const m = find(list, ckm);
    const sig = stream(m.multiPart!('sign', priv, params), data, [1, 4096, 65536, 17], false);
    assert.equal(await m.verify!(pub, data, sig, params), true, `${name}: a streamed signature verifies single-part`);
    const one = await m.sign!(priv, data, params);
    const v = m.multiPart!('verify', pub, params);
    for (const p of parts(data, [999, 7])) v.update(p);
    assert.equal(v.verifyFinal!(one), true, `${name}: a single-part signature verifies streamed`);
    const bad = Buffer.from(one);
    bad[5]! ^= 1;
    const v2 = m.multiPart!('verify', pub, params);
    v2.update(data);
    assert.equal(v2.verifyFinal!(bad), false, `${name}: a wrong signature`);
    const v3 = m.multiPart!('verify', pub, params);
    v3.update(data);
    assert.throws(() => v3.verifyFinal!(one.subarray(1)), code('ERR_SIGNATURE_LEN_RANGE'), `${name}: a signature of the wrong length`);
    assert.throws(() => m.multiPart!('encrypt', priv, params), code('ERR_MECHANISM_INVALID'));
  }
  assert.throws(() => find(RSA, P.CKM_SHA256_RSA_PKCS_PSS).multiPart!('sign', cases[0]![3], { hashAlg: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1, saltLen: 20 }), code('ERR_MECHANISM_PARAM_INVALID'), 'PSS hashAlg must match the mechanism');
  assert.equal(RSA.find((e) => e.mechanism === P.CKM_RSA_PKCS)!.multiPart, undefined, 'raw RSA has no multi-part form');
});
