/**
 * @module The wire codec of docs/protocol.md: frames and TLV bodies.
 *
 * Two layers, both pure (no Node built-ins, no I/O):
 *  - frames: a fixed 16-byte big-endian header and a body (`encodeFrame`,
 *    `decodeFrame` for one whole frame, `FrameReader` for a byte stream);
 *  - bodies: a sequence of typed TLV fields in ascending id order
 *    (`encodeBody`, `decodeBody`), generic, knowing nothing of opcodes.
 * messages.ts puts the opcode schemas on top.
 *
 * Every length and count read from the wire is compared with its limit and
 * with the bytes that remain before anything is sliced or allocated. Every
 * failure is an HsmError: ERR_PROTOCOL for bytes that are not well formed,
 * ERR_LIMIT for a limit exceeded, ERR_ARGUMENTS_BAD for bad values handed to
 * an encoder.
 */
import { HsmError } from './errors.js';

export const MAGIC = 0x4f48; /* "OH" */
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 16;
export const FIELD_HEADER_BYTES = 7;

export const KIND_REQUEST = 1;
export const KIND_RESPONSE = 2;
export const KIND_NOTICE = 3;
export type FrameKind = 1 | 2 | 3;

/** Field types and their wire numbers (docs/protocol.md §3). */
export const FIELD_TYPES = {
  u64: 1,
  bytes: 2,
  string: 3,
  bool: 4,
  attrs: 5,
  u64list: 6,
  record: 7,
  records: 8,
  strings: 9,
} as const;
export type FieldType = keyof typeof FIELD_TYPES;
const TYPE_NAMES: readonly (FieldType | undefined)[] = (() => {
  const a: (FieldType | undefined)[] = [];
  for (const [name, n] of Object.entries(FIELD_TYPES)) a[n] = name as FieldType;
  return a;
})();

/** Decoder and encoder limits (docs/protocol.md §4). */
export interface Limits {
  readonly maxBodyBytes: number;
  readonly maxFields: number;
  readonly maxAttributes: number;
  readonly maxAttributeBytes: number;
  readonly maxStringBytes: number;
  readonly maxDepth: number;
  readonly maxListLength: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxBodyBytes: 16 * 1024 * 1024,
  maxFields: 256,
  maxAttributes: 64,
  maxAttributeBytes: 64 * 1024,
  maxStringBytes: 4096,
  maxDepth: 4,
  maxListLength: 65536,
});

/** Limits from a partial configuration; each may be lowered, never raised above its default. */
export function resolveLimits(partial?: Partial<Limits>): Limits {
  if (partial === undefined) return DEFAULT_LIMITS;
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial)) {
    if (v === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(DEFAULT_LIMITS, k)) throw new HsmError('ERR_ARGUMENTS_BAD', `unknown protocol limit ${k}`);
    const max = (DEFAULT_LIMITS as unknown as Record<string, number>)[k]!;
    if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new HsmError('ERR_ARGUMENTS_BAD', `protocol limit ${k} must be an integer from 0 to ${max}`);
    out[k] = v;
  }
  return out as unknown as Limits;
}

/** CK_ATTRIBUTE on the wire: the type and the value bytes, exactly as pValue holds them. */
export interface WireAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

/** One TLV field, generic. u64 values are bigints here so that every 64-bit value survives. */
export type Field =
  | { readonly id: number; readonly type: 'u64'; readonly value: bigint }
  | { readonly id: number; readonly type: 'bytes'; readonly value: Uint8Array }
  | { readonly id: number; readonly type: 'string'; readonly value: string }
  | { readonly id: number; readonly type: 'bool'; readonly value: boolean }
  | { readonly id: number; readonly type: 'attrs'; readonly value: readonly WireAttribute[] }
  | { readonly id: number; readonly type: 'u64list'; readonly value: readonly bigint[] }
  | { readonly id: number; readonly type: 'record'; readonly value: readonly Field[] }
  | { readonly id: number; readonly type: 'records'; readonly value: readonly (readonly Field[])[] }
  | { readonly id: number; readonly type: 'strings'; readonly value: readonly string[] };

export interface FrameHeader {
  readonly kind: FrameKind;
  readonly requestId: number;
  readonly opcode: number;
  readonly bodyLength: number;
}

