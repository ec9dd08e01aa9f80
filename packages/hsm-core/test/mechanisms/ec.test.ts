/**
 * @module Tests of the EC family (mechanisms/ec.ts): NIST CAVP ECDSA SigVer
 * records, Wycheproof secp256k1 records, RFC 8032 Ed25519 signatures (exact),
 * interoperation with node:crypto in both directions, raw CKM_ECDSA against
 * node's hashing ECDSA (including FIPS 186-4 hash truncation), key-pair
 * generation on every curve, the CKA_EC_POINT helpers, and the error codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { CURVES, curveByName, type Curve } from '../../src/mechanisms/curves.js';
import { MECHANISMS, curveOfKey, ecPointOf, publicKeyFromPoint } from '../../src/mechanisms/ec.js';
import { HASHES, type HashInfo } from '../../src/mechanisms/hashes.js';
import type { KeyMaterial, Mechanism } from '../../src/mechanisms/types.js';
import { hex, readRsp, readVectorJson } from '../../../../test-vectors/load.js';

function mech(ckm: number): Mechanism {
  const m = MECHANISMS.find((e) => e.mechanism === ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, String(e));
  return true;
};

const curve = (name: string): Curve => {
  const c = curveByName(name);
  assert.ok(c, name);
  return c;
};
const privMaterial = (privateKey: crypto.KeyObject): KeyMaterial => ({
  kind: 'private',
  keyType: curveOfKey(privateKey).keyType,
  key: privateKey,
  publicKey: crypto.createPublicKey(privateKey),
});
const pubMaterial = (publicKey: crypto.KeyObject): KeyMaterial => ({ kind: 'public', keyType: curveOfKey(publicKey).keyType, key: publicKey });
const pairOn = (c: Curve): { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } =>
  c.nodeType === 'ec' ? crypto.generateKeyPairSync('ec', { namedCurve: c.nodeName })
    : c.nodeType === 'ed25519' ? crypto.generateKeyPairSync('ed25519') : crypto.generateKeyPairSync('x25519');

const ECDSA_OF: Record<string, number> = {
  sha1: P.CKM_ECDSA_SHA1, sha224: P.CKM_ECDSA_SHA224, sha256: P.CKM_ECDSA_SHA256,
  sha384: P.CKM_ECDSA_SHA384, sha512: P.CKM_ECDSA_SHA512,
};
const hashNamed = (name: string): HashInfo => HASHES.find((h) => h.name === name.replace('-', '').toLowerCase())!;
const ECDSA_CURVES = ['P-256', 'P-384', 'P-521', 'secp256k1'].map(curve);
const MSG = Buffer.from('OpenCloudHSM EC test message');
const P1363 = { dsaEncoding: 'ieee-p1363' } as const;

/* ---------------- flags ---------------- */

test('every EC entry: flags match exactly the functions it provides, plus the EC capability flags', () => {
  const FN: ReadonlyArray<[keyof Mechanism, number]> = [
    ['sign', P.CKF_SIGN], ['verify', P.CKF_VERIFY], ['encrypt', P.CKF_ENCRYPT], ['decrypt', P.CKF_DECRYPT],
    ['wrap', P.CKF_WRAP], ['unwrap', P.CKF_UNWRAP], ['generateKeyPair', P.CKF_GENERATE_KEY_PAIR],
    ['generateKey', P.CKF_GENERATE], ['derive', P.CKF_DERIVE], ['digest', P.CKF_DIGEST],
  ];
  const all = FN.reduce((a, [, f]) => a | f, 0);
  const ecCaps = P.CKF_EC_F_P | P.CKF_EC_NAMEDCURVE | P.CKF_EC_UNCOMPRESS;
  assert.equal(MECHANISMS.length, 10);
  for (const m of MECHANISMS) {
    const expected = FN.reduce((a, [fn, f]) => (typeof m[fn] === 'function' ? a | f : a), 0);
    assert.equal(m.flags & all, expected, `0x${m.mechanism.toString(16)} function flags`);
    assert.equal(m.flags & ~(all | ecCaps), 0, `0x${m.mechanism.toString(16)} has no other flags`);
    assert.ok(m.flags & P.CKF_EC_NAMEDCURVE && m.flags & P.CKF_EC_F_P, 'named prime-field curves');
    const weierstrass = m.keyTypes.includes(P.CKK_EC);
    assert.equal(Boolean(m.flags & P.CKF_EC_UNCOMPRESS), weierstrass, 'uncompressed points where there are points to compress');
    assert.equal(m.keySizeUnit, 'bits');
  }
  assert.deepEqual([mech(P.CKM_ECDSA).minKeySize, mech(P.CKM_ECDSA).maxKeySize], [256, 521]);
  assert.equal(new Set(MECHANISMS.map((m) => m.mechanism)).size, MECHANISMS.length, 'no duplicates');
});

