/**
 * The message layer (docs/protocol.md §5-§6): the byte-exact frame vectors,
 * the opcode table against the document, typed requests and responses, error
 * responses, and round trips of arbitrary messages for every operation.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import * as P from '../src/pkcs11.js';
import { HsmError, LOGIN_FAILED_MESSAGE } from '../src/errors.js';
import {
  DEFAULT_LIMITS, FIELD_TYPES, KIND_NOTICE, KIND_REQUEST, decodeBody, decodeFrame, encodeFrame, fromHex, toHex, type Field, type Frame,
} from '../src/codec.js';
import {
  AUDIT_RECORD, MECHANISM, NODE_INFO, NODE_STATUS, NOTICES, OPS, POLICY, REQUEST_ID_FIELD, USER_INFO,
  decodeNotice, decodeRequest, decodeResponse, decodeResponseMessage, encodeErrorResponse, encodeNotice, encodeRequest, encodeResponse,
  fromJson, toJson, type FieldSpec, type NoticeName, type OpName, type OpSpec, type Schema,
} from '../src/messages.js';
import { readVectorJson, vectorPath } from '../../../test-vectors/load.js';

interface FrameVector {
  readonly name: string;
  readonly op: string | null;
  readonly kind: 1 | 2 | 3;
  readonly requestId: number;
  readonly opcode: number;
  readonly object: Record<string, unknown>;
  readonly hex: string;
}
const VECTORS = readVectorJson<{ vectors: FrameVector[] }>('protocol', 'frames.json').vectors;
const OP_LIST = Object.entries(OPS) as [OpName, OpSpec][];

const isCode = (code: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HsmError, `not an HsmError: ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

/** Encode a vector's JSON object the way its kind says. */
function encodeVector(v: FrameVector): Uint8Array {
  if (v.kind === KIND_NOTICE) return encodeNotice(v.op as NoticeName, fromJson(NOTICES[v.op as NoticeName].fields, v.object) as never);
  const err = v.object['error'] as { rv: number; code: string; message: string } | undefined;
  if (err) return encodeErrorResponse(v.opcode, v.requestId, new HsmError(err.code as never, err.message));
  const op = v.op as OpName;
  if (v.kind === KIND_REQUEST) return encodeRequest(op, v.requestId, fromJson(OPS[op].request, v.object) as never);
  return encodeResponse(op, v.requestId, fromJson(OPS[op].response, v.object) as never);
}

/** Decode a vector's bytes back to its JSON object. */
function decodeVector(bytes: Uint8Array): { kind: number; requestId: number; opcode: number; op: string | null; object: Record<string, unknown> } {
  const f = decodeFrame(bytes);
  const head = { kind: f.kind, requestId: f.requestId, opcode: f.opcode };
  if (f.kind === KIND_NOTICE) {
    const n = decodeNotice(f)!;
    return { ...head, op: n.notice, object: toJson(NOTICES[n.notice].fields, n.obj) };
  }
  if (f.kind === KIND_REQUEST) {
    const r = decodeRequest(f);
    return { ...head, op: r.op, object: toJson(OPS[r.op].request, r.obj) };
  }
  const m = decodeResponseMessage(f);
  if (!m.ok) {
    const op = Object.entries(OPS).find(([, o]) => o.opcode === f.opcode)?.[0] ?? null;
    return { ...head, op, object: { error: { rv: m.rv, code: m.code, message: m.message } } };
  }
  return { ...head, op: m.op, object: toJson(OPS[m.op].response, m.obj) };
}

