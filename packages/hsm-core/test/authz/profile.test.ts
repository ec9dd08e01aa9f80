/**
 * The partition profiles (protocol/src/profiles.ts, hsm-core authz/profile.ts) as units: the
 * table itself, the choice at initialisation (stored, audited, never changed), and each row's
 * effect in both profiles on a real partition over the in-memory store, through the core's entry
 * points and the node's door.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { PROFILE_NAMES, PROFILE_ROWS, profileSettings, type ProfileName } from '../../../protocol/src/profiles.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { attr, type Attribute } from '../../src/objects/attributes.js';
import { Partition, type CallContext } from '../../src/partition.js';
import { admit } from '../../src/authz/door.js';
import { parseProfile, profileOf } from '../../src/authz/profile.js';
import { FAST } from '../helpers/claimed.js';

const B = (t: number, v: boolean) => attr.bool(t, v);
const U = (t: number, v: number) => attr.ulong(t, v);

const code = (c: string, message?: RegExp) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c && (!message || message.test(e.message))) return true;
  throw new assert.AssertionError({ message: `expected ${c}${message ? ` matching ${message}` : ''}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

/** A claimed partition of `profile` (undefined: none named) with the CO and cu1, and a session lease nobody signed in to. */
async function partitionOf(profile: ProfileName | undefined) {
  const store = new MemoryStore();
  const maskingKey = randomBytes(32);
  const p = await Partition.open({ store, maskingKey, config: FAST, ...(profile ? { profile } : {}) });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  const cu1: CallContext = { principal: await p.login('cu1', 'user1234', 'CU') };
  const lease = await p.openSession(undefined, 60_000);
  const nobody: CallContext = { sessionLease: lease };
  return { p, store, maskingKey, co, cu1, nobody, lease };
}

/** A template: later attributes replace earlier ones of the same type. */
const tpl = (...as: Attribute[]): Attribute[] => [...new Map(as.map((a) => [a.type, a])).values()];
const dataObject = (extra: Attribute[] = []): Attribute[] => tpl(U(P.CKA_CLASS, P.CKO_DATA), B(P.CKA_TOKEN, false), B(P.CKA_PRIVATE, false), attr.bytes(P.CKA_VALUE, Buffer.from('public')), ...extra);
const publicAes = (extra: Attribute[] = []): Attribute[] => tpl(U(P.CKA_VALUE_LEN, 32), B(P.CKA_TOKEN, false), B(P.CKA_PRIVATE, false), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true), ...extra);

describe('the profile table', () => {
  test('every row has a name, both values and what it changes; the settings are read from the rows', () => {
    assert.deepEqual([...PROFILE_NAMES], ['azure', 'standard']);
    assert.equal(new Set(PROFILE_ROWS.map((r) => r.name)).size, PROFILE_ROWS.length);
    assert.equal(new Set(PROFILE_ROWS.map((r) => r.field)).size, PROFILE_ROWS.length);
    for (const r of PROFILE_ROWS) {
      assert.match(r.name, /^[A-Z_]+$/);
      assert.ok(r.says.length > 20, r.name);
      assert.notDeepEqual(r.azure, r.standard, `${r.name}: a row is a deviation, its two values differ`);
      for (const name of PROFILE_NAMES) assert.deepEqual(profileSettings(name)[r.field], r[name]);
    }
    assert.deepEqual(Object.keys(profileSettings('azure')).sort(), PROFILE_ROWS.map((r) => r.field).sort());
  });

  test('a partition record without a profile is azure; a bad name is refused clearly', () => {
    assert.equal(profileOf(undefined), 'azure');
    assert.equal(profileOf({}), 'azure');
    assert.equal(profileOf({ profile: 'standard' }), 'standard');
    assert.equal(parseProfile('standard'), 'standard');
    assert.throws(() => parseProfile('pkcs11'), code('ERR_ARGUMENTS_BAD', /unknown partition profile "pkcs11"; known: azure, standard/));
  });
});

