/**
 * @module Store and audit-log timing for the node's metrics, as decorators
 * (the store and the core stay free of metrics code): every store
 * transaction's latency and outcome, the audit records each transaction
 * carries (the audit batch size of group commit), how long a key use waits
 * for its audit record to be durable, how far the partition's watch is
 * behind the store (revisions and seconds), and the replication latency
 * between nodes, measured with heartbeats (below).
 *
 * Heartbeats (as pt-heartbeat measures database replication): with metrics
 * on, every node commits `sys/probe/<node>/<ms since the epoch>` (and deletes
 * its previous one) every OCHSM_METRICS_HEARTBEAT_MS (default 5000). The
 * commit time is in the key, so every other node's watch, on delivering the
 * put, observes delivery time minus commit time: commit → seen by another
 * node, through whatever replication the store has (the SQLite file's WAL,
 * etcd's raft). The values hold nothing (one byte); the prefix is reserved
 * beside the barrier's own (docs/storage-format.md), so no partition read,
 * backup or restore ever sees them. Across hosts the figure includes the
 * hosts' clock difference (keep them on NTP); a negative difference counts as 0.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './labels.js';

/** What the decorator needs of a store (structural: this package does not import the store). */
interface TxnStore {
  txn(compare: readonly unknown[], success: readonly { readonly op: string; readonly key: string; readonly value?: Uint8Array }[], failure?: readonly unknown[]): Promise<{ readonly succeeded: boolean; readonly revision: number }>;
}
interface WatchStore {
  watch(prefix: string, onEvent: (e: { readonly type: string; readonly key: string; readonly revision: number }) => void, opts?: { readonly onProgress?: (revision: number) => void; readonly [k: string]: unknown }): () => void;
}

/** Where heartbeats live: reserved and plain, beside sys/barrier/ (docs/storage-format.md). */
export const HEARTBEAT_PREFIX = 'sys/probe/';
/** Node ids a heartbeat may carry as a label; anything else is `other` (a closed set of series). */
const MAX_NODE_LABEL = 64;
/** Revisions known to exist and not yet delivered, kept for the seconds-behind figure (bounded). */
const MAX_PENDING = 1024;

/** OCHSM_METRICS_HEARTBEAT_MS: milliseconds between heartbeats (default 5000, at least 10). */
export function heartbeatIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.OCHSM_METRICS_HEARTBEAT_MS;
  if (v === undefined || v === '') return 5000;
  if (!/^\d{2,7}$/.test(v)) throw new Error(`OCHSM_METRICS_HEARTBEAT_MS must be a number of milliseconds from 10 to 9999999 (got "${v}")`);
  return Number(v);
}

/** One watch of the whole key space (the partition state's) and how far it is behind. */
class WatchTracker {
  /** The highest revision delivered (an event or a progress report). */
  seen = 0;
  /** Revisions this process knows exist (its own commits, scrapes), oldest first, with when it learnt of them. */
  pending: Array<{ revision: number; at: number }> = [];

