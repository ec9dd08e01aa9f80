/**
 * Key-reference PEM files (packages/protocol/src/keyref.ts, docs/cli.md "Key-reference PEM
 * files"): the marker block of the Azure Cloud HSM OpenSSL guide, and EC and RSA references that
 * OpenSSL (node:crypto) reads with the genuine public key in them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { ecKeyReference, markerBlock, parseSpki, readMarker, readPrivateKeyFile, referencedHandle, rsaKeyReference } from '../src/keyref.js';

test('the marker block is the OpenSSL guide\'s worked example for handle 262169 (0x40019)', () => {
  assert.equal(markerBlock(262169, 32).toString('hex'), 'eafcfcee' + '1900040000000000' + 'eafcfcee'.repeat(5));
  assert.equal(readMarker(markerBlock(262169, 32)), 262169);
  /* P-521: two zero bytes first, so the value stays below the group order. */
  const b = markerBlock(786449, 66);
  assert.equal(b.subarray(0, 6).toString('hex'), '0000eafcfcee');
  assert.equal(readMarker(b), 786449);
  assert.equal(readMarker(randomBytes(32)), undefined);
  const tampered = markerBlock(5, 32);
  tampered[31] ^= 1;
  assert.equal(readMarker(tampered), undefined);
});

test('EC and RSA key references keep the real public key and carry the handle', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecPub = parseSpki(ec.publicKey.export({ format: 'der', type: 'spki' }));
  assert.equal(ecPub.kind, 'ec');
  const ecRef = ecKeyReference(262169, Buffer.from(ecPub.kind === 'ec' ? ecPub.curveOid : '', 'hex'), ecPub.kind === 'ec' ? ecPub.point : Buffer.alloc(0), 32);
  assert.match(ecRef, /^-----BEGIN EC PRIVATE KEY-----\n/);
  const ecFile = readPrivateKeyFile(ecRef);
  assert.equal(referencedHandle(ecFile), 262169);
  assert.ok(ecFile.kind === 'ec' && ecFile.priv.equals(markerBlock(262169, 32)));
  /* node:crypto (OpenSSL) reads the file and finds the genuine public key in it. */
  assert.deepEqual(createPublicKey(createPrivateKey(ecRef)).export({ format: 'der', type: 'spki' }), ec.publicKey.export({ format: 'der', type: 'spki' }));

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPub = parseSpki(rsa.publicKey.export({ format: 'der', type: 'spki' }));
  assert.ok(rsaPub.kind === 'rsa');
  const rsaRef = rsaKeyReference(262159, rsaPub.n, rsaPub.e);
  assert.match(rsaRef, /^-----BEGIN RSA PRIVATE KEY-----\n/);
  const rsaFile = readPrivateKeyFile(rsaRef);
  assert.equal(referencedHandle(rsaFile), 262159);
  assert.deepEqual(createPublicKey(createPrivateKey(rsaRef)).export({ format: 'der', type: 'spki' }), rsa.publicKey.export({ format: 'der', type: 'spki' }));
  /* A real key is not a reference. */
  assert.equal(referencedHandle(readPrivateKeyFile(rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)), undefined);
  assert.equal(referencedHandle(readPrivateKeyFile(ec.privateKey.export({ format: 'pem', type: 'sec1' }) as string)), undefined);
});
