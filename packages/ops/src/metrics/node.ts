/**
 * @module The node's metrics (docs/operations.md, "Metrics"): every request a
 * node serves, by operation, mechanism and result; latency; requests in
 * flight; sign-ins and lockouts; open connections. One registry per process,
 * hooked into `hsm-node/src/server.ts` (instrument) and `main.ts` (endpoint).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import { LATENCY_BUCKETS, mechanismLabel, opLabel, resultLabel, roleLabel, signInOutcome } from './labels.js';
import { StoreMetrics } from './store.js';

export { LATENCY_BUCKETS };

/** What the lockout check needs of the partition (a structural type: this package does not import the core). */
export interface UserLookup {
  getUserInfo(name: string): Promise<{ readonly locked: boolean }>;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly operations = new Counter({ name: 'ochsm_node_operations_total', help: 'Requests served, by operation, mechanism and result (ok or the error code).', labelNames: ['node', 'op', 'mechanism', 'result'] as const, registers: [this.registry] });
  readonly duration = new Histogram({ name: 'ochsm_node_operation_duration_seconds', help: 'Time from a decoded request to its answer, by operation and mechanism.', labelNames: ['node', 'op', 'mechanism'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'ochsm_node_requests_in_flight', help: 'Requests being served now.', labelNames: ['node'] as const, registers: [this.registry] });
  readonly signIns = new Counter({ name: 'ochsm_node_sign_ins_total', help: 'Sign-in attempts by role and outcome: success, failure (wrong name, password or format), locked (refused: the account is locked), error.', labelNames: ['node', 'role', 'outcome'] as const, registers: [this.registry] });
  readonly lockouts = new Counter({ name: 'ochsm_node_lockouts_total', help: 'Accounts locked by a failed sign-in on this node (the attempt that reached the limit).', labelNames: ['node'] as const, registers: [this.registry] });
  readonly connections = new Gauge({ name: 'ochsm_node_connections', help: 'Open TLS connections (daemons, mgmt_util).', labelNames: ['node'] as const, registers: [this.registry] });
  readonly info = new Gauge({ name: 'ochsm_node_info', help: 'Constant 1, labelled with the node id and the software version.', labelNames: ['node', 'version'] as const, registers: [this.registry] });

  /** Store transactions and audit appends of this process (hooked in hsm-node/src/local_partition.ts). */
  readonly store = new StoreMetrics(this.registry);

  private auditLogs: Array<() => { readonly records: number; readonly syncs: number }> = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Counter({
      name: 'ochsm_audit_log_records_total', help: 'Key-use records written to this node\'s audit log file.', registers: [this.registry],
      collect() { this.reset(); this.inc(self.auditLogs.reduce((t, s) => t + s().records, 0)); },
    });
    new Counter({
      name: 'ochsm_audit_log_syncs_total', help: 'fdatasync calls of the key-use audit log (records / syncs = the group-commit batch size).', registers: [this.registry],
      collect() { this.reset(); this.inc(self.auditLogs.reduce((t, s) => t + s().syncs, 0)); },
    });
  }

  /** Count a key-use audit log's writes (hooked in hsm-node/src/main.ts). */
  watchAuditLog(stats: () => { readonly records: number; readonly syncs: number }): void {
    this.auditLogs.push(stats);
  }

  /** Register a node of this process (its info series). */
  addNode(node: number): void {
    this.info.set({ node: String(node), version: VERSION }, 1);
    this.inFlight.set({ node: String(node) }, 0);
    this.connections.set({ node: String(node) }, 0);
  }

  /** Run one request, counting it. `users` lets a failed sign-in tell whether it locked the account. */
  async instrument<T>(node: number, req: { readonly op: string; readonly obj: unknown }, run: () => Promise<T>, users?: UserLookup): Promise<T> {
    const n = String(node);
    const op = opLabel(req.op);
    const mechanism = mechanismLabel(req.obj);
    this.inFlight.inc({ node: n });
    const end = this.duration.startTimer({ node: n, op, mechanism });
    let error: unknown;
    try {
      return await run();
    } catch (e) {
      error = e ?? new Error('undefined thrown');
      throw e;
    } finally {
      end();
      this.inFlight.dec({ node: n });
      this.operations.inc({ node: n, op, mechanism, result: resultLabel(error) });
      if (op === 'login') {
        const obj = req.obj as { user?: unknown; role?: unknown };
        const outcome = signInOutcome(error);
        this.signIns.inc({ node: n, role: roleLabel(obj.role), outcome });
        /* A failed attempt answers like any other (no oracle); whether it locked the account is read back here. */
        if (outcome === 'failure' && users && typeof obj.user === 'string') {
          users.getUserInfo(obj.user).then((u) => { if (u.locked) this.lockouts.inc({ node: n }); }, () => undefined);
        }
      }
    }
  }
}

let instance: NodeMetrics | undefined;
/** The process's node metrics (created on first use). */
export function nodeMetrics(): NodeMetrics {
  instance ??= new NodeMetrics();
  return instance;
}
