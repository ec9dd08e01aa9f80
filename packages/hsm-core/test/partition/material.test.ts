/**
 * The material cache (partition/material.ts): unmasked keys resident as
 * KeyObjects, secret keys too (their value is not kept as a Buffer); bounded,
 * least recently used out first; an evicted or changed key is unmasked again
 * on its next use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, KeyObject } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { encodeUlong } from '../../src/objects/attributes.js';
import { MaterialCache } from '../../src/partition/material.js';
import type { LoadedObject, StoredObject } from '../../src/partition/records.js';

function secretObject(handle: number, value: Buffer, version = 1): LoadedObject {
  const obj: StoredObject = {
    handle, owner: 'cu1', shared: [], lease: 0,
    attrs: new Map([[P.CKA_CLASS, encodeUlong(P.CKO_SECRET_KEY)], [P.CKA_KEY_TYPE, encodeUlong(P.CKK_AES)]]),
    material: { kind: 'secret', bytes: value },
  };
  return { obj, version };
}

/** The unmask callback as the state gives it, counting its calls. */
function unmasker(lo: LoadedObject): { full: () => Promise<StoredObject>; calls: () => number } {
  let n = 0;
  return { full: async () => { n++; return lo.obj; }, calls: () => n };
}

test('a secret key is resident as a KeyObject holding its value, and is unmasked once while resident', async () => {
  const cache = new MaterialCache(4);
  const value = randomBytes(32);
  const lo = secretObject(262144, value);
  const u = unmasker(lo);
  const km = await cache.get(lo, u.full);
  assert.equal(km.kind, 'secret');
  if (km.kind !== 'secret') return;
  assert.ok(km.key instanceof KeyObject);
  assert.equal(km.key.type, 'secret');
  assert.equal(km.key.symmetricKeySize, 32);
  assert.deepEqual(km.key.export(), value);
  assert.ok(!Object.values(km).some((v) => Buffer.isBuffer(v)), 'no Buffer of the value is kept beside the KeyObject');
  for (let i = 0; i < 5; i++) assert.equal(await cache.get(lo, u.full), km, 'the same resident material');
  assert.equal(u.calls(), 1);
});

test('bounded: the least recently used key is evicted, and its next use unmasks it again (same value, new KeyObject)', async () => {
  const cache = new MaterialCache(2);
  const values = [randomBytes(16), randomBytes(24), randomBytes(32)];
  const los = values.map((v, i) => secretObject(262144 + i, v));
  const us = los.map(unmasker);
  const first = await cache.get(los[0]!, us[0]!.full);
  await cache.get(los[1]!, us[1]!.full);
  await cache.get(los[0]!, us[0]!.full); /* 0 is now the most recently used */
  await cache.get(los[2]!, us[2]!.full); /* evicts 1 */
  assert.equal(cache.size, 2);
  assert.equal(cache.peek(los[1]!), undefined, 'key 1 was evicted');
  assert.equal(cache.peek(los[0]!), first, 'key 0 stayed');
  const again = await cache.get(los[1]!, us[1]!.full);
  assert.equal(us[1]!.calls(), 2, 'the evicted key was unmasked again');
  assert.ok(again.kind === 'secret' && again.key.export().equals(values[1]!));
  assert.equal(cache.size, 2, 'still within the bound');
});

test('a changed object (newer store version) is never served from its old material; a private key keeps its KeyObjects', async () => {
  const cache = new MaterialCache(4);
  const old = secretObject(262150, randomBytes(32), 1);
  await cache.get(old, unmasker(old).full);
  const newer = secretObject(262150, randomBytes(32), 2);
  const u = unmasker(newer);
  const km = await cache.get(newer, u.full);
  assert.equal(u.calls(), 1);
  assert.ok(km.kind === 'secret' && km.key.export().equals(newer.obj.material!.bytes));
  cache.dropIfOlder(262150, 3);
  assert.equal(cache.peek(newer), undefined);

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ec: LoadedObject = {
    obj: {
      handle: 262151, owner: 'cu1', shared: [], lease: 0,
      attrs: new Map([[P.CKA_CLASS, encodeUlong(P.CKO_PRIVATE_KEY)], [P.CKA_KEY_TYPE, encodeUlong(P.CKK_EC)]]),
      material: { kind: 'pkcs8', bytes: privateKey.export({ format: 'der', type: 'pkcs8' }) },
    },
    version: 1,
  };
  const priv = await cache.get(ec, unmasker(ec).full);
  assert.ok(priv.kind === 'private' && priv.key instanceof KeyObject && priv.publicKey.type === 'public');
});
