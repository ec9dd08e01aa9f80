/**
 * Properties of the barrier (docs/storage-format.md), after Vault's barrier
 * tests: confidentiality, integrity, move integrity, unique IVs, wrong key,
 * rotation across processes, reserved metadata, unknown format versions, and
 * CAS through the barrier. Every property is checked over both backends.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import { StoreError, StoreNoQuorumError, type KeyValueStore } from '../../store/src/types.js';
import { MemoryStore } from '../../store/src/memory.js';
import { SqliteStore } from '../../store/src/sqlite.js';
import {
  Barrier, seal, unseal, BARRIER_PREFIX, CHECK_PATH, SALT_PATH, SEAL_OVERHEAD, TERM_PATH,
} from '../src/barrier/barrier.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const backends: [string, () => KeyValueStore][] = [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => {
    const d = mkdtempSync(join(tmpdir(), 'ochsm-barrier-'));
    dirs.push(d);
    return SqliteStore.open(join(d, 'store.db'));
  }],
];

const barrierError = (fragment?: string) => (e: unknown) =>
  e instanceof HsmError && e.code === 'ERR_BARRIER' && (fragment === undefined || e.message.includes(fragment));
const integrity = (path: string) => barrierError(`stored value at ${path} failed integrity check`);

const b = (s: string) => Buffer.from(s, 'utf8');

for (const [name, makeStore] of backends) {
  const t = (title: string, fn: (store: KeyValueStore, key: Buffer) => Promise<void>) =>
    test(`barrier over ${name}: ${title}`, { timeout: 60_000 }, async () => {
      const store = makeStore();
      try {
        await fn(store, randomBytes(32));
      } finally {
        await store.close();
      }
    });

  t('confidentiality: the stored bytes do not contain the plaintext', async (store, key) => {
    const bar = await Barrier.open(store, key);
    const secret = b('TOP-SECRET-KEY-MATERIAL-0123456789');
    await bar.put('obj/0000262144', secret);
    const raw = (await store.get('obj/0000262144'))!.value;
    assert.equal(Buffer.from(raw).indexOf(secret), -1);
    assert.equal(Buffer.from(raw).indexOf(secret.subarray(0, 8)), -1);
    assert.equal(raw.length, secret.length + SEAL_OVERHEAD);
    assert.equal(raw[0], 1, 'format version');
    assert.equal(Buffer.from(raw).readUInt32BE(1), 1, 'term');
    const got = await bar.get('obj/0000262144');
    assert.ok(got!.value.equals(secret));
    assert.equal(got!.version, (await store.get('obj/0000262144'))!.version);
    /* Nor does the barrier metadata hold the masking key. */
    for (const e of await store.list(BARRIER_PREFIX)) assert.equal(Buffer.from(e.value).indexOf(key), -1);
  });

  t('integrity: flipping any single byte of the stored value fails the read', async (store, key) => {
    const bar = await Barrier.open(store, key);
    const path = 'user/alice';
    await bar.put(path, b('{"role":"CU","hash":"scrypt$..."}'));
    const raw = Buffer.from((await store.get(path))!.value);
    for (let i = 0; i < raw.length; i++) {
      const bad = Buffer.from(raw);
      bad[i] ^= 0x01;
      await store.put(path, bad);
      await assert.rejects(bar.get(path), barrierError(path), `byte ${i}`);
    }
    /* Truncated and extended values fail too. */
    for (const bad of [raw.subarray(0, raw.length - 1), raw.subarray(0, SEAL_OVERHEAD - 1), Buffer.alloc(0), Buffer.concat([raw, Buffer.from([0])])]) {
      await store.put(path, bad);
      await assert.rejects(bar.get(path), barrierError(path));
    }
    await store.put(path, raw);
    assert.equal((await bar.get(path))!.value.toString(), '{"role":"CU","hash":"scrypt$..."}');
  });

  t('moved ciphertext: a value copied to another path does not read', async (store, key) => {
    const bar = await Barrier.open(store, key);
    await bar.put('obj/0000262144', b('key A'));
    await bar.put('obj/0000262145', b('key B'));
    await store.put('obj/0000262145', (await store.get('obj/0000262144'))!.value);
    await assert.rejects(bar.get('obj/0000262145'), integrity('obj/0000262145'));
    assert.equal((await bar.get('obj/0000262144'))!.value.toString(), 'key A');
  });

  t('unique IVs: 1000 writes of one value give 1000 distinct IVs and ciphertexts', async (store, key) => {
    const bar = await Barrier.open(store, key);
    const ivs = new Set<string>();
    const cts = new Set<string>();
    const value = b('the same plaintext every time');
    for (let i = 0; i < 1000; i++) {
      await bar.put('idem/r', value);
      const raw = Buffer.from((await store.get('idem/r'))!.value);
      ivs.add(raw.subarray(5, 17).toString('hex'));
      cts.add(raw.subarray(17).toString('hex'));
    }
    assert.equal(ivs.size, 1000);
    assert.equal(cts.size, 1000);
  });

  t('a wrong masking key is refused at open, and cannot read values', async (store, key) => {
    const bar = await Barrier.open(store, key);
    await bar.put('obj/0000262144', b('secret'));
    const wrong = Buffer.from(key);
    wrong[31] ^= 0x80;
    await assert.rejects(Barrier.open(store, wrong), barrierError('masking key does not match this store'));
    await assert.rejects(Barrier.open(store, key.subarray(0, 16)), barrierError('masking key must be 32 bytes'));

    /* Even past the check value, a value sealed under a different key does not unseal. */
    const raw = (await store.get('obj/0000262144'))!.value;
    assert.throws(() => unseal(() => randomBytes(32), 'obj/0000262144', raw), integrity('obj/0000262144'));
  });

  t('opening races: several barriers opened at once agree on one salt and term', async (store, key) => {
    const bars = await Promise.all(Array.from({ length: 8 }, () => Barrier.open(store, key)));
    await bars[3]!.put('sys/counter', b('42'));
    for (const bar of bars) {
      assert.equal(bar.activeTerm(), 1);
      assert.equal((await bar.get('sys/counter'))!.value.toString(), '42');
    }
    assert.deepEqual((await store.list(BARRIER_PREFIX)).map((e) => e.key), [CHECK_PATH, SALT_PATH, TERM_PATH]);
    assert.equal(Buffer.from((await store.get(TERM_PATH))!.value).toString(), '1');
  });

  t('rotation: old terms still read, new writes use the new term, other instances follow', async (store, key) => {
    const a = await Barrier.open(store, key);
    const other = await Barrier.open(store, key);
    await a.put('obj/0000000001', b('written in term 1'));
    assert.equal(a.activeTerm(), 1);

    assert.equal(await a.rotate(), 2);
    assert.equal(a.activeTerm(), 2);
    assert.equal(Buffer.from((await store.get(TERM_PATH))!.value).toString(), '2');
    assert.equal((await a.get('obj/0000000001'))!.value.toString(), 'written in term 1');
    await a.put('obj/0000000002', b('written in term 2'));
    assert.equal(Buffer.from((await store.get('obj/0000000002'))!.value).readUInt32BE(1), 2);

    /* The other instance has not noticed yet; reading a term-2 value makes it reload. */
    assert.equal(other.activeTerm(), 1);
    assert.equal((await other.get('obj/0000000002'))!.value.toString(), 'written in term 2');
    assert.equal(other.activeTerm(), 2);
    await other.put('obj/0000000003', b('also term 2'));
    assert.equal(Buffer.from((await store.get('obj/0000000003'))!.value).readUInt32BE(1), 2);

    /* A fresh instance starts on the active term. */
    const fresh = await Barrier.open(store, key);
    assert.equal(fresh.activeTerm(), 2);
    assert.equal((await fresh.get('obj/0000000001'))!.value.toString(), 'written in term 1');

    /* Concurrent rotations each add one term; none is lost. */
    const terms = await Promise.all([a.rotate(), other.rotate(), fresh.rotate()]);
    assert.deepEqual([...terms].sort(), [3, 4, 5]);
    assert.equal(Buffer.from((await store.get(TERM_PATH))!.value).toString(), '5');
    for (const p of ['obj/0000000001', 'obj/0000000002', 'obj/0000000003']) assert.ok(await fresh.get(p));
  });

  t('a value claiming a term beyond the published one is refused', async (store, key) => {
    const bar = await Barrier.open(store, key);
    /* Sealed correctly with a term-7 key, but term 7 was never published. */
    const { hkdfSync } = await import('node:crypto');
    const salt = Buffer.from((await store.get(SALT_PATH))!.value);
    const k7 = Buffer.from(hkdfSync('sha256', key, salt, 'ochsm barrier term 7', 32));
    await store.put('obj/0000000009', seal(k7, 7, 'obj/0000000009', b('x')));
    await assert.rejects(bar.get('obj/0000000009'), integrity('obj/0000000009'));
    /* Once term 7 is published (rotations), the same value reads: terms are derived, not stored. */
    for (let i = 0; i < 6; i++) await bar.rotate();
    assert.equal((await bar.get('obj/0000000009'))!.value.toString(), 'x');
  });

  t('writes and reads under sys/barrier/ are refused; listing skips them', async (store, key) => {
    const bar = await Barrier.open(store, key);
    const before = (await store.get(TERM_PATH))!.version;
    await assert.rejects(bar.put(TERM_PATH, b('1')), barrierError('reserved'));
    await assert.rejects(bar.put('sys/barrier/anything', b('1')), barrierError('reserved'));
    await assert.rejects(bar.delete(SALT_PATH), barrierError('reserved'));
    await assert.rejects(bar.get(SALT_PATH), barrierError('reserved'));
    await assert.rejects(bar.txn([], [{ op: 'put', key: CHECK_PATH, value: b('x') }]), barrierError('reserved'));
    await assert.rejects(bar.txn([], [], [{ op: 'delete', key: TERM_PATH }]), barrierError('reserved'));
    assert.equal((await store.get(TERM_PATH))!.version, before);
    assert.ok(await store.get(SALT_PATH));
    /* Node heartbeats (the replication metric) are plain store entries under sys/probe/: reserved the same way. */
    await store.put('sys/probe/2/1700000000000', b('\x01'));
    await assert.rejects(bar.get('sys/probe/2/1700000000000'), barrierError('reserved'));
    await assert.rejects(bar.put('sys/probe/1/1', b('x')), barrierError('reserved'));

    /* Other sys/ paths are ordinary masked values, listed without the metadata. */
    await bar.put('sys/a', b('A'));
    await bar.put('sys/z', b('Z'));
    assert.deepEqual((await bar.list('sys/')).map((e) => e.key), ['sys/a', 'sys/z']);
    assert.deepEqual((await bar.list('sys/', { limit: 2 })).map((e) => e.key), ['sys/a', 'sys/z']);
    assert.deepEqual((await bar.list('', { limit: 1, after: 'sys/a' })).map((e) => e.key), ['sys/z']);
    assert.deepEqual((await bar.list('')).map((e) => e.value.toString()), ['A', 'Z']);
  });

  t('a format version byte other than 1 is refused', async (store, key) => {
    const bar = await Barrier.open(store, key);
    await bar.put('audit/000000000001', b('record'));
    const raw = Buffer.from((await store.get('audit/000000000001'))!.value);
    for (const v of [0, 2, 0xff]) {
      const bad = Buffer.from(raw);
      bad[0] = v;
      await store.put('audit/000000000001', bad);
      await assert.rejects(bar.get('audit/000000000001'), barrierError(`unknown barrier format version ${v}`));
    }
  });

  t('txn through the barrier: CAS on a masked value', async (store, key) => {
    const bar = await Barrier.open(store, key);
    const path = 'sys/next-handle';
    const v1 = await bar.put(path, b('262144'));
    const cur = (await bar.get(path))!;
    assert.equal(cur.version, v1);

    const ok = await bar.txn(
      [{ key: path, op: 'version-eq', version: cur.version }],
      [{ op: 'put', key: path, value: b('262145') }, { op: 'put', key: 'obj/0000262144', value: b('new key') }, { op: 'get', key: path }],
      [{ op: 'get', key: path }],
    );
    assert.equal(ok.succeeded, true);
    assert.equal(ok.results[2]!.value.toString(), '262145');
    assert.equal((await bar.get('obj/0000262144'))!.value.toString(), 'new key');

    /* A stale CAS loses and gets the current, unmasked value from the failure branch. */
    const lost = await bar.txn(
      [{ key: path, op: 'version-eq', version: cur.version }],
      [{ op: 'put', key: path, value: b('999') }],
      [{ op: 'get', key: path }],
    );
    assert.equal(lost.succeeded, false);
    assert.equal(lost.results[0]!.value.toString(), '262145');
    assert.equal(lost.results[0]!.version, ok.revision);
    assert.equal((await bar.get(path))!.value.toString(), '262145');

    /* Concurrent CAS increments through the barrier: exactly one winner. */
    const now = (await bar.get(path))!;
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      bar.txn([{ key: path, op: 'version-eq', version: now.version }], [{ op: 'put', key: path, value: b(`w${i}`) }])));
    assert.equal(rs.filter((r) => r.succeeded).length, 1);

    /* Leases pass through: a session object vanishes with its lease. */
    const lease = await store.grantLease(60_000);
    await bar.put('obj/0000262199', b('session key'), { lease });
    await bar.txn([], [{ op: 'put', key: 'obj/0000262198', value: b('session key 2'), lease }]);
    assert.equal((await bar.get('obj/0000262199'))!.lease, lease);
    await store.revokeLease(lease);
    assert.equal(await bar.get('obj/0000262199'), undefined);
    assert.equal(await bar.get('obj/0000262198'), undefined);
  });

  t('damaged barrier metadata is refused at open; store failures become ERR_STORE', async (store, key) => {
    await Barrier.open(store, key);
    await store.put(TERM_PATH, b('01'));
    await assert.rejects(Barrier.open(store, key), barrierError(TERM_PATH));
    await store.put(TERM_PATH, b('1'));
    await store.delete(CHECK_PATH);
    await assert.rejects(Barrier.open(store, key), barrierError(CHECK_PATH));
    await store.close();
    await assert.rejects(Barrier.open(store, key), (e: unknown) => e instanceof HsmError && e.code === 'ERR_STORE');
  });
}