describe('frame vectors', () => {
  test('the vectors cover every field type, nesting, errors, notices and an empty body', () => {
    assert.deepEqual([...new Set(VECTORS.map((v) => v.kind))].sort(), [1, 2, 3]);
    assert.ok(VECTORS.some((v) => v.hex.length === 32), 'an empty body');
    assert.ok(VECTORS.some((v) => 'error' in v.object), 'an error response');
    const types = new Set<string>();
    const walk = (fs: readonly Field[]): void => {
      for (const f of fs) {
        types.add(f.type);
        if (f.type === 'record') walk(f.value);
        if (f.type === 'records') f.value.forEach(walk);
      }
    };
    for (const v of VECTORS) walk(decodeBody(decodeFrame(fromHex(v.hex)).body));
    assert.deepEqual([...types].sort(), Object.keys(FIELD_TYPES).sort());
  });

  for (const v of VECTORS) {
    test(v.name, () => {
      assert.equal(toHex(encodeVector(v)), v.hex, 'encodes to exactly the vector bytes');
      assert.deepEqual(decodeVector(fromHex(v.hex)), { kind: v.kind, requestId: v.requestId, opcode: v.opcode, op: v.op, object: v.object });
    });
  }

  test('the worked example of docs/protocol.md §7 is the login vector', () => {
    const doc = readFileSync(vectorPath('..', 'docs', 'protocol.md'), 'utf8');
    const block = doc.slice(doc.indexOf('## 7. Worked example'));
    const bytes = [...block.slice(0, block.indexOf('41 bytes in all')).matchAll(/^ *((?:[0-9A-F]{2} )*[0-9A-F]{2}) {2,}/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
    assert.equal(bytes.toLowerCase(), VECTORS.find((v) => v.name.startsWith('login request (docs'))!.hex);
  });
});

/* ───────────────────────────── the table against the document ───────────────────────────── */

function typeText(spec: FieldSpec): string {
  switch (spec.type) {
    case 'u64list': return 'u64[]';
    case 'strings': return 'string[]';
    case 'record': return `record<${spec.record}>`;
    case 'records': return `record<${spec.record}>[]`;
    default: return spec.type;
  }
}

function fieldsText(schema: Schema): string {
  const parts = Object.entries(schema)
    .filter(([, s]) => s.id !== REQUEST_ID_FIELD)
    .sort((a, b) => a[1].id - b[1].id)
    .map(([name, s]) => `${s.id} ${name}${s.optional ? '?' : ''}: ${typeText(s)}${s.max !== undefined ? ` (≤ ${s.max})` : ''}`);
  return parts.length ? parts.join('; ') : '—';
}

describe('the opcode table', () => {
  const doc = readFileSync(vectorPath('..', 'docs', 'protocol.md'), 'utf8').replace(/\\</g, '<').replace(/\\>/g, '>');
  const rows = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    const m = /^\| (0x[0-9A-F]{4}) \|(.*)\|$/.exec(line);
    if (m) rows.set(m[1]!, [m[1]!, ...m[2]!.split('|').map((c) => c.trim())]);
  }
  const hex = (n: number) => '0x' + n.toString(16).toUpperCase().padStart(4, '0');

  test('docs/protocol.md §6.2 lists exactly the operations and notices of OPS and NOTICES', () => {
    const expected = [
      ...OP_LIST.map(([name, o]) => [hex(o.opcode), name, o.mutating ? 'M' : '', fieldsText(o.request), fieldsText(o.response)]),
      ...Object.entries(NOTICES).map(([name, n]) => [hex(n.opcode), name, '', fieldsText(n.fields), '—']),
    ];
    assert.deepEqual([...rows.values()], expected);
  });

  test('docs/protocol.md §6.1 describes the records as messages.ts defines them', () => {
    const mechSection = doc.slice(doc.indexOf('`Mechanism` (a'), doc.indexOf('`UserInfo`:'));
    const mech = [...mechSection.matchAll(/^\| (\d+) \| (\w+\??) \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}: ${m[3]}`).join('; ');
    assert.equal(mech, fieldsText(MECHANISM));
    for (const [name, schema] of [['UserInfo', USER_INFO], ['NodeInfo', NODE_INFO], ['NodeStatus', NODE_STATUS], ['AuditRecord', AUDIT_RECORD], ['Policy', POLICY]] as const) {
      const start = doc.indexOf('`' + name + '`');
      const para = doc.slice(start, doc.indexOf('\n\n', start)).replace(/\([^)]*\)/g, '');
      const fields = [...para.matchAll(/(\d+) (\w+\??): ([\w[\]]+)/g)].map((m) => `${m[1]} ${m[2]}: ${m[3]}`).join('; ');
      assert.equal(fields, fieldsText(schema), name);
    }
  });

  test('opcodes sit in their documented ranges; mutating requests carry requestId (255)', () => {
    const range: Record<string, number> = {
      hello: 0, login: 0, logout: 0, loginStatus: 0, openSession: 0, closeSession: 0,
      createObject: 1, copyObject: 1, destroyObject: 1, getAttributeValue: 1, setAttributeValue: 1, findObjects: 1, shareKey: 1, keyInfo: 1,
      createUser: 3, deleteUser: 3, changePassword: 3, listUsers: 3, unlockUser: 3, getChallenge: 3, unlockCO: 3, setPin: 3,
      getClusterInfo: 4, status: 4, auditRecords: 4, auditVerify: 4, getCertReq: 4, storeCert: 4, getCert: 4, backupPartition: 4, restorePartition: 4, approveNode: 4, joinKey: 4,
      getPolicy: 4, setPolicy: 4,
      streamInit: 5, streamUpdate: 5, streamFinal: 5, streamCancel: 5,
    };
    for (const [name, o] of OP_LIST) {
      assert.equal(o.opcode >> 8, range[name] ?? 2, name);
      const rid = (o.request as Schema)['requestId'];
      assert.equal(o.mutating, rid !== undefined, name);
      if (rid) assert.deepEqual(rid, { id: REQUEST_ID_FIELD, type: 'string', optional: true });
    }
  });
});

/* ───────────────────────────── typed requests and responses ───────────────────────────── */

describe('requests and responses', () => {
  test('a typed request and response round-trip', () => {
    const bytes = encodeRequest('sign', 42, {
      session: 3,
      mechanism: { mechanism: P.CKM_ECDSA },
      handle: 262146,
      data: new Uint8Array([1, 2, 3]),
    });
    const r = decodeRequest(decodeFrame(bytes));
    assert.equal(r.op, 'sign');
    if (r.op !== 'sign') return;
    assert.equal(r.obj.mechanism.mechanism, P.CKM_ECDSA);
    assert.deepEqual(r.obj.data, new Uint8Array([1, 2, 3]));
    const resp = encodeResponse('sign', 42, { signature: new Uint8Array(64) });
    const out = decodeResponse(decodeFrame(resp), 'sign');
    assert.equal(out.signature.length, 64);
    assert.throws(() => decodeResponse(decodeFrame(resp), 'verify'), isCode('ERR_PROTOCOL', /does not answer verify/));
  });

  test('an error response rebuilds the HsmError with its code and message', () => {
    const bytes = encodeResponse('login', 5, new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE));
    assert.throws(() => decodeResponse(decodeFrame(bytes), 'login'), (e: unknown) => {
      assert.ok(e instanceof HsmError);
      assert.equal(e.code, 'ERR_LOGIN_FAILED');
      assert.equal(e.ckrv, P.CKR_PIN_EXPIRED);
      assert.equal(e.message, LOGIN_FAILED_MESSAGE);
      return true;
    });
  });

  test('an unknown opcode is answered with CKR_FUNCTION_NOT_SUPPORTED, echoing id and opcode', () => {
    const req = decodeFrame(encodeFrame({ kind: 1, requestId: 77, opcode: 0x0999, body: new Uint8Array(0) }));
    let err: unknown;
    assert.throws(() => decodeRequest(req), (e: unknown) => ((err = e), isCode('ERR_FUNCTION_NOT_SUPPORTED', /0x0999/)(e)));
    const resp = decodeFrame(encodeErrorResponse(req.opcode, req.requestId, err));
    assert.equal(resp.requestId, 77);
    assert.equal(resp.opcode, 0x0999);
    assert.deepEqual(decodeResponseMessage(resp), { ok: false, opcode: 0x0999, rv: P.CKR_FUNCTION_NOT_SUPPORTED, code: 'ERR_FUNCTION_NOT_SUPPORTED', message: 'opcode 0x0999 is not supported' });
  });

  test('an error that is not an HsmError leaks nothing; long messages are cut to the string limit', () => {
    const m = decodeResponseMessage(decodeFrame(encodeErrorResponse(0x0202, 1, new Error('secret internal detail'))));
    assert.deepEqual(m, { ok: false, opcode: 0x0202, rv: P.CKR_GENERAL_ERROR, code: 'ERR_GENERAL', message: 'internal error' });
    const long = decodeResponseMessage(decodeFrame(encodeErrorResponse(0x0202, 1, new HsmError('ERR_DATA_INVALID', 'é'.repeat(5000)))));
    assert.ok(!long.ok && new TextEncoder().encode(long.message).length <= DEFAULT_LIMITS.maxStringBytes && long.message.endsWith('…'));
  });

  test('an error code from a newer peer becomes ERR_GENERAL that names it', () => {
    const body = fromHex('0001010000000800000000000000050002030000000d4552525f4e45575f5448494e4700030300000003686921');
    assert.throws(() => decodeResponse({ kind: 2, requestId: 1, opcode: 0x0011, body }), isCode('ERR_GENERAL', /^ERR_NEW_THING: hi!$/));
  });

  test('the encoder names the field that is missing, unknown, or of the wrong type', () => {
    assert.throws(() => encodeRequest('login', 1, { user: 'cu1' } as never), isCode('ERR_ARGUMENTS_BAD', /login request: missing required field password \(2\)/));
    assert.throws(() => encodeRequest('login', 1, { user: 'cu1', password: 'x', pin: 'y' } as never), isCode('ERR_ARGUMENTS_BAD', /unknown field pin/));
    assert.throws(() => encodeRequest('login', 1, { user: 1, password: 'x' } as never), isCode('ERR_ARGUMENTS_BAD', /field user \(1\) must be a string/));
    assert.throws(() => encodeRequest('sign', 1, { mechanism: { mechanism: -1 }, handle: 1, data: new Uint8Array(0) }), isCode('ERR_ARGUMENTS_BAD', /sign request.mechanism: field mechanism \(1\) must be an integer/));
    assert.throws(() => encodeRequest('closeSession', 1, { session: 2 ** 53 }), isCode('ERR_ARGUMENTS_BAD', /0 to 2\^53-1/));
    assert.throws(() => encodeRequest('getAttributeValue', 1, { handle: 1, types: new Array(65).fill(0) }), isCode('ERR_LIMIT', /more than 64/));
    assert.throws(() => encodeRequest('nope' as OpName, 1, {} as never), isCode('ERR_ARGUMENTS_BAD', /unknown operation nope/));
  });

  test('a success response to an unknown opcode, or with stray fields, is refused', () => {
    const rvOk = '000101000000080000000000000000';
    assert.throws(() => decodeResponseMessage({ kind: 2, requestId: 1, opcode: 0x0999, body: fromHex(rvOk) }), isCode('ERR_PROTOCOL', /unknown opcode/));
    assert.throws(() => decodeResponseMessage({ kind: 2, requestId: 1, opcode: 0x0011, body: fromHex(rvOk + '0002030000000178') }), isCode('ERR_ARGUMENTS_BAD', /unknown field 2/));
    assert.throws(() => decodeResponseMessage({ kind: 2, requestId: 1, opcode: 0x0011, body: new Uint8Array(0) }), isCode('ERR_ARGUMENTS_BAD', /rv \(1\) must come first/));
    assert.throws(() => decodeRequest({ kind: 2, requestId: 1, opcode: 0x0011, body: new Uint8Array(0) }), isCode('ERR_PROTOCOL'));
  });

  test('a notice this version does not know is ignored', () => {
    assert.equal(decodeNotice({ kind: 3, requestId: 0, opcode: 0x00ff, body: new Uint8Array(0) }), undefined);
    const n = decodeNotice(decodeFrame(encodeNotice('goodbye', { reason: 'maintenance' })));
    assert.deepEqual(n, { notice: 'goodbye', obj: { reason: 'maintenance' } });
  });
});

/* ───────────────────────────── arbitrary messages ───────────────────────────── */

const safe = fc.oneof(fc.constantFrom(0, 1, 262144, 0xffffffff, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());

function arbValue(spec: FieldSpec): fc.Arbitrary<unknown> {
  const maxLength = Math.min(spec.max ?? 4, 4);
  switch (spec.type) {
    case 'u64': return safe;
    case 'bytes': return fc.uint8Array({ maxLength: 40 });
    case 'string': return fc.string({ unit: 'binary', maxLength: 16 });
    case 'bool': return fc.boolean();
    case 'attrs': return fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffffffff }), value: fc.uint8Array({ maxLength: 16 }) }, { noNullPrototype: true }), { maxLength });
    case 'u64list': return fc.array(safe, { maxLength });
    case 'strings': return fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength });
    case 'record': return arbObj(spec.fields!);
    case 'records': return fc.array(arbObj(spec.fields!), { maxLength: 3 });
  }
}

function arbObj(schema: Schema): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, spec] of Object.entries(schema)) model[name] = spec.optional ? fc.option(arbValue(spec), { nil: undefined }) : arbValue(spec);
  return fc.record(model, { noNullPrototype: true }).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
}

const requestArb = fc.constantFrom(...OP_LIST.map(([n]) => n)).chain((op) => fc.tuple(fc.constant(op), fc.integer({ min: 1, max: 0xffffffff }), arbObj(OPS[op].request)));
const responseArb = fc.constantFrom(...OP_LIST.map(([n]) => n)).chain((op) => fc.tuple(fc.constant(op), fc.integer({ min: 1, max: 0xffffffff }), arbObj(OPS[op].response)));

describe('properties', { timeout: 30_000 }, () => {
  test('round trip of arbitrary requests of every operation (and JSON form)', () => {
    fc.assert(fc.property(requestArb, ([op, id, obj]) => {
      const bytes = encodeRequest(op, id, obj as never);
      const f = decodeFrame(bytes);
      assert.equal(f.requestId, id);
      const back = decodeRequest(f);
      assert.equal(back.op, op);
      assert.deepEqual(back.obj, obj);
      const json = JSON.parse(JSON.stringify(toJson(OPS[op].request, obj)));
      assert.equal(toHex(encodeRequest(op, id, fromJson(OPS[op].request, json) as never)), toHex(bytes));
    }), { numRuns: 300 });
  });

  test('round trip of arbitrary responses of every operation', () => {
    fc.assert(fc.property(responseArb, ([op, id, obj]) => {
      const f = decodeFrame(encodeResponse(op, id, obj as never));
      assert.equal(f.requestId, id);
      assert.deepEqual(decodeResponse(f, op), obj);
    }), { numRuns: 300 });
  });

  test('round trip of arbitrary error responses', () => {
    const codes = ['ERR_ARGUMENTS_BAD', 'ERR_KEY_HANDLE_INVALID', 'ERR_LOGIN_FAILED', 'ERR_ACCOUNT_LOCKED', 'ERR_PROTOCOL', 'ERR_LIMIT'] as const;
    fc.assert(fc.property(fc.constantFrom(...OP_LIST.map(([n]) => n)), fc.constantFrom(...codes), fc.string({ unit: 'binary', maxLength: 40 }), (op, code, message) => {
      const f = decodeFrame(encodeResponse(op, 9, new HsmError(code, message)));
      assert.throws(() => decodeResponse(f, op), (e: unknown) => e instanceof HsmError && e.code === code && e.message === message);
    }), { numRuns: 100 });
  });

  test('arbitrary bodies under every opcode: decoding throws only HsmError', () => {
    const opcodes = [...OP_LIST.map(([, o]) => o.opcode), 0x0040, 0x0041];
    fc.assert(fc.property(fc.constantFrom(1, 2, 3), fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 120 }), (kind, opcode, body) => {
      const frame: Frame = { kind: kind as 1 | 2 | 3, requestId: kind === 3 ? 0 : 1, opcode, body };
      try {
        if (kind === 1) decodeRequest(frame);
        else if (kind === 2) decodeResponseMessage(frame);
        else decodeNotice(frame);
      } catch (e) {
        if (!(e instanceof HsmError)) throw e;
      }
    }), { numRuns: 300 });
  });
});
