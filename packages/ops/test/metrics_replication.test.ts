/**
 * Watch lag and replication latency, scraped from three real node processes
 * on one SQLite store: every node observes the other two nodes' heartbeats
 * (and never its own), a write on node 1 moves node 1's committed-transaction
 * histogram and the store revision, and node 2's watch delivers it (lag back
 * to 0). Then node 2 is stopped (SIGSTOP) while node 1 writes and beats: after
 * SIGCONT node 2's replication histogram holds samples above one second
 * (heartbeats committed while it could not see them) and its watch has caught
 * up with every write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectNode, freezeOutsideStoreLock, startCluster, type LocalCluster } from '../../testkit/src/cluster.js';
import { parseMetrics, scrape, sum, type Sample } from '../src/metrics/scrape.js';
import { heartbeatIntervalFromEnv } from '../src/metrics/store.js';

const HEARTBEAT_MS = 100;
const STOP_MS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('OCHSM_METRICS_HEARTBEAT_MS: default 5000, a number of milliseconds, anything else refused', () => {
  assert.equal(heartbeatIntervalFromEnv({}), 5000);
  assert.equal(heartbeatIntervalFromEnv({ OCHSM_METRICS_HEARTBEAT_MS: '250' }), 250);
  for (const bad of ['5', '1e3', '-100', 'fast', '100ms']) assert.throws(() => heartbeatIntervalFromEnv({ OCHSM_METRICS_HEARTBEAT_MS: bad }), /OCHSM_METRICS_HEARTBEAT_MS must be a number of milliseconds/);
});

test('nodes: watch lag and replication latency move with writes and with a node that cannot see them', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-repl-'));
  const addrFile = (id: number) => join(dir, `hsm${id}.metrics`);
  let lc: LocalCluster | undefined;
  t.after(async () => {
    const p2 = lc?.node(2).proc;
    if (p2?.pid && p2.exitCode === null) process.kill(p2.pid, 'SIGCONT');
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  lc = await startCluster(dir, {
    users: [{ user: 'cu1', password: 'user1234', role: 'CU' }],
    env: (id) => ({ OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: addrFile(id), OCHSM_METRICS_HEARTBEAT_MS: String(HEARTBEAT_MS) }),
  });
  const get = async (id: number): Promise<Sample[]> => parseMetrics(await scrape(readFileSync(addrFile(id), 'utf8').trim()));
  const replCount = (s: Sample[], from: number, le?: string) => sum(s, le === undefined ? 'ochsm_store_replication_seconds_count' : 'ochsm_store_replication_seconds_bucket', { from_node: String(from), ...(le ? { le } : {}) });

  /* 1. Heartbeats: each node sees the other two, never itself. */
  for (const end = Date.now() + 20_000; ;) {
    const all = await Promise.all([1, 2, 3].map(get));
    const ok = [1, 2, 3].every((id) => [1, 2, 3].filter((o) => o !== id).every((o) => replCount(all[id - 1]!, o) >= 3));
    if (ok) {
      for (const id of [1, 2, 3]) assert.equal(replCount(all[id - 1]!, id), 0, `node ${id} does not time its own heartbeats`);
      break;
    }
    assert.ok(Date.now() < end, 'every node observed heartbeats of the two others');
    await sleep(100);
  }

  /* 2. A write on node 1: its committed transactions and the store revision move; node 2's watch delivers it. */
  const app = await connectNode(lc.node(1).port, lc.poCrt);
  t.after(() => app.close());
  await app.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const template = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];
  const a0 = await get(1);
  await app.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template });
  const a1 = await get(1);
  assert.ok(sum(a1, 'ochsm_store_transaction_duration_seconds_count', { result: 'committed' }) > sum(a0, 'ochsm_store_transaction_duration_seconds_count', { result: 'committed' }), 'node 1 timed its commit');
  const written = sum(a1, 'ochsm_store_revision');
  assert.ok(written > sum(a0, 'ochsm_store_revision'), 'the store revision moved');
  let b = await get(2);
  for (const end = Date.now() + 10_000; sum(b, 'ochsm_store_watch_revision') < written || sum(b, 'ochsm_store_watch_lag_revisions') !== 0; b = await get(2)) {
    assert.ok(Date.now() < end, `node 2's watch delivers revision ${written} and is 0 revisions behind`);
    await sleep(50);
  }
  assert.equal(sum(b, 'ochsm_store_watch_lag_seconds'), 0);
  for (const name of ['ochsm_store_revision', 'ochsm_store_watch_revision', 'ochsm_store_watch_lag_revisions', 'ochsm_store_watch_lag_seconds']) assert.ok(b.some((s) => s.name === name), `${name} is exposed`);

  /* 3. Node 2 stopped while node 1 writes and beats: afterwards it has seen every write, some heartbeats over 1 s late. */
  const before = await get(2);
  const lateBefore = replCount(before, 1) - replCount(before, 1, '1');
  const pid2 = lc.node(2).proc!.pid!;
  await freezeOutsideStoreLock(pid2, join(dir, 'data', 'partition.db'));
  let during = 0;
  try {
    for (let i = 0; i < 3; i++) await app.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template });
    during = sum(await get(1), 'ochsm_store_revision');
    await sleep(STOP_MS);
  } finally {
    process.kill(pid2, 'SIGCONT');
  }
  let after = await get(2);
  for (const end = Date.now() + 10_000; sum(after, 'ochsm_store_watch_revision') < during; after = await get(2)) {
    assert.ok(Date.now() < end, `node 2's watch caught up with revision ${during}`);
    await sleep(50);
  }
  const lateAfter = replCount(after, 1) - replCount(after, 1, '1');
  assert.ok(lateAfter > lateBefore, `node 2 timed node 1's heartbeats of the stop above 1 s (${lateBefore} → ${lateAfter})`);
  assert.ok(sum(after, 'ochsm_store_watch_revision') - sum(before, 'ochsm_store_watch_revision') >= 3, 'the three writes of the stop moved node 2\'s watch');
  for (const end = Date.now() + 10_000; sum(after, 'ochsm_store_watch_lag_revisions') !== 0; after = await get(2)) {
    assert.ok(Date.now() < end, 'node 2 is again 0 revisions behind');
    await sleep(50);
  }
  /* No label but the closed set: from_node holds node ids. */
  for (const s of after.filter((x) => x.name.startsWith('ochsm_store_replication'))) assert.match(s.labels.from_node ?? '', /^(?:[1-9]|[1-5][0-9]|6[0-4]|other)$/);
  console.log(`checked: heartbeats every ${HEARTBEAT_MS} ms seen by the two other nodes (never their own); a write moved node 1's commits and the store revision to ${written}, node 2's watch delivered it (lag 0 revisions, 0 s); node 2 stopped ${STOP_MS} ms: replication samples from node 1 over 1 s ${lateBefore} → ${lateAfter}, its watch caught up to ${sum(after, 'ochsm_store_watch_revision')} ≥ ${during}, lag back to 0`);
});
