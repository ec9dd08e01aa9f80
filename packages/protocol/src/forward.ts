/**
 * @module Forwarding frames without decoding their bodies (the daemon's lean
 * path, docs/performance.md).
 *
 * The daemon passes an application's request on to a node and the node's
 * answer back. Of a request it needs only the operation, the consistency
 * token (`minRevision`, field 254) and, for an operation that changes state,
 * the idempotency key (`requestId`, field 255); of an answer only the status
 * (rv, field 1), the error code of a failure (field 2) and the `revision` it
 * must strip (field 254). These functions read and change exactly those
 * fields by walking the top-level field headers (7 bytes each) and copy the
 * rest of the body as bytes.
 *
 * What they do not check is checked by the node that decodes the request and
 * by the application that decodes the answer, with the same decoder the
 * daemon used before. A request body whose top-level structure is unusual (a
 * field header that does not fit, ids out of order, a field id above 255, a
 * token of the wrong type) is not rewritten: `rewriteRequest` returns
 * undefined and the caller takes the full decode path, so such a request gets
 * exactly the error it got before.
 */
import { FIELD_HEADER_BYTES, FIELD_TYPES, HEADER_BYTES, KIND_RESPONSE, MAGIC, PROTOCOL_VERSION } from './codec.js';
import { HsmError } from './errors.js';
import { CODE_FIELD, MESSAGE_FIELD, REQUEST_ID_FIELD, REVISION_FIELD, RV_FIELD } from './messages.js';

const U64 = FIELD_TYPES.u64;
const STRING = FIELD_TYPES.string;
const RECORD = FIELD_TYPES.record;

function readU32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

