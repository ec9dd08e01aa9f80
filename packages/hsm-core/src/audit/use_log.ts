/**
 * @module Where key-use records go. The core hands each record of a key use
 * to a `UseLog` and answers only when it resolves (the record is durable).
 * `StoreUseLog` appends them to the store's chain, many per transaction.
 */
import type { AuditEvent } from './audit.js';
import type { TxnEngine } from '../partition/txn.js';

export interface UseLog {
  /** Resolves once the record is durable. */
  append(event: AuditEvent): Promise<void>;
  /** Resolves when everything appended so far is durable. */
  flush(): Promise<void>;
}

/** Key-use records in the store's chain; concurrent callers share one transaction (group commit). */
export class StoreUseLog implements UseLog {
  private queue: { event: AuditEvent; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly txn: TxnEngine) {}

  append(event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.flushing ??= this.run().finally(() => {
        this.flushing = undefined;
      });
    });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 512);
      try {
        await this.txn.mutate(async () => ({ events: batch.map((b) => b.event), result: undefined }));
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}
