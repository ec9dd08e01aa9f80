/**
 * The Cavium JCE provider (dist/jce/*-jar-with-dependencies.jar) in real JVMs against three
 * real node processes and a real azcloudhsm_client daemon (packages/testkit/src/cluster.ts):
 *
 *  - the unit tests (codec on the protocol vectors, parameter specs, refusals, cfg reader);
 *  - VerifyJCE, compiled with the guide's `javac -cp <jar>: VerifyJCE.java`: the key count of
 *    `azcloudhsm_util singlecmd loginHSM ... findKey` goes up by one;
 *  - the guide's other sample programs in one JVM (each asserts its acceptance column);
 *  - keytool with the LSKS store (-genkeypair RSA and EC, -list, -certreq, -importcert of a CA
 *    and of the reply) with credentials from HSM_USER/HSM_PASSWORD/HSM_PARTITION, and
 *    jarsigner signing a jar with the HSM key and verifying it;
 *  - 16 threads signing with their own Signature objects while a node is SIGKILLed: 0 failures;
 *  - implicit sign-in again after a daemon restart; session keys reported lost;
 *  - a Java program inheriting another one's host-wide sign-in;
 *  - bad input: wrong password, no credentials, no cfg, no daemon, refusals of the HSM.
 *
 * The Java programs are compiled by the test itself (javac from openjdk-17-jdk-headless, as
 * .ci/run installs it); every JVM is a child process with a time limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../packages/testkit/src/cluster.js';
import { run as runTool, type Run } from '../../packages/testkit/src/tool_run.js';
import { cleanEnv } from './jvm_env.js';

/* dist/java/test → the repository */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const dist = join(repo, 'dist');
const JAR = join(dist, 'jce', 'azure-cloud-hsm-jca-17-jar-with-dependencies.jar');
const SECURITY = join(dist, 'jce', 'java.security');
const UTIL = join(dist, 'bin', 'azcloudhsm_util');
/* The version the provider must name itself with in hello, read from package.json here. */
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const JAVA = has('javac') && has('java') && has('keytool') && has('jarsigner');

/** A tool to its end through the test kit's runner: in a scratch folder and with the sign-in variables cleared unless told otherwise. */
function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<Run> {
  return runTool(cmd, args, { cwd: opts.cwd ?? tmpdir(), env: opts.env ?? cleanEnv(), timeoutMs: opts.timeoutMs ?? 60_000, encoding: 'utf8', ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** A long-running JVM: resolves `ready` when it prints READY; `done` when it exits. */
function startJava(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) {
  const p: ChildProcess = spawn('java', args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  p.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (/^READY$/m.test(stdout)) onReady();
  });
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const done = new Promise<Run>((r) =>
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      r({ stdout, stderr, code, signal });
    }),
  );
  return { p, ready: Promise.race([ready, done.then((x) => Promise.reject(new Error(`exited before READY: ${x.stdout}\n${x.stderr}`)))]), done };
}

const CREDS = { HSM_USER: 'cu1', HSM_PASSWORD: 'user1234', HSM_PARTITION: 'PARTITION_1' };