/** A u64 value as a number, or -1 above 2^53 - 1. */
function readU64(b: Uint8Array, o: number): number {
  const hi = readU32(b, o);
  if (hi > 0x1fffff) return -1;
  return hi * 0x100000000 + readU32(b, o + 4);
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function writeFieldHeader(b: Uint8Array, o: number, id: number, type: number, len: number): void {
  b[o] = id >>> 8;
  b[o + 1] = id & 0xff;
  b[o + 2] = type;
  writeU32(b, o + 3, len);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * The body to send to a node: the application's body with `minRevision` set
 * to the larger of `revision` and the one the application sent, and, when
 * `newRequestId` is given (an operation that changes state), a `requestId`
 * added if the application sent none or an empty one. Undefined when the
 * body's top-level structure is not plainly well formed (decode it instead).
 */
export function rewriteRequest(body: Uint8Array, revision: number, newRequestId?: () => string): Uint8Array | undefined {
  let off = 0;
  let prev = 0;
  let tokenAt = -1; /* where field 254 (or, without it, 255) starts: everything before is copied */
  let appMin = 0;
  let ridStart = -1;
  let ridEnd = -1;
  while (off < body.length) {
    if (body.length - off < FIELD_HEADER_BYTES) return undefined;
    const id = (body[off]! << 8) | body[off + 1]!;
    const type = body[off + 2]!;
    const len = readU32(body, off + 3);
    const end = off + FIELD_HEADER_BYTES + len;
    if (id <= prev || end > body.length) return undefined;
    if (id === REVISION_FIELD) {
      if (type !== U64 || len !== 8) return undefined;
      appMin = readU64(body, off + FIELD_HEADER_BYTES);
      if (appMin < 0) return undefined;
      tokenAt = off;
    } else if (id === REQUEST_ID_FIELD) {
      if (type !== STRING || !newRequestId) return undefined;
      if (tokenAt < 0) tokenAt = off;
      if (len > 0) {
        ridStart = off;
        ridEnd = end;
      }
    } else if (id > REQUEST_ID_FIELD) {
      return undefined;
    }
    prev = id;
    off = end;
  }
  const keep = tokenAt < 0 ? body.length : tokenAt;
  const min = Math.max(revision, appMin);
  const added = ridStart < 0 && newRequestId ? utf8.encode(newRequestId()) : undefined;
  const ridLen = ridStart >= 0 ? ridEnd - ridStart : added ? FIELD_HEADER_BYTES + added.length : 0;
  const out = new Uint8Array(keep + FIELD_HEADER_BYTES + 8 + ridLen);
  out.set(body.subarray(0, keep), 0);
  let o = keep;
  writeFieldHeader(out, o, REVISION_FIELD, U64, 8);
  o += FIELD_HEADER_BYTES;
  writeU32(out, o, Math.floor(min / 0x100000000));
  writeU32(out, o + 4, min >>> 0);
  o += 8;
  if (ridStart >= 0) out.set(body.subarray(ridStart, ridEnd), o);
  else if (added) {
    writeFieldHeader(out, o, REQUEST_ID_FIELD, STRING, added.length);
    out.set(added, o + FIELD_HEADER_BYTES);
  }
  return out;
}

/** The mechanism number of a request (field 2, a Mechanism record whose field 1 is the number), for metrics; undefined without one. */
export function peekMechanism(body: Uint8Array): number | undefined {
  let off = 0;
  while (off + FIELD_HEADER_BYTES <= body.length) {
    const id = (body[off]! << 8) | body[off + 1]!;
    const len = readU32(body, off + 3);
    if (id > 2) return undefined;
    if (id === 2) {
      const v = off + FIELD_HEADER_BYTES;
      if (body[off + 2] !== RECORD || len < FIELD_HEADER_BYTES + 8 || v + len > body.length) return undefined;
      if (body[v] !== 0 || body[v + 1] !== 1 || body[v + 2] !== U64 || readU32(body, v + 3) !== 8) return undefined;
      const m = readU64(body, v + FIELD_HEADER_BYTES);
      return m < 0 ? undefined : m;
    }
    off += FIELD_HEADER_BYTES + len;
  }
  return undefined;
}

/** What the daemon reads of a node's answer. */
export type RawReply =
  /** Success: `revision` is the node's token (undefined if absent), at body bytes [cutStart, cutEnd). */
  | { readonly ok: true; readonly revision: number | undefined; readonly cutStart: number; readonly cutEnd: number }
  /** Failure: the node's error code and message. */
  | { readonly ok: false; readonly code: string; readonly message: string };

const malformed = (what: string) => new HsmError('ERR_PROTOCOL', `the node sent a malformed response: ${what}`);

/** Read the status and the token of a response body; throws ERR_PROTOCOL if its top-level fields do not parse. */
export function readReply(body: Uint8Array): RawReply {
  if (body.length < FIELD_HEADER_BYTES + 8 || body[0] !== 0 || body[1] !== RV_FIELD || body[2] !== U64 || readU32(body, 3) !== 8) throw malformed('field rv (1) must come first, as a u64');
  const failed = readU32(body, FIELD_HEADER_BYTES) !== 0 || readU32(body, FIELD_HEADER_BYTES + 4) !== 0;
  let off = FIELD_HEADER_BYTES + 8;
  let code = '';
  let message = '';
  while (off < body.length) {
    if (body.length - off < FIELD_HEADER_BYTES) throw malformed(`truncated field header at body offset ${off}`);
    const id = (body[off]! << 8) | body[off + 1]!;
    const type = body[off + 2]!;
    const len = readU32(body, off + 3);
    const v = off + FIELD_HEADER_BYTES;
    if (len > body.length - v) throw malformed(`field ${id} is truncated`);
    if (failed) {
      if (id === CODE_FIELD && type === STRING) code = utf8Decoder.decode(body.subarray(v, v + len));
      else if (id === MESSAGE_FIELD && type === STRING) message = utf8Decoder.decode(body.subarray(v, v + len));
    } else if (id === REVISION_FIELD) {
      if (type !== U64 || len !== 8) throw malformed('field revision (254) must be a u64');
      const revision = readU64(body, v);
      if (revision < 0) throw malformed('field revision (254) is above 2^53-1');
      return { ok: true, revision, cutStart: off, cutEnd: v + len };
    }
    off = v + len;
  }
  if (failed) {
    if (code === '') throw malformed('error response: field code (2) must be a string');
    return { ok: false, code, message };
  }
  return { ok: true, revision: undefined, cutStart: body.length, cutEnd: body.length };
}

/** The response frame for the application: its request id, the node's body without bytes [cutStart, cutEnd). */
export function replyFrame(requestId: number, opcode: number, body: Uint8Array, cutStart = body.length, cutEnd = cutStart): Uint8Array {
  const len = body.length - (cutEnd - cutStart);
  const out = new Uint8Array(HEADER_BYTES + len);
  out[0] = MAGIC >>> 8;
  out[1] = MAGIC & 0xff;
  out[2] = PROTOCOL_VERSION;
  out[3] = KIND_RESPONSE;
  writeU32(out, 4, requestId);
  out[8] = opcode >>> 8;
  out[9] = opcode & 0xff;
  writeU32(out, 12, len);
  out.set(body.subarray(0, cutStart), HEADER_BYTES);
  if (cutEnd < body.length) out.set(body.subarray(cutEnd), HEADER_BYTES + cutStart);
  return out;
}
