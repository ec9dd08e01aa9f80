/**
 * The azcloudhsm OpenSSL 3 provider (native/openssl-provider, docs/openssl.md) driven by the
 * real `openssl` binary, curl and nginx, against a real daemon and three real node processes:
 * key generation in the HSM with genpkey, signatures, decryption and ECDH, the engine's
 * key-reference files both ways, store URIs, the provider in an openssl.cnf, nginx TLS 1.3 with
 * RSA and EC keys, bad input, and one run under valgrind.
 *
 * The proof that the HSM did the work is the HSM's own audit log, read by the CO straight from a
 * node: every private-key operation appears there as `sign`, `decrypt` or `deriveKey` with the
 * key's handle. Verification always runs with OpenSSL's default provider alone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtocolClient } from '../../../packages/protocol/src/connection.js';
import { startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import { startOpensslWorld, stopOpensslWorld } from '../../../packages/testkit/src/openssl_world.js';
import { auditOf, handleOf, opensslRunner } from '../../openssl-common/test/openssl_tests.js';
import { readPrivateKeyFile, rsaKeyReference } from '../../../packages/protocol/src/keyref.js';
import { failed, ok, run, show, uses, type Run, toolEnv, utilTool } from '../../../packages/testkit/src/tool_run.js';
import { NGINX, startNginx as startNginxAt, type Nginx } from '../../../packages/testkit/src/nginx.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '..', '..', '..', '..');
const UTIL = join(REPO, 'dist', 'packages', 'cli', 'src', 'azcloudhsm_util.js');
const LIB64 = join(REPO, 'dist', 'lib64');
const MODULES = join(LIB64, 'ossl-modules');
const ENGINES = join(LIB64, 'engines-3');
const PROVIDER = ['-provider', 'azcloudhsm', '-provider', 'default'];
const DEFAULT_ONLY = ['-provider', 'default'];


let root: string;
let cluster: LocalCluster;
let daemon: DaemonHandle;
let work: string;
let conf: string;
let env: NodeJS.ProcessEnv;

/** The engine's variables (the provider reads the same), and OPENSSL_MODULES for -provider azcloudhsm. */
function provEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return toolEnv({ OPENSSL_MODULES: MODULES, azcloudhsm_password: 'cu1:user1234', azcloudhsm_openssl_conf: conf }, ['OPENSSL_ENGINES'], extra);
}

const openssl = opensslRunner(() => work, () => env);



const { util, totalKeys } = utilTool(UTIL, () => work, () => provEnv());

/* ───────────── the audit log (CO, straight from a node) ───────────── */

/* The store's chain (state changes) and each node's key-use log, followed from where the last call stopped. */
let nodeCos: ProtocolClient[] = [];
const newAudit = auditOf(() => nodeCos);

/** `openssl dgst -verify` with the default provider alone. */
async function verifiedByDefault(pub: string, sig: string, file: string, extra: readonly string[] = ['-sha256']): Promise<boolean> {
  const r = await openssl(['dgst', ...extra, ...DEFAULT_ONLY, '-verify', pub, '-signature', sig, file], { env: provEnv({ OPENSSL_MODULES: undefined }) });
  return r.code === 0 && r.stdout === 'Verified OK\n';
}

before(async () => {
  assert.ok(existsSync(join(MODULES, 'azcloudhsm.so')), `the provider is not built (${MODULES}/azcloudhsm.so): run make build`);
  ({ root, cluster, daemon, work, nodeCos } = await startOpensslWorld('ochsm-provider-'));
  conf = join(root, 'azcloudhsm_openssl_dynamic.conf');
  writeFileSync(conf, 'Partition_Name=PARTITION_1\nECDSA_Sign=1\n');
  env = provEnv();
  writeFileSync(join(work, 'file_to_sign.txt'), 'Azure Cloud HSM Plain Text File\n');
  await newAudit();
});

after(() => stopOpensslWorld({ root, cluster, daemon, nodeCos }));

/* ───────────────────────────── key generation ───────────────────────────── */

let rsaKey: string;
let rsaHandle: number;
let ecKey: string;
let ecHandle: number;