/* ---------------- published vectors ---------------- */

test('CAVP ECDSA SigVer (P-256/SHA-256, P-384/SHA-384): hashing and raw CKM_ECDSA give the published verdicts', async () => {
  let count = 0, passes = 0;
  for (const { section, fields } of readRsp('nist', 'ecc', 'SigVer.subset.rsp')) {
    const [curveName, hashName] = Object.keys(section)[0]!.split(',') as [string, string];
    const c = curve(curveName), h = hashNamed(hashName);
    const expected = fields.Result!.startsWith('P');
    const sig = Buffer.concat([hex(fields.R), hex(fields.S)]);
    const msg = hex(fields.Msg);
    let key: KeyMaterial;
    try {
      key = pubMaterial(publicKeyFromPoint(c, Buffer.concat([Buffer.of(4), hex(fields.Qx), hex(fields.Qy)])));
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'ERR_ATTRIBUTE_VALUE_INVALID');
      assert.equal(expected, false, 'only a failing record may carry an invalid Q');
      count++;
      continue;
    }
    assert.equal(await mech(ECDSA_OF[h.name]!).verify!(key, msg, sig, {}), expected, `${curveName} ${fields.Result}`);
    const digest = crypto.createHash(h.name).update(msg).digest();
    assert.equal(await mech(P.CKM_ECDSA).verify!(key, digest, sig, {}), expected, `raw ${curveName} ${fields.Result}`);
    count++;
    if (expected) passes++;
  }
  assert.equal(count, 12);
  assert.equal(passes, 6);
});

interface WycheproofEcdsa {
  testGroups: { publicKey: { curve: string; uncompressed: string }; sha: string; tests: { tcId: number; msg: string; sig: string; result: string }[] }[];
}

test('Wycheproof ECDSA secp256k1/SHA-256 (P1363): valid high-S accepted, malformed and modified refused', async () => {
  const v = readVectorJson<WycheproofEcdsa>('wycheproof', 'ecdsa_secp256k1_sha256_p1363_test.subset.json');
  let n = 0;
  for (const g of v.testGroups) {
    const c = curve(g.publicKey.curve);
    const key = pubMaterial(publicKeyFromPoint(c, hex(g.publicKey.uncompressed)));
    const h = hashNamed(g.sha);
    for (const t of g.tests) {
      const msg = hex(t.msg), sig = hex(t.sig);
      const digest = crypto.createHash(h.name).update(msg).digest();
      for (const [m, data] of [[mech(P.CKM_ECDSA_SHA256), msg], [mech(P.CKM_ECDSA), digest]] as const) {
        let verdict: boolean;
        try {
          verdict = await m.verify!(key, data, sig, {});
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'ERR_SIGNATURE_LEN_RANGE', `tc ${t.tcId}`);
          verdict = false;
        }
        assert.equal(verdict, t.result === 'valid', `tc ${t.tcId} ${t.result}`);
      }
      n++;
    }
  }
  assert.equal(n, 6);
});

interface Rfc8032 {
  tests: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
}

