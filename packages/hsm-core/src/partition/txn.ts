/**
 * @module The transaction engine: every state change is one compare-and-swap
 * transaction on the store that also appends the change's audit records to
 * the store's hash chain, so a change is never committed without its record.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Compare } from '../../../store/src/types.js';
import type { Barrier, BarrierOp } from '../barrier/barrier.js';
import { makeRecord, GENESIS_HASH, type AuditEvent } from '../audit/audit.js';
import type { CallContext } from './context.js';
import { PATH, enc, dec } from './records.js';

/** Bound on compare-and-swap retries under contention from other nodes. */
const MAX_CAS_ATTEMPTS = 200;

/** What a state change reads and writes; `build` returns one per attempt. */
export interface MutationPlan<T> {
  compare?: Compare[];
  ops?: BarrierOp[];
  events?: AuditEvent[];
  result: T;
  onConflict?: () => Promise<'retry' | 'done'>;
}

export class TxnEngine {
  /** Awaited after every commit: the in-memory state catches up, so the caller then reads its own write. */
  afterCommit: (revision: number) => Promise<void> = async () => undefined;
  /** Awaited before a conflicting change is rebuilt: the state catches up, so the rebuild reads what won. */
  beforeRetry: () => Promise<void> = async () => undefined;
  /** Awaited before an earlier request's stored result is replayed: its effect may have been committed through another node. */
  beforeReplay: () => Promise<void> = async () => undefined;
  /** The revision of the last change this engine committed. */
  lastCommitted = 0;

  constructor(private readonly barrier: Barrier, private readonly clock: () => number) {}

  /** Transactions refused because another writer changed a compared key first. */
  conflicts = 0;
  /* The end of this engine's queue of state changes (see mutate). */
  private tail: Promise<void> = Promise.resolve();

  /**
   * Run a state change: `build` reads what it needs and returns the compares and
   * writes; the audit records of the change are appended in the same
   * transaction, so a change is never committed without its record. On a
   * conflict (another node wrote first) the change is rebuilt from fresh reads.
   *
   * The changes of one engine (one node) run one after another: every change
   * compares the audit head and most compare the handle counter, so changes
   * started together in one process would all read the same head and all but
   * one would lose and rebuild, again and again (on etcd each loss is a Raft
   * round trip: 18-20 key generations/s at 16 clients). Queued, only other
   * nodes can conflict. `build` must not call mutate itself.
   */
  async mutate<T>(build: () => Promise<MutationPlan<T>>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await before;
    try {
      return await this.mutateNow(build);
    } finally {
      release();
    }
  }

  private async mutateNow<T>(build: () => Promise<MutationPlan<T>>): Promise<T> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const head = await this.barrier.get(PATH.auditHead);
      const plan = await build();
      const ops: BarrierOp[] = [...(plan.ops ?? [])];
      const compare: Compare[] = [...(plan.compare ?? [])];
      const events = plan.events ?? [];
      if (events.length > 0) {
        let { seq, hash } = head ? dec<{ seq: number; hash: string }>(head.value) : { seq: 0, hash: GENESIS_HASH };
        const now = this.clock();
        for (const e of events) {
          seq++;
          const r = makeRecord(e, seq, now, hash);
          hash = r.hash;
          ops.push({ op: 'put', key: PATH.audit(seq), value: enc(r) });
        }
        compare.push({ key: PATH.auditHead, op: 'version-eq', version: head?.version ?? 0 });
        ops.push({ op: 'put', key: PATH.auditHead, value: enc({ seq, hash }) });
      }
      if (ops.length === 0) return plan.result;
      const res = await this.barrier.txn(compare, ops);
      if (res.succeeded) {
        this.lastCommitted = Math.max(this.lastCommitted, res.revision);
        await this.afterCommit(res.revision);
        return plan.result;
      }
      this.conflicts++;
      if (plan.onConflict && (await plan.onConflict()) === 'done') return plan.result;
      await this.beforeRetry();
    }
    throw new HsmError('ERR_STORE', 'the store stayed too busy to commit the change; try again');
  }

  event(ctx: CallContext, action: string, more: Partial<AuditEvent> = {}, result = 'ok'): AuditEvent {
    return { user: ctx.principal?.user ?? '', role: ctx.principal?.role ?? '', action, result, ...more };
  }

  /** Idempotency: the stored result of an earlier request with the same id, if any. */
  async priorResult<T>(ctx: CallContext, action: string): Promise<{ found: true; result: T } | { found: false; compare: Compare[]; ops: (r: T) => BarrierOp[] }> {
    const id = ctx.requestId;
    if (id === undefined) return { found: false, compare: [], ops: () => [] };
    if (typeof id !== 'string' || !/^[A-Za-z0-9_.:-]{8,128}$/.test(id)) throw new HsmError('ERR_ARGUMENTS_BAD', 'request id must be 8 to 128 characters of [A-Za-z0-9_.:-]');
    const e = await this.barrier.get(PATH.idem(id));
    if (e) {
      const rec = dec<{ user: string; action: string; result: T }>(e.value);
      if (rec.user !== (ctx.principal?.user ?? '') || rec.action !== action) {
        throw new HsmError('ERR_ARGUMENTS_BAD', 'request id was already used for a different request');
      }
      await this.beforeReplay();
      return { found: true, result: rec.result };
    }
    return {
      found: false,
      compare: [{ key: PATH.idem(id), op: 'absent' }],
      ops: (r: T) => [{ op: 'put', key: PATH.idem(id), value: enc({ user: ctx.principal?.user ?? '', action, result: r, time: this.clock() }) }],
    };
  }
}
