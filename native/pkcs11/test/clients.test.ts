/**
 * libazcloudhsm_pkcs11.so under clients that load it the way daemons and
 * GnuTLS do, against three real node processes and a real azcloudhsm_client:
 *
 *  - GnuTLS (Debian gnutls-bin): p11tool and certtool call C_Initialize with
 *    CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK, so the module runs
 *    without a reader thread (the calling threads read their own answers).
 *    p11tool --list-all --login lists an HSM key pair; certtool makes a
 *    self-signed certificate with it; openssl verify accepts the certificate,
 *    and its public key is the HSM's.
 *
 * Every tool runs as a child process with a time limit; the cluster, the
 * daemon and the temporary directory are removed afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/cli/src/cluster.js';

/* dist/native/pkcs11/test → the repository */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const MODULE = join(repo, 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');
const PIN = 'cu1:user1234';

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolveRun, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? tmpdir(), env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-200_000)));
    p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    if (opts.input !== undefined) p.stdin!.end(opts.input);
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
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;
let binDir = '';

before(async () => {
  assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
  dir = mkdtempSync(join(tmpdir(), 'ochsm-p11-clients-'));
  lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
  daemon = await startDaemon(lc);
  binDir = daemon.binDir;
});

after(async () => {
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const GNUTLS = has('p11tool') && has('certtool') && has('pkcs11-tool');

test('GnuTLS without library threads: p11tool --list-all --login, certtool signs a self-signed certificate with an HSM key, openssl verify accepts it', { skip: !GNUTLS && 'gnutls-bin (p11tool, certtool) or opensc (pkcs11-tool) is not installed' }, async () => {
  const env = { ...process.env, GNUTLS_PIN: PIN };
  const tokens = await run('p11tool', ['--provider', MODULE, '--list-tokens'], { cwd: binDir, env });
  ok(tokens, 'p11tool --list-tokens');
  assert.doesNotMatch(tokens.stderr, /Thread locking error/);
  const url = /URL: (pkcs11:[^\n]*token=OpenCloudHSM%20PARTN%3A1)/.exec(tokens.stdout)?.[1];
  assert.ok(url, `no OpenCloudHSM token in:\n${tokens.stdout}`);

  /* The key pair: generated in the HSM (pkcs11-tool; GnuTLS's own generator asks for a public
   * key with CKA_PRIVATE FALSE, which the Azure partition refuses: docs/pkcs11.md). */
  const gen = await run('pkcs11-tool', ['--module', MODULE, '--login', '--pin', PIN, '--sensitive', '--private', '--keypairgen', '--key-type', 'EC:prime256v1',
    '--usage-sign', '--label', 'gnutls-ec', '--id', '4711'], { cwd: binDir });
  ok(gen, 'pkcs11-tool --keypairgen');

  const list = await run('p11tool', ['--provider', MODULE, '--list-all', '--login', url], { cwd: binDir, env });
  ok(list, 'p11tool --list-all --login');
  assert.match(list.stdout, /object=gnutls-ec;type=private/);
  assert.match(list.stdout, /Type: Private key \(EC\/ECDSA-SECP256R1\)/);
  assert.match(list.stdout, /object=gnutls-ec;type=public/);

  const tmpl = join(dir, 'cert.tmpl');
  const cert = join(dir, 'gnutls-cert.pem');
  writeFileSync(tmpl, 'cn = "OpenCloudHSM GnuTLS test"\nexpiration_days = 2\nsigning_key\ncert_signing_key\nca\n');
  const t0 = Date.now();
  const made = await run('certtool', ['--provider', MODULE, '--generate-self-signed', '--load-privkey', 'pkcs11:object=gnutls-ec;type=private',
    '--load-pubkey', 'pkcs11:object=gnutls-ec;type=public', '--template', tmpl, '--outfile', cert], { cwd: binDir, env });
  ok(made, 'certtool --generate-self-signed');
  console.log(`certtool --generate-self-signed with the HSM key: ${Date.now() - t0} ms`);

  const verify = await run('openssl', ['verify', '-CAfile', cert, cert]);
  ok(verify, 'openssl verify');
  assert.match(verify.stdout, /: OK/);
  /* Signed by the HSM's key: the certificate carries the HSM's public key. */
  const certPub = await run('openssl', ['x509', '-in', cert, '-noout', '-pubkey']);
  const hsmPub = await run('p11tool', ['--provider', MODULE, '--login', '--export-pubkey', 'pkcs11:object=gnutls-ec;type=public'], { cwd: binDir, env });
  ok(hsmPub, 'p11tool --export-pubkey');
  const pem = (s: string) => /-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/.exec(s)?.[0];
  assert.ok(pem(certPub.stdout) && pem(certPub.stdout) === pem(hsmPub.stdout), `public keys differ:\n${certPub.stdout}\n${hsmPub.stdout}`);
  assert.ok(readFileSync(cert, 'utf8').includes('BEGIN CERTIFICATE'));
});
