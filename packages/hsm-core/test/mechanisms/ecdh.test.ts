/**
 * @module Tests of CKM_ECDH1_DERIVE (mechanisms/ecdh.ts): NIST CAVP ECC CDH
 * primitive records (P-256, P-384, P-521), RFC 7748 X25519 vectors, the ANSI
 * X9.63 KDF against CAVP records, both parties agreeing on every curve, and the
 * error codes (bad peer points, KDF parameters, base keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { CURVES, curveByName, type Curve } from '../../src/mechanisms/curves.js';
import { curveOfKey, ecPointOf } from '../../src/mechanisms/ec.js';
import { MECHANISMS, x963Kdf } from '../../src/mechanisms/ecdh.js';
import { HASHES, hashByMechanism } from '../../src/mechanisms/hashes.js';
import type { KeyMaterial, Mechanism, MechanismParams } from '../../src/mechanisms/types.js';
import { hex, readRsp, readVectorJson } from '../../../../test-vectors/load.js';

const ECDH: Mechanism = MECHANISMS.find((m) => m.mechanism === P.CKM_ECDH1_DERIVE)!;

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
const pairOn = (c: Curve): { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } =>
  c.nodeType === 'ec' ? crypto.generateKeyPairSync('ec', { namedCurve: c.nodeName })
    : c.nodeType === 'ed25519' ? crypto.generateKeyPairSync('ed25519') : crypto.generateKeyPairSync('x25519');
const rawPoint = (k: crypto.KeyObject): Buffer => {
  const der = ecPointOf(k);
  return der.subarray(der.length - (curveOfKey(k).nodeType === 'ec' ? 1 + 2 * Math.ceil(curveOfKey(k).bits / 8) : 32));
};

/** A CAVP value at exactly `len` bytes (the P-521 file pads its values to 70 bytes). */
function fixed(h: string | undefined, len: number): Buffer {
  const b = hex(h);
  if (b.length > len) {
    assert.ok(b.subarray(0, b.length - len).every((x) => x === 0), 'only zero padding is dropped');
    return b.subarray(b.length - len);
  }
  return Buffer.concat([Buffer.alloc(len - b.length), b]);
}

/** X25519 private key from its 32-byte scalar (RFC 8410 PKCS#8). */
const x25519Private = (scalar: Buffer): crypto.KeyObject =>
  crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), scalar]), format: 'der', type: 'pkcs8' });

/* ---------------- flags ---------------- */

test('CKM_ECDH1_DERIVE: flags match its one function, EC capability flags, curves with canDerive', () => {
  assert.equal(MECHANISMS.length, 1);
  assert.equal(typeof ECDH.derive, 'function');
  for (const fn of ['sign', 'verify', 'encrypt', 'decrypt', 'wrap', 'unwrap', 'generateKey', 'generateKeyPair', 'digest'] as const) {
    assert.equal(ECDH[fn], undefined, fn);
  }
  assert.equal(ECDH.flags, P.CKF_DERIVE | P.CKF_EC_F_P | P.CKF_EC_NAMEDCURVE | P.CKF_EC_UNCOMPRESS);
  assert.deepEqual(ECDH.keyTypes, [P.CKK_EC, P.CKK_EC_MONTGOMERY]);
  assert.deepEqual([ECDH.minKeySize, ECDH.maxKeySize, ECDH.keySizeUnit], [192, 521, 'bits']);
});

/* ---------------- published vectors ---------------- */

test('CAVP ECC CDH primitive: CKD_NULL gives ZIUT on P-256, P-384 and P-521 (raw and DER peer points)', async () => {
  let n = 0;
  for (const { section, fields } of readRsp('nist', 'ecc', 'KAS_ECC_CDH_PrimitiveTest.subset.txt')) {
    const c = curve(Object.keys(section)[0]!);
    const fl = Math.ceil(c.bits / 8);
    const jwkCrv = c.name;
    const b64 = (h: string | undefined) => fixed(h, fl).toString('base64url');
    const priv = crypto.createPrivateKey({
      key: { kty: 'EC', crv: jwkCrv, d: b64(fields.dIUT), x: b64(fields.QIUTx), y: b64(fields.QIUTy) },
      format: 'jwk',
    });
    const peer = Buffer.concat([Buffer.of(4), fixed(fields.QCAVSx, fl), fixed(fields.QCAVSy, fl)]);
    const z = fixed(fields.ZIUT, fl);
    assert.deepEqual(await ECDH.derive!(privMaterial(priv), { kdf: P.CKD_NULL, publicData: peer }), z, `${c.name} COUNT ${fields.COUNT}`);
    const der = Buffer.concat([Buffer.of(0x04), peer.length < 128 ? Buffer.of(peer.length) : Buffer.of(0x81, peer.length), peer]);
    assert.deepEqual(await ECDH.derive!(privMaterial(priv), { publicData: der }), z, 'DER OCTET STRING peer point, kdf defaulting to CKD_NULL');
    n++;
  }
  assert.equal(n, 8);
});

interface Rfc7748 {
  scalarMult: { name: string; scalar: string; u: string; output: string }[];
  diffieHellman: { alicePrivate: string; alicePublic: string; bobPrivate: string; bobPublic: string; shared: string };
}

