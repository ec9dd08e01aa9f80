/**
 * @module The node's key-use audit log: an append-only, hash-chained file
 * under the node's data directory (docs/storage-format.md, "Key-use audit
 * log"), written and fdatasync'ed off the event loop and group-committed:
 * every record queued while one write is on disk goes into the next write,
 * so one fdatasync makes many records durable. `append` resolves only once
 * its record is durable, and the core answers a key use only then.
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
import { GENESIS_HASH, recordHash, verifyChain, type AuditEvent, type AuditRecord, type ChainVerdict } from '../../hsm-core/src/audit/audit.js';
import type { UseLog } from '../../hsm-core/src/audit/use_log.js';

interface Pending {
  readonly line: Buffer;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
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
  #pending: Pending[] = [];
  #writing: Promise<void> | undefined;
  #failed: HsmError | undefined;
  #closed = false;
  /** Counters for benchmarks: records written and fdatasync calls made. */
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
    const fh = await open(path, FS.O_RDWR | FS.O_CREAT | FS.O_APPEND | FS.O_NOFOLLOW, 0o600);
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

  /** Queue a record; resolves once it is on disk (fdatasync'ed). */
  append(event: AuditEvent): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new HsmError('ERR_DEVICE_ERROR', 'the node is stopping'));
    const seq = this.#seq + 1;
    const base = { ...event, node: this.node, seq, time: this.#clock(), prev: this.#hash };
    const hash = recordHash(base);
    this.#seq = seq;
    this.#hash = hash;
    const line = Buffer.from(JSON.stringify({ ...base, hash }) + '\n', 'utf8');
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ line, resolve, reject });
      this.#kick();
    });
  }

  /** Start the writer unless it runs; when it stops, restart it for records queued as it finished. */
  #kick(): void {
    this.#writing ??= this.#writeLoop().finally(() => {
      this.#writing = undefined;
      if (this.#pending.length > 0) this.#kick();
    });
  }

  /** One write and one fdatasync per batch; what arrives meanwhile is the next batch. */
  async #writeLoop(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0);
      try {
        if (this.#failed) throw this.#failed;
        const buf = batch.length === 1 ? batch[0]!.line : Buffer.concat(batch.map((b) => b.line));
        let off = 0;
        while (off < buf.length) off += (await this.#fh.write(buf, off, buf.length - off)).bytesWritten;
        await this.#fh.datasync();
        this.stats.records += batch.length;
        this.stats.syncs++;
        for (const b of batch) b.resolve();
      } catch (e) {
        this.#failed ??= new HsmError('ERR_STORE', `the key-use audit log ${this.path} cannot be written (${(e as Error)?.message ?? String(e)}); key use is refused until the node is restarted`, { cause: e });
        for (const b of batch) b.reject(this.#failed);
        for (const b of this.#pending.splice(0)) b.reject(this.#failed);
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
