/**
 * The azcloudhsm_openssl engine (native/openssl-engine, docs/openssl.md) driven by
 * the real `openssl` binary and by nginx, against a real daemon and three real node
 * processes: the flow of the Azure Cloud HSM OpenSSL guide, its use cases, EC key
 * references with ECDSA_Sign=1, TLS 1.2 and 1.3 offload in nginx with RSA and
 * P-256 key references (§4), and the error cases (§5).
 *
 * The proof that the HSM did the work is the HSM's own audit log, read by the CO
 * straight from a node: every private-key operation on a key reference must appear
 * there as `sign` or `decrypt` with the key's handle; a software key must leave no
 * record; and with the daemon stopped the same signing command fails.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtocolClient } from '../../../packages/protocol/src/connection.js';
import { connectDaemon, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import { startOpensslWorld, stopOpensslWorld } from '../../../packages/testkit/src/openssl_world.js';
import { auditOf, handleOf, opensslRunner } from '../../openssl-common/test/openssl_tests.js';
import { ecKeyReference, markerBlock, readPrivateKeyFile, rsaKeyReference } from '../../../packages/protocol/src/keyref.js';
import { failed, ok, run, show, uses, type Run, toolEnv, utilTool } from '../../../packages/testkit/src/tool_run.js';
import { NGINX, startNginx as startNginxAt, type Nginx } from '../../../packages/testkit/src/nginx.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '..', '..', '..', '..');
const UTIL = join(REPO, 'dist', 'packages', 'cli', 'src', 'azcloudhsm_util.js');
const ENGINES = join(REPO, 'dist', 'lib64', 'engines-3');
const ENGINE = ['-engine', 'azcloudhsm_openssl'];


let root: string;
let cluster: LocalCluster;
let daemon: DaemonHandle;
/** The working directory of every openssl command: azcloudhsm_application.cfg is here (the Azure Cloud HSM guides). */
let work: string;
let conf: string;
let env: NodeJS.ProcessEnv;

/** The environment of the guide (the Azure Cloud HSM authentication guide, OpenSSL section). */
function engineEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return toolEnv({ OPENSSL_ENGINES: ENGINES, azcloudhsm_password: 'cu1:user1234', azcloudhsm_openssl_conf: conf }, [], extra);
}

const openssl = opensslRunner(() => work, () => env);



const { util, totalKeys } = utilTool(UTIL, () => work, () => engineEnv());

/* ───────────── the audit log (CO, straight from a node) ───────────── */

/* The store's chain (state changes) and each node's key-use log, followed from where the last call stopped. */
let nodeCos: ProtocolClient[] = [];
const newAudit = auditOf(() => nodeCos);

