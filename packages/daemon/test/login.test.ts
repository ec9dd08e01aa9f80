/**
 * The sign-in state machine (src/login.ts) over in-memory links: the Azure Cloud HSM authentication guide's
 * "Cloud HSM client session handling" in HOST mode, and the stricter
 * APPLICATION mode.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import type { NoticeOf } from '../../protocol/src/messages.js';
import { ApplicationLogin, HostLogin, anotherUserMessage, type AppHandle, type LoginTimeouts } from '../src/login.js';
import { silentLogger } from '../src/log.js';
import { Router } from '../src/router.js';
import { MemCluster, MemPool, type MemLink } from './helpers/memory_links.js';

const TIMEOUTS = () => ({ requestTimeoutMs: 1000, connectTimeoutMs: 200 });
const ROUTER = new Router(() => ({ retry: { attempts: 3, backoffMs: 1, deadlineMs: 1000 }, requestTimeoutMs: 1000, connectTimeoutMs: 100, routing: { policy: 'spread', packInFlight: 32, seed: 0 } }), silentLogger());

class App implements AppHandle {
  readonly notices: NoticeOf<'loginChanged'>[] = [];
  readonly sessions = new Set<number>();
  constructor(readonly id: number) {}
  notifyLogin(s: NoticeOf<'loginChanged'>): void {
    this.notices.push(s);
  }
}

/* A request timeout no test waits out, and a short sign-out bound: a sign-out that waited on a silent node for the request timeout would hang the test. */
const SHORT_SIGN_OUT = () => ({ requestTimeoutMs: 600_000, connectTimeoutMs: 200, signOutTimeoutMs: 50 });

function host(nodes = 3, timeouts: () => LoginTimeouts = TIMEOUTS) {
  const cluster = new MemCluster();
  cluster.addUser('cu1', 'user1234');
  cluster.addUser('cu2', 'password2');
  const pool = new MemPool('host', cluster, nodes);
  const apps: App[] = [new App(1), new App(2)];
  const mgr = new HostLogin(pool, () => apps, silentLogger(), timeouts);
  pool.start();
  return { cluster, pool, apps, mgr, links: pool.all };
}

