/**
 * @module Tests of the RSA family (mechanisms/rsa.ts): NIST CAVP SigGen15 and
 * SigGenPSS records (exact signatures from the published n, e, d and salt; see
 * test-vectors/README.md), interoperation with node:crypto in both directions,
 * OAEP labels, RSA-AES key wrap, the hand-written PKCS#1 v1.5 unpadding, and
 * the error codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { derTlv } from '../../src/objects/der.js';
import { MECHANISMS, emsaPssEncode } from '../../src/mechanisms/rsa.js';
import { HASHES, hashByMechanism, type HashInfo } from '../../src/mechanisms/hashes.js';
import type { KeyMaterial, Mechanism, MechanismParams } from '../../src/mechanisms/types.js';
import { hex, readRsp } from '../../../../test-vectors/load.js';

function mech(ckm: number): Mechanism {
  const m = MECHANISMS.find((e) => e.mechanism === ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, String(e));
  return true;
};

const privMaterial = (privateKey: crypto.KeyObject): KeyMaterial => ({
  kind: 'private',
  keyType: P.CKK_RSA,
  key: privateKey,
  publicKey: crypto.createPublicKey(privateKey),
});
const pubMaterial = (publicKey: crypto.KeyObject): KeyMaterial => ({ kind: 'public', keyType: P.CKK_RSA, key: publicKey });

/* ---------------- keys from CAVP n, e, d ---------------- */

const big = (h: string): bigint => BigInt('0x' + (h.replace(/^0+/, '') || '0'));
const bytesOf = (v: bigint): Buffer => {
  const h = v.toString(16);
  return Buffer.from(h.length % 2 ? '0' + h : h, 'hex');
};
const b64u = (v: bigint): string => bytesOf(v).toString('base64url');

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}
function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}
function modInv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

/** A full private key from n, e, d (factor n from e·d − 1, RFC 8017 / SP 800-56B App. C). */
function privateKeyFromNed(nHex: string, eHex: string, dHex: string): crypto.KeyObject {
  const n = big(nHex), e = big(eHex), d = big(dHex);
  const k = d * e - 1n;
  let t = 0n, r = k;
  while ((r & 1n) === 0n) { r >>= 1n; t++; }
  let p = 0n;
  for (let g = 2n; p === 0n && g < 1000n; g++) {
    let y = modPow(g, r, n);
    if (y === 1n || y === n - 1n) continue;
    for (let i = 0n; i < t; i++) {
      const x = (y * y) % n;
      if (x === 1n) { p = gcd(y - 1n, n); break; }
      if (x === n - 1n) break;
      y = x;
    }
  }
  assert.ok(p > 1n && p < n, 'n factors');
  const q = n / p;
  const jwk = {
    kty: 'RSA', n: b64u(n), e: b64u(e), d: b64u(d), p: b64u(p), q: b64u(q),
    dp: b64u(d % (p - 1n)), dq: b64u(d % (q - 1n)), qi: b64u(modInv(q, p)),
  };
  return crypto.createPrivateKey({ key: jwk, format: 'jwk' });
}

/** Walk a CAVP RSA file: n, e, d come in their own records before the signature records. */
function* rsaRecords(file: string): Generator<{ key: crypto.KeyObject; fields: Readonly<Record<string, string>> }> {
  let n = '', e = '', d = '';
  let key: crypto.KeyObject | undefined;
  for (const { fields } of readRsp('nist', 'rsa', file)) {
    if (fields.n) { n = fields.n; key = undefined; }
    if (fields.e) e = fields.e;
    if (fields.d) { d = fields.d; key = undefined; }
    if (fields.Msg) {
      key ??= privateKeyFromNed(n, e, d);
      yield { key, fields };
    }
  }
}

