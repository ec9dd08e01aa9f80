/**
 * @module Store and audit-log timing for the node's metrics, as decorators
 * (the store and the core stay free of metrics code): every store
 * transaction's latency and outcome, the audit records each transaction
 * carries (the audit batch size of group commit), and how long a key use
 * waits for its audit record to be durable.
 */
import { Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './labels.js';

/** What the decorator needs of a store (structural: this package does not import the store). */
interface TxnStore {
  txn(compare: readonly unknown[], success: readonly { readonly op: string; readonly key: string }[], failure?: readonly unknown[]): Promise<{ readonly succeeded: boolean }>;
}

interface UseLogLike {
  append(event: unknown): Promise<void>;
  flush(): Promise<void>;
}

const AUDIT_PREFIX = 'audit/';

export class StoreMetrics {
  readonly txnDuration: Histogram<'result'>;
  readonly auditBatch: Histogram<string>;
  readonly auditWait: Histogram<string>;

  constructor(registry: Registry) {
    this.txnDuration = new Histogram({ name: 'ochsm_store_transaction_duration_seconds', help: 'Store transactions by outcome: committed, conflict (a compare failed: another node wrote first), error.', labelNames: ['result'] as const, buckets: LATENCY_BUCKETS, registers: [registry] });
    this.auditBatch = new Histogram({ name: 'ochsm_store_audit_records_per_transaction', help: 'Audit records committed by one store transaction (group commit batch size), for transactions that carry any.', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: [registry] });
    this.auditWait = new Histogram({ name: 'ochsm_audit_append_duration_seconds', help: 'A key use waiting for its audit record to be durable (queue and commit).', buckets: LATENCY_BUCKETS, registers: [registry] });
  }

  /** The same store, its txn timed; every other member is the store's own (bound, so #private fields work). */
  instrumentStore<T extends object>(store: T): T {
    const m = this;
    return new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'txn' && typeof v === 'function') {
          return async (...args: Parameters<TxnStore['txn']>) => {
            const end = m.txnDuration.startTimer();
            try {
              const r = await (v as TxnStore['txn']).apply(target, args);
              end({ result: r.succeeded ? 'committed' : 'conflict' });
              if (r.succeeded) {
                const audits = (args[1] ?? []).filter((o) => o.op === 'put' && o.key.startsWith(AUDIT_PREFIX)).length;
                if (audits > 0) m.auditBatch.observe(audits);
              }
              return r;
            } catch (e) {
              end({ result: 'error' });
              throw e;
            }
          };
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  instrumentUseLog<T extends UseLogLike>(log: T): T {
    const m = this;
    return new Proxy(log, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'append' && typeof v === 'function') {
          return async (event: unknown) => {
            const end = m.auditWait.startTimer();
            try {
              return await (v as UseLogLike['append']).call(target, event);
            } finally {
              end();
            }
          };
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
