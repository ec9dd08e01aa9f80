/**
 * Users and lockout as units: the credential rules and password hashes of
 * users/users.ts, and the sign-in, lockout and user management of
 * users/accounts.ts over a real partition on the in-memory store (two
 * partitions on one store stand for two nodes).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HsmError, LOGIN_FAILED_MESSAGE } from '../../../protocol/src/errors.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { Partition, type CallContext, type RefusedSignIn } from '../../src/partition.js';
import {
  hashPassword, parseRole, userInfo, validatePassword, validateUserName, verifyPassword,
  NAME_MAX, PASSWORD_MAX, PASSWORD_MIN, type UserRecord,
} from '../../src/users/users.js';

const SCRYPT = { N: 1 << 10, r: 8, p: 1, keyLen: 32 };
const FAST = { scrypt: SCRYPT, maxLoginFailures: 3 };

const code = (c: string, message?: RegExp) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c && (!message || message.test(e.message))) return true;
  throw new assert.AssertionError({ message: `expected ${c}${message ? ` matching ${message}` : ''}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

/** A claimed partition with a CO and two CUs; `second` is another node's partition on the same store. */
async function setUp(config: Record<string, unknown> = FAST) {
  const store = new MemoryStore();
  const maskingKey = randomBytes(32);
  /* What the node's log is told: attempts nobody can count (unknown names, locked accounts) write nothing to the store. */
  const refused: RefusedSignIn[] = [];
  const p = await Partition.open({ store, maskingKey, config, onRefusedSignIn: (e) => refused.push(e) });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'alice', 'alicepass1');
  await p.createUser(co, 'CU', 'bob', 'bobpass12');
  const second = await Partition.open({ store, maskingKey, config, onRefusedSignIn: (e) => refused.push(e) });
  return { p, second, co, refused, close: () => { p.close(); second.close(); } };
}

describe('credential rules (users.ts)', () => {
  test('user names: empty, too long and forbidden characters are refused with the reason', () => {
    assert.equal(validateUserName('cu_1.x-Y'), 'cu_1.x-Y');
    assert.equal(validateUserName('a'.repeat(NAME_MAX)), 'a'.repeat(NAME_MAX));
    assert.throws(() => validateUserName(''), code('ERR_ARGUMENTS_BAD', /empty/));
    assert.throws(() => validateUserName(7), code('ERR_ARGUMENTS_BAD', /empty/));
    assert.throws(() => validateUserName('a'.repeat(NAME_MAX + 1)), code('ERR_ARGUMENTS_BAD', new RegExp(`longer than ${NAME_MAX}`)));
    for (const bad of ['a:b', 'a b', 'a#b', 'a;b', "a'b", 'a\tb', 'a\x00b', 'a\x7fb']) {
      assert.throws(() => validateUserName(bad), code('ERR_ARGUMENTS_BAD', /not allowed/), JSON.stringify(bad));
    }
  });

  test('passwords: length range and characters, and the message never repeats the password', () => {
    assert.equal(validatePassword('x'.repeat(PASSWORD_MIN)), 'x'.repeat(PASSWORD_MIN));
    assert.equal(validatePassword('x'.repeat(PASSWORD_MAX)), 'x'.repeat(PASSWORD_MAX));
    assert.throws(() => validatePassword('x'.repeat(PASSWORD_MIN - 1)), code('ERR_PIN_LEN_RANGE'));
    assert.throws(() => validatePassword('x'.repeat(PASSWORD_MAX + 1)), code('ERR_PIN_LEN_RANGE'));
    assert.throws(() => validatePassword(12345678), code('ERR_PIN_INVALID', /not a string/));
    const secret = 'hunter:22secret';
    assert.throws(() => validatePassword(secret), (e: unknown) => e instanceof HsmError && e.code === 'ERR_PIN_INVALID' && !e.message.includes('hunter'));
  });

  test('roles parse case-insensitively; anything else is ERR_USER_TYPE_INVALID naming the choices', () => {
    assert.equal(parseRole('cu'), 'CU');
    assert.equal(parseRole('PRECO'), 'PRECO');
    assert.throws(() => parseRole('root'), code('ERR_USER_TYPE_INVALID', /PRECO, CO, CU, AU/));
    assert.throws(() => parseRole(undefined), code('ERR_USER_TYPE_INVALID'));
  });

  test('scrypt hashes: salted per hash, verified only by the right password, cost kept beside the hash', async () => {
    const a = await hashPassword('password1', SCRYPT);
    const b = await hashPassword('password1', SCRYPT);
    assert.notEqual(a.salt, b.salt);
    assert.notEqual(a.hash, b.hash);
    assert.deepEqual(a.scrypt, SCRYPT);
    assert.equal(await verifyPassword('password1', a), true);
    assert.equal(await verifyPassword('password2', a), false);
    assert.equal(await verifyPassword('password1', { ...a, salt: b.salt }), false);
    /* A record hashed at another cost still verifies: the cost is read from the record. */
    const cheaper = await hashPassword('password1', { ...SCRYPT, N: 1 << 9 });
    assert.equal(await verifyPassword('password1', cheaper), true);
  });

  test('userInfo shows no credential', () => {
    const rec: UserRecord = { name: 'u', role: 'CU', id: 9, salt: 'aa', hash: 'bb', scrypt: SCRYPT, failures: 2, locked: false, created: 1 };
    assert.deepEqual(userInfo(rec), { id: 9, name: 'u', role: 'CU', locked: false, failures: 2 });
  });
});