function writeConf(path: string, lines: readonly string[]): string {
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

before(async () => {
  assert.ok(existsSync(join(ENGINES, 'azcloudhsm_openssl.so')), `the engine is not built (${ENGINES}/azcloudhsm_openssl.so): run make build`);
  ({ root, cluster, daemon, work, nodeCos } = await startOpensslWorld('ochsm-openssl-'));
  conf = writeConf(join(root, 'azcloudhsm_openssl_dynamic.conf'), ['Partition_Name=PARTITION_1', 'ECDSA_Sign=1', 'ECDSA_Verify=1']);
  env = engineEnv();
  await newAudit();
});

after(() => stopOpensslWorld({ root, cluster, daemon, nodeCos }));

/* ───────────────────────────── the guide's flow (the Azure Cloud HSM OpenSSL guide) ───────────────────────────── */

let rsaKey: string; // private_key.pem, a key reference made by genpkey
let rsaHandle: number;

test('the guide\'s flow: with the variables exported, genpkey -algorithm RSA -engine makes the key in the HSM (findKey +1)', async () => {
  const before = await totalKeys();
  /* The guide's lines, verbatim but for the paths. */
  const script = [
    'set -e',
    `export azcloudhsm_password="cu1:user1234"`,
    `export azcloudhsm_openssl_conf=${conf}`,
    `export OPENSSL_ENGINES=${ENGINES}`,
    'openssl genpkey -algorithm RSA -out private_key.pem -engine azcloudhsm_openssl',
  ].join('\n');
  const env0 = engineEnv({ azcloudhsm_password: undefined, azcloudhsm_openssl_conf: undefined, OPENSSL_ENGINES: undefined });
  const r = ok(await run('bash', ['-c', script], { cwd: work, env: env0 }), 'genpkey');
  assert.match(r.stderr, /Engine "azcloudhsm_openssl" set\./);
  assert.equal(await totalKeys(), before + 1, 'findKey counts one more key');

  rsaKey = join(work, 'private_key.pem');
  rsaHandle = handleOf(rsaKey);
  /* The file is a PKCS#8 "PRIVATE KEY" around the RSA layout of getCaviumPrivKey: real n and e,
     the marker block in d and the CRT values. */
  const text = readFileSync(rsaKey, 'utf8');
  assert.match(text, /^-----BEGIN PRIVATE KEY-----/);
  const f = readPrivateKeyFile(text);
  assert.equal(f.kind, 'rsa');
  assert.deepEqual(f.kind === 'rsa' ? f.d : undefined, markerBlock(rsaHandle, 32));
  const text2 = ok(await openssl(['rsa', '-in', rsaKey, '-text', '-noout']), 'rsa -text').stdout;
  assert.match(text2, /Private-Key: \(2048 bit, 2 primes\)/);
  /* azcloudhsm_util accepts the engine's file. */
  const v = await util(['IsValidKeyHandlefile', '-f', rsaKey]);
  assert.equal(v.code, 0, show(v));
  assert.match(v.stdout, new RegExp(`Input key file has valid key handle: ${rsaHandle}`));
  const audit = await newAudit();
  assert.ok(audit.some((x) => x.action === 'generateKeyPair' && x.result === 'ok' && x.user === 'cu1'), JSON.stringify(audit));
});

test('the guide\'s flow: req -new -x509 signs in the HSM; rsa -pubout gives the key\'s public key', async () => {
  ok(await openssl(['req', '-new', '-x509', '-key', rsaKey, '-out', 'certificate.crt', '-days', '365', '-subj', '/CN=openssl engine test', ...ENGINE]), 'req -x509');
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 1, 'one HSM signature for the certificate');
  ok(await openssl(['verify', '-CAfile', 'certificate.crt', 'certificate.crt']), 'verify the self-signed certificate');
  ok(await openssl(['rsa', '-in', rsaKey, '-pubout', '-out', 'public_key.pem', ...ENGINE]), 'rsa -pubout');
  const fromCert = ok(await openssl(['x509', '-in', 'certificate.crt', '-pubkey', '-noout']), 'x509 -pubkey').stdout;
  assert.equal(fromCert, readFileSync(join(work, 'public_key.pem'), 'utf8'));
});

test('the guide\'s flow: encrypt with the public key, decrypt with the key reference in the HSM (pkeyutl, rsautl, OAEP)', async () => {
  const plain = 'Azure Cloud HSM OpenSSL engine plaintext\n';
  writeFileSync(join(work, 'plaintext.txt'), plain);
  ok(await openssl(['rsautl', '-encrypt', '-pubin', '-inkey', 'public_key.pem', '-in', 'plaintext.txt', '-out', 'enc_plaintext.txt', ...ENGINE]), 'rsautl -encrypt');
  ok(await openssl(['rsautl', '-decrypt', '-inkey', rsaKey, '-in', 'enc_plaintext.txt', '-out', 'dec_plaintext.txt', ...ENGINE]), 'rsautl -decrypt');
  assert.equal(readFileSync(join(work, 'dec_plaintext.txt'), 'utf8'), plain);
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'public_key.pem', '-in', 'plaintext.txt', '-out', 'enc2.bin']), 'pkeyutl -encrypt');
  const d = ok(await openssl(['pkeyutl', '-decrypt', '-inkey', rsaKey, '-in', 'enc2.bin', ...ENGINE]), 'pkeyutl -decrypt');
  assert.equal(d.stdout, plain);
  const oaep = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'];
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'public_key.pem', '-in', 'plaintext.txt', '-out', 'enc3.bin', ...oaep]), 'OAEP encrypt');
  const d3 = ok(await openssl(['pkeyutl', '-decrypt', '-inkey', rsaKey, '-in', 'enc3.bin', ...oaep, ...ENGINE]), 'OAEP decrypt');
  assert.equal(d3.stdout, plain);
  assert.equal(uses(await newAudit(), 'decrypt', rsaHandle), 3, 'three HSM decryptions');
});

