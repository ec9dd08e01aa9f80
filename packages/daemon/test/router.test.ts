/** The router (src/router.ts): the routing policies (spread: round robin; pack: a preference order with a threshold), request ids, retries on another node, bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLostError } from '../../protocol/src/connection.js';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import { silentLogger } from '../src/log.js';
import { Router, packChoice, preferenceOrder, retryDelay, routeSeed, withRequestId, type RoutingSettings } from '../src/router.js';
import { SignIn } from '../src/login.js';
import { backoffDelay } from '../src/nodes.js';
import { MemCluster, MemPool, type MemLink } from './helpers/memory_links.js';

const AES = { mechanism: P.CKM_AES_KEY_GEN };
const TEMPLATE = [{ type: P.CKA_VALUE_LEN, value: new Uint8Array(8) }];

const SPREAD: RoutingSettings = { policy: 'spread', packInFlight: 32, seed: 0 };

function setup(opts: { attempts?: number; deadlineMs?: number; nodes?: number; routing?: RoutingSettings } = {}) {
  const cluster = new MemCluster();
  cluster.addUser('cu1', 'user1234');
  const pool = new MemPool('host', cluster, opts.nodes ?? 3);
  const ctx = new SignIn('host', pool, silentLogger(), () => ({ requestTimeoutMs: 1000, connectTimeoutMs: 100 }));
  const routing = opts.routing ?? SPREAD;
  const router = new Router(() => ({ retry: { attempts: opts.attempts ?? 3, backoffMs: 2, deadlineMs: opts.deadlineMs ?? 2000 }, requestTimeoutMs: 1000, connectTimeoutMs: 50, routing }), silentLogger());
  return { cluster, pool, ctx, router, links: pool.all };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

test('single-part operations are spread round robin over the ready nodes, one node per turn of the event loop', async () => {
  const { router, ctx, links } = setup();
  for (let i = 0; i < 9; i++) {
    await router.forward(ctx, 'generateRandom', { length: 4 });
    await nextTurn();
  }
  assert.deepEqual(links.map((l) => l.served.length), [3, 3, 3]);
  /* Requests that arrive together go to one node (one write, fewer records back); the next batch to the next node. */
  await Promise.all(Array.from({ length: 5 }, () => router.forward(ctx, 'generateRandom', { length: 4 })));
  assert.deepEqual(links.map((l) => l.served.length).sort((a, b) => a - b), [3, 3, 8]);
  await nextTurn();
  await Promise.all(Array.from({ length: 4 }, () => router.forward(ctx, 'generateRandom', { length: 4 })));
  assert.deepEqual(links.map((l) => l.served.length).sort((a, b) => a - b), [3, 7, 8]);
});

test('a mutating request gets a requestId unless it has one; others get none', () => {
  const a = withRequestId('generateKey', { mechanism: AES, template: TEMPLATE });
  assert.match(a.requestId!, /^[0-9a-f-]{36}$/);
  assert.equal(withRequestId('generateKey', { mechanism: AES, template: TEMPLATE, requestId: 'app-chosen-id' }).requestId, 'app-chosen-id');
  assert.equal('requestId' in withRequestId('sign', { mechanism: AES, handle: 1, data: new Uint8Array(1) }), false);
});

test('a key generation whose answer was lost is retried on another node and returns the first handle', async () => {
  const { router, ctx, links, cluster } = setup();
  await ctx.signIn('cu1', 'user1234', undefined);
  let ran = 0;
  links[0]!.handler = (_l, op, obj) => {
    if (op !== 'generateKey') return undefined;
    /* The node generates the key and records the requestId, then the connection drops before the answer. */
    ran++;
    cluster.requestIds.set(obj.requestId as string, cluster.nextHandle++);
    throw new ConnectionLostError('connection to node1 closed');
  };
  const r = await router.forward(ctx, 'generateKey', { mechanism: AES, template: TEMPLATE });
  assert.equal(ran, 1);
  assert.equal(r.handle, 262144);
  assert.equal(cluster.nextHandle, 262145, 'no second key');
  assert.equal(links[1]!.served.length >= 1 || links[2]!.served.length >= 1, true);
});

test('a timeout is retried on another node too', async () => {
  const { router, ctx, links } = setup();
  links[0]!.failNext = { kind: 'timeout', count: 1 };
  await router.forward(ctx, 'generateRandom', { length: 1 });
  assert.equal(links[0]!.served.length, 0);
});

test('an error of the operation itself is returned as is, never retried', async () => {
  const { router, ctx, links } = setup();
  links[0]!.handler = () => {
    throw new HsmError('ERR_KEY_HANDLE_INVALID', 'no key with handle 5');
  };
  await assert.rejects(router.forward(ctx, 'generateRandom', { length: 1 }), (e: HsmError) => e.code === 'ERR_KEY_HANDLE_INVALID' && e.message === 'no key with handle 5');
  assert.deepEqual(links.map((l) => l.served.length), [1, 0, 0]);
});