test('genpkey -provider azcloudhsm -provider default -algorithm RSA and EC make the keys in the HSM (findKey +1 each)', async () => {
  const n0 = await totalKeys();
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'RSA', '-out', 'rsa.pem']), 'genpkey RSA');
  assert.equal(await totalKeys(), n0 + 1);
  rsaKey = join(work, 'rsa.pem');
  assert.match(readFileSync(rsaKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  rsaHandle = handleOf(rsaKey);
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'label:prov-ec', '-out', 'ec.pem']), 'genpkey EC');
  assert.equal(await totalKeys(), n0 + 2);
  ecKey = join(work, 'ec.pem');
  ecHandle = handleOf(ecKey);
  const t = ok(await openssl(['rsa', '-in', rsaKey, '-noout', '-text']), 'rsa -text').stdout;
  assert.match(t, /Private-Key: \(2048 bit, 2 primes\)/);
  /* azcloudhsm_util accepts the provider's files as key references of those handles. */
  for (const [f, h] of [[rsaKey, rsaHandle], [ecKey, ecHandle]] as const) {
    const v = ok(await util(['IsValidKeyHandlefile', '-f', f]), 'IsValidKeyHandlefile');
    assert.match(v.stdout, new RegExp(`Input key file has valid key handle: ${h}`));
  }
  const audit = await newAudit();
  assert.equal(audit.filter((x) => x.action === 'generateKeyPair' && x.result === 'ok' && x.user === 'cu1').length, 2, JSON.stringify(audit));
  /* A 3072-bit key and a P-384 key: the parameters reach the HSM. */
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072', '-out', 'rsa3072.pem']), 'RSA 3072');
  assert.match(ok(await openssl(['pkey', '-in', 'rsa3072.pem', '-noout', '-text']), 'text').stdout, /Private-Key: \(3072 bit/);
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'ec384.pem']), 'P-384');
  assert.match(ok(await openssl(['pkey', '-in', 'ec384.pem', '-noout', '-text']), 'text').stdout, /NIST CURVE: P-384/);
  /* P-521: a 66-byte scalar, the marker block after two zero bytes. */
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521', '-out', 'ec521.pem']), 'P-521');
  ok(await openssl(['pkey', '-in', 'ec521.pem', '-pubout', '-out', 'ec521.pub']), 'pubout');
  ok(await openssl(['dgst', ...PROVIDER, '-sha512', '-sign', 'ec521.pem', '-out', 'ec521.sig', 'file_to_sign.txt']), 'sign P-521');
  assert.ok(await verifiedByDefault('ec521.pub', 'ec521.sig', 'file_to_sign.txt', ['-sha512']));
  assert.equal(uses(await newAudit(), 'sign', handleOf(join(work, 'ec521.pem'))), 1);
  assert.equal(await totalKeys(), n0 + 5);
});

test('req -x509, dgst -sign (PKCS#1 v1.5 and PSS), pkeyutl -sign, pkey -pubout; signatures verify with the default provider alone', async () => {
  ok(await openssl(['pkey', ...PROVIDER, '-in', rsaKey, '-pubout', '-out', 'rsa.pub']), 'pkey -pubout RSA');
  ok(await openssl(['pkey', ...PROVIDER, '-in', ecKey, '-pubout', '-out', 'ec.pub']), 'pkey -pubout EC');
  /* The public key is the HSM key's (the same as the default provider reads from the file). */
  assert.equal(ok(await openssl(['pkey', '-in', rsaKey, '-pubout']), 'pubout (default)').stdout, readFileSync(join(work, 'rsa.pub'), 'latin1'));

  ok(await openssl(['req', ...PROVIDER, '-new', '-x509', '-key', rsaKey, '-out', 'rsa.crt', '-days', '30', '-subj', '/CN=localhost']), 'req -x509 RSA');
  ok(await openssl(['req', ...PROVIDER, '-new', '-x509', '-key', ecKey, '-out', 'ec.crt', '-days', '30', '-subj', '/CN=localhost']), 'req -x509 EC');
  ok(await openssl(['req', ...PROVIDER, '-new', '-x509', '-key', rsaKey, '-sigopt', 'rsa_padding_mode:pss', '-out', 'pss.crt', '-days', '30', '-subj', '/CN=pss']), 'req -x509 RSA-PSS');
  for (const c of ['rsa.crt', 'ec.crt', 'pss.crt']) ok(await openssl(['verify', ...DEFAULT_ONLY, '-CAfile', c, c], { env: provEnv({ OPENSSL_MODULES: undefined }) }), `verify ${c}`);
  assert.match(ok(await openssl(['x509', '-in', 'pss.crt', '-noout', '-text']), 'x509').stdout, /Signature Algorithm: rsassaPss/);

  ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', rsaKey, '-out', 'rsa.sig', 'file_to_sign.txt']), 'dgst -sign');
  assert.ok(await verifiedByDefault('rsa.pub', 'rsa.sig', 'file_to_sign.txt'));
  const pss = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-1'];
  ok(await openssl(['dgst', ...PROVIDER, '-sha384', '-sign', rsaKey, ...pss, '-out', 'pss.sig', 'file_to_sign.txt']), 'dgst -sign PSS');
  assert.ok(await verifiedByDefault('rsa.pub', 'pss.sig', 'file_to_sign.txt', ['-sha384', ...pss]));
  /* Verification with the provider loaded first (its signature is then fetched first and passes
     the public key to the default provider's code), PSS parameters included. */
  for (const [pub, sig, opts] of [['rsa.pub', 'rsa.sig', ['-sha256']], ['rsa.pub', 'pss.sig', ['-sha384', ...pss]]] as const) {
    const r = ok(await openssl(['dgst', ...PROVIDER, ...opts, '-verify', pub, '-signature', sig, 'file_to_sign.txt']), `verify ${sig} with the provider loaded`);
    assert.equal(r.stdout, 'Verified OK\n');
  }
  const wrong = await openssl(['dgst', ...PROVIDER, '-sha384', ...pss, '-verify', 'rsa.pub', '-signature', 'rsa.sig', 'file_to_sign.txt']);
  assert.equal(wrong.signal, null);
  assert.match(wrong.stdout, /Verification failure/, 'a PKCS#1 v1.5 signature is not a PSS signature');
  ok(await openssl(['verify', ...PROVIDER, '-CAfile', 'pss.crt', 'pss.crt']), 'verify the PSS certificate with the provider loaded');
  ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', ecKey, '-out', 'ec.sig', 'file_to_sign.txt']), 'dgst -sign ECDSA');
  assert.ok(await verifiedByDefault('ec.pub', 'ec.sig', 'file_to_sign.txt'));

  /* pkeyutl over a digest. */
  ok(await openssl(['dgst', '-sha256', '-binary', '-out', 'digest.bin', 'file_to_sign.txt']), 'digest');
  ok(await openssl(['pkeyutl', ...PROVIDER, '-sign', '-inkey', rsaKey, '-pkeyopt', 'digest:sha256', '-in', 'digest.bin', '-out', 'pk_rsa.sig']), 'pkeyutl -sign RSA');
  ok(await openssl(['pkeyutl', ...PROVIDER, '-sign', '-inkey', ecKey, '-in', 'digest.bin', '-out', 'pk_ec.sig']), 'pkeyutl -sign EC');
  assert.ok(await verifiedByDefault('rsa.pub', 'pk_rsa.sig', 'file_to_sign.txt'));
  const v = ok(await openssl(['pkeyutl', ...DEFAULT_ONLY, '-verify', '-pubin', '-inkey', 'ec.pub', '-in', 'digest.bin', '-sigfile', 'pk_ec.sig'], { env: provEnv({ OPENSSL_MODULES: undefined }) }), 'pkeyutl -verify');
  assert.match(v.stdout, /Signature Verified Successfully/);

  const audit = await newAudit();
  assert.equal(uses(audit, 'sign', rsaHandle), 5, 'two certificates, two dgst, one pkeyutl: each an HSM signature');
  assert.equal(uses(audit, 'sign', ecHandle), 3);
  /* Without the provider the file cannot sign: OpenSSL would use the marker as the private key. */
  const s = await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'sw.sig', 'file_to_sign.txt']);
  assert.ok(s.code !== 0 || !(await verifiedByDefault('rsa.pub', 'sw.sig', 'file_to_sign.txt')));
  assert.equal((await newAudit()).length, 0);
});

