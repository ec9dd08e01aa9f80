/**
 * @module Both ends of one protocol connection over any byte stream (a Unix
 * socket, a TLS socket): the client with pipelining, and the server loop that
 * applies docs/protocol.md §5.3.
 *
 * The client matches responses to requests by request id, so many requests are
 * in flight at once and answers may come in any order. When the connection
 * ends, every request still in flight fails with ConnectionLostError, which is
 * what retry logic keys on (the operation may or may not have been applied).
 */
import type { Duplex } from 'node:stream';
import { HsmError } from './errors.js';
import { FrameError, FrameReader, HEADER_BYTES, KIND_NOTICE, KIND_REQUEST, KIND_RESPONSE, encodeFrame, resolveLimits, type Frame, type Limits } from './codec.js';
import {
  decodeNotice, decodeRequest, decodeResponse, encodeErrorResponse, encodeNotice, encodeRequest, encodeResponse, OPS,
  type DecodedNotice, type DecodedRequest, type NoticeName, type NoticeOf, type OpName, type RequestOf, type ResponseOf,
} from './messages.js';

export const PROTOCOL_VERSIONS = [1];
/** A client refuses new requests while this many request bytes wait to be sent (docs/protocol.md §5.4). */
export const DEFAULT_MAX_UNSENT_BYTES = 64 * 1024 * 1024;

/** The connection ended (or was never made) before the answer came: the request may or may not have run. */
export class ConnectionLostError extends HsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DEVICE_ERROR', message, options);
    this.name = 'ConnectionLostError';
  }
}

export interface RequestOptions {
  /** Fail with ERR_DEVICE_ERROR if no answer comes in time (the request may still run). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The error a timed-out request fails with (default: ERR_DEVICE_ERROR "no answer within"). */
  readonly timeoutError?: () => Error;
}

/** How often a connection with timed requests looks for late ones. */
const SWEEP_MS = 50;

interface Pending {
  readonly op: OpName;
  /** Set for `requestRaw`: resolve with the response frame itself, undecoded, if it answers this opcode. */
  readonly rawOpcode?: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  deadline?: number;
  timeoutMs?: number;
  timeoutError?: () => Error;
}

export class ProtocolClient {
  readonly limits: Limits;
  private readonly socket: Duplex;
  private readonly reader: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: HsmError | undefined;
  private readonly closeListeners: ((e: HsmError) => void)[] = [];
  private readonly name: string;
  onNotice: ((n: DecodedNotice) => void) | undefined;

  private readonly maxUnsentBytes: number;