  know(revision: number, at: number): void {
    if (revision <= this.seen) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.revision >= revision) return;
    if (this.pending.length >= MAX_PENDING) this.pending.splice(1, 1);
    this.pending.push({ revision, at });
  }

  delivered(revision: number): void {
    if (revision <= this.seen) return;
    this.seen = revision;
    let i = 0;
    while (i < this.pending.length && this.pending[i]!.revision <= revision) i++;
    if (i > 0) this.pending.splice(0, i);
  }

  behindSeconds(now: number): number {
    const first = this.pending[0];
    return first ? Math.max(0, now - first.at) / 1000 : 0;
  }
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
  readonly replication: Histogram<'from_node'>;
  readonly heartbeatErrors: Gauge<string>;

  #watches = new Set<WatchTracker>();
  /** The store (undecorated) whose revision the lag is measured against, and that heartbeats are written to. */
  #store: TxnStore | undefined;
  #heartbeat: { node: number; timer: NodeJS.Timeout; last?: string } | undefined;
  #heartbeatFailures = 0;
  #now: () => number;

  constructor(registry: Registry, now: () => number = Date.now) {
    this.#now = now;
    const m = this;
    this.txnDuration = new Histogram({ name: 'ochsm_store_transaction_duration_seconds', help: 'Store transactions by outcome: committed, conflict (a compare failed: another node wrote first), error.', labelNames: ['result'] as const, buckets: LATENCY_BUCKETS, registers: [registry] });
    this.auditBatch = new Histogram({ name: 'ochsm_store_audit_records_per_transaction', help: 'Audit records committed by one store transaction (group commit batch size), for transactions that carry any.', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: [registry] });
    this.auditWait = new Histogram({ name: 'ochsm_audit_append_duration_seconds', help: 'A key use waiting for its audit record to be durable (queue and commit).', buckets: LATENCY_BUCKETS, registers: [registry] });
    this.replication = new Histogram({ name: 'ochsm_store_replication_seconds', help: 'Replication latency: another node\'s heartbeat commit to its delivery by this node\'s watch, by the committing node.', labelNames: ['from_node'] as const, buckets: LATENCY_BUCKETS, registers: [registry] });
    this.heartbeatErrors = new Gauge({ name: 'ochsm_store_heartbeat_failures', help: 'Heartbeat commits of this node that failed (store unreachable or refusing).', registers: [registry], collect() { this.set(m.#heartbeatFailures); } });
    /*
     * The store's revision, read once per scrape (one empty transaction, not counted above). The
     * registry collects every metric at once, so the four gauges share one read: the first to ask
     * starts it, the others await the same promise.
     */
    let reading: Promise<{ revision: number; at: number } | undefined> | undefined;
    const storeRevision = (): Promise<{ revision: number; at: number } | undefined> => {
      reading ??= (async () => {
        if (!m.#store || m.#watches.size === 0) return undefined;
        try {
          const r = await m.#store.txn([], []);
          const at = m.#now();
          for (const w of m.#watches) w.know(r.revision, at);
          return { revision: r.revision, at };
        } catch {
          /* The store is unreachable: the lag cannot be told; the transaction metrics show the errors. */
          return undefined;
        }
      })().finally(() => {
        reading = undefined;
      });
      return reading;
    };
    const trackers = () => [...m.#watches];
    new Gauge({
      name: 'ochsm_store_revision', help: 'The store\'s revision when scraped (absent while the store cannot be read).', registers: [registry],
      async collect() { this.reset(); const now = await storeRevision(); if (now) this.set(now.revision); },
    });
    new Gauge({
      name: 'ochsm_store_watch_revision', help: 'The last revision the partition\'s watch has delivered to this process.', registers: [registry],
      async collect() { this.reset(); await storeRevision(); const ws = trackers(); if (ws.length > 0) this.set(Math.min(...ws.map((w) => w.seen))); },
    });
    new Gauge({
      name: 'ochsm_store_watch_lag_revisions', help: 'Revisions the partition\'s watch is behind the store (store revision at scrape minus the watch\'s last delivered revision).', registers: [registry],
      async collect() { this.reset(); const now = await storeRevision(); const ws = trackers(); if (now && ws.length > 0) this.set(Math.max(0, ...ws.map((w) => now.revision - w.seen))); },
    });
    new Gauge({
      name: 'ochsm_store_watch_lag_seconds', help: 'How long the oldest store revision this process knows of has waited for its watch to deliver it (0 when caught up).', registers: [registry],
      async collect() { this.reset(); await storeRevision(); const now = m.#now(); this.set(Math.max(0, ...trackers().map((w) => w.behindSeconds(now)))); },
    });
  }

  /**
   * Commit a heartbeat every `intervalMs` as node `node` (only with metrics on: hsm-node/src/main.ts).
   * Returns a function that stops them and removes the last one.
   */
  startHeartbeat(node: number, intervalMs: number): () => Promise<void> {
    if (!Number.isInteger(node) || node < 1) throw new TypeError(`heartbeat node id must be a positive integer, got ${String(node)}`);
    if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new TypeError(`heartbeat interval must be an integer of at least 10 ms, got ${String(intervalMs)}`);
    const store = this.#store;
    if (!store) throw new Error('startHeartbeat: no instrumented store in this process');
    const beat = async (): Promise<void> => {
      const hb = this.#heartbeat;
      if (!hb) return;
      const key = `${HEARTBEAT_PREFIX}${node}/${this.#now()}`;
      const ops: Array<{ op: string; key: string; value?: Uint8Array }> = [{ op: 'put', key, value: Uint8Array.of(1) }];
      if (hb.last && hb.last !== key) ops.push({ op: 'delete', key: hb.last });
      try {
        const r = await store.txn([], ops);
        if (r.succeeded) hb.last = key;
      } catch {
        this.#heartbeatFailures++;
      }
    };
    this.#heartbeat = { node, timer: setInterval(() => void beat(), intervalMs) };
    this.#heartbeat.timer.unref();
    void beat();
    return async () => {
      const hb = this.#heartbeat;
      if (!hb) return;
      this.#heartbeat = undefined;
      clearInterval(hb.timer);
      if (hb.last) await store.txn([], [{ op: 'delete', key: hb.last }]).catch(() => undefined);
    };
  }

  /** A watch event of the whole key space: a heartbeat of another node is a replication sample. */
  #observe(key: string): void {
    if (!key.startsWith(HEARTBEAT_PREFIX)) return;
    const m = /^(\d{1,6})\/(\d{1,15})$/.exec(key.slice(HEARTBEAT_PREFIX.length));
    if (!m) return;
    const from = Number(m[1]);
    if (from === this.#heartbeat?.node) return;
    const seconds = Math.max(0, this.#now() - Number(m[2])) / 1000;
    this.replication.observe({ from_node: from >= 1 && from <= MAX_NODE_LABEL ? String(from) : 'other' }, seconds);
  }

  /** The same store, its txn timed; every other member is the store's own (bound, so #private fields work). */
  instrumentStore<T extends object>(store: T): T {
    const m = this;
    this.#store = store as unknown as TxnStore;
    return new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'watch' && typeof v === 'function') {
          /* The watch of the whole key space is the partition state's: how far behind it is, and heartbeats. */
          return (prefix: string, onEvent: Parameters<WatchStore['watch']>[1], opts: Parameters<WatchStore['watch']>[2] = {}) => {
            const watch = (v as WatchStore['watch']).bind(target);
            if (prefix !== '') return watch(prefix, onEvent, opts);
            const w = new WatchTracker();
            m.#watches.add(w);
            const stop = watch(prefix, (e) => {
              w.delivered(e.revision - 1);
              m.#observe(e.key);
              onEvent(e);
            }, {
              ...opts,
              onProgress: (revision: number) => {
                w.delivered(revision);
                opts.onProgress?.(revision);
              },
            });
            return () => {
              m.#watches.delete(w);
              stop();
            };
          };
        }
        if (prop === 'txn' && typeof v === 'function') {
          return async (...args: Parameters<TxnStore['txn']>) => {
            const end = m.txnDuration.startTimer();
            try {
              const r = await (v as TxnStore['txn']).apply(target, args);
              end({ result: r.succeeded ? 'committed' : 'conflict' });
              if (r.succeeded) {
                const at = m.#now();
                for (const w of m.#watches) w.know(r.revision, at);
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