test('retries are bounded by the number of attempts', async () => {
  const { router, ctx, links } = setup({ attempts: 2 });
  for (const l of links) l.failNext = { kind: 'lost', count: 10 };
  await assert.rejects(router.forward(ctx, 'generateRandom', { length: 1 }), (e: HsmError) => e.code === 'ERR_DEVICE_ERROR' && /after 2 attempts/.test(e.message));
  assert.equal(links.reduce((n, l) => n + (10 - l.failNext!.count), 0), 2);
});

test('retries are bounded by the deadline', async () => {
  const { router, ctx, links } = setup({ attempts: 100, deadlineMs: 150 });
  for (const l of links) {
    l.failNext = { kind: 'lost', count: 1000 };
    l.delayMs = 20;
  }
  /* Counted, not timed: each attempt takes at least its 20 ms and none starts after 150 ms, so at
   * most 8 of the 100 allowed are made however slow the machine is (a wall-clock bound would fail
   * on a loaded one); without the deadline all 100 would be. */
  let made = 0;
  await assert.rejects(router.forward(ctx, 'generateRandom', { length: 1 }), (e: HsmError) => {
    made = Number(/after (\d+) attempts?/.exec(e.message)?.[1]);
    return e.code === 'ERR_DEVICE_ERROR';
  });
  assert.equal(links.reduce((n, l) => n + (1000 - l.failNext!.count), 0), made, 'the message counts the attempts made');
  assert.ok(made >= 1 && made <= 10, `${made} attempts within a 150 ms deadline (8 at most, 10 allowing a timer that fires a millisecond early)`);
});

test('no ready node: ERR_DEVICE_ERROR "no HSM node is reachable"', async () => {
  const { router, ctx, links } = setup();
  for (const l of links) l.drop();
  await assert.rejects(router.forward(ctx, 'generateRandom', { length: 1 }), (e: HsmError) => e.code === 'ERR_DEVICE_ERROR' && e.message === 'no HSM node is reachable' && e.ckrv === 0x30);
});

test('only links ready for the caller\'s sign-in are used', async () => {
  const { router, ctx, links } = setup();
  await ctx.signIn('cu1', 'user1234', undefined);
  links[1]!.setAuthGen(0, links[1]!.epoch); /* pretend node 2 has not signed in yet */
  for (let i = 0; i < 6; i++) await router.forward(ctx, 'generateRandom', { length: 1 });
  assert.equal(links[1]!.served.filter(([op]) => op === 'generateRandom').length, 0);
});

test('backoff: reconnects from 100 ms doubling to 5 s with jitter; retries from backoff_ms', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, () => 1)), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  assert.equal(backoffDelay(1, () => 0), 50);
  assert.equal(backoffDelay(40, () => 0.5), 3750);
  assert.deepEqual([1, 2, 3].map((n) => retryDelay({ attempts: 3, backoffMs: 50, deadlineMs: 1 }, n, () => 1)), [50, 100, 200]);
});

/* ─────────────────────────────── pack ─────────────────────────────── */

/** pack with this threshold; seed 1 puts node2 first: the ring is node1, node2, node3 (no node ids yet: by host:port). */
const pack = (packInFlight: number, seed = 1): RoutingSettings => ({ policy: 'pack', packInFlight, seed });
const served = (links: readonly MemLink[], op = 'generateRandom') => links.map((l) => l.served.filter(([o]) => o === op).length);

test('pack: the preference order is the ring of nodes by node id, then host:port, started at seed mod n', () => {
  const { links } = setup({ nodes: 4 });
  const [a, b, c, d] = links as [MemLink, MemLink, MemLink, MemLink];
  const names = (ls: readonly MemLink[]) => ls.map((l) => l.name);
  /* No node ids yet: by host:port, whatever order the pool lists them in. */
  assert.deepEqual(names(preferenceOrder([c, a, d, b], 0)), ['node1', 'node2', 'node3', 'node4']);
  assert.deepEqual(names(preferenceOrder([c, a, d, b], 6)), ['node3', 'node4', 'node1', 'node2']);
  /* Node ids (said in hello) order the ring; a link whose id is not known yet comes after those known. */
  c.endpoint.nodeId = 1;
  a.endpoint.nodeId = 2;
  b.endpoint.nodeId = 3;
  assert.deepEqual(names(preferenceOrder([a, b, c, d], 0)), ['node3', 'node1', 'node2', 'node4']);
  assert.deepEqual(names(preferenceOrder([d, c, b, a], 0x7fffffff)), ['node4', 'node3', 'node1', 'node2']);
  assert.deepEqual(preferenceOrder([], 5), []);
});

test('pack: the first candidate under the threshold; when all are at it, the one with the fewest in flight (the earlier on a tie)', () => {
  const load = new Map([['a', 0], ['b', 0], ['c', 0]]);
  const choose = (order: string[], t: number) => packChoice(order, (l) => load.get(l)!, t);
  assert.equal(choose(['b', 'c', 'a'], 4), 'b');
  load.set('b', 4);
  assert.equal(choose(['b', 'c', 'a'], 4), 'c');
  load.set('b', 3);
  assert.equal(choose(['b', 'c', 'a'], 4), 'b');
  load.set('b', 9).set('c', 5).set('a', 7);
  assert.equal(choose(['b', 'c', 'a'], 4), 'c');
  load.set('c', 7);
  assert.equal(choose(['b', 'c', 'a'], 4), 'c', 'a tie goes to the earlier in the order');
  assert.equal(choose([], 4), undefined);
});

