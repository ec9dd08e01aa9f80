/**
 * @module Tests of the digest family (mechanisms/digest.ts) against the NIST
 * CAVP SHAVS byte-oriented ShortMsg files (see test-vectors/README.md), and of
 * digestNameOf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { MECHANISMS, digestNameOf } from '../../src/mechanisms/digest.js';
import { hex, readRsp } from '../../../../test-vectors/load.js';

const FILES: readonly [number, string, number][] = [
  [P.CKM_SHA_1, 'SHA1ShortMsg.rsp', 20],
  [P.CKM_SHA224, 'SHA224ShortMsg.rsp', 28],
  [P.CKM_SHA256, 'SHA256ShortMsg.rsp', 32],
  [P.CKM_SHA384, 'SHA384ShortMsg.rsp', 48],
  [P.CKM_SHA512, 'SHA512ShortMsg.rsp', 64],
];

test('SHA-1 and SHA-2 digests: NIST CAVP SHAVS ShortMsg (byte-oriented) vectors', async () => {
  for (const [ckm, file, mdLen] of FILES) {
    const m = MECHANISMS.find((e) => e.mechanism === ckm);
    assert.ok(m?.digest, file);
    const records = readRsp('nist', 'sha', file);
    assert.ok(records.length >= 15, `${file}: ${records.length} records`);
    for (const { section, fields } of records) {
      assert.equal(Number(section.L), mdLen, `${file} [L]`);
      // Len is in bits; the Len = 0 record carries a placeholder "00" message.
      const msg = hex(fields.Msg).subarray(0, Number(fields.Len) / 8);
      assert.equal((await m.digest(msg)).toString('hex'), fields.MD, `${file} Len ${fields.Len}`);
    }
  }
});

test('digest entries take no key', () => {
  assert.equal(MECHANISMS.length, 5);
  for (const m of MECHANISMS) {
    assert.deepEqual([m.keyTypes, m.minKeySize, m.maxKeySize, m.flags], [[], 0, 0, P.CKF_DIGEST]);
  }
});

test('digestNameOf maps CKM_SHA* to node hash names and nothing else', () => {
  assert.equal(digestNameOf(P.CKM_SHA_1), 'sha1');
  assert.equal(digestNameOf(P.CKM_SHA224), 'sha224');
  assert.equal(digestNameOf(P.CKM_SHA256), 'sha256');
  assert.equal(digestNameOf(P.CKM_SHA384), 'sha384');
  assert.equal(digestNameOf(P.CKM_SHA512), 'sha512');
  for (const other of [P.CKM_SHA256_HMAC, P.CKM_SHA256_RSA_PKCS, P.CKM_AES_ECB, P.CKM_ECDSA, -1]) {
    assert.equal(digestNameOf(other), undefined);
  }
});