  constructor(socket: Duplex, opts: { limits?: Partial<Limits>; name?: string; onNotice?: (n: DecodedNotice) => void; maxUnsentBytes?: number } = {}) {
    this.socket = socket;
    this.maxUnsentBytes = opts.maxUnsentBytes ?? DEFAULT_MAX_UNSENT_BYTES;
    this.limits = resolveLimits(opts.limits);
    this.reader = new FrameReader(this.limits);
    this.name = opts.name ?? 'peer';
    this.onNotice = opts.onNotice;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.fail(new ConnectionLostError(`connection to ${this.name} failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new ConnectionLostError(`connection to ${this.name} closed`)));
  }

  /** Say hello (docs/protocol.md §6.3); resolves with the server's answer. */
  async hello(client: string, opts?: RequestOptions): Promise<ResponseOf<'hello'>> {
    const r = await this.request('hello', { versions: PROTOCOL_VERSIONS, client }, opts);
    if (!PROTOCOL_VERSIONS.includes(r.version)) throw new HsmError('ERR_PROTOCOL', `server chose protocol version ${r.version}, which this client does not speak`);
    return r;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  onClose(cb: (e: HsmError) => void): void {
    if (this.closedWith) queueMicrotask(() => cb(this.closedWith!));
    else this.closeListeners.push(cb);
  }

  request<K extends OpName>(op: K, obj: RequestOf<K>, opts: RequestOptions = {}): Promise<ResponseOf<K>> {
    if (this.closedWith) return Promise.reject(new ConnectionLostError(this.closedWith.message));
    if (opts.signal?.aborted) return Promise.reject(new HsmError('ERR_GENERAL', 'request aborted before it was sent'));
    /* A peer that stops reading must not make this process buffer requests without end. */
    if ((this.socket as Duplex & { writableLength: number }).writableLength > this.maxUnsentBytes) {
      return Promise.reject(new HsmError('ERR_DEVICE_ERROR', `${op} to ${this.name}: more than ${this.maxUnsentBytes} request bytes are waiting to be sent; the peer is not reading`));
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    let frame: Uint8Array;
    try {
      frame = encodeRequest(op, id, obj, this.limits);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<ResponseOf<K>>((resolve, reject) => {
      const p: Pending = { op, resolve: resolve as (v: unknown) => void, reject };
      this.track(id, p, opts);
      opts.signal?.addEventListener('abort', () => {
        if (this.pending.get(id) === p) {
          this.settle(id, p);
          reject(new HsmError('ERR_GENERAL', `${op} aborted`));
        }
      }, { once: true });
      this.send(frame);
    });
  }

  /**
   * Send a request whose body is already encoded and resolve with the
   * response frame undecoded (the daemon's forwarding, ./forward.ts). The
   * frame is checked to answer `opcode`; its body is not decoded here.
   */
  requestRaw(op: OpName, opcode: number, body: Uint8Array, opts: RequestOptions = {}): Promise<Frame> {
    if (this.closedWith) return Promise.reject(new ConnectionLostError(this.closedWith.message));
    if ((this.socket as Duplex & { writableLength: number }).writableLength > this.maxUnsentBytes) {
      return Promise.reject(new HsmError('ERR_DEVICE_ERROR', `${op} to ${this.name}: more than ${this.maxUnsentBytes} request bytes are waiting to be sent; the peer is not reading`));
    }
    if (body.length > this.limits.maxBodyBytes) return Promise.reject(new HsmError('ERR_LIMIT', `frame body of ${body.length} bytes exceeds maxBodyBytes (${this.limits.maxBodyBytes})`));
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    const frame = encodeFrame({ kind: KIND_REQUEST, requestId: id, opcode, body }, this.limits);
    return new Promise<Frame>((resolve, reject) => {
      const p: Pending = { op, rawOpcode: opcode, resolve: resolve as (v: unknown) => void, reject };
      this.track(id, p, opts);
      this.send(frame);
    });
  }

  private corked = false;

  /** Requests made in the same turn of the event loop leave in one socket write. */
  private send(frame: Uint8Array): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  /*
   * Timeouts without a timer per request: each timed request carries its
   * deadline and one sweep per connection, armed while any is waiting, fails
   * the late ones (at most SWEEP_MS after their deadline).
   */
  private sweepTimer: NodeJS.Timeout | undefined;
  private timed = 0;

  private armSweep(): void {
    if (this.sweepTimer || this.timed === 0) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const now = Date.now();
      for (const [id, p] of this.pending) {
        if (p.deadline !== undefined && p.deadline <= now) {
          this.settle(id, p);
          p.reject(p.timeoutError?.() ?? new HsmError('ERR_DEVICE_ERROR', `${p.op} to ${this.name}: no answer within ${p.timeoutMs} ms`));
        }
      }
      this.armSweep();
    }, SWEEP_MS);
    this.sweepTimer.unref?.();
  }

  /** Waits for the answer to request `id`, within its timeout if it has one (the sweep enforces it). */
  private track(id: number, p: Pending, opts: { readonly timeoutMs?: number | undefined; readonly timeoutError?: (() => Error) | undefined }): void {
    this.pending.set(id, p);
    if (opts.timeoutMs === undefined) return;
    p.deadline = Date.now() + opts.timeoutMs;
    p.timeoutMs = opts.timeoutMs;
    p.timeoutError = opts.timeoutError;
    this.timed++;
    this.armSweep();
  }

  /** Forgets a pending request (answered, timed out, aborted or failed). */
  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    if (p.deadline !== undefined) this.timed--;
  }

  close(): void {
    this.fail(new ConnectionLostError(`connection to ${this.name} closed by this side`));
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.fail(new ConnectionLostError(`${this.name} sent a malformed frame: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    for (const f of frames) {
      if (f.kind === KIND_NOTICE) {
        try {
          const n = decodeNotice(f, this.limits);
          if (n) this.onNotice?.(n);
        } catch {
          /* A malformed notice is ignored: it answers nothing. */
        }
        continue;
      }
      if (f.kind !== KIND_RESPONSE) {
        this.fail(new ConnectionLostError(`${this.name} sent a frame of kind ${f.kind} to a client`));
        return;
      }
      const p = this.pending.get(f.requestId);
      if (!p) continue; /* answer to a request we gave up on (timeout, abort) */
      this.settle(f.requestId, p);
      if (p.rawOpcode !== undefined) {
        if (f.opcode === p.rawOpcode) p.resolve(f);
        else p.reject(new HsmError('ERR_PROTOCOL', `response opcode 0x${f.opcode.toString(16).padStart(4, '0')} does not answer ${p.op}`));
        continue;
      }
      try {
        p.resolve(decodeResponse(f, p.op, this.limits));
      } catch (e) {
        p.reject(e);
      }
    }
  }

  private fail(e: HsmError): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const [, p] of this.pending) p.reject(e);
    this.pending.clear();
    this.timed = 0;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.socket.destroy();
    for (const cb of this.closeListeners.splice(0)) cb(e);
  }
}

