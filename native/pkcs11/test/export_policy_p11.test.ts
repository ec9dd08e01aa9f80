/**
 * The core's export and wrap table (hsm-core authz/export_policy.ts) through
 * libazcloudhsm_pkcs11.so's C_WrapKey (pkcs11js in this process), against
 * three real nodes and a real daemon: each row's refusal arrives as its
 * PKCS#11 code, and a request that satisfies the row wraps; the partition
 * policy DEFAULT_WRAP_WITH_TRUSTED (set by a CO, as mgmt_util setPolicy does)
 * makes C_WrapKey of a key without CKA_WRAP_WITH_TRUSTED need a trusted KEK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import pkcs11js from 'pkcs11js';
import { attr } from '../../../packages/hsm-core/src/objects/attributes.js';
import { connectNode } from '../../../packages/testkit/src/cluster.js';
import { p11World, MODULE, REPO } from './p11_world.js';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');
const KW = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };

const w = p11World('export', { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }, { user: 'cub', password: 'userb123', role: 'CU' }], sessionMode: 'APPLICATION' });

const handleNo = (h: Buffer) => Number(h.readBigUInt64LE(0));
const aes = (m: pkcs11js.PKCS11, s: Buffer, extra: pkcs11js.Template = []) => m.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
  ...[
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 }, { type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ].filter((a) => !extra.some((x) => x.type === a.type)),
  ...extra,
]);
const refused = (name: string) => (e: unknown) => {
  assert.ok(e instanceof pkcs11js.Pkcs11Error, String(e));
  assert.equal(e.message, name);
  return true;
};

/** A CO marks a key trusted, or cu1 shares it, over a node connection (as the mgmt_util commands do). */
async function asNode(login: { user: string; password: string }, fn: (c: Awaited<ReturnType<typeof connectNode>>) => Promise<unknown>) {
  const c = await connectNode(w.lc.nodes[0]!.port, w.lc.poCrt);
  try {
    await c.request('login', login);
    await fn(c);
  } finally {
    c.close();
  }
}