test('RFC 8032 §7.1: CKM_EDDSA gives the published Ed25519 signatures exactly', async () => {
  const v = readVectorJson<Rfc8032>('rfc', 'rfc8032-ed25519.json');
  const ed = curve('Ed25519');
  for (const t of v.tests) {
    const b64 = (h: string) => hex(h).toString('base64url');
    const priv = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(t.secretKey), x: b64(t.publicKey) }, format: 'jwk' });
    const km = privMaterial(priv);
    const msg = hex(t.message);
    assert.deepEqual(await mech(P.CKM_EDDSA).sign!(km, msg, {}), hex(t.signature), t.name);
    const pub = publicKeyFromPoint(ed, hex(t.publicKey));
    assert.deepEqual(ecPointOf(pub), Buffer.concat([Buffer.of(0x04, 0x20), hex(t.publicKey)]), 'CKA_EC_POINT');
    assert.equal(await mech(P.CKM_EDDSA).verify!(pubMaterial(pub), msg, hex(t.signature), {}), true);
    const bad = hex(t.signature);
    bad[5] ^= 1;
    assert.equal(await mech(P.CKM_EDDSA).verify!(pubMaterial(pub), msg, bad, {}), false);
  }
});

/* ---------------- interoperation with node:crypto ---------------- */

test('CKM_ECDSA_SHA*: HSM signs / node verifies and node signs / HSM verifies, every hash on every signing curve', async () => {
  for (const c of ECDSA_CURVES) {
    const pair = pairOn(c);
    const priv = privMaterial(pair.privateKey), pub = pubMaterial(pair.publicKey);
    for (const h of HASHES) {
      const m = mech(ECDSA_OF[h.name]!);
      const sig = await m.sign!(priv, MSG, {});
      assert.equal(sig.length, 2 * Math.ceil(c.bits / 8), `${c.name} r||s length`);
      assert.equal(crypto.verify(h.name, MSG, { key: pair.publicKey, ...P1363 }, sig), true, `${c.name} ${h.name}`);
      const nodeSig = crypto.sign(h.name, MSG, { key: pair.privateKey, ...P1363 });
      assert.equal(await m.verify!(pub, MSG, nodeSig, {}), true);
      assert.equal(await m.verify!(pub, Buffer.from('other'), nodeSig, {}), false);
    }
  }
});

test('CKM_ECDSA_SHA256 on P-256: data up to 4 KiB (signed on the event loop) and longer (on the thread pool) both verify', async () => {
  const pair = pairOn(curve('P-256'));
  const m = mech(P.CKM_ECDSA_SHA256);
  for (const n of [0, 1, 4095, 4096, 4097, 65536]) {
    const data = crypto.randomBytes(n);
    const sig = await m.sign!(privMaterial(pair.privateKey), data, {});
    assert.equal(sig.length, 64, `${n} bytes`);
    assert.equal(crypto.verify('sha256', data, { key: pair.publicKey, ...P1363 }, sig), true, `${n} bytes`);
    const other = Buffer.concat([data, Buffer.of(1)]);
    assert.equal(crypto.verify('sha256', other, { key: pair.publicKey, ...P1363 }, sig), false, `${n} bytes, other data`);
  }
});

test('raw CKM_ECDSA over sha(m) interoperates with node\'s hashing ECDSA, including hashes longer and shorter than the order', async () => {
  const raw = mech(P.CKM_ECDSA);
  for (const c of ECDSA_CURVES) {
    const pair = pairOn(c);
    const priv = privMaterial(pair.privateKey), pub = pubMaterial(pair.publicKey);
    for (const h of HASHES) {
      const digest = crypto.createHash(h.name).update(MSG).digest();
      const sig = await raw.sign!(priv, digest, {});
      assert.equal(crypto.verify(h.name, MSG, { key: pair.publicKey, ...P1363 }, sig), true, `${c.name} raw over ${h.name}`);
      const nodeSig = crypto.sign(h.name, MSG, { key: pair.privateKey, ...P1363 });
      assert.equal(await raw.verify!(pub, digest, nodeSig, {}), true, `${c.name} node ${h.name}`);
      const other = Buffer.from(digest);
      other[other.length - 1] ^= 1;
      // for a hash longer than the order, only its leftmost bits count (FIPS 186-4 §6.4)
      const beyondOrder = digest.length * 8 > c.bits;
      assert.equal(await raw.verify!(pub, other, nodeSig, {}), beyondOrder && (digest.length * 8 - c.bits) >= 1);
    }
  }
});