describe('the profile is chosen at initialisation', () => {
  test('stored in the partition record, in the audit record of the initialisation, told in hello; azure by default', async () => {
    for (const [given, want] of [[undefined, 'azure'], ['azure', 'azure'], ['standard', 'standard']] as const) {
      const { p } = await partitionOf(given);
      assert.equal(await p.profile(), want);
      assert.equal((await p.partitionRecord()).profile, given);
      const init = (await p.auditRecords()).find((r) => r.action === 'initialisePartition');
      assert.equal(init?.detail, `profile ${want}`);
      assert.deepEqual(p.profileHello(), { profile: want, wrongPinRv: want === 'azure' ? P.CKR_PIN_EXPIRED : P.CKR_PIN_INCORRECT, setPin: want === 'standard' });
      p.close();
    }
  });

  test('another node opening the partition keeps its profile; naming another one is refused', async () => {
    const { p, store, maskingKey } = await partitionOf('standard');
    const second = await Partition.open({ store, maskingKey, config: FAST });
    assert.equal(await second.profile(), 'standard');
    second.close();
    const same = await Partition.open({ store, maskingKey, config: FAST, profile: 'standard' });
    same.close();
    await assert.rejects(Partition.open({ store, maskingKey, config: FAST, profile: 'azure' }), code('ERR_PARTITION_STATE', /initialised with the profile standard; a profile is chosen once/));
    await assert.rejects(Partition.open({ store: new MemoryStore(), maskingKey, config: FAST, profile: 'nonsense' as ProfileName }), code('ERR_ARGUMENTS_BAD', /unknown partition profile/));
    p.close();
  });
});

describe('WRONG_PIN_CODE', () => {
  for (const profile of PROFILE_NAMES) {
    test(`${profile}: a wrong password, an unknown user and the wrong role answer ${profile === 'azure' ? 'ERR_LOGIN_FAILED 0xA3' : 'ERR_PIN_INCORRECT 0xA0'}; the lockout stays 0xA4`, async () => {
      const { p } = await partitionOf(profile);
      const want = profileSettings(profile).wrongPinError;
      const rv = profile === 'azure' ? P.CKR_PIN_EXPIRED : P.CKR_PIN_INCORRECT;
      for (const [user, pw, role] of [['cu1', 'wrongpassword', 'CU'], ['nobody', 'whatever1', 'CU'], ['cu1', 'user1234', 'CO'], ['bad name!', 'x', undefined]] as const) {
        await assert.rejects(p.login(user, pw, role), (e) => code(want, /login failed/)(e) && (e as HsmError).ckrv === rv);
      }
      for (let i = 0; i < 3; i++) await p.login('cu1', 'wrongpassword', 'CU').catch(() => undefined);
      await assert.rejects(p.login('cu1', 'user1234', 'CU'), (e) => code('ERR_ACCOUNT_LOCKED')(e) && (e as HsmError).ckrv === P.CKR_PIN_LOCKED);
      p.close();
    });
  }
});

describe('KEYS_ALWAYS_PRIVATE', () => {
  test('azure: a key template with CKA_PRIVATE FALSE is refused, for every way of making a key', async () => {
    const { p, cu1, lease } = await partitionOf('azure');
    const s = { ...cu1, sessionLease: lease };
    await assert.rejects(p.generateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, publicAes()), code('ERR_ATTRIBUTE_VALUE_INVALID', /CKA_PRIVATE must be TRUE/));
    await assert.rejects(p.createObject(s, [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), B(P.CKA_PRIVATE, false), attr.bytes(P.CKA_VALUE, Buffer.alloc(16))]), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    await assert.rejects(p.generateKeyPair(s, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_PRIVATE, false)], []), code('ERR_ATTRIBUTE_VALUE_INVALID'));
    p.close();
  });

  test('standard: CKA_PRIVATE as the template says (default TRUE); a public key is usable by another CU', async () => {
    const { p, co, cu1, lease } = await partitionOf('standard');
    const s = { ...cu1, sessionLease: lease };
    const h = await p.generateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, publicAes());
    assert.deepEqual((await p.getAttributeValue(s, h, [P.CKA_PRIVATE]))[0]!.value, Buffer.from([0]));
    const d = await p.generateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16), B(P.CKA_ENCRYPT, true)]);
    assert.deepEqual((await p.getAttributeValue(s, d, [P.CKA_PRIVATE]))[0]!.value, Buffer.from([1]));
    await p.createUser(co, 'CU', 'cu2', 'user5678');
    const cu2 = { principal: await p.login('cu2', 'user5678', 'CU'), sessionLease: lease };
    const ct = await p.encrypt(cu2, { mechanism: P.CKM_AES_ECB }, h, Buffer.alloc(16));
    assert.deepEqual(await p.decrypt(s, { mechanism: P.CKM_AES_ECB }, h, ct), Buffer.alloc(16));
    await assert.rejects(p.encrypt(cu2, { mechanism: P.CKM_AES_ECB }, d, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    p.close();
  });
});

