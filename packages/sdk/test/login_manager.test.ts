/**
 * Tests of src/login_manager.ts against a real cluster and a real daemon in
 * HOST sign-in mode (the default; docs/daemon.md), plus a second daemon in
 * APPLICATION mode: explicit and implicit sign-in, their precedence, what an
 * application inherits, the host-wide conflict, a foreign sign-out, and
 * re-authentication after the daemon restarts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type DaemonHandle } from '../../testkit/src/cluster.js';
import { HsmError } from '../../protocol/src/errors.js';
import { HostSessionConflictError, NotLoggedInError, SessionKeyLostError } from '../src/errors.js';
import { LoginManager, type LoginState } from '../src/login_manager.js';
import { HsmCrypto } from '../src/webcrypto/crypto.js';
import { CU1, CU2, enc, startSdkEnv, waitSignedOut, type SdkEnv } from './helpers.js';

let env: SdkEnv;

before(async () => {
  env = await startSdkEnv();
});
after(async () => {
  await env?.stop();
});

/** Close managers and wait until the daemon has signed the host out (the last holder left). */
async function settle(...lms: LoginManager[]): Promise<void> {
  for (const lm of lms) lm.close();
  await waitSignedOut(env.daemon.socketPath);
}

const aesGcm = { name: 'AES-GCM', length: 128 } as const;

test('explicit login, isLoggedIn, state, logout; a wrong password is 0xA3', async () => {
  const lm = env.manager();
  try {
    assert.equal(lm.isLoggedIn(), false);
    await assert.rejects(lm.login('PARTITION_1', CU2.user, 'wrongpass1'), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED' && e.ckrv === 0xa3);
    assert.equal(lm.isLoggedIn(), false);
    await lm.login('PARTITION_1', CU1.user, CU1.password);
    assert.equal(lm.isLoggedIn(), true);
    assert.deepEqual({ ...lm.state() }, { loggedIn: true, user: 'cu1', role: 'CU', how: 'explicit', partition: 'PARTITION_1' });
    await assert.rejects(lm.login('PARTITION_1', CU1.user, CU1.password), (e: unknown) => e instanceof HsmError && e.code === 'ERR_USER_ALREADY_LOGGED_IN');
    const hc = new HsmCrypto({ loginManager: lm });
    const key = await hc.subtle.generateKey(aesGcm, false, ['encrypt']);
    assert.equal(key.type, 'secret');
    await lm.logout();
    assert.equal(lm.isLoggedIn(), false);
    await assert.rejects(hc.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, enc('x')), (e: unknown) => e instanceof NotLoggedInError && e.code === 'ERR_USER_NOT_LOGGED_IN' && /HSM_USER/.test(e.message));
    await assert.rejects(lm.logout(), NotLoggedInError);
    await assert.rejects(lm.login('', 'cu1', 'x'), TypeError);
  } finally {
    await settle(lm);
  }
});

test('implicit sign-in from HSM_USER/HSM_PASSWORD/HSM_PARTITION on the first operation', async () => {
  const lm = env.manager({ credentialsEnv: { HSM_USER: CU1.user, HSM_PASSWORD: CU1.password, HSM_PARTITION: 'PARTITION_1' } });
  try {
    const hc = new HsmCrypto({ loginManager: lm });
    assert.equal(lm.isLoggedIn(), false);
    const key = await hc.subtle.generateKey(aesGcm, false, ['encrypt']);
    assert.equal(key.algorithm.name, 'AES-GCM');
    assert.deepEqual({ ...lm.state() }, { loggedIn: true, user: 'cu1', role: 'CU', how: 'implicit', partition: 'PARTITION_1', source: 'HSM_USER' });
  } finally {
    await settle(lm);
  }
});

test('implicit sign-in from azcloudhsm_password; HSM_* takes precedence over it; explicit over both', async () => {
  let lm = env.manager({ credentialsEnv: { azcloudhsm_password: `${CU2.user}:${CU2.password}` } });
  try {
    await lm.ensureLoggedIn();
    assert.equal(lm.state().user, 'cu2');
    assert.equal(lm.state().source, 'azcloudhsm_password');
  } finally {
    await settle(lm);
  }
  lm = env.manager({ credentialsEnv: { HSM_USER: CU1.user, HSM_PASSWORD: CU1.password, azcloudhsm_password: `${CU2.user}:${CU2.password}` } });
  try {
    await lm.ensureLoggedIn();
    assert.equal(lm.state().user, 'cu1');
    assert.equal(lm.state().source, 'HSM_USER');
  } finally {
    await settle(lm);
  }
  lm = env.manager({ credentialsEnv: { HSM_USER: CU1.user, HSM_PASSWORD: CU1.password } });
  try {
    await lm.login('PARTITION_1', CU2.user, CU2.password);
    await lm.ensureLoggedIn();
    assert.equal(lm.state().user, 'cu2');
    assert.equal(lm.state().how, 'explicit');
  } finally {
    await settle(lm);
  }
});

test('HOST mode: an application that has not signed in inherits the host sign-in', async () => {
  const a = env.manager();
  const b = env.manager();
  try {
    await a.login('PARTITION_1', CU1.user, CU1.password);
    const s = await b.refresh();
    assert.deepEqual({ ...s }, { loggedIn: true, user: 'cu1', role: 'CU', how: 'inherited' });
    const key = await new HsmCrypto({ loginManager: b }).subtle.generateKey(aesGcm, false, ['encrypt']);
    assert.ok(key.handle >= 262144, 'b uses keys as cu1 without a login of its own');
  } finally {
    await settle(a, b);
  }
});

