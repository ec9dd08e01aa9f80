/**
 * A new node's join in the core, over the in-memory store: the wrap opens
 * only with the joiner's key and for its node id and fingerprint; approveNode
 * needs a CO and the request's fingerprint (a mismatch is refused and
 * audited, and approves nothing); joinKey answers only once approved, and
 * writes one audit record per approval however often it is asked; a
 * join request is plain and reserved (the barrier neither reads nor lists
 * it), the approval is masked and goes with the request's lease.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { HsmError } from '../../../protocol/src/errors.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { joinAad, joinFingerprint, joinKeyPair, normaliseFingerprint, unwrapFromPeer, wrapForJoiner, WRAPPED_BYTES } from '../../src/barrier/join_wrap.js';
import { JOIN_PATH, encodeJoinRequest, makeJoinRequest, parseJoinRequest } from '../../src/cluster/joins.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { claimedPartition, FAST } from '../helpers/claimed.js';
import { Partition } from '../../src/partition.js';



const code = (c: string, msg?: RegExp) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c && (!msg || msg.test(e.message))) return true;
  throw new assert.AssertionError({ message: `expected ${c}${msg ? ` ${msg}` : ''}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

test('the wrapped masking key opens with the joiner\'s private key, for its node id and fingerprint only', () => {
  const master = crypto.randomBytes(32);
  const j = joinKeyPair();
  const fp = joinFingerprint(4, j.publicKey);
  const w = wrapForJoiner(master, j.publicKey, joinAad(4, fp));
  assert.equal(w.length, WRAPPED_BYTES);
  assert.equal(w.includes(master), false, 'the key is not in the wrap in the clear');
  assert.deepEqual(unwrapFromPeer(j.privateKey, w, joinAad(4, fp)), master);
  /* Two wraps of one key differ (a fresh ephemeral key and IV each). */
  assert.notDeepEqual(wrapForJoiner(master, j.publicKey, joinAad(4, fp)), w);
  assert.throws(() => unwrapFromPeer(joinKeyPair().privateKey, w, joinAad(4, fp)), code('ERR_WRAPPED_KEY_INVALID'), 'another key');
  assert.throws(() => unwrapFromPeer(j.privateKey, w, joinAad(5, fp)), code('ERR_WRAPPED_KEY_INVALID'), 'another node id');
  assert.throws(() => unwrapFromPeer(j.privateKey, w, joinAad(4, joinFingerprint(4, joinKeyPair().publicKey))), code('ERR_WRAPPED_KEY_INVALID'), 'another fingerprint');
  const bent = Buffer.from(w);
  bent[60] = bent[60]! ^ 1;
  assert.throws(() => unwrapFromPeer(j.privateKey, bent, joinAad(4, fp)), code('ERR_WRAPPED_KEY_INVALID'), 'a changed byte');
  assert.throws(() => unwrapFromPeer(j.privateKey, w.subarray(1), joinAad(4, fp)), code('ERR_WRAPPED_KEY_INVALID', /bytes/), 'truncated');
});

test('fingerprints: 24 hex digits in groups of four, bound to the node id; typed forms normalised, others refused', () => {
  const { publicKey } = joinKeyPair();
  const fp = joinFingerprint(3, publicKey);
  assert.match(fp, /^[0-9a-f]{4}(-[0-9a-f]{4}){5}$/);
  assert.notEqual(joinFingerprint(4, publicKey), fp);
  assert.equal(normaliseFingerprint(fp.toUpperCase()), fp);
  assert.equal(normaliseFingerprint(fp.replace(/-/g, '')), fp);
  assert.equal(normaliseFingerprint(fp.replace(/-/g, ':')), fp);
  for (const bad of ['', 'xyz', fp.slice(0, -1), fp + '0', fp.replace(/[0-9a-f]$/, 'g')]) assert.throws(() => normaliseFingerprint(bad), code('ERR_ARGUMENTS_BAD', /24 hexadecimal digits/), bad);
});