test('dgst -sha256 -sign with the key reference, then -verify prints Verified OK (PKCS#1 v1.5 and PSS)', async () => {
  writeFileSync(join(work, 'file_to_sign.txt'), 'Azure Cloud HSM Plain Text File\n');
  ok(await openssl(['dgst', ...ENGINE, '-engine_impl', '-sign', rsaKey, '-out', 'signature1.bin', '-sha256', 'file_to_sign.txt']), 'dgst -sign');
  const v = ok(await openssl(['dgst', '-sha256', '-verify', 'public_key.pem', '-signature', 'signature1.bin', 'file_to_sign.txt']), 'dgst -verify');
  assert.equal(v.stdout, 'Verified OK\n');
  const pss = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-1'];
  ok(await openssl(['dgst', '-sha384', '-sign', rsaKey, ...pss, '-out', 'signature2.bin', ...ENGINE, 'file_to_sign.txt']), 'dgst -sign PSS');
  const v2 = ok(await openssl(['dgst', '-sha384', '-verify', 'public_key.pem', ...pss, '-signature', 'signature2.bin', 'file_to_sign.txt']), 'verify PSS');
  assert.equal(v2.stdout, 'Verified OK\n');
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 2);
  /* Without the engine the file is useless: OpenSSL cannot sign with the marker as exponent. */
  const s3 = await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'signature3.bin', 'file_to_sign.txt'], { env: engineEnv({ OPENSSL_ENGINES: undefined }) });
  if (s3.code === 0) {
    const v3 = await openssl(['dgst', '-sha256', '-verify', 'public_key.pem', '-signature', 'signature3.bin', 'file_to_sign.txt']);
    assert.notEqual(v3.code, 0);
    assert.match(v3.stdout, /Verification failure/);
  }
  assert.equal((await newAudit()).length, 0);
});

test('use cases of the guide (the Azure Cloud HSM guides): CSR, x509 -req -signkey, S/MIME sign and verify, verify through the engine', async () => {
  ok(await openssl(['req', '-new', '-key', rsaKey, '-out', 'cert.csr', '-subj', '/CN=cac4096/emailAddress=cu1@example.com', ...ENGINE]), 'req -new');
  ok(await openssl(['req', '-in', 'cert.csr', '-verify', '-noout']), 'the CSR self-signature');
  const x = ok(await openssl(['x509', ...ENGINE, '-req', '-days', '365', '-in', 'cert.csr', '-signkey', rsaKey, '-out', 'cac.crt']), 'x509 -req -signkey');
  assert.match(x.stderr, /Certificate request self-signature ok/);
  writeFileSync(join(work, 'unsigned_message.txt'), 'an S/MIME message signed in the HSM\n');
  ok(await openssl(['smime', ...ENGINE, '-sign', '-in', 'unsigned_message.txt', '-out', 'signed_message.p7', '-signer', 'cac.crt', '-inkey', rsaKey, '-certfile', 'cac.crt']), 'smime -sign');
  const v = ok(await openssl(['smime', ...ENGINE, '-verify', '-in', 'signed_message.p7', '-CAfile', 'cac.crt', '-signer', 'cac.crt', '-out', 'message']), 'smime -verify');
  assert.match(v.stderr, /Verification successful/);
  assert.equal(readFileSync(join(work, 'message'), 'utf8').replace(/\r\n/g, '\n'), 'an S/MIME message signed in the HSM\n');
  /* The guide verifies through the engine too (-engine_impl: the engine supplies the digest). */
  const g = ok(await openssl(['dgst', ...ENGINE, '-engine_impl', '-verify', 'public_key.pem', '-signature', 'signature1.bin', '-sha256', 'file_to_sign.txt']), 'verify with -engine_impl');
  assert.equal(g.stdout, 'Verified OK\n');
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 3, 'CSR, certificate, S/MIME: each signed in the HSM');
});