/* ---------------- key generation and points ---------------- */

test('CKM_EC_KEY_PAIR_GEN generates on every curve of the table, Ed25519 and X25519 included', async () => {
  const gen = mech(P.CKM_EC_KEY_PAIR_GEN);
  for (const c of CURVES) {
    const pair = await gen.generateKeyPair!({ ecParams: Buffer.from(c.oidDer, 'hex') });
    assert.equal(curveOfKey(pair.privateKey), c);
    assert.equal(curveOfKey(pair.publicKey), c);
    const point = ecPointOf(pair.publicKey);
    const rawLen = c.nodeType === 'ec' ? 1 + 2 * Math.ceil(c.bits / 8) : 32;
    assert.equal(point.length, rawLen + (rawLen < 128 ? 2 : 3), `${c.name} CKA_EC_POINT`);
    assert.equal(point[0], 0x04);
    assert.deepEqual(ecPointOf(pair.privateKey), point, "a private key's point is its public key's");
    const back = publicKeyFromPoint(c, point);
    assert.deepEqual(back.export({ format: 'der', type: 'spki' }), pair.publicKey.export({ format: 'der', type: 'spki' }));
    const raw = point.subarray(point.length - rawLen);
    assert.deepEqual(publicKeyFromPoint(c, raw).export({ format: 'der', type: 'spki' }), pair.publicKey.export({ format: 'der', type: 'spki' }), 'raw form');
  }
  const printable = (s: string) => Buffer.concat([Buffer.of(0x13, s.length), Buffer.from(s)]);
  const ed = await mech(P.CKM_EC_EDWARDS_KEY_PAIR_GEN).generateKeyPair!({ ecParams: printable('edwards25519') });
  assert.equal(ed.privateKey.asymmetricKeyType, 'ed25519');
  const x = await mech(P.CKM_EC_MONTGOMERY_KEY_PAIR_GEN).generateKeyPair!({ ecParams: Buffer.from(curve('X25519').oidDer, 'hex') });
  assert.equal(x.privateKey.asymmetricKeyType, 'x25519');
});

test('key-pair generation errors: unknown or missing curve, a curve of the wrong family', async () => {
  const gen = mech(P.CKM_EC_KEY_PAIR_GEN);
  const brainpool = Buffer.from('06092b2403030208010107', 'hex'); // brainpoolP256r1
  await assert.rejects(gen.generateKeyPair!({ ecParams: brainpool }), code('ERR_CURVE_NOT_SUPPORTED'));
  await assert.rejects(gen.generateKeyPair!({ ecParams: Buffer.from('0500', 'hex') }), code('ERR_CURVE_NOT_SUPPORTED'));
  await assert.rejects(gen.generateKeyPair!({}), code('ERR_TEMPLATE_INCOMPLETE'));
  const x25519 = Buffer.from(curve('X25519').oidDer, 'hex'), ed25519 = Buffer.from(curve('Ed25519').oidDer, 'hex');
  const p256 = Buffer.from(curve('P-256').oidDer, 'hex');
  await assert.rejects(mech(P.CKM_EC_EDWARDS_KEY_PAIR_GEN).generateKeyPair!({ ecParams: x25519 }), code('ERR_CURVE_NOT_SUPPORTED'));
  await assert.rejects(mech(P.CKM_EC_EDWARDS_KEY_PAIR_GEN).generateKeyPair!({ ecParams: p256 }), code('ERR_CURVE_NOT_SUPPORTED'));
  await assert.rejects(mech(P.CKM_EC_MONTGOMERY_KEY_PAIR_GEN).generateKeyPair!({ ecParams: ed25519 }), code('ERR_CURVE_NOT_SUPPORTED'));
});

