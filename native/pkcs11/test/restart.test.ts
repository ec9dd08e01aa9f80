/**
 * libazcloudhsm_pkcs11.so survives restarts of the client daemon: real node
 * processes, a real azcloudhsm_client, and restart.c with 8 threads signing
 * while the test restarts the daemon twice — once politely (SIGTERM: the
 * daemon answers what is in flight, closes the application's cluster sessions
 * and its sign-in), once by killing it (SIGKILL). The module reconnects by
 * itself; calls answer the PKCS#11 code of what was lost
 * (CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_ERROR for a
 * call in flight) and the application's next C_OpenSession / C_Login work; no
 * call hangs. The same again with CKF_LIBRARY_CANT_CREATE_OS_THREADS.
 *
 * The cluster keeps an application's cluster session (a lease in the store)
 * across a daemon restart, so the module finds it again and its sessions go
 * on; only the sign-in (bound to the daemon's node connections) is lost and
 * answered with CKR_USER_NOT_LOGGED_IN until the application signs in again.
 * (A cluster session the cluster no longer holds would be answered with
 * CKR_SESSION_HANDLE_INVALID; the nodes do not refuse unknown or expired
 * sessions yet, so that path cannot be produced with real processes today.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startDaemon } from '../../../packages/testkit/src/cluster.js';
import { MODULE, cProgramWorld } from './p11_world.js';

const PIN = 'cu1:user1234';

const w = cProgramWorld('restart', ['-lpthread']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run restart.c for `seconds` and restart the daemon at the given offsets (ms after READY). */
async function signThroughRestarts(seconds: number, restarts: ReadonlyArray<{ atMs: number; signal: NodeJS.Signals; downMs?: number }>, extra: string[] = [], wrap: string[] = [], threads = 8): Promise<string> {
  const argv = [...wrap, w.prog, MODULE, PIN, String(seconds), String(threads), ...extra];
  const p = spawn(argv[0]!, argv.slice(1), { cwd: w.daemon!.binDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => p.once('close', (code) => r(code)));
  const killer = setTimeout(() => p.kill('SIGKILL'), (seconds + 60) * 1000);
  try {
    for (let i = 0; !out.includes('READY'); i++) {
      if (p.exitCode !== null || i > 1200) throw new Error(`restart.c did not start:\n${out}`);
      await sleep(50);
    }
    const t0 = Date.now();
    for (const r of restarts) {
      await sleep(Math.max(0, r.atMs - (Date.now() - t0)));
      const s = Date.now();
      await w.daemon!.stop(r.signal);
      if (r.downMs) await sleep(r.downMs);
      w.daemon = await startDaemon(w.lc!);
      console.log(`daemon restarted (${r.signal}${r.downMs ? `, down ${r.downMs} ms` : ''}) at ${((s - t0) / 1000).toFixed(2)} s, serving again after ${Date.now() - s} ms`);
    }
    const code = await exited;
    assert.equal(code, 0, out);
    return out;
  } finally {
    clearTimeout(killer);
  }
}

function check(out: string): void {
  console.log(out.split('\n').filter((l) => !l.startsWith('==')).join('\n').trim());
  assert.match(out, /^5 passed, 0 failed$/m, out);
  /* What the application was told: only the codes of what was lost, never CKR_GENERAL_ERROR. */
  const codes = [...out.matchAll(/^ {2}rv 0x([0-9a-f]+): \d+$/gm)].map((m) => parseInt(m[1]!, 16));
  for (const c of codes) assert.ok([0x30, 0xb3, 0x101].includes(c), `unexpected CK_RV 0x${c.toString(16)} in:\n${out}`);
  assert.ok(!codes.includes(0x5), 'CKR_GENERAL_ERROR');
}

test('8 threads sign while the daemon is restarted (SIGTERM, then SIGKILL): the module reconnects, sessions and sign-in are reopened, no call hangs', async () => {
  const out = await signThroughRestarts(12, [{ atMs: 2500, signal: 'SIGTERM' }, { atMs: 7000, signal: 'SIGKILL' }]);
  check(out);
  /* The cluster still held the cluster session: it was found again; the sign-in had to be redone. */
  assert.match(out, /[1-9]\d* C_Login after CKR_USER_NOT_LOGGED_IN/);
});

test('the same without library threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS): a daemon killed under 8 signing threads', async () => {
  const out = await signThroughRestarts(7, [{ atMs: 2500, signal: 'SIGKILL' }], ['no-threads']);
  check(out);
});

test('a daemon that stays away longer than the module waits (10 s): calls answer CKR_DEVICE_ERROR within that bound, then work again once it is back', async () => {
  const out = await signThroughRestarts(17, [{ atMs: 1500, signal: 'SIGKILL', downMs: 11_500 }]);
  check(out);
  const slowest = Number(/slowest call ([\d.]+) s/.exec(out)?.[1]);
  assert.ok(slowest >= 9 && slowest < 20, `the module waited for the daemon, but not without bound (slowest call ${slowest} s)`);
  assert.match(out, /[1-9]\d* CKR_DEVICE_ERROR/);
});

const VALGRIND = spawnSync('sh', ['-c', 'command -v valgrind']).status === 0;

test('valgrind memcheck of a daemon restart under 4 signing threads: no invalid access, no leak', { skip: !VALGRIND && 'valgrind is not installed' }, async () => {
  const memcheck = ['valgrind', '--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite,indirect', '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99'];
  const out = await signThroughRestarts(8, [{ atMs: 3000, signal: 'SIGKILL' }], [], memcheck, 4);
  check(out);
  assert.match(out, /ERROR SUMMARY: 0 errors/);
  assert.match(out, /All heap blocks were freed -- no leaks are possible|definitely lost: 0 bytes/);
});
