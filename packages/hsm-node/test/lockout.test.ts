/**
 * Lockout with real node processes on one real SQLite store: many wrong
 * passwords sent at once over every node are reserved in the store before
 * they are checked, so no more than the limit are ever checked, the account
 * locks, and the right password afterwards is refused with 0xA4.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import * as P from '../../protocol/src/pkcs11.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import { startCluster, connectNode, EXAMPLE_CO, type LocalCluster } from '../../cli/src/cluster.js';

/** The partition's default limit (the core's DEFAULT_CONFIG). */
const LIMIT = 5;
const ATTEMPTS = 45;

let dir: string;
let cluster: LocalCluster;
const clients: ProtocolClient[] = [];

async function client(node: number): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(node).port, cluster.poCrt);
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
  /* One connection per attempt, spread over the three nodes, all connected before any is sent. */
  const conns = await Promise.all(Array.from({ length: ATTEMPTS }, (_, i) => client((i % 3) + 1)));
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