test('a join request read from the store is checked field by field; its fingerprint must match its key', () => {
  const { publicKey } = joinKeyPair();
  const r = makeJoinRequest(4, '10.0.0.4', 2225, publicKey, 1);
  assert.deepEqual(parseJoinRequest(encodeJoinRequest(r), 4), r);
  assert.throws(() => parseJoinRequest(encodeJoinRequest(r), 5), code('ERR_ARGUMENTS_BAD', /another node/));
  assert.throws(() => parseJoinRequest(encodeJoinRequest({ ...r, fingerprint: joinFingerprint(4, joinKeyPair().publicKey) }), 4), code('ERR_ARGUMENTS_BAD', /fingerprint does not match/));
  assert.throws(() => parseJoinRequest(encodeJoinRequest({ ...r, port: 0 }), 4), code('ERR_ARGUMENTS_BAD', /port/));
  assert.throws(() => parseJoinRequest(Buffer.from('not json'), 4), code('ERR_ARGUMENTS_BAD', /not JSON/));
});

test('approveNode: a CO, the request\'s fingerprint, one transaction with its audit record; joinKey only once approved', async () => {
  const store = new MemoryStore();
  const { p, co, cu1, maskingKey } = await claimedPartition(store);
  const j = joinKeyPair();
  const req = makeJoinRequest(4, '127.0.0.1', 4444, j.publicKey, 1);
  const lease = await store.grantLease(60_000);
  await store.put(JOIN_PATH.request(4), encodeJoinRequest(req), { lease });

  /* The request is plain and the barrier's reserved space: not read, not listed, not backed up. */
  const barrier = await Barrier.open(store, maskingKey);
  await assert.rejects(barrier.get(JOIN_PATH.request(4)), code('ERR_BARRIER', /reserved/));
  assert.equal((await barrier.list('sys/')).some((e) => e.key === JOIN_PATH.request(4)), false);

  await assert.rejects(p.joinKey(4), code('ERR_NOT_PERMITTED', /approveNode 4/), 'no approval yet');
  await assert.rejects(p.approveNode(cu1, 4, req.fingerprint), code('ERR_NOT_PERMITTED'), 'a CU');
  await assert.rejects(p.approveNode({ principal: undefined }, 4, req.fingerprint), code('ERR_USER_NOT_LOGGED_IN'));
  await assert.rejects(p.approveNode(co, 5, req.fingerprint), code('ERR_ARGUMENTS_BAD', /no join request/), 'no request for node 5');

  const before = (await p.auditRecords()).length;
  const wrong = joinFingerprint(4, joinKeyPair().publicKey);
  await assert.rejects(p.approveNode(co, 4, wrong), code('ERR_ARGUMENTS_BAD', /does not match/));
  assert.equal(await store.get(JOIN_PATH.approved(4)), undefined, 'a wrong fingerprint approves nothing');
  const refused = (await p.auditRecords()).slice(before);
  assert.deepEqual(refused.map((r) => [r.action, r.result, r.user]), [['approveNode', 'ERR_ARGUMENTS_BAD', 'admin']]);
  assert.doesNotMatch(refused[0]!.detail ?? '', new RegExp(req.fingerprint), 'the refusal does not tell the right fingerprint');
  await assert.rejects(p.joinKey(4), code('ERR_NOT_PERMITTED'));

  const ok = await p.approveNode(co, 4, req.fingerprint.toUpperCase().replace(/-/g, ''));
  assert.deepEqual(ok, { fingerprint: req.fingerprint, host: '127.0.0.1', port: 4444, already: false });
  const stored = await store.get(JOIN_PATH.approved(4));
  assert.ok(stored && stored.lease === lease, 'the approval lives on the request\'s lease');
  assert.equal(Buffer.from(stored.value).includes(Buffer.from(req.fingerprint)), false, 'the approval is masked');
  assert.equal((await p.approveNode(co, 4, req.fingerprint)).already, true, 'approving again changes nothing');
  const records = (await p.auditRecords()).slice(before + 1);
  assert.deepEqual(records.map((r) => [r.action, r.result]), [['approveNode', 'ok']]);

  const w = await p.joinKey(4);
  assert.deepEqual(unwrapFromPeer(j.privateKey, w, joinAad(4, req.fingerprint)), maskingKey);
  assert.equal((await p.auditRecords()).at(-1)!.action, 'joinKey');
  const handed = await store.get(JOIN_PATH.approved(4));
  assert.ok(handed && handed.lease === lease, 'the approval, marked handed over, keeps the request\'s lease');

  /* joinKey is asked before sign-in: asked again (at once and one after another), it answers the same and writes nothing. */
  const auditBefore = (await p.auditRecords()).length;
  const again = [...await Promise.all(Array.from({ length: 8 }, () => p.joinKey(4))), await p.joinKey(4), await p.joinKey(4)];
  for (const x of again) assert.deepEqual(unwrapFromPeer(j.privateKey, x, joinAad(4, req.fingerprint)), maskingKey);
  assert.equal((await p.auditRecords()).length, auditBefore, 'no audit record for a later ask of the same approval');
  assert.equal((await store.get(JOIN_PATH.approved(4)))!.version, handed.version, 'nor any other write');
  assert.equal((await p.approveNode(co, 4, req.fingerprint)).already, true, 'approving again after the hand-over changes nothing either');
  assert.equal((await p.auditRecords()).length, auditBefore);

  /* The request's lease goes: the approval goes with it. */
  await store.revokeLease(lease);
  assert.equal(await store.get(JOIN_PATH.approved(4)), undefined);
  await assert.rejects(p.joinKey(4), code('ERR_NOT_PERMITTED'));
});