export interface Frame {
  readonly kind: FrameKind;
  readonly requestId: number;
  readonly opcode: number;
  readonly body: Uint8Array;
}

/**
 * A framing error. `header` is set when the 16-byte header was valid and only
 * its declared body length was refused: a server answers that request id with
 * an error response, then closes (docs/protocol.md §5.3). Otherwise it closes.
 */
export class FrameError extends HsmError {
  readonly header: FrameHeader | undefined;
  constructor(code: 'ERR_PROTOCOL' | 'ERR_LIMIT', message: string, header?: FrameHeader) {
    super(code, message);
    this.header = header;
  }
}

const protocolError = (message: string) => new HsmError('ERR_PROTOCOL', message);
const limitError = (message: string) => new HsmError('ERR_LIMIT', message);
const badArgument = (message: string) => new HsmError('ERR_ARGUMENTS_BAD', message);

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

/* ───────────────────────────── byte helpers ───────────────────────────── */

const utf8Encoder = new TextEncoder();
/* fatal: invalid UTF-8 is an error; ignoreBOM: a leading U+FEFF is kept, so strings round-trip exactly. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A string that contains an unpaired surrogate cannot be encoded as UTF-8. */
function isWellFormed(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}

function view(buf: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, length);
}

function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function readU32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function readU64(b: Uint8Array, o: number): bigint {
  return (BigInt(readU32(b, o)) << 32n) | BigInt(readU32(b, o + 4));
}

/** Lower-case hex without separators (the test-vector convention). */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw badArgument('not a hex string of whole bytes');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A growable big-endian writer. */
class Writer {
  private buf = new Uint8Array(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf[this.length++] = v >>> 8;
    this.buf[this.length++] = v & 0xff;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf[this.length++] = v >>> 24;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
  }