test('pkeyutl -decrypt (PKCS#1 v1.5 and OAEP) and ECDH -derive run in the HSM', async () => {
  const plain = 'Azure Cloud HSM provider plaintext\n';
  writeFileSync(join(work, 'plain.txt'), plain);
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'rsa.pub', '-in', 'plain.txt', '-out', 'enc1.bin']), 'encrypt');
  assert.equal(ok(await openssl(['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', rsaKey, '-in', 'enc1.bin']), 'decrypt').stdout, plain);
  const oaep = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'];
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'rsa.pub', '-in', 'plain.txt', '-out', 'enc2.bin', ...oaep]), 'OAEP encrypt');
  assert.equal(ok(await openssl(['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', rsaKey, '-in', 'enc2.bin', ...oaep]), 'OAEP decrypt').stdout, plain);
  /* A padding the HSM does not offer is refused, not computed. */
  failed(await openssl(['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', rsaKey, '-in', 'enc1.bin', '-pkeyopt', 'rsa_padding_mode:none']), 'raw RSA', /decrypts PKCS#1 v1.5 and OAEP only/);

  ok(await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'peer.pem']), 'software peer');
  ok(await openssl(['pkey', '-in', 'peer.pem', '-pubout', '-out', 'peer.pub']), 'peer pub');
  ok(await openssl(['pkeyutl', ...PROVIDER, '-derive', '-inkey', ecKey, '-peerkey', 'peer.pub', '-out', 'z_hsm.bin']), 'derive in the HSM');
  ok(await openssl(['pkeyutl', '-derive', '-inkey', 'peer.pem', '-peerkey', 'ec.pub', '-out', 'z_sw.bin']), 'derive in software');
  const z = readFileSync(join(work, 'z_hsm.bin'));
  assert.equal(z.length, 32);
  assert.deepEqual(z, readFileSync(join(work, 'z_sw.bin')));
  const audit = await newAudit();
  assert.equal(uses(audit, 'decrypt', rsaHandle), 2);
  assert.equal(uses(audit, 'deriveKey', ecHandle), 1);
});

