/**
 * The application socket (src/server.ts): mode 0660 in a 0750 directory, a
 * world-writable directory refused, a stale socket replaced only when nothing
 * listens; and the command line (src/main.ts).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/log.js';
import { listenUnix, prepareSocketPath, SocketSetupError } from '../src/server.js';
import { parseDaemonArgs, USAGE } from '../src/main.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');
let root: string;

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SocketSetupError && message.test(e.message));
}

describe('the Unix socket', () => {
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ochsm-sock-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a missing directory is created 0750 and the socket is 0660', async () => {
    const path = join(root, 'a', 'run', 'azcloudhsm_client.sock');
    const old = process.umask(0o022);
    const s = createServer();
    try {
      await listenUnix(s, path, silentLogger());
      assert.equal(statSync(dirname(path)).mode & 0o777, 0o750);
      const st = statSync(path);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
    } finally {
      process.umask(old);
      await close(s);
    }
  });

  test('a world-writable directory is refused', async () => {
    const dir = join(root, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    await refused(prepareSocketPath(join(dir, 'd.sock'), silentLogger()), /refusing to put the daemon socket in .*open: the directory is world-writable \(mode 1777\)/);
  });

  test('a stale socket (nothing listening) is removed; a live one is refused', async () => {
    const dir = join(root, 'stale');
    mkdirSync(dir, { mode: 0o750 });
    const path = join(dir, 'd.sock');
    /* A daemon that crashed: a child listens, then dies by SIGKILL, leaving the socket file behind. */
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((r) => child.stdout.once('data', r));
    await refused(prepareSocketPath(path, silentLogger()), /another daemon is already listening on/);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    assert.ok(statSync(path).isSocket(), 'the file is still there');
    const second = createServer();
    try {
      await listenUnix(second, path, silentLogger());
      assert.equal(statSync(path).mode & 0o777, 0o660);
    } finally {
      await close(second);
    }
  });

  test('a path that is not a socket is never removed', async () => {
    const dir = join(root, 'file');
    mkdirSync(dir, { mode: 0o750 });
    const path = join(dir, 'd.sock');
    writeFileSync(path, 'important');
    await refused(prepareSocketPath(path, silentLogger()), /exists and is not a socket; refusing to replace it/);
  });

  test('a directory path that is a file is refused', async () => {
    const f = join(root, 'plainfile');
    writeFileSync(f, '');
    await assert.rejects(prepareSocketPath(join(f, 'd.sock'), silentLogger()));
  });
});

describe('the command line', () => {
  test('parsing', () => {
    assert.deepEqual(parseDaemonArgs(['azcloudhsm_resource.cfg']), { kind: 'run', cfg: 'azcloudhsm_resource.cfg', pidFile: undefined });
    assert.deepEqual(parseDaemonArgs(['r.cfg', '--pid-file', '/run/d.pid']), { kind: 'run', cfg: 'r.cfg', pidFile: '/run/d.pid' });
    assert.deepEqual(parseDaemonArgs(['r.cfg', '--pid-file=/run/d.pid']), { kind: 'run', cfg: 'r.cfg', pidFile: '/run/d.pid' });
    assert.deepEqual(parseDaemonArgs([]), { kind: 'error', message: 'the path of azcloudhsm_resource.cfg is missing' });
    assert.deepEqual(parseDaemonArgs(['a', 'b']), { kind: 'error', message: 'expected one configuration file, got 2: a b' });
    assert.deepEqual(parseDaemonArgs(['a', '--pid-file']), { kind: 'error', message: '--pid-file needs a path' });
    assert.deepEqual(parseDaemonArgs(['a', '--daemonize']), { kind: 'error', message: 'unknown option --daemonize' });
    assert.deepEqual(parseDaemonArgs(['--help']), { kind: 'help' });
  });

  function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.on('exit', (code) => {
        clearTimeout(t);
        resolve({ code, out, err });
      });
    });
  }

  test('no argument or two: usage on stderr and exit 2', { timeout: 20_000 }, async () => {
    for (const args of [[], ['a.cfg', 'b.cfg']]) {
      const r = await run(args);
      assert.equal(r.code, 2);
      assert.ok(r.err.includes(USAGE), r.err);
    }
  });

  test('a bad configuration file: its name and the problem, exit 1', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ochsm-main-'));
    try {
      const cfg = join(dir, 'azcloudhsm_resource.cfg');
      writeFileSync(cfg, '{"servers":[]}');
      const r = await run([cfg]);
      assert.equal(r.code, 1);
      assert.equal(r.err, `azcloudhsm_client: ${cfg}: "servers" is empty: give at least one server\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
