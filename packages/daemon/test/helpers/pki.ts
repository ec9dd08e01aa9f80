/**
 * Test certificates made with the real `openssl`, the way the onboarding
 * guide makes them (§1.4): PO.key/PO.crt self-signed, the partition key's CSR
 * signed by PO into POAC.crt. Also a wrong PO.crt and an unclaimed node's
 * self-signed certificate.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  readonly dir: string;
  /** PO.crt as a file path. */
  readonly poCrt: string;
  /** A PO.crt with the same subject but another key (CERT_SIGNATURE_FAILURE). */
  readonly wrongPoSameName: string;
  /** A PO.crt with another subject and key (SELF_SIGNED_CERT_IN_CHAIN). */
  readonly wrongPoOtherName: string;
  /** The partition's TLS identity: key and the chain [POAC, PO]. */
  readonly node: { key: string; cert: string };
  /** An unclaimed node: a self-signed certificate. */
  readonly unclaimed: { key: string; cert: string };
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function makePki(dir: string): Pki {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const subject = '/C=US/ST=CA/O=Cavium/OU=N3FIPS/L=SanJose/CN=HSM:0123456789ABCDEF:PARTN:1, for non-FIPS mode';
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '3650', '-out', 'PO.crt', '-subj', '/CN=Test Partition Owner']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'P1.key', '-out', 'P1.csr', '-subj', subject]);
  run(['x509', '-days', '3650', '-req', '-in', 'P1.csr', '-CA', 'PO.crt', '-CAkey', 'PO.key', '-set_serial', '01', '-out', 'POAC.crt']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'W1.key', '-x509', '-days', '3650', '-out', 'wrong-same.crt', '-subj', '/CN=Test Partition Owner']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'W2.key', '-x509', '-days', '3650', '-out', 'wrong-other.crt', '-subj', '/CN=Somebody Else']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'U.key', '-x509', '-days', '3650', '-out', 'unclaimed.crt', '-subj', subject]);
  const read = (f: string) => readFileSync(join(dir, f), 'latin1');
  return {
    dir,
    poCrt: join(dir, 'PO.crt'),
    wrongPoSameName: join(dir, 'wrong-same.crt'),
    wrongPoOtherName: join(dir, 'wrong-other.crt'),
    node: { key: read('P1.key'), cert: read('POAC.crt') + read('PO.crt') },
    unclaimed: { key: read('U.key'), cert: read('unclaimed.crt') },
  };
}
