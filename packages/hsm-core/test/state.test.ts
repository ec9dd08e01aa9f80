/**
 * The in-memory partition state: two partitions over one store stand for two
 * nodes. What one commits the other serves from memory; a refusal is decided
 * on current state; a stale replica catches up before it decides; a watch
 * that falls behind makes a clean reload; a corrupt record is an error, not a
 * crash and not "absent".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { MemoryStore } from '../../store/src/memory.js';
import { StoreCompactedError, type KeyValueStore, type WatchEvent, type WatchOptions } from '../../store/src/types.js';
import { Partition, PATH, type CallContext } from '../src/partition.js';
import { attr, type Attribute } from '../src/objects/attributes.js';
import { FAST, claimedPartition } from './helpers/claimed.js';

const aesTemplate = (): Attribute[] => [
  attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true),
];


const code = (c: string) => (e: unknown) => e instanceof HsmError && e.code === c;
const gcm = (iv: Buffer) => ({ mechanism: P.CKM_AES_GCM, params: { iv, tagBits: 128 } });

/** Counts reads, and can hold back watch events (a watcher that falls behind) and then report compaction. */
class Tap implements KeyValueStore {
  readonly kind = 'tap';
  get progressIsCurrent() { return this.progressCurrent ?? this.inner.progressIsCurrent; }
  reads = 0;
  private held: (() => void)[] | undefined;
  private watchers: { onEvent: (e: WatchEvent) => void; opts: WatchOptions }[] = [];
  /** Hold back the feed (events and progress), as a slow or stalled watch would. */
  hold() { this.held ??= []; }
  /** Deliver what was held, in order, and follow live again. */
  release() { const h = this.held ?? []; this.held = undefined; for (const f of h) f(); }
  private pass(f: () => void) { if (this.held) this.held.push(f); else f(); }
  /** `progressCurrent` false: a store whose progress reports may lag it, as etcd's (a follower's watch). */
  constructor(private readonly inner: KeyValueStore, private readonly progressCurrent?: boolean) {}
  /** A progress report for `revision` now, past anything held: a lagging member saying "everything up to here was sent". */
  progress(revision: number) { for (const w of this.watchers) w.opts.onProgress?.(revision); }
  get(k: string) { this.reads++; return this.inner.get(k); }
  put(k: string, v: Uint8Array, o?: { lease?: number }) { return this.inner.put(k, v, o); }
  delete(k: string) { return this.inner.delete(k); }
  /** Lists that fail (a reload that fails), counted down. */
  failLists = 0;
  list(p: string, o?: { limit?: number; after?: string }) {
    this.reads++;
    if (this.failLists > 0) {
      this.failLists--;
      return Promise.reject(new Error('tap: the store is unreachable'));
    }
    return this.inner.list(p, o);
  }
  txn(...a: Parameters<KeyValueStore['txn']>) { return this.inner.txn(...a); }
  grantLease(t: number) { return this.inner.grantLease(t); }
  keepAlive(l: number) { return this.inner.keepAlive(l); }
  revokeLease(l: number) { return this.inner.revokeLease(l); }
  watch(prefix: string, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}) {
    const w = { onEvent, opts };
    this.watchers.push(w);
    const stop = this.inner.watch(prefix, (e) => this.pass(() => onEvent(e)), {
      ...opts,
      onProgress: (r) => this.pass(() => opts.onProgress?.(r)),
    });
    return () => { stop(); this.watchers = this.watchers.filter((x) => x !== w); };
  }
  /** Tell every watcher that it fell behind the kept history. */
  compactAll() {
    for (const w of [...this.watchers]) w.opts.onError?.(new StoreCompactedError('tap: the changes are no longer kept', 1));
  }
  close() { return this.inner.close(); }
}

async function twoNodes(progressCurrent?: boolean) {
  const shared = new MemoryStore();
  const a = await claimedPartition(shared);
  let now = 0;
  const tap = new Tap(shared, progressCurrent);
  const b = await Partition.open({ store: tap, maskingKey: a.maskingKey, config: FAST, monotonic: () => now, freshnessMs: 50 });
  const cu1b: CallContext = { principal: await b.login('cu1', 'user1234', 'CU') };
  return { a, b, tap, shared, cu1b, advance: (ms: number) => { now += ms; } };
}

