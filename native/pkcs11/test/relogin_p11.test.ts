/**
 * The reported sign-in sequence in APPLICATION mode, in one process, through
 * libazcloudhsm_pkcs11.so (pkcs11js) against a real daemon and three real
 * nodes: C_Login as CU A, C_Logout, C_Login as CU B, then C_GenerateKey in the
 * session that was open all along.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import { attr } from '../../../packages/hsm-core/src/objects/attributes.js';
import { connectNode, startDaemon, type DaemonHandle } from '../../../packages/testkit/src/cluster.js';
import { p11World } from './p11_world.js';

const w = p11World('relogin', { users: [{ user: 'cua', password: 'usera123', role: 'CU' }, { user: 'cub', password: 'userb123', role: 'CU' }], sessionMode: 'APPLICATION' });
let hostDaemon: DaemonHandle | undefined;

after(async () => {
  await hostDaemon?.stop().catch(() => undefined);
});

const aesTemplate = (token: boolean): pkcs11js.Template => [
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 }, { type: pkcs11js.CKA_TOKEN, value: token }, { type: pkcs11js.CKA_ENCRYPT, value: true },
];
const gen = (s: Buffer, token: boolean) => w.p11.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, aesTemplate(token));

test('APPLICATION mode, one process: C_Login A, C_Logout, C_Login B, then C_GenerateKey in the session open all along', () => {
  const m = w.p11;
  const slot = m.C_GetSlotList(true)[0]!;
  const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(s, pkcs11js.CKU_USER, 'cua:usera123');
  const aSession = gen(s, false);
  gen(s, true);
  m.C_Logout(s);
  m.C_Login(s, pkcs11js.CKU_USER, 'cub:userb123');
  assert.equal(m.C_GetSessionInfo(s).state, 3 /* CKS_RW_USER_FUNCTIONS */);
  /* Before the fix: CKR_USER_TYPE_INVALID (the node's ERR_NOT_PERMITTED: the session was still bound to cua). */
  const bToken = gen(s, true);
  const bSession = gen(s, false);
  /* The session serves cub now, and cua's private session key stays cua's. */
  m.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
  const seen = m.C_FindObjects(s, 100).map((h) => h.toString('hex'));
  m.C_FindObjectsFinal(s);
  assert.ok(seen.includes(bToken.toString('hex')) && seen.includes(bSession.toString('hex')), 'cub finds its keys');
  assert.ok(!seen.includes(aSession.toString('hex')), "cub does not find cua's private session key");
  m.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, aSession);
  assert.throws(() => m.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(16)), (e: unknown) => e instanceof pkcs11js.Pkcs11Error && e.message !== 'CKR_OK');
  m.C_Logout(s);
  m.C_CloseSession(s);
});

test('on a node connection: a session stays bound to its user unless that user\'s logout names it; another user\'s logout cannot release it', async () => {
  const c = await connectNode(w.lc.nodes[0]!.port, w.lc.poCrt);
  const A = { user: 'cua', password: 'usera123' };
  const B = { user: 'cub', password: 'userb123' };
  const genIn = (session: number) => c.request('generateKey', {
    session, mechanism: { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template: [attr.ulong(pkcs11js.CKA_VALUE_LEN, 16), attr.bool(pkcs11js.CKA_TOKEN, false)],
  });
  try {
    await c.request('login', A);
    const { session } = await c.request('openSession', {});
    await genIn(session);
    await c.request('logout', {});
    await c.request('login', B);
    await assert.rejects(genIn(session), /belongs to another user/, 'a plain logout keeps the binding');
    await c.request('logout', { sessions: [session] });
    await c.request('login', B);
    await assert.rejects(genIn(session), /belongs to another user/, "cub's logout does not release cua's session");
    await c.request('logout', {});
    await c.request('login', A);
    await c.request('logout', { sessions: [session] });
    await c.request('login', B);
    await genIn(session);
    await c.request('closeSession', { session });
  } finally {
    c.close();
  }
});

test('HOST mode (a second daemon, the module initialised again): the same sequence works', async () => {
  const m = w.p11;
  m.C_Finalize();
  hostDaemon = await startDaemon(w.lc, { sessionMode: 'HOST' });
  w.useDaemon(hostDaemon);
  m.C_Initialize();
  const slot = m.C_GetSlotList(true)[0]!;
  const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(s, pkcs11js.CKU_USER, 'cua:usera123');
  gen(s, false);
  m.C_Logout(s);
  m.C_Login(s, pkcs11js.CKU_USER, 'cub:userb123');
  gen(s, true);
  gen(s, false);
  m.C_Logout(s);
  m.C_CloseSession(s);
});
