/**
 * The partition core through its public entry points, over the in-memory
 * store (the same suite runs over SQLite in packages/hsm-node/test).
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { MemoryStore } from '../../store/src/memory.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { attr, type Attribute } from '../src/objects/attributes.js';
import { Partition, FIRST_HANDLE, PATH, type CallContext } from '../src/partition.js';
import { Barrier } from '../src/barrier/barrier.js';

/** Fixtures live beside the sources; tests run from dist/, so look in both places. */
function fixture(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const src = join(here, 'fixtures', name);
  return existsSync(src) ? src : join(here, '..', '..', '..', '..', 'packages', 'hsm-core', 'test', 'fixtures', name);
}

export const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const code = (c: string) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c) return true;
  throw new assert.AssertionError({ message: `expected ${c}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};
const B = (t: number, v: boolean) => attr.bool(t, v);
const U = (t: number, v: number) => attr.ulong(t, v);

export async function claimedPartition(store: KeyValueStore = new MemoryStore(), maskingKey = crypto.randomBytes(32)) {
  const p = await Partition.open({ store, maskingKey, config: FAST });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co = await p.login('admin', 'adminpassword', 'CO');
  await p.createUser({ principal: co }, 'CU', 'cu1', 'user1234');
  await p.createUser({ principal: co }, 'CU', 'cu2', 'user5678');
  const cu1 = await p.login('cu1', 'user1234', 'CU');
  const cu2 = await p.login('cu2', 'user5678', 'CU');
  return { p, store, maskingKey, co: { principal: co } as CallContext, cu1: { principal: cu1 } as CallContext, cu2: { principal: cu2 } as CallContext };
}

export const aesTemplate = (extra: Attribute[] = []): Attribute[] => [
  B(P.CKA_TOKEN, true), U(P.CKA_VALUE_LEN, 32), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true), B(P.CKA_WRAP, true), B(P.CKA_UNWRAP, true), ...extra,
];

/** A copy with the first bit inverted: always a different ciphertext (setting a byte to a fixed value is a no-op 1 time in 256). */
function flipFirstBit(b: Uint8Array): Buffer {
  const out = Buffer.from(b);
  out[0] = (out[0] ?? 0) ^ 0x80;
  return out;
}

/** Keys and version numbers of everything in the store: equal snapshots mean nothing changed. */
async function snapshot(store: KeyValueStore): Promise<string> {
  return (await store.list('')).map((e) => `${e.key}@${e.version}`).join('\n');
}

describe('users and sign-in', () => {
  test('factory PRECO claims the partition by becoming CO; CO creates CUs', async () => {
    const p = await Partition.open({ store: new MemoryStore(), maskingKey: crypto.randomBytes(32), config: FAST });
    const preco = await p.login('admin', 'tenantadmin');
    assert.deepEqual(preco, { user: 'admin', role: 'PRECO' });
    await assert.rejects(p.createUser({ principal: preco }, 'CU', 'cu1', 'user1234'), code('ERR_NOT_PERMITTED'));
    const info = await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
    assert.equal(info.role, 'CO');
    await assert.rejects(p.login('admin', 'tenantadmin'), code('ERR_LOGIN_FAILED'));
    const co = await p.login('admin', 'adminpassword', 'CO');
    await p.createUser({ principal: co }, 'CU', 'cu1', 'user1234');
    assert.deepEqual((await p.listUsers()).map((u) => [u.id, u.name, u.role]), [[1, 'admin', 'CO'], [2, 'cu1', 'CU']]);
    await assert.rejects(p.createUser({ principal: co }, 'CU', 'cu1', 'other123'), code('ERR_USER_EXISTS'));
    await assert.rejects(p.createUser({ principal: co }, 'PRECO', 'x1', 'other123'), code('ERR_USER_TYPE_INVALID'));
    await assert.rejects(p.createUser({ principal: co }, 'BOSS', 'x1', 'other123'), code('ERR_USER_TYPE_INVALID'));
    const cu = await p.login('cu1', 'user1234', 'CU');
    await assert.rejects(p.createUser({ principal: cu }, 'CU', 'cu9', 'user1234'), code('ERR_NOT_PERMITTED'));
    await assert.rejects(p.createUser({}, 'CU', 'cu9', 'user1234'), code('ERR_USER_NOT_LOGGED_IN'));
  });

  test("names and passwords with # : ; ' are refused and nothing is stored", async () => {
    const { p, store, co } = await claimedPartition();
    const before = await snapshot(store);
    for (const ch of ['#', ':', ';', "'"]) {
      await assert.rejects(p.createUser(co, 'CU', `bad${ch}name`, 'user1234'), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD' && /not allowed/.test(e.message));
      await assert.rejects(p.createUser(co, 'CU', 'goodname', `pass${ch}word`), (e: unknown) => e instanceof HsmError && e.code === 'ERR_PIN_INVALID' && !e.message.includes(`pass${ch}word`));
    }
    await assert.rejects(p.createUser(co, 'CU', 'goodname', 'short'), code('ERR_PIN_LEN_RANGE'));
    await assert.rejects(p.createUser(co, 'CU', 'x'.repeat(33), 'user1234'), code('ERR_ARGUMENTS_BAD'));
    assert.equal(await snapshot(store), before);
  });

  test('wrong password, unknown user and wrong role fail alike with 0xA3', async () => {
    const { p } = await claimedPartition();
    for (const [u, pw, r] of [['cu1', 'wrongpass', 'CU'], ['nobody', 'user1234', 'CU'], ['cu1', 'user1234', 'CO'], ['bad:name', 'x', undefined]] as const) {
      await assert.rejects(p.login(u, pw, r), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED' && e.ckrv === 0xa3 && e.message === 'login failed: wrong user name, password or PIN format');
    }
  });

  test('five failures lock the account, counted in the store across nodes; a CO unlocks', async () => {
    const store = new MemoryStore();
    const { p, co, maskingKey } = await claimedPartition(store);
    const node2 = await Partition.open({ store, maskingKey, config: FAST });
    for (let i = 0; i < 3; i++) await assert.rejects(p.login('cu1', 'wrong-' + i), code('ERR_LOGIN_FAILED'));
    await assert.rejects(node2.login('cu1', 'wrong-3'), code('ERR_LOGIN_FAILED'));
    assert.equal((await node2.getUserInfo('cu1')).failures, 4);
    await assert.rejects(node2.login('cu1', 'wrong-4'), code('ERR_LOGIN_FAILED'));
    /* Now locked everywhere, and the right password gets a distinct error. */
    await assert.rejects(p.login('cu1', 'user1234'), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ACCOUNT_LOCKED' && e.ckrv === P.CKR_PIN_LOCKED);
    await assert.rejects(node2.login('cu1', 'user1234'), code('ERR_ACCOUNT_LOCKED'));
    await assert.rejects(p.unlockUser({ principal: { user: 'cu2', role: 'CU' } }, 'cu1'), code('ERR_NOT_PERMITTED'));
    await node2.unlockUser(co, 'cu1');
    assert.deepEqual(await p.login('cu1', 'user1234'), { user: 'cu1', role: 'CU' });
    /* A success resets the count. */
    await assert.rejects(p.login('cu1', 'nope1234'), code('ERR_LOGIN_FAILED'));
    await p.login('cu1', 'user1234');
    assert.equal((await p.getUserInfo('cu1')).failures, 0);
  });

  test('lockout cannot be raced: of 40 concurrent wrong passwords on three partitions, at most the limit are checked', async () => {
    const store = new MemoryStore();
    const { p, co, maskingKey } = await claimedPartition(store);
    await p.createUser(co, 'CU', 'cu9', 'user9999');
    const nodes = [p, await Partition.open({ store, maskingKey, config: FAST }), await Partition.open({ store, maskingKey, config: FAST })];
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => nodes[i % 3]!.login('cu9', i === 39 ? 'user9999' : `wrong-${i}`)));
    const codes = results.map((r) => (r.status === 'rejected' && r.reason instanceof HsmError ? r.reason.code : 'ok'));
    const checked = codes.filter((c) => c === 'ERR_LOGIN_FAILED').length;
    assert.ok(checked <= 5, `${checked} wrong passwords were checked`);
    assert.equal(checked + codes.filter((c) => c === 'ERR_ACCOUNT_LOCKED').length + codes.filter((c) => c === 'ok').length, 40);
    if (!codes.includes('ok')) {
      assert.equal(checked, 5);
      assert.equal((await nodes[1]!.getUserInfo('cu9')).locked, true);
      await assert.rejects(nodes[2]!.login('cu9', 'user9999'), code('ERR_ACCOUNT_LOCKED'));
    }
    const audited = (await p.auditRecords(1, 100000)).filter((r) => r.user === 'cu9' && r.action === 'login' && r.result === 'ERR_LOGIN_FAILED');
    assert.equal(audited.length, checked);
  });

  test('the lockout limit is configurable', async () => {
    const store = new MemoryStore();
    const key = crypto.randomBytes(32);
    const { co } = await claimedPartition(store, key);
    const strict = await Partition.open({ store, maskingKey: key, config: { ...FAST, maxLoginFailures: 2 } });
    await strict.createUser(co, 'CU', 'cu3', 'user1234');
    await assert.rejects(strict.login('cu3', 'bad12345'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(strict.login('cu3', 'bad12345'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(strict.login('cu3', 'user1234'), code('ERR_ACCOUNT_LOCKED'));
  });

  test('password changes: own, CO for a CU, never a CU for another', async () => {
    const { p, co, cu1, cu2 } = await claimedPartition();
    await p.changePassword(cu1, 'CU', 'cu1', 'newpass12');
    await p.login('cu1', 'newpass12');
    await assert.rejects(p.changePassword(cu2, 'CU', 'cu1', 'hijack123'), code('ERR_NOT_PERMITTED'));
    await p.changePassword(co, 'CU', 'cu1', 'reset1234');
    await p.login('cu1', 'reset1234');
    await assert.rejects(p.changePassword(co, 'CU', 'nosuch', 'reset1234'), code('ERR_USER_NOT_FOUND'));
  });

  test('a CU that owns keys cannot be deleted; then it can', async () => {
    const { p, co, cu2 } = await claimedPartition();
    const h = await p.generateKey(cu2, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    await assert.rejects(p.deleteUser(co, 'cu2'), code('ERR_NOT_PERMITTED'));
    await p.destroyObject(cu2, h);
    await p.deleteUser(co, 'cu2');
    await assert.rejects(p.login('cu2', 'user5678'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(p.deleteUser(co, 'admin'), code('ERR_NOT_PERMITTED'));
  });
});

describe('objects, keys and policy', () => {
  let ctx: Awaited<ReturnType<typeof claimedPartition>>;
  before(async () => {
    ctx = await claimedPartition();
  });

  test('handles are decimal from 262144 upward and never reused', async () => {
    const { p, cu1 } = ctx;
    const a = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    assert.ok(a >= FIRST_HANDLE);
    await p.destroyObject(cu1, a);
    const b = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    assert.ok(b > a, 'a deleted handle is not reused');
    const pair = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_VERIFY, true)],
      [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
    assert.equal(pair.privateHandle, pair.publicHandle + 1);
    assert.equal(pair.publicHandle, b + 1);
  });

  test('AES, RSA and EC keys work and their usage flags are enforced', async () => {
    const { p, cu1 } = ctx;
    const aes = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_SIGN, false)]));
    const iv = crypto.randomBytes(12);
    const gcm = { mechanism: P.CKM_AES_GCM, params: { iv, tagBits: 128, aad: Buffer.from('aad') } };
    const ct = await p.encrypt(cu1, gcm, aes, Buffer.from('hello hsm'));
    assert.equal((await p.decrypt(cu1, gcm, aes, ct)).toString(), 'hello hsm');

    const rsa = await p.generateKeyPair(cu1, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [B(P.CKA_TOKEN, true), U(P.CKA_MODULUS_BITS, 2048), B(P.CKA_VERIFY, true), B(P.CKA_ENCRYPT, true)],
      [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true), B(P.CKA_DECRYPT, false)]);
    const sig = await p.sign(cu1, { mechanism: P.CKM_SHA256_RSA_PKCS }, rsa.privateHandle, Buffer.from('msg'));
    await p.verify(cu1, { mechanism: P.CKM_SHA256_RSA_PKCS }, rsa.publicHandle, Buffer.from('msg'), sig);
    await assert.rejects(p.verify(cu1, { mechanism: P.CKM_SHA256_RSA_PKCS }, rsa.publicHandle, Buffer.from('msh'), sig), code('ERR_SIGNATURE_INVALID'));
    /* The public key as stored verifies with plain node:crypto too. */
    const [{ value: spki }] = await p.getAttributeValue(cu1, rsa.publicHandle, [P.CKA_PUBLIC_KEY_INFO]);
    assert.ok(crypto.verify('sha256', Buffer.from('msg'), crypto.createPublicKey({ key: Buffer.from(spki!), format: 'der', type: 'spki' }), sig));

    const oaep = { mechanism: P.CKM_RSA_PKCS_OAEP, params: { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256 } };
    const enc = await p.encrypt(cu1, oaep, rsa.publicHandle, Buffer.from('secret'));
    await assert.rejects(p.decrypt(cu1, oaep, rsa.privateHandle, enc), code('ERR_KEY_FUNCTION_NOT_PERMITTED'));
    await assert.rejects(p.sign(cu1, { mechanism: P.CKM_SHA256_HMAC }, aes, Buffer.from('x')), code('ERR_KEY_TYPE_INCONSISTENT'));
    await assert.rejects(p.sign(cu1, { mechanism: P.CKM_ECDSA_SHA256 }, rsa.privateHandle, Buffer.from('x')), code('ERR_KEY_TYPE_INCONSISTENT'));
    await assert.rejects(p.sign(cu1, { mechanism: 0x7ffffff0 }, rsa.privateHandle, Buffer.from('x')), code('ERR_MECHANISM_INVALID'));
    await assert.rejects(p.sign(cu1, { mechanism: P.CKM_SHA256_RSA_PKCS }, rsa.publicHandle, Buffer.from('x')), code('ERR_KEY_FUNCTION_NOT_PERMITTED'));

    const ec = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06052b81040022', 'hex')), B(P.CKA_VERIFY, true)],
      [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true), B(P.CKA_DERIVE, true)]);
    const esig = await p.sign(cu1, { mechanism: P.CKM_ECDSA_SHA384 }, ec.privateHandle, Buffer.from('m'));
    assert.equal(esig.length, 96);
    await p.verify(cu1, { mechanism: P.CKM_ECDSA_SHA384 }, ec.publicHandle, Buffer.from('m'), esig);
  });

  test('every generated key type: RSA 2048–4096 step 256, EC curves, Ed25519, X25519, AES, DES3, generic', async () => {
    const { p, cu1 } = ctx;
    await assert.rejects(p.generateKeyPair(cu1, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), U(P.CKA_MODULUS_BITS, 1024)], [B(P.CKA_TOKEN, true)]), code('ERR_KEY_SIZE_RANGE'));
    await assert.rejects(p.generateKeyPair(cu1, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), U(P.CKA_MODULUS_BITS, 2100)], [B(P.CKA_TOKEN, true)]), code('ERR_KEY_SIZE_RANGE'));
    for (const oid of ['06082a8648ce3d030107', '06052b81040022', '06052b81040023', '06052b8104000a', '06032b6570', '06032b656e']) {
      const pair = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from(oid, 'hex'))], [B(P.CKA_TOKEN, true)]);
      const [kt, params, point] = await p.getAttributeValue(cu1, pair.publicHandle, [P.CKA_KEY_TYPE, P.CKA_EC_PARAMS, P.CKA_EC_POINT]);
      assert.equal(Buffer.from(params!.value!).toString('hex'), oid);
      assert.ok(point!.value!.length > 32);
      assert.equal(Buffer.from(kt!.value!).readBigUInt64LE(0), BigInt(oid === '06032b6570' ? P.CKK_EC_EDWARDS : oid === '06032b656e' ? P.CKK_EC_MONTGOMERY : P.CKK_EC));
    }
    const ed = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_EDWARDS_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06032b6570', 'hex')), B(P.CKA_VERIFY, true)], [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
    const edSig = await p.sign(cu1, { mechanism: P.CKM_EDDSA }, ed.privateHandle, Buffer.from('ed'));
    await p.verify(cu1, { mechanism: P.CKM_EDDSA }, ed.publicHandle, Buffer.from('ed'), edSig);
    await assert.rejects(p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06052b81040099', 'hex'))], []), code('ERR_CURVE_NOT_SUPPORTED'));
    for (const [mech, len] of [[P.CKM_AES_KEY_GEN, 16], [P.CKM_AES_KEY_GEN, 24], [P.CKM_DES3_KEY_GEN, undefined], [P.CKM_GENERIC_SECRET_KEY_GEN, 800]] as const) {
      const h = await p.generateKey(cu1, { mechanism: mech }, [B(P.CKA_TOKEN, true), ...(len ? [U(P.CKA_VALUE_LEN, len)] : [])]);
      const [vl, value, kcv] = await p.getAttributeValue(cu1, h, [P.CKA_VALUE_LEN, P.CKA_VALUE, P.CKA_CHECK_VALUE]);
      assert.equal(Number(Buffer.from(vl!.value!).readBigUInt64LE(0)), len ?? 24);
      assert.equal(value!.rv, P.CKR_ATTRIBUTE_SENSITIVE);
      assert.equal(kcv!.value!.length, 3);
    }
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 20)]), code('ERR_KEY_SIZE_RANGE'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, []), code('ERR_TEMPLATE_INCOMPLETE'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN }, [U(P.CKA_VALUE_LEN, 801)]), code('ERR_KEY_SIZE_RANGE'));
  });

  test('keys are always sensitive and private; CKA_EXTRACTABLE and CKA_ID are fixed', async () => {
    const { p, cu1 } = ctx;
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_SENSITIVE, false)])), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_PRIVATE, false)])), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_LOCAL, true)])), code('ERR_ATTRIBUTE_READ_ONLY'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([attr.bytes(P.CKA_VALUE, Buffer.alloc(32))])), code('ERR_TEMPLATE_INCONSISTENT'));
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_TRUSTED, true)])), code('ERR_ATTRIBUTE_READ_ONLY'));
    const h = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([attr.bytes(P.CKA_ID, Buffer.from('01', 'hex')), attr.utf8(P.CKA_LABEL, 'k1')]));
    const got = await p.getAttributeValue(cu1, h, [P.CKA_SENSITIVE, P.CKA_PRIVATE, P.CKA_EXTRACTABLE, P.CKA_LOCAL, P.CKA_ALWAYS_SENSITIVE, P.CKA_NEVER_EXTRACTABLE, P.CKA_KEY_GEN_MECHANISM, P.CKA_MODULUS]);
    assert.deepEqual(got.slice(0, 6).map((r) => r.value![0]), [1, 1, 1, 1, 1, 0]);
    assert.equal(Number(Buffer.from(got[6]!.value!).readBigUInt64LE(0)), P.CKM_AES_KEY_GEN);
    assert.equal(got[7]!.rv, P.CKR_ATTRIBUTE_TYPE_INVALID);
    await assert.rejects(p.setAttributeValue(cu1, h, [B(P.CKA_EXTRACTABLE, false)]), code('ERR_ATTRIBUTE_READ_ONLY'));
    await assert.rejects(p.setAttributeValue(cu1, h, [attr.bytes(P.CKA_ID, Buffer.from('02', 'hex'))]), code('ERR_ATTRIBUTE_READ_ONLY'));
    await assert.rejects(p.setAttributeValue(cu1, h, [B(P.CKA_SENSITIVE, false)]), code('ERR_ATTRIBUTE_READ_ONLY'));
    await p.setAttributeValue(cu1, h, [attr.utf8(P.CKA_LABEL, 'renamed'), B(P.CKA_SIGN, true)]);
    assert.deepEqual(await p.findObjects(cu1, [attr.utf8(P.CKA_LABEL, 'renamed')]), [h]);
  });

  test('CKA_TRUSTED only by a CO; a CO sets nothing else and uses no key; WRAP_WITH_TRUSTED is one-way', async () => {
    const { p, cu1, co } = ctx;
    const kek = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([attr.utf8(P.CKA_LABEL, 'userkek')]));
    await assert.rejects(p.setAttributeValue(cu1, kek, [B(P.CKA_TRUSTED, true)]), code('ERR_ATTRIBUTE_READ_ONLY'));
    await assert.rejects(p.setAttributeValue(co, kek, [attr.utf8(P.CKA_LABEL, 'x')]), code('ERR_NOT_PERMITTED'));
    await assert.rejects(p.encrypt(co, { mechanism: P.CKM_AES_ECB }, kek, Buffer.alloc(16)), code('ERR_NOT_PERMITTED'));
    await p.setAttributeValue(co, kek, [B(P.CKA_TRUSTED, true)]);
    assert.equal((await p.getAttributeValue(cu1, kek, [P.CKA_TRUSTED]))[0]!.value![0], 1);

    const plain = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    const guarded = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    await p.setAttributeValue(cu1, guarded, [B(P.CKA_WRAP_WITH_TRUSTED, true)]);
    await assert.rejects(p.setAttributeValue(cu1, guarded, [B(P.CKA_WRAP_WITH_TRUSTED, false)]), code('ERR_ATTRIBUTE_READ_ONLY'));
    const kw = { mechanism: P.CKM_AES_KEY_WRAP };
    await assert.rejects(p.wrapKey(cu1, kw, plain, guarded), code('ERR_KEY_NOT_WRAPPABLE'));
    const wrapped = await p.wrapKey(cu1, kw, kek, guarded);
    assert.equal(wrapped.length, 40);
    const back = await p.unwrapKey(cu1, kw, kek, wrapped, [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), B(P.CKA_TOKEN, true), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true)]);
    const [a, b] = await Promise.all([guarded, back].map((h) => p.getAttributeValue(cu1, h, [P.CKA_CHECK_VALUE])));
    assert.deepEqual(a![0]!.value, b![0]!.value, 'same key after the round trip');
    const [local] = await p.getAttributeValue(cu1, back, [P.CKA_LOCAL]);
    assert.equal(local!.value![0], 0);
    await assert.rejects(p.unwrapKey(cu1, kw, kek, flipFirstBit(wrapped), [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), B(P.CKA_TOKEN, true)]), code('ERR_WRAPPED_KEY_INVALID'));
  });

  test('non-extractable keys cannot be wrapped; private keys wrap as PKCS#8', async () => {
    const { p, cu1 } = ctx;
    const kek = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    const fixed = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([B(P.CKA_EXTRACTABLE, false)]));
    await assert.rejects(p.wrapKey(cu1, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kek, fixed), code('ERR_KEY_UNEXTRACTABLE'));
    const ec = await p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_VERIFY, true)], [B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
    const w = await p.wrapKey(cu1, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kek, ec.privateHandle);
    const h = await p.unwrapKey(cu1, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kek, w, [U(P.CKA_CLASS, P.CKO_PRIVATE_KEY), U(P.CKA_KEY_TYPE, P.CKK_EC), B(P.CKA_TOKEN, true), B(P.CKA_SIGN, true)]);
    const sig = await p.sign(cu1, { mechanism: P.CKM_ECDSA_SHA256 }, h, Buffer.from('same key'));
    await p.verify(cu1, { mechanism: P.CKM_ECDSA_SHA256 }, ec.publicHandle, Buffer.from('same key'), sig);
    await assert.rejects(p.unwrapKey(cu1, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kek, w, [U(P.CKA_CLASS, P.CKO_PRIVATE_KEY), U(P.CKA_KEY_TYPE, P.CKK_RSA), B(P.CKA_TOKEN, true)]), code('ERR_WRAPPED_KEY_INVALID'));
  });

  test('ECDH1 derivation gives both parties the same key', async () => {
    const { p, cu1 } = ctx;
    const mk = () => p.generateKeyPair(cu1, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex'))], [B(P.CKA_TOKEN, true), B(P.CKA_DERIVE, true)]);
    const [a, b] = [await mk(), await mk()];
    const pointOf = async (h: number) => (await p.getAttributeValue(cu1, h, [P.CKA_EC_POINT]))[0]!.value!;
    const tpl = [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), U(P.CKA_VALUE_LEN, 32), B(P.CKA_TOKEN, true), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true)];
    const ka = await p.deriveKey(cu1, { mechanism: P.CKM_ECDH1_DERIVE, params: { kdf: P.CKD_NULL, publicData: await pointOf(b.publicHandle) } }, a.privateHandle, tpl);
    const kb = await p.deriveKey(cu1, { mechanism: P.CKM_ECDH1_DERIVE, params: { kdf: P.CKD_NULL, publicData: await pointOf(a.publicHandle) } }, b.privateHandle, tpl);
    const [ca, cb] = await Promise.all([ka, kb].map(async (h) => (await p.getAttributeValue(cu1, h, [P.CKA_CHECK_VALUE]))[0]!.value));
    assert.deepEqual(ca, cb);
    await assert.rejects(p.deriveKey(cu1, { mechanism: P.CKM_ECDH1_DERIVE, params: { kdf: P.CKD_NULL, publicData: await pointOf(b.publicHandle) } }, a.publicHandle, tpl), code('ERR_KEY_FUNCTION_NOT_PERMITTED'));
  });

  test('ownership: the owner shares and unshares; sharers use but cannot delete; strangers see nothing', async () => {
    const { p, cu1, cu2 } = ctx;
    const h = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate([attr.utf8(P.CKA_LABEL, 'shared-key')]));
    await assert.rejects(p.encrypt(cu2, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    assert.deepEqual(await p.findObjects(cu2, [attr.utf8(P.CKA_LABEL, 'shared-key')]), []);
    await assert.rejects(p.shareKey(cu2, h, ['cu2'], true), code('ERR_KEY_HANDLE_INVALID'));
    await assert.rejects(p.shareKey(cu1, h, ['nobody'], true), code('ERR_USER_NOT_FOUND'));
    await assert.rejects(p.shareKey(cu1, h, ['admin'], true), code('ERR_USER_NOT_FOUND'));
    await p.shareKey(cu1, h, ['cu2'], true);
    assert.deepEqual(await p.findObjects(cu2, [attr.utf8(P.CKA_LABEL, 'shared-key')]), [h]);
    const ct = await p.encrypt(cu2, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16));
    assert.equal(ct.length, 16);
    await assert.rejects(p.destroyObject(cu2, h), code('ERR_NOT_PERMITTED'));
    await assert.rejects(p.setAttributeValue(cu2, h, [attr.utf8(P.CKA_LABEL, 'mine')]), code('ERR_NOT_PERMITTED'));
    await p.shareKey(cu1, h, ['cu2'], false);
    await assert.rejects(p.encrypt(cu2, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    await p.destroyObject(cu1, h);
    await assert.rejects(p.getAttributeValue(cu1, h, [P.CKA_LABEL]), code('ERR_OBJECT_HANDLE_INVALID'));
  });

  test('certificates and data objects are public: created and found without sign-in', async () => {
    const { p, cu1 } = ctx;
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    /* A real certificate, made once with `openssl req -x509` (test/fixtures). */
    const der = new crypto.X509Certificate(readFileSync(fixture('ec-selfsigned.pem'))).raw;
    const cert = await p.createObject({}, [U(P.CKA_CLASS, P.CKO_CERTIFICATE), U(P.CKA_CERTIFICATE_TYPE, P.CKC_X_509), B(P.CKA_TOKEN, true), attr.bytes(P.CKA_SUBJECT, Buffer.from('3000', 'hex')), attr.bytes(P.CKA_VALUE, der), attr.utf8(P.CKA_LABEL, 'ca-cert')]);
    assert.deepEqual(await p.findObjects({}, [attr.utf8(P.CKA_LABEL, 'ca-cert')]), [cert]);
    assert.deepEqual((await p.getAttributeValue({}, cert, [P.CKA_VALUE]))[0]!.value, der);
    await assert.rejects(p.createObject({}, [U(P.CKA_CLASS, P.CKO_CERTIFICATE), U(P.CKA_CERTIFICATE_TYPE, P.CKC_X_509), B(P.CKA_TOKEN, true), attr.bytes(P.CKA_SUBJECT, Buffer.from('3000', 'hex')), attr.bytes(P.CKA_VALUE, Buffer.from('not a cert'))]), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    await assert.rejects(p.createObject({}, [U(P.CKA_CLASS, P.CKO_CERTIFICATE), B(P.CKA_TOKEN, true)]), code('ERR_TEMPLATE_INCOMPLETE'));
    await assert.rejects(p.createObject({}, [U(P.CKA_CLASS, P.CKO_PUBLIC_KEY), U(P.CKA_KEY_TYPE, P.CKK_EC), B(P.CKA_TOKEN, true)]), code('ERR_USER_NOT_LOGGED_IN'));
    /* Keys from components: a public EC key, a secret AES key. */
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const pub = await p.createObject(cu1, [U(P.CKA_CLASS, P.CKO_PUBLIC_KEY), U(P.CKA_KEY_TYPE, P.CKK_EC), B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bytes(P.CKA_EC_POINT, Buffer.concat([Buffer.from([4, 65]), point]))]);
    assert.ok(pub > 0);
    await assert.rejects(p.createObject(cu1, [U(P.CKA_CLASS, P.CKO_PUBLIC_KEY), U(P.CKA_KEY_TYPE, P.CKK_EC), B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bytes(P.CKA_EC_POINT, Buffer.concat([Buffer.from([4, 65, 4]), Buffer.alloc(64, 7)]))]), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    await assert.rejects(p.createObject(cu1, [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), B(P.CKA_TOKEN, true), attr.bytes(P.CKA_VALUE, Buffer.alloc(17))]), code('ERR_KEY_SIZE_RANGE'));
  });

  test('session objects need a session and vanish with its lease', async () => {
    const { p, cu1, store } = ctx;
    await assert.rejects(p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16)]), code('ERR_ARGUMENTS_BAD'));
    const lease = await store.grantLease(60_000);
    const s1 = { ...cu1, sessionLease: lease };
    const h = await p.generateKey(s1, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16), B(P.CKA_ENCRYPT, true)]);
    await p.encrypt(s1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16));
    await assert.rejects(p.encrypt(cu1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    await store.revokeLease(lease);
    await assert.rejects(p.encrypt(s1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
  });

  test('closeSession with a creator tag destroys that tag\'s session objects only; the session and the rest live on', async () => {
    const { p, cu1, store } = ctx;
    const lease = await p.openSession(cu1.principal, 60_000);
    const tagA = { ...cu1, sessionLease: lease, creator: 7 };
    const tagB = { ...cu1, sessionLease: lease, creator: 8 };
    const aes = [U(P.CKA_VALUE_LEN, 16), B(P.CKA_ENCRYPT, true), B(P.CKA_DESTROYABLE, false)];
    const a = await p.generateKey(tagA, { mechanism: P.CKM_AES_KEY_GEN }, aes);
    const pair = await p.generateKeyPair(tagA, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex'))], []);
    const b = await p.generateKey(tagB, { mechanism: P.CKM_AES_KEY_GEN }, aes);
    const token = await p.generateKey(tagA, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    /* Visible through the session whatever the tag (PKCS#11: every session of the application). */
    await p.encrypt(tagB, { mechanism: P.CKM_AES_ECB }, a, Buffer.alloc(16));
    await p.encrypt({ ...cu1, sessionLease: lease }, { mechanism: P.CKM_AES_ECB }, b, Buffer.alloc(16));
    await assert.rejects(p.closeSession(cu1.principal, new Set(), lease, -1), code('ERR_ARGUMENTS_BAD'));
    await assert.rejects(p.closeSession(undefined, new Set(), lease, 7), code('ERR_NOT_PERMITTED'));
    await p.closeSession(cu1.principal, new Set(), lease, 7);
    /* CKA_DESTROYABLE FALSE does not keep a session object past its session. */
    await assert.rejects(p.encrypt(tagB, { mechanism: P.CKM_AES_ECB }, a, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    for (const h of [pair.publicHandle, pair.privateHandle]) assert.equal((await store.get(PATH.object(h))), undefined);
    await p.encrypt(tagB, { mechanism: P.CKM_AES_ECB }, b, Buffer.alloc(16));
    await p.encrypt(tagB, { mechanism: P.CKM_AES_ECB }, token, Buffer.alloc(16));
    /* An unknown tag, or a closed session, finds nothing and fails nothing. */
    await p.closeSession(cu1.principal, new Set(), lease, 99);
    await p.closeSession(cu1.principal, new Set(), lease);
    await assert.rejects(p.encrypt(tagB, { mechanism: P.CKM_AES_ECB }, b, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    await p.closeSession(cu1.principal, new Set(), lease, 8);
    await p.destroyObject(cu1, token);
  });

  test('a retried request id returns the first result and creates nothing more', async () => {
    const { p, cu1, store } = ctx;
    const withId = { ...cu1, requestId: 'req-' + crypto.randomUUID() };
    const count = async () => (await store.list(PATH.objects)).length;
    const n0 = await count();
    const a = await p.generateKeyPair(withId, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex'))], [B(P.CKA_TOKEN, true)]);
    const b = await p.generateKeyPair(withId, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [B(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex'))], [B(P.CKA_TOKEN, true)]);
    assert.deepEqual(a, b);
    assert.equal(await count(), n0 + 2);
    /* Concurrent duplicates: still one result. */
    const id2 = { ...cu1, requestId: 'req-' + crypto.randomUUID() };
    const hs = await Promise.all(Array.from({ length: 5 }, () => p.generateKey(id2, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate())));
    assert.equal(new Set(hs).size, 1);
    assert.equal(await count(), n0 + 3);
    await assert.rejects(p.generateKey({ ...cu1, requestId: 'bad id!' }, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate()), code('ERR_ARGUMENTS_BAD'));
  });

  test('a retried delete (its answer lost, retried with the same request id, also on another node) answers as the first did', async () => {
    const { p, cu1, store, maskingKey } = ctx;
    const other = await Partition.open({ store, maskingKey, config: FAST });
    try {
      const h = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
      const del = { ...cu1, requestId: 'req-' + crypto.randomUUID() };
      await p.destroyObject(del, h);
      await p.destroyObject(del, h);
      await other.destroyObject(del, h);
      /* A new request for the same handle is a new delete: the object is gone. */
      await assert.rejects(p.destroyObject({ ...cu1, requestId: 'req-' + crypto.randomUUID() }, h), code('ERR_OBJECT_HANDLE_INVALID'));
      await assert.rejects(p.destroyObject(cu1, h), code('ERR_OBJECT_HANDLE_INVALID'));
      /* The id was a delete's: reusing it for another request is refused. */
      await assert.rejects(p.generateKey(del, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate()), (e: unknown) => e instanceof HsmError && e.code === 'ERR_ARGUMENTS_BAD' && /different request/.test(e.message));
    } finally {
      other.close();
    }
  });

  test('bad input gets specific errors and leaves the store unchanged', async () => {
    const { p, cu1, store } = ctx;
    const h = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    const before = await snapshot(store);
    const cases: [() => Promise<unknown>, string][] = [
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [{ type: P.CKA_TOKEN, value: Uint8Array.of(1, 1) }]), 'ERR_ATTRIBUTE_VALUE_INVALID'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [{ type: P.CKA_VALUE_LEN, value: Uint8Array.of(32) }]), 'ERR_ATTRIBUTE_VALUE_INVALID'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [{ type: 0x7ff00000, value: Uint8Array.of(1) }]), 'ERR_ATTRIBUTE_TYPE_INVALID'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [B(P.CKA_TOKEN, true), U(P.CKA_VALUE_LEN, 32), attr.bytes(P.CKA_ID, Buffer.alloc(70000))]), 'ERR_ATTRIBUTE_VALUE_INVALID'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [B(P.CKA_TOKEN, true), U(P.CKA_VALUE_LEN, 32), U(P.CKA_MODULUS_BITS, 2048)]), 'ERR_TEMPLATE_INCONSISTENT'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, [B(P.CKA_TOKEN, true), U(P.CKA_VALUE_LEN, 32), U(P.CKA_KEY_TYPE, P.CKK_DES3)]), 'ERR_TEMPLATE_INCONSISTENT'],
      [() => p.generateKey(cu1, { mechanism: 0x12345 }, aesTemplate()), 'ERR_MECHANISM_INVALID'],
      [() => p.generateKey(cu1, { mechanism: P.CKM_AES_GCM }, aesTemplate()), 'ERR_MECHANISM_INVALID'],
      [() => p.encrypt(cu1, { mechanism: P.CKM_AES_CBC, params: { iv: Buffer.alloc(3) } }, h, Buffer.alloc(16)), 'ERR_MECHANISM_PARAM_INVALID'],
      [() => p.encrypt(cu1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(2 << 20)), 'ERR_DATA_LEN_RANGE'],
      [() => p.encrypt(cu1, { mechanism: P.CKM_AES_ECB }, 5, Buffer.alloc(16)), 'ERR_KEY_HANDLE_INVALID'],
      [() => p.setAttributeValue(cu1, h, [attr.bytes(P.CKA_VALUE, Buffer.alloc(32))]), 'ERR_ATTRIBUTE_READ_ONLY'],
      [() => p.login('nobody', 'whatever1'), 'ERR_LOGIN_FAILED'],
      [() => p.generateKey({ principal: { user: 'admin', role: 'CO' } }, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate()), 'ERR_NOT_PERMITTED'],
      [() => p.generateKey({}, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate()), 'ERR_USER_NOT_LOGGED_IN'],
      [() => p.createUser(cu1, 'CU', 'cu7', 'user1234'), 'ERR_NOT_PERMITTED'],
      [() => p.generateRandom(-1), 'ERR_ARGUMENTS_BAD'],
    ];
    for (const [run, c] of cases) await assert.rejects(run(), code(c));
    /* Only audit records of the failed sign-in and key uses may have been added. */
    const after = (await snapshot(store)).split('\n').filter((l) => !l.startsWith('audit/') && !l.startsWith(PATH.auditHead) && !l.startsWith('user/nobody'));
    assert.deepEqual(after, before.split('\n').filter((l) => !l.startsWith('audit/') && !l.startsWith(PATH.auditHead)));
  });

  test('digests and random need no key', async () => {
    const { p } = ctx;
    assert.equal((await p.digest({ mechanism: P.CKM_SHA256 }, Buffer.from('abc'))).toString('hex'), crypto.createHash('sha256').update('abc').digest('hex'));
    assert.equal((await p.generateRandom(32)).length, 32);
    assert.ok(p.mechanismList().includes(P.CKM_AES_GCM));
    assert.equal(p.mechanismInfo(P.CKM_RSA_PKCS_KEY_PAIR_GEN).maxKeySize, 4096);
  });
});

describe('audit', () => {
  test('state changes and key uses are recorded in a verifiable chain; tampering is located', async () => {
    const { p, cu1, store, maskingKey } = await claimedPartition();
    const h = await p.generateKey(cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    await Promise.all(Array.from({ length: 20 }, () => p.encrypt(cu1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16))));
    await assert.rejects(p.decrypt(cu1, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(15)));
    const recs = await p.auditRecords();
    const actions = recs.map((r) => r.action);
    assert.ok(actions.includes('createUser') && actions.includes('changePswd') && actions.includes('generateKey'));
    const uses = recs.filter((r) => r.action === 'encrypt');
    assert.equal(uses.length, 20);
    assert.ok(uses.every((r) => r.user === 'cu1' && r.handles?.[0] === h && r.result === 'ok' && r.mechanism === P.CKM_AES_ECB && r.time > 0));
    assert.equal(recs.filter((r) => r.action === 'decrypt' && r.result === 'ERR_ENCRYPTED_DATA_LEN_RANGE').length, 1);
    assert.deepEqual(await p.auditVerify(), { ok: true, records: recs.length });

    /* Someone with the masking key rewrites record 5: the chain names it. */
    const victim = recs[4]!;
    const barrier = await Barrier.open(store, maskingKey);
    await barrier.put(PATH.audit(victim.seq), Buffer.from(JSON.stringify({ ...victim, user: 'mallory' })));
    const v = await p.auditVerify();
    assert.equal(v.ok, false);
    assert.equal(v.brokenAt, 5);
    /* Deleting the last record is caught too. */
    await barrier.put(PATH.audit(victim.seq), Buffer.from(JSON.stringify(victim)));
    await store.delete(PATH.audit(recs.length));
    assert.equal((await p.auditVerify()).ok, false);
  });
});

