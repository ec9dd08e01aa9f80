/**
 * @module `ochsm verify`: check an installation's store and key-use audit
 * logs offline, without a running node and without writing anything.
 *
 * What is checked (each failure is one line naming the file or record key):
 * - the SQLite file: SQLite's full integrity check (pages, free list, and
 *   that the key index matches the table);
 * - every record: it is read by a table scan (not through the index), its
 *   barrier seal authenticates under the sealing key for its own key (so a
 *   changed byte or a value moved to another key is found), and it parses as
 *   what its key says it is (a user whose name is its key, an object whose
 *   handle is its key, an audit record whose number is its key);
 * - the store's audit chain: every record from 1 on, linked by hash, and the
 *   head naming the last one;
 * - counters: the next object handle is above every handle, the next user id
 *   above every id, user ids are unique, every object's owner and every user
 *   it is shared with exist;
 * - every node's key-use audit log under data/audit/: each line a record of
 *   that node, the chain unbroken (a torn last line, never acknowledged, is
 *   reported but is not a problem).
 *
 * Trust boundary: the files are input; nothing read is trusted, and no key
 * material or password is printed (only keys, counts and reasons).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore } from '../../store/src/memory.js';
import { readSqliteStoreOffline, type SqliteRow } from '../../store/src/sqlite.js';
import { Barrier, BARRIER_PREFIX } from '../../hsm-core/src/barrier/barrier.js';
import { verifyChain, type AuditRecord } from '../../hsm-core/src/audit/audit.js';
import { PATH, FIRST_HANDLE, dec, decodeObject } from '../../hsm-core/src/partition/records.js';
import type { UserRecord } from '../../hsm-core/src/users/users.js';
import { HsmError } from '../../protocol/src/errors.js';
import { localPaths } from './local_partition.js';
import { loadSealingKeyFile } from './sealing_key_file.js';
import { parseLog } from './audit_log.js';

export interface VerifyReport {
  /** What was checked, one line each (counts). */
  readonly summary: string[];
  /** What is wrong, one line each; empty when the installation is sound. */
  readonly problems: string[];
  /** Worth knowing, not wrong (a torn, never acknowledged log tail). */
  readonly notes: string[];
}

