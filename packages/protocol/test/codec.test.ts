/**
 * The frame and TLV codec (docs/protocol.md §2-§5): the malformed vectors,
 * the streaming reader, limits checked before allocation, and property tests
 * that feed arbitrary and mutated bytes in arbitrary chunkings.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HsmError } from '../src/errors.js';
import {
  DEFAULT_LIMITS, FrameError, FrameReader, KIND_REQUEST, decodeBody, decodeFrame, encodeBody, encodeFrame, fromHex, resolveLimits, toHex,
  type Field, type Frame, type FrameKind,
} from '../src/codec.js';
import { OPS, decodeNotice, decodeRequest, decodeResponseMessage } from '../src/messages.js';
import { readVectorJson } from '../../../test-vectors/load.js';

interface MalformedVector {
  readonly name: string;
  readonly hex: string;
  readonly code: string;
  readonly message: string;
}
const MALFORMED = readVectorJson<{ vectors: MalformedVector[] }>('protocol', 'malformed.json').vectors;

/** Everything a receiver does with one frame (docs/protocol.md §8 order). */
function decodeAll(frame: Frame): void {
  if (frame.kind === KIND_REQUEST) decodeRequest(frame);
  else if (frame.kind === 2) decodeResponseMessage(frame);
  else decodeNotice(frame);
}

function codeOf(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    if (!(e instanceof HsmError)) throw e;
    return e.code;
  }
}

/** Feed bytes to a fresh reader in the given chunks, decode every frame, then end the stream. */
function feed(bytes: Uint8Array, cuts: readonly number[], reader = new FrameReader()): void {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, bytes.length]) {
    for (const f of reader.push(bytes.subarray(from, p))) decodeAll(f);
    from = p;
  }
  reader.end();
}

/** Only HsmError may escape: anything else fails the property. */
function onlyHsmErrors(run: () => void): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof HsmError)) throw e;
  }
}

describe('malformed vectors', () => {
  for (const v of MALFORMED) {
    test(`${v.name}: ${v.code}`, () => {
      const bytes = fromHex(v.hex);
      assert.throws(() => decodeAll(decodeFrame(bytes)), (e: unknown) => {
        assert.ok(e instanceof HsmError, `not an HsmError: ${String(e)}`);
        assert.equal(e.code, v.code, e.message);
        assert.ok(e.message.includes(v.message), `message "${e.message}" lacks "${v.message}"`);
        return true;
      });
      /* The streaming reader refuses the same bytes with the same code, whole or byte by byte. */
      assert.equal(codeOf(() => feed(bytes, [])), v.code, 'reader, one chunk');
      assert.equal(codeOf(() => feed(bytes, Array.from({ length: bytes.length }, (_, i) => i))), v.code, 'reader, byte by byte');
    });
  }
});

describe('frames', () => {
  test('a frame round-trips and its body is a view of exactly the declared length', () => {
    const body = encodeBody([{ id: 1, type: 'string', value: 'cu1' }]);
    const bytes = encodeFrame({ kind: 1, requestId: 0xfffffffe, opcode: 0x0010, body });
    assert.equal(toHex(bytes.subarray(0, 16)), '4f480101' + 'fffffffe' + '0010' + '0000' + '0000000a');
    const f = decodeFrame(bytes);
    assert.deepEqual({ ...f, body: toHex(f.body) }, { kind: 1, requestId: 0xfffffffe, opcode: 0x0010, body: toHex(body) });
  });

  test('the encoder refuses what a decoder would refuse', () => {
    const body = new Uint8Array(0);
    assert.throws(() => encodeFrame({ kind: 1, requestId: 0, opcode: 1, body }), /request id 0 is reserved/);
    assert.throws(() => encodeFrame({ kind: 3, requestId: 1, opcode: 1, body }), /notice must have request id 0/);
    assert.throws(() => encodeFrame({ kind: 4 as FrameKind, requestId: 1, opcode: 1, body }), /unknown frame kind/);
    assert.throws(() => encodeFrame({ kind: 1, requestId: 2 ** 32, opcode: 1, body }), /request id must be a u32/);
    assert.throws(() => encodeFrame({ kind: 1, requestId: 1, opcode: 0x10000, body }), /opcode must be a u16/);
    assert.throws(() => encodeFrame({ kind: 1, requestId: 1, opcode: 1, body: new Uint8Array(101) }, resolveLimits({ maxBodyBytes: 100 })), (e: unknown) => e instanceof HsmError && e.code === 'ERR_LIMIT');
  });

  test('limits can be lowered, never raised', () => {
    assert.equal(resolveLimits({ maxBodyBytes: 1024 }).maxBodyBytes, 1024);
    assert.equal(resolveLimits({}).maxFields, DEFAULT_LIMITS.maxFields);
    assert.throws(() => resolveLimits({ maxBodyBytes: DEFAULT_LIMITS.maxBodyBytes + 1 }), /maxBodyBytes must be an integer from 0 to 16777216/);
    assert.throws(() => resolveLimits({ maxFields: -1 }), /maxFields/);
  });
});