/* ───────────────────────────────── server ───────────────────────────────── */

/**
 * The per-connection bounds of the server loop (docs/protocol.md §5.4). A
 * reply is "unread" while it waits in this process for the peer to read it.
 */
export interface ConnectionBounds {
  /** At most this many requests run at once; reading pauses beyond it. */
  readonly maxInFlight: number;
  /**
   * Backpressure: no new request starts while the unread reply bytes plus the
   * reply bytes expected from the requests running would pass this; reading
   * pauses meanwhile, so the kernel's socket buffers fill and the peer stops
   * sending. One request may run whenever less than this is unread, so any
   * single reply gets through.
   */
  readonly maxUnreadReplyBytes: number;
  /** A peer that lets this many reply bytes pile up unread is disconnected. */
  readonly maxBufferedReplyBytes: number;
  /** A frame started but not finished within this time closes the connection (0 = never). */
  readonly partialFrameTimeoutMs: number;
  /** A connection that has not said hello within this time is closed (0 = never). */
  readonly helloTimeoutMs: number;
}

export const DEFAULT_BOUNDS: Readonly<ConnectionBounds> = Object.freeze({
  maxInFlight: 256,
  maxUnreadReplyBytes: 8 * 1024 * 1024,
  maxBufferedReplyBytes: 48 * 1024 * 1024,
  partialFrameTimeoutMs: 30_000,
  helloTimeoutMs: 30_000,
});

/** Why the server loop closed a connection by itself (for the caller's rate-limited log). */
export type CloseReason = 'malformed-frame' | 'protocol-violation' | 'unread-replies' | 'partial-frame-timeout' | 'hello-timeout';

/**
 * How many reply bytes a request is expected to produce, reserved against
 * maxUnreadReplyBytes while it runs. generateRandom is the one operation whose
 * small request asks for a large answer; every other answer is bounded by a
 * small constant or by the size of the request (data in, data out).
 */
export function expectedReplyBytes(req: DecodedRequest, requestBytes: number): number {
  if (req.op === 'generateRandom') return 64 + Math.max(0, Number(req.obj.length) || 0);
  return 4096 + requestBytes;
}

export interface ServeOptions<C> {
  readonly limits?: Partial<Limits>;
  readonly bounds?: Partial<ConnectionBounds>;
  /** Per-connection state given to every handler call. */
  readonly context: C;
  /** Answer to hello (the version is filled in here); may wait (the daemon waits, bounded, for its first node). */
  readonly hello: (ctx: C, req: RequestOf<'hello'>) => Omit<ResponseOf<'hello'>, 'version' | 'maxBody'> | Promise<Omit<ResponseOf<'hello'>, 'version' | 'maxBody'>>;
  /** Run one request; resolve with its result object or throw an HsmError. */
  readonly handle: (ctx: C, req: DecodedRequest) => Promise<unknown>;
  /**
   * Operations that `forward` answers without the body being decoded here
   * (the daemon's lean path). Each must answer with at most 4096 bytes more
   * than its request (not generateRandom).
   */
  readonly forwardOps?: ReadonlySet<number>;
  /**
   * Answer a request of `forwardOps` from its frame: resolve with the whole
   * response frame (for `frame.requestId`) or reject with an HsmError; return
   * undefined to have it decoded and given to `handle` as usual.
   */
  readonly forward?: (ctx: C, frame: Frame) => Promise<Uint8Array> | undefined;
  /** @deprecated use bounds.maxInFlight */
  readonly maxInFlight?: number;
  readonly onClose?: (ctx: C) => void;
  /** Called once when the loop closes the connection because of the peer (before onClose). */
  readonly onViolation?: (ctx: C, reason: CloseReason, detail: string) => void;
}

