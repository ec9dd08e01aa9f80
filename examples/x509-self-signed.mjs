#!/usr/bin/env node
/**
 * A certificate signing request and a self-signed certificate whose signatures
 * are made inside the HSM, by @peculiar/x509 with HsmCrypto as its WebCrypto
 * provider (docs/sdk.md).
 *
 *   cd /opt/azurecloudhsm/bin            # a folder holding azcloudhsm_application.cfg
 *   export HSM_USER=cu1 HSM_PASSWORD=user1234     # or azcloudhsm_password=cu1:user1234
 *   node /path/to/opencloudhsm/examples/x509-self-signed.mjs [--rsa] [--label NAME] [--out DIR]
 *   openssl verify -CAfile cert.pem cert.pem
 *
 * It generates a persistent key pair in the HSM (ECDSA P-256, or RSA-2048 with
 * --rsa) labelled NAME (default: x509-example-<time>), writes csr.pem and
 * cert.pem into DIR (default: the working directory), and prints the key's
 * handles; `azcloudhsm_util singlecmd loginHSM -u CU -s cu1 -p user1234
 * findKey -l NAME` lists it. Sign-in is implicit, from the environment. Build
 * the project first (make build).
 */
import 'reflect-metadata'; /* @peculiar/x509 2.x resolves its services with tsyringe, which needs it first */
import * as x509 from '@peculiar/x509';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsmCrypto, LoginManager } from '../dist/packages/sdk/src/index.js';

function args(argv) {
  const out = { rsa: false, label: `x509-example-${Date.now()}`, dir: process.cwd() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rsa') out.rsa = true;
    else if (a === '--label' && argv[i + 1]) out.label = argv[++i];
    else if (a === '--out' && argv[i + 1]) out.dir = argv[++i];
    else {
      process.stderr.write('usage: x509-self-signed.mjs [--rsa] [--label NAME] [--out DIR]\n');
      process.exit(2);
    }
  }
  return out;
}

const opts = args(process.argv.slice(2));
const hsm = new HsmCrypto(); /* LoginManager.getInstance(): the cfg of the working directory, credentials from the environment */
x509.cryptoProvider.set(hsm);

const algorithm = opts.rsa
  ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
  : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

try {
  /* label and persistent are HsmCrypto's extensions: a token key, visible to findKey. */
  const keys = await hsm.subtle.generateKey({ ...algorithm, label: opts.label, persistent: true }, false, ['sign', 'verify']);
  const name = `CN=OpenCloudHSM example ${opts.label}, O=OpenCloudHSM`;

  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign)],
  }, hsm);

  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm: algorithm,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 365 * 24 * 3600 * 1000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, hsm),
    ],
  }, hsm);

  /* Both signatures check out, verified in the HSM too. */
  if (!(await csr.verify(hsm))) throw new Error('the CSR signature does not verify');
  if (!(await cert.verify({ signatureOnly: true }, hsm))) throw new Error('the certificate signature does not verify');

  writeFileSync(join(opts.dir, 'csr.pem'), csr.toString('pem') + '\n');
  writeFileSync(join(opts.dir, 'cert.pem'), cert.toString('pem') + '\n');
  process.stdout.write(`${JSON.stringify({
    label: opts.label,
    algorithm: keys.privateKey.algorithm.name,
    publicHandle: keys.publicKey.handle,
    privateHandle: keys.privateKey.handle,
    subject: cert.subject,
    serialNumber: cert.serialNumber,
    files: [join(opts.dir, 'csr.pem'), join(opts.dir, 'cert.pem')],
  }, null, 2)}\n`);
} catch (e) {
  process.stderr.write(`x509-self-signed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
  process.exitCode = 1;
} finally {
  hsm.close();
  LoginManager.getInstance().close();
}
