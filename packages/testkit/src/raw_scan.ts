/**
 * @module The raw-bytes scanner of the "no key bytes, no password at rest"
 * tests: SQLite files (database, WAL, shared memory), the key-use audit logs,
 * etcd snapshots and member data directories. Each secret is looked for in
 * every form a careless encoder would leave (raw, hex in both cases, base64,
 * base64url), and a canary written around the barrier must be found in the
 * same bytes, so a scanner that reads nothing cannot pass.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The forms a secret is looked for in: raw, hex (lower and upper case), base64, base64url. */
export function secretForms(secret: Buffer): Buffer[] {
  return [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase()), Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('base64url'))];
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** The bytes of these files, one after another. */
export function readAll(files: readonly string[]): Buffer {
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

export interface ScanSource {
  /** Where the bytes came from, for the message ("the raw store files"). */
  readonly where: string;
  readonly bytes: Buffer;
}

/**
 * What was found: for each source, the canary must be there (when given) and
 * no form of any secret may be. Returns the problems, empty when clean.
 */
export function scanRaw(sources: readonly ScanSource[], secrets: ReadonlyArray<readonly [string, Buffer]>, canary?: Buffer): string[] {
  const problems: string[] = [];
  for (const { where, bytes } of sources) {
    if (canary && !bytes.includes(canary)) problems.push(`the canary written around the barrier is not found in ${where}: the scan reads the wrong bytes`);
    for (const [what, secret] of secrets) {
      const forms = secretForms(secret);
      const i = forms.findIndex((f) => bytes.includes(f));
      if (i >= 0) problems.push(`${what} found in ${where} (${['raw', 'hex', 'HEX', 'base64', 'base64url'][i]})`);
    }
  }
  return problems;
}