test('genrsa and req -newkey rsa:3072 through the engine make HSM keys too', async () => {
  const before = await totalKeys();
  ok(await openssl(['genrsa', ...ENGINE, '-out', 'web_server_fake_PEM.key', '2048']), 'genrsa');
  ok(await openssl(['req', '-x509', '-newkey', 'rsa:3072', '-noenc', '-keyout', 'doc_key.pem', '-out', 'doc_cert.pem', '-days', '1', '-subj', '/CN=doc', ...ENGINE]), 'req -newkey');
  /* A pass-phrase-encrypted key reference (the Azure Cloud HSM guides, S/MIME: genpkey -aes256). */
  ok(await openssl(['genpkey', '-algorithm', 'RSA', '-aes256', '-pass', 'pass:secret', '-out', 'cac.key', ...ENGINE]), 'genpkey -aes256');
  assert.match(readFileSync(join(work, 'cac.key'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  ok(await openssl(['dgst', '-sha512', '-sign', 'cac.key', '-passin', 'pass:secret', '-out', 'cac.sig', ...ENGINE, 'file_to_sign.txt']), 'sign with the encrypted reference');
  ok(await openssl(['pkey', '-in', 'cac.key', '-passin', 'pass:secret', '-pubout', '-out', 'cac.pub']), 'pubout');
  assert.equal(ok(await openssl(['dgst', '-sha512', '-verify', 'cac.pub', '-signature', 'cac.sig', 'file_to_sign.txt']), 'verify').stdout, 'Verified OK\n');
  assert.equal(await totalKeys(), before + 3);
  const h = handleOf(join(work, 'doc_key.pem'));
  const t = ok(await openssl(['x509', '-in', 'doc_cert.pem', '-noout', '-text']), 'x509 -text').stdout;
  assert.match(t, /Public-Key: \(3072 bit\)/);
  ok(await openssl(['verify', '-CAfile', 'doc_cert.pem', 'doc_cert.pem']), 'verify');
  const audit = await newAudit();
  assert.equal(uses(audit, 'sign', h), 1);
  handleOf(join(work, 'web_server_fake_PEM.key'));
});

test('ordinary software keys keep working with the engine loaded, and never reach the HSM', async () => {
  ok(await openssl(['genpkey', '-algorithm', 'RSA', '-out', 'sw_rsa.pem']), 'software RSA key (no engine)');
  ok(await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sw_ec.pem', ...ENGINE]), 'software EC key');
  for (const k of ['sw_rsa.pem', 'sw_ec.pem']) {
    ok(await openssl(['pkey', '-in', k, '-pubout', '-out', `${k}.pub`]), 'pubout');
    ok(await openssl(['dgst', '-sha256', '-sign', k, '-out', `${k}.sig`, ...ENGINE, 'file_to_sign.txt']), `sign with ${k}`);
    const v = ok(await openssl(['dgst', '-sha256', '-verify', `${k}.pub`, '-signature', `${k}.sig`, 'file_to_sign.txt']), 'verify');
    assert.equal(v.stdout, 'Verified OK\n');
  }
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'sw_rsa.pem.pub', '-in', 'plaintext.txt', '-out', 'sw.enc']), 'encrypt');
  const d = ok(await openssl(['pkeyutl', '-decrypt', '-inkey', 'sw_rsa.pem', '-in', 'sw.enc', ...ENGINE]), 'software decrypt');
  assert.equal(d.stdout, readFileSync(join(work, 'plaintext.txt'), 'utf8'));
  assert.ok(!readFileSync(join(work, 'sw_ec.pem'), 'utf8').includes('eafcfcee'));
  const audit = await newAudit();
  assert.equal(audit.filter((x) => x.action === 'sign' || x.action === 'decrypt').length, 0, JSON.stringify(audit));
});

test('loading: OPENSSL_ENGINES (azcloudhsm_openssl.so), LD_LIBRARY_PATH (libazcloudhsm_openssl.so), OPENSSL_CONF', async () => {
  const lib64 = dirname(ENGINES);
  const sign = (e: NodeJS.ProcessEnv, engine: readonly string[]) => openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'load.sig', ...engine, 'file_to_sign.txt'], { env: e });
  const verified = async () => (await openssl(['dgst', '-sha256', '-verify', 'public_key.pem', '-signature', 'load.sig', 'file_to_sign.txt'])).stdout === 'Verified OK\n';
  /* The guide's way: LD_LIBRARY_PATH=/opt/azurecloudhsm/lib64 (the Azure Cloud HSM guides). */
  ok(await sign(engineEnv({ OPENSSL_ENGINES: undefined, LD_LIBRARY_PATH: lib64 }), ENGINE), 'LD_LIBRARY_PATH');
  assert.ok(await verified());
  /* A configuration file, for programs that take no -engine (the Azure Cloud HSM guides). */
  const cnf = join(root, 'openssl-engine.cnf');
  writeFileSync(cnf, [
    'openssl_conf = openssl_init',
    '[openssl_init]',
    'engines = engine_section',
    '[engine_section]',
    'azcloudhsm_openssl = azcloudhsm_section',
    '[azcloudhsm_section]',
    'engine_id = azcloudhsm_openssl',
    `dynamic_path = ${join(lib64, 'libazcloudhsm_openssl.so')}`,
    'default_algorithms = ALL',
    'init = 1',
    '',
  ].join('\n'));
  ok(await sign(engineEnv({ OPENSSL_ENGINES: undefined, OPENSSL_CONF: cnf }), []), 'OPENSSL_CONF');
  assert.ok(await verified());
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 2);
  /* Nowhere to be found: the guide's FAQ error (OpenSSL 3 spells it with a capital I). */
  const enginesDir = /ENGINESDIR: "([^"]*)"/.exec(spawnSync('openssl', ['version', '-e'], { encoding: 'utf8' }).stdout)?.[1] ?? '';
  if (!existsSync(join(enginesDir, 'azcloudhsm_openssl.so'))) {
    /* (openssl then carries on without the engine; with a key reference that cannot give a valid signature) */
    const r = await sign(engineEnv({ OPENSSL_ENGINES: undefined, LD_LIBRARY_PATH: undefined }), ENGINE);
    assert.equal(r.signal, null, show(r));
    assert.ok(r.stderr.includes('Invalid engine "azcloudhsm_openssl"'), show(r));
    assert.match(r.stderr, /could not load the shared library/);
    assert.ok(r.code !== 0 || !(await verified()), 'no valid signature without the engine');
  }
});