export interface ServedConnection {
  notify<K extends NoticeName>(notice: K, obj: NoticeOf<K>): void;
  close(): void;
  readonly inFlight: () => number;
}

function resolveBounds(b: Partial<ConnectionBounds> | undefined, maxInFlight: number | undefined): ConnectionBounds {
  const out = { ...DEFAULT_BOUNDS, ...(maxInFlight !== undefined ? { maxInFlight } : {}) } as Record<string, number>;
  /* Only the connection's own bounds are read: a caller may pass a wider limits object. */
  for (const k of Object.keys(DEFAULT_BOUNDS)) {
    const v = (b as Record<string, number | undefined> | undefined)?.[k];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) throw new HsmError('ERR_ARGUMENTS_BAD', `connection bound ${k} must be a non-negative integer`);
    out[k] = v;
  }
  if (out.maxInFlight! < 1) throw new HsmError('ERR_ARGUMENTS_BAD', 'connection bound maxInFlight must be at least 1');
  return out as unknown as ConnectionBounds;
}

/**
 * Serve one connection: decode requests, run them concurrently within the
 * bounds, write each answer when it is ready (answers that are ready together
 * leave in one socket write). Malformed input gets the answer §5.3 prescribes
 * and never stops the process.
 */
export function serveConnection<C>(socket: Duplex, opts: ServeOptions<C>): ServedConnection {
  const limits = resolveLimits(opts.limits);
  const bounds = resolveBounds(opts.bounds, opts.maxInFlight);
  const reader = new FrameReader(limits);
  const running = new Set<number>();
  /* Frames read but not started yet (reading is paused while any wait). */
  const queue: Frame[] = [];
  const queued = new Set<number>();
  let reserved = 0;
  let greeted = false;
  let closed = false;
  let corked = false;
  let partialTimer: NodeJS.Timeout | undefined;
  let helloTimer: NodeJS.Timeout | undefined;
  const unread = () => (socket as Duplex & { writableLength: number }).writableLength ?? 0;

  const close = () => {
    if (closed) return;
    closed = true;
    queue.length = 0;
    queued.clear();
    if (partialTimer) clearTimeout(partialTimer);
    if (helloTimer) clearTimeout(helloTimer);
    socket.destroy();
    opts.onClose?.(opts.context);
  };
  const violation = (reason: CloseReason, detail: string) => {
    if (closed) return;
    try {
      opts.onViolation?.(opts.context, reason, detail);
    } finally {
      close();
    }
  };

  const write = (bytes: Uint8Array) => {
    if (closed || socket.destroyed) return;
    if (unread() + bytes.length > bounds.maxBufferedReplyBytes) {
      violation('unread-replies', `${unread() + bytes.length} reply bytes unread (limit ${bounds.maxBufferedReplyBytes})`);
      return;
    }
    /* Batch: every answer written in this turn of the event loop (all the I/O
       callbacks of one poll phase, so answers to several requests that finished
       together) goes out in one writev: one TLS record run, one syscall. */
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes);
  };

  const run = async (f: Frame, req: DecodedRequest | undefined, decodeError: unknown) => {
    if (!req) {
      write(encodeErrorResponse(f.opcode, f.requestId, decodeError, limits));
      return;
    }
    if (req.op === 'hello') {
      const common = req.obj.versions.filter((v) => PROTOCOL_VERSIONS.includes(v));
      if (common.length === 0) {
        write(encodeResponse('hello', f.requestId, new HsmError('ERR_PROTOCOL', `no common protocol version (server speaks ${PROTOCOL_VERSIONS.join(', ')})`), limits));
        return;
      }
      greeted = true;
      if (helloTimer) clearTimeout(helloTimer);
      write(encodeResponse('hello', f.requestId, { ...(await opts.hello(opts.context, req.obj)), version: Math.max(...common), maxBody: limits.maxBodyBytes }, limits));
      return;
    }
    if (!greeted) {
      write(encodeErrorResponse(f.opcode, f.requestId, new HsmError('ERR_PROTOCOL', 'the first request on a connection must be hello'), limits));
      return;
    }
    let result: unknown;
    try {
      result = await opts.handle(opts.context, req);
    } catch (e) {
      write(encodeErrorResponse(f.opcode, f.requestId, e, limits));
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeResponse(req.op, f.requestId, result as never, limits);
    } catch (e) {
      bytes = encodeErrorResponse(f.opcode, f.requestId, e, limits);
    }
    result = undefined;
    write(bytes);
  };

  const runForwarded = async (f: Frame, answer: Promise<Uint8Array>) => {
    let bytes: Uint8Array;
    try {
      bytes = await answer;
    } catch (e) {
      bytes = encodeErrorResponse(f.opcode, f.requestId, e, limits);
    }
    write(bytes);
  };

  /* Start queued requests while the bounds allow; pause reading while any wait. */
  const pump = () => {
    while (!closed && queue.length > 0 && running.size < bounds.maxInFlight) {
      const f = queue[0]!;
      const forwardable = greeted && opts.forward !== undefined && opts.forwardOps?.has(f.opcode) === true;
      let req: DecodedRequest | undefined;
      let decodeError: unknown;
      if (!forwardable) {
        try {
          req = decodeRequest(f, limits);
        } catch (e) {
          decodeError = e;
        }
      }
      const expect = forwardable ? 4096 + HEADER_BYTES + f.body.length : req ? expectedReplyBytes(req, HEADER_BYTES + f.body.length) : 4096;
      /* One request may always run while nothing is unread, so any single reply gets through. */
      const room = running.size === 0 ? unread() < bounds.maxUnreadReplyBytes : unread() + reserved + expect <= bounds.maxUnreadReplyBytes;
      if (!room) break;
      queue.shift();
      queued.delete(f.requestId);
      running.add(f.requestId);
      reserved += expect;
      let answer: Promise<Uint8Array> | undefined;
      if (forwardable) {
        try {
          answer = opts.forward!(opts.context, f);
        } catch (e) {
          answer = Promise.reject(e);
        }
        if (answer === undefined) {
          try {
            req = decodeRequest(f, limits);
          } catch (e) {
            decodeError = e;
          }
        }
      }
      void (answer ? runForwarded(f, answer) : run(f, req, decodeError)).finally(() => {
        running.delete(f.requestId);
        reserved -= expect;
        pump();
      });
    }
    if (closed) return;
    if (queue.length > 0) socket.pause();
    else socket.resume();
  };

  const armPartialTimer = () => {
    if (bounds.partialFrameTimeoutMs === 0) return;
    if (reader.buffered === 0) {
      if (partialTimer) clearTimeout(partialTimer);
      partialTimer = undefined;
    } else if (!partialTimer) {
      partialTimer = setTimeout(() => violation('partial-frame-timeout', `a frame was left unfinished for ${bounds.partialFrameTimeoutMs} ms (${reader.buffered} bytes)`), bounds.partialFrameTimeoutMs);
      partialTimer.unref?.();
    }
  };
  if (bounds.helloTimeoutMs > 0) {
    helloTimer = setTimeout(() => {
      if (!greeted) violation('hello-timeout', `no hello within ${bounds.helloTimeoutMs} ms`);
    }, bounds.helloTimeoutMs);
    helloTimer.unref?.();
  }

  socket.on('data', (chunk: Buffer) => {
    if (closed) return;
    let frames: Frame[];
    try {
      frames = reader.push(chunk);
    } catch (e) {
      /* Header valid but body refused (over the limit): answer, then close; otherwise just close. */
      if (e instanceof FrameError && e.header && e.header.kind === KIND_REQUEST) write(encodeErrorResponse(e.header.opcode, e.header.requestId, e, limits));
      opts.onViolation?.(opts.context, 'malformed-frame', e instanceof Error ? e.message : String(e));
      if (!socket.destroyed) socket.end();
      setImmediate(close);
      return;
    }
    armPartialTimer();
    for (const f of frames) {
      if (f.kind !== KIND_REQUEST || running.has(f.requestId) || queued.has(f.requestId)) {
        /* A response or notice sent to a server, or a request id reused while in flight. */
        violation('protocol-violation', f.kind !== KIND_REQUEST ? `a frame of kind ${f.kind} was sent to a server` : `request id ${f.requestId} reused while in flight`);
        return;
      }
      queue.push(f);
      queued.add(f.requestId);
    }
    pump();
  });
  /* Unread replies were read: more requests may start. */
  socket.on('drain', () => pump());
  socket.on('error', () => close());
  socket.on('close', () => close());

  return {
    notify: (notice, obj) => write(encodeNotice(notice, obj, limits)),
    close,
    inFlight: () => running.size,
  };
}

/** Names of the operations that change state (they carry a requestId). */
export const MUTATING_OPS: ReadonlySet<OpName> = new Set((Object.keys(OPS) as OpName[]).filter((k) => OPS[k].mutating));
