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
import { FrameError, FrameReader, KIND_NOTICE, KIND_REQUEST, KIND_RESPONSE, resolveLimits, type Frame, type Limits } from './codec.js';
import {
  decodeNotice, decodeRequest, decodeResponse, encodeErrorResponse, encodeNotice, encodeRequest, encodeResponse, OPS,
  type DecodedNotice, type DecodedRequest, type NoticeName, type NoticeOf, type OpName, type RequestOf, type ResponseOf,
} from './messages.js';

export const PROTOCOL_VERSIONS = [1];

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
}

interface Pending {
  readonly op: OpName;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
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

  constructor(socket: Duplex, opts: { limits?: Partial<Limits>; name?: string; onNotice?: (n: DecodedNotice) => void } = {}) {
    this.socket = socket;
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
      this.pending.set(id, p);
      if (opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new HsmError('ERR_DEVICE_ERROR', `${op} to ${this.name}: no answer within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
        p.timer.unref?.();
      }
      opts.signal?.addEventListener('abort', () => {
        if (this.pending.delete(id)) {
          if (p.timer) clearTimeout(p.timer);
          reject(new HsmError('ERR_GENERAL', `${op} aborted`));
        }
      }, { once: true });
      this.socket.write(frame);
    });
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
      this.pending.delete(f.requestId);
      if (p.timer) clearTimeout(p.timer);
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
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    this.socket.destroy();
    for (const cb of this.closeListeners.splice(0)) cb(e);
  }
}

/* ───────────────────────────────── server ───────────────────────────────── */

export interface ServeOptions<C> {
  readonly limits?: Partial<Limits>;
  /** Per-connection state given to every handler call. */
  readonly context: C;
  /** Answer to hello (the version is filled in here). */
  readonly hello: (ctx: C, req: RequestOf<'hello'>) => Omit<ResponseOf<'hello'>, 'version' | 'maxBody'>;
  /** Run one request; resolve with its result object or throw an HsmError. */
  readonly handle: (ctx: C, req: DecodedRequest) => Promise<unknown>;
  /** At most this many requests run at once; reading pauses beyond it. */
  readonly maxInFlight?: number;
  readonly onClose?: (ctx: C) => void;
}

export interface ServedConnection {
  notify<K extends NoticeName>(notice: K, obj: NoticeOf<K>): void;
  close(): void;
  readonly inFlight: () => number;
}

/**
 * Serve one connection: decode requests, run them concurrently, write each
 * answer when it is ready. Malformed input gets the answer §5.3 prescribes and
 * never stops the process.
 */
export function serveConnection<C>(socket: Duplex, opts: ServeOptions<C>): ServedConnection {
  const limits = resolveLimits(opts.limits);
  const reader = new FrameReader(limits);
  const maxInFlight = opts.maxInFlight ?? 256;
  const running = new Set<number>();
  let greeted = false;
  let closed = false;

  const write = (bytes: Uint8Array) => {
    if (!closed && !socket.destroyed) socket.write(bytes);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    socket.destroy();
    opts.onClose?.(opts.context);
  };

  const run = async (f: Frame) => {
    let req: DecodedRequest;
    try {
      req = decodeRequest(f, limits);
    } catch (e) {
      write(encodeErrorResponse(f.opcode, f.requestId, e, limits));
      return;
    }
    if (req.op === 'hello') {
      const common = req.obj.versions.filter((v) => PROTOCOL_VERSIONS.includes(v));
      if (common.length === 0) {
        write(encodeResponse('hello', f.requestId, new HsmError('ERR_PROTOCOL', `no common protocol version (server speaks ${PROTOCOL_VERSIONS.join(', ')})`), limits));
        return;
      }
      greeted = true;
      write(encodeResponse('hello', f.requestId, { ...opts.hello(opts.context, req.obj), version: Math.max(...common), maxBody: limits.maxBodyBytes }, limits));
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
    try {
      write(encodeResponse(req.op, f.requestId, result as never, limits));
    } catch (e) {
      write(encodeErrorResponse(f.opcode, f.requestId, e, limits));
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (closed) return;
    let frames: Frame[];
    try {
      frames = reader.push(chunk);
    } catch (e) {
      /* Header valid but body refused (over the limit): answer, then close; otherwise just close. */
      if (e instanceof FrameError && e.header && e.header.kind === KIND_REQUEST) write(encodeErrorResponse(e.header.opcode, e.header.requestId, e, limits));
      if (!socket.destroyed) socket.end();
      setImmediate(close);
      return;
    }
    for (const f of frames) {
      if (f.kind !== KIND_REQUEST || running.has(f.requestId)) {
        /* A response or notice sent to a server, or a request id reused while in flight. */
        close();
        return;
      }
      running.add(f.requestId);
      if (running.size >= maxInFlight) socket.pause();
      void run(f).finally(() => {
        running.delete(f.requestId);
        if (running.size < maxInFlight && !closed) socket.resume();
      });
    }
  });
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
