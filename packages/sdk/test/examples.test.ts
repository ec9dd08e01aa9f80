/**
 * The shipped examples, run as a user runs them: a child process started in a
 * folder holding azcloudhsm_application.cfg, credentials in the environment.
 *
 * - examples/x509-self-signed.mjs: @peculiar/x509 makes a CSR and a
 *   self-signed certificate with HsmCrypto; `openssl verify -CAfile cert.pem
 *   cert.pem` accepts the certificate, `openssl req -verify` the CSR, and the
 *   key is visible to the daemon's findObjects by its label.
 * - examples/worker-threads.mjs: one provider per worker thread.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../protocol/src/attributes.js';
import { HsmClient } from '../src/client.js';
import { CU1, startSdkEnv, waitSignedOut, type SdkEnv } from './helpers.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const EXAMPLES = join(ROOT, 'examples');

let env: SdkEnv;
let work: string;

before(async () => {
  env = await startSdkEnv();
  work = mkdtempSync(join(env.dir, 'work-'));
  copyFileSync(join(env.daemon.binDir, 'azcloudhsm_application.cfg'), join(work, 'azcloudhsm_application.cfg'));
});
after(async () => {
  await env?.stop();
});

/** Run an example in the work folder with implicit credentials. */
async function example(name: string, args: string[], extraEnv: Record<string, string>): Promise<string> {
  const cleanEnv = { ...process.env };
  for (const k of ['HSM_USER', 'HSM_PASSWORD', 'HSM_PARTITION', 'azcloudhsm_password', 'AZCLOUDHSM_APPLICATION_CFG']) delete cleanEnv[k];
  const { stdout } = await run(process.execPath, [join(EXAMPLES, name), ...args], { cwd: work, env: { ...cleanEnv, ...extraEnv }, timeout: 60_000 });
  return stdout;
}

async function findByLabel(label: string): Promise<number[]> {
  const c = new HsmClient({ socketPath: env.daemon.socketPath });
  try {
    await c.request('login', { user: CU1.user, password: CU1.password, role: 'CU' });
    return [...(await c.request('findObjects', { template: [attr.utf8(P.CKA_LABEL, label)] })).handles];
  } finally {
    c.close();
  }
}

const variants: { label: string; args: string[]; sig: RegExp; envVars: Record<string, string> }[] = [
  { label: 'x509-ecdsa', args: [], sig: /ecdsa-with-SHA256/, envVars: { HSM_USER: CU1.user, HSM_PASSWORD: CU1.password } },
  { label: 'x509-rsa', args: ['--rsa'], sig: /sha256WithRSAEncryption/, envVars: { azcloudhsm_password: `${CU1.user}:${CU1.password}` } },
];
for (const variant of variants) {
  test(`x509-self-signed.mjs ${variant.args.join(' ') || '(ECDSA P-256)'}: openssl accepts the certificate made in the HSM`, async () => {
    const out = JSON.parse(await example('x509-self-signed.mjs', [...variant.args, '--label', variant.label], variant.envVars)) as { label: string; publicHandle: number; privateHandle: number };
    assert.equal(out.label, variant.label);
    assert.ok(existsSync(join(work, 'cert.pem')) && existsSync(join(work, 'csr.pem')));
    const verify = await run('openssl', ['verify', '-CAfile', 'cert.pem', 'cert.pem'], { cwd: work });
    assert.equal(verify.stdout.trim(), 'cert.pem: OK');
    const req = await run('openssl', ['req', '-verify', '-in', 'csr.pem', '-noout'], { cwd: work });
    assert.match(req.stdout + req.stderr, /verify OK/i);
    const text = (await run('openssl', ['x509', '-in', 'cert.pem', '-noout', '-text'], { cwd: work })).stdout;
    assert.match(text, variant.sig);
    assert.match(text, new RegExp(`Subject: CN ?= ?OpenCloudHSM example ${variant.label}`));
    assert.match(text, /CA:TRUE/);
    /* The certificate's public key is the HSM key's: same SPKI as the CSR's. */
    const certKey = (await run('openssl', ['x509', '-in', 'cert.pem', '-noout', '-pubkey'], { cwd: work })).stdout;
    const csrKey = (await run('openssl', ['req', '-in', 'csr.pem', '-noout', '-pubkey'], { cwd: work })).stdout;
    assert.equal(certKey, csrKey);
    /* Visible to the daemon's findObjects (azcloudhsm_util findKey) by its label. */
    assert.deepEqual(await findByLabel(variant.label), [out.publicHandle, out.privateHandle]);
    assert.match(readFileSync(join(work, 'cert.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  });
}

test('x509-self-signed.mjs without credentials fails with a message that says how to sign in', async () => {
  await waitSignedOut(env.daemon.socketPath);
  await assert.rejects(example('x509-self-signed.mjs', ['--label', 'no-creds'], {}), (e: unknown) => {
    const err = e as { code?: number; stderr?: string };
    assert.equal(err.code, 1);
    assert.match(err.stderr ?? '', /NotLoggedInError: not signed in to the HSM: call LoginManager.getInstance\(\).login/);
    return true;
  });
});

test('worker-threads.mjs: one provider per worker, every signature verifies in Node', async () => {
  const out = JSON.parse(await example('worker-threads.mjs', ['3', '10'], { HSM_USER: CU1.user, HSM_PASSWORD: CU1.password })) as { label: string; signatures: number; expected: number; handles: number[] };
  assert.equal(out.signatures, 30);
  assert.equal(out.expected, 30);
  assert.equal(new Set(out.handles).size, 1, 'every worker found the same key by its label');
  assert.deepEqual(await findByLabel(out.label), [], 'the example deleted its key');
});
