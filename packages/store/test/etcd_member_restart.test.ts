/**
 * The etcd client's per-member breaker (src/etcd.ts MemberBreaker), alone
 * and on a real three-member etcd (TLS, authentication, simple tokens) whose
 * second member is killed and restarted: the restarted member refuses the
 * tokens the clients got before ("invalid auth token"), which with the client
 * library's default breaker could leave every call to that member waiting
 * forever (found by netns_hostkill_pkcs11: a node did not exit on SIGTERM).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPCUnavailableError } from 'etcd3';
import { EtcdStore, MEMBER_FAILURES, MEMBER_SKIP_MS, MemberBreaker } from '../src/etcd.js';
import { StoreError, StoreNoQuorumError } from '../src/types.js';
import { EtcdCluster, loopbackMembers } from '../../testkit/src/etcd.js';

test('MemberBreaker: skips a member after consecutive recoverable failures without sending, lets calls through after the pause, and never makes a call wait for another', async () => {
  let now = 1000;
  const b = new MemberBreaker('m1', () => now);
  let sent = 0;
  const fail = () => b.execute(() => {
    sent++;
    throw new GRPCUnavailableError('unavailable');
  });
  for (let i = 0; i < MEMBER_FAILURES; i++) await assert.rejects(fail(), GRPCUnavailableError);
  assert.equal(sent, MEMBER_FAILURES);
  await assert.rejects(b.execute(() => { sent++; return 1; }), /skipped after/);
  assert.equal(sent, MEMBER_FAILURES, 'a skipped member is not called');
  now += MEMBER_SKIP_MS;
  /* After the pause: a call that never ends does not hold another one up (the default breaker's trial did). */
  let release!: (v: number) => void;
  const slow = b.execute(() => new Promise<number>((r) => (release = r)));
  assert.equal(await b.execute(() => 2), 2, 'a second call goes through while the first is still waiting');
  release(1);
  assert.equal(await slow, 1);
  /* Closed again: one failure does not skip; a non-recoverable error counts as an answer. */
  await assert.rejects(fail(), GRPCUnavailableError);
  await assert.rejects(b.execute(() => { throw new Error('permission denied'); }), /permission denied/);
  await assert.rejects(fail(), GRPCUnavailableError);
  assert.equal(await b.execute(() => 3), 3);
});

const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-restart-'));
let etcd: EtcdCluster | undefined;

before(async () => {
  etcd = await EtcdCluster.start({ dir, members: await loopbackMembers(3) });
}, { timeout: 60_000 });

after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the call's result or rejects with it; fails the test if it has not settled in `ms`. */
async function settles<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('a member killed and restarted: every call of every client settles and works again (none waits forever on the restarted member)', { timeout: 120_000 }, async () => {
  const c = etcd!;
  /* Several clients, each signed in (token) before the kill: each has a chance of the old deadlock. */
  const stores = await Promise.all(Array.from({ length: 8 }, () => EtcdStore.open({ ...c.storeOptions(), requestTimeoutMs: 2000 })));
  try {
    for (const [i, s] of stores.entries()) await s.put(`restart/${i}`, new Uint8Array([i]));
    /* Let the members commit the sign-ins to their backends: a member replays only later entries when it restarts, so it forgets these tokens. */
    await new Promise((r) => setTimeout(r, 1500));
    await c.killMember('etcd2');
    /* Calls while the member is down: some land on it and fail over, which skips it in each client. */
    await Promise.all(stores.map(async (s, i) => {
      for (let n = 0; n < 30; n++) await settles(s.get(`restart/${i}`).catch(() => undefined), 15_000, 'a call while a member is down');
    }));
    await c.startMember('etcd2');
    await c.waitHealthy(30_000);
    /* Past the skip: calls go to the restarted member again, which refuses the old tokens. */
    await new Promise((r) => setTimeout(r, MEMBER_SKIP_MS + 500));
    await Promise.all(stores.map(async (s, i) => {
      for (let n = 0; n < 30; n++) {
        const e = await settles(s.get(`restart/${i}`), 15_000, `client ${i}'s call ${n} after the restart`);
        assert.deepEqual(e && [...e.value], [i]);
      }
    }));
    assert.match(c.logs.get('etcd2') ?? '', /invalid auth token/, 'the restarted member refused a token the clients had (the case of the deadlock)');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('a member without a leader refuses at once ("no leader": the store asks every member for one) instead of holding the call until its deadline; with the quorum back the same store works', { timeout: 120_000 }, async () => {
  const c = etcd!;
  await c.waitHealthy(30_000);
  /* A store on the first member only, so every call goes there. */
  const s = await EtcdStore.open({ ...c.storeOptions(), endpoints: [c.endpoints[0]!], requestTimeoutMs: 3000 });
  try {
    await s.put('leader/k', new Uint8Array([1]));
    await c.killMember('etcd2');
    await c.killMember('etcd3');
    /* Once it has lost its leader (an election timeout, or the leader stepping down), its refusal names the reason. */
    const seen: string[] = [];
    const from = Date.now();
    let refused = '';
    while (!refused && Date.now() - from < 30_000) {
      try {
        await settles(s.get('leader/k'), 15_000, 'a read on a member without a quorum');
        seen.push('answered');
      } catch (e) {
        const m = (e as Error).message;
        if (/no leader/.test(m)) refused = m;
        else seen.push(m);
      }
    }
    assert.match(refused, /etcdserver: no leader/, `the member says it has no leader (other answers: ${JSON.stringify([...new Set(seen)])})`);
    await c.startMember('etcd2');
    await c.startMember('etcd3');
    await c.waitHealthy(30_000);
    /* Past the skip its breaker put on the member (its only one). */
    await new Promise((r) => setTimeout(r, MEMBER_SKIP_MS + 500));
    assert.deepEqual([...(await s.get('leader/k'))!.value], [1]);
  } finally {
    await s.close();
  }
});

test('a member that stops answering (frozen, as one cut off with its host) is skipped by its breaker, and a skipped call fails as StoreNoQuorumError (nothing was sent, so nothing was written), not as a store failure', { timeout: 120_000 }, async () => {
  const c = etcd!;
  await c.waitHealthy(30_000);
  /* A store on the first member only, as a node that talks to its own host's member. */
  const s = await EtcdStore.open({ ...c.storeOptions(), endpoints: [c.endpoints[0]!], requestTimeoutMs: 1000 });
  const pid = c.procs.get('etcd1')!.pid!;
  try {
    await s.put('frozen/k', new Uint8Array([1]));
    process.kill(pid, 'SIGSTOP');
    const errors: unknown[] = [];
    for (let i = 0; i < MEMBER_FAILURES + 2; i++) {
      errors.push(await settles(s.get('frozen/k'), 20_000, 'a read on a frozen member').then(() => 'answered', (e: unknown) => e));
    }
    /* The first calls time out (their outcome unknown to the caller); once the breaker skips the member, none is sent. */
    const last = errors.at(-1);
    assert.ok(last instanceof StoreNoQuorumError, `a skipped call: ${String(last)}`);
    assert.match((last as Error).message, /skipped after \d+ failures in a row/);
    assert.ok(errors.slice(0, MEMBER_FAILURES).every((e) => e instanceof StoreError), JSON.stringify(errors.map(String)));
  } finally {
    process.kill(pid, 'SIGCONT');
    await c.waitHealthy(30_000);
    await new Promise((r) => setTimeout(r, MEMBER_SKIP_MS + 500));
    assert.deepEqual([...(await s.get('frozen/k'))!.value], [1]);
    await s.close();
  }
});