describe('sign-in and lockout (accounts.ts)', () => {
  test('unknown users, wrong passwords, wrong roles and malformed names fail alike; the countable ones are audited, the others told to the log', async () => {
    const { p, refused, close } = await setUp();
    try {
      const before = (await p.auditRecords(1, 10000)).length;
      for (const attempt of [() => p.login('nobody', 'alicepass1'), () => p.login('alice', 'wrongpass1'), () => p.login('alice', 'alicepass1', 'CO'), () => p.login('a:b', 'alicepass1')]) {
        await assert.rejects(attempt(), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED' && e.message === LOGIN_FAILED_MESSAGE);
      }
      const failed = (await p.auditRecords(1, 10000)).slice(before).filter((r) => r.action === 'login' && r.result === 'ERR_LOGIN_FAILED');
      assert.deepEqual(failed.map((r) => r.user), ['alice', 'alice']);
      assert.deepEqual(refused.map((r) => [r.user, r.reason]), [['nobody', 'unknown user'], ['a:b', 'unknown user']]);
      /* Two of them counted against alice. */
      assert.equal((await p.getUserInfo('alice')).failures, 2);
    } finally {
      close();
    }
  });

  test('the limit locks the account on every node; the right password then fails too, and a success before it resets the count', async () => {
    const { p, second, refused, close } = await setUp();
    try {
      await assert.rejects(p.login('alice', 'wrongpass1'), code('ERR_LOGIN_FAILED'));
      await assert.rejects(second.login('alice', 'wrongpass2'), code('ERR_LOGIN_FAILED'));
      assert.equal((await p.getUserInfo('alice')).failures, 2);
      await second.login('alice', 'alicepass1');
      assert.deepEqual(await p.getUserInfo('alice').then((u) => [u.failures, u.locked]), [0, false]);

      for (let i = 0; i < FAST.maxLoginFailures; i++) {
        await assert.rejects((i % 2 ? second : p).login('alice', 'wrongpass1'), code('ERR_LOGIN_FAILED'));
      }
      const info = await second.getUserInfo('alice');
      assert.deepEqual([info.failures, info.locked], [FAST.maxLoginFailures, true]);
      await assert.rejects(p.login('alice', 'alicepass1'), code('ERR_ACCOUNT_LOCKED', /alice is locked after 3 failed sign-ins; a crypto officer must unlock it/));
      await assert.rejects(second.login('alice', 'alicepass1'), code('ERR_ACCOUNT_LOCKED'));
      /* Locked attempts are not counted further and write nothing to the store; the node's log is told. */
      assert.equal((await p.getUserInfo('alice')).failures, FAST.maxLoginFailures);
      const locked = (await p.auditRecords(1, 10000)).filter((r) => r.user === 'alice' && r.result === 'ERR_ACCOUNT_LOCKED');
      assert.equal(locked.length, 0);
      assert.deepEqual(refused.filter((r) => r.user === 'alice').map((r) => r.reason), ['account locked', 'account locked']);
      /* Bob is not affected. */
      await p.login('bob', 'bobpass12');
    } finally {
      close();
    }
  });

  test('a locked officer is told how officers are unlocked; an unlock through another node clears the lock', async () => {
    const { p, second, co, close } = await setUp();
    try {
      await p.createUser(co, 'CO', 'officer2', 'officer22');
      for (let i = 0; i < FAST.maxLoginFailures; i++) await assert.rejects(p.login('officer2', 'badbadbad'), code('ERR_LOGIN_FAILED'));
      await assert.rejects(p.login('officer2', 'officer22'), code('ERR_ACCOUNT_LOCKED', /unlockCO/));
      await assert.rejects(p.unlockUser({ principal: await p.login('alice', 'alicepass1') }, 'officer2'), code('ERR_NOT_PERMITTED'));
      const unlocked = await second.unlockUser(co, 'officer2');
      assert.deepEqual([unlocked.failures, unlocked.locked], [0, false]);
      assert.deepEqual(await p.login('officer2', 'officer22', 'co'), { user: 'officer2', role: 'CO' });
      await assert.rejects(p.unlockUser(co, 'ghost'), code('ERR_USER_NOT_FOUND'));
    } finally {
      close();
    }
  });

  test('changing a password: the old one stops working; who may change whose', async () => {
    const { p, co, close } = await setUp();
    try {
      const alice: CallContext = { principal: await p.login('alice', 'alicepass1') };
      await p.changePassword(alice, 'CU', 'alice', 'alicepass2');
      await assert.rejects(p.login('alice', 'alicepass1'), code('ERR_LOGIN_FAILED'));
      await p.login('alice', 'alicepass2');
      /* A CU cannot change another user's password; a CO can change a CU's, but not another officer's. */
      await assert.rejects(p.changePassword(alice, 'CU', 'bob', 'bobpass99'), code('ERR_NOT_PERMITTED'));
      await p.changePassword(co, 'CU', 'bob', 'bobpass99');
      await p.login('bob', 'bobpass99');
      await p.createUser(co, 'CO', 'officer2', 'officer22');
      await assert.rejects(p.changePassword(co, 'CO', 'officer2', 'officer33'), code('ERR_NOT_PERMITTED', /another officer/));
      /* The role named must be the user's. */
      await assert.rejects(p.changePassword(co, 'AU', 'bob', 'bobpass77'), code('ERR_USER_NOT_FOUND', /no AU named bob/));
    } finally {
      close();
    }
  });

  test('user management: PRECO becomes CO by changing its password; ids are never reused; an officer cannot delete itself', async () => {
    const store = new MemoryStore();
    const p = await Partition.open({ store, maskingKey: randomBytes(32), config: FAST });
    try {
      const preco: CallContext = { principal: await p.login('admin', 'tenantadmin', 'PRECO') };
      await assert.rejects(p.createUser(preco, 'CU', 'early', 'earlypass'), code('ERR_NOT_PERMITTED'));
      const promoted = await p.changePassword(preco, 'PRECO', 'admin', 'adminpassword');
      assert.equal(promoted.role, 'CO');
      await assert.rejects(p.login('admin', 'adminpassword', 'PRECO'), code('ERR_LOGIN_FAILED'));
      const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
      await assert.rejects(p.createUser(co, 'PRECO', 'second', 'secondpass'), code('ERR_USER_TYPE_INVALID'));
      const a = await p.createUser(co, 'CU', 'u1', 'u1password');
      await assert.rejects(p.createUser(co, 'CU', 'u1', 'u1password'), code('ERR_USER_EXISTS'));
      await p.deleteUser(co, 'u1');
      const b = await p.createUser(co, 'CU', 'u1', 'u1password');
      assert.ok(b.id > a.id, `id ${b.id} after ${a.id}`);
      assert.deepEqual((await p.listUsers()).map((u) => u.name), ['admin', 'u1']);
      await assert.rejects(p.deleteUser(co, 'admin'), code('ERR_NOT_PERMITTED', /itself/));
      await assert.rejects(p.deleteUser(co, 'ghost'), code('ERR_USER_NOT_FOUND'));
      await assert.rejects(p.getUserInfo('ghost'), code('ERR_USER_NOT_FOUND'));
    } finally {
      p.close();
    }
  });

  test('a retried deleteUser or changePassword (its answer lost, the same request id, also on another node) answers as the first did', async () => {
    const { p, second, co, close } = await setUp();
    try {
      const id = () => ({ ...co, requestId: 'req-' + randomBytes(8).toString('hex') });
      const del = id();
      await p.deleteUser(del, 'bob');
      await p.deleteUser(del, 'bob');
      await second.deleteUser(del, 'bob');
      await assert.rejects(p.deleteUser(id(), 'bob'), code('ERR_USER_NOT_FOUND'));
      /* The PRECO's promotion: a retry would otherwise find no PRECO named admin. */
      const store = new MemoryStore();
      const q = await Partition.open({ store, maskingKey: randomBytes(32), config: FAST });
      try {
        const claim = { principal: await q.login('admin', 'tenantadmin', 'PRECO'), requestId: 'req-claim-' + randomBytes(8).toString('hex') };
        const first = await q.changePassword(claim, 'PRECO', 'admin', 'adminpassword');
        assert.equal(first.role, 'CO');
        assert.deepEqual(await q.changePassword(claim, 'PRECO', 'admin', 'adminpassword'), first);
        await assert.rejects(q.changePassword({ principal: claim.principal }, 'PRECO', 'admin', 'adminpassword'), code('ERR_USER_NOT_FOUND'));
      } finally {
        q.close();
      }
      const changes = (await p.auditRecords()).filter((r) => r.action === 'deleteUser' && r.detail === 'bob');
      assert.equal(changes.length, 1);
    } finally {
      close();
    }
  });
});
