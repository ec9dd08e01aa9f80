/**
 * The export and wrap policy table, one case per row through the core's
 * wrapKey (what PKCS#11 C_WrapKey, azcloudhsm_util, the SDK and the engine
 * all reach): each row refuses with its own error, and a request that
 * satisfies it goes on. The table must not gain a row without a case here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { attr } from '../../src/objects/attributes.js';
import { Partition, type CallContext } from '../../src/partition.js';
import { EXPORT_RULES } from '../../src/authz/export_policy.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const B = (t: number, v: boolean) => attr.bool(t, v);
const KW = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const aes = (extra: ReturnType<typeof B>[] = []) => [B(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), B(P.CKA_ENCRYPT, true), B(P.CKA_WRAP, true), B(P.CKA_UNWRAP, true), B(P.CKA_EXTRACTABLE, true), ...extra];

async function setup(opts: { defaultWrapWithTrusted?: boolean } = {}) {
  const p = await Partition.open({ store: new MemoryStore(), maskingKey: crypto.randomBytes(32), config: FAST });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  await p.createUser(co, 'CU', 'cub', 'user5678');
  const cu1: CallContext = { principal: { user: 'cu1', role: 'CU' } };
  const cub: CallContext = { principal: { user: 'cub', role: 'CU' } };
  const kek = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
  const trusted = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
  await p.setAttributeValue(co, trusted, [B(P.CKA_TRUSTED, true)]);
  if (opts.defaultWrapWithTrusted) await p.setPolicy(co, 'DEFAULT_WRAP_WITH_TRUSTED', 1);
  return { p, co, cu1, cub, kek, trusted };
}

const refusedBy = (id: string) => {
  const rule = EXPORT_RULES.find((r) => r.id === id)!;
  return (e: unknown) => {
    if (e instanceof HsmError && e.code === rule.code) return true;
    throw new assert.AssertionError({ message: `row ${id}: expected ${rule.code}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
  };
};

const CASES: Record<string, () => Promise<void>> = {
  async class() {
    const { p, cu1, kek } = await setup();
    const pair = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_TOKEN, true)], [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true), B(P.CKA_EXTRACTABLE, true)]);
    await assert.rejects(p.wrapKey(cu1, KW, kek, pair.publicHandle), refusedBy('class'));
    assert.ok((await p.wrapKey(cu1, KW, kek, pair.privateHandle)).length > 0, 'the private key of the pair wraps');
  },
  async owner() {
    /* Finding 5 of the security review: cub, with cu1's extractable key shared to it, wrapped it under its own key. */
    const { p, cu1, cub, kek } = await setup();
    const shared = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
    await p.shareKey(cu1, shared, ['cub'], true);
    const cubKek = await p.generateKey(cub, { mechanism: P.CKM_AES_KEY_GEN }, aes());
    await assert.rejects(p.wrapKey(cub, KW, cubKek, shared), (e: unknown) => refusedBy('owner')(e) && /only its owner \(cu1\)/.test((e as Error).message));
    assert.equal((await p.encrypt(cub, { mechanism: P.CKM_AES_ECB }, shared, Buffer.alloc(16))).length, 16, 'cub still uses the shared key');
    assert.ok((await p.wrapKey(cu1, KW, kek, shared)).length > 0, 'the owner wraps it');
  },
  async extractable() {
    const { p, cu1, kek } = await setup();
    const fixed = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [B(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), B(P.CKA_EXTRACTABLE, false)]);
    await assert.rejects(p.wrapKey(cu1, KW, kek, fixed), refusedBy('extractable'));
  },
  async 'wrap-with-trusted'() {
    const { p, cu1, kek, trusted } = await setup();
    const guarded = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes([B(P.CKA_WRAP_WITH_TRUSTED, true)]));
    await assert.rejects(p.wrapKey(cu1, KW, kek, guarded), refusedBy('wrap-with-trusted'));
    assert.ok((await p.wrapKey(cu1, KW, trusted, guarded)).length > 0);
  },
  async 'default-wrap-with-trusted'() {
    /* A key made without CKA_WRAP_WITH_TRUSTED, wrapped before and after a CO turns the partition policy on, and off again. */
    const { p, co, cu1, kek, trusted } = await setup();
    const plain = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
    assert.ok((await p.wrapKey(cu1, KW, kek, plain)).length > 0, 'policy off (the default): an untrusted KEK wraps it');
    await p.setPolicy(co, 'DEFAULT_WRAP_WITH_TRUSTED', 1);
    await assert.rejects(p.wrapKey(cu1, KW, kek, plain), (e: unknown) => refusedBy('default-wrap-with-trusted')(e) && /DEFAULT_WRAP_WITH_TRUSTED/.test((e as Error).message));
    assert.ok((await p.wrapKey(cu1, KW, trusted, plain)).length > 0);
    await p.setPolicy(co, 'DEFAULT_WRAP_WITH_TRUSTED', 0);
    assert.ok((await p.wrapKey(cu1, KW, kek, plain)).length > 0, 'policy off again');
    /* Another partition without the policy wraps with an untrusted KEK. */
    const open = await setup();
    const k2 = await open.p.generateKey(open.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
    assert.ok((await open.p.wrapKey(open.cu1, KW, open.kek, k2)).length > 0);
  },
};