test('HOST mode: signing in as another user is HostSessionConflictError (0x104), explicit or implicit; without credentials an application inherits', async () => {
  const a = env.manager();
  const b = env.manager();
  const c = env.manager({ credentialsEnv: { HSM_USER: CU2.user, HSM_PASSWORD: CU2.password } });
  try {
    await a.login('PARTITION_1', CU1.user, CU1.password);
    await assert.rejects(b.login('PARTITION_1', CU2.user, CU2.password), (e: unknown) => {
      assert.ok(e instanceof HostSessionConflictError);
      assert.equal(e.code, 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN');
      assert.equal(e.ckrv, 0x104);
      assert.equal(e.activeUser, 'cu1');
      assert.match(e.message, /an active session is already open for cu1 on this host/);
      return true;
    });
    /* c's environment says cu2: its implicit sign-in conflicts too, rather than running as cu1 behind its back. */
    await assert.rejects(new HsmCrypto({ loginManager: c }).subtle.generateKey(aesGcm, false, ['encrypt']), (e: unknown) => e instanceof HostSessionConflictError && e.activeUser === 'cu1');
    /* Without credentials, an application inherits the host's sign-in, and the state says whose it is. */
    const d = env.manager();
    await d.ensureLoggedIn();
    assert.deepEqual({ ...d.state() }, { loggedIn: true, user: 'cu1', role: 'CU', how: 'inherited' });
    /* The same user joins the host sign-in (its password checked by a real login). */
    await b.login('PARTITION_1', CU1.user, CU1.password);
    assert.equal(b.state().how, 'explicit');
  } finally {
    await settle(a, b, c);
  }
});

test('HOST mode: another application\'s logout signs this one out too, and says so', async () => {
  const a = env.manager();
  const b = env.manager();
  try {
    await a.login('PARTITION_1', CU1.user, CU1.password);
    await b.login('PARTITION_1', CU1.user, CU1.password);
    const hc = new HsmCrypto({ loginManager: b });
    const key = await hc.subtle.generateKey({ ...aesGcm, persistent: true, label: 'foreign-logout' }, false, ['encrypt']);
    const changed = new Promise<LoginState>((r) => b.on('stateChanged', (s) => !s.loggedIn && r(s)));
    await a.logout();
    await changed;
    assert.equal(b.isLoggedIn(), false);
    await assert.rejects(hc.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, enc('x')), (e: unknown) => e instanceof NotLoggedInError && /another application on this host signed out/.test(e.message));
    await b.login('PARTITION_1', CU1.user, CU1.password);
    await hc.keys.delete(key);
  } finally {
    await settle(a, b);
  }
});

test('re-authentication after the daemon restarts: explicit and implicit; session keys are lost, token keys stay', async () => {
  const explicit = env.manager();
  const implicit = env.manager({ credentialsEnv: { azcloudhsm_password: `${CU1.user}:${CU1.password}` } });
  try {
    await explicit.login('PARTITION_1', CU1.user, CU1.password);
    const hc = new HsmCrypto({ loginManager: explicit });
    const hi = new HsmCrypto({ loginManager: implicit });
    const session = await hc.subtle.generateKey(aesGcm, false, ['encrypt']);
    const token = await hc.subtle.generateKey({ ...aesGcm, persistent: true, label: 'survives-restart' }, false, ['encrypt']);
    await hi.subtle.generateKey(aesGcm, false, ['encrypt']);
    assert.equal(implicit.state().how, 'implicit', 'the host was signed in as cu1: the implicit sign-in joined it');
    const epoch = explicit.client.epoch;
    const reauth = new Promise<LoginState>((r) => explicit.once('reauthenticated', r));

    await env.restartDaemon();

    const iv = new Uint8Array(12);
    const ct = await hc.subtle.encrypt({ name: 'AES-GCM', iv }, token, enc('after restart'));
    assert.equal(ct.byteLength, 13 + 16);
    assert.equal((await reauth).how, 'explicit');
    assert.equal(explicit.isLoggedIn(), true);
    assert.ok(explicit.client.epoch > epoch);
    await assert.rejects(hc.subtle.encrypt({ name: 'AES-GCM', iv }, session, enc('x')), (e: unknown) => e instanceof SessionKeyLostError && /session keys/.test(e.message));
    /* The implicit manager reconnects and signs in again with its credentials. */
    await hi.subtle.generateKey(aesGcm, false, ['encrypt']);
    assert.equal(implicit.isLoggedIn(), true);
    await hc.keys.delete(token);
  } finally {
    await settle(explicit, implicit);
  }
});

test('APPLICATION mode: two applications signed in as different users at once', async () => {
  let appDaemon: DaemonHandle | undefined;
  try {
    appDaemon = await startDaemon(env.cluster, { name: 'app-mode', sessionMode: 'APPLICATION' });
    const a = new LoginManager({ socketPath: appDaemon.socketPath, credentialsEnv: {} });
    const b = new LoginManager({ socketPath: appDaemon.socketPath, credentialsEnv: {} });
    try {
      await a.login('PARTITION_1', CU1.user, CU1.password);
      await b.login('PARTITION_1', CU2.user, CU2.password);
      assert.equal(a.state().user, 'cu1');
      assert.equal(b.state().user, 'cu2');
      const ka = await new HsmCrypto({ loginManager: a }).subtle.generateKey({ ...aesGcm, persistent: true, label: 'app-mode-a' }, false, ['encrypt']);
      const hb = new HsmCrypto({ loginManager: b });
      assert.deepEqual(await hb.keys.findByLabel('app-mode-a'), [], 'cu2 does not see cu1\'s key');
      await new HsmCrypto({ loginManager: a }).keys.delete(ka);
    } finally {
      a.close();
      b.close();
    }
  } finally {
    await appDaemon?.stop();
  }
});
