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
 *  - ssh-agent, a daemon whose working directory is /: `ssh-add -s` loads the
 *    module, which finds its cfg only at /opt/azurecloudhsm/bin (the last place
 *    of the lookup); `ssh-keygen -Y sign` signs through the agent with an HSM
 *    key and `ssh-keygen -Y verify` accepts it. The cfg is put in /opt inside a
 *    private mount namespace (a tmpfs over /opt, `unshare --mount`), so nothing
 *    is written to the machine's /opt and other tests running at the same time
 *    never see it.
 *  - files the module must not trust (a planted cfg owned by another user, a
 *    socket owned by another user): C_Initialize refuses them, names the file
 *    and the fix, and nothing connects to the planted socket.
 *
 * Every tool runs as a child process with a time limit; the cluster, the
 * daemon and the temporary directory are removed afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';

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
  /* HOST mode, the default: the tools run one after another, each signing in as the one before it
   * leaves (the departure race of packages/daemon/test/host_race.test.ts). */
  daemon = await startDaemon(lc, { sessionMode: 'HOST' });
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

const ROOT = process.getuid?.() === 0;
const SSH = has('ssh-agent') && has('ssh-add') && has('ssh-keygen') && has('unshare') && has('pkcs11-tool');

test('ssh-agent from working directory /: ssh-add -s finds the cfg in /opt/azurecloudhsm/bin, ssh-keygen -Y sign through the agent, -Y verify accepts', { skip: (!ROOT && 'needs root for a private mount namespace over /opt') || (!SSH && 'openssh-client, util-linux (unshare) or opensc is not installed') }, async () => {
  const gen = await run('pkcs11-tool', ['--module', MODULE, '--login', '--pin', PIN, '--sensitive', '--private', '--keypairgen', '--key-type', 'EC:prime256v1',
    '--usage-sign', '--label', 'ssh-ec', '--id', '5151'], { cwd: binDir });
  ok(gen, 'pkcs11-tool --keypairgen');
  const w = join(dir, 'ssh');
  mkdirSync(w, { mode: 0o700 });
  writeFileSync(join(w, 'askpass'), `#!/bin/sh\necho '${PIN}'\n`, { mode: 0o700 });
  writeFileSync(join(w, 'data'), 'signed through ssh-agent by a key in the HSM\n');
  const cfgLine = `SOCKET_PATH=${daemon!.socketPath}`;
  /* Runs inside `unshare --mount`: /opt is a private tmpfs there. */
  const script = `set -u
W='${w}'
M='${MODULE}'
mount -t tmpfs -o mode=0755 tmpfs /opt || { echo "cannot mount a tmpfs over /opt"; exit 3; }
cd /
unset AZCLOUDHSM_APPLICATION_CFG
ssh-agent -D -a "$W/agent.sock" -P "$(dirname "$M")/*" 2>"$W/agent.err" >/dev/null &
AGENT=$!
for i in $(seq 1 50); do [ -S "$W/agent.sock" ] && break; sleep 0.1; done
export SSH_AUTH_SOCK="$W/agent.sock" SSH_ASKPASS="$W/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0
echo "== without the product's cfg"
ssh-add -s "$M" </dev/null; echo "ssh-add exit $?"
mkdir -p /opt/azurecloudhsm/bin
printf '%s\n' '${cfgLine}' > /opt/azurecloudhsm/bin/azcloudhsm_application.cfg
echo "== with /opt/azurecloudhsm/bin/azcloudhsm_application.cfg"
ssh-add -s "$M" </dev/null; echo "ssh-add exit $?"
ssh-add -L > "$W/keys.pub"; echo "ssh-add -L exit $?"
grep ' ssh-ec$' "$W/keys.pub" > "$W/key.pub"
ssh-keygen -Y sign -f "$W/key.pub" -n file "$W/data"; echo "sign exit $?"
printf 'tester %s\n' "$(cat "$W/key.pub")" > "$W/allowed"
ssh-keygen -Y verify -f "$W/allowed" -I tester -n file -s "$W/data.sig" < "$W/data"; echo "verify exit $?"
echo tampered >> "$W/data"
ssh-keygen -Y verify -f "$W/allowed" -I tester -n file -s "$W/data.sig" < "$W/data"; echo "tampered verify exit $?"
kill $AGENT; wait $AGENT 2>/dev/null
echo "== agent stderr"; cat "$W/agent.err"
`;
  writeFileSync(join(w, 'run.sh'), script);
  const t0 = Date.now();
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', join(w, 'run.sh')], { cwd: '/', timeoutMs: 60_000 });
  const out = r.stdout + r.stderr;
  console.log(`ssh-agent flow in ${Date.now() - t0} ms:\n${out.trim()}`);
  assert.equal(r.code, 0, out);
  const [before, after] = out.split('== with /opt/azurecloudhsm/bin/azcloudhsm_application.cfg');
  assert.ok(after !== undefined, out);
  /* Without the product's copy the module finds no cfg, and says where it looked. */
  assert.match(before!, /ssh-add exit [1-9]/);
  assert.match(out, /azcloudhsm_application\.cfg is not present \(Cannot find file\)/);
  assert.ok(out.includes('/opt/azurecloudhsm/bin/azcloudhsm_application.cfg (the product\'s folder)'), out);
  assert.match(after!, /Card added: /);
  assert.match(after!, /ssh-add exit 0/);
  assert.match(readFileSync(join(w, 'keys.pub'), 'utf8'), /^ecdsa-sha2-nistp256 \S+ ssh-ec$/m);
  assert.match(after!, /sign exit 0/);
  assert.match(after!, /Good "file" signature for tester with ECDSA key/);
  assert.match(after!, /verify exit 0/);
  assert.match(after!, /tampered verify exit [1-9]/);
  /* The machine's /opt was never touched. */
  assert.ok(!existsSync('/opt/azurecloudhsm/bin/azcloudhsm_application.cfg') || readFileSync('/opt/azurecloudhsm/bin/azcloudhsm_application.cfg', 'utf8').trim() !== cfgLine);
});

