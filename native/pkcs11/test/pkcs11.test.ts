/**
 * libazcloudhsm_pkcs11.so driven by real clients against three real node
 * processes and a real azcloudhsm_client daemon (packages/testkit/src/cluster.ts):
 *
 *  - the Azure integration guide's sample flow (sample_app.c), compiled against
 *    dist/pkcs11_headers exactly as the guide compiles it;
 *  - api_test.c: the CK_RV of every function for good and bad input, the
 *    output-buffer convention, C_GetAttributeValue, multi-part buffering,
 *    sign-in and lockout, certificates in a public session, wrap/unwrap, ECDH,
 *    mutex callbacks, fork();
 *  - OpenSC pkcs11-tool: the digest's two examples, --list-objects, --sign,
 *    --verify, --test, --test-fork, a wrong PIN;
 *  - p11-kit list-modules with the module file from dist/share/p11-kit;
 *  - holder.c: a process killed while it holds a session object; the object
 *    leaves the node's store;
 *  - stress.c: 64 threads with their own sessions, then 16 threads on 4 sessions;
 *  - valgrind memcheck of api_test.c and a short stress.c run: no invalid access, no leak;
 *  - Java 17's SunPKCS11 (SunPkcs11Test.java): KeyStore, EC and RSA key pairs,
 *    SHA256withECDSA / SHA256withRSA made in the HSM and verified in software;
 *  - the cfg lookup (working directory, executable folder, environment) and its
 *    error, and C_Initialize with the daemon stopped (0x5).
 *
 * The C programs are compiled into a temporary directory by the test itself
 * (gcc, as .ci/run installs it); everything runs as child processes with a
 * time limit, and the cluster, daemon and directory are removed afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import { readSqliteStoreOffline } from '../../../packages/store/src/sqlite.js';
import { PATH } from '../../../packages/hsm-core/src/partition/records.js';

/* dist/native/pkcs11/test → the repository */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const dist = join(repo, 'dist');
const MODULE = join(dist, 'lib64', 'libazcloudhsm_pkcs11.so');
const SRC = join(repo, 'native', 'pkcs11', 'test');
const PIN = 'cu1:user1234';
const LOCK_USER = { user: 'cu9', password: 'lockme99' };
/* A second user to lock, for the run under valgrind. */
const LOCK_USER_2 = { user: 'cu8', password: 'lockme88' };

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolveRun, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? tmpdir(), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-200_000)));
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolveRun({ stdout, stderr, code });
    });
  });
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** "N passed, N failed" from the last such line. */
function counts(out: string): { passed: number; failed: number } {
  const m = [...out.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
  assert.ok(m, `no "N passed, N failed" line in:\n${out}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

function assertAllPassed(r: Run, min: number): void {
  const c = counts(r.stdout);
  assert.equal(c.failed, 0, `${c.failed} failed:\n${r.stdout}\n${r.stderr}`);
  assert.ok(c.passed >= min, `only ${c.passed} passed:\n${r.stdout}`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;
let binDir = '';
let bin = '';

before(async () => {
  assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
  dir = mkdtempSync(join(tmpdir(), 'ochsm-p11-'));
  bin = join(dir, 'programs');
  mkdirSync(bin);
  /* The guide's build line: the sample includes "pkcs11_headers/include/cryptoki.h". */
  const cc = (out: string, src: string, inc: string, extra: string[] = []) => {
    const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-I', inc, '-o', join(bin, out), join(SRC, src), '-ldl', '-lpthread', ...extra], { encoding: 'utf8' });
    assert.equal(r.status, 0, `gcc ${src}: ${r.stderr}`);
  };
  cc('sample_app', 'sample_app.c', dist);
  cc('api_test', 'api_test.c', join(dist, 'pkcs11_headers', 'include'));
  cc('stress', 'stress.c', join(dist, 'pkcs11_headers', 'include'));
  cc('holder', 'holder.c', join(dist, 'pkcs11_headers', 'include'));
  const cert = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'cert.key'),
    '-subj', '/CN=OpenCloudHSM PKCS11 test', '-days', '2', '-outform', 'DER', '-out', join(dir, 'cert.der')], { encoding: 'utf8' });
  assert.equal(cert.status, 0, cert.stderr);

  lc = await startCluster(join(dir, 'cluster'), {
    users: [
      { user: 'cu1', password: 'user1234', role: 'CU' },
      { ...LOCK_USER, role: 'CU' },
      { ...LOCK_USER_2, role: 'CU' },
    ],
  });
  daemon = await startDaemon(lc);
  binDir = daemon.binDir;
});

after(async () => {
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the sample flow of the integration guide: dlopen, two C_GetFunctionList, slot 1, cu1:user1234, generate, sign, verify, cleanup', async () => {
  const r = await run(join(bin, 'sample_app'), ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: binDir });
  assertAllPassed(r, 30);
  assert.match(r.stdout, /C_Initialize: 0x00000000/);
  assert.match(r.stdout, /the two function lists are identical/);
});

test('the sample finds azcloudhsm_application.cfg beside the executable and through AZCLOUDHSM_APPLICATION_CFG', async () => {
  /* The executable's folder: a copy of the program next to the cfg, run from elsewhere. */
  copyFileSync(join(bin, 'sample_app'), join(binDir, 'sample_app'));
  const beside = await run(join(binDir, 'sample_app'), ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: dir });
  assertAllPassed(beside, 30);
  const env = { ...process.env, AZCLOUDHSM_APPLICATION_CFG: join(binDir, 'azcloudhsm_application.cfg') };
  const byEnv = await run(join(bin, 'sample_app'), ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: dir, env });
  assertAllPassed(byEnv, 30);
});

test('without azcloudhsm_application.cfg, C_Initialize fails and names every path it tried', async () => {
  const env = { ...process.env };
  delete env.AZCLOUDHSM_APPLICATION_CFG;
  const r = await run(join(bin, 'sample_app'), ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: dir, env });
  assert.match(r.stdout, /C_Initialize: 0x00000005/);
  assert.match(r.stdout, /C_Finalize: 0x00000190/, 'C_Finalize after a failed C_Initialize: CKR_CRYPTOKI_NOT_INITIALIZED');
  assert.match(r.stderr, /azcloudhsm_application\.cfg is not present \(Cannot find file\)/);
  assert.ok(r.stderr.includes(join(dir, 'azcloudhsm_application.cfg')), r.stderr);
  assert.ok(r.stderr.includes(join(bin, 'azcloudhsm_application.cfg')), r.stderr);
  assert.match(r.stderr, /AZCLOUDHSM_APPLICATION_CFG not set/);
});

test('a wrong password or a PIN without ":" makes C_Login return 0xA3', async () => {
  for (const [user, password] of [['cu1', 'wrongpass1'], ['cu1user1234', 'x']]) {
    const r = await run(join(bin, 'sample_app'), ['-s', user!, '-p', password!, '-l', MODULE], { cwd: binDir });
    assert.match(r.stdout, /C_Login: 0x000000a3/, r.stdout);
    assert.match(r.stdout, /C_Logout: 0x00000101/, 'C_Logout after a failed login: CKR_USER_NOT_LOGGED_IN');
    assert.match(r.stdout, /C_Finalize: 0x00000000/);
  }
});

test('every function, good and bad input: the standard CK_RV codes (api_test.c)', async () => {
  const r = await run(join(bin, 'api_test'), [MODULE, PIN, LOCK_USER.user, join(dir, 'cert.der')], { cwd: binDir, timeoutMs: 90_000 });
  assertAllPassed(r, 250);
});

const P11TOOL = has('pkcs11-tool');

test('OpenSC pkcs11-tool: the two examples of the guide, with and without --sensitive --private', { skip: !P11TOOL && 'pkcs11-tool is not installed (Debian package opensc)' }, async () => {
  const base = ['--module', MODULE, '--login', '--login-type', 'user', '--pin', PIN];
  const aes = await run('pkcs11-tool', [...base, '--sensitive', '--private', '--keygen', '--key-type', 'AES:32', '--label', 'p11tool-aes'], { cwd: binDir });
  assert.equal(aes.code, 0, aes.stdout + aes.stderr);
  assert.match(aes.stdout, /Secret Key Object; AES length 32/);
  const ec = await run('pkcs11-tool', [...base, '--sensitive', '--private', '--keypairgen', '--key-type', 'EC:prime256v1', '--usage-sign', '--label', 'p11tool-ec', '--id', '01'], { cwd: binDir });
  assert.equal(ec.code, 0, ec.stdout + ec.stderr);
  assert.match(ec.stdout, /Key pair generated/);
  assert.match(ec.stdout, /EC_PARAMS:\s+06082a8648ce3d030107/);
  /* Without the flags OpenSC asks for CKA_SENSITIVE/CKA_PRIVATE FALSE, which the HSM refuses. */
  const aesBad = await run('pkcs11-tool', [...base, '--keygen', '--key-type', 'AES:32'], { cwd: binDir });
  assert.notEqual(aesBad.code, 0);
  assert.match(aesBad.stderr, /C_GenerateKey failed: rv = CKR_ATTRIBUTE_VALUE_INVALID \(0x13\)/);
  const ecBad = await run('pkcs11-tool', [...base, '--keypairgen', '--key-type', 'EC:prime256v1', '--usage-sign'], { cwd: binDir });
  assert.notEqual(ecBad.code, 0);
  assert.match(ecBad.stderr, /C_GenerateKeyPair failed: rv = CKR_ATTRIBUTE_VALUE_INVALID \(0x13\)/);
});

test('OpenSC pkcs11-tool: -I, -L, -M, --list-objects, --sign, --verify, --test, --test-fork; a wrong PIN shows 0xA3', { skip: !P11TOOL && 'pkcs11-tool is not installed' }, async () => {
  const base = ['--module', MODULE, '--login', '--login-type', 'user', '--pin', PIN];
  const info = await run('pkcs11-tool', ['--module', MODULE, '-I'], { cwd: binDir });
  assert.match(info.stdout, /Cryptoki version 2\.40/);
  assert.match(info.stdout, /Manufacturer\s+OpenCloudHSM/);
  const slots = await run('pkcs11-tool', ['--module', MODULE, '-L'], { cwd: binDir });
  assert.match(slots.stdout, /Slot 0 \(0x1\)/);
  assert.match(slots.stdout, /token flags\s+: login required, rng, token initialized, PIN initialized/);
  const mechs = await run('pkcs11-tool', ['--module', MODULE, '-M'], { cwd: binDir });
  assert.match(mechs.stdout, /AES-GCM, keySize=\{16,32\}, hw, encrypt, decrypt/);
  assert.match(mechs.stdout, /ECDSA-SHA256, keySize=\{256,\d+\}, hw, sign, verify/);

  /* An RSA key pair for --test (its tests are RSA only). */
  const rsa = await run('pkcs11-tool', [...base, '--sensitive', '--private', '--keypairgen', '--key-type', 'rsa:2048', '--usage-sign', '--usage-decrypt', '--id', '02', '--label', 'p11tool-rsa'], { cwd: binDir });
  assert.equal(rsa.code, 0, rsa.stdout + rsa.stderr);
  const list = await run('pkcs11-tool', [...base, '--list-objects'], { cwd: binDir });
  assert.equal(list.code, 0, list.stderr);
  for (const label of ['p11tool-aes', 'p11tool-ec', 'p11tool-rsa']) assert.ok(list.stdout.includes(`label:      ${label}`), list.stdout);

  const data = join(dir, 'data.txt');
  writeFileSync(data, 'to be signed in the HSM\n');
  for (const [id, mech] of [['01', 'ECDSA-SHA256'], ['02', 'SHA256-RSA-PKCS'], ['02', 'SHA256-RSA-PKCS-PSS']] as const) {
    const sig = join(dir, `sig-${mech}.bin`);
    const s = await run('pkcs11-tool', [...base, '--sign', '--id', id, '-m', mech, '-i', data, '-o', sig], { cwd: binDir });
    assert.equal(s.code, 0, s.stdout + s.stderr);
    const v = await run('pkcs11-tool', [...base, '--verify', '--id', id, '-m', mech, '-i', data, '--signature-file', sig], { cwd: binDir });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /Signature is valid/);
  }

  const t = await run('pkcs11-tool', [...base, '--test'], { cwd: binDir, timeoutMs: 120_000 });
  assert.equal(t.code, 0, t.stdout + t.stderr);
  assert.match(t.stdout, /all 4 digest functions seem to work/);
  assert.match(t.stdout, /all 4 signature functions seem to work/);
  assert.match(t.stdout, /RSA-PKCS-OAEP/);
  assert.match(t.stdout, /No errors/);
  const fork = await run('pkcs11-tool', [...base, '--test-fork'], { cwd: binDir });
  assert.equal(fork.code, 0, fork.stdout + fork.stderr);

  const wrong = await run('pkcs11-tool', ['--module', MODULE, '--login', '--login-type', 'user', '--pin', 'cu1:not-the-password', '--list-objects'], { cwd: binDir });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /C_Login failed: rv = CKR_PIN_EXPIRED \(0xa3\)/);
});

/*
 * p11-kit reads module files from ~/.config/pkcs11/modules, but not when it runs
 * as root. As root (CI), the test runs p11-kit as user nobody with group root,
 * which can reach the daemon's socket (mode 0660, directory 0750, group root);
 * otherwise as the current user. Nothing is installed system-wide.
 */
test('p11-kit list-modules shows the module from its module file (user config, nothing installed)', { skip: !(has('p11-kit') && has('setpriv')) && 'p11-kit (and setpriv) are not installed' }, async (t) => {
  const moduleFile = join(dist, 'share', 'p11-kit', 'modules', 'azcloudhsm.module');
  assert.ok(existsSync(moduleFile), `${moduleFile} is missing: run make build`);
  const home = mkdtempSync(join(tmpdir(), 'ochsm-p11kit-'));
  try {
    chmodSync(home, 0o755);
    mkdirSync(join(home, '.config', 'pkcs11', 'modules'), { recursive: true, mode: 0o755 });
    copyFileSync(moduleFile, join(home, '.config', 'pkcs11', 'modules', 'azcloudhsm.module'));
    chmodSync(join(home, '.config', 'pkcs11', 'modules', 'azcloudhsm.module'), 0o644);
    writeFileSync(join(home, 'azcloudhsm_application.cfg'), `SOCKET_PATH=${daemon!.socketPath}\n`, { mode: 0o644 });
    const env = { ...process.env, HOME: home, AZCLOUDHSM_APPLICATION_CFG: join(home, 'azcloudhsm_application.cfg') };
    let cmd = 'p11-kit';
    let args = ['list-modules'];
    if (process.getuid?.() === 0) {
      /* Let group root through to the socket (the test's own directories only). */
      chmodSync(dir, 0o750);
      chmodSync(lc!.dir, 0o750);
      const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=0', '--clear-groups', 'test', '-r', MODULE]);
      if (probe.status !== 0) {
        t.skip(`user nobody cannot read ${MODULE}; install the module file as docs/pkcs11.md says instead`);
        return;
      }
      cmd = 'setpriv';
      args = ['--reuid=65534', '--regid=0', '--clear-groups', 'p11-kit', 'list-modules'];
    }
    const r = await run(cmd, args, { cwd: home, env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(`azcloudhsm: ${MODULE}`), r.stdout + r.stderr);
    assert.match(r.stdout, /library-manufacturer: OpenCloudHSM/);
    assert.match(r.stdout, /token: OpenCloudHSM PARTN:1/);
    assert.match(r.stdout, /serial-number: [0-9A-F]{16}/);
  } finally {
    chmodSync(dir, 0o700);
    rmSync(home, { recursive: true, force: true });
  }
});

test('a process killed while it holds a session object: the daemon closes its cluster session and the object leaves the store', async () => {
  const db = join(dir, 'cluster', 'data', 'partition.db');
  const inStore = (h: number) => readSqliteStoreOffline(db).rows.some((r) => r.key === PATH.object(h));
  const p = spawn(join(bin, 'holder'), [MODULE, PIN], { cwd: binDir, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const handle = await new Promise<number>((resolveHandle, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`holder printed no handle within 30 s: ${out}`)), 30_000);
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^handle (\d+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolveHandle(Number(m[1]));
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`holder exited with ${String(code)}: ${out}`));
      });
    });
    assert.ok(inStore(handle), 'the session object is in the store while its process lives');
    p.kill('SIGKILL');
    /* The daemon sees the connection close and closes the cluster session (bounded wait, no timing asserted). */
    let gone = false;
    for (let i = 0; i < 300 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = !inStore(handle);
    }
    assert.ok(gone, `session object ${handle} of a killed process is still in the store after 30 s`);
  } finally {
    p.kill('SIGKILL');
  }
});

test('stress: 64 threads with their own sessions for 10 s, then 16 threads sharing 4 sessions', async () => {
  const r = await run(join(bin, 'stress'), [MODULE, PIN, '10', '64', '16', '4'], { cwd: binDir, timeoutMs: 120_000 });
  assertAllPassed(r, 3);
  assert.match(r.stdout, /phase 1: 64 threads.* 0 failures/);
  assert.match(r.stdout, /phase 2: 16 threads on 4 sessions.* 0 other failures/);
});

test('stress without threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS, as GnuTLS asks): 32 threads for 4 s, then 8 threads sharing 2 sessions', async () => {
  const r = await run(join(bin, 'stress'), [MODULE, PIN, '4', '32', '8', '2'], { cwd: binDir, timeoutMs: 120_000, env: { ...process.env, OCHSM_STRESS_NO_THREADS: '1' } });
  assertAllPassed(r, 4);
  assert.match(r.stdout, /without threads: the process has 1 thread\(s\)/);
  assert.match(r.stdout, /phase 1: 32 threads.* 0 failures/);
  assert.match(r.stdout, /phase 2: 8 threads on 2 sessions.* 0 other failures/);
  console.log(r.stdout.trim());
});

const VALGRIND = has('valgrind');
const MEMCHECK = ['--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite,indirect', '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99'];

test('valgrind memcheck: api_test (fork included) and a short stress run show no invalid access and no leak', { skip: !VALGRIND && 'valgrind is not installed' }, async () => {
  const api = await run('valgrind', [...MEMCHECK, join(bin, 'api_test'), MODULE, PIN, LOCK_USER_2.user, join(dir, 'cert.der')], { cwd: binDir, timeoutMs: 120_000 });
  assertAllPassed(api, 250);
  /* Parent and forked child each print a summary. */
  const summaries = [...api.stderr.matchAll(/ERROR SUMMARY: (\d+) errors/g)].map((m) => Number(m[1]));
  assert.ok(summaries.length >= 2 && summaries.every((n) => n === 0), api.stderr.slice(-6000));
  assert.doesNotMatch(api.stderr, /definitely lost: [1-9]|indirectly lost: [1-9]|Invalid (read|write|free)/);

  const stress = await run('valgrind', [...MEMCHECK, join(bin, 'stress'), MODULE, PIN, '3', '8', '4', '2'], { cwd: binDir, timeoutMs: 120_000 });
  assertAllPassed(stress, 3);
  assert.match(stress.stderr, /ERROR SUMMARY: 0 errors/);
  assert.match(stress.stderr, /All heap blocks were freed -- no leaks are possible|definitely lost: 0 bytes/);
});

const JAVA = has('javac') && has('java');

test('Java 17 SunPKCS11: KeyStore with the PIN, EC and RSA key pairs, HSM signatures verified in software', { skip: !JAVA && 'no JDK (javac) installed' }, async () => {
  const classes = join(dir, 'java');
  mkdirSync(classes, { recursive: true });
  const javac = await run('javac', ['-d', classes, join(SRC, 'SunPkcs11Test.java')], { timeoutMs: 120_000 });
  assert.equal(javac.code, 0, javac.stderr);
  /* The HSM's default for CKA_SIGN/CKA_VERIFY is FALSE (the Azure Cloud HSM guides), so the
   * provider is told to ask for them, as docs/pkcs11.md shows. */
  const cfg = join(dir, 'sunpkcs11.cfg');
  writeFileSync(cfg, [
    'name = AzureCloudHSM',
    `library = ${MODULE}`,
    'slot = 1',
    'attributes(generate, CKO_PRIVATE_KEY, *) = {',
    '  CKA_SIGN = true',
    '}',
    'attributes(generate, CKO_PUBLIC_KEY, *) = {',
    '  CKA_VERIFY = true',
    '}',
    '',
  ].join('\n'));
  const r = await run('java', ['-cp', classes, 'SunPkcs11Test', cfg, PIN], { cwd: binDir, timeoutMs: 120_000 });
  assertAllPassed(r, 10);
  assert.match(r.stdout, /SHA256withECDSA verifies in software/);
  assert.match(r.stdout, /SHA256withRSA verifies in software/);
});

test('with the daemon stopped, C_Initialize returns 0x5 and says why', async () => {
  await daemon!.stop();
  const r = await run(join(bin, 'sample_app'), ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: binDir });
  assert.match(r.stdout, /C_Initialize: 0x00000005/);
  assert.match(r.stderr, /Failed to connect socket/);
  assert.match(r.stderr, /is azcloudhsm_client running\?/);
});
