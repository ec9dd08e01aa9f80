/**
 * The daemon as a real process in front of a real 3-node cluster
 * (packages/testkit/src/cluster.ts: node processes, claimed partition, CU cu1):
 *
 *  (a) the guide's "Cloud HSM client session handling", with two applications on the
 *      daemon socket, in HOST mode and in APPLICATION mode;
 *  (b) a wrong PO.crt: the exact Azure line, and no node is used;
 *  (c) fuzzing the daemon socket with malformed, truncated, oversize and
 *      random frames while a well-behaved application keeps working;
 *  (d) a node killed between commit and reply: the key generation is retried
 *      on another node with its request id, and exactly one key exists.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HsmError } from '../../protocol/src/errors.js';
import { FrameReader, KIND_NOTICE, KIND_RESPONSE, encodeFrame, HEADER_BYTES } from '../../protocol/src/codec.js';
import { OPS, decodeResponseMessage, encodeRequest, type DecodedNotice } from '../../protocol/src/messages.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import * as P from '../../protocol/src/pkcs11.js';
import { connectDaemon, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { CERT_SIGNATURE_FAILURE_LINE } from '../src/nodes.js';
import { anotherUserMessage } from '../src/login.js';
import { hasOpenssl } from '../../testkit/src/pki.js';

const SKIP = hasOpenssl() ? false : 'openssl is not installed';
const USERS = [{ user: 'cu1', password: 'user1234', role: 'CU' as const }, { user: 'cu2', password: 'password2', role: 'CU' as const }];
const P256 = new Uint8Array(Buffer.from('06082a8648ce3d030107', 'hex'));
const TRUE = new Uint8Array([1]);
const ECDSA = { mechanism: P.CKM_ECDSA_SHA256 };

interface App extends ProtocolClient {
  notices: DecodedNotice[];
}

async function app(d: DaemonHandle, name: string): Promise<App> {
  const c = (await connectDaemon(d.socketPath, name)) as App;
  c.notices = [];
  c.onNotice = (n) => c.notices.push(n);
  return c;
}

async function rejectsCode(p: Promise<unknown>, code: string, message?: string): Promise<HsmError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof HsmError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message !== undefined) assert.equal(err.message, message);
  return err;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function ecKey(c: ProtocolClient): Promise<{ publicHandle: number; privateHandle: number }> {
  return c.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [{ type: P.CKA_TOKEN, value: TRUE }, { type: P.CKA_EC_PARAMS, value: P256 }, { type: P.CKA_VERIFY, value: TRUE }],
    privateTemplate: [{ type: P.CKA_TOKEN, value: TRUE }, { type: P.CKA_SIGN, value: TRUE }],
  });
}

const sign = (c: ProtocolClient, handle: number) => c.request('sign', { mechanism: ECDSA, handle, data: new Uint8Array(Buffer.from('hello')) });

describe('azcloudhsm_client with a real cluster', { skip: SKIP, timeout: 180_000 }, () => {
  let dir: string;
  let lc: LocalCluster;
  const daemons: DaemonHandle[] = [];
  const clients: ProtocolClient[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ochsm-daemon-it-'));
    lc = await startCluster(dir, { users: USERS });
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const d of daemons) await d.stop().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const track = <T extends ProtocolClient>(c: T): T => {
    clients.push(c);
    return c;
  };

  test('(a) HOST mode: sign in once, the second application inherits, a sign-out by either signs out both, another user is refused', async () => {
    const d = await startDaemon(lc);
    daemons.push(d);
    const a = track(await app(d, 'first'));
    const b = track(await app(d, 'second'));
    assert.deepEqual(await a.request('login', { user: 'cu1', password: 'user1234' }), { user: 'cu1', role: 'CU' });
    const key = await ecKey(a);
    /* The second application signs without a login of its own. */
    assert.ok((await sign(b, key.privateHandle)).signature.length > 0);
    await until(() => b.notices.length > 0, 2000, 'the sign-in notice');
    assert.deepEqual(b.notices[0], { notice: 'loginChanged', obj: { loggedIn: true, user: 'cu1', role: 'CU' } });
    /* A different user is refused, with the documented message and CKR_USER_ANOTHER_ALREADY_LOGGED_IN. */
    const e = await rejectsCode(b.request('login', { user: 'cu2', password: 'password2' }), 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN', anotherUserMessage('cu1'));
    assert.equal(e.ckrv, P.CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    assert.equal(e.message, 'an active session is already open for cu1 on this host (signed in by another application); sign out there first (logoutHSM / C_Logout), or run the daemon with SESSION_MODE=APPLICATION');
    /* The same user with a wrong password is refused as the node refuses it (0xA3); with the right one it joins. */
    await rejectsCode(b.request('login', { user: 'cu1', password: 'not-the-password' }), 'ERR_LOGIN_FAILED');
    assert.deepEqual(await b.request('login', { user: 'cu1', password: 'user1234' }), { user: 'cu1', role: 'CU' });
    /* The second application signs out: both are signed out. */
    await b.request('logout', {});
    await until(() => a.notices.some((n) => n.notice === 'loginChanged' && n.obj.loggedIn === false), 2000, 'the sign-out notice to the first application');
    await rejectsCode(sign(a, key.privateHandle), 'ERR_USER_NOT_LOGGED_IN');
    assert.deepEqual(await a.request('loginStatus', {}), { loggedIn: false });
    /* And the other way round: the first signs in again, the second inherits, the first signs out. */
    await a.request('login', { user: 'cu1', password: 'user1234' });
    await sign(b, key.privateHandle);
    b.notices.length = 0;
    await a.request('logout', {});
    await until(() => b.notices.some((n) => n.notice === 'loginChanged' && n.obj.loggedIn === false), 2000, 'the sign-out notice to the second application');
    await rejectsCode(sign(b, key.privateHandle), 'ERR_USER_NOT_LOGGED_IN');
    /* Now another user may sign in. */
    assert.deepEqual(await b.request('login', { user: 'cu2', password: 'password2' }), { user: 'cu2', role: 'CU' });
    await b.request('logout', {});
    assert.ok(!d.log().includes('user1234') && !d.log().includes('password2'), 'no password in the log');
    const st = await a.request('status', {});
    assert.equal(st.component, 'daemon');
    assert.deepEqual(st.nodes!.map((n) => [n.id, n.state]), [[1, 'up'], [2, 'up'], [3, 'up']]);
    /* SIGTERM: a graceful stop, exit 0, the socket file removed. */
    await d.stop('SIGTERM');
    assert.equal(d.proc.exitCode, 0);
    assert.equal(existsSync(d.socketPath), false);
  });

  test('(a) APPLICATION mode keeps the two applications apart', async () => {
    const d = await startDaemon(lc, { name: 'appmode', sessionMode: 'APPLICATION' });
    daemons.push(d);
    const a = track(await app(d, 'first'));
    const b = track(await app(d, 'second'));
    await a.request('login', { user: 'cu1', password: 'user1234' });
    const key = await ecKey(a);
    await rejectsCode(sign(b, key.privateHandle), 'ERR_USER_NOT_LOGGED_IN');
    assert.deepEqual(await b.request('loginStatus', {}), { loggedIn: false });
    assert.deepEqual(await b.request('login', { user: 'cu2', password: 'password2' }), { user: 'cu2', role: 'CU' });
    await assert.rejects(sign(b, key.privateHandle), (e: unknown) => e instanceof HsmError && e.code !== 'ERR_USER_NOT_LOGGED_IN', 'cu2 cannot use cu1\'s key');
    await b.request('logout', {});
    assert.ok((await sign(a, key.privateHandle)).signature.length > 0, 'the first application is still signed in');
    assert.equal(a.notices.filter((n) => n.notice === 'loginChanged').length, 0);
    await a.request('logout', {});
  });

  test('(b) a wrong PO.crt: "Certificate ERROR: [ certificate signature failure ]", and requests fail with no HSM node is reachable', async () => {
    const wrong = join(dir, 'wrong-cert');
    mkdirSync(wrong, { recursive: true });
    /* Same subject as the real PO.crt, another key: the chain's signature does not verify. */
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '30', '-out', 'PO.crt', '-subj', '/CN=OpenCloudHSM Partition Owner'], { cwd: wrong, stdio: 'ignore' });
    const d = await startDaemon(lc, { name: 'wrongpo', certDir: wrong });
    daemons.push(d);
    await until(() => d.log().includes(CERT_SIGNATURE_FAILURE_LINE), 5000, 'the certificate error line');
    assert.ok(d.log().split('\n').includes(CERT_SIGNATURE_FAILURE_LINE), 'printed exactly, on a line of its own');
    const a = track(await app(d, 'victim'));
    await rejectsCode(a.request('generateRandom', { length: 16 }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
    await rejectsCode(a.request('login', { user: 'cu1', password: 'user1234' }), 'ERR_DEVICE_ERROR', 'no HSM node is reachable');
    const st = await a.request('status', {});
    assert.ok(st.nodes!.every((n) => n.state !== 'up'));
    /* Point cert_dir at the right PO.crt and send SIGHUP (the systemd ExecReload): the daemon recovers without a restart. */
    writeFileSync(join(d.binDir, 'azcloudhsm_client.cfg'), JSON.stringify({ cert_dir: lc.certDir, health_interval_ms: 200 }));
    d.proc.kill('SIGHUP');
    await until(() => d.log().includes('configuration reloaded'), 5000, 'the reload');
    const end = Date.now() + 15_000;
    for (;;) {
      const s = await a.request('status', {});
      if (s.nodes!.filter((n) => n.state === 'up').length === 3) break;
      if (Date.now() > end) assert.fail(`the links did not come up after SIGHUP: ${JSON.stringify(s.nodes)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await a.request('generateRandom', { length: 16 })).data.length, 16);
  });

  test('(c) fuzz: malformed, truncated, oversize and random frames get an error reply or a clean close; the daemon keeps serving', async () => {
    const d = await startDaemon(lc, { name: 'fuzz' });
    daemons.push(d);
    const good = track(await app(d, 'well-behaved'));
    await good.request('login', { user: 'cu1', password: 'user1234' });
    const key = await ecKey(good);
    const ops = Object.keys(OPS) as (keyof typeof OPS)[];
    const opcodes = ops.map((k) => OPS[k].opcode);
    const hello = encodeRequest('hello', 1, { versions: [1], client: 'fuzz' });

    /* One connection: optionally hello, then the bytes, then end; every reply must be a well-formed response or notice and the socket must close. */
    const probe = (bytes: Uint8Array, greet: boolean) => new Promise<void>((resolve, reject) => {
      const s = net.connect(d.socketPath);
      const reader = new FrameReader();
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`the daemon neither answered nor closed (${Buffer.from(bytes.subarray(0, 32)).toString('hex')}...)`));
      }, 5000);
      s.on('data', (chunk: Buffer) => {
        try {
          for (const f of reader.push(chunk)) {
            if (f.kind === KIND_NOTICE) continue;
            assert.equal(f.kind, KIND_RESPONSE);
            decodeResponseMessage(f);
          }
        } catch (e) {
          clearTimeout(timer);
          s.destroy();
          reject(e);
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      s.on('connect', () => {
        if (greet) s.write(hello);
        s.end(bytes);
      });
    });

    const header = (kind: number, id: number, opcode: number, len: number, flags = 0) => {
      const h = Buffer.alloc(HEADER_BYTES);
      h.writeUInt16BE(0x4f48, 0);
      h[2] = 1;
      h[3] = kind;
      h.writeUInt32BE(id >>> 0, 4);
      h.writeUInt16BE(opcode & 0xffff, 8);
      h.writeUInt16BE(flags, 10);
      h.writeUInt32BE(len >>> 0, 12);
      return h;
    };
    const frame = fc.oneof(
      /* random bytes */
      fc.uint8Array({ maxLength: 300 }),
      /* a valid header around a random body, known or unknown opcode */
      fc.tuple(fc.oneof(fc.constantFrom(...opcodes), fc.integer({ min: 0, max: 0xffff })), fc.integer({ min: 1, max: 0xffffffff }), fc.uint8Array({ maxLength: 200 }))
        .map(([op, id, body]) => new Uint8Array(encodeFrame({ kind: 1, requestId: id, opcode: op, body }))),
      /* a valid frame cut short */
      fc.tuple(fc.constantFrom(...opcodes), fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat())
        .map(([op, body, cut]) => {
          const f = encodeFrame({ kind: 1, requestId: 7, opcode: op, body });
          return new Uint8Array(f.subarray(0, cut % f.length));
        }),
      /* an oversize declared body */
      fc.tuple(fc.constantFrom(...opcodes), fc.integer({ min: 16 * 1024 * 1024 + 1, max: 0xffffffff }))
        .map(([op, len]) => new Uint8Array(Buffer.concat([header(1, 3, op, len), Buffer.alloc(64)]))),
      /* bad header fields: kind, flags, request id 0, a response or notice sent to the server */
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffff }))
        .map(([kind, id, flags]) => new Uint8Array(header(kind, id, 0x0012, 0, flags))),
      /* a mutated valid request */
      fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 255 }))
        .map(([pos, byte]) => {
          const f = Buffer.from(encodeRequest('sign', 9, { mechanism: ECDSA, handle: key.privateHandle, data: new Uint8Array(8) }));
          f[pos % f.length] = byte;
          return new Uint8Array(f);
        }),
      /* several frames at once, the same request id twice */
      fc.constant(new Uint8Array(Buffer.concat([encodeRequest('loginStatus', 5, {}), encodeRequest('loginStatus', 5, {}), encodeRequest('status', 6, {})]))),
    );
    await fc.assert(fc.asyncProperty(frame, fc.boolean(), async (bytes, greet) => {
      await probe(bytes, greet);
    }), { numRuns: 200, interruptAfterTimeLimit: 60_000 });

    /* The well-behaved application, on its own connection all along, is still served, and the daemon still runs. */
    assert.equal(d.proc.exitCode, null);
    assert.deepEqual(await good.request('loginStatus', {}), { loggedIn: true, user: 'cu1', role: 'CU' });
    assert.ok((await sign(good, key.privateHandle)).signature.length > 0);
    const late = track(await app(d, 'late'));
    assert.equal((await late.request('status', {})).component, 'daemon');
    await good.request('logout', {});
  });
});

describe('azcloudhsm_client failover with a real cluster', { skip: SKIP, timeout: 180_000 }, () => {
  test('(d) a node killed between commit and reply: retried on another node with the same request id, one key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ochsm-daemon-fo-'));
    let lc: LocalCluster | undefined;
    let d: DaemonHandle | undefined;
    let a: ProtocolClient | undefined;
    try {
      lc = await startCluster(dir, { env: (id): Record<string, string> => (id === 2 ? { OCHSM_FAULT_KILL_AFTER_COMMIT: 'generateKey' } : {}) });
      /* spread: node 2 must receive one of the four key generations, which the rotation guarantees (pack keeps the daemon on its own first choice). */
      d = await startDaemon(lc, { client: { routing: 'spread' } });
      a = await connectDaemon(d.socketPath, 'failover');
      await until2(async () => (await a!.request('status', {})).nodes!.filter((n) => n.state === 'up').length === 3, 10_000);
      await a.request('login', { user: 'cu1', password: 'user1234' });
      const label = new Uint8Array(Buffer.from('failover-test'));
      const template = [
        { type: P.CKA_TOKEN, value: TRUE }, { type: P.CKA_LABEL, value: label },
        { type: P.CKA_VALUE_LEN, value: new Uint8Array(Buffer.from([32, 0, 0, 0, 0, 0, 0, 0])) }, { type: P.CKA_ENCRYPT, value: TRUE },
      ];
      const handles: number[] = [];
      for (let i = 0; i < 4; i++) handles.push((await a.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template })).handle);
      /* The daemon may answer before this process has reaped node 2: wait for its exit. */
      const n2 = lc.node(2).proc!;
      await until(() => n2.exitCode !== null || n2.signalCode !== null, 5000, 'node 2 killed after it committed a key');
      assert.equal(new Set(handles).size, 4);
      const found = await a.request('findObjects', { template: [{ type: P.CKA_LABEL, value: label }] });
      assert.deepEqual([...found.handles].sort(), [...handles].sort(), 'every key acknowledged exactly once, none created twice');
      assert.match(d.log(), /retrying on another/);
    } catch (e) {
      if (d) process.stderr.write(`daemon log (tail):\n${d.log().slice(-6000)}\n`);
      throw e;
    } finally {
      a?.close();
      await d?.stop().catch(() => undefined);
      await lc?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function until2(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
