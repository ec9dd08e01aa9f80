/**
 * The partition profiles' visible rows (protocol/src/profiles.ts, docs/pkcs11.md "Profiles")
 * through libazcloudhsm_pkcs11.so, loaded into this process with pkcs11js, against two real
 * three-node clusters behind real daemons: one initialised with the profile `standard`, one with
 * the default `azure`. The same calls are made on both; each answer must be the row's value for
 * the cluster's profile.
 *
 *  - WRONG_PIN_CODE: a wrong password and a PIN without ':' (the HSM's answer), and a PIN too long
 *    for the protocol (the module's own answer, from the daemon's hello wrongPinRv).
 *  - PUBLIC_SESSION_OBJECTS: before C_Login, C_CreateObject of a public session data object and
 *    C_GenerateKey of a public session AES key, then C_Encrypt / C_Decrypt with it and
 *    C_DestroyObject; a token object before C_Login is refused in both.
 *  - KEYS_ALWAYS_PRIVATE: after C_Login, C_GenerateKey with CKA_PRIVATE FALSE.
 *  - READ_ONLY_SESSIONS: after C_Login, from a session opened without CKF_RW_SESSION,
 *    C_CreateObject / C_GenerateKey of token objects and C_CopyObject / C_SetAttributeValue /
 *    C_DestroyObject of a token object the read/write session made; a session object from the
 *    read-only session is made and destroyed in both.
 *  - SET_PIN: after C_Login, C_SetPIN with a wrong old PIN, with a new PIN too short, too long to
 *    send or with a forbidden character, from the
 *    read-only session, and rightly (then the new PIN signs in and the old one does not, and it is
 *    set back); C_InitPIN stays unsupported in both.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { p11World } from './p11_world.js';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import { CKR_OF } from '../../../packages/protocol/src/errors.js';
import { profileSettings, type ProfileName } from '../../../packages/protocol/src/profiles.js';

const USERS = [{ user: 'cu1', password: 'user1234', role: 'CU' as const }];
const PIN = 'cu1:user1234';
const SLOT = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

const w = p11World('profile', { users: USERS, sessionMode: 'HOST', initialize: false, profile: 'standard' });

let azureDir = '';
let azureLc: LocalCluster | undefined;
let azureDaemon: DaemonHandle | undefined;

before(async () => {
  azureDir = mkdtempSync(join(tmpdir(), 'ochsm-p11-profile-azure-'));
  azureLc = await startCluster(join(azureDir, 'cluster'), { users: USERS });
  azureDaemon = await startDaemon(azureLc, { sessionMode: 'HOST' });
});

after(async () => {
  await azureDaemon?.stop().catch(() => undefined);
  await azureLc?.stop().catch(() => undefined);
  if (azureDir) rmSync(azureDir, { recursive: true, force: true });
});

/** The CK_RV a call answers: 0 when it returns, the Pkcs11Error's code when it throws. */
function rvOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    /* pkcs11js throws a Pkcs11Error from some wrappers and the addon's own Error ("CKR_NAME:code") from others. */
    if (e instanceof pkcs11js.Pkcs11Error) return e.code;
    const m = e instanceof Error ? /^CKR_\w+:(\d+)/.exec(e.message) : null;
    if (m) return Number(m[1]);
    throw e;
  }
}

const publicAes = (extra: pkcs11js.Template = []): pkcs11js.Template => [
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_PRIVATE, value: false },
  { type: pkcs11js.CKA_ENCRYPT, value: true },
  { type: pkcs11js.CKA_DECRYPT, value: true },
  ...extra,
];