async function rejectsWith(p: Promise<unknown>, code: string, ckrv?: number, message?: string | RegExp): Promise<HsmError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HsmError, `expected an HsmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (ckrv !== undefined) assert.equal(e.ckrv, ckrv);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

const signedInUsers = (links: readonly MemLink[]) => links.map((l) => l.connUser);

describe('HOST mode (default): one host-wide sign-in', () => {
  test('the first login signs in on every healthy node; every application hears of it', async () => {
    const { mgr, apps, links, cluster } = host();
    const r = await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    assert.deepEqual(r, { user: 'cu1', role: 'CU' });
    assert.deepEqual(signedInUsers(links), ['cu1', 'cu1', 'cu1']);
    assert.equal(cluster.loginLog.length, 3);
    assert.deepEqual(mgr.status(), { loggedIn: true, user: 'cu1', role: 'CU' });
    for (const a of apps) assert.deepEqual(a.notices, [{ loggedIn: true, user: 'cu1', role: 'CU' }]);
    assert.equal(mgr.signerId, 1);
  });

  test('a second application inherits the sign-in: its requests run as the signed-in user without a login', async () => {
    const { mgr, apps } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    const ctx = mgr.contextFor();
    const sig = await ROUTER.forward(ctx, 'sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: 262144, data: new Uint8Array(32) });
    assert.match(new TextDecoder().decode(sig.signature), /:cu1$/);
  });

  test('a second login with the same user and the right password joins; a wrong one is refused with 0xA3 and changes nothing', async () => {
    const { mgr, apps, pool, cluster } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await rejectsWith(mgr.login(apps[1]!, 'cu1', 'wrong-pass', undefined), 'ERR_LOGIN_FAILED', 0xa3);
    assert.equal(cluster.users.get('cu1')!.failures, 1, 'the wrong password counted once, towards the lockout');
    assert.deepEqual(await mgr.login(apps[1]!, 'cu1', 'user1234', 'CU'), { user: 'cu1', role: 'CU' });
    assert.deepEqual(pool.verified, ['cu1', 'cu1'], 'checked by a real login on a spare connection');
    assert.equal(apps[1]!.notices.length, 1, 'joining changes nothing, so no notice');
    assert.deepEqual(mgr.status(), { loggedIn: true, user: 'cu1', role: 'CU' });
  });

  test('another user is refused with ERR_USER_ANOTHER_ALREADY_LOGGED_IN (0x104) and the documented message', async () => {
    const { mgr, apps, cluster } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    const n = cluster.loginLog.length;
    await rejectsWith(mgr.login(apps[1]!, 'cu2', 'password2', undefined), 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN', 0x104,
      'an active session is already open for cu1 on this host (signed in by another application); sign out there first (logoutHSM / C_Logout), or run the daemon with SESSION_MODE=APPLICATION');
    assert.equal(anotherUserMessage('cu1').includes('cu1'), true);
    assert.equal(cluster.loginLog.length, n, 'no node was asked');
    await rejectsWith(mgr.login(apps[1]!, 'cu1', 'user1234', 'CO'), 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN', 0x104);
  });

  test('the application that signed in cannot sign in again (ERR_USER_ALREADY_LOGGED_IN)', async () => {
    const { mgr, apps } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'user1234', undefined), 'ERR_USER_ALREADY_LOGGED_IN', 0x100);
    await rejectsWith(mgr.login(apps[0]!, 'cu2', 'password2', undefined), 'ERR_USER_ALREADY_LOGGED_IN', 0x100, /already signed in as cu1/);
  });

  test('a logout by any application (even one that never signed in) signs every node out and tells everyone', async () => {
    const { mgr, apps, links } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await mgr.logout(apps[1]!);
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
    assert.ok(links.every((l) => l.authGen === 0));
    assert.deepEqual(mgr.status(), { loggedIn: false });
    for (const a of apps) assert.deepEqual(a.notices.at(-1), { loggedIn: false });
    await rejectsWith(ROUTER.forward(mgr.contextFor(), 'sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: 262144, data: new Uint8Array(1) }), 'ERR_USER_NOT_LOGGED_IN');
    await rejectsWith(mgr.logout(apps[0]!), 'ERR_USER_NOT_LOGGED_IN', 0x101);
    /* Anyone may sign in again afterwards, as another user too. */
    await mgr.login(apps[1]!, 'cu2', 'password2', undefined);
    assert.deepEqual(signedInUsers(links), ['cu2', 'cu2', 'cu2']);
  });

  test('a refused login returns the node error unchanged and costs one attempt, not one per node', async () => {
    const { mgr, apps, cluster, links } = host();
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'nope-nope', undefined), 'ERR_LOGIN_FAILED', 0xa3);
    assert.equal(cluster.loginLog.length, 1);
    assert.equal(cluster.users.get('cu1')!.failures, 1);
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
    cluster.users.get('cu1')!.failures = 5;
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'user1234', undefined), 'ERR_ACCOUNT_LOCKED', 0xa4);
    await rejectsWith(mgr.login(apps[0]!, 'ghost', 'user1234', undefined), 'ERR_LOGIN_FAILED', 0xa3);
    assert.deepEqual(mgr.status(), { loggedIn: false });
    assert.deepEqual(apps[0]!.notices, []);
  });

  test('a node that is down during the login is signed in when it comes back, before it serves', async () => {
    const { mgr, apps, links } = host();
    links[2]!.drop();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    assert.deepEqual(signedInUsers(links), ['cu1', 'cu1', undefined]);
    await links[2]!.reconnect();
    assert.equal(links[2]!.connUser, 'cu1');
    assert.ok(mgr.signIn.ready(links[2]!));
    /* ... and a node that restarts (new connection) too. */
    links[0]!.drop();
    await links[0]!.reconnect();
    assert.equal(links[0]!.connUser, 'cu1');
  });

  test('a connection lost during the first login moves on to the next node', async () => {
    const { mgr, apps, links } = host();
    links[0]!.failNext = { kind: 'lost', count: 1 };
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    assert.equal(links[1]!.connUser, 'cu1');
  });

  test('no healthy node: ERR_DEVICE_ERROR "no HSM node is reachable"', async () => {
    const { mgr, apps, links } = host();
    for (const l of links) l.drop();
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'user1234', undefined), 'ERR_DEVICE_ERROR', 0x30, 'no HSM node is reachable');
  });

  test('when the last application that signed in disconnects, the host signs out; an inheritor leaving changes nothing', async () => {
    const { mgr, apps, links } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await mgr.disconnected(apps[1]!);
    assert.deepEqual(mgr.status(), { loggedIn: true, user: 'cu1', role: 'CU' });
    await mgr.login(apps[1]!, 'cu1', 'user1234', undefined);
    await mgr.disconnected(apps[0]!);
    assert.deepEqual(mgr.status(), { loggedIn: true, user: 'cu1', role: 'CU' }, 'app 2 joined, so it still holds the sign-in');
    assert.equal(mgr.signerId, 2);
    await mgr.disconnected(apps[1]!);
    assert.deepEqual(mgr.status(), { loggedIn: false });
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
  });

  test('a node that refuses the kept credentials on reconnect is left out, and not asked again on that connection', async () => {
    const { mgr, apps, links, cluster } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    cluster.users.get('cu1')!.password = 'changed-by-the-CO';
    links[1]!.drop();
    await links[1]!.reconnect();
    assert.equal(links[1]!.connUser, undefined);
    assert.equal(mgr.signIn.ready(links[1]!), false);
    const attempts = cluster.loginLog.filter(([n, , ok]) => n === 'node2' && !ok).length;
    assert.equal(attempts, 1);
    /* Requests keep going to the nodes that are still signed in. */
    for (let i = 0; i < 6; i++) {
      const sig = await ROUTER.forward(mgr.contextFor(), 'sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: 262144, data: new Uint8Array(1) });
      assert.doesNotMatch(new TextDecoder().decode(sig.signature), /^node2/);
    }
    assert.equal(cluster.loginLog.filter(([n, , ok]) => n === 'node2' && !ok).length, 1);
  });

  test('a node that answers the sign-in on reconnect with ERR_NODE_BEHIND is not left out: the link reconnects and signs in', async () => {
    const { mgr, apps, links, cluster } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    let behind = 1;
    links[1]!.handler = (_l, op) => {
      if (op !== 'login' || behind === 0) return undefined;
      behind--;
      throw new HsmError('ERR_NODE_BEHIND', 'cannot reach a quorum of the store; nothing was written');
    };
    links[1]!.drop();
    /* The prepare fails as a connection failure would: the link does not come up half signed in. */
    await assert.rejects(links[1]!.reconnect(), (e: HsmError) => e.code === 'ERR_NODE_BEHIND');
    assert.equal(mgr.signIn.ready(links[1]!), false);
    /* The next connection signs in and serves; the refusal cost no attempt against the user. */
    await links[1]!.reconnect();
    assert.equal(links[1]!.connUser, 'cu1');
    assert.ok(mgr.signIn.ready(links[1]!));
    assert.equal(cluster.loginLog.filter(([, , ok]) => !ok).length, 0);
    /* On a link that is up (a sign-in brought in line after a change), the link is dropped to reconnect. */
    await mgr.logout(apps[0]!);
    behind = 1;
    let resets = 0;
    const reset = links[1]!.reset.bind(links[1]!);
    links[1]!.reset = () => { resets++; reset(); };
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(resets, 1);
    assert.equal(mgr.signIn.ready(links[1]!), false);
    await links[1]!.reconnect();
    assert.ok(mgr.signIn.ready(links[1]!));
  });

  test('a sign-out while a node is re-connecting leaves no connection signed in', async () => {
    const { mgr, apps, links } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    links[0]!.delayMs = 20;
    links[0]!.drop();
    const back = links[0]!.reconnect();
    await mgr.logout(apps[0]!);
    await back;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
    assert.ok(links.every((l) => l.authGen === 0));
  });

  test('a logout releases every application\'s open sessions on one signed-in node, then signs every node out', async () => {
    const { mgr, apps, links } = host();
    apps[0]!.sessions.add(7);
    apps[1]!.sessions.add(9);
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await mgr.logout(apps[0]!);
    const released = links.flatMap((l) => l.released);
    assert.deepEqual(released, [{ user: 'cu1', sessions: [7, 9] }], 'once, by the user signing out');
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
    assert.ok(links.every((l) => l.authGen === 0));
  });

  test('a node that is down is not asked to release: an up node is', async () => {
    const { mgr, apps, links } = host();
    apps[0]!.sessions.add(7);
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    links[0]!.drop();
    await mgr.logout(apps[0]!);
    assert.deepEqual(links[0]!.released, []);
    assert.deepEqual(links[1]!.released, [{ user: 'cu1', sessions: [7] }]);
    assert.deepEqual(signedInUsers(links), [undefined, undefined, undefined]);
  });

  test('a cut-off node (connected, silent) holds a logout up for the sign-out bound only, not the request timeout: it is dropped, the others are signed out', { timeout: 10_000 }, async () => {
    for (const silent of [0, 1]) {
      /* 0: the node the release goes to; 1: a node that only signs out. */
      const { mgr, apps, links } = host(3, SHORT_SIGN_OUT);
      apps[0]!.sessions.add(7);
      await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
      links[silent]!.cutOff = true;
      await mgr.logout(apps[0]!);
      assert.equal(links[silent]!.state, 'down', 'the silent node\'s connection is dropped (it reconnects signed out)');
      assert.deepEqual(mgr.status(), { loggedIn: false });
      for (const [i, l] of links.entries()) if (i !== silent) assert.equal(l.connUser, undefined, `node ${i + 1} is signed out`);
      assert.deepEqual(links.flatMap((l) => l.released), silent === 0 ? [] : [{ user: 'cu1', sessions: [7] }], 'released where a node answered');
      /* The next sign-in works on the nodes that answer. */
      links[silent]!.cutOff = false;
      assert.deepEqual(await mgr.login(apps[1]!, 'cu2', 'password2', undefined), { user: 'cu2', role: 'CU' });
    }
  });

  test('concurrent logins are serialized: one signs in, the other joins or is refused', async () => {
    const { mgr, apps } = host();
    const [a, b] = await Promise.allSettled([mgr.login(apps[0]!, 'cu1', 'user1234', undefined), mgr.login(apps[1]!, 'cu2', 'password2', undefined)]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.equal((b as PromiseRejectedResult).reason.code, 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN');
  });

  test('the last holder leaving: signed out at once for everyone, a new login waits for the sign-out and signs in afresh', async () => {
    const { mgr, apps, links } = host();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    apps[1]!.notices.length = 0;
    mgr.departing(apps[0]!); /* the connection closed; its sessions are still being closed */
    assert.deepEqual(mgr.status(), { loggedIn: false });
    assert.deepEqual(apps[1]!.notices, [{ loggedIn: false }]);
    await rejectsWith(mgr.logout(apps[1]!), 'ERR_USER_NOT_LOGGED_IN');
    let joined = false;
    const next = mgr.login(apps[1]!, 'cu1', 'user1234', undefined).then((r) => ((joined = true), r));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(joined, false, 'the new login waits for the departed holder\'s sign-out');
    assert.deepEqual(signedInUsers(links), ['cu1', 'cu1', 'cu1'], 'the old sign-in stays until the cleanup is done');
    await mgr.disconnected(apps[0]!);
    assert.deepEqual(await next, { user: 'cu1', role: 'CU' });
    assert.deepEqual(mgr.status(), { loggedIn: true, user: 'cu1', role: 'CU' });
    assert.equal(mgr.signerId, apps[1]!.id, 'a fresh sign-in, held by the new application');
  });
});

describe('APPLICATION mode: each application its own sign-in', () => {
  function appMode(timeouts: () => LoginTimeouts = TIMEOUTS) {
    const cluster = new MemCluster();
    cluster.addUser('cu1', 'user1234');
    cluster.addUser('cu2', 'password2');
    const hostPool = new MemPool('host', cluster, 3);
    const made: MemPool[] = [];
    const mgr = new ApplicationLogin(hostPool, (name) => {
      const p = new MemPool(name, cluster, 3);
      made.push(p);
      return p;
    }, silentLogger(), timeouts);
    hostPool.start();
    return { cluster, hostPool, made, mgr, apps: [new App(1), new App(2)] };
  }

  test('two applications sign in as different users on their own links', async () => {
    const { mgr, apps, made, hostPool } = appMode();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    assert.deepEqual(mgr.status(apps[1]!), { loggedIn: false });
    assert.equal(mgr.contextFor(apps[1]!).pool, hostPool, 'not signed in: the anonymous host links');
    await mgr.login(apps[1]!, 'cu2', 'password2', undefined);
    assert.equal(made.length, 2);
    assert.deepEqual(signedInUsers(made[0]!.all), ['cu1', 'cu1', 'cu1']);
    assert.deepEqual(signedInUsers(made[1]!.all), ['cu2', 'cu2', 'cu2']);
    assert.deepEqual(signedInUsers(hostPool.all), [undefined, undefined, undefined]);
    const s1 = await ROUTER.forward(mgr.contextFor(apps[0]!), 'sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: 1, data: new Uint8Array(1) });
    const s2 = await ROUTER.forward(mgr.contextFor(apps[1]!), 'sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: 1, data: new Uint8Array(1) });
    assert.match(new TextDecoder().decode(s1.signature), /:cu1$/);
    assert.match(new TextDecoder().decode(s2.signature), /:cu2$/);
    assert.equal(apps[0]!.notices.length + apps[1]!.notices.length, 0);
  });

  test('a logout or a disconnect ends only that application\'s sign-in and closes its links', async () => {
    const { mgr, apps, made } = appMode();
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await mgr.login(apps[1]!, 'cu1', 'user1234', undefined);
    await mgr.logout(apps[0]!);
    assert.equal(made[0]!.closed, true);
    assert.deepEqual(mgr.status(apps[0]!), { loggedIn: false });
    assert.deepEqual(mgr.status(apps[1]!), { loggedIn: true, user: 'cu1', role: 'CU' });
    await mgr.disconnected(apps[1]!);
    assert.equal(made[1]!.closed, true);
    await rejectsWith(mgr.logout(apps[0]!), 'ERR_USER_NOT_LOGGED_IN', 0x101);
  });

  test('a logout releases the application\'s sessions on one of its links; a cut-off link holds it up for the sign-out bound only', { timeout: 10_000 }, async () => {
    const { mgr, apps, made } = appMode(SHORT_SIGN_OUT);
    apps[0]!.sessions.add(5);
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await mgr.logout(apps[0]!);
    assert.deepEqual(made[0]!.all.flatMap((l) => l.released), [{ user: 'cu1', sessions: [5] }]);
    await mgr.login(apps[0]!, 'cu2', 'password2', undefined);
    made[1]!.all[0]!.cutOff = true;
    await mgr.logout(apps[0]!);
    assert.equal(made[1]!.closed, true);
    assert.deepEqual(mgr.status(apps[0]!), { loggedIn: false });
  });

  test('double login is refused; a refused login leaves nothing open', async () => {
    const { mgr, apps, made } = appMode();
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'bad-password', undefined), 'ERR_LOGIN_FAILED', 0xa3);
    assert.equal(made[0]!.closed, true);
    await mgr.login(apps[0]!, 'cu1', 'user1234', undefined);
    await rejectsWith(mgr.login(apps[0]!, 'cu1', 'user1234', undefined), 'ERR_USER_ALREADY_LOGGED_IN', 0x100);
  });
});