test('C_WrapKey asks the core: class, extractable and wrap-with-trusted rows refuse (owner over a node connection) with their codes; allowed wraps work', async () => {
  const m = w.p11;
  const slot = m.C_GetSlotList(true)[0]!;
  const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(s, pkcs11js.CKU_USER, 'cu1:user1234');
  const kek = aes(m, s);
  const trusted = aes(m, s);
  await asNode({ user: 'admin', password: 'adminpassword' }, (c) => c.request('setAttributeValue', { handle: handleNo(trusted), template: [{ type: pkcs11js.CKA_TRUSTED, value: Uint8Array.of(1) }] }));

  /* class: a public key is not wrapped; the private key of the pair is. */
  const pair = m.C_GenerateKeyPair(s, { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [{ type: pkcs11js.CKA_EC_PARAMS, value: P256 }, { type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_VERIFY, value: true }],
    [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_PRIVATE, value: true }]);
  assert.throws(() => m.C_WrapKey(s, KW, kek, pair.publicKey, Buffer.alloc(4096)), refused('CKR_KEY_NOT_WRAPPABLE'));
  assert.ok(m.C_WrapKey(s, KW, kek, pair.privateKey, Buffer.alloc(4096)).length > 0);

  /* extractable */
  const fixed = aes(m, s, [{ type: pkcs11js.CKA_EXTRACTABLE, value: false }]);
  assert.throws(() => m.C_WrapKey(s, KW, kek, fixed, Buffer.alloc(256)), refused('CKR_KEY_UNEXTRACTABLE'));

  /* wrap-with-trusted */
  const guarded = aes(m, s, [{ type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }]);
  assert.throws(() => m.C_WrapKey(s, KW, kek, guarded, Buffer.alloc(256)), refused('CKR_KEY_NOT_WRAPPABLE'));
  assert.equal(m.C_WrapKey(s, KW, trusted, guarded, Buffer.alloc(256)).length, 40);

  /* owner: cub, with cu1's extractable key shared to it, cannot wrap it under its own KEK (finding 5). */
  const shared = aes(m, s);
  await asNode({ user: 'cu1', password: 'user1234' }, (c) => c.request('shareKey', { handle: handleNo(shared), users: ['cub'], share: true }));
  /* Signed in as cub over a node connection (the module's re-login as another user in one process is not covered here). */
  const c = await connectNode(w.lc.nodes[1]!.port, w.lc.poCrt);
  try {
    await c.request('login', { user: 'cub', password: 'userb123' });
    const { handle: cubKek } = await c.request('generateKey', { mechanism: { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template: [attr.ulong(pkcs11js.CKA_VALUE_LEN, 32), attr.bool(pkcs11js.CKA_TOKEN, true), attr.bool(pkcs11js.CKA_WRAP, true)] });
    await assert.rejects(c.request('wrapKey', { mechanism: { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrappingHandle: cubKek, keyHandle: handleNo(shared) }), /only its owner \(cu1\) may wrap or export it/);
  } finally {
    c.close();
  }
  assert.ok(m.C_WrapKey(s, KW, kek, shared, Buffer.alloc(256)).length > 0, 'the owner wraps it through PKCS#11');

  /* default-wrap-with-trusted: a key made without CKA_WRAP_WITH_TRUSTED, before and while the partition policy is on. */
  const plain = aes(m, s);
  assert.ok(m.C_WrapKey(s, KW, kek, plain, Buffer.alloc(256)).length > 0, 'policy off: an untrusted KEK wraps it');
  await asNode({ user: 'admin', password: 'adminpassword' }, (c) => c.request('setPolicy', { name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 1 }));
  try {
    assert.throws(() => m.C_WrapKey(s, KW, kek, plain, Buffer.alloc(256)), refused('CKR_KEY_NOT_WRAPPABLE'));
    assert.equal(m.C_WrapKey(s, KW, trusted, plain, Buffer.alloc(256)).length, 40);
  } finally {
    await asNode({ user: 'admin', password: 'adminpassword' }, (c) => c.request('setPolicy', { name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 0 }));
  }
  assert.ok(m.C_WrapKey(s, KW, kek, plain, Buffer.alloc(256)).length > 0, 'policy off again');
  m.C_Logout(s);
  m.C_CloseSession(s);
});

/**
 * A second application process with its own copy of the module, signed in as
 * cub (one process's module signs in one user at a time here): its C_WrapKey
 * of a key shared to cub. Prints one JSON line.
 */
const CUB_APP = `
import pkcs11js from 'pkcs11js';
const [modulePath, sharedHandle] = process.argv.slice(1);
const m = new pkcs11js.PKCS11();
m.load(modulePath);
m.C_Initialize();
const out = {};
try {
  const s = m.C_OpenSession(m.C_GetSlotList(true)[0], pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(s, pkcs11js.CKU_USER, 'cub:userb123');
  const h = Buffer.alloc(8);
  h.writeBigUInt64LE(BigInt(sharedHandle));
  const kek = m.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 }, { type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_WRAP, value: true }]);
  try {
    m.C_WrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, h, Buffer.alloc(256));
    out.wrap = 'CKR_OK';
  } catch (e) {
    out.wrap = e.message;
  }
  m.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, h);
  out.encrypted = m.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(16)).length;
  m.C_Logout(s);
} catch (e) {
  out.error = e.message;
}
m.C_Finalize();
process.stdout.write(JSON.stringify(out) + '\\n');
`;

test('owner row through the module: an application signed in as cub, C_WrapKey of cu1\'s key shared to cub under cub\'s own KEK is CKR_KEY_NOT_WRAPPABLE; cub still encrypts with it', async () => {
  const m = w.p11;
  const slot = m.C_GetSlotList(true)[0]!;
  const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(s, pkcs11js.CKU_USER, 'cu1:user1234');
  const shared = aes(m, s);
  await asNode({ user: 'cu1', password: 'user1234' }, (c) => c.request('shareKey', { handle: handleNo(shared), users: ['cub'], share: true }));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CUB_APP, MODULE, String(handleNo(shared))], { cwd: REPO, env: process.env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { wrap: 'CKR_KEY_NOT_WRAPPABLE', encrypted: 16 }, r.stderr);
  assert.ok(m.C_WrapKey(s, KW, aes(m, s), shared, Buffer.alloc(256)).length > 0, 'the owner wraps it');
  m.C_Logout(s);
  m.C_CloseSession(s);
});
