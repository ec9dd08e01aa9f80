/** The router (src/router.ts): round robin, request ids, retries on another node, bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLostError } from '../../protocol/src/connection.js';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import { silentLogger } from '../src/log.js';
import { Router, retryDelay, withRequestId } from '../src/router.js';
import { SignIn } from '../src/login.js';
import { backoffDelay } from '../src/nodes.js';
import { MemCluster, MemPool } from './helpers/memory_links.js';

const AES = { mechanism: P.CKM_AES_KEY_GEN };
const TEMPLATE = [{ type: P.CKA_VALUE_LEN, value: new Uint8Array(8) }];

function setup(opts: { attempts?: number; deadlineMs?: number; nodes?: number } = {}) {
  const cluster = new MemCluster();
  cluster.addUser('cu1', 'user1234');
  const pool = new MemPool('host', cluster, opts.nodes ?? 3);
  const ctx = new SignIn('host', pool, silentLogger(), () => ({ requestTimeoutMs: 1000, connectTimeoutMs: 100 }));
  const router = new Router(() => ({ retry: { attempts: opts.attempts ?? 3, backoffMs: 2, deadlineMs: opts.deadlineMs ?? 2000 }, requestTimeoutMs: 1000, connectTimeoutMs: 50 }), silentLogger());
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