test('publicKeyFromPoint: raw and DER forms, compressed input, and refusal of points off the curve', () => {
  const c = curve('P-256');
  // a raw point whose bytes also read as a DER OCTET STRING (04 3f ...) must still be taken as raw
  let pair = pairOn(c);
  for (let i = 0; i < 20000 && ecPointOf(pair.publicKey)[3] !== 0x3f; i++) pair = pairOn(c);
  const point = ecPointOf(pair.publicKey), raw = point.subarray(2);
  assert.equal(raw[1], 0x3f, 'found an ambiguous-looking point');
  assert.deepEqual(ecPointOf(publicKeyFromPoint(c, raw)), point);
  assert.deepEqual(ecPointOf(publicKeyFromPoint(c, point)), point);
  // compressed input gives back the uncompressed CKA_EC_POINT
  const compressed = crypto.ECDH.convertKey(raw, c.nodeName, undefined, undefined, 'compressed') as Buffer;
  assert.deepEqual(ecPointOf(publicKeyFromPoint(c, compressed)), point);
  // refusals
  const offCurve = Buffer.from(raw);
  offCurve[offCurve.length - 1] ^= 1;
  const bad = [offCurve, Buffer.of(0), raw.subarray(1), Buffer.concat([raw, Buffer.of(0)]), Buffer.alloc(65), ecPointOf(pairOn(curve('P-384')).publicKey)];
  for (const b of bad) assert.throws(() => publicKeyFromPoint(c, b), code('ERR_ATTRIBUTE_VALUE_INVALID'));
  assert.throws(() => publicKeyFromPoint(c, offCurve, 'ERR_MECHANISM_PARAM_INVALID'), code('ERR_MECHANISM_PARAM_INVALID'));
  assert.throws(() => publicKeyFromPoint(curve('Ed25519'), Buffer.alloc(31)), code('ERR_ATTRIBUTE_VALUE_INVALID'));
});

/* ---------------- errors ---------------- */

test('signing errors: key kind, curve, signature and data lengths', async () => {
  const p256 = pairOn(curve('P-256'));
  const priv = privMaterial(p256.privateKey), pub = pubMaterial(p256.publicKey);
  const digest = crypto.createHash('sha256').update(MSG).digest();
  await assert.rejects(mech(P.CKM_ECDSA).sign!(pub, digest, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_ECDSA_SHA256).sign!(pub, MSG, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_ECDSA).verify!(pub, digest, Buffer.alloc(63), {}), code('ERR_SIGNATURE_LEN_RANGE'));
  await assert.rejects(mech(P.CKM_ECDSA_SHA256).verify!(pub, MSG, Buffer.alloc(72), {}), code('ERR_SIGNATURE_LEN_RANGE'));
  await assert.rejects(mech(P.CKM_ECDSA).sign!(priv, Buffer.alloc(0), {}), code('ERR_DATA_LEN_RANGE'));
  assert.equal(await mech(P.CKM_ECDSA).verify!(pub, digest, Buffer.alloc(64), {}), false, 'r = s = 0');
  assert.equal(await mech(P.CKM_ECDSA).verify!(pub, digest, Buffer.alloc(64, 0xff), {}), false, 'r, s >= n');

  const p224 = privMaterial(pairOn(curve('P-224')).privateKey);
  await assert.rejects(mech(P.CKM_ECDSA).sign!(p224, Buffer.alloc(28, 1), {}), code('ERR_CURVE_NOT_SUPPORTED'));
  await assert.rejects(mech(P.CKM_ECDSA_SHA256).sign!(p224, MSG, {}), code('ERR_CURVE_NOT_SUPPORTED'));

  const ed = pairOn(curve('Ed25519'));
  await assert.rejects(mech(P.CKM_ECDSA).sign!(privMaterial(ed.privateKey), digest, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_EDDSA).sign!(priv, MSG, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_EDDSA).verify!(pubMaterial(ed.publicKey), MSG, Buffer.alloc(63), {}), code('ERR_SIGNATURE_LEN_RANGE'));
  const edSig = await mech(P.CKM_EDDSA).sign!(privMaterial(ed.privateKey), MSG, {});
  assert.equal(crypto.verify(null, MSG, ed.publicKey, edSig), true, 'node verifies the HSM Ed25519 signature');
  assert.equal(await mech(P.CKM_EDDSA).verify!(pubMaterial(ed.publicKey), MSG, crypto.sign(null, MSG, ed.privateKey), {}), true);
});