test('the first asks of joinKey for one approval, at once on two nodes, write one audit record between them', async () => {
  const store = new MemoryStore();
  const { p, co, maskingKey } = await claimedPartition(store);
  const other = await Partition.open({ store, maskingKey, config: FAST });
  const j = joinKeyPair();
  const req = makeJoinRequest(7, 'h', 1, j.publicKey, 1);
  await store.put(JOIN_PATH.request(7), encodeJoinRequest(req));
  await p.approveNode(co, 7, req.fingerprint);
  const before = (await p.auditRecords()).length;
  const answers = await Promise.all([p.joinKey(7), other.joinKey(7), p.joinKey(7), other.joinKey(7)]);
  for (const w of answers) assert.deepEqual(unwrapFromPeer(j.privateKey, w, joinAad(7, req.fingerprint)), maskingKey);
  const records = (await p.auditRecords()).slice(before);
  assert.deepEqual(records.map((r) => [r.action, r.result]), [['joinKey', 'ok']]);
  assert.match(records[0]!.detail ?? '', new RegExp(`node 7, fingerprint ${req.fingerprint}`));
  /* A new approval (the node starts its join again: a new key) gets its own record. */
  const j2 = joinKeyPair();
  const req2 = makeJoinRequest(7, 'h', 1, j2.publicKey, 2);
  await store.put(JOIN_PATH.request(7), encodeJoinRequest(req2));
  await p.approveNode(co, 7, req2.fingerprint);
  assert.deepEqual(unwrapFromPeer(j2.privateKey, await other.joinKey(7), joinAad(7, req2.fingerprint)), maskingKey);
  await other.joinKey(7);
  assert.deepEqual((await p.auditRecords()).slice(before).map((r) => r.action), ['joinKey', 'approveNode', 'joinKey']);
});

test('an approval that is not for the request read (a new request in between) is not written', async () => {
  const store = new MemoryStore();
  const { p, co } = await claimedPartition(store);
  const first = makeJoinRequest(6, 'h', 1, joinKeyPair().publicKey, 1);
  await store.put(JOIN_PATH.request(6), encodeJoinRequest(first));
  const second = makeJoinRequest(6, 'h', 1, joinKeyPair().publicKey, 2);
  await store.put(JOIN_PATH.request(6), encodeJoinRequest(second));
  await assert.rejects(p.approveNode(co, 6, first.fingerprint), code('ERR_ARGUMENTS_BAD', /does not match/));
  assert.equal((await p.approveNode(co, 6, second.fingerprint)).fingerprint, second.fingerprint);
});

test('the plain entries beside the partition (running nodes, join requests) do not break a backup, and are not in it', async () => {
  const store = new MemoryStore();
  const { p, co, maskingKey } = await claimedPartition(store);
  await store.put('cluster/nodes/1', Buffer.from(JSON.stringify({ id: 1, hostname: '10.0.0.1', port: 2225 })));
  await store.put(JOIN_PATH.request(4), encodeJoinRequest(makeJoinRequest(4, 'h', 1, joinKeyPair().publicKey, 1)));
  const { header } = await p.backupPartition(co, 'test');
  const keys = (await (await Barrier.open(store, maskingKey)).list('')).map((e) => e.key);
  assert.equal(keys.some((k) => k.startsWith('cluster/nodes/') || k.startsWith('sys/join/request/')), false);
  assert.equal(header.entries, keys.filter((k) => !k.startsWith('idem/')).length);
});
