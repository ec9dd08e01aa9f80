/**
 * The daemon in-process (src/server.ts) against in-process TLS nodes
 * (helpers/fake_node.ts): certificate checks with the exact Azure lines,
 * discovery, the host-wide sign-in over real sockets, failover with request
 * ids, health checks, session clean-up, SIGHUP reload, shutdown.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import { Daemon } from '../src/server.js';
import { CERT_SIGNATURE_FAILURE_LINE, PO_MISSING_LINE } from '../src/nodes.js';
import { FakeClusterState, FakeNode } from './helpers/fake_node.js';
import { hasOpenssl, makeOwnerPki, type OwnerPki } from '../../testkit/src/pki.js';
import { freePort } from '../../testkit/src/cluster.js';
import { captureLogger, connectApp, until, writeInstall, type AppClient } from './helpers/daemon_env.js';

const SKIP = hasOpenssl() ? false : 'openssl is not installed';
const ECDSA = { mechanism: P.CKM_ECDSA };
const AES = { mechanism: P.CKM_AES_KEY_GEN };
const signReq = { mechanism: ECDSA, handle: 262144, data: new Uint8Array(32) };

let pki: OwnerPki;
let root: string;

async function rejectsCode(p: Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HsmError, String(e));
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

interface World {
  readonly dir: string;
  readonly nodes: FakeNode[];
  readonly daemon: Daemon;
  readonly logText: () => string;
  readonly apps: AppClient[];
  app(name?: string): Promise<AppClient>;
  close(): Promise<void>;
}

async function world(o: {
  nodes?: number; identity?: 'claimed' | 'unclaimed'; po?: string | null; bootstrap?: number[];
  client?: Record<string, unknown>; app?: string[];
} = {}): Promise<World> {
  const dir = mkdtempSync(join(root, 'w-'));
  const state = new FakeClusterState();
  const nodes: FakeNode[] = [];
  for (let i = 1; i <= (o.nodes ?? 3); i++) {
    const n = new FakeNode(i, state, o.identity === 'unclaimed' ? pki.unclaimed : pki.node);
    await n.start();
    nodes.push(n);
  }
  const inst = writeInstall(dir, {
    servers: (o.bootstrap ?? [1]).map((i) => ({ hostname: '127.0.0.1', port: nodes[i - 1]!.port })),
    ...(o.po === null ? {} : { poCrt: o.po ?? pki.poCrt }),
    ...(o.client ? { client: o.client } : {}),
    ...(o.app ? { app: o.app } : {}),
  });
  const cap = captureLogger();
  const daemon = await Daemon.start({ resourcePath: inst.resourceCfg, log: cap.log, pidFile: join(dir, 'daemon.pid') });
  const apps: AppClient[] = [];
  return {
    dir, nodes, daemon, logText: cap.text, apps,
    async app(name = 'app') {
      const a = await connectApp(daemon.address, name);
      apps.push(a);
      return a;
    },
    async close() {
      for (const a of apps) a.close();
      await daemon.stop(500);
      for (const n of nodes) await n.stop();
    },
  };
}

const upCount = async (w: World) => (await w.daemon.status()).nodes!.filter((n) => n.state === 'up').length;

describe('daemon against in-process nodes', { skip: SKIP, timeout: 120_000 }, () => {
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ochsm-daemon-'));
    pki = makeOwnerPki(mkdtempSync(join(root, 'pki-')));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('discovers every node from one bootstrap hostname; losing the bootstrap node later does not matter', async () => {
    const w = await world();
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const st = await w.daemon.status();
      assert.equal(st.component, 'daemon');
      assert.equal(st.partitionState, 'e2e');
      assert.deepEqual(st.nodes!.map((n) => n.id), [1, 2, 3]);
      assert.ok(existsSync(join(w.dir, 'daemon.pid')));
      const a = await w.app();
      await a.request('login', { user: 'cu1', password: 'user1234' });
      await w.nodes[0]!.stop();
      for (let i = 0; i < 6; i++) {
        const r = await a.request('sign', signReq);
        assert.match(new TextDecoder().decode(r.signature), /^node[23]:cu1$/);
      }
      const st2 = await w.daemon.status();
      assert.notEqual(st2.nodes!.find((n) => n.id === 1)!.state, 'up');
    } finally {
      await w.close();
    }
  });

  test('PO.crt missing: the Azure lines, no node used, ERR_DEVICE_ERROR; copying the file in fixes it without a restart', async () => {
    const w = await world({ po: null, client: { connect_timeout_ms: 300 } });
    try {
      const poPath = join(w.dir, 'cert', 'PO.crt');
      await until(() => w.logText().includes(PO_MISSING_LINE), 3000, 'the missing-PO line');
      assert.ok(w.logText().includes(`${poPath},\n${PO_MISSING_LINE}\n`), w.logText());
      const a = await w.app();
      await rejectsCode(a.request('generateRandom', { length: 8 }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
      assert.equal(w.nodes[0]!.served.length, 0);
      copyFileSync(pki.poCrt, poPath);
      await until(async () => (await upCount(w)) === 3, 10_000, 'links up after PO.crt appeared');
      await a.request('generateRandom', { length: 8 });
    } finally {
      await w.close();
    }
  });

  for (const which of ['same subject', 'other subject'] as const) {
    test(`wrong PO.crt (${which}): "Certificate ERROR: [ certificate signature failure ]", and the node is never sent a request`, async () => {
      const w = await world({ po: which === 'same subject' ? pki.wrongPoSameName : pki.wrongPoOtherName, client: { connect_timeout_ms: 300 } });
      try {
        await until(() => w.logText().includes(CERT_SIGNATURE_FAILURE_LINE), 3000, 'the certificate line');
        assert.ok(w.logText().split('\n').includes(CERT_SIGNATURE_FAILURE_LINE));
        assert.match(w.logText(), /"level":"error","msg":"certificate signature failure: the node is not used"/);
        const a = await w.app();
        await rejectsCode(a.request('generateRandom', { length: 8 }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
        await rejectsCode(a.request('login', { user: 'cu1', password: 'user1234' }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(w.nodes[0]!.served, [], 'not even hello reached the node');
        assert.equal(w.logText().split('\n').filter((l) => l === CERT_SIGNATURE_FAILURE_LINE).length, 1, 'printed once, not at every retry');
      } finally {
        await w.close();
      }
    });
  }

  test('an unclaimed node (self-signed, unencrypted mode) is not used', async () => {
    const w = await world({ identity: 'unclaimed', client: { connect_timeout_ms: 300 } });
    try {
      await until(() => w.logText().includes('the partition is not claimed yet'), 3000, 'the unclaimed warning');
      const a = await w.app();
      await rejectsCode(a.request('generateRandom', { length: 8 }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
      assert.deepEqual(w.nodes[0]!.served, []);
    } finally {
      await w.close();
    }
  });

  test('host-wide sign-in over real sockets: inherit, notices, conflict, sign-out by the other application', async () => {
    const w = await world();
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app('a');
      const b = await w.app('b');
      assert.deepEqual(await b.request('loginStatus', {}), { loggedIn: false });
      assert.deepEqual(await a.request('login', { user: 'cu1', password: 'user1234' }), { user: 'cu1', role: 'CU' });
      await until(() => b.notices.length > 0, 2000, 'b notice');
      assert.deepEqual(b.notices[0], { notice: 'loginChanged', obj: { loggedIn: true, user: 'cu1', role: 'CU' } });
      assert.deepEqual(await b.request('loginStatus', {}), { loggedIn: true, user: 'cu1', role: 'CU' });
      assert.match(new TextDecoder().decode((await b.request('sign', signReq)).signature), /:cu1$/);
      await rejectsCode(b.request('login', { user: 'cu2', password: 'password2' }), 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN',
        'an active session is already open for cu1 on this host (signed in by another application); sign out there first (logoutHSM / C_Logout), or run the daemon with SESSION_MODE=APPLICATION');
      await b.request('logout', {});
      await until(() => a.notices.some((n) => n.notice === 'loginChanged' && !n.obj.loggedIn), 2000, 'a sign-out notice');
      await rejectsCode(a.request('sign', signReq), 'ERR_USER_NOT_LOGGED_IN');
      assert.ok(!w.logText().includes('user1234'), 'the password never reaches the log');
    } finally {
      await w.close();
    }
  });

  test('a node that restarts is signed in again before it serves', async () => {
    /* spread: the test aims requests at one node, which the rotation reaches within three (pack keeps a daemon on its own first choice: router.test.ts, routing.test.ts). */
    const w = await world({ client: { routing: 'spread', retry: { attempts: 5, backoff_ms: 20, deadline_ms: 5000 } } });
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app();
      await a.request('login', { user: 'cu1', password: 'user1234' });
      const n2 = w.nodes[1]!;
      await n2.stop();
      await until(async () => (await w.daemon.status()).nodes![1]!.state !== 'up', 3000, 'node 2 down');
      await n2.start();
      await until(async () => (await upCount(w)) === 3, 10_000, 'node 2 back');
      const before = n2.served.length;
      for (let i = 0; i < 9; i++) await a.request('sign', signReq);
      const after = n2.served.slice(before).filter(([op]) => op === 'sign');
      assert.ok(after.length >= 2, 'node 2 serves again');
      assert.ok(after.every(([, user]) => user === 'cu1'), 'as the signed-in user');
    } finally {
      await w.close();
    }
  });

  test('failover: a key generation whose answer is lost is retried on another node with the same requestId (one key)', async () => {
    /* spread: the test aims requests at one node, which the rotation reaches within three (pack keeps a daemon on its own first choice: router.test.ts, routing.test.ts). */
    const w = await world({ client: { routing: 'spread' } });
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app();
      await a.request('login', { user: 'cu1', password: 'user1234' });
      w.nodes[1]!.dropAfterCommit = true;
      const handles: number[] = [];
      for (let i = 0; i < 3; i++) handles.push((await a.request('generateKey', { mechanism: AES, template: [] })).handle);
      assert.equal(w.nodes[1]!.dropAfterCommit, false, 'node 2 did drop one answer');
      assert.deepEqual(handles.sort(), [262144, 262145, 262146]);
      assert.equal(w.nodes[0]!.cluster.nextHandle, 262147, 'three keys, not four');
      assert.equal(w.nodes[0]!.cluster.requestIds.size, 3);
    } finally {
      await w.close();
    }
  });

  test('a request that times out on a hung node is retried on another; the health check drops the hung link', async () => {
    /* spread: the test aims requests at one node, which the rotation reaches within three (pack keeps a daemon on its own first choice: router.test.ts, routing.test.ts). */
    const w = await world({ client: { routing: 'spread', request_timeout_ms: 300, health_interval_ms: 50, health_timeout_ms: 150 } });
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app();
      await a.request('login', { user: 'cu1', password: 'user1234' });
      w.nodes[2]!.hang.add('sign');
      for (let i = 0; i < 4; i++) assert.match(new TextDecoder().decode((await a.request('sign', signReq)).signature), /^node[12]:/);
      w.nodes[2]!.hang.add('status');
      await until(() => /health check failed/.test(w.logText()), 3000, 'the health check to drop node 3');
    } finally {
      await w.close();
    }
  });

  test('no node reachable: ERR_DEVICE_ERROR "no HSM node is reachable"', async () => {
    const w = await world({ client: { retry: { attempts: 3, backoff_ms: 10, deadline_ms: 500 } } });
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app();
      for (const n of w.nodes) await n.stop();
      await until(async () => (await upCount(w)) === 0, 3000, 'all links down');
      await rejectsCode(a.request('generateRandom', { length: 4 }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
    } finally {
      await w.close();
    }
  });

  test('sessions an application opened are closed when it disconnects', async () => {
    const w = await world();
    try {
      await until(async () => (await upCount(w)) === 3, 5000, 'three links up');
      const a = await w.app();
      const s1 = (await a.request('openSession', { flags: 6 })).session;
      const s2 = (await a.request('openSession', { flags: 6 })).session;
      await a.request('closeSession', { session: s1 });
      assert.deepEqual([...w.nodes[0]!.cluster.sessions], [s2]);
      a.close();
      await until(() => w.nodes[0]!.cluster.sessions.size === 0, 3000, 'sessions closed');
    } finally {
      await w.close();
    }
  });

  test('SIGHUP reload connects a server newly added to the resource cfg', async () => {
    const w = await world({ nodes: 1 });
    const other = new FakeNode(7, new FakeClusterState(), pki.node);
    await other.start();
    try {
      await until(async () => (await upCount(w)) === 1, 5000, 'one link up');
      const cfg = join(w.dir, 'bin', 'azcloudhsm_resource.cfg');
      writeFileSync(cfg, JSON.stringify({ servers: [{ hostname: '127.0.0.1', port: w.nodes[0]!.port }, { hostname: '127.0.0.1', port: other.port }] }));
      await w.daemon.reload();
      await until(async () => (await upCount(w)) === 2, 5000, 'two links up');
      assert.deepEqual((await w.daemon.status()).nodes!.map((n) => n.id).sort(), [1, 7]);
      writeFileSync(cfg, '{ not json');
      await w.daemon.reload();
      assert.match(w.logText(), /reload failed; the running configuration is kept.*not valid JSON/);
    } finally {
      await w.close();
      await other.stop();
    }
  });

  test('TCPSOCKET listens on 127.0.0.1:PORT only', async () => {
    /* A port the system has just handed out and nobody holds: a random pick could be in use. */
    const port = await freePort();
    const w = await world({ nodes: 1, app: ['SOCKET_TYPE=TCPSOCKET', `PORT=${port}`] });
    try {
      assert.equal(w.daemon.address, `127.0.0.1:${port}`);
      const a = await connectApp({ host: '127.0.0.1', port });
      assert.equal((await a.request('status', {})).component, 'daemon');
      a.close();
    } finally {
      await w.close();
    }
  });

  test('shutdown: requests in flight finish, then the socket and the pid file are removed', async () => {
    const w = await world({ nodes: 1 });
    try {
      await until(async () => (await upCount(w)) === 1, 5000, 'one link up');
      const a = await w.app();
      const sock = w.daemon.address;
      w.nodes[0]!.delay.set('generateRandom', 300);
      const inflight = a.request('generateRandom', { length: 16 });
      await until(() => [...w.daemon.inFlightByApp().values()].some((n) => n > 0), 2000, 'the request in flight');
      const stopped = w.daemon.stop(2000);
      assert.equal((await inflight).data.length, 16);
      await stopped;
      assert.equal(existsSync(sock), false);
      assert.equal(existsSync(join(w.dir, 'daemon.pid')), false);
    } finally {
      await w.close();
    }
  });
});