  u64(v: bigint): void {
    this.u32(Number(v >> 32n));
    this.u32(Number(v & 0xffffffffn));
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Write a u32 placeholder; returns its offset for `patch`. */
  placeholder(): number {
    const at = this.length;
    this.u32(0);
    return at;
  }

  patch(at: number, v: number): void {
    this.buf[at] = v >>> 24;
    this.buf[at + 1] = (v >>> 16) & 0xff;
    this.buf[at + 2] = (v >>> 8) & 0xff;
    this.buf[at + 3] = v & 0xff;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** Bytes allocated (what keeping this writer for the next encode holds). */
  get capacity(): number {
    return this.buf.length;
  }

  /** Leave n bytes to be filled later (a frame header). */
  skip(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  /** The frame header at offset 0 (room left by `skip(HEADER_BYTES)`). */
  header(kind: number, requestId: number, opcode: number, bodyLength: number): void {
    const b = this.buf;
    b[0] = MAGIC >>> 8;
    b[1] = MAGIC & 0xff;
    b[2] = PROTOCOL_VERSION;
    b[3] = kind;
    this.patch(4, requestId);
    b[8] = opcode >>> 8;
    b[9] = opcode & 0xff;
    b[10] = 0;
    b[11] = 0;
    this.patch(12, bodyLength);
  }
}

/*
 * One writer reused by every encode (an encode is synchronous and never starts
 * another), so an answer costs one allocation, its own bytes, instead of a
 * 256-byte scratch buffer, the body and then the frame (docs/performance.md).
 * A writer that grew past SPARE_MAX_BYTES is not kept.
 */
const SPARE_MAX_BYTES = 64 * 1024;
let spareWriter: Writer | undefined = new Writer();

function takeWriter(): Writer {
  const w = spareWriter ?? new Writer();
  spareWriter = undefined;
  w.length = 0;
  return w;
}

function giveWriter(w: Writer): void {
  if (w.capacity <= SPARE_MAX_BYTES) spareWriter = w;
}

/* ─────────────────────────────── frames ─────────────────────────────── */

function checkKind(kind: number, requestId: number): string | undefined {
  if (kind !== KIND_REQUEST && kind !== KIND_RESPONSE && kind !== KIND_NOTICE) return `unknown frame kind ${kind}`;
  if (kind === KIND_NOTICE ? requestId !== 0 : requestId === 0) {
    return kind === KIND_NOTICE ? `a notice must have request id 0, got ${requestId}` : 'request id 0 is reserved for notices';
  }
  return undefined;
}

function checkFrameHeader(kind: number, requestId: number, opcode: number): void {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > U32_MAX) throw badArgument(`request id must be a u32, got ${String(requestId)}`);
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xffff) throw badArgument(`opcode must be a u16, got ${String(opcode)}`);
  const kindProblem = checkKind(kind, requestId);
  if (kindProblem) throw badArgument(kindProblem);
}

/** Encode one frame: header and body. */
export function encodeFrame(frame: Frame, limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const { kind, requestId, opcode, body } = frame;
  checkFrameHeader(kind, requestId, opcode);
  if (!(body instanceof Uint8Array)) throw badArgument('frame body must be a Uint8Array');
  if (body.length > limits.maxBodyBytes) throw limitError(`frame body of ${body.length} bytes exceeds maxBodyBytes (${limits.maxBodyBytes})`);
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out[0] = MAGIC >>> 8;
  out[1] = MAGIC & 0xff;
  out[2] = PROTOCOL_VERSION;
  out[3] = kind;
  out[4] = requestId >>> 24;
  out[5] = (requestId >>> 16) & 0xff;
  out[6] = (requestId >>> 8) & 0xff;
  out[7] = requestId & 0xff;
  out[8] = opcode >>> 8;
  out[9] = opcode & 0xff;
  /* flags (10, 11) stay 0 */
  out[12] = body.length >>> 24;
  out[13] = (body.length >>> 16) & 0xff;
  out[14] = (body.length >>> 8) & 0xff;
  out[15] = body.length & 0xff;
  out.set(body, HEADER_BYTES);
  return out;
}

/** Check the first `n` (< 16) header bytes: magic, version, kind, as each arrives. */
function checkHeaderPrefix(b: Uint8Array, n: number): void {
  if (n >= 1 && b[0] !== MAGIC >>> 8) throw new FrameError('ERR_PROTOCOL', `bad magic: byte 0 is 0x${b[0]!.toString(16).padStart(2, '0')}, expected 0x4f`);
  if (n >= 2 && b[1] !== (MAGIC & 0xff)) throw new FrameError('ERR_PROTOCOL', `bad magic: byte 1 is 0x${b[1]!.toString(16).padStart(2, '0')}, expected 0x48`);
  if (n >= 3 && b[2] !== PROTOCOL_VERSION) throw new FrameError('ERR_PROTOCOL', `unsupported protocol version ${b[2]} (this codec speaks version ${PROTOCOL_VERSION})`);
  if (n >= 4 && b[3] !== KIND_REQUEST && b[3] !== KIND_RESPONSE && b[3] !== KIND_NOTICE) throw new FrameError('ERR_PROTOCOL', `unknown frame kind ${b[3]}`);
}

/** Parse and check a complete 16-byte header. The body length is checked against the limit here. */
export function parseHeader(b: Uint8Array, limits: Limits = DEFAULT_LIMITS): FrameHeader {
  if (b.length < HEADER_BYTES) throw new FrameError('ERR_PROTOCOL', `truncated frame header: ${b.length} of ${HEADER_BYTES} bytes`);
  checkHeaderPrefix(b, 4);
  const kind = b[3] as FrameKind;
  const requestId = readU32(b, 4);
  const opcode = readU16(b, 8);
  const flags = readU16(b, 10);
  const bodyLength = readU32(b, 12);
  if (flags !== 0) throw new FrameError('ERR_PROTOCOL', `flags must be 0 in version 1, got 0x${flags.toString(16).padStart(4, '0')}`);
  const kindProblem = checkKind(kind, requestId);
  if (kindProblem) throw new FrameError('ERR_PROTOCOL', kindProblem);
  if (bodyLength > limits.maxBodyBytes) {
    throw new FrameError('ERR_LIMIT', `declared body length ${bodyLength} exceeds maxBodyBytes (${limits.maxBodyBytes})`, { kind, requestId, opcode, bodyLength });
  }
  return { kind, requestId, opcode, bodyLength };
}

/** Decode exactly one whole frame: header, then a body of exactly the declared length. */
export function decodeFrame(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): Frame {
  if (buf.length < HEADER_BYTES) {
    checkHeaderPrefix(buf, buf.length);
    throw new FrameError('ERR_PROTOCOL', `truncated frame header: ${buf.length} of ${HEADER_BYTES} bytes`);
  }
  const h = parseHeader(buf, limits);
  const present = buf.length - HEADER_BYTES;
  if (present < h.bodyLength) throw new FrameError('ERR_PROTOCOL', `truncated frame body: ${present} of ${h.bodyLength} bytes`);
  if (present > h.bodyLength) throw new FrameError('ERR_PROTOCOL', `${present - h.bodyLength} trailing bytes after the frame`);
  return { kind: h.kind, requestId: h.requestId, opcode: h.opcode, body: view(buf, HEADER_BYTES, h.bodyLength) };
}

/**
 * Splits a byte stream into frames. `push` takes each chunk as it arrives and
 * returns the frames it completes, in order. The header is checked as soon as
 * its bytes arrive; a declared body length over the limit is refused at once,
 * before any of the body is awaited or allocated. After an error the reader
 * stays failed: every later `push` throws the same error (the connection must
 * be closed). The reader keeps references to pushed chunks until their bytes
 * are consumed, so callers must not reuse a chunk's memory after `push`.
 */
export class FrameReader {
  readonly limits: Limits;
  private chunks: Uint8Array[] = [];
  private head = 0; /* index of the first live chunk */
  private offset = 0; /* bytes already consumed from chunks[head] */
  private size = 0; /* live bytes buffered */
  private header: FrameHeader | undefined;
  private failed: HsmError | undefined;

