/**
 * @module The partition backup file (docs/operations.md, "Backup and restore").
 *
 *   offset  size  field
 *   0       8     magic "OCHSMBAK"
 *   8       1     format version (1)
 *   9       32    salt (random per backup)
 *   41      12    AES-GCM IV (random per backup)
 *   53      4     header length H (big endian)
 *   57      H     header: UTF-8 JSON, readable without the key (what, when, how many)
 *   57+H    n     AES-256-GCM ciphertext of the entries
 *   end-16  16    GCM tag
 *
 * The key is HKDF-SHA256(masking key, salt, "OpenCloudHSM partition backup v1"),
 * so only a cluster holding the same sealing key can read or check a backup.
 * The header names that key by its id (`sealingKeyId`, below: it reveals
 * nothing of the key), so a cluster holding another key refuses the file with
 * both ids instead of a bare authentication failure; `rewrap.ts` re-encrypts a
 * backup from one sealing key to another (docs/operations.md).
 * Everything before the ciphertext is the GCM additional data: a changed
 * header, a flipped bit anywhere or a truncated file fails authentication.
 * Plaintext: for each entry, u32 key length, key (UTF-8), u32 value length,
 * value; the entries are the partition's barrier-level records (users with
 * their scrypt hashes, objects, shares, policies, certificates, the audit
 * chain and its head).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { createCipheriv, createDecipheriv, randomBytes } from '../crypto/node.js';

export const BACKUP_MAGIC = Buffer.from('OCHSMBAK', 'latin1');
export const BACKUP_FORMAT = 1;
export const BACKUP_KEY_INFO = 'OpenCloudHSM partition backup v1';
/** A sealing key's id: the first 8 bytes of HKDF-SHA256(masking key, no salt, this), in hex. */
export const SEALING_KEY_ID_INFO = 'OpenCloudHSM sealing key id v1';

/** The id of the sealing key behind `derive` (HKDF of that key): names a key without revealing it. */
export function sealingKeyId(derive: (salt: Uint8Array, info: string) => Uint8Array): string {
  return Buffer.from(derive(new Uint8Array(0), SEALING_KEY_ID_INFO)).subarray(0, 8).toString('hex');
}
const SALT = 32;
const IV = 12;
const TAG = 16;
const FIXED = BACKUP_MAGIC.length + 1 + SALT + IV + 4;
/** A header larger than this is not ours. */
const MAX_HEADER = 64 * 1024;

export interface BackupHeader {
  readonly format: 1;
  /** ms since the epoch. */
  readonly created: number;
  readonly software: string;
  /** The partition's serial number (sys/partition). */
  readonly serial: string;
  readonly entries: number;
  readonly auditHead: { readonly seq: number; readonly hash: string };
  /** The id of the sealing key the backup is encrypted under (absent in backups of earlier releases). */
  readonly sealingKeyId?: string;
  /** Set by a re-wrap: the key the backup was made under, and when it was re-wrapped (ms since the epoch). */
  readonly rewrapped?: { readonly fromKeyId: string; readonly at: number };
}

export interface BackupEntry {
  readonly key: string;
  readonly value: Uint8Array;
}

function refused(reason: string): HsmError {
  return new HsmError('ERR_ARGUMENTS_BAD', `not a usable partition backup: ${reason}`);
}

/** Seal entries into a backup file. `deriveKey(salt)` gives the backup key for a salt. */
export function encodeBackup(header: BackupHeader, entries: readonly BackupEntry[], deriveKey: (salt: Uint8Array) => Uint8Array): Buffer {
  const salt = randomBytes(SALT);
  const iv = randomBytes(IV);
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(FIXED);
  BACKUP_MAGIC.copy(fixed, 0);
  fixed.writeUInt8(BACKUP_FORMAT, 8);
  salt.copy(fixed, 9);
  iv.copy(fixed, 9 + SALT);
  fixed.writeUInt32BE(head.length, 9 + SALT + IV);
  const aad = Buffer.concat([fixed, head]);
  const parts: Buffer[] = [];
  for (const e of entries) {
    const k = Buffer.from(e.key, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(k.length);
    const vlen = Buffer.alloc(4);
    vlen.writeUInt32BE(e.value.length);
    parts.push(len, k, vlen, Buffer.from(e.value));
  }
  const c = createCipheriv('aes-256-gcm', deriveKey(salt), iv);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(Buffer.concat(parts)), c.final()]);
  return Buffer.concat([aad, body, c.getAuthTag()]);
}

/** The header alone, without the key (to say what a file is before anything is changed). */
export function readBackupHeader(file: Uint8Array): BackupHeader {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < FIXED + TAG) throw refused(`${b.length} bytes is too short (truncated?)`);
  if (!b.subarray(0, 8).equals(BACKUP_MAGIC)) throw refused('it does not start with OCHSMBAK');
  if (b.readUInt8(8) !== BACKUP_FORMAT) throw refused(`format ${b.readUInt8(8)} is not supported (this software reads format ${BACKUP_FORMAT})`);
  const h = b.readUInt32BE(9 + SALT + IV);
  if (h > MAX_HEADER || FIXED + h + TAG > b.length) throw refused('the header runs past the end of the file (truncated?)');
  let header: BackupHeader;
  try {
    header = JSON.parse(b.subarray(FIXED, FIXED + h).toString('utf8')) as BackupHeader;
  } catch {
    throw refused('the header is not valid JSON (damaged?)');
  }
  if (header.format !== 1 || !Number.isInteger(header.entries) || typeof header.auditHead?.hash !== 'string') throw refused('the header lacks its fields (damaged?)');
  if (header.sealingKeyId !== undefined && (typeof header.sealingKeyId !== 'string' || !/^[0-9a-f]{16}$/.test(header.sealingKeyId))) throw refused('the header\'s sealing key id is malformed (damaged?)');
  return header;
}

/** Authenticate and open a backup file; any change to any byte, or a truncation, is refused. */
export function decodeBackup(file: Uint8Array, deriveKey: (salt: Uint8Array) => Uint8Array): { header: BackupHeader; entries: BackupEntry[] } {
  const header = readBackupHeader(file);
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const h = b.readUInt32BE(9 + SALT + IV);
  const salt = b.subarray(9, 9 + SALT);
  const iv = b.subarray(9 + SALT, 9 + SALT + IV);
  const aad = b.subarray(0, FIXED + h);
  const d = createDecipheriv('aes-256-gcm', deriveKey(salt), iv);
  d.setAAD(aad);
  d.setAuthTag(b.subarray(b.length - TAG));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(b.subarray(FIXED + h, b.length - TAG)), d.final()]);
  } catch {
    throw refused('authentication failed: the file was changed or truncated, or it was made by a cluster with another sealing key');
  }
  const entries: BackupEntry[] = [];
  for (let off = 0; off < plain.length; ) {
    if (off + 4 > plain.length) throw refused('an entry is cut short');
    const kl = plain.readUInt32BE(off);
    off += 4;
    if (off + kl + 4 > plain.length) throw refused('an entry is cut short');
    const key = plain.subarray(off, off + kl).toString('utf8');
    off += kl;
    const vl = plain.readUInt32BE(off);
    off += 4;
    if (off + vl > plain.length) throw refused('an entry is cut short');
    entries.push({ key, value: Buffer.from(plain.subarray(off, off + vl)) });
    off += vl;
  }
  if (entries.length !== header.entries) throw refused(`the header says ${header.entries} entries, the file holds ${entries.length}`);
  return { header, entries };
}
