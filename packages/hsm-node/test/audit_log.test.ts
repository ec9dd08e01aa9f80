/**
 * The node's key-use audit log: group commit on a real file; a torn tail is
 * cut, a damaged record refuses to open and verification names it; and,
 * with real node processes, SIGKILL under load loses no record of an
 * acknowledged operation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { NodeAuditLog, parseLog } from '../src/audit_log.js';
import { nodeAuditLogPath } from '../src/local_partition.js';
import { startCluster, connectNode, EXAMPLE_CU } from '../../testkit/src/cluster.js';

const use = (i: number) => ({ user: 'cu1', role: 'CU', action: 'sign', handles: [262144 + (i % 7)], mechanism: P.CKM_ECDSA, result: 'ok' });

test('many concurrent records share few fdatasyncs; the chain on disk verifies; the file is owner-only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-auditlog-'));
  try {
    const path = join(dir, 'audit', 'node-1.log');
    const log = await NodeAuditLog.open(path, 1);
    await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(use(i))));
    assert.equal(log.stats.records, 2000);
    assert.ok(log.stats.syncs < 2000, `group commit: ${log.stats.syncs} syncs for 2000 records`);
    process.stdout.write(`# 2000 records in ${log.stats.syncs} fdatasync calls\n`);
    assert.deepEqual(await log.verify(), { ok: true, records: 2000 });
    const recs = await log.records(1999, 10);
    assert.deepEqual(recs.map((r) => r.seq), [1999, 2000]);
    assert.equal(recs[0]!.node, 1);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await log.close();
    /* Reopened, it continues the same chain. */
    const again = await NodeAuditLog.open(path, 1);
    await again.append(use(1));
    assert.deepEqual(await again.verify(), { ok: true, records: 2001 });
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('group commit: one turn\'s records share one write, records queued during a write form the next; each resolves only once its line is on disk, in call order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-auditlog-'));
  try {
    const path = join(dir, 'node-4.log');
    const log = await NodeAuditLog.open(path, 4);
    const onDisk = (seq: number) => readFileSync(path, 'utf8').split('\n').some((l) => l.includes(`"seq":${seq},`));
    const seen: string[] = [];
    /* Ten records in one turn: one write. */
    const first = Array.from({ length: 10 }, (_, i) => log.append({ ...use(i), detail: `a${i}` }).then(() => {
      assert.ok(onDisk(i + 1), `record ${i + 1} is in the file when its append resolves`);
      seen.push(`a${i}`);
    }));
    assert.equal(log.stats.syncs, 0, 'nothing is written before the turn ends');
    /* Once the first write is under way, five more: they wait for it and go together in the next. */
    await new Promise((r) => setImmediate(r));
    const second = Array.from({ length: 5 }, (_, i) => log.append({ ...use(i), detail: `b${i}` }).then(() => {
      assert.ok(onDisk(11 + i), `record ${11 + i} is in the file when its append resolves`);
      seen.push(`b${i}`);
    }));
    await Promise.all([...first, ...second]);
    assert.equal(log.stats.records, 15);
    assert.equal(log.stats.syncs, 2, 'two groups, two durable writes');
    assert.deepEqual(seen, [...Array.from({ length: 10 }, (_, i) => `a${i}`), ...Array.from({ length: 5 }, (_, i) => `b${i}`)]);
    const recs = await log.records(1, 100);
    assert.deepEqual(recs.map((r) => r.detail), seen, 'the chain holds the records in the order append was called');
    assert.deepEqual(await log.verify(), { ok: true, records: 15 });
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn last line (a write cut by a crash, never acknowledged) is cut off on open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-auditlog-'));
  try {
    const path = join(dir, 'node-2.log');
    const log = await NodeAuditLog.open(path, 2);
    for (let i = 0; i < 5; i++) await log.append(use(i));
    await log.close();
    appendFileSync(path, '{"user":"cu1","seq":6,"ha');
    const again = await NodeAuditLog.open(path, 2);
    assert.deepEqual(await again.verify(), { ok: true, records: 5 });
    await again.append(use(9));
    assert.deepEqual(await again.verify(), { ok: true, records: 6 });
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an edited, deleted or foreign record: open refuses naming file and record; a live log\'s verify names the break', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-auditlog-'));
  try {
    const path = join(dir, 'node-3.log');
    const log = await NodeAuditLog.open(path, 3);
    for (let i = 0; i < 6; i++) await log.append(use(i));
    const good = readFileSync(path, 'utf8');
    /* Edited while the node runs: verification names record 3. */
    writeFileSync(path, good.replace('"seq":3,', '"seq":3,"detail":"x",'));
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.equal(v.brokenAt, 3);
    assert.match(v.reason!, /record 3 was altered/);
    await log.close();
    await assert.rejects(NodeAuditLog.open(path, 3), (e: unknown) => e instanceof Error && e.message.includes(path) && /record 3/.test(e.message) && /move it aside/.test(e.message));
    /* A record removed from the middle. */
    const lines = good.split('\n');
    writeFileSync(path, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
    await assert.rejects(NodeAuditLog.open(path, 3), /record 3 is missing/);
    /* Another node's file in this node's place. */
    writeFileSync(path, good);
    await assert.rejects(NodeAuditLog.open(path, 4), /names node 3, not 4/);
    /* Garbage. */
    writeFileSync(path, 'not json\n');
    await assert.rejects(NodeAuditLog.open(path, 3), /line 1 .* is not a record/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGKILL of a node under 16-way signing load loses no record of an acknowledged signature', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-auditkill-'));
  const cluster = await startCluster(dir);
  try {
    const c = await connectNode(cluster.node(2).port, cluster.poCrt);
    await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const { privateHandle } = await c.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });
    let acked = 0;
    let failed = 0;
    const worker = async () => {
      for (;;) {
        try {
          await c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA }, handle: privateHandle, data: Buffer.alloc(32, 1) });
          acked++;
        } catch {
          failed++;
          return;
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    while (acked < 300) await new Promise((r) => setTimeout(r, 5));
    await cluster.killNode(2, 'SIGKILL');
    await Promise.all(workers);
    const { records, verdict } = parseLog('node-2.log', readFileSync(nodeAuditLogPath(dir, 2), 'utf8'), 2);
    const logged = records.filter((r) => r.action === 'sign' && r.result === 'ok' && r.handles?.[0] === privateHandle).length;
    process.stdout.write(`# ${acked} signatures acknowledged before SIGKILL, ${logged} recorded, ${failed} cut off\n`);
    assert.ok(verdict.ok || /not a record/.test(verdict.reason ?? ''), JSON.stringify(verdict));
    assert.ok(logged >= acked, `${acked} acknowledged but only ${logged} recorded`);
    /* The node restarts over its log (the torn tail, if any, is cut) and the chain verifies. */
    await cluster.startNode(2);
    const c2 = await connectNode(cluster.node(2).port, cluster.poCrt);
    await c2.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    const v = await c2.request('auditVerify', { chain: 'node' });
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.node, 2);
    c2.close();
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