function counts(out: string): { passed: number; failed: number } {
  const m = [...out.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
  assert.ok(m, `no "N passed, N failed" line in:\n${out}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;
let binDir = '';
let samples = '';
let tests = '';

before(async () => {
  if (!JAVA) return;
  assert.ok(existsSync(JAR), `${JAR} is missing: run make build`);
  dir = mkdtempSync(join(tmpdir(), 'ochsm-jce-'));
  samples = join(dir, 'samples');
  tests = join(dir, 'tests');
  mkdirSync(samples);
  mkdirSync(tests);
  /* The guide's compile line: javac -cp <jar>: Sample.java (the samples see the jar only). */
  const srcs = readdirSync(join(repo, 'java', 'samples')).filter((f) => f.endsWith('.java')).map((f) => join(repo, 'java', 'samples', f));
  const c1 = spawnSync('javac', ['-Xlint:all', '-Werror', '-cp', `${JAR}:`, '-d', samples, ...srcs], { encoding: 'utf8' });
  assert.equal(c1.status, 0, `javac samples: ${c1.stderr}`);
  const tsrc = [
    ...readdirSync(join(repo, 'java', 'test')).filter((f) => f.endsWith('.java')).map((f) => join(repo, 'java', 'test', f)),
    ...readdirSync(join(repo, 'java', 'test', 'org', 'opencloudhsm', 'jce')).map((f) => join(repo, 'java', 'test', 'org', 'opencloudhsm', 'jce', f)),
  ];
  const c2 = spawnSync('javac', ['-cp', JAR, '-d', tests, ...tsrc], { encoding: 'utf8' });
  assert.equal(c2.status, 0, `javac tests: ${c2.stderr}`);
  lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
  daemon = await startDaemon(lc);
  binDir = daemon.binDir;
});

after(async () => {
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const skip = !JAVA && 'a JDK (javac, java, keytool, jarsigner) is not installed (Debian package openjdk-17-jdk-headless)';

test('unit tests: the codec passes the protocol vectors; specs, refusals, the cfg reader, the client name', { skip }, async () => {
  const r = await run('java', [`-Dochsm.version=${PACKAGE_VERSION}`, '-cp', `${JAR}:${tests}`, 'org.opencloudhsm.jce.UnitTests', join(dist, 'native-test')], { cwd: dir });
  const c = counts(r.stdout);
  assert.equal(c.failed, 0, r.stdout + r.stderr);
  assert.ok(c.passed >= 600, r.stdout);
  assert.equal(r.code, 0);
});

async function keyCount(): Promise<number> {
  const r = await run(UTIL, ['singlecmd', 'loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'user1234', 'findKey'], { cwd: binDir });
  const m = /Total number of keys present: (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return Number(m[1]);
}

test('VerifyJCE: the key count of azcloudhsm_util findKey goes up by one', { skip }, async () => {
  const before = await keyCount();
  /* As the guide runs it: the cfg in the working directory, java -cp .:<jar>: VerifyJCE. */
  const r = await run('java', ['-cp', `${samples}:${JAR}:`, 'VerifyJCE'], { cwd: binDir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Generated key: CaviumAESKey\[handle=\d+, label=[0-9a-f-]{36}, size=256, extractable=true, persistent=true\]/);
  assert.equal(await keyCount(), before + 1);
});

const SAMPLES = [
  'CloudHSMJCETemplate', 'RandomNumberGenerator', 'KeyGenerateAES', 'KeyGenerateDES', 'KeyGenerateSecret', 'KeyPairGenerateRSA', 'KeyPairECC',
  'KeyPersistDelete', 'MessageDigestExample', 'MacExample', 'CipherAES', 'CipherDESede', 'CipherRSA', 'WrapUnwrapAESNoPad', 'WrapUnwrapRSA', 'KeyImportHSM',
  'BasicECDSAExample', 'BasicRSASignExample', 'BasicECDH', 'KeyFactoryExample', 'ListAllAlgorithms', 'TestGCM', 'KeyStoreExample', 'KeyPairXDH',
];

test("the guide's sample programs, compiled against the jar, each asserting its acceptance condition", { skip }, async () => {
  const r = await run('java', ['-cp', `${samples}:${tests}:${JAR}`, 'RunSamples', ...SAMPLES], { cwd: binDir, timeoutMs: 120_000 });
  const c = counts(r.stdout);
  assert.equal(c.failed, 0, r.stdout + r.stderr);
  assert.equal(c.passed, SAMPLES.length, r.stdout);
  assert.match(r.stdout, /^Cavium$/m, 'ListAllAlgorithms prints the provider name');
  assert.match(r.stdout, /^true$/m, 'BasicECDH prints true');
  assert.match(r.stdout, /^Cipher: \[.*AES\/GCM\/NoPadding.*\]$/m);
  assert.match(r.stdout, /^SHA-224: b3a5367614fbe06ec84dd54831199376aa8dcc7dcc65bbb2b0f714bd$/m);
});

test('keytool with LSKS (genkeypair RSA and EC, list, certreq, importcert of a chain) and jarsigner sign and verify', { skip }, async () => {
  const env = cleanEnv(CREDS);
  const jopts = [`-J-cp`, `-J${JAR}`, `-J-Djava.security.properties=${SECURITY}`];
  const store = ['-keystore', join(dir, 'my_keystore.store'), '-storetype', 'LSKS', '-storepass', 'cavium'];
  const kt = (...a: string[]) => run('keytool', [...jopts, ...a], { cwd: binDir, env });
  const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
  ok(await kt('-genkeypair', '-alias', 'rsakey1', '-keyalg', 'RSA', '-keysize', '2048', '-sigalg', 'SHA256withRSA', '-dname', 'CN=rsakey1, O=OpenCloudHSM', ...store, '-keypass', 'cavium'), 'genkeypair RSA');
  ok(await kt('-genkeypair', '-alias', 'eckey1', '-keyalg', 'EC', '-groupname', 'secp256r1', '-sigalg', 'SHA256withECDSA', '-dname', 'CN=eckey1', ...store, '-keypass', 'cavium'), 'genkeypair EC');
  const list = await kt('-list', ...store);
  ok(list, 'list');
  assert.match(list.stdout, /Keystore type: LSKS/);
  assert.match(list.stdout, /Keystore provider: Cavium/);
  assert.match(list.stdout, /Your keystore contains 2 entries/);
  assert.match(list.stdout, /^rsakey1, .*PrivateKeyEntry/m);
  assert.match(list.stdout, /^eckey1, .*PrivateKeyEntry/m);
  const one = await kt('-list', '-alias', 'eckey1', ...store);
  ok(one, 'list -alias');
  assert.match(one.stdout, /^eckey1, .*PrivateKeyEntry/m);
  /* The keys are token keys in the HSM, labelled with the aliases. */
  const fk = await run(UTIL, ['singlecmd', 'loginHSM', '-u', 'CU', '-s', 'cu1', '-p', 'user1234', 'findKey', '-l', 'rsakey1'], { cwd: binDir });
  assert.match(fk.stdout, /number of keys matched from start index 0::1\b/, fk.stdout);

  /* certreq: the CSR is signed by the HSM key; openssl checks its self-signature. */
  for (const [alias, alg] of [['rsakey1', 'SHA256WithRSA'], ['eckey1', 'SHA256withECDSA']] as const) {
    ok(await kt('-certreq', '-alias', alias, '-sigalg', alg, '-file', join(dir, `${alias}.csr`), ...store, '-keypass', 'cavium'), `certreq ${alias}`);
    const v = spawnSync('openssl', ['req', '-in', join(dir, `${alias}.csr`), '-verify', '-noout'], { encoding: 'utf8' });
    assert.match(v.stdout + v.stderr, /verify OK/i, `${alias}.csr`);
  }
  /* A CA signs the RSA request; its certificate and then the reply are imported. */
  const ca = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-subj', '/CN=Test CA', '-days', '2', '-out', join(dir, 'ca.pem')], { encoding: 'utf8' });
  assert.equal(ca.status, 0, ca.stderr);
  const sign = spawnSync('openssl', ['x509', '-req', '-in', join(dir, 'rsakey1.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-out', join(dir, 'rsakey1.pem')], { encoding: 'utf8' });
  assert.equal(sign.status, 0, sign.stderr);
  const imCa = await kt('-importcert', '-alias', 'caname', '-file', join(dir, 'ca.pem'), '-noprompt', ...store);
  ok(imCa, 'importcert CA');
  assert.match(imCa.stdout + imCa.stderr, /Certificate was added to keystore/);
  const imReply = await kt('-importcert', '-alias', 'rsakey1', '-file', join(dir, 'rsakey1.pem'), ...store, '-keypass', 'cavium');
  ok(imReply, 'importcert reply');
  assert.match(imReply.stdout + imReply.stderr, /Certificate reply was installed in keystore/);
  const v = await kt('-list', '-v', '-alias', 'rsakey1', ...store);
  assert.match(v.stdout, /Certificate chain length: 2/);
  assert.match(v.stdout, /Issuer: CN=Test CA/);
  /* A wrong store password is refused (the file's integrity check). */
  const wrong = await kt('-list', '-keystore', join(dir, 'my_keystore.store'), '-storetype', 'LSKS', '-storepass', 'notcavium');
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /Keystore was tampered with, or password was incorrect/);

  /* jarsigner: sign test.jar with the HSM key, then verify it. */
  writeFileSync(join(dir, 'hello.txt'), 'hello from the HSM\n');
  const jr = spawnSync('jar', ['cf', join(dir, 'test.jar'), '-C', dir, 'hello.txt'], { encoding: 'utf8' });
  assert.equal(jr.status, 0, jr.stderr);
  const js = await run('jarsigner', [...jopts, ...store, '-keypass', 'cavium', '-sigalg', 'SHA256withRSA', '-digestalg', 'SHA-256', '-signedjar', join(dir, 'signed.jar'), join(dir, 'test.jar'), 'rsakey1'], { cwd: binDir, env });
  assert.equal(js.code, 0, js.stdout + js.stderr);
  assert.match(js.stdout, /jar signed\./);
  const jv = await run('jarsigner', ['-verify', '-verbose', '-certs', join(dir, 'signed.jar')], { cwd: dir });
  assert.equal(jv.code, 0, jv.stdout + jv.stderr);
  assert.match(jv.stdout, /jar verified\./);
  assert.match(jv.stdout, /CN=rsakey1, O=OpenCloudHSM/);
  /* A changed entry no longer verifies: the signature covers the content. */
  const t = join(dir, 'tampered');
  mkdirSync(t, { recursive: true });
  assert.equal(spawnSync('jar', ['xf', join(dir, 'signed.jar')], { cwd: t }).status, 0);
  writeFileSync(join(t, 'hello.txt'), 'changed\n');
  assert.equal(spawnSync('jar', ['cfM', join(dir, 'tampered.jar'), '-C', t, '.']).status, 0);
  const tv = await run('jarsigner', ['-verify', join(dir, 'tampered.jar')], { cwd: dir });
  assert.doesNotMatch(tv.stdout, /jar verified\./, tv.stdout + tv.stderr);
});

test('implicit sign-in again after a daemon restart; token keys keep working, session keys are reported lost', { skip }, async () => {
  const j = startJava(['-cp', `${tests}:${JAR}`, 'Reauth'], { cwd: binDir, env: cleanEnv(CREDS) });
  await j.ready;
  await daemon!.stop();
  daemon = await startDaemon(lc!);
  j.p.stdin!.end('go\n');
  const r = await j.done;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /token key signs after the restart/);
  assert.match(r.stdout, /session key lost: true: .*session key is lost/);
});

test("a Java program inherits another application's host-wide sign-in (HOST session mode)", { skip }, async () => {
  const holder = startJava(['-cp', `${tests}:${JAR}`, 'BadInput', 'hold'], { cwd: binDir });
  await holder.ready;
  const r = await run('java', ['-cp', `${tests}:${JAR}`, 'BadInput', 'operate'], { cwd: binDir });
  holder.p.stdin!.end('\n');
  const h = await holder.done;
  assert.match(r.stdout, /^generated CaviumAESKey\[/m, r.stdout + r.stderr);
  assert.match(h.stdout, /logged out/);
});

test('bad input: wrong password, no credentials, no cfg, no daemon, refusals of the HSM: specific exceptions, no hang', { skip }, async () => {
  const bad = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
    run('java', ['-cp', `${tests}:${JAR}`, 'BadInput', ...args], { cwd: opts.cwd ?? binDir, ...(opts.env ? { env: opts.env } : {}), timeoutMs: 30_000 });
  let r = await bad(['login', 'cu1', 'wrongpass1']);
  assert.match(r.stdout, /^com\.cavium\.cfm2\.CFM2Exception: login failed: wrong user name, password or PIN format \[status 0xa3, disconnect false, auth true\]$/m, r.stdout + r.stderr);
  r = await bad(['operate']);
  assert.match(r.stdout, /could not find credentials to log in to the HSM.*\[status 0x101, disconnect false, auth true\]/, r.stdout + r.stderr);
  r = await bad(['operate'], { env: cleanEnv({ HSM_USER: 'cu1', HSM_PASSWORD: 'wrongpass1' }) });
  assert.match(r.stdout, /login failed: wrong user name, password or PIN format \[status 0xa3/, r.stdout + r.stderr);
  r = await bad(['operate'], { env: cleanEnv({ HSM_USER: 'cu1' }) });
  assert.match(r.stdout, /HSM_USER is set in the environment but HSM_PASSWORD is not/, r.stdout + r.stderr);
  /* No cfg anywhere: the guide's "not present" error, naming every place tried. */
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  r = await bad(['operate'], { cwd: empty, env: cleanEnv(CREDS) });
  assert.match(r.stdout, /azcloudhsm_application\.cfg is not present \(Cannot find file\)\. Tried: .*empty\/azcloudhsm_application\.cfg \(working directory\)/, r.stdout + r.stderr);
  assert.match(r.stdout, /\$AZCLOUDHSM_APPLICATION_CFG not set.*\[status 0x5, disconnect true/);
  /* A cfg whose socket nobody listens on: the daemon is not running. */
  const dead = join(dir, 'dead');
  mkdirSync(dead, { recursive: true });
  writeFileSync(join(dead, 'azcloudhsm_application.cfg'), `SOCKET_TYPE=UNIXSOCKET\nSOCKET_PATH=${join(dead, 'nobody.sock')}\n`);
  const t0 = Date.now();
  r = await bad(['login', 'cu1', 'user1234'], { cwd: dead });
  assert.match(r.stdout, /daemon socket connection error: cannot connect to azcloudhsm_client at .*nobody\.sock .*is the daemon running\?.*API login failed \[status 0x5, disconnect true/, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 25_000, 'the refusal comes after the bounded retries, not a hang');
  /* The same cfg found through AZCLOUDHSM_APPLICATION_CFG, and TCPSOCKET on a closed port. */
  writeFileSync(join(dead, 'tcp.cfg'), 'SOCKET_TYPE=TCPSOCKET\nPORT=1\n');
  r = await bad(['operate'], { cwd: empty, env: cleanEnv({ ...CREDS, AZCLOUDHSM_APPLICATION_CFG: join(dead, 'tcp.cfg') }) });
  assert.match(r.stdout, /daemon socket connection error: cannot connect to azcloudhsm_client at 127\.0\.0\.1:1 /, r.stdout + r.stderr);
  /* Refusals the HSM makes, each as its JCE exception. */
  r = await bad(['hsm']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^java\.security\.InvalidParameterException: HSM Error: CKM_AES_KEY_GEN makes keys of 16 to 32 bytes, not 13 \[status 0x62/m);
  assert.match(r.stdout, /^getEncoded of a non-extractable key: null$/m);
  assert.match(r.stdout, /^java\.security\.InvalidKeyException: HSM Error: .*CKA_EXTRACTABLE FALSE \[status 0x6a/m);
  assert.match(r.stdout, /^java\.security\.InvalidKeyException: Signature: a RSA key is needed, got a EC key$/m);
  assert.match(r.stdout, /^javax\.crypto\.IllegalBlockSizeException: HSM Error: /m);
  assert.match(r.stdout, /^javax\.crypto\.BadPaddingException: HSM Error: the encrypted data is not authentic or is malformed/m);
  assert.match(r.stdout, /^com\.cavium\.cfm2\.CFM2Exception: object handle 999999999 is not valid for this user \[status 0x82/m);
});

test('16 threads sign with their own Signature objects while a node is SIGKILLed: 0 failures', { skip }, async () => {
  const j = startJava(['-cp', `${tests}:${JAR}`, 'SignThreads', '16', '8'], { cwd: binDir, timeoutMs: 90_000 });
  await j.ready;
  /* The node serving the load (the daemon's first choice under pack routing), not one that may be idle. */
  const victim = await lc!.busiestNode(1000);
  await lc!.killNode(victim);
  const r = await j.done;
  const m = /signatures: (\d+), failures: (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  assert.equal(Number(m[2]), 0, r.stdout);
  assert.ok(Number(m[1]) > 16, r.stdout);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  console.log(`# 16 threads, node ${victim} killed: ${m[1]} signatures, ${m[2]} failures`);
});
