/**
 * Forwarding without decoding (../src/forward.ts): what the daemon writes
 * into a request body and reads from an answer must be what the full decoder
 * and encoder would have produced, and a body it cannot vouch for must be
 * left to the full decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as P from '../src/pkcs11.js';
import { HsmError } from '../src/errors.js';
import { FIELD_TYPES, KIND_REQUEST, decodeFrame, encodeBody, type Field } from '../src/codec.js';
import { decodeRequest, decodeResponse, encodeErrorResponse, encodeRequest, encodeResponse, OPS, type OpName } from '../src/messages.js';
import { peekMechanism, readReply, replyFrame, rewriteRequest } from '../src/forward.js';

const body = (op: OpName, obj: unknown) => decodeFrame(encodeRequest(op, 7, obj as never)).body;
const decoded = (op: OpName, b: Uint8Array) => decodeRequest({ kind: KIND_REQUEST, requestId: 7, opcode: OPS[op].opcode, body: b }).obj as Record<string, unknown>;
const sign = { session: 5, mechanism: { mechanism: P.CKM_ECDSA, iv: new Uint8Array(0) }, handle: 9, data: new Uint8Array([1, 2, 3]) };

test('the token is added to a request without one and the rest of the body is unchanged', () => {
  const out = rewriteRequest(body('sign', sign), 41)!;
  assert.deepEqual(decoded('sign', out), { ...sign, mechanism: { ...sign.mechanism }, minRevision: 41 });
  /* The original bytes come first, untouched. */
  assert.deepEqual(out.subarray(0, body('sign', sign).length), body('sign', sign));
});

test('an application token above the daemon\'s is kept, one below is raised', () => {
  assert.equal(decoded('sign', rewriteRequest(body('sign', { ...sign, minRevision: 100 }), 41)!).minRevision, 100);
  assert.equal(decoded('sign', rewriteRequest(body('sign', { ...sign, minRevision: 3 }), 41)!).minRevision, 41);
  assert.equal(decoded('digest', rewriteRequest(body('digest', { mechanism: { mechanism: P.CKM_SHA256 }, data: new Uint8Array(1) }), 2 ** 53 - 1)!).minRevision, 2 ** 53 - 1);
});

test('a state change gets a request id when it has none or an empty one, and keeps its own', () => {
  const tpl = { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [{ type: P.CKA_VALUE_LEN, value: new Uint8Array([0, 0, 0, 32]) }] };
  let n = 0;
  const id = () => `generated-${++n}`;
  assert.deepEqual(decoded('generateKey', rewriteRequest(body('generateKey', tpl), 5, id)!), { ...tpl, minRevision: 5, requestId: 'generated-1' });
  assert.equal(decoded('generateKey', rewriteRequest(body('generateKey', { ...tpl, requestId: '' }), 5, id)!).requestId, 'generated-2');
  assert.deepEqual(decoded('generateKey', rewriteRequest(body('generateKey', { ...tpl, requestId: 'mine', minRevision: 9 }), 5, id)!), { ...tpl, minRevision: 9, requestId: 'mine' });
  assert.equal(n, 2);
});

test('bodies the daemon cannot vouch for are left to the full decoder', () => {
  const b = body('sign', sign);
  const withField = (fields: Field[]) => encodeBody(fields);
  /* Truncated, out of order, an id above 255, a token that is not a u64, a request id on a read. */
  assert.equal(rewriteRequest(b.subarray(0, b.length - 1), 1), undefined);
  assert.equal(rewriteRequest(new Uint8Array([0, 3, FIELD_TYPES.u64, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, FIELD_TYPES.u64, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]), 1), undefined);
  assert.equal(rewriteRequest(withField([{ id: 300, type: 'u64', value: 1n }]), 1), undefined);
  assert.equal(rewriteRequest(withField([{ id: 254, type: 'string', value: 'x' }]), 1), undefined);
  assert.equal(rewriteRequest(withField([{ id: 254, type: 'u64', value: 1n << 60n }]), 1), undefined);
  assert.equal(rewriteRequest(withField([{ id: 255, type: 'string', value: 'x' }]), 1), undefined);
  assert.equal(rewriteRequest(withField([{ id: 255, type: 'u64', value: 1n }]), 1, () => 'r'), undefined);
  /* An empty body is well formed (getClusterInfo, listUsers). */
  assert.deepEqual(decoded('listUsers', rewriteRequest(new Uint8Array(0), 3)!), { minRevision: 3 });
});