  constructor(limits?: Partial<Limits>) {
    this.limits = resolveLimits(limits);
  }

  /** Bytes buffered for a frame that is not complete yet. */
  get buffered(): number {
    return this.size;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.failed) throw this.failed;
    if (!(chunk instanceof Uint8Array)) throw badArgument('FrameReader.push takes a Uint8Array');
    try {
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.size += chunk.length;
      }
      const frames: Frame[] = [];
      for (;;) {
        if (!this.header) {
          const n = Math.min(this.size, HEADER_BYTES);
          const first = this.chunks[this.head];
          if (n === HEADER_BYTES && first !== undefined && first.length - this.offset >= HEADER_BYTES) {
            /* The whole header in the first chunk (the usual case): read it in place. */
            this.header = parseHeader(first.subarray(this.offset, this.offset + HEADER_BYTES), this.limits);
          } else {
            const prefix = this.peek(n);
            if (n < HEADER_BYTES) {
              checkHeaderPrefix(prefix, n);
              break;
            }
            this.header = parseHeader(prefix, this.limits);
          }
        }
        const need = HEADER_BYTES + this.header.bodyLength;
        if (this.size < need) break;
        const h = this.header;
        this.header = undefined;
        frames.push({ kind: h.kind, requestId: h.requestId, opcode: h.opcode, body: this.takeBody(need) });
      }
      return frames;
    } catch (e) {
      this.failed = e instanceof HsmError ? e : new HsmError('ERR_PROTOCOL', 'frame reader failed', { cause: e });
      this.release();
      throw this.failed;
    }
  }

  /** The stream has ended: refuse a partial frame left in the buffer. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.size > 0) {
      this.failed = new FrameError('ERR_PROTOCOL', `truncated frame: the stream ended after ${this.size} bytes of a frame`);
      this.release();
      throw this.failed;
    }
  }

  private release(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.size = 0;
  }

  /** Copy of the first n buffered bytes (n ≤ 16), without consuming them. */
  private peek(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    let off = this.offset;
    for (let i = this.head; got < n && i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length - off, n - got);
      out.set(c.subarray(off, off + k), got);
      got += k;
      off = 0;
    }
    return out;
  }

  /** Consume a whole frame of n bytes and return its body: a view when the frame lies in one chunk, else one copy. */
  private takeBody(n: number): Uint8Array {
    const first = this.chunks[this.head]!;
    if (first.length - this.offset < n) return view(this.take(n), HEADER_BYTES, n - HEADER_BYTES);
    const body = view(first, this.offset + HEADER_BYTES, n - HEADER_BYTES);
    this.offset += n;
    if (this.offset === first.length) {
      this.head++;
      this.offset = 0;
    }
    this.consumed(n);
    return body;
  }

  /** Consume n buffered bytes; a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    const first = this.chunks[this.head]!;
    let out: Uint8Array;
    if (first.length - this.offset >= n) {
      out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
    } else {
      out = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length - this.offset, n - got);
        out.set(c.subarray(this.offset, this.offset + k), got);
        got += k;
        this.offset += k;
        if (this.offset === c.length) {
          this.head++;
          this.offset = 0;
        }
      }
    }
    while (this.head < this.chunks.length && this.offset === this.chunks[this.head]!.length) {
      this.head++;
      this.offset = 0;
    }
    this.consumed(n);
    return out;
  }

  /** n bytes were taken: count them, and drop the chunks read through (all of them, or a long run of them). */
  private consumed(n: number): void {
    this.size -= n;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/* ─────────────────────────────── bodies ─────────────────────────────── */

function encodeString(s: unknown, where: string, limits: Limits): Uint8Array {
  if (typeof s !== 'string') throw badArgument(`${where}: expected a string`);
  if (!isWellFormed(s)) throw badArgument(`${where}: string contains an unpaired surrogate`);
  const b = utf8Encoder.encode(s);
  if (b.length > limits.maxStringBytes) throw limitError(`${where}: string of ${b.length} bytes exceeds maxStringBytes (${limits.maxStringBytes})`);
  return b;
}

function checkU64(v: unknown, where: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw badArgument(`${where}: expected a u64 bigint`);
  return v;
}

function checkCount(n: number, max: number, what: string, where: string): void {
  if (n > max) throw limitError(`${where}: ${n} ${what} exceed ${max}`);
}

function writeBody(w: Writer, fields: readonly Field[], limits: Limits, depth: number): void {
  if (!Array.isArray(fields)) throw badArgument('a body must be an array of fields');
  checkCount(fields.length, limits.maxFields, 'fields', 'body');
  let prev = 0;
  for (const f of fields) {
    if (typeof f !== 'object' || f === null) throw badArgument('a field must be an object');
    const id = f.id;
    if (!Number.isInteger(id) || id < 1 || id > 0xffff) throw badArgument(`field id must be 1..65535, got ${String(id)}`);
    if (id <= prev) throw badArgument(`field ${id} ${id === prev ? 'is repeated' : `is out of order (after field ${prev})`}`);
    prev = id;
    const where = `field ${id}`;
    const t = FIELD_TYPES[f.type as FieldType];
    if (t === undefined) throw badArgument(`${where}: unknown field type ${String(f.type)}`);
    w.u16(id);
    w.u8(t);
    const lenAt = w.placeholder();
    const start = w.length;
    switch (f.type) {
      case 'u64':
        w.u64(checkU64(f.value, where));
        break;
      case 'bytes':
        if (!(f.value instanceof Uint8Array)) throw badArgument(`${where}: expected a Uint8Array`);
        w.bytes(f.value);
        break;
      case 'string':
        w.bytes(encodeString(f.value, where, limits));
        break;
      case 'bool':
        if (typeof f.value !== 'boolean') throw badArgument(`${where}: expected a boolean`);
        w.u8(f.value ? 1 : 0);
        break;
      case 'attrs': {
        if (!Array.isArray(f.value)) throw badArgument(`${where}: expected an attribute array`);
        checkCount(f.value.length, limits.maxAttributes, 'attributes', where);
        w.u32(f.value.length);
        for (const a of f.value) {
          if (!a || !Number.isInteger(a.type) || a.type < 0 || a.type > U32_MAX) throw badArgument(`${where}: attribute type must be a u32`);
          if (!(a.value instanceof Uint8Array)) throw badArgument(`${where}: attribute value must be a Uint8Array`);
          if (a.value.length > limits.maxAttributeBytes) throw limitError(`${where}: attribute value of ${a.value.length} bytes exceeds maxAttributeBytes (${limits.maxAttributeBytes})`);
          w.u32(a.type);
          w.u32(a.value.length);
          w.bytes(a.value);
        }
        break;
      }
      case 'u64list':
        if (!Array.isArray(f.value)) throw badArgument(`${where}: expected an array`);
        checkCount(f.value.length, limits.maxListLength, 'list elements', where);
        w.u32(f.value.length);
        for (const v of f.value) w.u64(checkU64(v, where));
        break;
      case 'record':
        if (depth + 1 > limits.maxDepth) throw limitError(`${where}: nesting deeper than maxDepth (${limits.maxDepth})`);
        writeBody(w, f.value, limits, depth + 1);
        break;
      case 'records': {
        if (!Array.isArray(f.value)) throw badArgument(`${where}: expected an array of records`);
        checkCount(f.value.length, limits.maxListLength, 'list elements', where);
        if (depth + 1 > limits.maxDepth) throw limitError(`${where}: nesting deeper than maxDepth (${limits.maxDepth})`);
        w.u32(f.value.length);
        for (const r of f.value) {
          const at = w.placeholder();
          const s = w.length;
          writeBody(w, r, limits, depth + 1);
          w.patch(at, w.length - s);
        }
        break;
      }
      case 'strings':
        if (!Array.isArray(f.value)) throw badArgument(`${where}: expected an array of strings`);
        checkCount(f.value.length, limits.maxListLength, 'list elements', where);
        w.u32(f.value.length);
        for (const s of f.value) {
          const b = encodeString(s, where, limits);
          w.u32(b.length);
          w.bytes(b);
        }
        break;
    }
    const len = w.length - start;
    if (len > limits.maxBodyBytes) throw limitError(`${where}: value of ${len} bytes exceeds maxBodyBytes (${limits.maxBodyBytes})`);
    w.patch(lenAt, len);
  }
}

/** Encode fields (strictly ascending ids) as a TLV body. */
export function encodeBody(fields: readonly Field[], limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const w = takeWriter();
  try {
    writeBody(w, fields, limits, 0);
    if (w.length > limits.maxBodyBytes) throw limitError(`body of ${w.length} bytes exceeds maxBodyBytes (${limits.maxBodyBytes})`);
    return w.result();
  } finally {
    giveWriter(w);
  }
}

/**
 * `encodeFrame` of `encodeBody(fields)` in one pass, into one allocation: the
 * same checks in the same order (the fields, the body's size, then the header).
 */
export function encodeFieldsFrame(kind: FrameKind, requestId: number, opcode: number, fields: readonly Field[], limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const w = takeWriter();
  try {
    w.skip(HEADER_BYTES);
    writeBody(w, fields, limits, 0);
    const bodyLength = w.length - HEADER_BYTES;
    if (bodyLength > limits.maxBodyBytes) throw limitError(`body of ${bodyLength} bytes exceeds maxBodyBytes (${limits.maxBodyBytes})`);
    checkFrameHeader(kind, requestId, opcode);
    w.header(kind, requestId, opcode, bodyLength);
    return w.result();
  } finally {
    giveWriter(w);
  }
}

function decodeString(b: Uint8Array, where: string, limits: Limits): string {
  if (b.length > limits.maxStringBytes) throw limitError(`${where}: string of ${b.length} bytes exceeds maxStringBytes (${limits.maxStringBytes})`);
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw protocolError(`${where}: string is not valid UTF-8`);
  }
}