test('a key made on one node is used on the other from memory: no store read per use', async () => {
  const { a, b, tap, cu1b } = await twoNodes();
  const h = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const iv = Buffer.alloc(12, 7);
  const ct = await a.p.encrypt(a.cu1, gcm(iv), h, Buffer.from('hello'));
  /* The first use catches up (a refusal is never decided on stale state)... */
  assert.equal((await b.decrypt(cu1b, gcm(iv), h, ct)).toString(), 'hello');
  /* ...then uses read nothing from the store (key-use audit records go to the store's chain in this setup, which writes but does not read objects). */
  const before = tap.reads;
  for (let i = 0; i < 20; i++) await b.findObjects(cu1b, []);
  for (let i = 0; i < 20; i++) await b.getAttributeValue(cu1b, h, [P.CKA_VALUE_LEN]);
  assert.equal(tap.reads, before, 'findObjects and getAttributeValue read only memory');
  a.p.close();
  b.close();
});

test('a deletion on one node is in force on the other once the freshness bound has passed', async () => {
  const { a, b, tap, cu1b, advance } = await twoNodes();
  const h = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const iv = Buffer.alloc(12, 1);
  await b.encrypt(cu1b, gcm(iv), h, Buffer.from('x'));
  /* B stops hearing from the store (a stalled feed), A deletes. */
  tap.hold();
  await a.p.destroyObject(a.cu1, h);
  /* Past the bound, B does not decide on what it has: it waits for the feed... */
  advance(51);
  let settled = false;
  const use = b.encrypt(cu1b, gcm(iv), h, Buffer.from('x')).finally(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'a stale replica must not answer');
  /* ...and once it has caught up, refuses. */
  tap.release();
  await assert.rejects(use, code('ERR_KEY_HANDLE_INVALID'));
  a.p.close();
  b.close();
});

test('on a store whose progress may lag (etcd), a progress report from the lagging feed does not make a stale replica fresh: past the bound it reads the revision and waits for the change', async () => {
  const { a, b, tap, shared, cu1b, advance } = await twoNodes(false);
  const h = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const iv = Buffer.alloc(12, 3);
  await b.encrypt(cu1b, gcm(iv), h, Buffer.from('x'));
  const before = (await shared.txn([], [])).revision;
  /* B's feed lags (a follower member): A's deletion is not delivered yet... */
  tap.hold();
  await a.p.destroyObject(a.cu1, h);
  advance(51);
  /* ...but the feed still reports progress up to what it has sent, just now. */
  tap.progress(before);
  let settled = false;
  const use = b.encrypt(cu1b, gcm(iv), h, Buffer.from('x')).finally(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'a replica must not count a lagging feed\'s progress as fresh and answer from before the deletion');
  tap.release();
  await assert.rejects(use, code('ERR_KEY_HANDLE_INVALID'));
  a.p.close();
  b.close();
});

test('a lookup that finds nothing is decided on current state: a key just made on the other node is found by its label', async () => {
  const { a, b, tap, cu1b } = await twoNodes();
  await b.findObjects(cu1b, []);
  /* B is fresh (within the bound), but its feed has not yet delivered what A makes now. */
  tap.hold();
  const label = attr.utf8(P.CKA_LABEL, 'made-on-a');
  const h = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, [...aesTemplate(), label]);
  let settled = false;
  const lookup = b.findObjects(cu1b, [label]).finally(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'finding nothing is not answered from a replica that has not caught up');
  tap.release();
  assert.deepEqual(await lookup, [h]);
  a.p.close();
  b.close();
});

test('a watch that falls behind the kept history reloads cleanly and answers from current state', async () => {
  const { a, b, tap, cu1b } = await twoNodes();
  const h1 = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const iv = Buffer.alloc(12, 2);
  await b.encrypt(cu1b, gcm(iv), h1, Buffer.from('x'));
  tap.hold();
  await a.p.destroyObject(a.cu1, h1);
  const h2 = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  /* The held changes are lost for good: the watch is told it fell behind. */
  (tap as unknown as { held: unknown[] }).held = [];
  tap.release();
  tap.compactAll();
  await b.state.sync();
  await assert.rejects(b.encrypt(cu1b, gcm(iv), h1, Buffer.from('x')), code('ERR_KEY_HANDLE_INVALID'));
  await b.encrypt(cu1b, gcm(iv), h2, Buffer.from('x'));
  assert.deepEqual(await b.findObjects(cu1b, []), await a.p.findObjects(a.cu1, []));
  a.p.close();
  b.close();
});

