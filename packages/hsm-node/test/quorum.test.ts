/**
 * The quorum guard's rule (src/quorum.ts), over a real in-memory store: a
 * renewal counts only once the node's replica holds the revision its answer
 * named. A node whose renewals get through (another member answers) while its
 * replica stays at an older revision (its own member fell out of the etcd
 * cluster) stops serving with ERR_NODE_BEHIND within the bound, is told to
 * read afresh and watch again, and serves again once its replica has caught up. The netns test
 * packages/testkit/test/netns_lagging_member.test.ts is the same over real
 * etcd members and node processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { HsmError } from '../../protocol/src/errors.js';
import { MemoryStore } from '../../store/src/memory.js';
import { QuorumGuard } from '../src/quorum.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BOUND = 1000;

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`not ${what} within ${ms} ms`);
    await sleep(10);
  }
}

const refusal = (g: QuorumGuard): HsmError | undefined => {
  try {
    g.check();
    return undefined;
  } catch (e) {
    return e as HsmError;
  }
};

test('renewals that get through count only once the replica holds the revision they named', { timeout: 20_000 }, async () => {
  const store = new MemoryStore();
  let applied = Infinity;
  const changes: string[] = [];
  const told: string[] = [];
  const g = new QuorumGuard(store, {
    self: { id: 2, hostname: '127.0.0.1', port: 1 },
    monotonic: () => performance.now(),
    intervalMs: 50,
    boundMs: BOUND,
    ttlMs: 2000,
    renew: async (lease) => ({ alive: await store.keepAlive(lease), revision: (await store.txn([], [])).revision }),
    applied: () => applied,
    onBehind: (why) => void told.push(why),
    onChange: (serving) => void changes.push(serving ? 'serving' : 'not serving'),
  });
  await g.start();
  try {
    await until('serving', () => refusal(g) === undefined);
    applied = (await store.txn([], [])).revision;
    await sleep(BOUND * 2);
    assert.equal(refusal(g), undefined, 'a replica holding the store\'s revision serves');

    /* The cluster moves on; this node's replica does not (its watch follows a member that fell out). */
    const stuck = applied;
    const current = await store.put('k', Buffer.from('2'));
    assert.ok(current > stuck);
    await until('refusing', () => refusal(g) !== undefined);
    const e = refusal(g)!;
    assert.equal(e.code, 'ERR_NODE_BEHIND');
    assert.match(e.message, new RegExp(`is behind the store quorum \\(its copy is at revision ${stuck}, the quorum was at ${current} `));
    assert.equal(g.serving, false);
    /* The node is told to read afresh and watch again (on another member), at most once a bound. */
    await until('told to resync', () => told.length > 0);
    assert.match(told[0]!, /is behind the store quorum/);
    const toldBefore = told.length;
    await sleep(BOUND / 2);
    assert.ok(told.length <= toldBefore + 1, `told at most once a bound (${told.length - toldBefore} more in half a bound)`);

    /* The replica catches up: the next renewal counts again. */
    applied = current;
    await until('serving again', () => refusal(g) === undefined);
    assert.deepEqual(changes.filter((c, i) => c !== changes[i - 1]), ['serving', 'not serving', 'serving']);

    /* A guard given no revisions keeps counting contact alone (SQLite and memory stores have no members to fall behind). */
    const plain = new QuorumGuard(store, { self: { id: 3, hostname: '127.0.0.1', port: 1 }, monotonic: () => performance.now(), intervalMs: 50, boundMs: BOUND, ttlMs: 2000 });
    await plain.start();
    try {
      await store.put('k', Buffer.from('3'));
      await sleep(BOUND * 2);
      assert.equal(refusal(plain), undefined);
    } finally {
      await plain.stop();
    }
  } finally {
    await g.stop();
  }
});

test('a node that registers again after its lease lapsed serves only once its replica holds the registration (no stale state served after a cut)', { timeout: 20_000 }, async () => {
  const store = new MemoryStore();
  let applied = Infinity;
  let lapse = false;
  let cut = false;
  let grants = 0;
  const grant = store.grantLease.bind(store);
  store.grantLease = (ttl: number) => {
    grants++;
    return grant(ttl);
  };
  const g = new QuorumGuard(store, {
    self: { id: 2, hostname: '127.0.0.1', port: 1 },
    monotonic: () => performance.now(),
    intervalMs: 50,
    boundMs: BOUND,
    ttlMs: 2000,
    /* Each renewal names the store's revision; `cut`: no answer; `lapse` answers one renewal as a lease that lapsed during the cut. */
    renew: async (lease) => {
      if (cut) throw new Error('cut off');
      if (lapse) {
        lapse = false;
        return { alive: false, revision: 0 };
      }
      return { alive: await store.keepAlive(lease), revision: (await store.txn([], [])).revision };
    },
    applied: () => applied,
  });
  await g.start();
  try {
    await until('serving', () => refusal(g) === undefined);
    /* The replica holds everything so far; renewals go on naming the same revision, so it serves. */
    applied = (await store.txn([], [])).revision;
    await sleep(BOUND * 2);
    assert.equal(refusal(g), undefined);
    /* Cut off for longer than the bound: it stops serving. Meanwhile the cluster changes (a share revoked, say). */
    cut = true;
    await until('refusing', () => refusal(g) !== undefined);
    await store.put('k', Buffer.from('changed while cut off'));
    /* Back, with its lease lapsed: it registers again. Its replica stays where it was (the watch has not delivered the change). */
    const before = grants;
    lapse = true;
    cut = false;
    await until('registered again', () => grants > before);
    let served = 0;
    for (const end = Date.now() + BOUND * 2; Date.now() < end; ) {
      if (refusal(g) === undefined) served++;
      await sleep(10);
    }
    assert.equal(served, 0, 'no request served while the replica lacks the registration\'s revision');
    /* The replica catches up with the registration: serving again. */
    applied = (await store.txn([], [])).revision;
    await until('serving again', () => refusal(g) === undefined);
  } finally {
    await g.stop();
  }
});
