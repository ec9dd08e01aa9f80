/**
 * @module The store's audit chain: state-change records written by the
 * transaction engine under `audit/`, and reading and verifying them.
 */
import type { Barrier } from '../barrier/barrier.js';
import { verifyChain, type AuditRecord, type ChainVerdict } from './audit.js';
import { PATH, dec } from '../partition/records.js';

export class StoreAuditChain {
  constructor(private readonly barrier: Barrier) {}

  /** Audit records, oldest first; `fromSeq` for paging. */
  async records(fromSeq = 1, limit = 1000): Promise<AuditRecord[]> {
    const list = await this.barrier.list(PATH.audits, { limit, ...(fromSeq > 1 ? { after: PATH.audit(fromSeq - 1) } : {}) });
    return list.map((e) => dec<AuditRecord>(e.value));
  }

  /** Verify the whole chain, naming the first broken link. */
  async verify(): Promise<ChainVerdict> {
    const all: AuditRecord[] = [];
    for (let from = 1; ; ) {
      const page = await this.records(from, 5000);
      all.push(...page);
      if (page.length < 5000) break;
      from = page[page.length - 1]!.seq + 1;
    }
    const verdict = verifyChain(all);
    const head = await this.barrier.get(PATH.auditHead);
    if (verdict.ok && head) {
      const h = dec<{ seq: number; hash: string }>(head.value);
      const last = all[all.length - 1];
      if (!last || last.seq !== h.seq || last.hash !== h.hash) {
        return { ok: false, records: all.length, brokenAt: (last?.seq ?? 0) + 1, reason: 'records after the last one present are missing' };
      }
    }
    return verdict;
  }
}