test('RFC 7748 §5.2 and §6.1: X25519 through CKM_ECDH1_DERIVE', async () => {
  const v = readVectorJson<Rfc7748>('rfc', 'rfc7748-x25519.json');
  for (const t of v.scalarMult) {
    const out = await ECDH.derive!(privMaterial(x25519Private(hex(t.scalar))), { kdf: P.CKD_NULL, publicData: hex(t.u) });
    assert.deepEqual(out, hex(t.output), t.name);
  }
  const dh = v.diffieHellman;
  const alice = x25519Private(hex(dh.alicePrivate)), bob = x25519Private(hex(dh.bobPrivate));
  assert.deepEqual(rawPoint(crypto.createPublicKey(alice)), hex(dh.alicePublic));
  assert.deepEqual(ecPointOf(crypto.createPublicKey(bob)), Buffer.concat([Buffer.of(0x04, 0x20), hex(dh.bobPublic)]));
  assert.deepEqual(await ECDH.derive!(privMaterial(alice), { kdf: P.CKD_NULL, publicData: hex(dh.bobPublic) }), hex(dh.shared));
  assert.deepEqual(await ECDH.derive!(privMaterial(bob), { kdf: P.CKD_NULL, publicData: ecPointOf(crypto.createPublicKey(alice)) }), hex(dh.shared));
});

interface X963 {
  sections: { section: string; records: { count: number; Z: string; SharedInfo: string; key_data: string }[] }[];
}

test('ANSI X9.63 KDF: CAVP ansx963_2001 SHA-256 records', () => {
  const v = readVectorJson<X963>('nist', 'kdf', 'ansx963_2001-sha256.json');
  const sha256 = hashByMechanism(P.CKM_SHA256)!;
  let n = 0;
  for (const s of v.sections) {
    for (const r of s.records) {
      const expected = hex(r.key_data);
      assert.deepEqual(x963Kdf(sha256, hex(r.Z), hex(r.SharedInfo), expected.length), expected, `${s.section} COUNT ${r.count}`);
      n++;
    }
  }
  assert.equal(n, 4);
});

/* ---------------- agreement ---------------- */

test('both parties agree on every deriving curve, with CKD_NULL and with every X9.63 KDF', async () => {
  const kdfs = [P.CKD_SHA1_KDF, P.CKD_SHA224_KDF, P.CKD_SHA256_KDF, P.CKD_SHA384_KDF, P.CKD_SHA512_KDF];
  for (const c of CURVES.filter((x) => x.canDerive)) {
    const a = pairOn(c), b = pairOn(c);
    const za = await ECDH.derive!(privMaterial(a.privateKey), { kdf: P.CKD_NULL, publicData: ecPointOf(b.publicKey) });
    const zb = await ECDH.derive!(privMaterial(b.privateKey), { kdf: P.CKD_NULL, publicData: rawPoint(a.publicKey) });
    assert.deepEqual(za, zb, c.name);
    assert.equal(za.length, c.nodeType === 'ec' ? Math.ceil(c.bits / 8) : 32);
    assert.deepEqual(za, crypto.diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey }));
    for (const kdf of kdfs) {
      const h = HASHES.find((x) => x.kdf === kdf)!;
      for (const length of [16, 32, 100]) {
        const params: MechanismParams = { kdf, sharedData: Buffer.from('OpenCloudHSM shared info'), length };
        const ka = await ECDH.derive!(privMaterial(a.privateKey), { ...params, publicData: ecPointOf(b.publicKey) });
        const kb = await ECDH.derive!(privMaterial(b.privateKey), { ...params, publicData: ecPointOf(a.publicKey) });
        assert.equal(ka.length, length);
        assert.deepEqual(ka, kb, `${c.name} ${h.name} ${length}`);
        assert.deepEqual(ka, x963Kdf(h, za, Buffer.from('OpenCloudHSM shared info'), length));
      }
      const natural = await ECDH.derive!(privMaterial(a.privateKey), { kdf, publicData: ecPointOf(b.publicKey) });
      assert.equal(natural.length, h.len, 'no length asked: one hash output');
    }
  }
});

/* ---------------- errors ---------------- */

test('ECDH errors: bad peer points, KDF parameters and base keys', async () => {
  const p256 = curve('P-256');
  const a = pairOn(p256), b = pairOn(p256);
  const base = privMaterial(a.privateKey);
  const good = rawPoint(b.publicKey);
  const offCurve = Buffer.from(good);
  offCurve[64] ^= 1;
  const badPoints = [offCurve, Buffer.of(0), good.subarray(0, 64), Buffer.alloc(65), rawPoint(pairOn(curve('P-384')).publicKey), Buffer.alloc(0)];
  for (const publicData of badPoints) {
    await assert.rejects(ECDH.derive!(base, { kdf: P.CKD_NULL, publicData }), code('ERR_MECHANISM_PARAM_INVALID'));
  }
  await assert.rejects(ECDH.derive!(base, { kdf: P.CKD_NULL }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(ECDH.derive!(base, { kdf: P.CKD_NULL, sharedData: Buffer.of(1), publicData: good }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(ECDH.derive!(base, { kdf: 0x9999, publicData: good }), code('ERR_MECHANISM_PARAM_INVALID'));
  for (const length of [0, -1, 1.5, 100000]) {
    await assert.rejects(ECDH.derive!(base, { kdf: P.CKD_SHA256_KDF, publicData: good, length }), code('ERR_MECHANISM_PARAM_INVALID'), String(length));
  }
  // base keys
  await assert.rejects(ECDH.derive!({ kind: 'public', keyType: P.CKK_EC, key: a.publicKey }, { publicData: good }), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(ECDH.derive!(privMaterial(pairOn(curve('Ed25519')).privateKey), { publicData: Buffer.alloc(32, 9) }), code('ERR_KEY_TYPE_INCONSISTENT'));
  // X25519: a point of small order gives an all-zero secret, refused
  const x = privMaterial(pairOn(curve('X25519')).privateKey);
  await assert.rejects(ECDH.derive!(x, { publicData: Buffer.alloc(32) }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(ECDH.derive!(x, { publicData: Buffer.alloc(31, 9) }), code('ERR_MECHANISM_PARAM_INVALID'));
});