test('pack: sequential requests all go to the first choice', async () => {
  const { router, ctx, links } = setup({ routing: pack(4) });
  for (let i = 0; i < 9; i++) {
    await router.forward(ctx, 'generateRandom', { length: 4 });
    await nextTurn();
  }
  assert.deepEqual(served(links), [0, 9, 0]);
  assert.equal(router.inFlightTo(links[1]!), 0, 'answered requests are no longer in flight');
});

test('pack: a burst beyond the threshold spills to the next nodes in order, then to the least loaded', async () => {
  const { router, ctx, links } = setup({ routing: pack(4) });
  for (const l of links) l.delayMs = 30;
  /* Ten at once: four to node2, four to node3, two to node1. */
  let burst = Array.from({ length: 10 }, () => router.forward(ctx, 'generateRandom', { length: 4 }));
  assert.deepEqual(links.map((l) => router.inFlightTo(l)), [2, 4, 4]);
  await Promise.all(burst);
  assert.deepEqual(served(links), [2, 4, 4]);
  /* Fourteen at once: twelve fill the three; then node2 (the first of the least loaded), then node3. */
  burst = Array.from({ length: 14 }, () => router.forward(ctx, 'generateRandom', { length: 4 }));
  assert.deepEqual(links.map((l) => router.inFlightTo(l)), [4, 5, 5]);
  await Promise.all(burst);
  assert.deepEqual(links.map((l) => router.inFlightTo(l)), [0, 0, 0]);
});

test('pack: the in-flight count is per node over every pool of the daemon (one pool per application in APPLICATION mode)', async () => {
  const { router, ctx, links, cluster } = setup({ routing: pack(3) });
  const other = new MemPool('app-2', cluster, 3);
  const ctx2 = new SignIn('app-2', other, silentLogger(), () => ({ requestTimeoutMs: 1000, connectTimeoutMs: 100 }));
  for (const l of [...links, ...other.all]) l.delayMs = 30;
  const first = Array.from({ length: 3 }, () => router.forward(ctx, 'generateRandom', { length: 4 }));
  const second = router.forward(ctx2, 'generateRandom', { length: 4 });
  await Promise.all([...first, second]);
  assert.deepEqual(served(links), [0, 3, 0]);
  assert.deepEqual(served(other.all), [0, 0, 1], 'the second pool\'s link to node2 counts the first pool\'s requests');
});

test('pack: a node that said it is behind is avoided like under spread; the next in the order serves meanwhile', async () => {
  const { router, ctx, links } = setup({ routing: pack(4) });
  let behind = 1;
  links[1]!.handler = (_l, op) => {
    if (op === 'generateRandom' && behind-- > 0) throw new HsmError('ERR_NODE_BEHIND', 'node2 is behind');
    return undefined;
  };
  for (let i = 0; i < 5; i++) await router.forward(ctx, 'generateRandom', { length: 4 });
  assert.deepEqual(served(links), [0, 1, 5], 'node2 was asked once, then node3 served all five');
  assert.ok(router.avoiding(links[1]!));
});

test('pack: a lost link is skipped, and its node gets its share back once ready again; failed requests leave no count behind', async () => {
  const { router, ctx, links } = setup({ routing: pack(4) });
  await ctx.signIn('cu1', 'user1234', undefined);
  await router.forward(ctx, 'generateRandom', { length: 4 });
  links[1]!.failNext = { kind: 'lost', count: 1 };
  await router.forward(ctx, 'generateRandom', { length: 4 });
  assert.deepEqual(served(links), [0, 1, 1], 'the lost request was retried on node3');
  assert.equal(router.inFlightTo(links[1]!), 0);
  links[1]!.drop();
  for (let i = 0; i < 3; i++) await router.forward(ctx, 'generateRandom', { length: 4 });
  assert.deepEqual(served(links), [0, 1, 4]);
  /* Back, and signed in again by the sign-in's prepare step: the preferred node again. */
  await links[1]!.reconnect();
  assert.ok(ctx.ready(links[1]!));
  for (let i = 0; i < 3; i++) await router.forward(ctx, 'generateRandom', { length: 4 });
  assert.deepEqual(served(links), [0, 4, 4]);
});

test('pack: daemons on different hosts start at different nodes; one daemon always at the same', () => {
  const socket = '1\0/opt/azurecloudhsm/run/azcloudhsm_client.sock';
  const firsts = Array.from({ length: 12 }, (_, i) => routeSeed(`app-host-${i + 1}`, socket) % 3);
  assert.deepEqual([...new Set(firsts)].sort(), [0, 1, 2], `first choices ${firsts.join(',')}`);
  assert.equal(routeSeed('app-host-1', socket), routeSeed('app-host-1', socket));
  /* Two daemons on one host with different sockets are different daemons too. */
  assert.notEqual(routeSeed('app-host-1', socket), routeSeed('app-host-1', '2\0/srv/hsm2/run/azcloudhsm_client.sock'));
});