test('every row of the export table has a case', () => {
  assert.deepEqual(EXPORT_RULES.map((r) => r.id).sort(), Object.keys(CASES).sort());
});

test('DEFAULT_WRAP_WITH_TRUSTED is partition state: set by a CO only, in one audited transaction, seen by every partition over the store', async () => {
  const store = new MemoryStore();
  const maskingKey = crypto.randomBytes(32);
  const p = await Partition.open({ store, maskingKey, config: FAST });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  const cu1: CallContext = { principal: { user: 'cu1', role: 'CU' } };
  const other = await Partition.open({ store, maskingKey, config: FAST });
  assert.deepEqual(await other.getPolicy(), [{ name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 0 }], 'the default is 0');
  await assert.rejects(p.setPolicy(cu1, 'DEFAULT_WRAP_WITH_TRUSTED', 1), (e: unknown) => e instanceof HsmError && e.code === 'ERR_NOT_PERMITTED');
  await assert.rejects(p.setPolicy({}, 'DEFAULT_WRAP_WITH_TRUSTED', 1), (e: unknown) => e instanceof HsmError && e.code === 'ERR_USER_NOT_LOGGED_IN');
  await assert.rejects(p.setPolicy(co, 'NO_SUCH_POLICY', 1), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD' && /known: DEFAULT_WRAP_WITH_TRUSTED/.test(e.message));
  await assert.rejects(p.setPolicy(co, 'DEFAULT_WRAP_WITH_TRUSTED', 2), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD' && /0 or 1/.test(e.message));
  const before = (await p.auditRecords()).length;
  assert.deepEqual(await p.setPolicy({ ...co, requestId: 'policy-req-1' }, 'default_wrap_with_trusted', 1), [{ name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 1 }]);
  /* The same request id again (mgmt_util sends one to every server): no second change. */
  await other.setPolicy({ ...co, requestId: 'policy-req-1' }, 'DEFAULT_WRAP_WITH_TRUSTED', 1);
  const added = (await p.auditRecords()).slice(before);
  assert.deepEqual(added.map((r) => [r.action, r.user, r.detail]), [['setPolicy', 'admin', 'DEFAULT_WRAP_WITH_TRUSTED=1']]);
  await other.state.sync();
  assert.deepEqual(await other.getPolicy(), [{ name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 1 }], 'the other partition reads it from the store');
  assert.equal((await other.partitionRecord()).policy?.defaultWrapWithTrusted, true);
  /* And decides by it: a key without CKA_WRAP_WITH_TRUSTED, an untrusted KEK. */
  const kek = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
  const plain = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aes());
  await other.state.sync();
  await assert.rejects(other.wrapKey(cu1, KW, kek, plain), refusedBy('default-wrap-with-trusted'));
  p.close();
  other.close();
});

for (const rule of EXPORT_RULES) {
  test(`row ${rule.id}: ${rule.says}`, async () => CASES[rule.id]!());
}