const hashOfCavp = (name: string): HashInfo => {
  const h = HASHES.find((x) => x.name === name.replace('-', '').toLowerCase());
  assert.ok(h, `hash ${name}`);
  return h;
};
const RSA_PKCS_OF: Record<string, number> = {
  sha1: P.CKM_SHA1_RSA_PKCS, sha224: P.CKM_SHA224_RSA_PKCS, sha256: P.CKM_SHA256_RSA_PKCS,
  sha384: P.CKM_SHA384_RSA_PKCS, sha512: P.CKM_SHA512_RSA_PKCS,
};
const RSA_PSS_OF: Record<string, number> = {
  sha1: P.CKM_SHA1_RSA_PKCS_PSS, sha224: P.CKM_SHA224_RSA_PKCS_PSS, sha256: P.CKM_SHA256_RSA_PKCS_PSS,
  sha384: P.CKM_SHA384_RSA_PKCS_PSS, sha512: P.CKM_SHA512_RSA_PKCS_PSS,
};
const pssParamsOf = (h: HashInfo, saltLen: number): MechanismParams => ({ hashAlg: h.ckm, mgf: h.mgf, saltLen });
const oaepParamsOf = (h: HashInfo, label?: Buffer): MechanismParams => ({ hashAlg: h.ckm, mgf: h.mgf, sourceData: label });

/** RFC 8017 §9.2 DigestInfo, built from the hash OIDs (NIST CSOR, OIW). */
const HASH_OID: Record<string, string> = {
  sha1: '2b0e03021a', sha224: '608648016503040204', sha256: '608648016503040201',
  sha384: '608648016503040202', sha512: '608648016503040203',
};
function digestInfo(h: HashInfo, data: Uint8Array): Buffer {
  const digest = crypto.createHash(h.name).update(data).digest();
  const alg = derTlv(0x30, Buffer.concat([derTlv(0x06, Buffer.from(HASH_OID[h.name]!, 'hex')), Buffer.of(0x05, 0x00)]));
  return derTlv(0x30, Buffer.concat([alg, derTlv(0x04, digest)]));
}

/* ---------------- shared keys ---------------- */

const PAIR = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIV = privMaterial(PAIR.privateKey);
const PUB = pubMaterial(PAIR.publicKey);
const OTHER_PAIR = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const OTHER = privMaterial(OTHER_PAIR.privateKey);
const MSG = Buffer.from('OpenCloudHSM RSA test message');

/* ---------------- flags ---------------- */

test('every RSA entry: flags match exactly the functions it provides', () => {
  const FN: ReadonlyArray<[keyof Mechanism, number]> = [
    ['sign', P.CKF_SIGN], ['verify', P.CKF_VERIFY], ['encrypt', P.CKF_ENCRYPT], ['decrypt', P.CKF_DECRYPT],
    ['wrap', P.CKF_WRAP], ['unwrap', P.CKF_UNWRAP], ['generateKeyPair', P.CKF_GENERATE_KEY_PAIR],
    ['generateKey', P.CKF_GENERATE], ['derive', P.CKF_DERIVE], ['digest', P.CKF_DIGEST],
  ];
  const all = FN.reduce((a, [, f]) => a | f, 0);
  assert.equal(MECHANISMS.length, 15);
  for (const m of MECHANISMS) {
    const expected = FN.reduce((a, [fn, f]) => (typeof m[fn] === 'function' ? a | f : a), 0);
    assert.equal(m.flags & all, expected, `0x${m.mechanism.toString(16)} function flags`);
    assert.equal(m.flags & ~all, 0, `0x${m.mechanism.toString(16)} has no other flags`);
    assert.deepEqual(m.keyTypes, [P.CKK_RSA]);
    assert.deepEqual([m.minKeySize, m.maxKeySize, m.keySizeUnit], [2048, 4096, 'bits']);
  }
  assert.equal(new Set(MECHANISMS.map((m) => m.mechanism)).size, MECHANISMS.length, 'no duplicates');
});

/* ---------------- CAVP vectors ---------------- */

test('CAVP SigGen15: CKM_SHA*_RSA_PKCS and raw CKM_RSA_PKCS give the published signatures exactly', async () => {
  let count = 0;
  for (const { key, fields } of rsaRecords('SigGen15_186-3.subset.rsp')) {
    const h = hashOfCavp(fields.SHAAlg!);
    const msg = hex(fields.Msg), expected = hex(fields.S);
    const km = privMaterial(key);
    const m = mech(RSA_PKCS_OF[h.name]!);
    assert.deepEqual(await m.sign!(km, msg, {}), expected, `${h.name} hashing`);
    assert.equal(await m.verify!(pubMaterial(crypto.createPublicKey(key)), msg, expected, {}), true);
    const tampered = Buffer.from(expected);
    tampered[10] ^= 1;
    assert.equal(await m.verify!(km, msg, tampered, {}), false);
    const raw = mech(P.CKM_RSA_PKCS);
    assert.deepEqual(await raw.sign!(km, digestInfo(h, msg), {}), expected, `${h.name} raw over DigestInfo`);
    assert.equal(await raw.verify!(km, digestInfo(h, msg), expected, {}), true);
    count++;
  }
  assert.equal(count, 8);
});