test('CMS (S/MIME): signed with RSA and EC keys and decrypted with the RSA key in the HSM', async () => {
  for (const [cert, key] of [['rsa.crt', rsaKey], ['ec.crt', ecKey]] as const) {
    ok(await openssl(['cms', ...PROVIDER, '-sign', '-in', 'file_to_sign.txt', '-signer', cert, '-inkey', key, '-out', `${cert}.p7`]), `cms -sign ${cert}`);
    const v = ok(await openssl(['cms', ...DEFAULT_ONLY, '-verify', '-in', `${cert}.p7`, '-CAfile', cert, '-out', `${cert}.out`], { env: provEnv({ OPENSSL_MODULES: undefined }) }), 'cms -verify');
    assert.match(v.stderr, /Verification successful/);
  }
  ok(await openssl(['cms', '-encrypt', '-in', 'plain.txt', '-out', 'enc.p7', 'rsa.crt']), 'cms -encrypt');
  const d = ok(await openssl(['cms', ...PROVIDER, '-decrypt', '-in', 'enc.p7', '-inkey', rsaKey, '-recip', 'rsa.crt']), 'cms -decrypt');
  assert.equal(d.stdout.replace(/\r\n/g, '\n'), readFileSync(join(work, 'plain.txt'), 'latin1')); /* S/MIME text is CRLF */
  const audit = await newAudit();
  assert.equal(uses(audit, 'sign', rsaHandle), 1);
  assert.equal(uses(audit, 'sign', ecHandle), 1);
  assert.equal(uses(audit, 'decrypt', rsaHandle), 1);
});

/* ───────────────────────────── key-reference files: engine ⇄ provider ───────────────────────────── */

test('a key-reference PEM written by the engine works with the provider, and the provider\'s with the engine', async () => {
  const engEnv = provEnv({ OPENSSL_ENGINES: ENGINES });
  ok(await openssl(['genpkey', '-algorithm', 'RSA', '-out', 'engine.pem', '-engine', 'azcloudhsm_openssl'], { env: engEnv }), 'engine genpkey');
  const eh = handleOf(join(work, 'engine.pem'));
  ok(await openssl(['pkey', '-in', 'engine.pem', '-pubout', '-out', 'engine.pub']), 'pubout');
  ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', 'engine.pem', '-out', 'e2p.sig', 'file_to_sign.txt']), 'provider signs with the engine\'s file');
  assert.ok(await verifiedByDefault('engine.pub', 'e2p.sig', 'file_to_sign.txt'));
  ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'p2e.sig', '-engine', 'azcloudhsm_openssl', 'file_to_sign.txt'], { env: engEnv }), 'engine signs with the provider\'s file');
  assert.ok(await verifiedByDefault('rsa.pub', 'p2e.sig', 'file_to_sign.txt'));
  /* azcloudhsm_util's EC reference (SEC1 "EC PRIVATE KEY") works with the provider too. */
  const g = ok(await util(['genECCKeyPair', '-i', '2', '-l', 'utilEC']), 'genECCKeyPair');
  const uh = Number(/private key handle: (\d+)/.exec(g.stdout)?.[1]);
  ok(await util(['getCaviumPrivKey', '-k', String(uh), '-out', join(work, 'util_ec.pem')]), 'getCaviumPrivKey');
  assert.match(readFileSync(join(work, 'util_ec.pem'), 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);
  ok(await openssl(['ec', '-in', 'util_ec.pem', '-pubout', '-out', 'util_ec.pub']), 'ec -pubout');
  ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', 'util_ec.pem', '-out', 'util.sig', 'file_to_sign.txt']), 'provider signs with getCaviumPrivKey\'s file');
  assert.ok(await verifiedByDefault('util_ec.pub', 'util.sig', 'file_to_sign.txt'));
  /* and its RSA reference (PKCS#1 "RSA PRIVATE KEY"): decryption in the HSM. */
  const gr = ok(await util(['genRSAKeyPair', '-m', '2048', '-e', '65537', '-l', 'utilRSA']), 'genRSAKeyPair');
  const rh = Number(/private key handle: (\d+)/.exec(gr.stdout)?.[1]);
  ok(await util(['getCaviumPrivKey', '-k', String(rh), '-out', join(work, 'util_rsa.pem')]), 'getCaviumPrivKey RSA');
  assert.match(readFileSync(join(work, 'util_rsa.pem'), 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
  ok(await openssl(['rsa', '-in', 'util_rsa.pem', '-pubout', '-out', 'util_rsa.pub']), 'rsa -pubout');
  ok(await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'util_rsa.pub', '-in', 'file_to_sign.txt', '-out', 'util_rsa.enc']), 'encrypt');
  assert.equal(ok(await openssl(['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', 'util_rsa.pem', '-in', 'util_rsa.enc']), 'decrypt with getCaviumPrivKey\'s RSA file').stdout, readFileSync(join(work, 'file_to_sign.txt'), 'latin1'));
  const audit = await newAudit();
  assert.equal(uses(audit, 'decrypt', rh), 1);
  assert.equal(uses(audit, 'sign', eh), 1);
  assert.equal(uses(audit, 'sign', rsaHandle), 1);
  assert.equal(uses(audit, 'sign', uh), 1);
  /* Ordinary software keys keep working with the provider loaded, and never reach the HSM. */
  ok(await openssl(['genpkey', '-algorithm', 'RSA', '-out', 'sw.pem']), 'software key');
  ok(await openssl(['pkey', '-in', 'sw.pem', '-pubout', '-out', 'sw.pub']), 'pubout');
  ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', 'sw.pem', '-out', 'sw2.sig', 'file_to_sign.txt']), 'sign with a software key');
  assert.ok(await verifiedByDefault('sw.pub', 'sw2.sig', 'file_to_sign.txt'));
  assert.equal((await newAudit()).filter((x) => x.action === 'sign' || x.action === 'decrypt').length, 0);
});

