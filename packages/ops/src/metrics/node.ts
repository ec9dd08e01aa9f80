/**
 * @module The node's metrics (docs/operations.md, "Metrics"): every request a
 * node serves, by operation, mechanism and result; latency; requests in
 * flight; sign-ins and lockouts; open connections. One registry per process,
 * hooked into `hsm-node/src/server.ts` (instrument) and `main.ts` (endpoint).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import { LATENCY_BUCKETS, mechanismLabel, opLabel, roleLabel, signInOutcome } from './labels.js';
import { RequestSeries } from './request_series.js';
import { StoreMetrics } from './store.js';

export { LATENCY_BUCKETS };

/** What the lockout check needs of the partition (a structural type: this package does not import the core). */
export interface UserLookup {
  getUserInfo(name: string): Promise<{ readonly locked: boolean }>;
}

export class NodeMetrics {
  readonly registry = new Registry();
  /** Requests: ochsm_node_operations_total, ochsm_node_operation_duration_seconds, ochsm_node_requests_in_flight, counted in plain numbers (request_series.ts). */
  private readonly requests = new RequestSeries({
    registry: this.registry,
    counter: { name: 'ochsm_node_operations_total', help: 'Requests served, by operation, mechanism and result (ok or the error code).' },
    histogram: { name: 'ochsm_node_operation_duration_seconds', help: 'Time from a decoded request to its answer, by operation and mechanism.' },
    gauge: { name: 'ochsm_node_requests_in_flight', help: 'Requests being served now.', labelNames: ['node'] },
    labelNames: ['node', 'op', 'mechanism'] as const,
    buckets: LATENCY_BUCKETS,
  });
  readonly operations = this.requests.counter;
  readonly inFlight = this.requests.inFlight;
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
    if (!this.requests.findGauge(String(node))) this.requests.addGauge(String(node), { node: String(node) });
    this.connections.set({ node: String(node) }, 0);
  }

  /** Run one request, counting it. `users` lets a failed sign-in tell whether it locked the account. */
  instrument<T>(node: number, req: { readonly op: string; readonly obj: unknown }, run: () => Promise<T>, users?: UserLookup): Promise<T> {
    const n = String(node);
    const op = opLabel(req.op);
    const mechanism = mechanismLabel(req.obj);
    const key = `${n}\0${op}\0${mechanism}`;
    const record = this.requests.find(key) ?? this.requests.add(key, { node: n, op, mechanism });
    const inFlight = this.requests.findGauge(n) ?? this.requests.addGauge(n, { node: n });
    return this.requests.run(record, inFlight, run, op === 'login' ? (error) => this.signedIn(n, req.obj, error, users) : undefined);
  }

  private signedIn(n: string, o: unknown, error: unknown, users: UserLookup | undefined): void {
    const obj = o as { user?: unknown; role?: unknown };
    const outcome = signInOutcome(error);
    this.signIns.inc({ node: n, role: roleLabel(obj.role), outcome });
    /* A failed attempt answers like any other (no oracle); whether it locked the account is read back here. */
    if (outcome === 'failure' && users && typeof obj.user === 'string') {
      users.getUserInfo(obj.user).then((u) => { if (u.locked) this.lockouts.inc({ node: n }); }, () => undefined);
    }
  }
}

let instance: NodeMetrics | undefined;
/** The process's node metrics (created on first use). */
export function nodeMetrics(): NodeMetrics {
  instance ??= new NodeMetrics();
  return instance;
}