test('CAVP SigGenPSS: EMSA-PSS with the published salt gives the published signature; both PSS mechanisms verify it', async () => {
  let count = 0;
  for (const { key, fields } of rsaRecords('SigGenPSS_186-3.subset.rsp')) {
    const h = hashOfCavp(fields.SHAAlg!);
    const msg = hex(fields.Msg), expected = hex(fields.S), salt = hex(fields.SaltVal);
    const mHash = crypto.createHash(h.name).update(msg).digest();
    const bits = key.asymmetricKeyDetails!.modulusLength!;
    const em = emsaPssEncode(mHash, bits - 1, h, salt);
    const block = Buffer.concat([Buffer.alloc(bits / 8 - em.length), em]);
    const s = crypto.privateEncrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, block);
    assert.deepEqual(s, expected, `${h.name} exact signature`);
    const km = privMaterial(key);
    const params = pssParamsOf(h, salt.length);
    assert.equal(await mech(RSA_PSS_OF[h.name]!).verify!(km, msg, expected, params), true);
    assert.equal(await mech(P.CKM_RSA_PKCS_PSS).verify!(km, mHash, expected, params), true);
    assert.equal(await mech(P.CKM_RSA_PKCS_PSS).verify!(km, mHash, expected, pssParamsOf(h, salt.length + 1)), false, 'wrong sLen');
    const tampered = Buffer.from(expected);
    tampered[0] ^= 0x40;
    assert.equal(await mech(P.CKM_RSA_PKCS_PSS).verify!(km, mHash, tampered, params), false);
    count++;
  }
  assert.equal(count, 5);
});

/* ---------------- interoperation with node:crypto ---------------- */

test('CKM_SHA*_RSA_PKCS: HSM signs / node verifies, node signs / HSM verifies, for every hash', async () => {
  for (const h of HASHES) {
    const m = mech(RSA_PKCS_OF[h.name]!);
    const sig = await m.sign!(PRIV, MSG, {});
    assert.equal(crypto.verify(h.name, MSG, PAIR.publicKey, sig), true, h.name);
    const nodeSig = crypto.sign(h.name, MSG, PAIR.privateKey);
    assert.deepEqual(sig, nodeSig, 'PKCS#1 v1.5 is deterministic');
    assert.equal(await m.verify!(PUB, MSG, nodeSig, {}), true);
    assert.equal(await m.verify!(PUB, Buffer.from('other'), nodeSig, {}), false);
  }
});

test('CKM_SHA*_RSA_PKCS_PSS: HSM signs / node verifies, node signs / HSM verifies, for every hash', async () => {
  for (const h of HASHES) {
    const m = mech(RSA_PSS_OF[h.name]!);
    const params = pssParamsOf(h, h.len);
    const sig = await m.sign!(PRIV, MSG, params);
    const pss = { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: h.len };
    assert.equal(crypto.verify(h.name, MSG, { key: PAIR.publicKey, ...pss }, sig), true, h.name);
    const nodeSig = crypto.sign(h.name, MSG, { key: PAIR.privateKey, ...pss });
    assert.equal(await m.verify!(PUB, MSG, nodeSig, params), true);
    assert.equal(await m.verify!(PUB, Buffer.from('other'), nodeSig, params), false);
  }
});

