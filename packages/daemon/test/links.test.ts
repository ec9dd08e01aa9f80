/**
 * The daemon's node links as a unit (src/nodes.ts: NodeLink, LinkPool,
 * NodeDirectory) against in-process TLS nodes (helpers/fake_node.ts) with
 * certificates made by the real openssl: connecting and learning the node's
 * id, refusing nodes that fail the PO.crt check, re-dialling with backoff
 * after a node goes away, dropping a link whose health check hangs.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../src/log.js';
import { backoffDelay, CERT_SIGNATURE_FAILURE_LINE, LinkPool, NodeDirectory, TrustStore, type LinkEnv, type LinkLike } from '../src/nodes.js';
import { FakeClusterState, FakeNode } from './helpers/fake_node.js';
import { hasOpenssl, makeOwnerPki, type OwnerPki } from '../../testkit/src/pki.js';
import { until } from './helpers/daemon_env.js';

const SKIP = hasOpenssl() ? false : 'openssl is not installed';
let pki: OwnerPki;
let root: string;

before(() => {
  if (SKIP) return;
  root = mkdtempSync(join(tmpdir(), 'ochsm-links-'));
  pki = makeOwnerPki(root);
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Line { readonly at: number; readonly level?: string; readonly msg?: string; readonly node?: string; readonly text: string }

/** A pool over `nodes` with its own directory and a log that keeps every line with the time it was written. */
function pool(nodes: readonly { port: number }[], o: { po?: string; healthTimeoutMs?: number } = {}) {
  const lines: Line[] = [];
  const log = createLogger('debug', (text) => {
    const at = performance.now();
    try {
      lines.push({ at, ...(JSON.parse(text) as object), text });
    } catch {
      lines.push({ at, text });
    }
  });
  const env: LinkEnv = {
    settings: () => ({ connectTimeoutMs: 3000, requestTimeoutMs: 3000, healthIntervalMs: 3_600_000, healthTimeoutMs: o.healthTimeoutMs ?? 3000 }),
    trust: new TrustStore(o.po ?? pki.poCrt, log),
    log,
    clientName: 'links-test',
  };
  const directory = new NodeDirectory(log);
  directory.addConfigServers(nodes.map((n) => ({ hostname: '127.0.0.1', port: n.port })));
  const p = new LinkPool('test-pool', directory, env);
  const prepared: [string, number][] = [];
  p.prepare = async (l: LinkLike) => void prepared.push([l.name, l.epoch]);
  return { pool: p, directory, lines, prepared };
}

async function fakeNodes(n: number, identity: 'node' | 'unclaimed' = 'node'): Promise<FakeNode[]> {
  const state = new FakeClusterState();
  const out: FakeNode[] = [];
  for (let i = 1; i <= n; i++) {
    const f = new FakeNode(i, state, pki[identity]);
    await f.start();
    out.push(f);
  }
  return out;
}

