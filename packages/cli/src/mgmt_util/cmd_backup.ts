/**
 * @module backupPartition and restorePartition, server scope (the guide's
 * command list; the file format and the flow are in docs/operations.md).
 * The servers of a cluster share one store, so each command runs on the
 * server of the current scope only.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from './types.js';

/** Write the file whole or not at all: a temporary file beside it, fsync, rename; mode 0600. */
function writePrivateAtomically(path: string, data: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fileError(what: string, path: string, e: unknown): Error {
  return new Error(`cannot ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
}

const backupPartition: Command = {
  name: 'backupPartition',
  scope: 'server',
  help: 'Back the whole partition up into a file (users, keys, shares, policies, certificates, audit log)',
  syntax: 'backupPartition <file name>',
  details: ['Needs a CO to be logged in. The file is encrypted and authenticated under a key derived from the', "cluster's sealing key: only a cluster holding the same sealing key can restore it. Mode 0600."],
  args: [1, 1],
  run: (s, a) => s.each('backupPartition', async (srv) => {
    const r = await s.req(srv, 'backupPartition', {}, { timeoutMs: 120_000 });
    try {
      writePrivateAtomically(a[0]!, r.backup);
    } catch (e) {
      throw fileError('write', a[0]!, e);
    }
    s.out(`backupPartition: ${r.entries} entries, audit log up to record ${r.auditSeq}, ${r.backup.length} bytes written to ${a[0]}`);
  }),
};

const restorePartition: Command = {
  name: 'restorePartition',
  scope: 'server',
  help: 'Replace the partition with a backup (a fresh cluster holding the same sealing key)',
  syntax: 'restorePartition <file name>',
  details: [
    'Needs a CO (or, on an unclaimed partition, the PRECO) to be logged in, and a partition without keys.',
    'Users, keys, certificates and the audit log become the backup\'s; sign in again afterwards, with the',
    'backup\'s credentials, and use the backup\'s PO.crt. A changed or truncated file is refused and changes nothing.',
  ],
  args: [1, 1],
  caution: true,
  run: (s, a) => s.each('restorePartition', async (srv) => {
    let backup: Buffer;
    try {
      backup = readFileSync(a[0]!);
    } catch (e) {
      throw fileError('read', a[0]!, e);
    }
    const r = await s.req(srv, 'restorePartition', { backup }, { timeoutMs: 120_000 });
    s.out(`restorePartition: ${r.entries} entries restored, audit log now at record ${r.auditSeq}; the server signed this session out`);
  }, { limited: true }),
};

export const BACKUP_COMMANDS: readonly Command[] = [backupPartition, restorePartition];