test('files the module must not trust: a planted cfg of another user, another user\'s socket; C_Initialize refuses them and nothing connects', { skip: !ROOT && 'needs root to create files of another user' }, async () => {
  /* The attacker's socket: owned by uid 65534, counting the connections it gets. */
  const evil = join(dir, 'evil');
  mkdirSync(evil, { mode: 0o755 });
  const evilSock = join(evil, 'azcloudhsm_client.sock');
  let connections = 0;
  const srv = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((res) => srv.listen(evilSock, res));
  try {
    chownSync(evilSock, 65534, 65534);
    chmodSync(evilSock, 0o660);
    const p11 = join(dir, 'p11test');
    /* The guide's sample, built the guide's way (it includes "pkcs11_headers/include/cryptoki.h"). */
    const cc = spawnSync('gcc', ['-O2', '-I', join(repo, 'dist'), '-o', p11, join(repo, 'native', 'pkcs11', 'test', 'sample_app.c'), '-ldl'], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const env = { ...process.env };
    delete env.AZCLOUDHSM_APPLICATION_CFG;

    /* 1. Another user's directory with a cfg they planted, run by root (the attack). */
    const home = join(dir, 'home-of-nobody');
    mkdirSync(home, { mode: 0o755 });
    const planted = join(home, 'azcloudhsm_application.cfg');
    writeFileSync(planted, `SOCKET_PATH=${evilSock}\n`, { mode: 0o644 });
    chownSync(planted, 65534, 65534);
    const r1 = await run(p11, ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: home, env });
    assert.match(r1.stdout, /C_Initialize: 0x00000005/, r1.stdout + r1.stderr);
    assert.ok(r1.stderr.includes(`${planted}: refusing this configuration file: it belongs to uid 65534`), r1.stderr);
    assert.match(r1.stderr, /chown 0 /);

    /* 2. Our own cfg (root's, 0644) naming another user's socket. */
    const mine = join(dir, 'mine');
    mkdirSync(mine, { mode: 0o700 });
    writeFileSync(join(mine, 'azcloudhsm_application.cfg'), `SOCKET_PATH=${evilSock}\n`, { mode: 0o644 });
    const r2 = await run(p11, ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: mine, env });
    assert.match(r2.stdout, /C_Initialize: 0x00000005/, r2.stdout + r2.stderr);
    assert.ok(r2.stderr.includes(`refusing the client daemon socket ${evilSock}: it belongs to uid 65534`), r2.stderr);

    /* 3. Our cfg made group-writable. */
    chmodSync(join(mine, 'azcloudhsm_application.cfg'), 0o664);
    const r3 = await run(p11, ['-s', 'cu1', '-p', 'user1234', '-l', MODULE], { cwd: mine, env });
    assert.match(r3.stdout, /C_Initialize: 0x00000005/);
    assert.match(r3.stderr, /writable by its group \(mode 0664\), .*Fix: chmod go-w/);

    assert.equal(connections, 0, 'the planted socket was never connected to: no PIN can have reached it');
  } finally {
    await new Promise<void>((res) => srv.close(() => res()));
  }
});
