/**
 * The node's door, with real node processes over TLS: a client that never
 * signed in can read public objects and ask for cluster information, but
 * creates, changes and deletes nothing, and cannot close or use anyone's
 * session; a signed-in stranger cannot either; the legitimate user keeps
 * working throughout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { code } from './helpers/in_process.js';
import { clusterWithClients } from './helpers/node_clients.js';

const { client } = clusterWithClients('door');

test('before sign-in: reads and cluster information are answered; nothing is created, changed or deleted', async () => {
  const cu = await client(1, EXAMPLE_CU);
  const label = attr.utf8(P.CKA_LABEL, 'public-data');
  const { handle: pub, revision } = await cu.request('createObject', { template: [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_PRIVATE, false), label, attr.bytes(P.CKA_VALUE, Buffer.from('v1'))], minRevision: 0 });
  const anon = await client(2);

  assert.equal((await anon.request('getClusterInfo', {})).nodes.length, 3);
  assert.ok((await anon.request('findObjects', { template: [label], minRevision: revision })).handles.includes(pub), 'public objects are readable');
  assert.equal((await anon.request('digest', { mechanism: { mechanism: P.CKM_SHA256 }, data: Buffer.from('x') })).digest.length, 32);

  const before = await cu.request('findObjects', { template: [] });
  await assert.rejects(anon.request('createObject', { template: [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_VALUE, Buffer.alloc(64 * 1024))] }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('setAttributeValue', { handle: pub, template: [attr.bytes(P.CKA_VALUE, Buffer.from('overwritten'))] }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('destroyObject', { handle: pub }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('copyObject', { handle: pub, template: [] }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.ulong(P.CKA_VALUE_LEN, 32)] }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('createUser', { role: 'CO', user: 'evil', password: 'evil1234' }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('unlockUser', { user: 'cu1' }), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('auditVerify', {}), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(anon.request('logout', {}), code('ERR_USER_NOT_LOGGED_IN'));

  /* The object is unchanged, nothing was added, and its owner still works with it. */
  assert.deepEqual((await cu.request('findObjects', { template: [] })).handles, before.handles);
  const v = await cu.request('getAttributeValue', { handle: pub, types: [P.CKA_VALUE] });
  assert.equal(Buffer.from(v.attributes[0]!.value).toString(), 'v1');
  await cu.request('setAttributeValue', { handle: pub, template: [attr.bytes(P.CKA_VALUE, Buffer.from('v2'))] });
});

test('sessions are bound to their user: a stranger, signed in or not, can neither close nor use one', async () => {
  const cu = await client(1, EXAMPLE_CU);
  const { session } = await cu.request('openSession', {});
  const { handle } = await cu.request('generateKey', { session, mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.ulong(P.CKA_VALUE_LEN, 16), attr.bool(P.CKA_ENCRYPT, true)] });
  const ecb = { mechanism: P.CKM_AES_ECB };
  const anon = await client(3);
  const cu2 = await client(2, { user: 'cu2', password: 'user5678' });
  /* Session numbers are small and sequential: guessing is easy, so it must not help. */
  for (const guess of [session, session - 1, session + 1, 1]) {
    await anon.request('closeSession', { session: guess }).catch(() => undefined);
    await cu2.request('closeSession', { session: guess }).catch(() => undefined);
  }
  await assert.rejects(anon.request('closeSession', { session }), code('ERR_NOT_PERMITTED'));
  await assert.rejects(cu2.request('closeSession', { session }), code('ERR_NOT_PERMITTED'));
  await assert.rejects(cu2.request('findObjects', { session, template: [] }), code('ERR_NOT_PERMITTED'));
  await assert.rejects(anon.request('findObjects', { session, template: [] }), code('ERR_NOT_PERMITTED'));
  /* The owner's session key is still there, on every node, and the owner closes it. */
  for (const node of [1, 2, 3]) {
    const c = node === 1 ? cu : await client(node, EXAMPLE_CU);
    assert.equal((await c.request('encrypt', { session, mechanism: ecb, handle, data: Buffer.alloc(16) })).data.length, 16);
  }
  await cu.request('logout', {});
  /* A connection that was signed in as the owner may still close it after signing out (C_Logout, then C_CloseSession). */
  await cu.request('closeSession', { session });
  await cu.request('login', EXAMPLE_CU);
  await assert.rejects(cu.request('encrypt', { session, mechanism: ecb, handle, data: Buffer.alloc(16) }), code('ERR_KEY_HANDLE_INVALID'));
});

test('a session opened before sign-in belongs to the first user who signs in and uses it', async () => {
  const app = await client(1);
  const { session } = await app.request('openSession', {});
  await app.request('login', EXAMPLE_CU);
  await app.request('findObjects', { session, template: [] });
  const cu2 = await client(3, { user: 'cu2', password: 'user5678' });
  await assert.rejects(cu2.request('findObjects', { session, template: [] }), code('ERR_NOT_PERMITTED'));
  await app.request('closeSession', { session });
});
