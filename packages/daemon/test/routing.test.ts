/**
 * The `pack` routing policy with real processes (docs/daemon.md "Routing,
 * retries and idempotency"): three nodes, one daemon with `pack_in_flight` 4,
 * each node's metrics telling which node signed. One application's sequential
 * signatures all land on one node; a burst beyond the threshold while that
 * node holds its four (frozen with SIGSTOP) is answered by the other nodes;
 * with that node SIGKILLed under the load of 16 applications no operation
 * fails; restarted, it gets the daemon's requests back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { parseMetrics, scrape, sum } from '../../ops/src/metrics/scrape.js';
import { connectDaemon, freezeOutsideStoreLock, startCluster, startDaemon, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { runLoad, waitNodeState, waitNodesUp } from '../../testkit/src/daemon_load.js';
import { generateEcSigningPair } from '../../testkit/src/keys.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NODES = [1, 2, 3] as const;

test('pack: sequential requests stay on one node, a burst spills over, the node SIGKILLed under load costs no operation and gets its share back', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-routing-'));
  const metricsFile = (id: number) => join(dir, `node${id}.metrics`);
  const cluster = await startCluster(dir, { env: (id) => ({ OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: metricsFile(id) }) });
  /* A long health timeout: the frozen node below must stay a connected, busy link, not a dropped one. */
  const daemon = await startDaemon(cluster, { client: { routing: 'pack', pack_in_flight: 4, health_timeout_ms: 20_000 } });
  const clients: ProtocolClient[] = [];
  /* Signatures each node has made (its own count: the file names its current metrics address). */
  const signed = async (id: number) => sum(parseMetrics(await scrape(readFileSync(metricsFile(id), 'utf8').trim())), 'ochsm_node_operations_total', { op: 'sign', result: 'ok' });
  const signedAll = () => Promise.all(NODES.map(signed));
  const minus = (a: number[], b: number[]) => a.map((x, i) => x - b[i]!);
  try {
    const app = await connectDaemon(daemon.socketPath, 'routing-app');
    clients.push(app);
    await app.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const pair = await generateEcSigningPair(app);
    const data = Buffer.from('routing');
    const sign = (c: ProtocolClient) => c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
    /* Every node up and signed in: a signature on each, straight after, would otherwise find some not ready. */
    await waitNodesUp(app, 3, 15_000, { signedIn: true });

    /* 1. One application's sequential signatures: all on one node, the daemon's first choice. */
    let before = await signedAll();
    for (let i = 0; i < 30; i++) assert.equal((await sign(app)).signature.length, 64);
    let delta = minus(await signedAll(), before);
    assert.deepEqual([...delta].sort((a, b) => a - b), [0, 0, 30], `signatures per node ${delta.join(', ')}`);
    const preferred = NODES[delta.indexOf(30)]!;
    const others = NODES.filter((id) => id !== preferred);

    /* 2. A burst beyond the threshold: the preferred node holds four (frozen), the next six go to the others at once. */
    const pid = cluster.node(preferred).proc!.pid!;
    before = await signedAll();
    await freezeOutsideStoreLock(pid, join(dir, 'data', 'partition.db'));
    let held: Promise<unknown>[] = [];
    try {
      held = Array.from({ length: 4 }, () => sign(app));
      const spilled = await Promise.all(Array.from({ length: 6 }, () => sign(app)));
      assert.equal(spilled.length, 6);
      const during = await Promise.all(others.map(signed));
      assert.deepEqual(minus(during, others.map((id) => before[id - 1]!)).reduce((a, b) => a + b, 0), 6, 'the six beyond the threshold were signed by the other nodes while the preferred one held four');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await Promise.all(held);
    delta = minus(await signedAll(), before);
    assert.equal(delta[preferred - 1], 4, 'the four held requests were answered by the preferred node, not retried elsewhere');

    /* 3. The preferred node SIGKILLed under load from 16 applications: no failed operation. */
    const loaders: ProtocolClient[] = [];
    for (let i = 0; i < 16; i++) loaders.push(await connectDaemon(daemon.socketPath, `loader-${i}`));
    clients.push(...loaders);
    const load = runLoad(loaders, async (c) => assert.equal((await sign(c)).signature.length, 64));
    await sleep(1000);
    const beforeKill = load.ok;
    await cluster.killNode(preferred, 'SIGKILL');
    await sleep(2000);
    const duringOutage = load.ok - beforeKill;
    await cluster.startNode(preferred);
    await waitNodeState(app, preferred, 'up', 15_000);
    await sleep(500);
    await load.stop();
    assert.deepEqual(load.failures, [], 'no application saw a failed operation');
    assert.ok(beforeKill > 0 && duringOutage > 0, `signatures before (${beforeKill}) and during the outage (${duringOutage})`);

    /* 4. Back, and signed in again: the daemon's sequential requests go to it again. */
    for (let i = 0; ; i++) {
      const b = await signed(preferred);
      await sign(app);
      if ((await signed(preferred)) > b) break;
      assert.ok(i < 100, `node ${preferred} serves the daemon again`);
      await sleep(100);
    }
    before = await signedAll();
    for (let i = 0; i < 20; i++) await sign(app);
    delta = minus(await signedAll(), before);
    assert.equal(delta[preferred - 1], 20, `signatures per node after the restart ${delta.join(', ')}`);
  } finally {
    for (const c of clients) c.close();
    await daemon.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