/* ───────────────────────────── store URIs ───────────────────────────── */

test('store URIs: azcloudhsm:label=, azcloudhsm:handle=, pkcs11:object=, pkcs11:x-handle=; Ed25519 by label', async () => {
  const uris = ['azcloudhsm:label=prov-ec', `azcloudhsm:handle=${ecHandle}`, 'pkcs11:object=prov-ec;type=private', `pkcs11:x-handle=${ecHandle}`];
  for (const [i, uri] of uris.entries()) {
    const pub = ok(await openssl(['pkey', ...PROVIDER, '-in', uri, '-pubout']), `pkey -pubout ${uri}`).stdout;
    assert.equal(pub, readFileSync(join(work, 'ec.pub'), 'latin1'), uri);
    ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', uri, '-out', `uri${i}.sig`, 'file_to_sign.txt']), `sign with ${uri}`);
    assert.ok(await verifiedByDefault('ec.pub', `uri${i}.sig`, 'file_to_sign.txt'), uri);
  }
  assert.equal(uses(await newAudit(), 'sign', ecHandle), 4);
  /* The public half by URI (-pubin, -verify): no HSM operation. */
  ok(await openssl(['pkeyutl', ...PROVIDER, '-encrypt', '-pubin', '-inkey', `azcloudhsm:handle=${rsaHandle}`, '-in', 'plain.txt', '-out', 'uri.enc']), 'encrypt to a URI');
  assert.equal(ok(await openssl(['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', rsaKey, '-in', 'uri.enc']), 'decrypt').stdout, readFileSync(join(work, 'plain.txt'), 'latin1'));
  const vu = ok(await openssl(['dgst', ...PROVIDER, '-sha256', '-verify', 'azcloudhsm:label=prov-ec', '-signature', 'uri0.sig', 'file_to_sign.txt']), 'verify with a URI');
  assert.equal(vu.stdout, 'Verified OK\n');
  const pu = await newAudit();
  assert.equal(uses(pu, 'decrypt', rsaHandle), 1);
  assert.equal(pu.filter((x) => x.action === 'sign' || x.action === 'verify').length, 0);
  /* The private key is never exported: text shows where it is. */
  const t = ok(await openssl(['pkey', ...PROVIDER, '-in', 'azcloudhsm:label=prov-ec', '-text', '-noout']), 'pkey -text').stdout;
  assert.match(t, /NIST CURVE: P-256/);
  assert.match(t, new RegExp(`Private-Key: in the HSM, key handle ${ecHandle} \\(never exported\\)`));
  assert.doesNotMatch(t, /priv:/);
  failed(await openssl(['pkey', ...PROVIDER, '-in', 'azcloudhsm:label=prov-ec', '-traditional', '-out', 'trad.pem']), 'export of the private key', /export failure|unsupported/);
  /* Ed25519: made by azcloudhsm_util, named by its label (no key-reference file exists for it). */
  ok(await util(['genECCKeyPair', '-i', '28', '-l', 'prov-ed']), 'Ed25519 key pair');
  ok(await openssl(['pkey', ...PROVIDER, '-in', 'azcloudhsm:label=prov-ed', '-pubout', '-out', 'ed.pub']), 'Ed25519 pubout');
  ok(await openssl(['pkeyutl', ...PROVIDER, '-sign', '-rawin', '-inkey', 'azcloudhsm:label=prov-ed', '-in', 'file_to_sign.txt', '-out', 'ed.sig']), 'Ed25519 sign');
  const v = ok(await openssl(['pkeyutl', ...DEFAULT_ONLY, '-verify', '-rawin', '-pubin', '-inkey', 'ed.pub', '-in', 'file_to_sign.txt', '-sigfile', 'ed.sig'], { env: provEnv({ OPENSSL_MODULES: undefined }) }), 'Ed25519 verify');
  assert.match(v.stdout, /Signature Verified Successfully/);
  failed(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'ED25519', '-out', 'ed.pem']), 'genpkey Ed25519', /genECCKeyPair -i 28/);
});

/* ───────────────────────────── configuration ───────────────────────────── */

function providerCnf(name: string, lines: readonly string[], defaultFirst = true): string {
  const path = join(root, name);
  const sections = defaultFirst ? ['default = default_sect', 'azcloudhsm = azcloudhsm_sect'] : ['azcloudhsm = azcloudhsm_sect', 'default = default_sect'];
  writeFileSync(path, [
    'openssl_conf = openssl_init',
    '[openssl_init]',
    'providers = provider_sect',
    '[provider_sect]',
    ...sections,
    '[default_sect]',
    'activate = 1',
    '[azcloudhsm_sect]',
    `module = ${join(LIB64, 'libazcloudhsm_provider.so')}`,
    ...lines,
    'activate = 1',
    '',
  ].join('\n'));
  return path;
}