/* ───────────────────────────── EC key references ───────────────────────────── */

let ecKey: string;
let ecHandle: number;

test('EC P-256 key reference from genECCKeyPair + getCaviumPrivKey signs in the HSM with ECDSA_Sign=1', async () => {
  const g = ok(await util(['genECCKeyPair', '-i', '2', '-l', 'labelECNginx']), 'genECCKeyPair');
  const m = /private key handle: (\d+)/.exec(g.stdout);
  assert.ok(m, g.stdout);
  ecHandle = Number(m[1]);
  ecKey = join(work, 'ec_fake_PEM.key');
  ok(await util(['getCaviumPrivKey', '-k', String(ecHandle), '-out', ecKey]), 'getCaviumPrivKey');
  assert.equal(handleOf(ecKey), ecHandle);
  ok(await openssl(['ec', '-in', ecKey, '-pubout', '-out', 'ec_pub.pem']), 'ec -pubout');
  await newAudit();
  ok(await openssl(['dgst', '-sha256', '-sign', ecKey, '-out', 'ec.sig', ...ENGINE, 'file_to_sign.txt']), 'ECDSA sign');
  const v = ok(await openssl(['dgst', '-sha256', '-verify', 'ec_pub.pem', '-signature', 'ec.sig', 'file_to_sign.txt']), 'ECDSA verify');
  assert.equal(v.stdout, 'Verified OK\n');
  ok(await openssl(['req', '-new', '-x509', '-key', ecKey, '-out', 'ec_cert.pem', '-days', '30', '-subj', '/CN=localhost', ...ENGINE]), 'EC certificate');
  ok(await openssl(['verify', '-CAfile', 'ec_cert.pem', 'ec_cert.pem']), 'verify EC certificate');
  assert.equal(uses(await newAudit(), 'sign', ecHandle), 2);

  /* ECDSA_Sign=0 (the guide's default): the key reference cannot sign, and says why. */
  const off = writeConf(join(root, 'ecdsa_off.conf'), ['Partition_Name=PARTITION_1', 'ECDSA_Sign=0']);
  const r = await openssl(['dgst', '-sha256', '-sign', ecKey, '-out', 'ec2.sig', ...ENGINE, 'file_to_sign.txt'], { env: engineEnv({ azcloudhsm_openssl_conf: off }) });
  failed(r, 'ECDSA_Sign=0', 'ECDSA_Sign=1');
  assert.equal(uses(await newAudit(), 'sign', ecHandle), 0);
});

