/**
 * What a sign-in writes to the store. Attempts nobody can count (an unknown
 * user name, an account already locked) write nothing, so a stranger's flood
 * cannot grow the store; they are told to onRefusedSignIn (the node's log).
 * A wrong password on an unlocked account keeps its reservation (the lockout
 * count) and its audit record; a success is the reservation and its release.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { HsmError } from '../../protocol/src/errors.js';
import { MemoryStore } from '../../store/src/memory.js';
import { Partition, type CallContext, type RefusedSignIn } from '../src/partition.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };
const is = (code: string) => (e: unknown) => e instanceof HsmError && e.code === code;

async function setup() {
  const store = new MemoryStore();
  const refused: RefusedSignIn[] = [];
  const p = await Partition.open({ store, maskingKey: crypto.randomBytes(32), config: FAST, onRefusedSignIn: (e) => refused.push(e) });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  await p.createUser(co, 'CU', 'cu2', 'user5678');
  /* What the store holds: every entry and the revision (every committed transaction moves it). */
  const footprint = async () => {
    const entries = await store.list('');
    return { entries: entries.length, bytes: entries.reduce((n, e) => n + e.key.length + e.value.length, 0), revision: await p.state.currentRevision() };
  };
  return { p, co, refused, footprint };
}

test('unknown user names: 50 attempts write nothing to the store and are told to the node; the real user still signs in', async () => {
  const { p, refused, footprint } = await setup();
  const before = await footprint();
  for (let i = 0; i < 50; i++) await assert.rejects(p.login(`stranger${i}`, 'guess1234'), is('ERR_LOGIN_FAILED'));
  await assert.rejects(p.login('x'.repeat(300), 'guess1234'), is('ERR_LOGIN_FAILED'));
  assert.deepEqual(await footprint(), before, 'no entry, no byte, no transaction');
  assert.equal(refused.length, 51);
  assert.deepEqual(refused[0], { user: 'stranger0', reason: 'unknown user' });
  assert.equal(refused[50]!.user.length, 64, 'the name is cut to 64 characters');
  assert.deepEqual(await p.login('cu1', 'user1234'), { user: 'cu1', role: 'CU' });
});

test('a locked account: the attempts up to the lock are written (the count), every later one writes nothing; a CO unlocks and the user signs in', async () => {
  const { p, co, refused, footprint } = await setup();
  const start = await footprint();
  for (let i = 0; i < 5; i++) await assert.rejects(p.login('cu2', 'wrong-pass'), is('ERR_LOGIN_FAILED'));
  const locked = await footprint();
  /* Each counted failure: the reservation, then its audit record. */
  assert.equal(locked.revision - start.revision, 10);
  assert.equal((await p.getUserInfo('cu2')).locked, true);
  for (let i = 0; i < 40; i++) await assert.rejects(p.login('cu2', i % 2 ? 'wrong-pass' : 'user5678'), is('ERR_ACCOUNT_LOCKED'));
  assert.deepEqual(await footprint(), locked, 'attempts on a locked account grow nothing');
  assert.equal(refused.filter((r) => r.user === 'cu2' && r.reason === 'account locked').length, 40);
  /* The lock itself is in the audit chain, with its last attempt. */
  const recs = await p.auditRecords();
  assert.match(recs.at(-1)!.detail ?? '', /attempt 5 of 5; account locked/);
  await p.unlockUser(co, 'cu2');
  assert.deepEqual(await p.login('cu2', 'user5678'), { user: 'cu2', role: 'CU' });
  assert.deepEqual(await p.login('cu1', 'user1234'), { user: 'cu1', role: 'CU' });
});

test('a successful sign-in is two transactions: the reservation, then its release with the audit record', async () => {
  const { p, footprint } = await setup();
  const before = await footprint();
  await p.login('cu1', 'user1234');
  const after = await footprint();
  assert.equal(after.revision - before.revision, 2);
  assert.equal(after.entries - before.entries, 1, 'one new entry: the audit record');
  const last = (await p.auditRecords()).at(-1)!;
  assert.deepEqual([last.user, last.action, last.result], ['cu1', 'login', 'ok']);
  assert.equal((await p.getUserInfo('cu1')).failures, 0);
});
