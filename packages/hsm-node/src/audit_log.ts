/**
 * @module The node's key-use audit log: an append-only, hash-chained file
 * under the node's data directory (docs/storage-format.md, "Key-use audit
 * log"), written off the event loop with O_DSYNC (each write is durable
 * when it returns, as write + fdatasync) and group-committed: every record
 * queued while one write is on disk goes into the next write, so one sync
 * makes many records durable. `append` resolves only once its record is
 * durable, and the core answers a key use only then.
 *
 * The file holds what the store's chain holds for a key use (who, what,
 * which handle, which mechanism, the result), never key bytes or passwords.
 * A write or sync that fails makes the log refuse every later record: key
 * use then fails (closed) until the node restarts and the file is checked.
 */
import { mkdirSync, chmodSync, constants as FS, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import { GENESIS_HASH, recordLine, verifyChain, type AuditEvent, type AuditRecord, type ChainVerdict } from '../../hsm-core/src/audit/audit.js';
import type { UseLog } from '../../hsm-core/src/audit/use_log.js';

/** The records of one write: they become durable together, so they share one promise. */
class Group {
  readonly lines: string[] = [];
  resolve!: () => void;
  reject!: (e: unknown) => void;
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}

/** A problem with the file, naming it, the line and the record: what verification reports. */
export class AuditLogDamaged extends Error {
  constructor(readonly path: string, readonly line: number, readonly seq: number, readonly reason: string) {
    super(`key-use audit log ${path} is damaged at line ${line} (record ${seq}): ${reason}`);
    this.name = 'AuditLogDamaged';
  }
}

/** Parse and verify a whole log file's text; the torn tail (no newline: never acknowledged) is reported separately. */
export function parseLog(path: string, text: string, node?: number): { records: AuditRecord[]; verdict: ChainVerdict; tornBytes: number } {
  const end = text.lastIndexOf('\n') + 1;
  const tornBytes = Buffer.byteLength(text.slice(end));
  const lines = text.slice(0, end).split('\n');
  lines.pop();
  const records: AuditRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    let r: AuditRecord & { node?: number };
    try {
      r = JSON.parse(lines[i]!) as AuditRecord & { node?: number };
      if (typeof r !== 'object' || r === null || typeof r.seq !== 'number' || typeof r.hash !== 'string') throw new Error('not a record');
    } catch {
      return { records, verdict: { ok: false, records: records.length, brokenAt: records.length + 1, reason: `line ${i + 1} of ${path} is not a record` }, tornBytes };
    }
    if (node !== undefined && r.node !== node) {
      return { records, verdict: { ok: false, records: records.length, brokenAt: r.seq, reason: `record ${r.seq} names node ${String(r.node)}, not ${node}` }, tornBytes };
    }
    records.push(r);
  }
  return { records, verdict: verifyChain(records), tornBytes };
}

export class NodeAuditLog implements UseLog {
  readonly path: string;
  readonly node: number;
  readonly #fh: FileHandle;
  readonly #clock: () => number;
  #seq: number;
  #hash: string;
  /** The records queued for the next write. */
  #open: Group | undefined;
  #writing: Promise<void> | undefined;
  #failed: HsmError | undefined;
  #closed = false;
  /** Counters for benchmarks: records written and durable writes (each an fdatasync's worth) made. */
  readonly stats = { records: 0, syncs: 0 };

  private constructor(path: string, node: number, fh: FileHandle, seq: number, hash: string, clock: () => number) {
    this.path = path;
    this.node = node;
    this.#fh = fh;
    this.#seq = seq;
    this.#hash = hash;
    this.#clock = clock;
  }