/* ───────────────────────────── sign-in and configuration errors ───────────────────────────── */

test('missing pieces give the guide\'s messages, and no key is created', async () => {
  const before = await totalKeys();
  const gen = ['genpkey', '-algorithm', 'RSA', '-out', 'nokey.pem', ...ENGINE];
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_password: undefined }) }), 'no password', 'environment variable azcloudhsm_password is not set');
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_openssl_conf: undefined }) }), 'no conf', 'environment variable azcloudhsm_openssl_conf is not set');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere, { recursive: true });
  failed(await openssl(gen, { cwd: elsewhere }), 'no application cfg', 'azcloudhsm_application.cfg is not present');
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_password: 'cu1:wrong-password' }) }), 'wrong password', /login as cu1 .*failed/);
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_password: 'cu1' }) }), 'no colon', 'must be <user>:<password>');
  const bad = writeConf(join(root, 'bad.conf'), ['ECDSA_Sign=yes']);
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_openssl_conf: bad }) }), 'bad conf', `${bad}:1: ECDSA_Sign must be 0 or 1 (got "yes")`);
  failed(await openssl(gen, { env: engineEnv({ azcloudhsm_openssl_conf: join(root, 'missing.conf') }) }), 'missing conf', /cannot read .*missing\.conf/);
  /* genpkey opens its output before it generates: an empty file at most, never a key. */
  for (const d of [work, elsewhere]) assert.ok(!existsSync(join(d, 'nokey.pem')) || readFileSync(join(d, 'nokey.pem')).length === 0, 'no key is written');
  /* Credentials from the file when the variable is not set; the variable wins when it is. */
  const withCreds = writeConf(join(root, 'creds.conf'), ['Partition_Name=PARTITION_1', 'Username=cu1', 'Password=user1234', 'ECDSA_Sign=1']);
  ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'c.sig', ...ENGINE, 'file_to_sign.txt'], { env: engineEnv({ azcloudhsm_password: undefined, azcloudhsm_openssl_conf: withCreds }) }), 'file credentials');
  const wrongInFile = writeConf(join(root, 'wrong.conf'), ['Username=cu1', 'Password=not-it']);
  ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'c.sig', ...ENGINE, 'file_to_sign.txt'], { env: engineEnv({ azcloudhsm_openssl_conf: wrongInFile }) }), 'the variable wins');
  assert.equal(await totalKeys(), before);
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 2);
});

test('host-wide sign-in: another application signed in as another user gets the daemon\'s 0x104 message', async () => {
  const app = await connectDaemon(daemon.socketPath, 'other-app');
  try {
    await app.request('login', { user: 'cu2', password: 'user5678', role: 'CU' });
    const r = await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'x.sig', ...ENGINE, 'file_to_sign.txt']);
    failed(r, 'cu1 while cu2 holds the host', /login as cu1 .*failed: an active session is already open for cu2.*CK_RV 0x104/);
  } finally {
    app.close();
  }
  /* Signed in as the same user, a new openssl process joins the host's sign-in. */
  const same = await connectDaemon(daemon.socketPath, 'same-user-app');
  try {
    await same.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
    ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'x.sig', ...ENGINE, 'file_to_sign.txt']), 'cu1 joins cu1');
  } finally {
    same.close();
  }
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 1);
});

