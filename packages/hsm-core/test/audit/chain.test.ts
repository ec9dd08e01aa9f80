/**
 * The audit chain as a unit: record hashes and links (audit/audit.ts), and the
 * store's chain (audit/store_chain.ts) naming the first broken link when
 * records are altered, deleted, reordered or cut off after the head.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryStore } from '../../../store/src/memory.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { GENESIS_HASH, makeRecord, recordHash, recordLine, verifyChain, type AuditEvent, type AuditRecord } from '../../src/audit/audit.js';
import { StoreAuditChain } from '../../src/audit/store_chain.js';
import { PATH, enc } from '../../src/partition/records.js';

const ev = (i: number): AuditEvent => ({ user: `u${i}`, role: 'CU', action: 'generateKey', handles: [262144 + i], result: 'ok' });

function chain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const r = makeRecord(ev(i), i, 1_700_000_000_000 + i, prev);
    out.push(r);
    prev = r.hash;
  }
  return out;
}

describe('record hashes and links (audit.ts)', () => {
  test('each record links to its predecessor; the first to the genesis hash', () => {
    const c = chain(4);
    assert.equal(c[0]!.prev, GENESIS_HASH);
    for (let i = 1; i < c.length; i++) assert.equal(c[i]!.prev, c[i - 1]!.hash);
    assert.match(c[0]!.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(verifyChain(c), { ok: true, records: 4 });
    assert.deepEqual(verifyChain([]), { ok: true, records: 0 });
  });

  test('the hash covers every field and not the order they were built in', () => {
    const r = makeRecord(ev(1), 1, 5, GENESIS_HASH);
    const { hash, ...rest } = r;
    const reordered = Object.fromEntries(Object.entries(rest).reverse()) as Omit<AuditRecord, 'hash'>;
    assert.equal(recordHash(reordered), hash);
    for (const change of [{ user: 'mallory' }, { time: 6 }, { seq: 2 }, { result: 'ERR_GENERAL' }, { handles: [1] }, { detail: 'x' }]) {
      assert.notEqual(recordHash({ ...rest, ...change }), hash, JSON.stringify(change));
    }
    /* An absent optional field and an undefined one hash alike. */
    assert.equal(recordHash({ ...rest, detail: undefined }), hash);
  });

  test('recordLine writes each record once: its hash is the general one, its line parses back to the record, the chain verifies', () => {
    const events: AuditEvent[] = [
      { user: 'cu1', role: 'CU', action: 'sign', handles: [262145], mechanism: 0x1041, result: 'ok' },
      { user: 'cu1', role: 'CU', action: 'wrapKey', handles: [262146, 262147], mechanism: 0x2109, detail: 'multi-part "quoted"\n\u2028', result: 'ERR_KEY_FUNCTION_NOT_PERMITTED' },
      { user: '', role: '', action: 'decrypt', result: 'ok' },
      { user: 'cu2', role: 'CU', action: 'encrypt', handles: [], detail: undefined, result: 'ok', node: 7 },
      /* A field the record does not know: the general serialisation, the same hash rule. */
      { user: 'cu2', role: 'CU', action: 'sign', result: 'ok', extra: 'x' } as unknown as AuditEvent,
    ];
    const records: AuditRecord[] = [];
    let prev = GENESIS_HASH;
    events.forEach((e, i) => {
      const node = i === 3 ? undefined : 2;
      const { line, hash } = recordLine(e, i + 1, 1_700_000_000_000 + i, prev, node);
      assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one line');
      const r = JSON.parse(line) as AuditRecord;
      assert.equal(r.hash, hash);
      const { hash: _h, ...rest } = r;
      assert.equal(recordHash(rest), hash, `record ${i + 1}`);
      const expected = makeRecord({ ...e, ...(node !== undefined ? { node } : {}) }, i + 1, 1_700_000_000_000 + i, prev);
      assert.deepEqual(r, JSON.parse(JSON.stringify(expected)));
      records.push(r);
      prev = hash;
    });
    assert.equal(records[3]!.node, 7, 'without a node argument the event keeps its own');
    assert.deepEqual(verifyChain(records), { ok: true, records: events.length });
  });

  test('verify names the first broken link: altered, missing, out of order, relinked', () => {
    const c = chain(6);
    const altered = c.map((r) => (r.seq === 3 ? { ...r, user: 'mallory' } : r));
    assert.deepEqual(verifyChain(altered), { ok: false, records: 6, brokenAt: 3, reason: 'record 3 was altered' });

    const missing = c.filter((r) => r.seq !== 4);
    assert.deepEqual(verifyChain(missing), { ok: false, records: 5, brokenAt: 4, reason: 'record 4 is missing' });

    const swapped = [c[0]!, c[2]!, c[1]!, ...c.slice(3)];
    assert.equal(verifyChain(swapped).brokenAt, 2);

    /* Record 5 rewritten with a valid hash of its own but the wrong predecessor. */
    const { hash: _h, ...five } = c[4]!;
    void _h;
    const relinked = { ...five, prev: c[2]!.hash };
    const forged = c.map((r) => (r.seq === 5 ? { ...relinked, hash: recordHash(relinked) } : r));
    assert.deepEqual(verifyChain(forged), { ok: false, records: 6, brokenAt: 5, reason: 'record 5 does not follow record 4' });

    /* Two breaks: the first one is named. */
    const twice = altered.map((r) => (r.seq === 5 ? { ...r, user: 'eve' } : r));
    assert.equal(verifyChain(twice).brokenAt, 3);

    /* A chain that starts anywhere but 1 is missing its start. */
    assert.equal(verifyChain(c.slice(1)).brokenAt, 1);
  });
});

describe("the store's chain (store_chain.ts)", () => {
  async function stored(n: number) {
    const store = new MemoryStore();
    const barrier = await Barrier.open(store, randomBytes(32));
    const c = chain(n);
    for (const r of c) await barrier.put(PATH.audit(r.seq), enc(r));
    await barrier.put(PATH.auditHead, enc({ seq: n, hash: c[n - 1]!.hash }));
    return { store, barrier, c, sc: new StoreAuditChain(barrier) };
  }

  test('records page in sequence order from any point', async () => {
    const { sc } = await stored(12);
    assert.deepEqual((await sc.records()).map((r) => r.seq), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.deepEqual((await sc.records(5, 3)).map((r) => r.seq), [5, 6, 7]);
    assert.deepEqual(await sc.records(13), []);
    assert.deepEqual(await sc.verify(), { ok: true, records: 12 });
  });

  test('an edited, a deleted and a trailing missing record are each located', async () => {
    const { store, barrier, c, sc } = await stored(8);
    await barrier.put(PATH.audit(6), enc({ ...c[5]!, action: 'nothing' }));
    assert.deepEqual(await sc.verify(), { ok: false, records: 8, brokenAt: 6, reason: 'record 6 was altered' });
    await barrier.put(PATH.audit(6), enc(c[5]!));
    await store.delete(PATH.audit(3));
    assert.deepEqual(await sc.verify(), { ok: false, records: 7, brokenAt: 3, reason: 'record 3 is missing' });
    await barrier.put(PATH.audit(3), enc(c[2]!));
    assert.equal((await sc.verify()).ok, true);
    /* The last records deleted: the chain that is left is sound, but the head knows there were more. */
    await store.delete(PATH.audit(8));
    await store.delete(PATH.audit(7));
    assert.deepEqual(await sc.verify(), { ok: false, records: 6, brokenAt: 7, reason: 'records after the last one present are missing' });
  });
});