function readCount(v: Uint8Array, where: string, max: number, what: string, minEach: number): number {
  if (v.length < 4) throw protocolError(`${where}: ${v.length} bytes cannot hold a count`);
  const count = readU32(v, 0);
  if (count > max) throw limitError(`${where}: ${count} ${what} exceed ${max}`);
  if (count * minEach > v.length - 4) throw protocolError(`${where}: ${count} ${what} cannot fit in ${v.length - 4} bytes (truncated)`);
  return count;
}

function readBody(buf: Uint8Array, limits: Limits, depth: number): Field[] {
  const out: Field[] = [];
  let off = 0;
  let prev = 0;
  while (off < buf.length) {
    if (out.length >= limits.maxFields) throw limitError(`more than maxFields (${limits.maxFields}) fields in one body`);
    if (buf.length - off < FIELD_HEADER_BYTES) throw protocolError(`truncated field header at body offset ${off}`);
    const id = readU16(buf, off);
    const typeNo = buf[off + 2]!;
    const len = readU32(buf, off + 3);
    if (id === 0) throw protocolError('field id 0 is reserved');
    if (id === prev) throw protocolError(`duplicate field ${id}`);
    if (id < prev) throw protocolError(`field ${id} out of order (after field ${prev})`);
    const where = `field ${id}`;
    const type = TYPE_NAMES[typeNo];
    if (type === undefined) throw protocolError(`${where}: unknown field type ${typeNo}`);
    const start = off + FIELD_HEADER_BYTES;
    if (len > buf.length - start) throw protocolError(`${where}: value of ${len} bytes is truncated (${buf.length - start} present)`);
    const v = view(buf, start, len);
    switch (type) {
      case 'u64':
        if (len !== 8) throw protocolError(`${where}: u64 must be 8 bytes, got ${len}`);
        out.push({ id, type, value: readU64(v, 0) });
        break;
      case 'bytes':
        out.push({ id, type, value: v });
        break;
      case 'string':
        out.push({ id, type, value: decodeString(v, where, limits) });
        break;
      case 'bool':
        if (len !== 1) throw protocolError(`${where}: bool must be 1 byte, got ${len}`);
        if (v[0]! > 1) throw protocolError(`${where}: bool must be 0 or 1, got ${v[0]}`);
        out.push({ id, type, value: v[0] === 1 });
        break;
      case 'attrs': {
        const count = readCount(v, where, limits.maxAttributes, 'attributes', 8);
        const attrs: WireAttribute[] = [];
        let p = 4;
        for (let i = 0; i < count; i++) {
          if (len - p < 8) throw protocolError(`${where}: attribute ${i} is truncated`);
          const at = readU32(v, p);
          const alen = readU32(v, p + 4);
          p += 8;
          if (alen > limits.maxAttributeBytes) throw limitError(`${where}: attribute value of ${alen} bytes exceeds maxAttributeBytes (${limits.maxAttributeBytes})`);
          if (alen > len - p) throw protocolError(`${where}: attribute ${i} value of ${alen} bytes is truncated`);
          attrs.push({ type: at, value: view(v, p, alen) });
          p += alen;
        }
        if (p !== len) throw protocolError(`${where}: ${len - p} bytes after the last attribute`);
        out.push({ id, type, value: attrs });
        break;
      }
      case 'u64list': {
        const count = readCount(v, where, limits.maxListLength, 'list elements', 0);
        if (len !== 4 + 8 * count) throw protocolError(`${where}: a list of ${count} u64 must be ${4 + 8 * count} bytes, got ${len}`);
        const list: bigint[] = [];
        for (let i = 0; i < count; i++) list.push(readU64(v, 4 + 8 * i));
        out.push({ id, type, value: list });
        break;
      }
      case 'record':
        if (depth + 1 > limits.maxDepth) throw limitError(`${where}: nesting deeper than maxDepth (${limits.maxDepth})`);
        out.push({ id, type, value: readBody(v, limits, depth + 1) });
        break;
      case 'records': {
        if (depth + 1 > limits.maxDepth) throw limitError(`${where}: nesting deeper than maxDepth (${limits.maxDepth})`);
        const count = readCount(v, where, limits.maxListLength, 'list elements', 4);
        const list: Field[][] = [];
        let p = 4;
        for (let i = 0; i < count; i++) {
          if (len - p < 4) throw protocolError(`${where}: record ${i} is truncated`);
          const rlen = readU32(v, p);
          p += 4;
          if (rlen > len - p) throw protocolError(`${where}: record ${i} of ${rlen} bytes is truncated`);
          list.push(readBody(view(v, p, rlen), limits, depth + 1));
          p += rlen;
        }
        if (p !== len) throw protocolError(`${where}: ${len - p} bytes after the last record`);
        out.push({ id, type, value: list });
        break;
      }
      case 'strings': {
        const count = readCount(v, where, limits.maxListLength, 'list elements', 4);
        const list: string[] = [];
        let p = 4;
        for (let i = 0; i < count; i++) {
          if (len - p < 4) throw protocolError(`${where}: string ${i} is truncated`);
          const slen = readU32(v, p);
          p += 4;
          if (slen > limits.maxStringBytes) throw limitError(`${where}: string of ${slen} bytes exceeds maxStringBytes (${limits.maxStringBytes})`);
          if (slen > len - p) throw protocolError(`${where}: string ${i} of ${slen} bytes is truncated`);
          list.push(decodeString(view(v, p, slen), where, limits));
          p += slen;
        }
        if (p !== len) throw protocolError(`${where}: ${len - p} bytes after the last string`);
        out.push({ id, type, value: list });
        break;
      }
    }
    off = start + len;
    prev = id;
  }
  return out;
}

/** Decode a TLV body. Values of type bytes and attribute values are views into `buf`. */
export function decodeBody(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): Field[] {
  if (buf.length > limits.maxBodyBytes) throw limitError(`body of ${buf.length} bytes exceeds maxBodyBytes (${limits.maxBodyBytes})`);
  return readBody(buf, limits, 0);
}
