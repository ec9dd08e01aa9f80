/**
 * @module The test certificates, made with the real `openssl`: a cluster CA for
 * etcd (makePki), the partition owner's side of the onboarding flow
 * (signPartitionCsr), and the owner's files plus wrong owners and an unclaimed
 * node's identity for the daemon's trust tests (makeOwnerPki).
 *
 * Trust boundary: the CA key signs every member and client certificate of
 * one etcd cluster; it and every private key are written owner-only (0600)
 * in an owner-only directory. Member certificates name the member's own
 * addresses (subjectAltName) and carry both serverAuth and clientAuth, as
 * etcd peers are both. Client certificates carry the etcd user name as CN,
 * which etcd's client-certificate authentication maps to that user.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  member(name: string, ips?: readonly string[]): CertFiles;
  client(user: string): CertFiles;
}

/** Whether the `openssl` command is installed (tests that need it skip without it). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${err.trim() || (e as Error).message}`);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Issue one certificate under the CA in `dir`. */
function issue(dir: string, name: string, cn: string, ext: string[]): CertFiles {
  if (!NAME.test(name)) throw new Error(`certificate name ${JSON.stringify(name)} is not a plain name`);
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  if (existsSync(files.cert) && existsSync(files.key)) return files;
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=OpenCloudHSM/CN=${cn}`]);
  chmodSync(files.key, 0o600);
  writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x' + randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'), '-days', '825', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return files;
}

/** Create (or reuse) the CA under `dir`. */
export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const ca = join(dir, 'ca.crt');
  if (!existsSync(ca)) {
    openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256', '-subj', '/O=OpenCloudHSM/CN=OpenCloudHSM etcd cluster CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    chmodSync(join(dir, 'ca.key'), 0o600);
  }
  return {
    dir,
    ca,
    /** A member's certificate for its peer and client listeners, valid for `ips`. */
    member: (name: string, ips: readonly string[] = ['127.0.0.1']) => issue(dir, `member-${name}`, name, [
      `subjectAltName=${[...ips.map((ip) => `IP:${ip}`), `DNS:${name}`].join(',')}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
    ]),
    client: (user: string) => issue(dir, `client-${user}`, user, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]),
  };
}

/** The partition owner's files of the onboarding flow, in one owner-only directory. */
export interface OwnerFiles {
  readonly poKey: string;
  readonly poCrt: string;
  readonly poacCrt: string;
}

/**
 * The owner's side of claiming a partition (the onboarding guide's steps, with
 * the real `openssl`): make PO.key and the self-signed PO.crt in `dir` unless
 * they exist, and sign the partition's CSR (PEM, from getCertReq) into POAC.crt.
 */
export function signPartitionCsr(dir: string, csrPem: string | Uint8Array): OwnerFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { poKey: join(dir, 'PO.key'), poCrt: join(dir, 'PO.crt'), poacCrt: join(dir, 'POAC.crt') };
  writeFileSync(join(dir, 'P1.csr'), csrPem);
  if (!existsSync(files.poKey) || !existsSync(files.poCrt)) {
    selfSigned(dir, 'PO', PO_SUBJECT, 'PO.crt');
    chmodSync(files.poKey, 0o600);
  }
  openssl(dir, ['x509', '-days', '3650', '-req', '-in', 'P1.csr', '-CA', 'PO.crt', '-CAkey', 'PO.key', '-set_serial', '01', '-out', 'POAC.crt']);
  return files;
}

const PO_SUBJECT = '/CN=OpenCloudHSM Partition Owner';
/** The subject of a partition's certificate as the Azure onboarding guide shows it. */
const PARTITION_SUBJECT = '/C=US/ST=CA/O=Cavium/OU=N3FIPS/L=SanJose/CN=HSM:0123456789ABCDEF:PARTN:1, for non-FIPS mode';

/** An RSA-2048 key `<name>.key` and a self-signed certificate `out` for it. */
function selfSigned(dir: string, name: string, subject: string, out: string): void {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-x509', '-days', '3650', '-out', out, '-subj', subject]);
}

/** A claimed partition's certificates and the wrong ones a client must refuse. */
export interface OwnerPki {
  readonly dir: string;
  /** PO.crt as a file path. */
  readonly poCrt: string;
  /** A PO.crt with the same subject but another key (CERT_SIGNATURE_FAILURE). */
  readonly wrongPoSameName: string;
  /** A PO.crt with another subject and key (SELF_SIGNED_CERT_IN_CHAIN). */
  readonly wrongPoOtherName: string;
  /** The partition's TLS identity: key and the chain [POAC, PO] (PEM). */
  readonly node: { key: string; cert: string };
  /** An unclaimed node: a self-signed certificate (PEM). */
  readonly unclaimed: { key: string; cert: string };
}

/**
 * The onboarding guide's certificates for a partition whose key is made here
 * (P1.key, its CSR signed by PO into POAC.crt through signPartitionCsr), plus a
 * wrong PO.crt of the same subject, one of another subject, and an unclaimed
 * node's self-signed certificate.
 */
export function makeOwnerPki(dir: string): OwnerPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'P1.key', '-out', 'P1.csr', '-subj', PARTITION_SUBJECT]);
  const owner = signPartitionCsr(dir, readFileSync(join(dir, 'P1.csr')));
  selfSigned(dir, 'W1', PO_SUBJECT, 'wrong-same.crt');
  selfSigned(dir, 'W2', '/CN=Somebody Else', 'wrong-other.crt');
  selfSigned(dir, 'U', PARTITION_SUBJECT, 'unclaimed.crt');
  const read = (f: string) => readFileSync(join(dir, f), 'latin1');
  return {
    dir,
    poCrt: owner.poCrt,
    wrongPoSameName: join(dir, 'wrong-same.crt'),
    wrongPoOtherName: join(dir, 'wrong-other.crt'),
    node: { key: read('P1.key'), cert: read('POAC.crt') + read('PO.crt') },
    unclaimed: { key: read('U.key'), cert: read('unclaimed.crt') },
  };
}