  /**
   * Open (creating owner-only) the log of node `node` and check its chain.
   * A torn last line (a write cut short by a crash: never acknowledged) is
   * cut off; any other damage refuses to open, naming the file, line and
   * record, so a chain is never silently continued past a break.
   */
  static async open(path: string, node: number, clock: () => number = Date.now): Promise<NodeAuditLog> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const dirMode = statSync(dirname(path)).mode & 0o777;
    if (dirMode & 0o077) chmodSync(dirname(path), 0o700);
    /* O_DSYNC: each write returns only once its bytes (and the size that reaches them) are on disk, as
       write + fdatasync would, but in one system call and so one hop to the thread pool per group. */
    const fh = await open(path, FS.O_RDWR | FS.O_CREAT | FS.O_APPEND | FS.O_NOFOLLOW | FS.O_DSYNC, 0o600);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      if (st.mode & 0o077) await fh.chmod(0o600);
      const text = (await readAll(fh)).toString('utf8');
      const { records, verdict, tornBytes } = parseLog(path, text, node);
      if (!verdict.ok) {
        throw new AuditLogDamaged(path, verdict.brokenAt ?? records.length + 1, verdict.brokenAt ?? 0, `${verdict.reason ?? 'broken chain'}; the file is evidence: move it aside to let the node start a new chain`);
      }
      if (tornBytes > 0) {
        await fh.truncate(Buffer.byteLength(text) - tornBytes);
        await fh.datasync();
      }
      const last = records[records.length - 1];
      return new NodeAuditLog(path, node, fh, last?.seq ?? 0, last?.hash ?? GENESIS_HASH, clock);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * Queue a record; resolves once it is on disk. The record is serialised
   * and chained here, at once, so the order of the calls is the order of the
   * chain; every record of one group resolves with the group's write.
   */
  append(event: AuditEvent): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new HsmError('ERR_DEVICE_ERROR', 'the node is stopping'));
    const seq = this.#seq + 1;
    const { line, hash } = recordLine(event, seq, this.#clock(), this.#hash, this.node);
    this.#seq = seq;
    this.#hash = hash;
    const g = (this.#open ??= new Group());
    g.lines.push(line);
    this.#kick();
    return g.done;
  }

  /**
   * Start the writer unless it runs or is about to. It starts at the end of
   * this turn of the event loop (setImmediate), not at once: the records of
   * every request answered in this turn (a socket read of many requests, the
   * thread pool's finished signatures) then share the first write. When the
   * writer stops, it restarts for records queued as it finished.
   */
  #kick(): void {
    if (this.#writing) return;
    this.#writing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#writeLoop()).finally(() => {
      this.#writing = undefined;
      if (this.#open) this.#kick();
    });
  }

  /** One durable (O_DSYNC) write per group; what is queued meanwhile is the next group. */
  async #writeLoop(): Promise<void> {
    for (let g = this.#open; g; g = this.#open) {
      this.#open = undefined;
      try {
        if (this.#failed) throw this.#failed;
        const buf = Buffer.from(g.lines.length === 1 ? g.lines[0]! : g.lines.join(''), 'utf8');
        let off = 0;
        while (off < buf.length) off += (await this.#fh.write(buf, off, buf.length - off)).bytesWritten;
        this.stats.records += g.lines.length;
        this.stats.syncs++;
        g.resolve();
      } catch (e) {
        this.#failed ??= new HsmError('ERR_STORE', `the key-use audit log ${this.path} cannot be written (${(e as Error)?.message ?? String(e)}); key use is refused until the node is restarted`, { cause: e });
        g.reject(this.#failed);
        /* Records queued while this write failed: refused too (TypeScript narrowed #open above, not knowing append ran meanwhile). */
        (this.#open as Group | undefined)?.reject(this.#failed);
        this.#open = undefined;
      }
    }
  }

  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Records from `fromSeq`, at most `limit`, read from the file. */
  async records(fromSeq = 1, limit = 1000): Promise<AuditRecord[]> {
    await this.flush();
    const { records } = parseLog(this.path, (await readAll(this.#fh)).toString('utf8'), this.node);
    return records.filter((r) => r.seq >= fromSeq).slice(0, limit);
  }

  /** Verify the chain on disk, from the first record to the last. */
  async verify(): Promise<ChainVerdict> {
    await this.flush();
    const text = (await readAll(this.#fh)).toString('utf8');
    const { records, verdict } = parseLog(this.path, text, this.node);
    if (!verdict.ok) return verdict;
    const last = records[records.length - 1];
    if ((last?.seq ?? 0) !== this.#seq || (last?.hash ?? GENESIS_HASH) !== this.#hash) {
      return { ok: false, records: records.length, brokenAt: (last?.seq ?? 0) + 1, reason: `records after ${last?.seq ?? 0} that this node wrote are missing from ${this.path}` };
    }
    return verdict;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    await this.#fh.close();
  }
}

/** The whole file from offset 0 (readFile on a handle reads from its current position). */
async function readAll(fh: FileHandle): Promise<Buffer> {
  const { size } = await fh.stat();
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}