test('bad key references: truncated, forged, another key\'s handle, a handle of another user: clear errors, no crash', async () => {
  const sign = (key: string) => openssl(['dgst', '-sha256', '-sign', key, '-out', 'bad.sig', ...ENGINE, 'file_to_sign.txt']);
  const text = readFileSync(rsaKey, 'utf8');
  writeFileSync(join(work, 'truncated.pem'), text.slice(0, Math.floor(text.length / 2)));
  failed(await sign('truncated.pem'), 'truncated', /Could not read private key|unable to load key/i);

  /* A marker naming a handle that does not exist. */
  const f = readPrivateKeyFile(text);
  assert.equal(f.kind, 'rsa');
  const pub = f.kind === 'rsa' && f.pub.kind === 'rsa' ? f.pub : undefined;
  assert.ok(pub);
  writeFileSync(join(work, 'forged_missing.pem'), rsaKeyReference(987654321, pub.n, pub.e));
  failed(await sign('forged_missing.pem'), 'missing handle', /key handle 987654321, which this user cannot use/);
  /* A marker naming a real key, with another key's public key. */
  writeFileSync(join(work, 'forged_other.pem'), rsaKeyReference(handleOf(join(work, 'doc_key.pem')), pub.n, pub.e));
  failed(await sign('forged_other.pem'), 'wrong public key', /the public key in the file is not that key's/);
  /* An EC reference with a handle in the marker that is an RSA key. */
  const ecf = readPrivateKeyFile(readFileSync(ecKey, 'utf8'));
  assert.ok(ecf.kind === 'ec' && ecf.pub?.kind === 'ec');
  if (ecf.kind === 'ec' && ecf.pub?.kind === 'ec') {
    writeFileSync(join(work, 'forged_ec.pem'), ecKeyReference(rsaHandle, Buffer.from(ecf.pub.curveOid, 'hex'), ecf.pub.point, 32));
  }
  failed(await sign('forged_ec.pem'), 'EC marker naming an RSA key', /not that key's/);

  /* cu2's key: cu1 may not use it. */
  const g = ok(await util(['genRSAKeyPair', '-m', '2048', '-e', '65537', '-l', 'cu2key'], ['-s', 'cu2', '-p', 'user5678']), 'cu2 genRSAKeyPair');
  const priv = Number(/private key handle: (\d+)/.exec(g.stdout)?.[1]);
  ok(await util(['getCaviumPrivKey', '-k', String(priv), '-out', join(work, 'cu2.pem')], ['-s', 'cu2', '-p', 'user5678']), 'cu2 getCaviumPrivKey');
  failed(await sign('cu2.pem'), 'another user\'s key', new RegExp(`key handle ${priv}, which this user cannot use`));
  failed(await openssl(['pkeyutl', '-decrypt', '-inkey', 'cu2.pem', '-in', 'enc2.bin', ...ENGINE]), 'decrypt with cu2\'s key', /which this user cannot use/);
  const audit = await newAudit();
  assert.equal(audit.filter((x) => (x.action === 'sign' || x.action === 'decrypt') && x.result === 'ok').length, 0, JSON.stringify(audit));
});

/* ───────────────────────────── nginx: TLS offload (the Azure Cloud HSM guides) ───────────────────────────── */

/** nginx with the engine named in its main context (the guide's `ssl_engine azcloudhsm_openssl;`). */
function startNginx(name: string, cert: string, key: string): Promise<Nginx> {
  assert.ok(NGINX, 'nginx is not installed (Debian package nginx; .ci/run installs it)');
  return startNginxAt({
    dir: join(root, `nginx-${name}`), cert, key, cwd: work, env,
    main: [
      /* Before any key is read: the engine's methods become the defaults (ENGINE_set_default ALL). */
      'ssl_engine azcloudhsm_openssl;',
      /* nginx clears the workers' environment except what is listed here. */
      'env azcloudhsm_password;',
      'env azcloudhsm_openssl_conf;',
      'env OPENSSL_ENGINES;',
    ],
  });
}

async function handshake(port: number, ca: string, args: readonly string[]): Promise<Run> {
  return openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', ca, '-verify_return_error', '-ign_eof', ...args], {
    env: engineEnv({ OPENSSL_ENGINES: undefined }),
    input: 'GET / HTTP/1.0\r\n\r\n',
  });
}

