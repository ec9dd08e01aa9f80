/**
 * Lockout with real node processes on one real SQLite store: many wrong
 * passwords sent at once over every node are reserved in the store before
 * they are checked, so no more than the limit are ever checked, the account
 * locks, and the right password afterwards is refused with 0xA4. Attempts
 * that nobody could count (unknown names, a locked account) write nothing to
 * the store.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { startCluster, connectNode, EXAMPLE_CO, EXAMPLE_CU, type LocalCluster } from '../../testkit/src/cluster.js';

/** The partition's default limit (the core's DEFAULT_CONFIG). */
const LIMIT = 5;
const ATTEMPTS = 45;

let dir: string;
let cluster: LocalCluster;
const clients: ProtocolClient[] = [];

/** A connection to a node, from a chosen loopback source address (the sign-in delay is per source). */
async function client(node: number, from?: string): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(node).port, cluster.poCrt, '127.0.0.1', from);
  clients.push(c);
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-lockout-'));
  cluster = await startCluster(dir);
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`${ATTEMPTS} concurrent wrong passwords over three nodes: at most ${LIMIT} are checked, the account locks, the right one is refused`, async () => {
  const co = await client(1);
  await co.request('login', EXAMPLE_CO);
  await co.request('createUser', { role: 'CU', user: 'cuv', password: 'victim123' });
  /* One connection per attempt, each from its own source address (so the per-source delay does not serialise them), spread over the three nodes, all connected before any is sent. */
  const conns = await Promise.all(Array.from({ length: ATTEMPTS }, (_, i) => client((i % 3) + 1, `127.0.1.${i + 1}`)));
  const results = await Promise.allSettled(conns.map((c, i) => c.request('login', { user: 'cuv', password: `wrong-${i}` })));
  const codes = results.map((r) => (r.status === 'rejected' ? (r.reason instanceof HsmError ? r.reason.code : String(r.reason)) : 'ok'));
  const checked = codes.filter((c) => c === 'ERR_LOGIN_FAILED').length;
  const refused = codes.filter((c) => c === 'ERR_ACCOUNT_LOCKED').length;
  assert.equal(checked + refused, ATTEMPTS, `unexpected answers: ${codes.join(',')}`);
  assert.equal(checked, LIMIT, `${checked} wrong passwords were checked`);

  /* The store's audit chain agrees: exactly LIMIT checked failures for this user. */
  const { records } = await co.request('auditRecords', { fromSeq: 1, limit: 100000 });
  const failed = records.filter((r: { user: string; action: string; result: string }) => r.user === 'cuv' && r.action === 'login' && r.result === 'ERR_LOGIN_FAILED');
  assert.equal(failed.length, LIMIT);

  const info = (await co.request('listUsers', {})).users.find((u: { user: string }) => u.user === 'cuv');
  assert.equal(info?.locked, true);
  assert.equal(info?.failures, LIMIT);
  for (const n of [1, 2, 3]) {
    const c = await client(n);
    await assert.rejects(c.request('login', { user: 'cuv', password: 'victim123' }), (e: unknown) =>
      e instanceof HsmError && e.code === 'ERR_ACCOUNT_LOCKED' && e.ckrv === P.CKR_PIN_LOCKED && /locked/.test(e.message));
  }
  /* A CO unlocks; the right password then works on every node and clears the count. */
  await co.request('unlockUser', { user: 'cuv' });
  for (const n of [1, 2, 3]) assert.equal((await (await client(n)).request('login', { user: 'cuv', password: 'victim123' })).user, 'cuv');
});

