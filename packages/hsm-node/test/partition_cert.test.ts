/** The partition CSR and self-signed certificate, checked by the real openssl. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionCsrPem, partitionSubject, selfSignedCertPem } from '../src/partition_cert.js';

test('openssl verifies the partition CSR, shows the real subject layout, and signs it into a POAC chain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-csr-'));
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const subject = partitionSubject('CF7B651FCF0C7DF3E2D08C6F6F8A6A', 1);
    writeFileSync(join(dir, 'P1.csr'), partitionCsrPem(privateKey, subject));
    const out = execFileSync('openssl', ['req', '-in', 'P1.csr', '-noout', '-verify', '-subject', '-nameopt', 'oneline'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    assert.match(out, /C = US, ST = CA, O = Cavium, OU = N3FIPS, L = SanJose, CN = "HSM:CF7B651FCF0C7DF3E2D08C6F6F8A6A:PARTN:1, for non-FIPS mode"/);
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '3650', '-out', 'PO.crt', '-subj', '/CN=Partition Owner'], { cwd: dir, stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-days', '3650', '-req', '-in', 'P1.csr', '-CA', 'PO.crt', '-CAkey', 'PO.key', '-set_serial', '01', '-out', 'POAC.crt'], { cwd: dir, stdio: 'ignore' });
    const poac = new X509Certificate(readFileSync(join(dir, 'POAC.crt')));
    assert.ok(poac.verify(new X509Certificate(readFileSync(join(dir, 'PO.crt'))).publicKey));
    assert.ok(poac.checkPrivateKey(privateKey));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the self-signed certificate parses and verifies with its own key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = new X509Certificate(selfSignedCertPem(privateKey, partitionSubject('AB', 2), new Date('2026-01-01T00:00:00Z'), 3650));
  assert.ok(cert.verify(publicKey));
  assert.match(cert.subject, /^CN=HSM:AB:PARTN:2\\, for non-FIPS mode$/m);
  assert.equal(cert.validFrom, 'Jan  1 00:00:00 2026 GMT');
});

test('self-signed serial numbers are always valid DER (no illegal padding), across many certificates', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const subject = partitionSubject('AB', 1);
  /* A leading zero byte would be refused about once in 256; 600 draws make a regression near-certain to show. */
  for (let i = 0; i < 600; i++) new X509Certificate(selfSignedCertPem(privateKey, subject, new Date(), 1));
});