test('seal/unseal: the pure format round-trips, and refuses the wrong path, term or key', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const keys = new Map([[1, k1], [2, k2]]);
  const keyFor = (t: number) => keys.get(t);
  for (const pt of [Buffer.alloc(0), b('x'), randomBytes(100_000)]) {
    const s = seal(k2, 2, 'obj/0000000001', pt);
    assert.equal(s.length, pt.length + SEAL_OVERHEAD);
    assert.ok(unseal(keyFor, 'obj/0000000001', s).equals(pt));
    assert.throws(() => unseal(keyFor, 'obj/0000000002', s), integrity('obj/0000000002'));
    /* Relabel the term: header is authenticated, and the key changes too. */
    const relabeled = Buffer.from(s);
    relabeled.writeUInt32BE(1, 1);
    assert.throws(() => unseal(keyFor, 'obj/0000000001', relabeled), integrity('obj/0000000001'));
    assert.throws(() => unseal(() => undefined, 'obj/0000000001', s), integrity('obj/0000000001'));
  }
  /* Paths are UTF-8 in the AAD. */
  const s = seal(k1, 1, 'user/zoë', b('v'));
  assert.equal(unseal(keyFor, 'user/zoë', s).toString(), 'v');
  assert.throws(() => unseal(keyFor, 'user/zoe', s), integrity('user/zoe'));
  /* Misuse is a TypeError, not a barrier error. */
  assert.throws(() => seal(k1.subarray(0, 16), 1, 'p', b('v')), TypeError);
  assert.throws(() => seal(k1, 0, 'p', b('v')), TypeError);
  assert.throws(() => seal(k1, 2 ** 32, 'p', b('v')), TypeError);
});