test('any well-formed request of any operation decodes after the rewrite to itself plus the token', () => {
  fc.assert(fc.property(fc.constantFrom(...(Object.keys(OPS) as OpName[])), fc.nat({ max: 2 ** 40 }), fc.option(fc.nat({ max: 2 ** 40 }), { nil: undefined }), (op, revision, appMin) => {
    /* The smallest valid request: the required fields only, with simple values. */
    const obj = minimalRequest(op);
    if (appMin !== undefined) obj.minRevision = appMin;
    const out = rewriteRequest(body(op, obj), revision, OPS[op].mutating ? () => 'rid' : undefined)!;
    const expect: Record<string, unknown> = { ...obj, minRevision: Math.max(revision, appMin ?? 0) };
    if (OPS[op].mutating) expect.requestId = 'rid';
    assert.deepEqual(decoded(op, out), expect);
  }), { numRuns: 300 });
});

function minimalRequest(op: OpName): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPS[op].request)) {
    if ((spec as { optional?: boolean }).optional) continue;
    const t = spec.type;
    out[name] = t === 'u64' ? 1 : t === 'bytes' ? new Uint8Array([1]) : t === 'string' ? 'x' : t === 'bool' ? true : t === 'attrs' || t === 'u64list' || t === 'strings' || t === 'records' ? [] : { mechanism: P.CKM_SHA256 };
  }
  return out;
}

test('the mechanism is read from the frame for the metrics', () => {
  assert.equal(peekMechanism(body('sign', sign)), P.CKM_ECDSA);
  assert.equal(peekMechanism(body('digest', { mechanism: { mechanism: P.CKM_SHA256 }, data: new Uint8Array(1) })), P.CKM_SHA256);
  assert.equal(peekMechanism(body('findObjects', { template: [] })), undefined);
  assert.equal(peekMechanism(new Uint8Array([0, 2, FIELD_TYPES.record, 0, 0, 0, 1, 0])), undefined);
});

test('an answer: the token is found and cut, and what is left is what the node meant without it', () => {
  const node = decodeFrame(encodeResponse('sign', 99, { signature: new Uint8Array([9, 8, 7]), revision: 1234 }));
  const r = readReply(node.body);
  assert.ok(r.ok);
  assert.equal(r.revision, 1234);
  const app = decodeFrame(replyFrame(5, node.opcode, node.body, r.cutStart, r.cutEnd));
  assert.equal(app.requestId, 5);
  assert.deepEqual(app.body, decodeFrame(encodeResponse('sign', 5, { signature: new Uint8Array([9, 8, 7]) })).body);
  assert.deepEqual(decodeResponse(app, 'sign'), { signature: new Uint8Array([9, 8, 7]) });
  /* Without a token (an older node): nothing is cut. */
  const old = decodeFrame(encodeResponse('destroyObject', 3, {}));
  const r2 = readReply(old.body);
  assert.ok(r2.ok && r2.revision === undefined);
  assert.deepEqual(decodeFrame(replyFrame(8, old.opcode, old.body, r2.cutStart, r2.cutEnd)).body, old.body);
});

test('an error answer is read for its code and passed on byte for byte', () => {
  const node = decodeFrame(encodeErrorResponse(OPS.sign.opcode, 99, new HsmError('ERR_NODE_BEHIND', 'node 2 is behind; retry')));
  const r = readReply(node.body);
  assert.deepEqual(r, { ok: false, code: 'ERR_NODE_BEHIND', message: 'node 2 is behind; retry' });
  const app = decodeFrame(replyFrame(4, node.opcode, node.body));
  assert.deepEqual(app.body, node.body);
  assert.throws(() => decodeResponse(app, 'sign'), (e: unknown) => e instanceof HsmError && e.code === 'ERR_NODE_BEHIND');
});

test('a malformed answer is a clear ERR_PROTOCOL', () => {
  const good = decodeFrame(encodeResponse('sign', 1, { signature: new Uint8Array([1]), revision: 3 })).body;
  for (const bad of [new Uint8Array(0), good.subarray(0, 10), good.subarray(0, good.length - 2), encodeBody([{ id: 2, type: 'string', value: 'x' }])]) {
    assert.throws(() => readReply(bad), (e: unknown) => e instanceof HsmError && e.code === 'ERR_PROTOCOL' && /malformed response/.test(e.message));
  }
});