describe('FrameReader', () => {
  const frames = [
    encodeFrame({ kind: 1, requestId: 1, opcode: 0x0011, body: new Uint8Array(0) }),
    encodeFrame({ kind: 2, requestId: 1, opcode: 0x0011, body: encodeBody([{ id: 1, type: 'u64', value: 0n }]) }),
    encodeFrame({ kind: 3, requestId: 0, opcode: 0x0041, body: encodeBody([{ id: 1, type: 'string', value: 'maintenance' }]) }),
  ];
  const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((at, f) => (stream.set(f, at), at + f.length), 0);

  test('pipelined frames come out whole and in order, however the stream is cut', () => {
    fc.assert(fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 12 }), (cuts) => {
      const r = new FrameReader();
      const got: Frame[] = [];
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      let from = 0;
      for (const p of [...points, stream.length]) {
        got.push(...r.push(stream.subarray(from, p)));
        from = p;
      }
      r.end();
      assert.equal(r.buffered, 0);
      assert.deepEqual(got.map((f) => toHex(encodeFrame(f))), frames.map(toHex));
    }), { numRuns: 200 });
  });

  test('a declared body of 4 GiB - 1 is refused from the header alone, without waiting or allocating', () => {
    const header = fromHex('4f480101' + '00000009' + '0202' + '0000' + 'ffffffff');
    assert.equal(header.length, 16);
    const r = new FrameReader();
    assert.deepEqual(r.push(header.subarray(0, 15)), []);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => r.push(header.subarray(15)), (e: unknown) => {
      assert.ok(e instanceof FrameError);
      assert.equal(e.code, 'ERR_LIMIT');
      /* The header was valid: the server can answer request 9 before it closes. */
      assert.deepEqual(e.header, { kind: 1, requestId: 9, opcode: 0x0202, bodyLength: 0xffffffff });
      return true;
    });
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large buffer was allocated');
    assert.equal(r.buffered, 0);
    /* The reader stays failed. */
    assert.throws(() => r.push(new Uint8Array([0x4f])), /exceeds maxBodyBytes/);
  });

  test('a configured lower limit applies to the header', () => {
    const r = new FrameReader({ maxBodyBytes: 100 });
    const ok = encodeFrame({ kind: 1, requestId: 1, opcode: 0x0404, body: new Uint8Array(100) });
    assert.equal(r.push(ok).length, 1);
    const big = encodeFrame({ kind: 1, requestId: 2, opcode: 0x0404, body: new Uint8Array(101) });
    assert.throws(() => r.push(big.subarray(0, 16)), (e: unknown) => e instanceof FrameError && e.code === 'ERR_LIMIT' && e.header?.requestId === 2);
  });

  test('garbage is refused at its first byte, before a header is complete', () => {
    const r = new FrameReader();
    assert.throws(() => r.push(new TextEncoder().encode('G')), /bad magic: byte 0 is 0x47/);
    const r2 = new FrameReader();
    r2.push(new Uint8Array([0x4f, 0x48]));
    assert.throws(() => r2.push(new Uint8Array([2])), /unsupported protocol version 2/);
  });

  test('end() refuses a partial frame and accepts a clean boundary', () => {
    const r = new FrameReader();
    r.push(frames[1]!.subarray(0, 20));
    assert.equal(r.buffered, 20);
    assert.throws(() => r.end(), /truncated frame: the stream ended after 20 bytes/);
    const r2 = new FrameReader();
    r2.push(frames[0]!);
    r2.end();
  });
});

/* ───────────────────────────── generic bodies ───────────────────────────── */

const u64Arb = fc.oneof(fc.constantFrom(0n, 1n, (1n << 64n) - 1n, 1n << 53n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const stringArb = fc.string({ unit: 'binary', maxLength: 12 });
const bytesArb = fc.uint8Array({ maxLength: 24 });

/** Arbitrary well-formed field lists, nested up to the depth limit. */
const { body: bodyArb } = fc.letrec<{ body: Field[]; value: Omit<Field, 'id'> }>((tie) => ({
  body: fc.uniqueArray(fc.integer({ min: 1, max: 0xffff }), { maxLength: 5 }).chain((ids) => {
    const sorted = [...ids].sort((a, b) => a - b);
    return fc.tuple(...sorted.map(() => tie('value'))).map((vals) => vals.map((v, i) => ({ ...v, id: sorted[i]! }) as Field));
  }),
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    u64Arb.map((value) => ({ type: 'u64' as const, value })),
    bytesArb.map((value) => ({ type: 'bytes' as const, value })),
    stringArb.map((value) => ({ type: 'string' as const, value })),
    fc.boolean().map((value) => ({ type: 'bool' as const, value })),
    fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffffffff }), value: bytesArb }, { noNullPrototype: true }), { maxLength: 4 }).map((value) => ({ type: 'attrs' as const, value })),
    fc.array(u64Arb, { maxLength: 4 }).map((value) => ({ type: 'u64list' as const, value })),
    fc.array(stringArb, { maxLength: 4 }).map((value) => ({ type: 'strings' as const, value })),
    tie('body').map((value) => ({ type: 'record' as const, value: value as Field[] })),
    fc.array(tie('body') as fc.Arbitrary<Field[]>, { maxLength: 3 }).map((value) => ({ type: 'records' as const, value })),
  ) as fc.Arbitrary<Omit<Field, 'id'>>,
}));

