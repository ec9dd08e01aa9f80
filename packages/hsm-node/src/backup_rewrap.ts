/**
 * `ochsm backup-rewrap --from <old sealing.key> --to <new sealing.key> <backup> <output>`
 * (called by packages/cli/src/ochsm.ts): a partition backup made under one sealing key, re-encrypted for a cluster
 * holding another (docs/operations.md, "Restore under a different sealing
 * key"). Runs offline on the operator's host; both key files are read with the
 * node's own rules (owned by the caller, mode 0600, no links); the output is
 * created new (never overwriting), mode 0600, and synced before it is named.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync, constants } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rewrapBackup } from '../../hsm-core/src/backup/rewrap.js';
import { readBackupHeader } from '../../hsm-core/src/backup/format.js';
import { loadSealingKeyFile } from './sealing_key_file.js';

export const BACKUP_REWRAP_USAGE = 'usage: ochsm backup-rewrap --from <old sealing.key> --to <new sealing.key> <backup> <output>';

/** Parse the arguments and re-wrap; returns the line to print. Throws with a specific message on any problem. */
export function backupRewrap(args: readonly string[], now: number = Date.now()): string {
  let from: string | undefined;
  let to: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--from' || a === '--to') {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a sealing key file\n${BACKUP_REWRAP_USAGE}`);
      if (a === '--from') from = v;
      else to = v;
    } else if (a.startsWith('--')) {
      throw new Error(`unknown option ${a}\n${BACKUP_REWRAP_USAGE}`);
    } else {
      files.push(a);
    }
  }
  if (!from || !to || files.length !== 2) throw new Error(BACKUP_REWRAP_USAGE);
  const [input, output] = files as [string, string];
  let file: Buffer;
  try {
    file = readFileSync(input);
  } catch (e) {
    throw new Error(`cannot read the backup ${input}: ${(e as Error).message}`);
  }
  const before = readBackupHeader(file);
  const oldKey = loadSealingKeyFile(from);
  const newKey = loadSealingKeyFile(to);
  let out: { backup: Buffer; header: ReturnType<typeof readBackupHeader> };
  try {
    out = rewrapBackup(file, oldKey, newKey, now);
  } finally {
    oldKey.fill(0);
    newKey.fill(0);
  }
  writeNewPrivate(output, out.backup);
  return `backup-rewrap: ${input} (sealing key ${out.header.rewrapped!.fromKeyId}, ${before.entries} entries, audit log up to record ${before.auditHead.seq}) → ${output} (sealing key ${out.header.sealingKeyId}), ${out.backup.length} bytes`;
}

/** Write `data` to a new file `path` (refused when it exists), 0600, synced, then linked into place. */
function writeNewPrivate(path: string, data: Buffer): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    /* link(2) fails when the name exists: an existing file is never replaced. */
    linkSync(tmp, path);
  } catch (e) {
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists (choose a new name)' : (e as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
