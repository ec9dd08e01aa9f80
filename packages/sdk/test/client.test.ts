/**
 * Tests of src/client.ts against a scripted daemon on a Unix socket (the
 * protocol's own server loop, serveConnection), so that connection loss,
 * silence and slowness happen exactly when a test wants them. The real
 * daemon's restart is exercised in login_manager.test.ts and
 * webcrypto/key_store.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { serveConnection, ConnectionLostError } from '../../protocol/src/connection.js';
import { HsmError } from '../../protocol/src/errors.js';
import type { DecodedRequest } from '../../protocol/src/messages.js';
import { HsmClient } from '../src/client.js';
import { DaemonUnavailableError, SessionKeyLostError } from '../src/errors.js';

interface Fake {
  readonly path: string;
  /** Every request received, with its connection number. */
  readonly seen: { conn: number; op: string; obj: Record<string, unknown> }[];
  connections: number;
  /** Decide the answer: return a result, throw an HsmError, 'drop' to close the connection, 'hang' to never answer. */
  script: (req: DecodedRequest, conn: number, socket: Socket) => unknown;
  close(): Promise<void>;
}

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdk-client-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Well-formed answers for the requests the tests do not script. */
function defaultAnswer(req: DecodedRequest): unknown {
  switch (req.op) {
    case 'openSession':
      return { session: 7 };
    case 'generateRandom':
      return { data: new Uint8Array(req.obj.length) };
    case 'status':
      return { component: 'daemon', version: 'test', uptime: 0 };
    case 'loginStatus':
      return { loggedIn: false };
    default:
      return {};
  }
}