describe('PUBLIC_SESSION_OBJECTS', () => {
  const ops = ['createObject', 'copyObject', 'setAttributeValue', 'destroyObject', 'generateKey', 'generateKeyPair', 'encrypt', 'decrypt', 'sign', 'verify'];

  test('the door: these operations before sign-in only in a profile with the row; the others never', () => {
    for (const op of ops) {
      assert.throws(() => admit(op, undefined, 'claimed', profileSettings('azure')), code('ERR_USER_NOT_LOGGED_IN'), op);
      assert.throws(() => admit(op, undefined, 'claimed'), code('ERR_USER_NOT_LOGGED_IN'), op);
      admit(op, undefined, 'claimed', profileSettings('standard'));
      assert.throws(() => admit(op, undefined, 'unclaimed', profileSettings('standard')), code('ERR_PARTITION_STATE'), op);
    }
    for (const op of ['wrapKey', 'unwrapKey', 'deriveKey', 'createUser', 'shareKey', 'setPolicy']) {
      assert.throws(() => admit(op, undefined, 'claimed', profileSettings('standard')), code('ERR_USER_NOT_LOGGED_IN'), op);
    }
  });

  test('azure: the door refuses these before sign-in (above); the core makes and uses no key for nobody', async () => {
    const { p, nobody, cu1, lease } = await partitionOf('azure');
    await assert.rejects(p.generateKey(nobody, { mechanism: P.CKM_AES_KEY_GEN }, publicAes()), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.generateKey(nobody, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16)]), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.createObject(nobody, [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), attr.bytes(P.CKA_VALUE, Buffer.alloc(16))]), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.createObject(nobody, dataObject([B(P.CKA_PRIVATE, true)])), code('ERR_USER_NOT_LOGGED_IN', /private object/));
    const k = await p.generateKey({ ...cu1, sessionLease: lease }, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16), B(P.CKA_ENCRYPT, true)]);
    await assert.rejects(p.encrypt(nobody, { mechanism: P.CKM_AES_ECB }, k, Buffer.alloc(16)), code('ERR_USER_NOT_LOGGED_IN'));
    p.close();
  });

  test('standard: a session not signed in creates, uses, copies, changes and destroys public session objects, keys included', async () => {
    const { p, nobody, cu1, lease } = await partitionOf('standard');
    const d = await p.createObject(nobody, dataObject([attr.bytes(P.CKA_LABEL, Buffer.from('d'))]));
    assert.deepEqual((await p.findObjects(nobody, [U(P.CKA_CLASS, P.CKO_DATA)])), [d]);
    await p.setAttributeValue(nobody, d, [attr.bytes(P.CKA_LABEL, Buffer.from('changed'))]);
    const copy = await p.copyObject(nobody, d, []);
    await p.destroyObject(nobody, copy);
    const k = await p.generateKey(nobody, { mechanism: P.CKM_AES_KEY_GEN }, publicAes());
    const ct = await p.encrypt(nobody, { mechanism: P.CKM_AES_ECB }, k, Buffer.alloc(32, 7));
    assert.deepEqual(await p.decrypt(nobody, { mechanism: P.CKM_AES_ECB }, k, ct), Buffer.alloc(32, 7));
    const pair = await p.generateKeyPair(nobody, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_PRIVATE, false), B(P.CKA_VERIFY, true)],
      [B(P.CKA_PRIVATE, false), B(P.CKA_SIGN, true)]);
    const sig = await p.sign(nobody, { mechanism: P.CKM_ECDSA_SHA256 }, pair.privateHandle, Buffer.from('m'));
    await p.verify(nobody, { mechanism: P.CKM_ECDSA_SHA256 }, pair.publicHandle, Buffer.from('m'), sig);
    /* The objects belong to nobody, and a signed-in CU of the session sees and uses them too (they are public). */
    await p.encrypt({ ...cu1, sessionLease: lease }, { mechanism: P.CKM_AES_ECB }, k, Buffer.alloc(16));
    await p.destroyObject(nobody, k);
    p.close();
  });

  test('standard: before sign-in, nothing private and nothing persistent; no private or token object is touched', async () => {
    const { p, nobody, cu1, lease } = await partitionOf('standard');
    await assert.rejects(p.createObject(nobody, dataObject([B(P.CKA_TOKEN, true)])), code('ERR_USER_NOT_LOGGED_IN', /only public session objects/));
    await assert.rejects(p.createObject(nobody, dataObject([B(P.CKA_PRIVATE, true)])), code('ERR_USER_NOT_LOGGED_IN', /only public session objects/));
    /* A key's CKA_PRIVATE defaults to TRUE: a template that does not say FALSE is a private key. */
    await assert.rejects(p.generateKey(nobody, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16)]), code('ERR_USER_NOT_LOGGED_IN', /only public session objects/));
    await assert.rejects(p.generateKey(nobody, { mechanism: P.CKM_AES_KEY_GEN }, publicAes([B(P.CKA_TOKEN, true)])), code('ERR_USER_NOT_LOGGED_IN'));
    /* cu1's public token object and its private session key: out of reach before sign-in. */
    const s = { ...cu1, sessionLease: lease };
    const token = await p.createObject(s, dataObject([B(P.CKA_TOKEN, true)]));
    await assert.rejects(p.destroyObject(nobody, token), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.setAttributeValue(nobody, token, [attr.bytes(P.CKA_LABEL, Buffer.from('x'))]), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.copyObject(nobody, token, [B(P.CKA_TOKEN, false)]), code('ERR_USER_NOT_LOGGED_IN'));
    const priv = await p.generateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, [U(P.CKA_VALUE_LEN, 16), B(P.CKA_ENCRYPT, true)]);
    await assert.rejects(p.encrypt(nobody, { mechanism: P.CKM_AES_ECB }, priv, Buffer.alloc(16)), code('ERR_KEY_HANDLE_INVALID'));
    /* A public token key cu1 made is not used before sign-in either. */
    const pubToken = await p.generateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, publicAes([B(P.CKA_TOKEN, true)]));
    await assert.rejects(p.encrypt(nobody, { mechanism: P.CKM_AES_ECB }, pubToken, Buffer.alloc(16)), code('ERR_USER_NOT_LOGGED_IN'));
    /* A public session object may not be copied into a token object before sign-in. */
    const d = await p.createObject(nobody, dataObject());
    await assert.rejects(p.copyObject(nobody, d, [B(P.CKA_TOKEN, true)]), code('ERR_USER_NOT_LOGGED_IN'));
    p.close();
  });
});

