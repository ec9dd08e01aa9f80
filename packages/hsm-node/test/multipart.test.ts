/**
 * Multi-part operations on real node processes over TLS (docs/protocol.md
 * §6.4): a digest streams before sign-in; the keyed kinds are checked at
 * streamInit exactly as the single-part call (sign-in, owner, usage
 * attribute), with one key-use record at init; a mechanism without a
 * multi-part form answers ERR_FUNCTION_NOT_SUPPORTED; a stream belongs to the
 * connection that began it and ends with an error, its final call, a cancel,
 * the close of its session or of its connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { EXAMPLE_CU, EXAMPLE_CO } from '../../testkit/src/cluster.js';
import { code } from './helpers/in_process.js';
import { clusterWithClients } from './helpers/node_clients.js';

const { client } = clusterWithClients('multipart', { nodes: 2 });

test('a digest streams before sign-in, in parts, and equals SHA-256 of the whole', async () => {
  const anon = await client(1);
  const data = randomBytes(300_001);
  const { stream } = await anon.request('streamInit', { kind: 'digest', mechanism: { mechanism: P.CKM_SHA256 } });
  for (let off = 0; off < 200_000; off += 65_537) {
    const r = await anon.request('streamUpdate', { stream, data: data.subarray(off, Math.min(off + 65_537, 200_000)) });
    assert.equal(r.data.length, 0);
  }
  const { data: digest } = await anon.request('streamFinal', { stream, data: data.subarray(200_000) });
  assert.equal(Buffer.from(digest).toString('hex'), createHash('sha256').update(data).digest('hex'));
  await assert.rejects(anon.request('streamUpdate', { stream, data: Buffer.alloc(1) }), code('ERR_OPERATION_NOT_INITIALIZED'), 'final ended it');
  await assert.rejects(anon.request('streamInit', { kind: 'wrap', mechanism: { mechanism: P.CKM_SHA256 } }), code('ERR_ARGUMENTS_BAD'));
  await assert.rejects(anon.request('streamUpdate', { stream: 424242, data: Buffer.alloc(1) }), code('ERR_OPERATION_NOT_INITIALIZED'));
});

test('keyed streams: the single-part policy at init, one key-use record, output as PKCS#11 asks', async () => {
  const cu = await client(1, EXAMPLE_CU);
  const { session } = await cu.request('openSession', {});
  const value = randomBytes(32);
  const mac = (await cu.request('createObject', {
    session,
    template: [attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY), attr.ulong(P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET), attr.bytes(P.CKA_VALUE, value), attr.bool(P.CKA_SIGN, true), attr.bool(P.CKA_VERIFY, true)],
    minRevision: 0,
  })).handle;
  const aesValue = randomBytes(16);
  const aes = (await cu.request('createObject', {
    session,
    template: [attr.ulong(P.CKA_CLASS, P.CKO_SECRET_KEY), attr.ulong(P.CKA_KEY_TYPE, P.CKK_AES), attr.bytes(P.CKA_VALUE, aesValue), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, false)],
  })).handle;
  const hmac = { mechanism: P.CKM_SHA256_HMAC };

  /* Policy, as for the single-part call. */
  const anon = await client(1);
  await assert.rejects(anon.request('streamInit', { kind: 'sign', mechanism: hmac, handle: mac }), code('ERR_USER_NOT_LOGGED_IN'));
  const cu2 = await client(1, { user: 'cu2', password: 'user5678' });
  await assert.rejects(cu2.request('streamInit', { kind: 'sign', mechanism: hmac, handle: mac }), code('ERR_KEY_HANDLE_INVALID'));
  const iv = randomBytes(16);
  await assert.rejects(cu.request('streamInit', { session, kind: 'decrypt', mechanism: { mechanism: P.CKM_AES_CBC, iv }, handle: aes }), code('ERR_KEY_FUNCTION_NOT_PERMITTED'));
  await assert.rejects(cu.request('streamInit', { session, kind: 'encrypt', mechanism: { mechanism: P.CKM_AES_CBC, iv: iv.subarray(1) }, handle: aes }), code('ERR_MECHANISM_PARAM_INVALID'));
  await assert.rejects(cu.request('streamInit', { session, kind: 'sign', mechanism: { mechanism: P.CKM_AES_CBC, iv }, handle: aes }), code('ERR_MECHANISM_INVALID'));
  await assert.rejects(cu.request('streamInit', { session, kind: 'sign', mechanism: hmac }), code('ERR_ARGUMENTS_BAD'), 'a keyed kind needs a handle');
  await assert.rejects(cu.request('streamInit', { session, kind: 'wrap' as 'encrypt', mechanism: { mechanism: P.CKM_AES_GCM, iv: randomBytes(12), tagBits: 128 }, handle: aes }), code('ERR_ARGUMENTS_BAD'));
  await assert.rejects(cu.request('streamInit', { session, kind: 'encrypt', mechanism: { mechanism: P.CKM_AES_KEY_WRAP }, handle: aes }), code('ERR_FUNCTION_NOT_SUPPORTED'), 'key wrap has no multi-part form');
  /* GCM decryption has none (no plaintext before the tag): answered before the key is looked at, so the single-part call's checks decide. */
  await assert.rejects(cu.request('streamInit', { session, kind: 'decrypt', mechanism: { mechanism: P.CKM_AES_GCM, iv: randomBytes(12), tagBits: 128 }, handle: aes }), code('ERR_FUNCTION_NOT_SUPPORTED'));

  /* One key-use record, at init, for the whole stream. */
  const co = await client(1, EXAMPLE_CO);
  const seqBefore = (await co.request('auditRecords', { chain: 'node', fromSeq: 0, limit: 100_000 })).records.length;
  const data = randomBytes(5000);
  const { stream } = await cu.request('streamInit', { session, kind: 'sign', mechanism: hmac, handle: mac });
  for (let off = 0; off < data.length; off += 999) await cu.request('streamUpdate', { stream, data: data.subarray(off, off + 999) });
  const recs = (await co.request('auditRecords', { chain: 'node', fromSeq: 0, limit: 100_000 })).records.slice(seqBefore);
  const ours = recs.filter((r) => r.handles?.includes(mac));
  assert.equal(ours.length, 1, JSON.stringify(recs));
  assert.deepEqual([ours[0]!.action, ours[0]!.detail, ours[0]!.user, ours[0]!.result], ['sign', 'multi-part', 'cu1', 'ok']);
  const { data: signature } = await cu.request('streamFinal', { stream });
  assert.deepEqual(Buffer.from(signature), createHmac('sha256', value).update(data).digest());

  /* Verify: a wrong MAC is ERR_SIGNATURE_INVALID, a right one is accepted. */
  const v = (await cu.request('streamInit', { session, kind: 'verify', mechanism: hmac, handle: mac })).stream;
  await cu.request('streamUpdate', { stream: v, data });
  await cu.request('streamFinal', { stream: v, signature });
  const v2 = (await cu.request('streamInit', { session, kind: 'verify', mechanism: hmac, handle: mac })).stream;
  await assert.rejects(cu.request('streamFinal', { stream: v2, data, signature: Buffer.alloc(32) }), code('ERR_SIGNATURE_INVALID'));

  /* CBC-PAD encrypt: each update releases the whole blocks; the result is AES-CBC with PKCS#7. */
  await cu.request('setAttributeValue', { session, handle: aes, template: [attr.bool(P.CKA_DECRYPT, true)] });
  const e = (await cu.request('streamInit', { session, kind: 'encrypt', mechanism: { mechanism: P.CKM_AES_CBC_PAD, iv }, handle: aes })).stream;
  const outs: Buffer[] = [];
  for (const n of [5, 30, 16, 1]) {
    const r = await cu.request('streamUpdate', { stream: e, data: data.subarray(0, n) });
    outs.push(Buffer.from(r.data));
  }
  assert.deepEqual(outs.map((b) => b.length), [0, 32, 16, 0]);
  outs.push(Buffer.from((await cu.request('streamFinal', { stream: e })).data));
  const c = createCipheriv('aes-128-cbc', aesValue, iv);
  const plain = Buffer.concat([data.subarray(0, 5), data.subarray(0, 30), data.subarray(0, 16), data.subarray(0, 1)]);
  assert.deepEqual(Buffer.concat(outs), Buffer.concat([c.update(plain), c.final()]));

  /* Decrypt of a partial block fails at final, and the failure ends the stream. */
  const d = (await cu.request('streamInit', { session, kind: 'decrypt', mechanism: { mechanism: P.CKM_AES_CBC, iv }, handle: aes })).stream;
  await cu.request('streamUpdate', { stream: d, data: Buffer.alloc(20) });
  await assert.rejects(cu.request('streamFinal', { stream: d }), code('ERR_ENCRYPTED_DATA_LEN_RANGE'));
  await assert.rejects(cu.request('streamCancel', { stream: d }).then(() => cu.request('streamUpdate', { stream: d, data: Buffer.alloc(16) })), code('ERR_OPERATION_NOT_INITIALIZED'));
});