test('error messages never contain key material', async () => {
  const store = new MemoryStore();
  const key = randomBytes(32);
  try {
    await Barrier.open(store, key);
    const wrong = randomBytes(32);
    const errors: unknown[] = [];
    await Barrier.open(store, wrong).catch((e) => errors.push(e));
    const bar = await Barrier.open(store, key);
    await bar.put('obj/0000000001', b('plain secret value'));
    const raw = Buffer.from((await store.get('obj/0000000001'))!.value);
    raw[raw.length - 1] ^= 1;
    await store.put('obj/0000000001', raw);
    await bar.get('obj/0000000001').catch((e) => errors.push(e));
    assert.equal(errors.length, 2);
    for (const e of errors) {
      const m = (e as Error).message + String((e as Error).stack);
      for (const k of [key, wrong]) {
        assert.ok(!m.includes(k.toString('hex')) && !m.includes(k.toString('base64')));
      }
      assert.ok(!m.includes('plain secret value'));
    }
  } finally {
    await store.close();
  }
});

test('a store refusal for want of a quorum (nothing written) is ERR_NODE_BEHIND, retryable on another node; any other store failure stays ERR_STORE', async () => {
  const inner = new MemoryStore();
  let fail: Error | undefined;
  const store = new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'txn' && typeof v === 'function') {
        return (...a: unknown[]) => (fail ? Promise.reject(fail) : (v as (...x: unknown[]) => unknown).apply(target, a));
      }
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
    },
  }) as KeyValueStore;
  const bar = await Barrier.open(store, randomBytes(32));
  fail = new StoreNoQuorumError('etcd: 14 UNAVAILABLE: etcdserver: no leader');
  await assert.rejects(bar.txn([], []), (e: unknown) => e instanceof HsmError && e.code === 'ERR_NODE_BEHIND' && /cannot reach a quorum of the store .*no leader.*nothing was written/.test(e.message));
  fail = new StoreError('etcd: deadline exceeded');
  await assert.rejects(bar.txn([], []), (e: unknown) => e instanceof HsmError && e.code === 'ERR_STORE');
  fail = undefined;
  assert.ok((await bar.txn([], [])).revision >= 0);
});
