/**
 * @module backupPartition and restorePartition (the mgmt_util commands of the
 * onboarding guide's server scope): the whole partition, users with their
 * scrypt hashes, objects, shares, policies, certificates and the audit chain,
 * in one authenticated, encrypted file (backup/format.ts).
 *
 * A backup is taken by a CO in one consistent read of the store, after its
 * own audit record is appended. A restore replaces the whole partition in one
 * transaction, so it either happens entirely or not at all; it is refused over
 * a partition that holds objects (restore into a fresh cluster holding the same
 * sealing key), for a backup made under another sealing key (its header names
 * the key's id: re-wrap it first, rewrap.ts), for a backup that fails authentication, and for a backup whose
 * audit chain does not verify. The restored chain gains a `restorePartition`
 * record in the same transaction.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { makeRecord, verifyChain, type AuditRecord } from '../audit/audit.js';
import type { BarrierOp } from '../barrier/barrier.js';
import type { CallContext } from '../partition/context.js';
import type { Kernel } from '../partition/kernel.js';
import { PATH, enc, dec, type PartitionRecord } from '../partition/records.js';
import { requireRole } from '../users/roles.js';
import { BACKUP_KEY_INFO, decodeBackup, encodeBackup, readBackupHeader, sealingKeyId, type BackupEntry, type BackupHeader } from './format.js';

/** Request ids are about retries of requests in flight, not partition state: left out. */
const NOT_BACKED_UP = [PATH.idem('')];
const MAX_ATTEMPTS = 20;

export class PartitionBackup {
  constructor(private readonly k: Kernel) {}

  private key = (salt: Uint8Array) => this.k.barrier.deriveKey(salt, BACKUP_KEY_INFO);
  private keyId = () => sealingKeyId((salt, info) => this.k.barrier.deriveKey(salt, info));

  async backup(ctx: CallContext, software: string): Promise<{ backup: Buffer; header: BackupHeader }> {
    requireRole(ctx, ['CO'], 'backupPartition');
    await this.k.txn.mutate(async () => ({ events: [this.k.txn.event(ctx, 'backupPartition')], result: undefined }));
    /* One list of the whole key space is one read of the store: a consistent snapshot. */
    const all = await this.k.barrier.list('');
    const entries: BackupEntry[] = all.filter((e) => e.lease === 0 && !NOT_BACKED_UP.some((p) => e.key.startsWith(p))).map((e) => ({ key: e.key, value: e.value }));
    const head = all.find((e) => e.key === PATH.auditHead);
    const part = all.find((e) => e.key === PATH.partition);
    if (!head || !part) throw new HsmError('ERR_PARTITION_STATE', 'the partition is not initialised');
    const h = dec<{ seq: number; hash: string }>(head.value);
    const header: BackupHeader = { format: 1, created: this.k.clock(), software, serial: dec<PartitionRecord>(part.value).serial, entries: entries.length, auditHead: { seq: h.seq, hash: h.hash }, sealingKeyId: this.keyId() };
    return { backup: encodeBackup(header, entries, this.key), header };
  }

  async restore(ctx: CallContext, file: Uint8Array): Promise<{ header: BackupHeader; auditSeq: number }> {
    requireRole(ctx, ['CO', 'PRECO'], 'restorePartition');
    const claimed = readBackupHeader(file);
    const ours = this.keyId();
    if (claimed.sealingKeyId !== undefined && claimed.sealingKeyId !== ours) {
      throw new HsmError('ERR_ARGUMENTS_BAD', `not a usable partition backup here: it was made under the sealing key with id ${claimed.sealingKeyId}, and this cluster's sealing key has id ${ours}; restore it into a cluster holding that key, or re-wrap it for this one with "ochsm backup-rewrap" (docs/operations.md)`);
    }
    const { header, entries } = decodeBackup(file, this.key);
    const byKey = new Map(entries.map((e) => [e.key, e]));
    if (byKey.size !== entries.length) throw new HsmError('ERR_ARGUMENTS_BAD', 'not a usable partition backup: a key appears twice');
    if (!byKey.has(PATH.partition) || !byKey.has(PATH.auditHead)) throw new HsmError('ERR_ARGUMENTS_BAD', 'not a usable partition backup: it holds no partition record or no audit head');
    const records = entries.filter((e) => e.key.startsWith(PATH.audits)).map((e) => dec<AuditRecord>(e.value)).sort((a, b) => a.seq - b.seq);
    const verdict = verifyChain(records);
    const head = dec<{ seq: number; hash: string }>(byKey.get(PATH.auditHead)!.value);
    const last = records[records.length - 1];
    if (!verdict.ok) throw new HsmError('ERR_ARGUMENTS_BAD', `not a usable partition backup: its audit chain does not verify (${verdict.reason})`);
    if (!last || head.seq !== last.seq || head.hash !== last.hash || head.seq !== header.auditHead.seq) throw new HsmError('ERR_ARGUMENTS_BAD', 'not a usable partition backup: the audit head does not match the last record');

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.k.barrier.list('');
      const objects = current.filter((e) => e.key.startsWith(PATH.objects)).length;
      if (objects > 0) {
        throw new HsmError('ERR_NOT_PERMITTED', `restorePartition replaces the whole partition and refuses one that holds objects (${objects} here): restore into a fresh cluster that holds the same sealing key`);
      }
      const curHead = current.find((e) => e.key === PATH.auditHead);
      const replaced = curHead ? dec<{ seq: number }>(curHead.value).seq : 0;
      const rec = makeRecord(this.k.txn.event(ctx, 'restorePartition', { detail: `backup of ${new Date(header.created).toISOString()}, serial ${header.serial}, ${header.entries} entries${header.rewrapped ? `, re-wrapped ${new Date(header.rewrapped.at).toISOString()} from sealing key ${header.rewrapped.fromKeyId} to ${ours}` : ''}; replaced ${replaced} audit records` }), head.seq + 1, this.k.clock(), head.hash);
      const ops: BarrierOp[] = [];
      for (const e of current) if (!byKey.has(e.key)) ops.push({ op: 'delete', key: e.key });
      for (const e of entries) if (e.key !== PATH.auditHead) ops.push({ op: 'put', key: e.key, value: e.value });
      ops.push({ op: 'put', key: PATH.audit(rec.seq), value: enc(rec) });
      ops.push({ op: 'put', key: PATH.auditHead, value: enc({ seq: rec.seq, hash: rec.hash }) });
      const r = await this.k.barrier.txn([{ key: PATH.auditHead, op: 'version-eq', version: curHead?.version ?? 0 }], ops);
      if (r.succeeded) {
        /* As every commit: the in-memory state catches up before the answer. */
        this.k.txn.lastCommitted = Math.max(this.k.txn.lastCommitted, r.revision);
        await this.k.txn.afterCommit(r.revision);
        return { header, auditSeq: rec.seq };
      }
      await this.k.txn.beforeRetry();
    }
    throw new HsmError('ERR_STORE', 'the store stayed too busy to restore the partition; try again');
  }
}
