/**
 * @module What the status page shows, gathered every few seconds: the
 * processes (pid files), the daemon's view of the nodes and the host's
 * sign-in (its `status` answer, asked on a fresh connection that never signs
 * in, so it holds no sign-in), operations per second per node from the
 * nodes' metrics endpoints, the latest audit records, and versions.
 * Nothing here can change the cluster.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { ProtocolClient } from '../../../protocol/src/connection.js';
import { ckmName } from '../../../protocol/src/names.js';
import { parseMetrics, scrape, sum } from '../metrics/scrape.js';
import { VERSION } from '../version.js';

/** One audit record as the page shows it: no detail beyond what the log itself holds, which is never secret. */
export interface AuditView {
  readonly seq: number;
  readonly time: number;
  readonly user: string;
  readonly role: string;
  readonly action: string;
  readonly handles?: readonly number[] | undefined;
  readonly mechanism?: number | undefined;
  readonly result: string;
  readonly hash: string;
  /** The node whose key-use log holds the record; absent for the store's chain of state changes. */
  readonly node?: number | undefined;
}

export interface StatusSources {
  /** The cluster's run directory: hsmN.pid, client.pid, hsmN.metrics, client.metrics. */
  readonly runDir: string;
  /** The daemon's application socket. */
  readonly socketPath: string;
  readonly nodeIds: readonly number[];
  /** The latest audit records, newest last (from the local partition). */
  readonly auditTail?: (count: number) => Promise<readonly AuditView[]>;
}

export interface NodeView {
  readonly id: number;
  readonly process: 'running' | 'stopped';
  readonly pid?: number | undefined;
  readonly link: string;
  readonly inFlight: number;
  readonly hostname?: string | undefined;
  readonly port?: number | undefined;
  readonly version?: string | undefined;
  readonly opsPerSecond: number | null;
  readonly metrics: string | null;
}

export interface Snapshot {
  readonly time: number;
  readonly versions: { readonly ochsm: string; readonly daemon?: string | undefined };
  readonly daemon: { readonly process: 'running' | 'stopped'; readonly pid?: number | undefined; readonly reachable: boolean; readonly error?: string | undefined; readonly uptime?: number | undefined; readonly partitionState?: string | undefined; readonly applications?: number | undefined; readonly inFlight?: number | undefined };
  readonly signIn: { readonly loggedIn: boolean; readonly user?: string | undefined; readonly role?: string | undefined; readonly mode?: string | undefined };
  readonly nodes: readonly NodeView[];
  /** [time ms, ops/s per node id] over the last minutes. */
  readonly history: ReadonlyArray<{ readonly t: number; readonly perNode: Readonly<Record<string, number>> }>;
  readonly audit: ReadonlyArray<AuditView & { readonly mechanismName?: string | undefined }>;
  readonly auditError?: string | undefined;
}

/** The daemon's health checks and discovery: not what an operator means by operations per second. */
const HEALTH_OPS = ['status', 'getClusterInfo', 'loginStatus'];

