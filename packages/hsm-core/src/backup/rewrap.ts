/**
 * @module Re-wrapping a partition backup from one sealing key to another
 * (docs/operations.md, "Restore under a different sealing key").
 *
 * A backup is encrypted under a key derived from the sealing key of the
 * cluster that made it, so a cluster with another sealing key cannot read it.
 * Moving a partition to such a cluster takes both keys, on the operator's
 * host, offline: the backup is authenticated and opened with the old key,
 * checked (its entries and its audit chain), and sealed again under the new
 * key with a fresh salt and IV; the header keeps the backup's facts, names the
 * new key's id, and records the old key's id and the time of the re-wrap (the
 * restore writes both into its audit record). Holding both key files is the
 * authorisation: the old key already opens the backup, the new key already
 * opens the target cluster's store; the restore itself still needs the
 * target's PRECO or CO.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { hkdfSync } from '../crypto/node.js';
import { verifyChain, type AuditRecord } from '../audit/audit.js';
import { dec, PATH } from '../partition/records.js';
import { BACKUP_KEY_INFO, decodeBackup, encodeBackup, readBackupHeader, sealingKeyId, type BackupHeader } from './format.js';

const KEY_BYTES = 32;

/** HKDF-SHA256 under a masking key held as bytes (what the barrier derives from its key object). */
export function keyDeriver(maskingKey: Uint8Array): (salt: Uint8Array, info: string) => Buffer {
  if (!(maskingKey instanceof Uint8Array) || maskingKey.length !== KEY_BYTES) throw new TypeError(`a masking key is ${KEY_BYTES} bytes`);
  const key = Buffer.from(maskingKey);
  return (salt, info) => Buffer.from(hkdfSync('sha256', key, salt, info, KEY_BYTES));
}

function refused(reason: string): HsmError {
  return new HsmError('ERR_ARGUMENTS_BAD', `cannot re-wrap the backup: ${reason}`);
}

/** Open `file` with `fromKey`, check it, and seal it again under `toKey`. Neither key leaves this function. */
export function rewrapBackup(file: Uint8Array, fromKey: Uint8Array, toKey: Uint8Array, now: number): { backup: Buffer; header: BackupHeader } {
  const from = keyDeriver(fromKey);
  const to = keyDeriver(toKey);
  const fromId = sealingKeyId(from);
  const toId = sealingKeyId(to);
  if (fromId === toId) throw refused(`the old and the new sealing key are the same key (id ${toId})`);
  const head = readBackupHeader(file);
  if (head.sealingKeyId !== undefined && head.sealingKeyId !== fromId) {
    throw refused(`it was made under the sealing key with id ${head.sealingKeyId}, and the old key given has id ${fromId}`);
  }
  const { header, entries } = decodeBackup(file, (salt) => from(salt, BACKUP_KEY_INFO));
  const records = entries.filter((e) => e.key.startsWith(PATH.audits)).map((e) => dec<AuditRecord>(e.value)).sort((a, b) => a.seq - b.seq);
  const verdict = verifyChain(records);
  if (!verdict.ok) throw refused(`its audit chain does not verify (${verdict.reason})`);
  const next: BackupHeader = { ...header, sealingKeyId: toId, rewrapped: { fromKeyId: fromId, at: now } };
  return { backup: encodeBackup(next, entries, (salt) => to(salt, BACKUP_KEY_INFO)), header: next };
}
