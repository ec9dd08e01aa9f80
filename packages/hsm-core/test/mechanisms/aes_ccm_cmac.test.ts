/**
 * @module Tests of AES-CCM (mechanisms/aes_ccm.ts) against NIST CAVP CCM files
 * (SP 800-38C: VTT, VNT, VPT and DVPT with its Fail records), of AES-CMAC
 * (mechanisms/aes_cmac.ts) against the SP 800-38B / RFC 4493 examples, and of
 * raw RSA (mechanisms/rsa_x509.ts) against node's public and private key
 * operations; plus their parameter, length and integrity errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt } from '../../src/crypto/node.js';
import { findMechanism } from '../../src/mechanisms/index.js';
import type { KeyMaterial, Mechanism, MechanismParams } from '../../src/mechanisms/types.js';
import { hex, readVectorText } from '../../../../test-vectors/load.js';
import { secretMaterial } from '../../src/mechanisms/generic.js';

function mech(ckm: number): Mechanism {
  const m = findMechanism(ckm);
  assert.ok(m, `mechanism 0x${ckm.toString(16)} is registered`);
  return m;
}
const aesKey = (value: Buffer): KeyMaterial => secretMaterial(P.CKK_AES, value);
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

const CCM = mech(P.CKM_AES_CCM);
const CMAC = mech(P.CKM_AES_CMAC);
const CMAC_GENERAL = mech(P.CKM_AES_CMAC_GENERAL);

interface CcmRecord {
  key: Buffer;
  nonce: Buffer;
  aad: Buffer;
  payload: Buffer;
  ct: Buffer;
  tagBits: number;
  pass: boolean;
  where: string;
}

/**
 * CAVP CCM files set Alen/Plen/Nlen/Tlen at the top, in [..., ...] headers or
 * both, and "Key =" in its own paragraph; Adata/Payload "00" stand for empty
 * when the length is 0.
 */
function readCcm(file: string): CcmRecord[] {
  const out: CcmRecord[] = [];
  const n: Record<string, number> = {};
  let key: Buffer = Buffer.alloc(0);
  let rec: Record<string, string> = {};
  let sharedNonce = '';
  const flush = () => {
    /* VTT and VPT give the nonce once, next to the key. */
    if (rec.CT === undefined && rec.Nonce !== undefined) sharedNonce = rec.Nonce;
    if (rec.CT !== undefined) {
      const tlen = n.Tlen!;
      out.push({
        key,
        nonce: hex(rec.Nonce ?? sharedNonce),
        aad: hex(rec.Adata).subarray(0, n.Alen),
        payload: hex(rec.Payload).subarray(0, n.Plen),
        ct: hex(rec.CT),
        tagBits: tlen * 8,
        pass: rec.Result === undefined || rec.Result.startsWith('Pass'),
        where: `${file} ${JSON.stringify(n)} Count ${rec.Count}`,
      });
    }
    rec = {};
  };
  for (const raw of readVectorText('nist', 'ccm', file).split(/\r?\n/)) {
    const line = raw.trim().replace(/^\[|\]$/g, '');
    if (line.startsWith('#')) continue;
    if (line === '') { flush(); continue; }
    for (const part of line.split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const k = part.slice(0, eq).trim();
      const v = part.slice(eq + 1).trim();
      if (['Alen', 'Plen', 'Nlen', 'Tlen'].includes(k)) n[k] = Number(v);
      else if (k === 'Key') key = hex(v);
      else rec[k] = v;
    }
  }
  flush();
  return out;
}

test('AES-CCM: NIST CAVP VTT, VNT, VPT (encrypt and decrypt) and DVPT (Pass and Fail records)', async () => {
  let checked = 0;
  let failed = 0;
  for (const file of ['VTT128.rsp', 'VNT256.rsp', 'VPT192.rsp', 'DVPT128.rsp']) {
    for (const r of readCcm(file)) {
      const params: MechanismParams = { iv: r.nonce, aad: r.aad, tagBits: r.tagBits };
      if (r.pass) {
        if (!file.startsWith('DVPT')) assert.equal((await CCM.encrypt!(aesKey(r.key), r.payload, params)).toString('hex'), r.ct.toString('hex'), `${r.where} encrypt`);
        assert.equal((await CCM.decrypt!(aesKey(r.key), r.ct, params)).toString('hex'), r.payload.toString('hex'), `${r.where} decrypt`);
      } else {
        await assert.rejects(CCM.decrypt!(aesKey(r.key), r.ct, params), code('ERR_ENCRYPTED_DATA_INVALID'), r.where);
        failed++;
      }
      checked++;
    }
  }
  assert.ok(checked > 600, `${checked} CCM records`);
  assert.ok(failed > 100, `${failed} Fail records`);
});

