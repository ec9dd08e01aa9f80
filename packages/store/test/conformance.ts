/**
 * @module The one contract every KeyValueStore backend must pass (as Vault's ExerciseBackend).
 *
 * Trust boundary: tests only. Each backend's own test file calls
 * `exerciseStore` in one line; the suite registers node:test tests that hold
 * the backend to the semantics of store/src/types.ts (and so of etcd v3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyValueStore, StoreError, WatchEvent } from '../src/types.js';

export interface ExerciseOptions {
  /** Move the store's clock forward; when absent, lease tests use short real TTLs. */
  readonly advanceClock?: (ms: number) => void;
  /** Discard the store's change history up to its current revision (etcd: compact). */
  readonly compact?: (s: KeyValueStore) => void | Promise<void>;
}

const b = (s: string) => Buffer.from(s, 'utf8');
const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString('utf8'));

/** Poll `cond` until it holds or `ms` pass; the bounded wait of every timing-dependent check. */
async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function exerciseStore(
  name: string,
  makeStore: () => Promise<KeyValueStore> | KeyValueStore,
  opts: ExerciseOptions = {},
): void {
  /** Run `fn` on a fresh store and always close it. */
  const withStore = (title: string, fn: (s: KeyValueStore) => Promise<void>, timeout = 30_000) =>
    test(`${name}: ${title}`, { timeout }, async () => {
      const s = await makeStore();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('get, put and delete a key', async (s) => {
    assert.equal(typeof s.kind, 'string');
    assert.equal(await s.get('a'), undefined);
    const v = await s.put('a', b('one'));
    assert.ok(Number.isSafeInteger(v) && v > 0);
    const e = await s.get('a');
    assert.deepEqual({ ...e, value: str(e?.value) }, { key: 'a', value: 'one', version: v, lease: 0 });
    assert.equal(await s.delete('a'), true);
    assert.equal(await s.get('a'), undefined);
    assert.equal(await s.delete('a'), false);
  });

  withStore('an empty key is refused', async (s) => {
    await assert.rejects(s.put('', b('x')), { name: 'StoreError' });
    await assert.rejects(s.get(''), { name: 'StoreError' });
  });

  withStore('versions strictly increase, store-wide', async (s) => {
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push(await s.put('k', b(String(i))));
    seen.push(await s.put('other', b('x')));
    await s.delete('k');
    seen.push(await s.put('k', b('again')));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `version ${seen[i]} after ${seen[i - 1]}`);
    /* The delete in between took a revision of its own. */
    assert.ok(seen[6]! > seen[5]! + 1);
    assert.equal((await s.get('k'))?.version, seen[6]);
  });

  withStore('list: prefix, key order, paging', async (s) => {
    const keys = ['obj/0000000010', 'obj/0000000002', 'obj/0000000001', 'obj/', 'ob', 'obj0', 'objx', 'user/alice', 'obj/0000000003'];
    for (const k of keys) await s.put(k, b(k));
    const list = async (p: string, o?: { limit?: number; after?: string }) => (await s.list(p, o)).map((e) => e.key);
    const under = ['obj/', 'obj/0000000001', 'obj/0000000002', 'obj/0000000003', 'obj/0000000010'];
    assert.deepEqual(await list('obj/'), under);
    for (const e of await s.list('obj/')) assert.equal(str(e.value), e.key);
    assert.deepEqual(await list('obj/', { limit: 2 }), under.slice(0, 2));
    assert.deepEqual(await list('obj/', { after: 'obj/0000000002' }), under.slice(3));
    assert.deepEqual(await list('obj/', { after: 'obj/0000000001', limit: 2 }), under.slice(2, 4));
    assert.deepEqual(await list('obj/', { after: 'obj/0000000010' }), []);
    assert.deepEqual(await list('obj/', { limit: 0 }), under);
    assert.deepEqual(await list('nothing/'), []);
    assert.deepEqual(await list(''), [...keys].sort());
    assert.deepEqual(await list('obj'), ['obj/', ...under.slice(1), 'obj0', 'objx']);

    /* Paging through everything, two at a time, visits each key once, in order. */
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await list('', after === undefined ? { limit: 2 } : { limit: 2, after });
      if (page.length === 0) break;
      paged.push(...page);
      after = page[page.length - 1];
    }
    assert.deepEqual(paged, [...keys].sort());
  });

  withStore('list orders keys by UTF-8 bytes, beyond ASCII', async (s) => {
    const keys = ['u/\u{1F600}', 'u/\uFFFD', 'u/é', 'u/z', 'u/\u{10000}'];
    for (const k of keys) await s.put(k, b('x'));
    const byBytes = [...keys].sort((x, y) => Buffer.compare(b(x), b(y)));
    assert.deepEqual((await s.list('u/')).map((e) => e.key), byBytes);
  });

  withStore('values round-trip byte-exactly (binary, empty, 1 MiB)', async (s) => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = randomBytes(1024 * 1024);
    const cases: [string, Uint8Array][] = [
      ['bin', all],
      ['empty', new Uint8Array(0)],
      ['big', big],
      ['view', new Uint8Array(all.buffer, all.byteOffset + 10, 20)],
    ];
    for (const [k, v] of cases) await s.put(k, v);
    for (const [k, v] of cases) {
      const e = await s.get(k);
      assert.ok(e, k);
      assert.ok(Buffer.from(v).equals(Buffer.from(e.value)), `value of ${k}`);
      assert.equal(e.value.length, v.length);
    }
    /* A value handed back is a copy: mutating it does not change the store. */
    const e = await s.get('bin');
    e!.value[0] = 0xff;
    assert.equal((await s.get('bin'))!.value[0], 0);
    /* And mutating what was put does not either. */
    const mine = Buffer.from('abc');
    await s.put('mine', mine);
    mine[0] = 0x7a;
    assert.equal(str((await s.get('mine'))!.value), 'abc');
  });

  withStore('txn compare: version-eq (0 = absent), exists, absent', async (s) => {
    let r = await s.txn([{ key: 'c', op: 'version-eq', version: 0 }], [{ op: 'put', key: 'c', value: b('1') }]);
    assert.equal(r.succeeded, true);
    assert.deepEqual(r.results, [undefined]);
    const v1 = (await s.get('c'))!.version;
    assert.equal(r.revision, v1);

    r = await s.txn([{ key: 'c', op: 'version-eq', version: 0 }], [{ op: 'put', key: 'c', value: b('X') }]);
    assert.equal(r.succeeded, false);
    assert.equal(str((await s.get('c'))?.value), '1');

    r = await s.txn([{ key: 'c', op: 'version-eq', version: v1 }], [{ op: 'put', key: 'c', value: b('2') }]);
    assert.equal(r.succeeded, true);
    assert.ok(r.revision > v1);
    r = await s.txn([{ key: 'c', op: 'version-eq', version: v1 }], [{ op: 'put', key: 'c', value: b('X') }]);
    assert.equal(r.succeeded, false);
    assert.equal(str((await s.get('c'))?.value), '2');

    assert.equal((await s.txn([{ key: 'c', op: 'exists' }], [])).succeeded, true);
    assert.equal((await s.txn([{ key: 'c', op: 'absent' }], [])).succeeded, false);
    assert.equal((await s.txn([{ key: 'nope', op: 'exists' }], [])).succeeded, false);
    assert.equal((await s.txn([{ key: 'nope', op: 'absent' }], [])).succeeded, true);
    /* No compares: always succeeds. */
    assert.equal((await s.txn([], [])).succeeded, true);
  });

  withStore('txn runs the failure branch, with get results', async (s) => {
    const v = await s.put('lock', b('held'));
    const r = await s.txn(
      [{ key: 'lock', op: 'absent' }],
      [{ op: 'put', key: 'lock', value: b('mine') }],
      [{ op: 'get', key: 'lock' }, { op: 'get', key: 'missing' }, { op: 'put', key: 'failed', value: b('yes') }],
    );
    assert.equal(r.succeeded, false);
    assert.equal(r.results.length, 3);
    assert.equal(str(r.results[0]?.value), 'held');
    assert.equal(r.results[0]?.version, v);
    assert.equal(r.results[0]?.key, 'lock');
    assert.equal(r.results[1], undefined);
    assert.equal(r.results[2], undefined);
    assert.equal(str((await s.get('failed'))?.value), 'yes');
    assert.equal(str((await s.get('lock'))?.value), 'held');
  });

  withStore('txn is atomic: a failing compare writes nothing; writes share one revision', async (s) => {
    await s.put('x', b('0'));
    const before = await s.put('y', b('0'));
    const r = await s.txn(
      [{ key: 'x', op: 'exists' }, { key: 'y', op: 'version-eq', version: before - 1 }],
      [{ op: 'put', key: 'x', value: b('1') }, { op: 'delete', key: 'y' }, { op: 'put', key: 'z', value: b('1') }],
    );
    assert.equal(r.succeeded, false);
    assert.equal(r.revision, before, 'a transaction that writes nothing leaves the revision alone');
    assert.equal(str((await s.get('x'))?.value), '0');
    assert.equal(str((await s.get('y'))?.value), '0');
    assert.equal(await s.get('z'), undefined);

    const ok = await s.txn(
      [{ key: 'x', op: 'exists' }, { key: 'y', op: 'version-eq', version: before }],
      [{ op: 'put', key: 'x', value: b('1') }, { op: 'delete', key: 'y' }, { op: 'put', key: 'z', value: b('1') }, { op: 'get', key: 'x' }],
    );
    assert.equal(ok.succeeded, true);
    assert.equal(ok.revision, before + 1);
    assert.equal((await s.get('x'))?.version, ok.revision);
    assert.equal((await s.get('z'))?.version, ok.revision);
    assert.equal(await s.get('y'), undefined);
    /* A get after a put in the same branch sees the put. */
    assert.equal(str(ok.results[3]?.value), '1');
  });

  withStore('txn refuses writing one key twice, and writes nothing', async (s) => {
    await assert.rejects(
      s.txn([], [{ op: 'put', key: 'd', value: b('1') }, { op: 'put', key: 'd', value: b('2') }]),
      { name: 'StoreError' },
    );
    assert.equal(await s.get('d'), undefined);
  });

  withStore('concurrent CAS from many promises: exactly one winner', async (s) => {
    const v = await s.put('counter', b('0'));
    const rs = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        s.txn([{ key: 'counter', op: 'version-eq', version: v }], [{ op: 'put', key: 'counter', value: b(`w${i}`) }]),
      ),
    );
    const winners = rs.map((r, i) => (r.succeeded ? i : -1)).filter((i) => i >= 0);
    assert.equal(winners.length, 1);
    assert.equal(str((await s.get('counter'))?.value), `w${winners[0]}`);

    /* And "create if absent" racing: one creator. */
    const cs = await Promise.all(
      Array.from({ length: 25 }, (_, i) => s.txn([{ key: 'fresh', op: 'absent' }], [{ op: 'put', key: 'fresh', value: b(`c${i}`) }])),
    );
    assert.equal(cs.filter((r) => r.succeeded).length, 1);
  });

  withStore('leases: grant, attach, revoke deletes the keys', async (s) => {
    const l1 = await s.grantLease(60_000);
    const l2 = await s.grantLease(60_000);
    assert.ok(l1 > 0 && l2 > 0 && l1 !== l2);
    await s.put('sess/a', b('a'), { lease: l1 });
    const t = await s.txn([], [{ op: 'put', key: 'sess/b', value: b('b'), lease: l1 }]);
    assert.equal(t.succeeded, true);
    await s.put('sess/c', b('c'), { lease: l2 });
    await s.put('tok/d', b('d'));
    assert.equal((await s.get('sess/a'))?.lease, l1);
    assert.equal((await s.get('tok/d'))?.lease, 0);

    await s.revokeLease(l1);
    assert.equal(await s.get('sess/a'), undefined);
    assert.equal(await s.get('sess/b'), undefined);
    assert.deepEqual((await s.list('')).map((e) => e.key), ['sess/c', 'tok/d']);
    assert.equal(await s.keepAlive(l1), false);
    assert.equal(await s.keepAlive(l2), true);
    /* Revoking again, or an id that never existed, is harmless. */
    await s.revokeLease(l1);
    await s.revokeLease(987654321);
    /* A revoked or unknown lease cannot take new keys, and the failed write leaves nothing. */
    await assert.rejects(s.put('sess/e', b('e'), { lease: l1 }), { name: 'StoreError' });
    await assert.rejects(s.txn([], [{ op: 'put', key: 'x1', value: b('1') }, { op: 'put', key: 'x2', value: b('2'), lease: l1 }]), { name: 'StoreError' });
    assert.equal(await s.get('x1'), undefined);
    await assert.rejects(s.grantLease(0), { name: 'StoreError' });
  });

  withStore('leases: expiry hides the keys; keepAlive extends', async (s) => {
    const advance = opts.advanceClock;
    if (advance) {
      const l = await s.grantLease(1000);
      await s.put('sess/x', b('x'), { lease: l });
      await s.put('keep', b('k'));
      advance(600);
      assert.equal(await s.keepAlive(l), true);
      advance(600);
      assert.equal(str((await s.get('sess/x'))?.value), 'x', 'keepAlive extended the lease');
      advance(1000);
      assert.equal(await s.get('sess/x'), undefined);
      assert.deepEqual((await s.list('')).map((e) => e.key), ['keep']);
      assert.equal((await s.txn([{ key: 'sess/x', op: 'absent' }], [])).succeeded, true);
      assert.equal((await s.txn([{ key: 'sess/x', op: 'version-eq', version: 0 }], [])).succeeded, true);
      assert.equal(await s.keepAlive(l), false);
      await assert.rejects(s.put('sess/y', b('y'), { lease: l }), { name: 'StoreError' });
      /* The expired key can be created afresh without a lease. */
      await s.put('sess/x', b('new'));
      assert.equal(str((await s.get('sess/x'))?.value), 'new');
    } else {
      const l = await s.grantLease(400);
      await s.put('sess/x', b('x'), { lease: l });
      assert.equal(await s.keepAlive(l), true);
      assert.equal(str((await s.get('sess/x'))?.value), 'x');
      await waitFor(async () => (await s.get('sess/x')) === undefined, 5000, 'the lease to expire');
      assert.deepEqual(await s.list('sess/'), []);
      assert.equal(await s.keepAlive(l), false);
    }
  });

  withStore('lease expiry is reported to watchers as delete, once purged', async (s) => {
    const events: WatchEvent[] = [];
    const stop = s.watch('sess/', (e) => events.push(e));
    try {
      const l = await s.grantLease(opts.advanceClock ? 1000 : 300);
      await s.put('sess/x', b('x'), { lease: l });
      if (opts.advanceClock) opts.advanceClock(2000);
      else await waitFor(async () => (await s.get('sess/x')) === undefined, 5000, 'the lease to expire');
      /* Purging is lazy: any write does it. */
      await s.put('other', b('o'));
      await waitFor(() => events.length >= 2, 3000, 'the put and delete events');
      assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), ['put sess/x', 'delete sess/x']);
      assert.ok(events[1]!.revision > events[0]!.revision);
    } finally {
      stop();
    }
  });

  withStore('watch reports put and delete under the prefix only, in order', async (s) => {
    const events: WatchEvent[] = [];
    const all: WatchEvent[] = [];
    await s.put('w/before', b('0'));
    const stop = s.watch('w/', (e) => events.push(e));
    const stopAll = s.watch('', (e) => all.push(e));
    try {
      const v1 = await s.put('w/a', b('1'));
      await s.put('x/b', b('2'));
      await s.delete('w/a');
      await s.txn([], [{ op: 'put', key: 'w/c', value: b('3') }, { op: 'put', key: 'w/d', value: b('4') }]);
      await waitFor(() => events.length >= 4, 3000, 'four watch events');
      await waitFor(() => all.length >= 5, 3000, 'five watch events');
      /* Nothing else trickles in afterwards (wait longer than a polling interval). */
      await sleep(250);
      assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), ['put w/a', 'delete w/a', 'put w/c', 'put w/d']);
      assert.equal(events[0]!.revision, v1);
      assert.equal(events[2]!.revision, events[3]!.revision, 'one transaction, one revision');
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.revision >= events[i - 1]!.revision);
      assert.deepEqual(all.map((e) => `${e.type} ${e.key}`), ['put w/a', 'put x/b', 'delete w/a', 'put w/c', 'put w/d']);
    } finally {
      stop();
      stopAll();
    }
    /* After stopping, nothing more arrives. */
    const n = events.length;
    await s.put('w/after', b('5'));
    await sleep(250);
    assert.equal(events.length, n);
  });

  withStore('a throwing watch listener does not break writes', async (s) => {
    const got: string[] = [];
    const warnings: string[] = [];
    /* Backends report a throwing listener as a process warning; capture it instead of printing it. */
    const emitWarning = process.emitWarning;
    process.emitWarning = ((w: string | Error) => void warnings.push(String(w))) as typeof process.emitWarning;
    const stop1 = s.watch('t/', () => {
      throw new Error('listener bug');
    });
    const stop2 = s.watch('t/', (e) => got.push(e.key));
    try {
      await s.put('t/1', b('1'));
      await s.put('t/2', b('2'));
      await waitFor(() => got.length >= 2, 3000, 'events');
      assert.deepEqual(got, ['t/1', 't/2']);
      assert.ok(warnings.length >= 2 && warnings.every((w) => w.includes('listener bug')), warnings.join('; '));
    } finally {
      stop1();
      stop2();
      process.emitWarning = emitWarning;
    }
  });

  withStore('watch from a revision reports every change after it, then follows live writes', async (s) => {
    const r0 = await s.put('h/0', b('0'));
    const r1 = await s.put('h/1', b('1'));
    await s.delete('h/0');
    const events: WatchEvent[] = [];
    const stop = s.watch('h/', (e) => events.push(e), { fromRevision: r0 });
    try {
      await s.put('h/2', b('2'));
      await waitFor(() => events.length >= 3, 3000, 'replayed and live events');
      assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), ['put h/1', 'delete h/0', 'put h/2']);
      assert.equal(events[0]!.revision, r1);
    } finally {
      stop();
    }
  });

  withStore('watch progress reaches the revision of a transaction soon after it resolves, with no event missing', async (s) => {
    let progress = 0;
    const seen: number[] = [];
    const wrong: string[] = [];
    const stop = s.watch('p/', (e) => {
      if (e.revision <= progress) wrong.push(`event at ${e.revision} after progress ${progress}`);
      seen.push(e.revision);
    }, { onProgress: (r) => { if (r < progress) wrong.push(`progress went back from ${progress} to ${r}`); progress = r; } });
    try {
      const r = await s.put('p/a', b('a'));
      const t = await s.txn([], [{ op: 'put', key: 'q/x', value: b('x') }]);
      await waitFor(() => progress >= t.revision, 3000, `progress to revision ${t.revision}`);
      assert.deepEqual(seen, [r]);
      /* Idle: progress still arrives for a reader that asks for the current revision. */
      const now = (await s.txn([], [])).revision;
      assert.equal(now, t.revision);
      await waitFor(() => progress >= now, 3000, 'progress while idle');
      assert.deepEqual(wrong, []);
    } finally {
      stop();
    }
  });

  if (opts.compact) {
    const compact = opts.compact;
    withStore('a watch from a revision the store no longer keeps ends with StoreCompactedError', async (s) => {
      const r0 = await s.put('c/0', b('0'));
      for (let i = 1; i <= 5; i++) await s.put(`c/${i}`, b(String(i)));
      await compact(s);
      const errors: StoreError[] = [];
      const events: WatchEvent[] = [];
      const stop = s.watch('c/', (e) => events.push(e), { fromRevision: r0, onError: (e) => errors.push(e) });
      try {
        await waitFor(() => errors.length > 0, 3000, 'the compaction error');
        assert.equal(errors[0]!.name, 'StoreCompactedError');
        assert.match(errors[0]!.message, /no longer kept/);
        assert.deepEqual(events, [], 'no partial history is reported');
        /* Watching from now on works. */
        const ok: WatchEvent[] = [];
        const stop2 = s.watch('c/', (e) => ok.push(e));
        await s.put('c/new', b('n'));
        await waitFor(() => ok.length >= 1, 3000, 'a live event after resync');
        stop2();
      } finally {
        stop();
      }
    });
  }

  if (opts.compact) {
    const compact = opts.compact;
    withStore('after a compaction error, a fresh read and a watch from its revision miss nothing', async (s) => {
      const r1 = await s.put('r/a', b('1'));
      await s.put('r/b', b('2'));
      await s.put('r/a', b('3'));
      await compact(s);
      const errors: StoreError[] = [];
      s.watch('r/', () => assert.fail('no event from a compacted history'), { fromRevision: r1, onError: (e) => errors.push(e) });
      await waitFor(() => errors.length > 0, 3000, 'the compaction error');
      await sleep(100);
      assert.equal(errors.length, 1, 'one error, then the watch has stopped');
      assert.equal(errors[0]!.name, 'StoreCompactedError');

      /* Resync: read the state afresh, then watch from the revision of that read. */
      assert.deepEqual((await s.list('r/')).map((e) => `${e.key}=${str(e.value)}`), ['r/a=3', 'r/b=2']);
      const at = (await s.txn([], [])).revision;
      const rz = await s.put('r/z', b('written between the read and the watch'));
      const events: WatchEvent[] = [];
      const stop = s.watch('r/', (e) => events.push(e), { fromRevision: at, onError: (e) => assert.fail(e) });
      try {
        await s.delete('r/b');
        await waitFor(() => events.length >= 2, 3000, 'the events after the resync');
        await sleep(250);
        assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), ['put r/z', 'delete r/b']);
        assert.equal(events[0]!.revision, rz);
      } finally {
        stop();
      }
    });
  }

  withStore('a closed store refuses work', async (s) => {
    await s.put('a', b('1'));
    await s.close();
    await assert.rejects(s.get('a'), { name: 'StoreError' });
    await assert.rejects(s.put('a', b('2')), { name: 'StoreError' });
    /* close is idempotent (withStore closes again). */
  });
}