test('openssl.cnf: the provider activated from a section that holds azcloudhsm_password; the engine\'s messages', async () => {
  const cnf = providerCnf('provider.cnf', [`azcloudhsm_openssl_conf = ${conf}`, 'azcloudhsm_password = cu1:user1234']);
  const cnfEnv = provEnv({ OPENSSL_CONF: cnf, OPENSSL_MODULES: undefined, azcloudhsm_password: undefined, azcloudhsm_openssl_conf: undefined });
  ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'cnf.sig', 'file_to_sign.txt'], { env: cnfEnv }), 'sign, provider from openssl.cnf');
  assert.ok(await verifiedByDefault('rsa.pub', 'cnf.sig', 'file_to_sign.txt'));
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 1);

  const sign = (e: NodeJS.ProcessEnv) => openssl(['dgst', ...PROVIDER, '-sha256', '-sign', rsaKey, '-out', 'x.sig', 'file_to_sign.txt'], { env: e });
  failed(await sign(provEnv({ azcloudhsm_password: undefined })), 'no password', 'environment variable azcloudhsm_password is not set');
  failed(await sign(provEnv({ azcloudhsm_openssl_conf: undefined })), 'no conf', 'environment variable azcloudhsm_openssl_conf is not set');
  failed(await sign(provEnv({ azcloudhsm_password: 'cu1' })), 'no colon', 'must be <user>:<password>');
  failed(await sign(provEnv({ azcloudhsm_openssl_conf: join(root, 'missing.conf') })), 'missing conf', /cannot read .*missing\.conf/);
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere, { recursive: true });
  failed(await openssl(['dgst', ...PROVIDER, '-sha256', '-sign', rsaKey, '-out', join(elsewhere, 'x.sig'), join(work, 'file_to_sign.txt')], { cwd: elsewhere }), 'no application cfg', 'azcloudhsm_application.cfg is not present');
  /* The environment wins over the section, as it does over the dynamic conf's Username/Password. */
  const wrong = providerCnf('wrong.cnf', [`azcloudhsm_openssl_conf = ${conf}`, 'azcloudhsm_password = cu1:not-it']);
  ok(await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'x.sig', 'file_to_sign.txt'], { env: provEnv({ OPENSSL_CONF: wrong, OPENSSL_MODULES: undefined }) }), 'the variable wins');
  const w = await openssl(['dgst', '-sha256', '-sign', rsaKey, '-out', 'x.sig', 'file_to_sign.txt'], { env: provEnv({ OPENSSL_CONF: wrong, OPENSSL_MODULES: undefined, azcloudhsm_password: undefined }) });
  failed(w, 'wrong password in the section', /login as cu1 \(from openssl\.cnf azcloudhsm_password\) failed/);
  assert.ok(!w.stderr.includes('not-it') && !w.stdout.includes('not-it'), 'the password is never printed');
  assert.equal(uses(await newAudit(), 'sign', rsaHandle), 1);
});

/* ───────────────────────────── bad input ───────────────────────────── */