describe('node links', { skip: SKIP }, () => {
  test('connect: every link comes up after its preparation, learns its node id and answers requests', async () => {
    const nodes = await fakeNodes(2);
    const w = pool(nodes);
    try {
      w.pool.start();
      assert.equal(w.pool.starting(), true);
      await until(() => w.pool.links().every((l) => l.state === 'up'), 10_000, 'both links up');
      assert.equal(w.pool.starting(), false);
      assert.deepEqual(w.directory.list().map((e) => e.nodeId).sort(), [1, 2]);
      assert.deepEqual(w.prepared.map(([, epoch]) => epoch), [1, 1], 'prepared once per connection, before serving');
      for (const l of w.pool.links()) {
        assert.equal((await l.request('status', {})).partitionState, 'e2e');
        assert.match(l.subject ?? '', /CN=HSM:0123456789ABCDEF:PARTN:1/);
      }
      assert.equal(w.lines.filter((l) => l.msg === 'node link is up').length, 2);
    } finally {
      w.pool.close();
      for (const n of nodes) await n.stop();
    }
  });

  test('failure: a node that fails the PO.crt check, an unclaimed node and a closed port are never used; each is reported once', async () => {
    const [claimed] = await fakeNodes(1);
    const [unclaimed] = await fakeNodes(1, 'unclaimed');
    const closed = await fakeNodes(1);
    const closedPort = closed[0]!.port;
    await closed[0]!.stop();
    const wrongPo = pool([claimed!], { po: pki.wrongPoSameName });
    const w = pool([unclaimed!, { port: closedPort }]);
    try {
      wrongPo.pool.start();
      w.pool.start();
      /* Wait for a few attempts each: the reports stay one per kind of failure. */
      await until(() => wrongPo.lines.filter((l) => l.msg === 'connection attempt failed').length >= 2, 10_000, 'repeated attempts with the wrong PO.crt');
      await until(() => w.lines.filter((l) => l.msg === 'connection attempt failed').length >= 4, 10_000, 'repeated attempts to the unclaimed node and the closed port');
      assert.ok(wrongPo.pool.links().every((l) => l.state !== 'up'));
      assert.ok(w.pool.links().every((l) => l.state !== 'up'));
      assert.equal(wrongPo.lines.filter((l) => l.text.trim() === CERT_SIGNATURE_FAILURE_LINE).length, 1);
      assert.equal(wrongPo.lines.filter((l) => l.msg === 'certificate signature failure: the node is not used').length, 1);
      assert.equal(w.lines.filter((l) => /not claimed yet/.test(l.msg ?? '')).length, 1);
      assert.equal(w.lines.filter((l) => l.msg === 'cannot connect to a node' && l.node === `127.0.0.1:${closedPort}`).length, 1);
      assert.equal(wrongPo.prepared.length + w.prepared.length, 0, 'no link was prepared: no request reached those nodes');
      assert.ok(claimed!.served.every(([op]) => op === 'hello') && unclaimed!.served.length === 0);
    } finally {
      wrongPo.pool.close();
      w.pool.close();
      await claimed!.stop();
      await unclaimed!.stop();
    }
  });

  test('re-dial: a node that goes away is dialled again with growing delays and used again when it returns', async () => {
    const [node] = await fakeNodes(1);
    const w = pool([node!]);
    try {
      w.pool.start();
      await until(() => w.pool.links()[0]?.state === 'up', 10_000, 'link up');
      const link = w.pool.links()[0]!;
      const port = node!.port;
      await node!.stop();
      await until(() => link.state !== 'up', 10_000, 'link down');
      assert.equal(w.lines.filter((l) => l.msg === 'lost the connection to a node').length, 1);
      const attempts = () => w.lines.filter((l) => l.msg === 'connection attempt failed' || l.msg === 'cannot connect to a node');
      await until(() => attempts().length >= 5, 20_000, 'five failed re-dials');
      /* After k failures the next dial waits at least the lower end of backoffDelay(k): timers never fire early. */
      const at = attempts().map((l) => l.at);
      for (let k = 1; k < 5; k++) {
        const gap = at[k]! - at[k - 1]!;
        const floor = backoffDelay(k, () => 0);
        assert.ok(gap >= floor - 2, `gap ${gap.toFixed(1)} ms after failure ${k} is shorter than the backoff floor ${floor} ms`);
      }
      await node!.start(port);
      await until(() => link.state === 'up', 20_000, 'link up again');
      assert.equal(link.epoch, 2, 'a new connection');
      assert.deepEqual(w.prepared.map(([, e]) => e), [1, 2], 'prepared (signed in) again before serving');
      assert.equal(w.lines.filter((l) => l.msg === 'node link is up again').length, 1);
      assert.equal((await link.request('status', {})).component, 'node');
    } finally {
      w.pool.close();
      await node!.stop();
    }
  });

  test('a link whose health check gets no answer is dropped and re-dialled; waitFor sees it return', async () => {
    const [node] = await fakeNodes(1);
    const w = pool([node!], { healthTimeoutMs: 200 });
    try {
      w.pool.start();
      assert.equal(await w.pool.waitFor((l) => l.state === 'up', 10_000), true);
      const link = w.pool.links()[0]!;
      node!.hang.add('status');
      await link.healthCheck();
      assert.ok(w.lines.some((l) => l.msg === 'dropping the connection to a node' && /health check failed/.test(JSON.stringify(l))));
      node!.hang.delete('status');
      assert.equal(await w.pool.waitFor((l) => l.state === 'up' && l.epoch === 2, 10_000), true);
      /* A pool closed while someone waits wakes them with false. */
      const waiting = w.pool.waitFor(() => false, 10_000);
      w.pool.close();
      assert.equal(await waiting, false);
    } finally {
      w.pool.close();
      await node!.stop();
    }
  });
});
