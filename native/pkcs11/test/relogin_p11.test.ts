/**
 * The reported sign-in sequence in APPLICATION mode, in one process, through
 * libazcloudhsm_pkcs11.so (pkcs11js) against a real daemon and three real
 * nodes: C_Login as CU A, C_Logout, C_Login as CU B, then C_GenerateKey in the
 * session that was open all along.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { attr } from '../../../packages/hsm-core/src/objects/attributes.js';
import { startCluster, startDaemon, connectNode, type DaemonHandle, type LocalCluster } from '../../../packages/cli/src/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const MODULE = join(repo, 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;
let p11: pkcs11js.PKCS11 | undefined;
const savedCfg = process.env.AZCLOUDHSM_APPLICATION_CFG;

before(async () => {
  assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
  dir = mkdtempSync(join(tmpdir(), 'ochsm-p11-relogin-'));
  lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cua', password: 'usera123', role: 'CU' }, { user: 'cub', password: 'userb123', role: 'CU' }] });
  daemon = await startDaemon(lc, { sessionMode: 'APPLICATION' });
  process.env.AZCLOUDHSM_APPLICATION_CFG = join(daemon.binDir, 'azcloudhsm_application.cfg');
  p11 = new pkcs11js.PKCS11();
  p11.load(MODULE);
  p11.C_Initialize();
});

let hostDaemon: DaemonHandle | undefined;

after(async () => {
  try { p11?.C_Finalize(); } catch { /* already gone */ }
  await hostDaemon?.stop().catch(() => undefined);
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (savedCfg === undefined) delete process.env.AZCLOUDHSM_APPLICATION_CFG;
  else process.env.AZCLOUDHSM_APPLICATION_CFG = savedCfg;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const aesTemplate = (token: boolean): pkcs11js.Template => [
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 }, { type: pkcs11js.CKA_TOKEN, value: token }, { type: pkcs11js.CKA_ENCRYPT, value: true },
];
const gen = (s: Buffer, token: boolean) => p11!.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, aesTemplate(token));

test('APPLICATION mode, one process: C_Login A, C_Logout, C_Login B, then C_GenerateKey in the session open all along', () => {
  const m = p11!;
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
  const c = await connectNode(lc!.nodes[0]!.port, lc!.poCrt);
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
  const m = p11!;
  m.C_Finalize();
  hostDaemon = await startDaemon(lc!, { sessionMode: 'HOST' });
  process.env.AZCLOUDHSM_APPLICATION_CFG = join(hostDaemon.binDir, 'azcloudhsm_application.cfg');
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
