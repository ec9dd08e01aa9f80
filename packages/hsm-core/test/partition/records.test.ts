/**
 * Key records as a unit: what lifecycle.ts stores at obj/<handle>
 * (partition/records.ts) decodes to what was encoded, and a corrupt record —
 * not JSON, another version, any field of the wrong shape — is an ERR_STORE
 * naming the part that is wrong and never the record's content. Through a
 * partition, such a record makes that handle (only) answer ERR_STORE naming
 * its path and the reason.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { attr } from '../../src/objects/attributes.js';
import { Partition } from '../../src/partition.js';
import { PATH, decodeObject, encodeObject, enc, type StoredObject } from '../../src/partition/records.js';

const SECRET = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

function sample(extra: Partial<StoredObject> = {}): StoredObject {
  return {
    handle: 262150, owner: 'cu1', shared: ['cu2', 'cu3'], lease: 0,
    attrs: new Map<number, Uint8Array>([[P.CKA_CLASS, attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY).value], [P.CKA_LABEL, Buffer.from('label')], [P.CKA_ID, Buffer.alloc(0)]]),
    material: { kind: 'secret', bytes: SECRET },
    ...extra,
  };
}

const storeError = (part: RegExp) => (e: unknown) => {
  if (!(e instanceof HsmError) || e.code !== 'ERR_STORE' || !part.test(e.message)) {
    throw new assert.AssertionError({ message: `expected ERR_STORE matching ${part}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
  }
  assert.ok(!e.message.includes(SECRET.toString('hex')) && !e.message.includes('label'), `the error repeats the record: ${e.message}`);
  return true;
};

describe('object records (records.ts)', () => {
  test('encode → decode is the identity, with and without key material, for empty values and session objects', () => {
    for (const o of [sample(), sample({ material: undefined, shared: [] }), sample({ lease: 77, handle: 4294967295 }), sample({ lease: 77, creator: 0x100003 }), sample({ material: { kind: 'spki', bytes: Buffer.alloc(0) } })]) {
      const back = decodeObject(encodeObject(o));
      assert.equal(back.handle, o.handle);
      assert.equal(back.owner, o.owner);
      assert.deepEqual(back.shared, o.shared);
      assert.equal(back.lease, o.lease);
      assert.equal(back.creator, o.creator);
      assert.equal('creator' in back, o.creator !== undefined);
      assert.deepEqual([...back.attrs].map(([t, v]) => [t, Buffer.from(v).toString('hex')]), [...o.attrs].map(([t, v]) => [t, Buffer.from(v).toString('hex')]));
      assert.deepEqual(back.material, o.material);
      assert.equal('material' in back, o.material !== undefined);
    }
    /* Decoding a view into a larger buffer reads only the view. */
    const bytes = encodeObject(sample());
    const padded = Buffer.concat([Buffer.from('xx'), bytes, Buffer.from('yy')]);
    assert.equal(decodeObject(padded.subarray(2, 2 + bytes.length)).handle, 262150);
  });

  test('each kind of corruption is a specific ERR_STORE', () => {
    const good = JSON.parse(encodeObject(sample()).toString('utf8')) as Record<string, unknown>;
    const bad = (change: Record<string, unknown>) => enc({ ...good, ...change });
    assert.throws(() => decodeObject(Buffer.from('{"v":1,"handle":')), storeError(/^object record is not JSON$/));
    assert.throws(() => decodeObject(Buffer.from('[1,2]')), storeError(/not a JSON object/));
    assert.throws(() => decodeObject(Buffer.from('null')), storeError(/not a JSON object/));
    assert.throws(() => decodeObject(bad({ v: 2 })), storeError(/version 2 is not supported/));
    assert.throws(() => decodeObject(bad({ v: undefined })), storeError(/version null is not supported/));
    assert.throws(() => decodeObject(bad({ handle: '262150' })), storeError(/handle is malformed/));
    assert.throws(() => decodeObject(bad({ handle: 0 })), storeError(/handle is malformed/));
    assert.throws(() => decodeObject(bad({ owner: 5 })), storeError(/owner is malformed/));
    assert.throws(() => decodeObject(bad({ shared: 'cu2' })), storeError(/shared is malformed/));
    assert.throws(() => decodeObject(bad({ shared: ['cu2', 3] })), storeError(/shared is malformed/));
    assert.throws(() => decodeObject(bad({ lease: -1 })), storeError(/lease is malformed/));
    assert.throws(() => decodeObject(bad({ lease: 77, creator: -1 })), storeError(/creator is malformed/));
    assert.throws(() => decodeObject(bad({ lease: 77, creator: '7' })), storeError(/creator is malformed/));
    assert.throws(() => decodeObject(bad({ lease: 0, creator: 7 })), storeError(/creator is malformed/));
    assert.throws(() => decodeObject(bad({ attrs: {} })), storeError(/attrs is malformed/));
    assert.throws(() => decodeObject(bad({ attrs: [[0, 'zz']] })), storeError(/attrs is malformed/));
    assert.throws(() => decodeObject(bad({ attrs: [[0, 'abc']] })), storeError(/attrs is malformed/));
    assert.throws(() => decodeObject(bad({ attrs: [['0', '00']] })), storeError(/attrs is malformed/));
    assert.throws(() => decodeObject(bad({ material: { kind: 'private', hex: '00' } })), storeError(/material kind is malformed/));
    assert.throws(() => decodeObject(bad({ material: { kind: 'secret', hex: SECRET.toString('hex') + 'g' } })), storeError(/material is malformed/));
    assert.throws(() => decodeObject(bad({ material: null })), storeError(/material kind is malformed/));
  });

  test('through a partition, a malformed record fails its own handle with its path and reason; the others work', async () => {
    const store = new MemoryStore();
    const maskingKey = randomBytes(32);
    const p = await Partition.open({ store, maskingKey, config: { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } } });
    try {
      const preco = await p.login('admin', 'tenantadmin', 'PRECO');
      await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
      const co = { principal: await p.login('admin', 'adminpassword', 'CO') };
      await p.createUser(co, 'CU', 'cu1', 'user1234');
      const cu1 = { principal: await p.login('cu1', 'user1234', 'CU') };
      const template = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 16), attr.bool(P.CKA_ENCRYPT, true)];
      const victim = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, template);
      const other = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, template);
      /* Someone with the masking key writes a record with the right shape but a broken attribute list. */
      const barrier = await Barrier.open(store, maskingKey);
      const stored = JSON.parse((await barrier.get(PATH.object(victim)))!.value.toString('utf8')) as Record<string, unknown>;
      await barrier.put(PATH.object(victim), enc({ ...stored, attrs: 'none' }));
      await p.state.sync();
      await assert.rejects(p.getAttributeValue(cu1, victim, [P.CKA_LABEL]), (e: unknown) =>
        e instanceof HsmError && e.code === 'ERR_STORE' && e.message.includes(PATH.object(victim)) && e.message.includes('attrs is malformed'));
      assert.equal((await p.encrypt(cu1, { mechanism: P.CKM_AES_ECB }, other, Buffer.alloc(16))).length, 16);
    } finally {
      p.close();
    }
  });
});