/** Bodies deeper than the limit are refused (a record[] field counts even when empty); keep the generator's within it. */
function depth(fields: readonly Field[]): number {
  let d = 0;
  for (const f of fields) {
    if (f.type === 'record') d = Math.max(d, 1 + depth(f.value));
    if (f.type === 'records') d = Math.max(d, 1, ...f.value.map((r) => 1 + depth(r)));
  }
  return d;
}
const validBodyArb = bodyArb.filter((b) => depth(b) <= DEFAULT_LIMITS.maxDepth);

describe('bodies', () => {
  test('round trip of arbitrary well-formed bodies, and the encoding is canonical', () => {
    fc.assert(fc.property(validBodyArb, (fields) => {
      const bytes = encodeBody(fields);
      const back = decodeBody(bytes);
      assert.deepEqual(back, fields);
      assert.equal(toHex(encodeBody(back)), toHex(bytes));
    }), { numRuns: 300 });
  });

  test('the encoder refuses fields out of order, repeated, or of bad values', () => {
    assert.throws(() => encodeBody([{ id: 2, type: 'bool', value: true }, { id: 1, type: 'bool', value: true }]), /field 1 is out of order/);
    assert.throws(() => encodeBody([{ id: 1, type: 'bool', value: true }, { id: 1, type: 'bool', value: true }]), /field 1 is repeated/);
    assert.throws(() => encodeBody([{ id: 0, type: 'bool', value: true }]), /field id must be 1..65535/);
    assert.throws(() => encodeBody([{ id: 1, type: 'u64', value: 1n << 64n }]), /expected a u64/);
    assert.throws(() => encodeBody([{ id: 1, type: 'string', value: 'a\uD800b' }]), /unpaired surrogate/);
    assert.throws(() => encodeBody([{ id: 1, type: 'string', value: 'x'.repeat(4097) }]), /exceeds maxStringBytes/);
    assert.throws(() => encodeBody([{ id: 1, type: 'attrs', value: Array.from({ length: 65 }, () => ({ type: 1, value: new Uint8Array(1) })) }]), /65 attributes exceed 64/);
    let deep: Field[] = [];
    for (let i = 0; i < 5; i++) deep = [{ id: 1, type: 'record', value: deep }];
    assert.throws(() => encodeBody(deep), /nesting deeper than maxDepth/);
  });

  test('a leading byte order mark is kept, not swallowed', () => {
    const fields: Field[] = [{ id: 1, type: 'string', value: '\uFEFFx' }];
    assert.deepEqual(decodeBody(encodeBody(fields)), fields);
  });
});

/* ───────────────────────────── fuzzing the reader ───────────────────────────── */

const cutsArb = fc.array(fc.nat({ max: 4096 }), { maxLength: 8 });

type Mutation =
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.op === 'set' && b.length > 0) b[at] = m.byte;
    else if (m.op === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    else if (m.op === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.count)]);
    else if (m.op === 'truncate') b = b.slice(0, at);
  }
  return b;
}

const opcodes = Object.values(OPS).map((o) => o.opcode);
const frameArb = fc.record({
  kind: fc.constantFrom<FrameKind>(1, 2, 3),
  requestId: fc.integer({ min: 1, max: 0xffffffff }),
  opcode: fc.oneof(fc.constantFrom(...opcodes, 0x0040, 0x0041), fc.integer({ min: 0, max: 0xffff })),
  body: validBodyArb,
}).map(({ kind, requestId, opcode, body }) => encodeFrame({ kind, requestId: kind === 3 ? 0 : requestId, opcode, body: encodeBody(body) }));

describe('robustness', { timeout: 30_000 }, () => {
  test('arbitrary bytes in arbitrary chunks: only HsmError, never a hang', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), cutsArb, (bytes, cuts) => onlyHsmErrors(() => feed(bytes, cuts))), { numRuns: 300 });
  });

  test('arbitrary bytes behind a valid header reach the body decoder: only HsmError', () => {
    fc.assert(fc.property(
      fc.constantFrom<FrameKind>(1, 2, 3), fc.constantFrom(...opcodes, 0x0040), fc.uint8Array({ maxLength: 200 }), cutsArb,
      (kind, opcode, body, cuts) => onlyHsmErrors(() => feed(encodeFrame({ kind, requestId: kind === 3 ? 0 : 7, opcode, body }), cuts)),
    ), { numRuns: 300 });
  });

  test('mutated and truncated valid frames in arbitrary chunks: only HsmError, never a hang', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 3 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), cutsArb, (fs, ms, cuts) => {
      const joined = Uint8Array.from(fs.flatMap((f) => [...f]));
      onlyHsmErrors(() => feed(mutate(joined, ms), cuts));
    }), { numRuns: 300 });
  });

  test('decodeBody on arbitrary bytes: only HsmError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => onlyHsmErrors(() => decodeBody(bytes))), { numRuns: 300 });
  });
});
