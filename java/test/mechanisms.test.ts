/**
 * The JCE transformations made possible by the HSM's AES-CCM, AES-CMAC and raw RSA mechanisms
 * (packages/hsm-core/src/mechanisms/aes_ccm.ts, aes_cmac.ts, rsa_x509.ts), and the provider's ECB
 * padding, in a real JVM against a real node and azcloudhsm_client (java/test/MechInterop.java):
 * CCM and AESCMAC on the NIST vectors, ECB PKCS5Padding and RSA/ECB/NoPadding against SunJCE in
 * both directions, X9-17-RNG. Then the same mechanisms through the PKCS#11 module with OpenSC's
 * pkcs11-tool: listed by C_GetMechanismList with their flags (OpenSC 0.23's --sign looks only for
 * private keys, so a MAC with a secret key is not reachable through it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../packages/testkit/src/cluster.js';
import { run as runTool } from '../../packages/testkit/src/tool_run.js';
import { cleanEnv } from './jvm_env.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const JAR = join(repo, 'dist', 'jce', 'azure-cloud-hsm-jca-17-jar-with-dependencies.jar');
const MODULE = join(repo, 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const JAVA = has('javac') && has('java');

/** A tool run with the JVM's and the provider's sign-in variables cleared, through the test kit's runner. */
function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000) {
  return runTool(cmd, args, { cwd, env: cleanEnv(), timeoutMs });
}

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;

before(async () => {
  if (!JAVA) return;
  dir = mkdtempSync(join(tmpdir(), 'ochsm-jce-mech-'));
  lc = await startCluster(join(dir, 'cluster'), { nodes: 1, users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
  daemon = await startDaemon(lc, { sessionMode: 'APPLICATION' });
});

after(async () => {
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('JCE: AES/CCM and AESCMAC on the NIST vectors; ECB PKCS5Padding and RSA/ECB/NoPadding against SunJCE both ways; X9-17-RNG', { skip: !JAVA && 'a JDK is not installed (Debian package openjdk-17-jdk-headless)' }, async () => {
  assert.ok(existsSync(JAR), `${JAR} is missing: run make build`);
  const classes = join(dir, 'classes');
  mkdirSync(classes);
  const c = spawnSync('javac', ['-cp', JAR, '-d', classes, join(repo, 'java', 'test', 'MechInterop.java'), join(repo, 'java', 'test', 'org', 'opencloudhsm', 'jce', 'Check.java')], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const r = await run('java', ['-cp', `${classes}:${JAR}`, 'MechInterop', repo], daemon!.binDir);
  const m = [...r.stdout.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
  assert.ok(m, r.stdout + r.stderr);
  assert.equal(Number(m[2]), 0, r.stdout + r.stderr);
  assert.ok(Number(m[1]) >= 270, r.stdout);
  assert.equal(r.code, 0);
});

test('PKCS#11: pkcs11-tool lists AES-CCM, AES-CMAC(_GENERAL) and RSA-X-509 with their CK_MECHANISM_INFO', { skip: !has('pkcs11-tool') && 'opensc (pkcs11-tool) is not installed' }, async () => {
  const bin = daemon!.binDir;
  const list = await run('pkcs11-tool', ['--module', MODULE, '--list-mechanisms'], bin);
  assert.equal(list.code, 0, list.stdout + list.stderr);
  /* OpenSC 0.23 has no name for CKM_AES_CCM and CKM_AES_CMAC_GENERAL: it prints their numbers. */
  for (const line of ['(AES-CCM|mechtype-0x1088), keySize=\\{16,32\\}, hw, encrypt, decrypt$', 'AES-CMAC, keySize=\\{16,32\\}, hw, sign, verify$',
    '(AES-CMAC-GENERAL|mechtype-0x108B), keySize=\\{16,32\\}, hw, sign, verify$', 'RSA-X-509, keySize=\\{2048,4096\\}, hw, encrypt, decrypt$']) {
    assert.match(list.stdout, new RegExp(`^\\s*${line}`, 'm'), list.stdout);
  }
});
