/**
 * @module The client daemon's metrics (docs/operations.md, "Metrics"):
 * application requests by operation, mechanism and result; latency; in
 * flight; the state of each node link; retries and failovers; sign-ins.
 * Hooked into `daemon/src/server.ts` (instrument), `router.ts` (retries,
 * failovers) and `main.ts` (endpoint, link states).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import { LATENCY_BUCKETS, mechanismLabel, mechanismNumberLabel, opLabel, roleLabel, signInOutcome } from './labels.js';
import { RequestSeries, type RequestRecord } from './request_series.js';

/** The link states the daemon reports (daemon/src/nodes.ts). */
export const LINK_STATES = ['connecting', 'up', 'down'] as const;

export interface LinkView {
  readonly id: number;
  readonly state: string;
  readonly inFlight?: number | undefined;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  /** Requests: ochsm_daemon_requests_total, ochsm_daemon_request_duration_seconds, ochsm_daemon_requests_in_flight, counted in plain numbers (request_series.ts). */
  private readonly series = new RequestSeries({
    registry: this.registry,
    counter: { name: 'ochsm_daemon_requests_total', help: 'Application requests answered, by operation, mechanism and result (ok or the error code).' },
    histogram: { name: 'ochsm_daemon_request_duration_seconds', help: 'Time from an application request to its answer, retries included.' },
    gauge: { name: 'ochsm_daemon_requests_in_flight', help: 'Application requests being answered now.', labelNames: [] },
    labelNames: ['op', 'mechanism'] as const,
    buckets: LATENCY_BUCKETS,
  });
  readonly requests = this.series.counter;
  readonly inFlight = this.series.inFlight;
  private readonly inFlightCount = this.series.addGauge('', {});
  readonly retries = new Counter({ name: 'ochsm_daemon_retries_total', help: 'Requests sent again to another node after their node failed (connection lost or timed out).', labelNames: ['op'] as const, registers: [this.registry] });
  readonly failovers = new Counter({ name: 'ochsm_daemon_failovers_total', help: 'Requests answered by another node after their first node failed.', labelNames: ['op'] as const, registers: [this.registry] });
  readonly exhausted = new Counter({ name: 'ochsm_daemon_retries_exhausted_total', help: 'Requests that failed on every attempt the retry policy allows.', labelNames: ['op'] as const, registers: [this.registry] });
  readonly signIns = new Counter({ name: 'ochsm_daemon_sign_ins_total', help: 'Application sign-in attempts by role and outcome: success, failure, locked, error.', labelNames: ['role', 'outcome'] as const, registers: [this.registry] });
  readonly info = new Gauge({ name: 'ochsm_daemon_info', help: 'Constant 1, labelled with the software version.', labelNames: ['version'] as const, registers: [this.registry] });
  private links: (() => Promise<readonly LinkView[] | undefined>) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.info.set({ version: VERSION }, 1);
    const self = this;
    new Gauge({
      name: 'ochsm_daemon_node_link_state', help: 'One series per node and state; 1 for the state the link is in (connecting, up, down).', labelNames: ['node', 'state'] as const, registers: [this.registry],
      async collect() {
        this.reset();
        for (const l of (await self.links?.()) ?? []) for (const s of LINK_STATES) this.set({ node: String(l.id), state: s }, l.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ochsm_daemon_node_requests_in_flight', help: 'Requests the daemon has sent to each node and not yet had answered.', labelNames: ['node'] as const, registers: [this.registry],
      async collect() {
        this.reset();
        for (const l of (await self.links?.()) ?? []) this.set({ node: String(l.id) }, l.inFlight ?? 0);
      },
    });
  }

  /** Where the link gauges read from (the daemon's status). */
  watchLinks(links: () => Promise<readonly LinkView[] | undefined>): void {
    this.links = links;
  }

  private record(op: string, mechanism: string): RequestRecord {
    const key = `${op}\0${mechanism}`;
    return this.series.find(key) ?? this.series.add(key, { op, mechanism });
  }

  /** As `instrument`, for a request forwarded undecoded: the mechanism number read from its frame, the result as the node's error code. */
  instrumentForwarded<T extends { readonly error?: string | undefined }>(op: string, mechanism: number | undefined, run: () => Promise<T>): Promise<T> {
    const opL = opLabel(op);
    const mech = mechanism === undefined ? 'none' : mechanismNumberLabel(mechanism);
    return this.series.run(this.record(opL, mech), this.inFlightCount, run, undefined, (v) => v.error ?? 'ok');
  }

  instrument<T>(req: { readonly op: string; readonly obj: unknown }, run: () => Promise<T>): Promise<T> {
    const op = opLabel(req.op);
    const r = this.record(op, mechanismLabel(req.obj));
    return this.series.run(r, this.inFlightCount, run, op === 'login' ? (error) => this.signIns.inc({ role: roleLabel((req.obj as { role?: unknown }).role), outcome: signInOutcome(error) }) : undefined);
  }
}

let instance: DaemonMetrics | undefined;
export function daemonMetrics(): DaemonMetrics {
  instance ??= new DaemonMetrics();
  return instance;
}