test('AES-CCM: nonce, MAC length, ulDataLen and payload length rules; no wrap', async () => {
  const k = aesKey(Buffer.alloc(16, 7));
  const ok: MechanismParams = { iv: Buffer.alloc(13, 1), tagBits: 128 };
  const ct = await CCM.encrypt!(k, Buffer.from('hello'), ok);
  assert.equal(ct.length, 5 + 16);
  assert.deepEqual(await CCM.decrypt!(k, ct, { ...ok, length: 5 }), Buffer.from('hello'));
  for (const iv of [undefined, Buffer.alloc(6), Buffer.alloc(14)]) {
    await assert.rejects(CCM.encrypt!(k, Buffer.from('x'), { iv, tagBits: 128 }), code('ERR_MECHANISM_PARAM_INVALID'));
  }
  for (const tagBits of [undefined, 0, 24, 40, 136]) {
    await assert.rejects(CCM.encrypt!(k, Buffer.from('x'), { iv: Buffer.alloc(13), tagBits }), code('ERR_MECHANISM_PARAM_INVALID'));
  }
  await assert.rejects(CCM.encrypt!(k, Buffer.from('hello'), { ...ok, length: 4 }), code('ERR_MECHANISM_PARAM_INVALID'));
  /* A 13-byte nonce leaves a 2-byte length field: fewer than 65536 bytes. */
  await assert.rejects(CCM.encrypt!(k, Buffer.alloc(65536), ok), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(CCM.decrypt!(k, Buffer.alloc(15), ok), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  const bad = Buffer.from(ct);
  bad[0]! ^= 1;
  await assert.rejects(CCM.decrypt!(k, bad, ok), code('ERR_ENCRYPTED_DATA_INVALID'));
  await assert.rejects(CCM.decrypt!(k, ct, { ...ok, aad: Buffer.from('a') }), code('ERR_ENCRYPTED_DATA_INVALID'));
  assert.equal(CCM.wrap, undefined);
  assert.equal(CCM.flags, P.CKF_ENCRYPT | P.CKF_DECRYPT);
  await assert.rejects(CCM.encrypt!(aesKey(Buffer.alloc(20)), Buffer.from('x'), ok), code('ERR_KEY_SIZE_RANGE'));
});

test('AES-CMAC: the SP 800-38B examples for AES-128 (RFC 4493 section 4), AES-192 and AES-256', async () => {
  let n = 0;
  for (const file of ['nist-800-38b-aes128.txt', 'nist-800-38b-aes192.txt', 'nist-800-38b-aes256.txt']) {
    const records = readVectorText('nist', 'cmac', file).split(/\n\s*\n/).map((block) => {
      const f: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const m = /^(\w+) = ?(.*)$/.exec(line.trim());
        if (m) f[m[1]!] = m[2]!;
      }
      return f;
    }).filter((f) => f.OUTPUT !== undefined);
    for (const f of records) {
      const key = aesKey(hex(f.KEY));
      const msg = hex(f.MESSAGE);
      assert.equal((await CMAC.sign!(key, msg, {})).toString('hex'), f.OUTPUT, `${file} COUNT ${f.COUNT}`);
      assert.equal(await CMAC.verify!(key, msg, hex(f.OUTPUT), {}), true);
      const wrong = hex(f.OUTPUT);
      wrong[15]! ^= 0x80;
      assert.equal(await CMAC.verify!(key, msg, wrong, {}), false);
      assert.equal(await CMAC.verify!(key, msg, hex(f.OUTPUT).subarray(0, 15), {}), false);
      /* CKM_AES_CMAC_GENERAL: the first `length` bytes. */
      assert.equal((await CMAC_GENERAL.sign!(key, msg, { length: 8 })).toString('hex'), f.OUTPUT!.slice(0, 16));
      assert.equal(await CMAC_GENERAL.verify!(key, msg, hex(f.OUTPUT).subarray(0, 8), { length: 8 }), true);
      n++;
    }
  }
  assert.equal(n, 12);
  const k = aesKey(Buffer.alloc(16));
  for (const length of [undefined, 0, 17]) await assert.rejects(CMAC_GENERAL.sign!(k, Buffer.alloc(1), { length }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(CMAC.sign!(aesKey(Buffer.alloc(17)), Buffer.alloc(1), {}), code('ERR_KEY_SIZE_RANGE'));
  assert.equal(CMAC.flags, P.CKF_SIGN | P.CKF_VERIFY);
});

test('CKM_RSA_X_509: zero-padded on the left to k bytes, k bytes out, the same integers as OpenSSL raw RSA', async () => {
  const X509 = mech(P.CKM_RSA_X_509);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv: KeyMaterial = { kind: 'private', keyType: P.CKK_RSA, key: privateKey, publicKey };
  const pub: KeyMaterial = { kind: 'public', keyType: P.CKK_RSA, key: publicKey };
  const msg = Buffer.from('SampleText1');
  const c = await X509.encrypt!(pub, msg, {});
  assert.equal(c.length, 256);
  const block = Buffer.concat([Buffer.alloc(256 - msg.length), msg]);
  /* Raw RSA is deterministic: OpenSSL computes the same ciphertext. */
  assert.deepEqual(c, publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, block));
  const p = await X509.decrypt!(priv, c, {});
  assert.deepEqual(p, block);
  assert.deepEqual(p, privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, c));
  await assert.rejects(X509.encrypt!(pub, Buffer.alloc(257), {}), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(X509.encrypt!(pub, Buffer.alloc(256, 0xff), {}), code('ERR_DATA_INVALID'));
  await assert.rejects(X509.decrypt!(priv, Buffer.alloc(255), {}), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(X509.decrypt!(priv, Buffer.alloc(256, 0xff), {}), code('ERR_ENCRYPTED_DATA_INVALID'));
  await assert.rejects(X509.decrypt!(pub, c, {}), code('ERR_KEY_TYPE_INCONSISTENT'));
  assert.equal(X509.sign, undefined);
  assert.equal(X509.wrap, undefined);
});