const describe = (e: unknown): string => (e instanceof HsmError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

/** Verify the installation under `dir` (the directory with sealing.key and data/). */
export async function verifyInstallation(dir: string): Promise<VerifyReport> {
  const summary: string[] = [];
  const problems: string[] = [];
  const notes: string[] = [];
  const paths = localPaths(dir);
  if (!existsSync(paths.database)) {
    problems.push(`no SQLite store at ${paths.database} (an etcd store is checked through a node: mgmt_util verifyAuditLog)`);
    return { summary, problems, notes };
  }
  let maskingKey: Buffer;
  try {
    maskingKey = loadSealingKeyFile(paths.sealingKey);
  } catch (e) {
    problems.push(`sealing key ${paths.sealingKey}: ${describe(e)}`);
    return { summary, problems, notes };
  }

  /* ---- the file ---- */
  let rows: SqliteRow[];
  try {
    const read = readSqliteStoreOffline(paths.database);
    if (read.integrity.length === 0) summary.push(`sqlite store ${paths.database}: integrity check ok`);
    for (const c of read.integrity) problems.push(`sqlite store ${paths.database}: ${c}`);
    rows = read.rows;
  } catch (e) {
    const { code, stage } = e as { code?: string; stage?: string };
    if (stage === 'open') {
      problems.push(`sqlite store ${paths.database} cannot be opened: ${describe(e)}`);
    } else if (code === 'SQLITE_READONLY_ROLLBACK') {
      problems.push(`sqlite store ${paths.database}: a write was interrupted (hot journal ${paths.database}-journal); start a node once to roll it back, then verify again`);
    } else {
      problems.push(`sqlite store ${paths.database} cannot be read: ${describe(e)}`);
    }
    return { summary, problems, notes };
  }

  /* ---- every record ---- */
  const mem = new MemoryStore();
  for (const r of rows) if (r.key.startsWith(BARRIER_PREFIX)) await mem.put(r.key, r.value);
  let barrier: Barrier;
  try {
    barrier = await Barrier.open(mem, maskingKey);
  } catch (e) {
    problems.push(`barrier: ${describe(e)}`);
    return { summary, problems, notes };
  }
  const users = new Map<string, UserRecord>();
  const handles = new Map<number, { owner: string; shared: readonly string[] }>();
  const audit: AuditRecord[] = [];
  const sys = new Map<string, unknown>();
  let corrupt = 0;
  let checked = 0;
  const bad = (key: string, why: string) => {
    corrupt++;
    problems.push(`record ${key}: ${why}`);
  };
  for (const r of rows) {
    if (r.key.startsWith(BARRIER_PREFIX)) continue;
    checked++;
    let plain: Buffer;
    try {
      plain = Buffer.from((await barrier.unmask({ key: r.key, value: r.value, version: r.version, lease: r.lease })).value);
    } catch (e) {
      bad(r.key, `does not authenticate (${e instanceof HsmError ? e.code : 'undecodable'}): changed, or moved from another key`);
      continue;
    }
    try {
      if (r.key.startsWith(PATH.users)) {
        const u = dec<UserRecord>(plain);
        if (PATH.user(u.name) !== r.key) throw new Error(`holds user ${JSON.stringify(u.name)}`);
        if (!Number.isInteger(u.id) || typeof u.hash !== 'string' || typeof u.salt !== 'string') throw new Error('is not a user record');
        users.set(u.name, u);
      } else if (r.key.startsWith(PATH.objects)) {
        const o = decodeObject(plain);
        if (PATH.object(o.handle) !== r.key) throw new Error(`holds object ${o.handle}`);
        handles.set(o.handle, { owner: o.owner, shared: o.shared });
      } else if (r.key.startsWith(PATH.audits)) {
        const a = dec<AuditRecord>(plain);
        if (PATH.audit(a.seq) !== r.key) throw new Error(`holds audit record ${String(a.seq)}`);
        audit.push(a);
      } else if (r.key.startsWith('sys/') || r.key.startsWith(PATH.sessions) || r.key.startsWith('idem/')) {
        /* JSON documents; anything else (the partition's identity key and certificates) is opaque bytes. */
        sys.set(r.key, dec<unknown>(plain));
      }
    } catch (e) {
      bad(r.key, `authenticates but does not parse: ${describe(e)}`);
    }
  }
  summary.push(`records: ${checked} checked, ${checked - corrupt} ok, ${corrupt} corrupt (${users.size} users, ${handles.size} objects, ${audit.length} audit records)`);

  /* ---- the store's audit chain ---- */
  audit.sort((a, b) => a.seq - b.seq);
  const chain = verifyChain(audit);
  const head = sys.get(PATH.auditHead) as { seq?: number; hash?: string } | undefined;
  const last = audit.at(-1);
  if (!chain.ok) problems.push(`store audit chain: broken at record ${chain.brokenAt}: ${chain.reason}`);
  else if (audit.length > 0 && (!head || head.seq !== last!.seq || head.hash !== last!.hash)) {
    problems.push(`store audit chain: the head (${PATH.auditHead}) names record ${String(head?.seq)}, the last record is ${last!.seq}`);
  } else summary.push(`store audit chain: ${audit.length} records verify`);

  /* ---- counters ---- */
  const counterProblems = problems.length;
  const nextHandle = (sys.get(PATH.nextHandle) as { next?: number } | undefined)?.next;
  const maxHandle = Math.max(FIRST_HANDLE - 1, ...handles.keys());
  if (handles.size > 0 && (nextHandle === undefined || nextHandle <= maxHandle)) {
    problems.push(`counter ${PATH.nextHandle} is ${String(nextHandle)}, but object ${maxHandle} exists: a new key would reuse a handle`);
  }
  const nextUserId = (sys.get(PATH.nextUserId) as { next?: number } | undefined)?.next;
  const ids = new Map<number, string>();
  for (const u of users.values()) {
    const other = ids.get(u.id);
    if (other !== undefined) problems.push(`users ${other} and ${u.name} share user id ${u.id}`);
    ids.set(u.id, u.name);
    if (nextUserId !== undefined && u.id >= nextUserId) problems.push(`counter ${PATH.nextUserId} is ${nextUserId}, but user ${u.name} has id ${u.id}`);
  }
  for (const [h, o] of handles) {
    if (o.owner !== '' && !users.has(o.owner)) problems.push(`object ${PATH.object(h)} is owned by ${JSON.stringify(o.owner)}, who does not exist`);
    for (const s of o.shared) if (!users.has(s)) problems.push(`object ${PATH.object(h)} is shared with ${JSON.stringify(s)}, who does not exist`);
  }
  if (problems.length === counterProblems) summary.push(`counters: next handle ${String(nextHandle)}, next user id ${String(nextUserId)}: consistent`);

  /* ---- key-use audit logs ---- */
  const auditDir = join(dir, 'data', 'audit');
  const logs = existsSync(auditDir) ? readdirSync(auditDir).filter((f) => /^node-\d+\.log$/.test(f)).sort() : [];
  for (const f of logs) {
    const path = join(auditDir, f);
    const node = Number(/^node-(\d+)\.log$/.exec(f)![1]);
    if (statSync(path).mode & 0o077) problems.push(`key-use audit log ${path} is accessible by others (chmod 600 ${path})`);
    const { verdict, tornBytes } = parseLog(path, readFileSync(path, 'utf8'), node);
    if (verdict.ok) summary.push(`key-use audit log ${path}: ${verdict.records} records verify`);
    else problems.push(`key-use audit log ${path}: broken at record ${verdict.brokenAt}: ${verdict.reason}`);
    if (tornBytes > 0) notes.push(`key-use audit log ${path}: a torn last line of ${tornBytes} bytes (a write cut short, never acknowledged)`);
  }
  if (logs.length === 0) notes.push(`no key-use audit logs under ${auditDir}`);
  return { summary, problems, notes };
}