describe('READ_ONLY_SESSIONS', () => {
  const aesKey = (token: boolean): Attribute[] => [U(P.CKA_VALUE_LEN, 16), B(P.CKA_TOKEN, token), B(P.CKA_ENCRYPT, true), B(P.CKA_DECRYPT, true)];
  const ecPair = (token: boolean): [Attribute[], Attribute[]] => [
    [attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), B(P.CKA_TOKEN, token), B(P.CKA_VERIFY, true)],
    [B(P.CKA_TOKEN, token), B(P.CKA_SIGN, true), B(P.CKA_DERIVE, true)],
  ];
  const unwrapTpl = (token: boolean): Attribute[] => [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), B(P.CKA_TOKEN, token)];
  const deriveTpl = (token: boolean): Attribute[] => [U(P.CKA_CLASS, P.CKO_SECRET_KEY), U(P.CKA_KEY_TYPE, P.CKK_AES), U(P.CKA_VALUE_LEN, 16), B(P.CKA_TOKEN, token)];
  const readOnly = /a read-only session \(opened without CKF_RW_SESSION\) cannot change token objects/;

  test('standard: a read-only session cannot create, copy, change or destroy a token object (0xB5), by any way of making one', async () => {
    const { p, cu1, lease } = await partitionOf('standard');
    const rw = { ...cu1, sessionLease: lease };
    const ro = { ...rw, readOnly: true };
    const tokenData = await p.createObject(rw, dataObject([B(P.CKA_TOKEN, true)]));
    const refused = (what: string) => (e: unknown) => code('ERR_SESSION_READ_ONLY', new RegExp(`^${what}: ${readOnly.source}`))(e) && (e as HsmError).ckrv === P.CKR_SESSION_READ_ONLY;
    await assert.rejects(p.createObject(ro, dataObject([B(P.CKA_TOKEN, true)])), refused('C_CreateObject'));
    await assert.rejects(p.generateKey(ro, { mechanism: P.CKM_AES_KEY_GEN }, aesKey(true)), refused('C_GenerateKey'));
    await assert.rejects(p.generateKeyPair(ro, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, ...ecPair(true)), refused('C_GenerateKeyPair'));
    /* One half a token object is enough to refuse the pair. */
    const [pubS, privS] = ecPair(false);
    await assert.rejects(p.generateKeyPair(ro, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, pubS, tpl(...privS, B(P.CKA_TOKEN, true))), refused('C_GenerateKeyPair'));
    await assert.rejects(p.copyObject(ro, tokenData, []), refused('C_CopyObject'));
    await assert.rejects(p.setAttributeValue(ro, tokenData, [attr.bytes(P.CKA_LABEL, Buffer.from('x'))]), refused('C_SetAttributeValue'));
    await assert.rejects(p.destroyObject(ro, tokenData), refused('C_DestroyObject'));
    /* Refused before the unwrapping or base key is even looked at. */
    await assert.rejects(p.unwrapKey(ro, { mechanism: P.CKM_AES_KEY_WRAP }, 999_999, Buffer.alloc(24), unwrapTpl(true)), refused('C_UnwrapKey'));
    await assert.rejects(p.deriveKey(ro, { mechanism: P.CKM_ECDH1_DERIVE }, 999_999, deriveTpl(true)), refused('C_DeriveKey'));
    /* Nothing changed: the token object is still there with its label, and no other token object was made. */
    assert.deepEqual(await p.findObjects(rw, [B(P.CKA_TOKEN, true)]), [tokenData]);
    /* The same session read/write (no readOnly) may. */
    await p.setAttributeValue(rw, tokenData, [attr.bytes(P.CKA_LABEL, Buffer.from('x'))]);
    const copy = await p.copyObject(rw, tokenData, []);
    await p.destroyObject(rw, copy);
    await p.generateKey({ ...rw, readOnly: false }, { mechanism: P.CKM_AES_KEY_GEN }, aesKey(true));
    p.close();
  });

  test('standard: a read-only session keeps session objects: creates, copies, changes, uses and destroys them; copying one into a token object is refused', async () => {
    const { p, cu1, lease } = await partitionOf('standard');
    const ro = { ...cu1, sessionLease: lease, readOnly: true };
    const d = await p.createObject(ro, dataObject());
    await p.setAttributeValue(ro, d, [attr.bytes(P.CKA_LABEL, Buffer.from('changed'))]);
    const copy = await p.copyObject(ro, d, []);
    await assert.rejects(p.copyObject(ro, d, [B(P.CKA_TOKEN, true)]), code('ERR_SESSION_READ_ONLY'));
    await p.destroyObject(ro, copy);
    const k = await p.generateKey(ro, { mechanism: P.CKM_AES_KEY_GEN }, aesKey(false));
    const ct = await p.encrypt(ro, { mechanism: P.CKM_AES_ECB }, k, Buffer.alloc(16, 3));
    assert.deepEqual(await p.decrypt(ro, { mechanism: P.CKM_AES_ECB }, k, ct), Buffer.alloc(16, 3));
    const pair = await p.generateKeyPair(ro, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, ...ecPair(false));
    await p.destroyObject(ro, pair.publicHandle);
    /* A token key made read/write is used (not changed) from the read-only session. */
    const t = await p.generateKey({ ...cu1, sessionLease: lease }, { mechanism: P.CKM_AES_KEY_GEN }, aesKey(true));
    await p.encrypt(ro, { mechanism: P.CKM_AES_ECB }, t, Buffer.alloc(16));
    p.close();
  });

  test('azure: a read-only session changes token objects as a read/write one does (the Azure partition does not enforce it)', async () => {
    const { p, cu1, lease } = await partitionOf('azure');
    const ro = { ...cu1, sessionLease: lease, readOnly: true };
    const tokenData = await p.createObject(ro, dataObject([B(P.CKA_TOKEN, true)]));
    await p.setAttributeValue(ro, tokenData, [attr.bytes(P.CKA_LABEL, Buffer.from('x'))]);
    const copy = await p.copyObject(ro, tokenData, []);
    await p.destroyObject(ro, copy);
    await p.destroyObject(ro, tokenData);
    await p.generateKey(ro, { mechanism: P.CKM_AES_KEY_GEN }, aesKey(true));
    await p.generateKeyPair(ro, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, ...ecPair(true));
    /* Unwrap and derive get past the row to the key lookup. */
    await assert.rejects(p.unwrapKey(ro, { mechanism: P.CKM_AES_KEY_WRAP }, 999_999, Buffer.alloc(24), unwrapTpl(true)), code('ERR_UNWRAPPING_KEY_HANDLE_INVALID'));
    await assert.rejects(p.deriveKey(ro, { mechanism: P.CKM_ECDH1_DERIVE }, 999_999, deriveTpl(true)), code('ERR_KEY_HANDLE_INVALID'));
    p.close();
  });
});