test('nginx serves TLS 1.2 and TLS 1.3 with an RSA key reference; each handshake is an HSM signature', async () => {
  const n = await startNginx('rsa', join(work, 'certificate.crt'), rsaKey);
  try {
    await newAudit();
    const t12 = ok(await handshake(n.port, join(work, 'certificate.crt'), ['-tls1_2']), `TLS 1.2\n${n.log()}`);
    assert.match(t12.stdout, /New, TLSv1\.2, Cipher is /);
    assert.match(t12.stdout, /Verify return code: 0 \(ok\)/);
    assert.match(t12.stdout, /hello from an HSM key/);
    const t12v15 = ok(await handshake(n.port, join(work, 'certificate.crt'), ['-tls1_2', '-sigalgs', 'RSA+SHA256']), 'TLS 1.2, PKCS#1 v1.5');
    assert.match(t12v15.stdout, /Peer signature type: RSA\n/);
    const t13 = ok(await handshake(n.port, join(work, 'certificate.crt'), ['-tls1_3']), 'TLS 1.3');
    assert.match(t13.stdout, /New, TLSv1\.3, Cipher is /);
    assert.match(t13.stdout, /Peer signature type: RSA-PSS/);
    assert.match(t13.stdout, /hello from an HSM key/);
    assert.equal(uses(await newAudit(), 'sign', rsaHandle), 3, 'one HSM signature per full handshake');
    /* The daemon restarts under a running nginx: the workers connect and sign in again. */
    await daemon.stop();
    daemon = await startDaemon(cluster);
    for (const v of ['-tls1_2', '-tls1_3']) ok(await handshake(n.port, join(work, 'certificate.crt'), [v]), `${v} after the daemon restarted\n${n.log()}`);
    assert.equal(uses(await newAudit(), 'sign', rsaHandle), 2);
  } finally {
    await n.stop();
  }
});

test('nginx serves TLS 1.2 and TLS 1.3 with an EC P-256 key reference (ECDSA_Sign=1)', async () => {
  const n = await startNginx('ec', join(work, 'ec_cert.pem'), ecKey);
  try {
    await newAudit();
    const t12 = ok(await handshake(n.port, join(work, 'ec_cert.pem'), ['-tls1_2']), `TLS 1.2\n${n.log()}`);
    assert.match(t12.stdout, /New, TLSv1\.2, Cipher is /);
    assert.match(t12.stdout, /Cipher is ECDHE-ECDSA-/);
    assert.match(t12.stdout, /Peer signature type: ECDSA/);
    const t13 = ok(await handshake(n.port, join(work, 'ec_cert.pem'), ['-tls1_3']), 'TLS 1.3');
    assert.match(t13.stdout, /New, TLSv1\.3, Cipher is /);
    assert.match(t13.stdout, /Peer signature type: ECDSA/);
    assert.match(t13.stdout, /Verify return code: 0 \(ok\)/);
    assert.equal(uses(await newAudit(), 'sign', ecHandle), 2);
  } finally {
    await n.stop();
  }
});

/* ───────────────────────────── the daemon stopped ───────────────────────────── */

test('with the daemon stopped the same signing command fails (no software fallback)', async () => {
  await newAudit();
  await daemon.stop();
  const r = await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'nodaemon.sig', ...ENGINE, 'file_to_sign.txt']);
  failed(r, 'daemon stopped', 'Failed to connect socket');
  const e = await openssl(['dgst', '-sha256', '-sign', ecKey, '-out', 'nodaemon.sig', ...ENGINE, 'file_to_sign.txt']);
  failed(e, 'daemon stopped (EC)', 'Failed to connect socket');
  const g = await openssl(['genpkey', '-algorithm', 'RSA', '-out', 'nodaemon.pem', ...ENGINE]);
  failed(g, 'genpkey without daemon', 'Failed to connect socket');
  assert.ok(!existsSync(join(work, 'nodaemon.pem')) || readFileSync(join(work, 'nodaemon.pem')).length === 0);
  assert.equal((await newAudit()).filter((x) => x.action === 'sign').length, 0);
});

test('openssl is the real binary of this machine (OpenSSL 3)', () => {
  const v = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  assert.match(v.stdout, /^OpenSSL 3\./);
});