test('raw CKM_RSA_PKCS_PSS over sha(m) interoperates with node\'s hashing PSS, salt 0 and hLen', async () => {
  const raw = mech(P.CKM_RSA_PKCS_PSS);
  for (const h of HASHES) {
    for (const saltLen of [0, h.len]) {
      const mHash = crypto.createHash(h.name).update(MSG).digest();
      const params = pssParamsOf(h, saltLen);
      const pss = { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: saltLen };
      const sig = await raw.sign!(PRIV, mHash, params);
      assert.equal(crypto.verify(h.name, MSG, { key: PAIR.publicKey, ...pss }, sig), true, `${h.name} salt ${saltLen}`);
      const nodeSig = crypto.sign(h.name, MSG, { key: PAIR.privateKey, ...pss });
      assert.equal(await raw.verify!(PUB, mHash, nodeSig, params), true);
    }
  }
});

test('raw CKM_RSA_PKCS signs a DigestInfo that node verifies; encrypt/decrypt both ways', async () => {
  const raw = mech(P.CKM_RSA_PKCS);
  const h = hashByMechanism(P.CKM_SHA256)!;
  const sig = await raw.sign!(PRIV, digestInfo(h, MSG), {});
  assert.equal(crypto.verify('sha256', MSG, PAIR.publicKey, sig), true);

  const ct = await raw.encrypt!(PUB, MSG, {});
  assert.equal(ct.length, 256);
  assert.deepEqual(await raw.decrypt!(PRIV, ct, {}), MSG);
  const nodeCt = crypto.publicEncrypt({ key: PAIR.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, MSG);
  assert.deepEqual(await raw.decrypt!(PRIV, nodeCt, {}), MSG);
  const empty = await raw.encrypt!(PUB, Buffer.alloc(0), {});
  assert.deepEqual(await raw.decrypt!(PRIV, empty, {}), Buffer.alloc(0));
  const longest = crypto.randomBytes(256 - 11);
  assert.deepEqual(await raw.decrypt!(PRIV, await raw.encrypt!(PUB, longest, {}), {}), longest);
});

test('CKM_RSA_PKCS decryption: Node 20 refuses PKCS#1 v1.5 in privateDecrypt, so the unpadding is ours', () => {
  const ct = crypto.publicEncrypt({ key: PAIR.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, MSG);
  let refused = false;
  try {
    crypto.privateDecrypt({ key: PAIR.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, ct);
  } catch {
    refused = true;
  }
  assert.ok(refused || process.execArgv.some((a) => a.includes('security-revert')), 'this Node refuses RSA_PKCS1_PADDING decryption');
});

test('CKM_RSA_PKCS decryption rejects every malformed type-2 block with one code and one message', async () => {
  const raw = mech(P.CKM_RSA_PKCS);
  const encryptRaw = (em: Buffer) => crypto.publicEncrypt({ key: PAIR.publicKey, padding: crypto.constants.RSA_NO_PADDING }, em);
  const block = (ps: number, msg: Buffer, first = 0x00, type = 0x02): Buffer => {
    const em = Buffer.alloc(256, 0x5a);
    em[0] = first;
    em[1] = type;
    const sep = 2 + ps;
    if (sep < 256) em[sep] = 0;
    msg.copy(em, sep + 1);
    return em.subarray(0, 256);
  };
  // well-formed edge cases
  assert.deepEqual(await raw.decrypt!(PRIV, encryptRaw(block(8, Buffer.from('x'.repeat(256 - 11)))), {}), Buffer.from('x'.repeat(256 - 11)));
  assert.deepEqual(await raw.decrypt!(PRIV, encryptRaw(block(253, Buffer.alloc(0))), {}), Buffer.alloc(0));
  // malformed
  const bad = [
    block(20, MSG, 0x00, 0x01), // block type 1
    block(20, MSG, 0x00, 0x00),
    block(20, MSG, 0x01, 0x02), // leading byte not zero
    block(7, MSG), // PS too short
    block(0, MSG),
    Buffer.concat([Buffer.of(0, 2), Buffer.alloc(254, 0x77)]), // no separator
  ];
  const messages = new Set<string>();
  for (const em of bad) {
    await assert.rejects(raw.decrypt!(PRIV, encryptRaw(em), {}), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'ERR_ENCRYPTED_DATA_INVALID');
      messages.add((e as Error).message);
      return true;
    });
  }
  assert.equal(messages.size, 1, 'uniform message');
  await assert.rejects(raw.decrypt!(PRIV, Buffer.alloc(255, 1), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(raw.decrypt!(PRIV, Buffer.alloc(256, 0xff), {}), code('ERR_ENCRYPTED_DATA_INVALID'), 'c >= n');
  await assert.rejects(raw.encrypt!(PUB, Buffer.alloc(246), {}), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(raw.decrypt!(PUB, Buffer.alloc(256), {}), code('ERR_KEY_TYPE_INCONSISTENT'));
});

test('CKM_RSA_PKCS wrap/unwrap round trip and failures', async () => {
  const raw = mech(P.CKM_RSA_PKCS);
  const aesKey = crypto.randomBytes(32);
  /* Under the wrong key the raw RSA result is an arbitrary number, which reads as a well-formed
   * type-2 block (00 02, eight nonzero bytes, a zero) about once in 100,000: then the unwrap would
   * return garbage, not fail. The padding is random, so wrap again until OTHER's raw result (by
   * node:crypto, without padding) does not begin 00 02; such a block is refused whatever follows.
   * (A wrapped value not below OTHER's modulus has no raw result at all, and is refused too.) */
  const typeTwoUnderOther = (w: Buffer): boolean => {
    try {
      return crypto.privateDecrypt({ key: OTHER_PAIR.privateKey, padding: crypto.constants.RSA_NO_PADDING }, w).subarray(0, 2).equals(Buffer.of(0, 2));
    } catch {
      return false;
    }
  };
  let wrapped = await raw.wrap!(PUB, aesKey, {});
  for (let i = 0; i < 100 && typeTwoUnderOther(wrapped); i++) wrapped = await raw.wrap!(PUB, aesKey, {});
  assert.equal(typeTwoUnderOther(wrapped), false);
  assert.deepEqual(await raw.unwrap!(PRIV, wrapped, {}), aesKey);
  await assert.rejects(raw.unwrap!(OTHER, wrapped, {}), code('ERR_WRAPPED_KEY_INVALID'));
  await assert.rejects(raw.unwrap!(PRIV, wrapped.subarray(1), {}), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  await assert.rejects(raw.wrap!(PUB, Buffer.alloc(300), {}), code('ERR_KEY_SIZE_RANGE'));
});

/* ---------------- OAEP ---------------- */

test('CKM_RSA_PKCS_OAEP: round trip for every hash, with a label; wrong label fails; node interoperates', async () => {
  const oaep = mech(P.CKM_RSA_PKCS_OAEP);
  const label = Buffer.from('OpenCloudHSM label');
  for (const h of HASHES) {
    const params = oaepParamsOf(h, label);
    const ct = await oaep.encrypt!(PUB, MSG, params);
    assert.deepEqual(await oaep.decrypt!(PRIV, ct, params), MSG, h.name);
    await assert.rejects(oaep.decrypt!(PRIV, ct, oaepParamsOf(h, Buffer.from('other label'))), code('ERR_ENCRYPTED_DATA_INVALID'));
    await assert.rejects(oaep.decrypt!(PRIV, ct, oaepParamsOf(h)), code('ERR_ENCRYPTED_DATA_INVALID'));
    const plain = crypto.privateDecrypt({ key: PAIR.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: h.name, oaepLabel: label }, ct);
    assert.deepEqual(plain, MSG);
    const nodeCt = crypto.publicEncrypt({ key: PAIR.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: h.name, oaepLabel: label }, MSG);
    assert.deepEqual(await oaep.decrypt!(PRIV, nodeCt, params), MSG);
    const max = 256 - 2 * h.len - 2;
    await assert.rejects(oaep.encrypt!(PUB, Buffer.alloc(max + 1), params), code('ERR_DATA_LEN_RANGE'));
    assert.equal((await oaep.encrypt!(PUB, Buffer.alloc(max), params)).length, 256);
  }
  const sha256 = hashByMechanism(P.CKM_SHA256)!;
  const wrapped = await oaep.wrap!(PUB, Buffer.alloc(16, 7), oaepParamsOf(sha256));
  assert.deepEqual(await oaep.unwrap!(PRIV, wrapped, oaepParamsOf(sha256)), Buffer.alloc(16, 7));
  await assert.rejects(oaep.unwrap!(PRIV, wrapped, oaepParamsOf(sha256, label)), code('ERR_WRAPPED_KEY_INVALID'));
});

test('CKM_RSA_PKCS_OAEP parameter errors', async () => {
  const oaep = mech(P.CKM_RSA_PKCS_OAEP);
  await assert.rejects(oaep.encrypt!(PUB, MSG, {}), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(oaep.encrypt!(PUB, MSG, { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA1 }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(oaep.encrypt!(PUB, MSG, { hashAlg: P.CKM_SHA256 }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(oaep.encrypt!(PUB, MSG, { hashAlg: P.CKM_SHA256_HMAC, mgf: P.CKG_MGF1_SHA256 }), code('ERR_MECHANISM_PARAM_INVALID'));
});

/* ---------------- RSA-AES key wrap ---------------- */

test('CKM_RSA_AES_KEY_WRAP: round trip for 128/192/256-bit AES keys; layout is OAEP(kAES) ‖ KWP(kAES, key)', async () => {
  const m = mech(P.CKM_RSA_AES_KEY_WRAP);
  const sha256 = hashByMechanism(P.CKM_SHA256)!;
  const target = PAIR.privateKey.export({ format: 'der', type: 'pkcs8' }); // a private key, too long for plain RSA
  for (const aesKeyBits of [128, 192, 256]) {
    const params: MechanismParams = { ...oaepParamsOf(sha256), aesKeyBits };
    const wrapped = await m.wrap!(PUB, target, params);
    const kwpLen = Math.ceil(target.length / 8) * 8 + 8;
    assert.equal(wrapped.length, 256 + kwpLen);
    assert.deepEqual(await m.unwrap!(PRIV, wrapped, params), target);
    // independent decoding with node:crypto
    const tmp = crypto.privateDecrypt({ key: PAIR.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped.subarray(0, 256));
    assert.equal(tmp.length, aesKeyBits / 8);
    const d = crypto.createDecipheriv(`id-aes${aesKeyBits}-wrap-pad`, tmp, Buffer.from('a65959a6', 'hex'));
    assert.deepEqual(Buffer.concat([d.update(wrapped.subarray(256)), d.final()]), target);
    await assert.rejects(m.unwrap!(OTHER, wrapped, params), code('ERR_WRAPPED_KEY_INVALID'));
    const corrupt = Buffer.from(wrapped);
    corrupt[corrupt.length - 1] ^= 1;
    await assert.rejects(m.unwrap!(PRIV, corrupt, params), code('ERR_WRAPPED_KEY_INVALID'));
  }
  const params: MechanismParams = { ...oaepParamsOf(sha256), aesKeyBits: 256 };
  const wrapped = await m.wrap!(PUB, Buffer.alloc(32, 9), params);
  await assert.rejects(m.unwrap!(PRIV, wrapped.subarray(0, 256 + 8), params), code('ERR_WRAPPED_KEY_LEN_RANGE'));
  await assert.rejects(m.unwrap!(PRIV, wrapped, { ...params, aesKeyBits: 128 }), code('ERR_WRAPPED_KEY_INVALID'));
  await assert.rejects(m.wrap!(PUB, Buffer.alloc(32), { ...params, aesKeyBits: 100 }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(m.wrap!(PUB, Buffer.alloc(32), { aesKeyBits: 256 }), code('ERR_MECHANISM_PARAM_INVALID'));
});

/* ---------------- PSS parameter errors ---------------- */

test('PSS parameter and length errors carry the PKCS#11 codes', async () => {
  const raw = mech(P.CKM_RSA_PKCS_PSS);
  const sha256 = hashByMechanism(P.CKM_SHA256)!;
  const mHash = crypto.createHash('sha256').update(MSG).digest();
  const bad: MechanismParams[] = [
    {},
    { mgf: P.CKG_MGF1_SHA256, saltLen: 32 },
    { hashAlg: P.CKM_SHA256, saltLen: 32 },
    { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA1, saltLen: 32 }, // mismatched MGF1
    { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256 }, // no sLen
    { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: -1 },
    { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 256 }, // salt too long for the key
    { hashAlg: 0x12345, mgf: P.CKG_MGF1_SHA256, saltLen: 32 },
  ];
  for (const params of bad) {
    await assert.rejects(raw.sign!(PRIV, mHash, params), code('ERR_MECHANISM_PARAM_INVALID'), JSON.stringify(params));
    await assert.rejects(mech(P.CKM_SHA256_RSA_PKCS_PSS).sign!(PRIV, MSG, params), code('ERR_MECHANISM_PARAM_INVALID'));
  }
  // a hashing variant's hashAlg must be its own hash
  await assert.rejects(mech(P.CKM_SHA256_RSA_PKCS_PSS).sign!(PRIV, MSG, pssParamsOf(hashByMechanism(P.CKM_SHA384)!, 32)), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(mech(P.CKM_SHA256_RSA_PKCS_PSS).verify!(PUB, MSG, Buffer.alloc(256), pssParamsOf(hashByMechanism(P.CKM_SHA_1)!, 20)), code('ERR_MECHANISM_PARAM_INVALID'));
  // raw PSS: the data is the hash, of hashAlg's length
  await assert.rejects(raw.sign!(PRIV, mHash.subarray(1), pssParamsOf(sha256, 32)), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(raw.sign!(PRIV, Buffer.alloc(48), pssParamsOf(sha256, 32)), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(raw.verify!(PUB, Buffer.alloc(20), Buffer.alloc(256), pssParamsOf(sha256, 32)), code('ERR_DATA_LEN_RANGE'));
  // signature lengths
  await assert.rejects(raw.verify!(PUB, mHash, Buffer.alloc(255), pssParamsOf(sha256, 32)), code('ERR_SIGNATURE_LEN_RANGE'));
  await assert.rejects(mech(P.CKM_SHA256_RSA_PKCS).verify!(PUB, MSG, Buffer.alloc(257), {}), code('ERR_SIGNATURE_LEN_RANGE'));
  await assert.rejects(mech(P.CKM_RSA_PKCS).verify!(PUB, MSG, Buffer.alloc(12), {}), code('ERR_SIGNATURE_LEN_RANGE'));
  // signing needs the private key
  await assert.rejects(raw.sign!(PUB, mHash, pssParamsOf(sha256, 32)), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_SHA256_RSA_PKCS).sign!(PUB, MSG, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  await assert.rejects(mech(P.CKM_RSA_PKCS).sign!(PRIV, Buffer.alloc(246), {}), code('ERR_DATA_LEN_RANGE'));
  // garbage signatures of the right length verify false, not throw
  assert.equal(await raw.verify!(PUB, mHash, Buffer.alloc(256, 0xff), pssParamsOf(sha256, 32)), false);
  assert.equal(await mech(P.CKM_RSA_PKCS).verify!(PUB, MSG, Buffer.alloc(256, 0), {}), false);
});

/* ---------------- key generation ---------------- */

test('CKM_RSA_PKCS_KEY_PAIR_GEN: sizes, exponent, errors', async () => {
  const gen = mech(P.CKM_RSA_PKCS_KEY_PAIR_GEN);
  const a = await gen.generateKeyPair!({ modulusBits: 2048 });
  assert.equal(a.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.equal(a.publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
  const b = await gen.generateKeyPair!({ modulusBits: 2304, publicExponent: Uint8Array.of(0x00, 0x01, 0x00, 0x01) });
  assert.equal(b.publicKey.asymmetricKeyDetails?.modulusLength, 2304);
  const sig = await mech(P.CKM_SHA256_RSA_PKCS).sign!(privMaterial(b.privateKey), MSG, {});
  assert.equal(crypto.verify('sha256', MSG, b.publicKey, sig), true);

  for (const modulusBits of [1024, 2047, 2100, 4352, 8192]) {
    await assert.rejects(gen.generateKeyPair!({ modulusBits }), code('ERR_KEY_SIZE_RANGE'), String(modulusBits));
  }
  await assert.rejects(gen.generateKeyPair!({}), code('ERR_TEMPLATE_INCOMPLETE'));
  for (const e of [[0x01, 0x00, 0x00], [0x01], [0x02], [], [0x00], [0x01, 0x00, 0x00, 0x00, 0x01]]) {
    await assert.rejects(gen.generateKeyPair!({ modulusBits: 2048, publicExponent: Uint8Array.from(e) }), code('ERR_TEMPLATE_INCONSISTENT'), JSON.stringify(e));
  }
});