/** Every visible row's answer on the cluster the module is initialised against. */
function answers(m: pkcs11js.PKCS11, profile: ProfileName): Record<string, number> {
  const s = m.C_OpenSession(SLOT, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  const out: Record<string, number> = {};
  out.wrongPassword = rvOf(() => m.C_Login(s, pkcs11js.CKU_USER, 'cu1:not-the-password'));
  out.pinWithoutColon = rvOf(() => m.C_Login(s, pkcs11js.CKU_USER, 'cu1user1234'));
  out.pinTooLong = rvOf(() => m.C_Login(s, pkcs11js.CKU_USER, `cu1:${'x'.repeat(5000)}`));
  out.createPublicSessionObject = rvOf(() => m.C_CreateObject(s, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from('public data') },
  ]));
  out.createTokenObjectBeforeLogin = rvOf(() => m.C_CreateObject(s, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
  ]));
  let key: pkcs11js.Handle | undefined;
  out.generatePublicSessionKey = rvOf(() => (key = m.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, publicAes())));
  if (key) {
    /* Used and destroyed before sign-in, too. */
    const data = Buffer.alloc(32, 0x5a);
    m.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, key);
    const ct = m.C_Encrypt(s, data, Buffer.alloc(64));
    assert.notDeepEqual(ct, data);
    m.C_DecryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, key);
    assert.deepEqual(m.C_Decrypt(s, ct, Buffer.alloc(64)), data, `${profile}: the public session key decrypts what it encrypted`);
    m.C_DestroyObject(s, key);
  }
  m.C_Login(s, pkcs11js.CKU_USER, PIN);
  let priv: pkcs11js.Handle | undefined;
  out.keyWithPrivateFalse = rvOf(() => (priv = m.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, publicAes())));
  if (priv) {
    const [a] = m.C_GetAttributeValue(s, priv, [{ type: pkcs11js.CKA_PRIVATE }]);
    assert.deepEqual(a!.value, Buffer.from([0]), `${profile}: CKA_PRIVATE as the template said`);
  }
  const tokenData = (label: string): pkcs11js.Template => [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from('token data') },
  ];
  const made: pkcs11js.Handle[] = [];
  const keep = (h: pkcs11js.Handle) => { made.push(h); return h; };
  const target = keep(m.C_CreateObject(s, tokenData('ro-target')));
  const ro = m.C_OpenSession(SLOT, pkcs11js.CKF_SERIAL_SESSION);
  assert.equal(m.C_GetSessionInfo(ro).flags & pkcs11js.CKF_RW_SESSION, 0, 'the session is read-only');
  out.roCreateTokenObject = rvOf(() => keep(m.C_CreateObject(ro, tokenData('ro-made'))));
  out.roGenerateTokenKey = rvOf(() => keep(m.C_GenerateKey(ro, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_VALUE_LEN, value: 16 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
  ])));
  out.roCopyTokenObject = rvOf(() => keep(m.C_CopyObject(ro, target, [])));
  out.roSetTokenObject = rvOf(() => m.C_SetAttributeValue(ro, target, [{ type: pkcs11js.CKA_LABEL, value: 'ro-changed' }]));
  const [label] = m.C_GetAttributeValue(s, target, [{ type: pkcs11js.CKA_LABEL }]);
  assert.equal(label!.value!.toString(), out.roSetTokenObject === 0 ? 'ro-changed' : 'ro-target', `${profile}: the label is what the answer says`);
  out.roSessionObject = rvOf(() => m.C_DestroyObject(ro, m.C_CreateObject(ro, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from('session data') },
  ])));
  out.roDestroyTokenObject = rvOf(() => m.C_DestroyObject(ro, target));
  if (out.roDestroyTokenObject === 0) made.shift();
  out.setPinReadOnly = rvOf(() => m.C_SetPIN(ro, PIN, 'cu1:newpass99'));
  m.C_CloseSession(ro);
  for (const h of made) m.C_DestroyObject(s, h);
  out.setPinWrongOld = rvOf(() => m.C_SetPIN(s, 'cu1:not-the-password', 'cu1:newpass99'));
  out.setPinShortNew = rvOf(() => m.C_SetPIN(s, PIN, 'cu1:abc'));
  out.setPinHugeNew = rvOf(() => m.C_SetPIN(s, PIN, `cu1:${'x'.repeat(5000)}`));
  out.setPinBadNew = rvOf(() => m.C_SetPIN(s, PIN, 'cu1:new pass 99'));
  out.initPin = rvOf(() => m.C_InitPIN(s, 'cu1:newpass99'));
  out.setPin = rvOf(() => m.C_SetPIN(s, PIN, 'cu1:newpass99'));
  if (out.setPin === 0) {
    m.C_Logout(s);
    assert.equal(rvOf(() => m.C_Login(s, pkcs11js.CKU_USER, PIN)), out.wrongPassword, `${profile}: the old PIN no longer signs in`);
    m.C_Login(s, pkcs11js.CKU_USER, 'cu1:newpass99');
    m.C_SetPIN(s, 'newpass99', PIN); /* back, with the password alone as the old PIN */
    m.C_Logout(s);
    m.C_Login(s, pkcs11js.CKU_USER, PIN);
  }
  m.C_Logout(s);
  m.C_CloseSession(s);
  return out;
}