/** The pid a pid file names while that process lives; undefined for no file, a bad pid or a process gone. Also `ochsm`'s. */
export function pidOf(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function readAddr(file: string): string | null {
  try {
    const a = readFileSync(file, 'utf8').trim();
    return /^[\w.:[\]-]+:\d+$/.test(a) ? a : null;
  } catch {
    return null;
  }
}

async function daemonStatus(socketPath: string) {
  const socket = net.connect(socketPath);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const c = new ProtocolClient(socket, { name: 'azcloudhsm_client' });
  try {
    await c.hello('ochsm-status-web', { timeoutMs: 3000 });
    return await c.request('status', {}, { timeoutMs: 3000 });
  } finally {
    c.close();
  }
}

export class StatusCollector {
  private readonly src: StatusSources;
  /** Keep this many samples (one per `sample()`): three minutes at 2 s, what the chart shows. */
  private readonly keep: number;
  private readonly history: Array<{ t: number; perNode: Record<string, number> }> = [];
  private readonly last = new Map<number, { t: number; total: number }>();
  private latest: Snapshot | undefined;

  constructor(src: StatusSources, opts: { keep?: number } = {}) {
    this.src = src;
    this.keep = opts.keep ?? 90;
  }

  snapshot(): Snapshot | undefined {
    return this.latest;
  }

  async sample(): Promise<Snapshot> {
    const now = Date.now();
    const clientPid = pidOf(join(this.src.runDir, 'client.pid'));
    let status: Awaited<ReturnType<typeof daemonStatus>> | undefined;
    let daemonError: string | undefined;
    try {
      status = await daemonStatus(this.src.socketPath);
    } catch (e) {
      daemonError = e instanceof Error ? e.message : String(e);
    }
    const perNode: Record<string, number> = {};
    const nodes: NodeView[] = await Promise.all(this.src.nodeIds.map(async (id) => {
      const pid = pidOf(join(this.src.runDir, `hsm${id}.pid`));
      const link = status?.nodes?.find((n) => n.id === id);
      const addr = readAddr(join(this.src.runDir, `hsm${id}.metrics`));
      let ops: number | null = null;
      let version: string | undefined;
      if (addr && pid) {
        try {
          const samples = parseMetrics(await scrape(addr, 1500));
          const total = sum(samples, 'ochsm_node_operations_total') - HEALTH_OPS.reduce((t, op) => t + sum(samples, 'ochsm_node_operations_total', { op }), 0);
          version = samples.find((s) => s.name === 'ochsm_node_info')?.labels.version;
          const prev = this.last.get(id);
          ops = prev && total >= prev.total && now > prev.t ? ((total - prev.total) * 1000) / (now - prev.t) : 0;
          this.last.set(id, { t: now, total });
        } catch {
          this.last.delete(id);
        }
      }
      if (ops !== null) perNode[String(id)] = Math.round(ops * 10) / 10;
      return { id, process: pid ? 'running' : 'stopped', pid, link: link?.state ?? (status ? 'unknown to the daemon' : 'daemon not reachable'), inFlight: link?.inFlight ?? 0, hostname: link?.hostname, port: link?.port, version, opsPerSecond: ops, metrics: addr } satisfies NodeView;
    }));
    this.history.push({ t: now, perNode });
    while (this.history.length > this.keep) this.history.shift();
    let audit: Snapshot['audit'] = [];
    let auditError: string | undefined;
    if (this.src.auditTail) {
      try {
        audit = (await this.src.auditTail(12)).map((r) => ({ ...r, ...(r.mechanism !== undefined ? { mechanismName: ckmName(r.mechanism) } : {}) }));
      } catch (e) {
        auditError = e instanceof Error ? e.message : String(e);
      }
    } else {
      auditError = 'no local partition to read the audit log from';
    }
    this.latest = {
      time: now,
      versions: { ochsm: VERSION, daemon: status?.version },
      daemon: { process: clientPid ? 'running' : 'stopped', pid: clientPid, reachable: status !== undefined, error: daemonError, uptime: status?.uptime, partitionState: status?.partitionState, applications: status?.applications, inFlight: status?.inFlight },
      signIn: { loggedIn: status?.loggedIn ?? false, user: status?.user, role: status?.role, mode: status?.sessionMode },
      nodes,
      history: this.history.map((h) => ({ t: h.t, perNode: { ...h.perNode } })),
      audit,
      auditError,
    };
    return this.latest;
  }
}

/** What the audit tail needs of the partition (a structural type: this package does not import the core). */
export interface AuditSource {
  auditRecords(fromSeq: number, limit: number): Promise<ReadonlyArray<AuditView & { readonly detail?: string | undefined; readonly prev?: string }>>;
}

/**
 * The latest `count` audit records, read forward from where the last call
 * stopped (so each sample reads only what is new). Only the fields of
 * AuditView are kept.
 */
export function auditTailReader(source: () => Promise<AuditSource>): (count: number) => Promise<readonly AuditView[]> {
  let next = 1;
  let tail: AuditView[] = [];
  return async (count) => {
    const p = await source();
    for (;;) {
      const page = await p.auditRecords(next, 1000);
      for (const r of page) tail.push({ seq: r.seq, time: r.time, user: r.user, role: r.role, action: r.action, handles: r.handles, mechanism: r.mechanism, result: r.result, hash: r.hash });
      if (tail.length > count) tail = tail.slice(-count);
      if (page.length === 0) break;
      next = page[page.length - 1]!.seq + 1;
      if (page.length < 1000) break;
    }
    return tail;
  };
}

/** Bytes read from the end of a key-use log file for its tail. */
const TAIL_BYTES = 256 * 1024;

/**
 * The last `count` records of a node's key-use audit log (JSON lines, one
 * record each; the file format is in docs/storage-format.md), read from the
 * end of the file only. A missing file is no records; a line that does not
 * parse (the torn first line of the window, a torn last write) is skipped.
 */
export function readAuditLogTail(path: string, count: number): AuditView[] {
  if (!existsSync(path)) return [];
  const fd = openSync(path, 'r');
  let text: string;
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
  const out: AuditView[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as AuditView;
      if (typeof r.seq === 'number' && typeof r.hash === 'string') out.push({ seq: r.seq, time: r.time, user: r.user, role: r.role, action: r.action, handles: r.handles, mechanism: r.mechanism, result: r.result, hash: r.hash, node: r.node });
    } catch {
      /* torn line */
    }
  }
  return out.slice(-count);
}

/** The store chain's tail and the nodes' key-use tails, merged by time, newest last. */
export function combinedAuditTail(store: (count: number) => Promise<readonly AuditView[]>, logFiles: readonly string[]): (count: number) => Promise<readonly AuditView[]> {
  return async (count) => {
    const all = [...(await store(count)), ...logFiles.flatMap((f) => readAuditLogTail(f, count))];
    all.sort((a, b) => a.time - b.time || (a.node ?? 0) - (b.node ?? 0) || a.seq - b.seq);
    return all.slice(-count);
  };
}