async function fakeDaemon(name: string): Promise<Fake> {
  const path = join(dir, `${name}.sock`);
  const sockets = new Set<Socket>();
  const fake: Fake = {
    path,
    seen: [],
    connections: 0,
    script: (req) => defaultAnswer(req),
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
  const server: Server = createServer((socket) => {
    const conn = ++fake.connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, {
      context: conn,
      hello: () => ({ server: 'fake daemon' }),
      handle: async (_c, req) => {
        fake.seen.push({ conn, op: req.op, obj: req.obj as Record<string, unknown> });
        const r = fake.script(req, conn, socket);
        if (r === 'drop') {
          socket.destroy();
          return new Promise(() => undefined);
        }
        if (r === 'hang') return new Promise(() => undefined);
        return r;
      },
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  return fake;
}

test('connects lazily through azcloudhsm_application.cfg, says hello, opens a session and sends it', async () => {
  const fake = await fakeDaemon('cfg');
  writeFileSync(join(dir, 'azcloudhsm_application.cfg'), `SOCKET_PATH=${fake.path}\n`);
  const c = new HsmClient({ cwd: dir, env: {} });
  try {
    assert.equal(c.connected, false);
    assert.equal(fake.connections, 0);
    const r = await c.request('generateRandom', { length: 4 });
    assert.equal(r.data.length, 4);
    assert.equal(c.server, 'fake daemon');
    assert.equal(c.epoch, 1);
    assert.equal(c.session, 7);
    assert.deepEqual(fake.seen.map((s) => s.op), ['openSession', 'generateRandom']);
    assert.equal(fake.seen[1]!.obj.session, 7, 'the connection session is sent with requests that take one');
  } finally {
    c.close();
    await fake.close();
  }
});

test('pipelining: many requests in flight on one connection', async () => {
  const fake = await fakeDaemon('pipe');
  const c = new HsmClient({ socketPath: fake.path });
  try {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => c.request('generateRandom', { length: i + 1 })));
    assert.deepEqual(rs.map((r) => r.data.length), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(fake.connections, 1);
  } finally {
    c.close();
    await fake.close();
  }
});

test('a connection lost mid-request reconnects, reruns the hooks, and retries with the same requestId', async () => {
  const fake = await fakeDaemon('retry');
  let dropped = false;
  fake.script = (req) => {
    if (req.op === 'openSession') return { session: 10 + fake.connections };
    if (req.op === 'createObject') {
      if (!dropped) {
        dropped = true;
        return 'drop';
      }
      return { handle: 262144 };
    }
    return defaultAnswer(req);
  };
  const c = new HsmClient({ socketPath: fake.path, retry: { attempts: 3, backoffMs: 10, deadlineMs: 5000 } });
  const hooks: { epoch: number; reconnect: boolean }[] = [];
  c.addConnectionHook(async (call, info) => {
    hooks.push(info);
    await call('loginStatus', {});
  });
  try {
    const r = await c.request('createObject', { template: [] });
    assert.equal(r.handle, 262144);
    const creates = fake.seen.filter((s) => s.op === 'createObject');
    assert.equal(creates.length, 2);
    assert.equal(typeof creates[0]!.obj.requestId, 'string');
    assert.equal(creates[0]!.obj.requestId, creates[1]!.obj.requestId, 'one idempotency key for every attempt');
    assert.deepEqual([creates[0]!.obj.session, creates[1]!.obj.session], [11, 12], 'each attempt carries its own connection session');
    assert.deepEqual(hooks, [{ epoch: 1, reconnect: false }, { epoch: 2, reconnect: true }]);
    assert.equal(c.epoch, 2);
  } finally {
    c.close();
    await fake.close();
  }
});

test('the operation\'s own errors are not retried', async () => {
  const fake = await fakeDaemon('own');
  fake.script = (req) => {
    if (req.op === 'sign') throw new HsmError('ERR_KEY_FUNCTION_NOT_PERMITTED', 'key 5 does not allow sign');
    return defaultAnswer(req);
  };
  const c = new HsmClient({ socketPath: fake.path });
  try {
    await assert.rejects(c.request('sign', { mechanism: { mechanism: 0x1040 }, handle: 5, data: new Uint8Array(1) }), (e: unknown) => e instanceof HsmError && e.code === 'ERR_KEY_FUNCTION_NOT_PERMITTED' && e.ckrv === 0x68);
    assert.equal(fake.seen.filter((s) => s.op === 'sign').length, 1);
  } finally {
    c.close();
    await fake.close();
  }
});

test('no daemon: DaemonUnavailableError after the retry policy, naming the socket and the attempts', async () => {
  const path = join(dir, 'nobody.sock');
  const c = new HsmClient({ socketPath: path, retry: { attempts: 3, backoffMs: 20, deadlineMs: 2000 } });
  const t0 = Date.now();
  await assert.rejects(c.request('status', {}), (e: unknown) => {
    assert.ok(e instanceof DaemonUnavailableError);
    assert.ok(e instanceof ConnectionLostError, 'still a ConnectionLostError for callers that key on it');
    assert.equal(e.code, 'ERR_DEVICE_ERROR');
    assert.match(e.message, new RegExp(`${path}.*after 3 attempts.*is azcloudhsm_client running`));
    return true;
  });
  assert.ok(Date.now() - t0 >= 20, 'it backed off between attempts');
  /* retry: false makes one attempt */
  await assert.rejects(c.request('status', {}, { retry: false }), /after 1 attempt /);
  c.close();
});

test('a daemon that does not answer: ERR_DEVICE_ERROR after the timeout, not retried', async () => {
  const fake = await fakeDaemon('hang');
  fake.script = (req) => (req.op === 'openSession' ? { session: 1 } : 'hang');
  const c = new HsmClient({ socketPath: fake.path, timeoutMs: 150 });
  try {
    const t0 = Date.now();
    await assert.rejects(c.request('status', {}), (e: unknown) => e instanceof HsmError && e.code === 'ERR_DEVICE_ERROR' && /no answer within 150 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(fake.seen.filter((s) => s.op === 'status').length, 1);
  } finally {
    c.close();
    await fake.close();
  }
});

test('AbortSignal: an aborted wait rejects with the signal\'s reason; an aborted backoff too', async () => {
  const fake = await fakeDaemon('abort');
  fake.script = (req) => (req.op === 'openSession' ? { session: 1 } : 'hang');
  const c = new HsmClient({ socketPath: fake.path });
  try {
    const ac = new AbortController();
    const p = c.request('status', {}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
    await assert.rejects(c.request('status', {}, { signal: AbortSignal.abort(new Error('mine')) }), /mine/);
  } finally {
    c.close();
    await fake.close();
  }
  /* The first backoff is drawn from [30 s, 60 s]: a rejection before 30 s can only come from the
   * abort ending it. (With a 1 s backoff, drawn from [0.5 s, 1 s], "under 1 s" could fail on a loaded
   * machine and pass without the abort doing anything.) */
  const down = new HsmClient({ socketPath: join(dir, 'gone.sock'), retry: { attempts: 50, backoffMs: 60_000, deadlineMs: 600_000 } });
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(down.request('status', {}, { signal: ac.signal }), (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
  assert.ok(Date.now() - t0 < 30_000, 'the abort ends the backoff at once');
});

test('a request bound to an earlier connection epoch fails with SessionKeyLostError', async () => {
  const fake = await fakeDaemon('epoch');
  const c = new HsmClient({ socketPath: fake.path });
  try {
    await c.connection();
    assert.equal(c.epoch, 1);
    await c.request('status', {}, { epoch: 1 });
    fake.script = (req) => (req.op === 'openSession' ? { session: 2 } : defaultAnswer(req));
    /* Drop the connection: the next request reconnects (epoch 2). */
    (c as unknown as { conn: { socket: Socket } }).conn.socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(c.request('status', {}, { epoch: 1 }), (e: unknown) => e instanceof SessionKeyLostError && e.code === 'ERR_KEY_HANDLE_INVALID');
    assert.equal(c.epoch, 2);
  } finally {
    c.close();
    await fake.close();
  }
});

test('a goodbye notice retires the connection: the next request uses a new one', async () => {
  const fake = await fakeDaemon('goodbye');
  const c = new HsmClient({ socketPath: fake.path });
  try {
    await c.request('status', {});
    const goodbye = new Promise<string>((r) => c.once('goodbye', r));
    /* Send a goodbye notice on the server side of the first connection. */
    const { encodeNotice } = await import('../../protocol/src/messages.js');
    const sock = (c as unknown as { conn: { socket: Socket } }).conn.socket;
    sock.emit('data', Buffer.from(encodeNotice('goodbye', { reason: 'shutting down' })));
    assert.equal(await goodbye, 'shutting down');
    assert.equal(c.connected, false);
    await c.request('status', {});
    assert.equal(fake.connections, 2);
  } finally {
    c.close();
    await fake.close();
  }
});

test('an idle connection does not keep the process alive: a program exits when its work is done, without close()', async () => {
  const fake = await fakeDaemon('idle');
  try {
    const clientJs = new URL('../src/client.js', import.meta.url).href;
    const script = `import { HsmClient } from ${JSON.stringify(clientJs)};
      const c = new HsmClient({ socketPath: ${JSON.stringify(fake.path)} });
      const r = await c.request('generateRandom', { length: 3 });
      console.log('got', r.data.length);`;
    const t0 = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
    assert.equal(stdout.trim(), 'got 3');
    assert.ok(Date.now() - t0 < 8000);
    assert.equal(fake.connections, 1);
  } finally {
    await fake.close();
  }
});

test('bad retry policies are TypeErrors', () => {
  assert.throws(() => new HsmClient({ socketPath: '/x', retry: { attempts: 0 } }), TypeError);
  assert.throws(() => new HsmClient({ socketPath: '/x', retry: { backoffMs: -1 } }), TypeError);
  assert.throws(() => new HsmClient({ port: 70000 }), TypeError);
});