test('one source flooding wrong passwords is slowed and refused by itself; the account is not locked, other sources are not delayed', async () => {
  const co = await client(1);
  await co.request('login', EXAMPLE_CO);
  await co.request('createUser', { role: 'CU', user: 'cux', password: 'target123' });
  const attacker = await Promise.all(Array.from({ length: 20 }, () => client(1, '127.0.2.1')));
  const flood = Promise.allSettled(attacker.map((c, i) => c.request('login', { user: 'cux', password: `wrong-${i}` })));
  /* While the flood is queued, another source signs in at once, and a typo there costs that source only its own delay. */
  const other = await client(1, '127.0.2.2');
  await assert.rejects(other.request('login', { user: 'cu1', password: 'typo1234' }), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED');
  assert.equal((await other.request('login', { user: 'cu1', password: 'user1234' })).user, 'cu1');
  const codes = (await flood).map((r) => (r.status === 'rejected' ? (r.reason instanceof HsmError ? r.reason.code : String(r.reason)) : 'ok'));
  const checked = codes.filter((c) => c === 'ERR_LOGIN_FAILED').length;
  const limited = codes.filter((c) => c === 'ERR_LIMIT').length;
  assert.equal(checked + limited, 20, codes.join(','));
  assert.ok(checked < LIMIT, `${checked} of the flood were checked`);
  assert.ok(limited > 0);
  const info = (await co.request('listUsers', {})).users.find((u: { user: string }) => u.user === 'cux');
  assert.equal(info?.locked, false, 'the flood did not lock the account');
  assert.equal(info?.failures, checked);
  /* The flooding address is held back for that account only: another account signs in from it at once. */
  assert.equal((await attacker[1]!.request('login', EXAMPLE_CU)).user, 'cu1');
  /* The owner, from elsewhere, signs in at once. */
  assert.equal((await (await client(2, '127.0.2.3')).request('login', { user: 'cux', password: 'target123' })).user, 'cux');
});

/** What the SQLite store holds: entries and their bytes, the change log, the revision (read beside the running nodes). */
function storeFootprint(): { entries: number; bytes: number; changes: number; revision: number } {
  const db = new Database(join(dir, 'data', 'partition.db'), { readonly: true, fileMustExist: true });
  try {
    const kv = db.prepare('SELECT count(*) AS n, coalesce(sum(length(key) + length(value)), 0) AS b FROM kv').get() as { n: number; b: number };
    const changes = (db.prepare('SELECT count(*) AS n FROM changes').get() as { n: number }).n;
    const revision = (db.prepare('SELECT revision FROM meta WHERE id = 0').get() as { revision: number }).revision;
    return { entries: kv.n, bytes: kv.b, changes, revision };
  } finally {
    db.close();
  }
}

test('a stranger\'s flood writes nothing to the store: 60 unknown user names and 60 attempts on a locked account over three nodes; the real users still sign in', async () => {
  const co = await client(1);
  await co.request('login', EXAMPLE_CO);
  await co.request('createUser', { role: 'CU', user: 'cul', password: 'locked123' });
  const lockers = await Promise.all(Array.from({ length: LIMIT }, (_, i) => client((i % 3) + 1, `127.0.3.${i + 1}`)));
  for (const c of lockers) await assert.rejects(c.request('login', { user: 'cul', password: 'wrong-pass' }), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED');
  const before = storeFootprint();
  const strangers = await Promise.all([1, 2, 3].map((n) => client(n, `127.0.3.${100 + n}`)));
  const unknown = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => strangers[i % 3]!.request('login', { user: `nobody${i}`, password: 'guess1234' })));
  const onLocked = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => strangers[i % 3]!.request('login', { user: 'cul', password: i % 2 ? 'locked123' : 'guess1234' })));
  const code = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason instanceof HsmError ? r.reason.code : String(r.reason)) : 'ok');
  assert.deepEqual([...new Set(unknown.map(code))], ['ERR_LOGIN_FAILED']);
  assert.deepEqual([...new Set(onLocked.map(code))], ['ERR_ACCOUNT_LOCKED']);
  assert.deepEqual(storeFootprint(), before, 'no entry, byte, change or revision was added');
  /* The real users are not affected; a CO's unlock then lets the locked one in. */
  assert.equal((await (await client(2)).request('login', EXAMPLE_CU)).user, 'cu1');
  await co.request('unlockUser', { user: 'cul' });
  assert.equal((await (await client(3)).request('login', { user: 'cul', password: 'locked123' })).user, 'cul');
});