test('bad input: malformed and foreign PEM, unknown URIs, a deleted key, a wrong password: clear errors, no crash', async () => {
  const sign = (key: string, e = env) => openssl(['dgst', ...PROVIDER, '-sha256', '-sign', key, '-out', 'bad.sig', 'file_to_sign.txt'], { env: e });
  const text = readFileSync(rsaKey, 'utf8');
  writeFileSync(join(work, 'truncated.pem'), text.slice(0, Math.floor(text.length / 2)));
  failed(await sign('truncated.pem'), 'truncated PEM', /Could not read private key|unable to load key/i);
  writeFileSync(join(work, 'garbage.pem'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n');
  failed(await sign('garbage.pem'), 'garbage PKCS#8', /Could not read private key|unable to load key/i);
  failed(await sign('rsa.crt'), 'a certificate given as a key', /Could not read private key|unable to load key/i);
  writeFileSync(join(work, 'foreign.pem'), '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n');
  failed(await sign('foreign.pem'), 'a foreign PEM', /Could not read private key|unable to load key/i);

  /* Forged references (PKCS#1, the tool's layout): a handle that does not exist, and a real key's
     handle with another key's public key. */
  const f = readPrivateKeyFile(text);
  assert.ok(f.kind === 'rsa' && f.pub.kind === 'rsa');
  if (f.kind === 'rsa' && f.pub.kind === 'rsa') {
    writeFileSync(join(work, 'forged_missing.pem'), rsaKeyReference(987654321, f.pub.n, f.pub.e));
    writeFileSync(join(work, 'forged_other.pem'), rsaKeyReference(handleOf(join(work, 'rsa3072.pem')), f.pub.n, f.pub.e));
  }
  failed(await sign('forged_missing.pem'), 'missing handle', /key handle 987654321, which this user cannot use/);
  failed(await sign('forged_other.pem'), 'another key\'s public key', /the public key in the file is not that key's/);

  failed(await sign('azcloudhsm:label=no-such-key'), 'unknown label', 'no private key with label "no-such-key"');
  failed(await sign('azcloudhsm:handle=987654321'), 'unknown handle', /key handle 987654321 cannot be used/);
  failed(await sign('azcloudhsm:colour=blue'), 'unknown attribute', 'unknown attribute colour');
  failed(await sign('pkcs11:object=prov-ec;type=cert'), 'not a private key', 'only private keys');
  failed(await sign('azcloudhsm:handle=12abc'), 'bad handle', 'the handle must be a whole number');

  /* A key deleted from the HSM: its file now names nothing. */
  ok(await openssl(['genpkey', ...PROVIDER, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'doomed.pem']), 'genpkey');
  const dh = handleOf(join(work, 'doomed.pem'));
  ok(await util(['deleteKey', '-k', String(dh)]), 'deleteKey');
  failed(await sign('doomed.pem'), 'deleted key', new RegExp(`key handle ${dh}, which this user cannot use`));
  failed(await sign(`azcloudhsm:handle=${dh}`), 'deleted key by URI', new RegExp(`key handle ${dh} cannot be used`));

  const wp = await sign(rsaKey, provEnv({ azcloudhsm_password: 'cu1:wrong-password' }));
  failed(wp, 'wrong password', /login as cu1 \(from azcloudhsm_password\) failed: .*CK_RV 0x/);
  assert.ok(!wp.stderr.includes('wrong-password'), 'the password is never printed');
  /* cu2 cannot use cu1's key. */
  failed(await sign(rsaKey, provEnv({ azcloudhsm_password: 'cu2:user5678' })), 'another user', new RegExp(`key handle ${rsaHandle}, which this user cannot use`));
  const audit = await newAudit();
  assert.equal(audit.filter((x) => (x.action === 'sign' || x.action === 'decrypt') && x.result === 'ok').length, 0, JSON.stringify(audit));
});

test('valgrind: sign, decrypt, a failing URI, key generation and ECDH through the provider are clean', async () => {
  const vg = ['--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite', '--track-origins=no'];
  for (const args of [
    ['dgst', ...PROVIDER, '-sha256', '-sign', rsaKey, '-out', 'vg.sig', 'file_to_sign.txt'],
    ['pkeyutl', ...PROVIDER, '-decrypt', '-inkey', rsaKey, '-in', 'enc1.bin', '-out', 'vg.txt'],
    ['dgst', ...PROVIDER, '-sha256', '-sign', 'azcloudhsm:label=no-such-key', '-out', 'vg2.sig', 'file_to_sign.txt'],
    ['genpkey', ...PROVIDER, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'vg_ec.pem'],
    ['pkeyutl', ...PROVIDER, '-derive', '-inkey', `azcloudhsm:handle=${ecHandle}`, '-peerkey', 'peer.pub', '-out', 'vg_z.bin'],
  ]) {
    const r = await run('valgrind', [...vg, 'openssl', ...args], { cwd: work, env, timeoutMs: 120_000 });
    assert.equal(r.signal, null, show(r));
    assert.notEqual(r.code, 99, `valgrind found errors\n${show(r)}`);
    assert.match(r.stderr, /ERROR SUMMARY: 0 errors/, show(r));
  }
  assert.ok(await verifiedByDefault('rsa.pub', 'vg.sig', 'file_to_sign.txt'));
  assert.deepEqual(readFileSync(join(work, 'vg_z.bin')), readFileSync(join(work, 'z_sw.bin')));
  const audit = await newAudit();
  assert.equal(uses(audit, 'sign', rsaHandle), 1);
  assert.equal(uses(audit, 'deriveKey', ecHandle), 1);
});

test('threads and fork: 8 threads sign with one key at once, then a forked child signs on its own connection', async () => {
  const src = join(REPO, 'native', 'openssl-provider', 'test', 'threads.c');
  const bin = join(root, 'threads');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', bin, src, '-lcrypto'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  await newAudit();
  for (const [key, handle] of [[rsaKey, rsaHandle], [ecKey, ecHandle]] as const) {
    const r = ok(await run(bin, [key, '8', '5'], { cwd: work, env }), `threads ${key}`);
    assert.match(r.stdout, /threads ok 40\nfork ok\n/);
    assert.equal(uses(await newAudit(), 'sign', handle), 43, '40 in threads, 2 in the child, 1 in the parent after the fork');
  }
});

/* ───────────────────────────── nginx: TLS 1.3 through the provider ───────────────────────────── */

/** nginx with no ssl_engine: the provider is activated in the OpenSSL configuration nginx reads. */
function startNginx(name: string, cert: string, key: string, cnf: string): Promise<Nginx> {
  assert.ok(NGINX, 'nginx is not installed (Debian package nginx; .ci/run installs it)');
  return startNginxAt({
    dir: join(root, `nginx-${name}`), cert, key, cwd: work,
    main: ['env OPENSSL_CONF;'],
    /* Only OPENSSL_CONF: the credentials come from the provider's section. */
    env: provEnv({ OPENSSL_CONF: cnf, OPENSSL_MODULES: undefined, azcloudhsm_password: undefined, azcloudhsm_openssl_conf: undefined }),
  });
}

const clientEnv = () => provEnv({ OPENSSL_MODULES: undefined, azcloudhsm_password: undefined, azcloudhsm_openssl_conf: undefined });

function handshake(port: number, ca: string, args: readonly string[] = []): Promise<Run> {
  const version = args.includes('-tls1_2') ? [] : ['-tls1_3'];
  return openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', ca, '-verify_return_error', '-ign_eof', ...version, ...args], {
    env: clientEnv(),
    input: 'GET / HTTP/1.0\r\n\r\n',
  });
}

const curl = (port: number, ca: string) =>
  run('curl', ['-sS', '--tlsv1.3', '--cacert', ca, '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/`], { cwd: work, env: clientEnv() });

test('nginx serves TLS 1.3 with RSA and EC keys through the provider (no ssl_engine), checked with s_client and curl; fails with the daemon down', async () => {
  const cnf = providerCnf('nginx-provider.cnf', [`azcloudhsm_openssl_conf = ${conf}`, 'azcloudhsm_password = cu1:user1234']);
  const before = await totalKeys();
  const servers = [
    { name: 'rsa', cert: join(work, 'rsa.crt'), key: rsaKey, handle: rsaHandle, sigtype: /Peer signature type: RSA-PSS/ },
    { name: 'ec', cert: join(work, 'ec.crt'), key: ecKey, handle: ecHandle, sigtype: /Peer signature type: ECDSA/ },
  ];
  const started: Nginx[] = [];
  try {
    for (const s of servers) started.push(await startNginx(s.name, s.cert, s.key, cnf));
    await newAudit();
    for (const [i, s] of servers.entries()) {
      const n = started[i]!;
      const t = ok(await handshake(n.port, s.cert), `TLS 1.3 ${s.name}\n${n.log()}`);
      assert.match(t.stdout, /New, TLSv1\.3, Cipher is /);
      assert.match(t.stdout, s.sigtype);
      assert.match(t.stdout, /Verify return code: 0 \(ok\)/);
      assert.match(t.stdout, /hello from an HSM key/);
      /* A P-256 key share: the server's ephemeral key stays in OpenSSL's default provider. */
      ok(await handshake(n.port, s.cert, ['-groups', 'P-256']), `TLS 1.3 ${s.name} with P-256 ECDHE`);
      /* TLS 1.2 too (ECDHE suites; static RSA key exchange is not offered for HSM keys). */
      const t12 = ok(await handshake(n.port, s.cert, ['-tls1_2']), `TLS 1.2 ${s.name}\n${n.log()}`);
      assert.match(t12.stdout, /New, TLSv1\.2, Cipher is ECDHE-/);
      const c = await curl(n.port, s.cert);
      assert.equal(c.code, 0, show(c));
      assert.equal(c.stdout, 'hello from an HSM key\n');
      assert.equal(uses(await newAudit(), 'sign', s.handle), 4, `${s.name}: one HSM signature per handshake`);
    }
    assert.equal(await totalKeys(), before, 'no key was made in the HSM for TLS');
    /* The daemon down: the same handshakes fail; no signature without the HSM. */
    await daemon.stop();
    for (const [i, s] of servers.entries()) {
      const n = started[i]!;
      const t = await handshake(n.port, s.cert);
      assert.equal(t.signal, null);
      assert.notEqual(t.code, 0, `a handshake without the daemon must fail\n${show(t)}`);
      const c = await curl(n.port, s.cert);
      assert.notEqual(c.code, 0, show(c));
      assert.match(n.log(), /Failed to connect socket/);
    }
    daemon = await startDaemon(cluster);
    for (const [i, s] of servers.entries()) ok(await handshake(started[i]!.port, s.cert), `${s.name} after the daemon is back\n${started[i]!.log()}`);
  } finally {
    for (const n of started) await n.stop();
  }
});

test('with the daemon stopped genpkey fails and writes no key', async () => {
  await daemon.stop();
  try {
    const g = await openssl(['genpkey', ...PROVIDER, '-algorithm', 'RSA', '-out', 'nodaemon.pem']);
    failed(g, 'genpkey without daemon', 'Failed to connect socket');
    assert.ok(!existsSync(join(work, 'nodaemon.pem')) || readFileSync(join(work, 'nodaemon.pem')).length === 0);
  } finally {
    daemon = await startDaemon(cluster);
  }
});

test('openssl is the real binary of this machine (OpenSSL 3)', () => {
  const v = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  assert.match(v.stdout, /^OpenSSL 3\./);
});