describe('SET_PIN', () => {
  test('azure: setPin is not supported (0x54), for any PIN; the password stays', async () => {
    const { p, cu1 } = await partitionOf('azure');
    assert.equal(p.profileHello().setPin, false);
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', 'cu1:newpass99'), (e) => code('ERR_FUNCTION_NOT_SUPPORTED', /azcloudhsm_mgmt_util/)(e) && (e as HsmError).ckrv === P.CKR_FUNCTION_NOT_SUPPORTED);
    await assert.rejects(p.setPin({}, 'x', 'y'), code('ERR_FUNCTION_NOT_SUPPORTED'));
    await p.login('cu1', 'user1234', 'CU');
    p.close();
  });

  test('standard: the signed-in user changes its own password with the old PIN (user:password or the password alone); audited; the old one no longer signs in', async () => {
    const { p, cu1, co } = await partitionOf('standard');
    assert.equal(p.profileHello().setPin, true);
    const info = await p.setPin(cu1, 'cu1:user1234', 'cu1:newpass99');
    assert.equal(info.name, 'cu1');
    assert.equal(info.role, 'CU');
    await assert.rejects(p.login('cu1', 'user1234', 'CU'), code('ERR_PIN_INCORRECT'));
    await p.login('cu1', 'newpass99', 'CU');
    await p.setPin(cu1, 'newpass99', 'again1234');
    await p.login('cu1', 'again1234', 'CU');
    /* A CO changes its own, too. */
    await p.setPin(co, 'admin:adminpassword', 'admin:officer999');
    await p.login('admin', 'officer999', 'CO');
    const changes = (await p.auditRecords()).filter((r) => r.action === 'changePswd' && r.result === 'ok');
    assert.deepEqual(changes.slice(-3).map((r) => [r.user, r.detail]), [['cu1', 'cu1'], ['cu1', 'cu1'], ['admin', 'admin']]);
    p.close();
  });

  test('standard: a retried setPin (its answer lost, the same request id, also on another node) answers as the first did and counts no failure', async () => {
    const { p, store, maskingKey, cu1 } = await partitionOf('standard');
    const other = await Partition.open({ store, maskingKey, config: FAST });
    try {
      const once = { ...cu1, requestId: 'req-setpin-' + randomBytes(8).toString('hex') };
      const first = await p.setPin(once, 'cu1:user1234', 'cu1:newpass99');
      assert.deepEqual(await p.setPin(once, 'cu1:user1234', 'cu1:newpass99'), first);
      assert.deepEqual(await other.setPin(once, 'cu1:user1234', 'cu1:newpass99'), first);
      const audit = await p.auditRecords();
      assert.equal(audit.filter((r) => r.action === 'changePswd' && r.result === 'ok' && r.user === 'cu1').length, 1, 'changed once');
      assert.equal(audit.filter((r) => r.action === 'changePswd' && r.result !== 'ok').length, 0, 'no wrong-PIN attempt recorded');
      await p.login('cu1', 'newpass99', 'CU');
      /* A new request with the old PIN is a new attempt: wrong now. */
      await assert.rejects(p.setPin({ ...cu1, requestId: 'req-setpin-' + randomBytes(8).toString('hex') }, 'cu1:user1234', 'cu1:again1234'), code('ERR_PIN_INCORRECT'));
      /* The id was a setPin's: another request with it is refused. */
      await assert.rejects(p.changePassword(once, 'CU', 'cu1', 'other9999'), code('ERR_ARGUMENTS_BAD', /different request/));
    } finally {
      other.close();
      p.close();
    }
  });

  test('standard: a wrong old PIN answers as WRONG_PIN_CODE (0xA0) and is audited; a bad new PIN is 0xA2 or 0xA1; nothing changes', async () => {
    const { p, cu1, co } = await partitionOf('standard');
    const wrong = (e: unknown) => code('ERR_PIN_INCORRECT', /old PIN is not right/)(e) && (e as HsmError).ckrv === P.CKR_PIN_INCORRECT;
    await assert.rejects(p.setPin(cu1, 'cu1:wrongpassword', 'cu1:newpass99'), wrong);
    await assert.rejects(p.setPin(cu1, 'wrongpassword', 'newpass99'), wrong);
    /* The right password under another user's name is not cu1's old PIN. */
    await assert.rejects(p.setPin(cu1, 'admin:user1234', 'newpass99'), wrong);
    const failed = (await p.auditRecords()).filter((r) => r.action === 'changePswd' && r.result === 'ERR_PIN_INCORRECT');
    assert.equal(failed.length, 3);
    assert.deepEqual(failed.map((r) => [r.user, r.detail]), [1, 2, 3].map((n) => ['cu1', `cu1 (C_SetPIN), attempt ${n} of 5`]));
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', 'cu1:short'), (e) => code('ERR_PIN_LEN_RANGE')(e) && (e as HsmError).ckrv === P.CKR_PIN_LEN_RANGE);
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', `cu1:${'x'.repeat(4000)}`), code('ERR_PIN_LEN_RANGE'));
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', 'admin:newpass99'), code('ERR_PIN_INVALID', /naming the signed-in user/));
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', 'new pass 99'), code('ERR_PIN_INVALID'));
    /* Not signed in: no PIN to change; a read-only session cannot (READ_ONLY_SESSIONS). */
    await assert.rejects(p.setPin({}, 'cu1:user1234', 'cu1:newpass99'), code('ERR_USER_NOT_LOGGED_IN'));
    await assert.rejects(p.setPin({ ...cu1, readOnly: true }, 'cu1:user1234', 'cu1:newpass99'), (e) => code('ERR_SESSION_READ_ONLY')(e) && (e as HsmError).ckrv === P.CKR_SESSION_READ_ONLY);
    /* None of it changed a password. */
    await p.login('cu1', 'user1234', 'CU');
    await p.login('admin', 'adminpassword', 'CO');
    assert.ok(co);
    p.close();
  });

  test('standard: wrong old PINs count toward the lockout like sign-ins; the account locks at the limit, even with the right PIN after it', async () => {
    const { p, cu1 } = await partitionOf('standard');
    const max = 5;
    /* Two failed sign-ins and three wrong old PINs make five failures in a row. */
    for (let i = 0; i < 2; i++) await assert.rejects(p.login('cu1', 'not-it-at-all', 'CU'), code('ERR_PIN_INCORRECT'));
    for (let i = 0; i < max - 2; i++) await assert.rejects(p.setPin(cu1, `guess-${i}-xx`, 'newpass99'), code('ERR_PIN_INCORRECT'));
    assert.equal((await p.getUserInfo('cu1')).locked, true);
    await assert.rejects(p.setPin(cu1, 'cu1:user1234', 'cu1:newpass99'), code('ERR_ACCOUNT_LOCKED'));
    await assert.rejects(p.login('cu1', 'user1234', 'CU'), code('ERR_ACCOUNT_LOCKED'));
    p.close();
  });

  test('standard: a right old PIN resets the failure count (the change does)', async () => {
    const { p, cu1 } = await partitionOf('standard');
    await assert.rejects(p.setPin(cu1, 'guess-one-xx', 'newpass99'), code('ERR_PIN_INCORRECT'));
    assert.equal((await p.getUserInfo('cu1')).failures, 1);
    await p.setPin(cu1, 'user1234', 'newpass99');
    assert.equal((await p.getUserInfo('cu1')).failures, 0);
    p.close();
  });

  test('the door: setPin needs a signed-in caller in both profiles', () => {
    for (const profile of PROFILE_NAMES) assert.throws(() => admit('setPin', undefined, 'claimed', profileSettings(profile)), code('ERR_USER_NOT_LOGGED_IN'));
    admit('setPin', { user: 'cu1', role: 'CU' }, 'claimed', profileSettings('standard'));
  });
});