test('a stream belongs to its connection and ends with its session, its connection, a cancel or a sign-out', async () => {
  const cu = await client(1, EXAMPLE_CU);
  const { session } = await cu.request('openSession', {});
  const sha = { mechanism: P.CKM_SHA256 };
  const s1 = (await cu.request('streamInit', { session, kind: 'digest', mechanism: sha })).stream;
  const other = await client(1, EXAMPLE_CU);
  await assert.rejects(other.request('streamUpdate', { stream: s1, data: Buffer.from('x') }), code('ERR_OPERATION_NOT_INITIALIZED'), 'another connection of the same user');
  await other.request('streamCancel', { stream: s1 });
  await cu.request('streamUpdate', { stream: s1, data: Buffer.from('still mine') });

  /* Closing the session on this node (from any connection) ends its streams here; the daemon cancels those on other nodes. */
  await other.request('closeSession', { session });
  await assert.rejects(cu.request('streamUpdate', { stream: s1, data: Buffer.from('x') }), code('ERR_OPERATION_NOT_INITIALIZED'));

  const s2 = (await cu.request('streamInit', { kind: 'digest', mechanism: sha })).stream;
  await cu.request('streamCancel', { stream: s2 });
  await assert.rejects(cu.request('streamFinal', { stream: s2 }), code('ERR_OPERATION_NOT_INITIALIZED'));

  const s3 = (await cu.request('streamInit', { kind: 'digest', mechanism: sha })).stream;
  await cu.request('logout', {});
  await assert.rejects(cu.request('streamUpdate', { stream: s3, data: Buffer.from('x') }), code('ERR_OPERATION_NOT_INITIALIZED'), 'the sign-in changed');

  /* Parts above the node's data limit are refused, and end the stream. */
  const s4 = (await cu.request('streamInit', { kind: 'digest', mechanism: sha })).stream;
  await assert.rejects(cu.request('streamUpdate', { stream: s4, data: Buffer.alloc((1 << 20) + 1) }), code('ERR_DATA_LEN_RANGE'));
  await assert.rejects(cu.request('streamFinal', { stream: s4 }), code('ERR_OPERATION_NOT_INITIALIZED'));
});