/** What the profile table says each of those calls answers. */
function expected(profile: ProfileName): Record<string, number> {
  const row = profileSettings(profile);
  const wrongPin = CKR_OF[row.wrongPinError];
  const beforeLogin = row.publicSessionObjects ? 0 : pkcs11js.CKR_USER_NOT_LOGGED_IN;
  return {
    wrongPassword: wrongPin,
    pinWithoutColon: wrongPin,
    pinTooLong: wrongPin,
    createPublicSessionObject: beforeLogin,
    createTokenObjectBeforeLogin: pkcs11js.CKR_USER_NOT_LOGGED_IN,
    generatePublicSessionKey: beforeLogin,
    keyWithPrivateFalse: row.keysAlwaysPrivate ? pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID : 0,
    ...Object.fromEntries(['roCreateTokenObject', 'roGenerateTokenKey', 'roCopyTokenObject', 'roSetTokenObject', 'roDestroyTokenObject']
      .map((k) => [k, row.readOnlySessions ? pkcs11js.CKR_SESSION_READ_ONLY : 0])),
    roSessionObject: 0,
    setPinReadOnly: !row.setPin ? pkcs11js.CKR_FUNCTION_NOT_SUPPORTED : row.readOnlySessions ? pkcs11js.CKR_SESSION_READ_ONLY : 0,
    setPinWrongOld: row.setPin ? wrongPin : pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
    setPinShortNew: row.setPin ? pkcs11js.CKR_PIN_LEN_RANGE : pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
    setPinHugeNew: row.setPin ? pkcs11js.CKR_PIN_LEN_RANGE : pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
    setPinBadNew: row.setPin ? pkcs11js.CKR_PIN_INVALID : pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
    initPin: pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
    setPin: row.setPin ? 0 : pkcs11js.CKR_FUNCTION_NOT_SUPPORTED,
  };
}

test('the profile rows through the module: standard and azure clusters answer the same calls as their rows say', async () => {
  const m = w.p11;
  for (const [profile, daemon] of [['standard', w.daemon], ['azure', azureDaemon!]] as const) {
    w.useDaemon(daemon);
    m.C_Initialize();
    try {
      const got = answers(m, profile);
      console.log(`# profile ${profile}: ${Object.entries(got).map(([k, v]) => `${k}=0x${v.toString(16)}`).join(' ')}`);
      assert.deepEqual(got, expected(profile), profile);
    } finally {
      m.C_Finalize();
    }
  }
  /* The two profiles differ in every row this test sees. */
  assert.notEqual(expected('azure').wrongPassword, expected('standard').wrongPassword);
  assert.equal(expected('standard').wrongPassword, pkcs11js.CKR_PIN_INCORRECT);
  assert.equal(expected('azure').wrongPassword, pkcs11js.CKR_PIN_EXPIRED);
  assert.equal(expected('standard').roCreateTokenObject, 0xb5);
});