test('with the node\'s timer: a change waiting for its own write on a held feed answers ERR_NODE_BEHIND after the bound (its retry elsewhere with the request id is acknowledged); a resync lets a waiter through; a failed reload is tried again without failing its waiters', async () => {
  const shared = new MemoryStore();
  const a = await claimedPartition(shared);
  const tap = new Tap(shared);
  const pending = new Set<NodeJS.Timeout>();
  const schedule = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      pending.delete(t);
      fn();
    }, ms);
    pending.add(t);
    return () => {
      clearTimeout(t);
      pending.delete(t);
    };
  };
  const problems: string[] = [];
  const b = await Partition.open({ store: tap, maskingKey: a.maskingKey, config: FAST, freshnessMs: 50, schedule, applyWaitMs: 1000, onProblem: (m) => void problems.push(m) });
  try {
    const cu1b: CallContext = { principal: await b.login('cu1', 'user1234', 'CU') };
    const h = await b.generateKey(cu1b, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    /* The feed stops: B's own delete commits, and its wait for its own write ends with the retryable error. */
    tap.hold();
    const requestId = 'delete-on-b-0001';
    await assert.rejects(b.destroyObject({ ...cu1b, requestId }, h), (e: unknown) => e instanceof HsmError && e.code === 'ERR_NODE_BEHIND' && /did not reach revision [0-9]+ within 1000 ms/.test(e.message));
    assert.ok(problems.some((m) => /not applied within 1000 ms/.test(m)), 'the bound is logged');
    /* The daemon's retry on another node, same request id: acknowledged (the stored result), not "no such object". */
    await a.p.destroyObject({ ...a.cu1, requestId }, h);
    await assert.rejects(a.p.encrypt(a.cu1, gcm(Buffer.alloc(12, 3)), h, Buffer.from('x')), code('ERR_KEY_HANDLE_INVALID'));

    /* A resync (the quorum guard's answer to a feed that stays behind) lets a waiter through, feed still held. */
    await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    const waiting = b.state.waitApplied(await b.state.currentRevision());
    b.state.resync('test: the feed does not follow the store');
    await waiting;
    assert.ok(problems.some((m) => /test: the feed does not follow the store; reloading from the store/.test(m)));

    /* A reload that fails is tried again; its waiter keeps waiting and gets through. */
    await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
    const again = b.state.waitApplied(await b.state.currentRevision());
    tap.failLists = 1;
    b.state.resync('test: once more');
    await again;
    assert.ok(problems.some((m) => /reload failed: .*unreachable; trying again in 200 ms/.test(m)), 'the failed reload is logged and tried again');
    await assert.rejects(b.encrypt(cu1b, gcm(Buffer.alloc(12, 3)), h, Buffer.from('x')), code('ERR_KEY_HANDLE_INVALID'));
  } finally {
    tap.release();
    a.p.close();
    b.close();
    for (const t of pending) clearTimeout(t);
  }
});

test('a corrupt object record is a clear ERR_STORE for that handle; the rest keeps working', async () => {
  const { a, b, cu1b } = await twoNodes();
  const good = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const bad = await a.p.generateKey(a.cu1, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate());
  const e = (await a.store.get(PATH.object(bad)))!;
  const damaged = Buffer.from(e.value);
  damaged[damaged.length - 1]! ^= 0xff;
  await a.store.put(PATH.object(bad), damaged);
  await b.state.sync();
  await assert.rejects(b.encrypt(cu1b, gcm(Buffer.alloc(12)), bad, Buffer.from('x')), (err: unknown) => err instanceof HsmError && err.code === 'ERR_STORE' && err.message.includes(PATH.object(bad)));
  await b.encrypt(cu1b, gcm(Buffer.alloc(12)), good, Buffer.from('x'));
  a.p.close();
  b.close();
});

test('a password changed on one node is accepted at once on the other, and the old one refused', async () => {
  const { a, b } = await twoNodes();
  await a.p.changePassword(a.cu1, 'CU', 'cu1', 'newpass99');
  await b.login('cu1', 'newpass99', 'CU');
  await assert.rejects(b.login('cu1', 'user1234', 'CU'), code('ERR_LOGIN_FAILED'));
  a.p.close();
  b.close();
});

test('2,000 objects: a new replica loads them all at start (time printed, not asserted)', async () => {
  const shared = new MemoryStore();
  const a = await claimedPartition(shared);
  const tpl = [attr.ulong(P.CKA_CLASS, P.CKO_DATA), attr.bool(P.CKA_TOKEN, true)];
  for (let i = 0; i < 2000; i++) await a.p.createObject(a.cu1, tpl);
  const t0 = performance.now();
  const b = await Partition.open({ store: shared, maskingKey: a.maskingKey, config: FAST });
  const ms = performance.now() - t0;
  assert.equal(b.state.objectCount, 2000);
  process.stdout.write(`# replica of 2,000 objects loaded in ${ms.toFixed(0)} ms\n`);
  a.p.close();
  b.close();
});

