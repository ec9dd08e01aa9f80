/**
 * @module Multi-part operations in progress (docs/protocol.md "Multi-part
 * operations"): the table of contexts that one node holds for the
 * connections it serves, with their bounds and idle expiry.
 *
 * A context is a `MultiPart` (mechanisms/types.ts) that `Partition.beginMultiPart`
 * made after the same policy checks as the single-part call. It lives only in
 * this table, in memory: it belongs to the connection (`owner`) that began
 * it, is never visible to another, and goes with that connection, with the
 * session it was begun in, or after `idleMs` without use. Pure: time comes
 * from the injected clock, and nothing here does I/O.
 */
import { HsmError } from '../../protocol/src/errors.js';
import { STREAM_IDLE_MS } from '../../protocol/src/messages.js';
import type { MultiPart, MultiPartKind } from './mechanisms/types.js';

export interface MultiPartLimits {
  /** Contexts one connection may hold at once. */
  readonly perOwner: number;
  /** Contexts the whole node may hold at once. */
  readonly total: number;
  /** A context unused this long is dropped (ms). */
  readonly idleMs: number;
}

/**
 * The node's bounds (docs/protocol.md). A daemon multiplexes many applications
 * over one connection per node, hence the generous per-connection bound; each
 * context holds a hash or cipher state and at most one block of data.
 */
export const MULTIPART_LIMITS: MultiPartLimits = Object.freeze({ perOwner: 4096, total: 16384, idleMs: STREAM_IDLE_MS });

export const MULTIPART_KINDS: readonly MultiPartKind[] = ['digest', 'sign', 'verify', 'encrypt', 'decrypt'];

export function multiPartKind(kind: string): MultiPartKind {
  if (!(MULTIPART_KINDS as readonly string[]).includes(kind)) {
    throw new HsmError('ERR_ARGUMENTS_BAD', `unknown multi-part kind ${JSON.stringify(kind).slice(0, 40)}; use one of ${MULTIPART_KINDS.join(', ')}`);
  }
  return kind as MultiPartKind;
}

export interface MultiPartEntry<Owner> {
  readonly id: number;
  readonly owner: Owner;
  readonly kind: MultiPartKind;
  readonly mechanism: number;
  /** The session it was begun in (absent: none named). */
  readonly session: number | undefined;
  /** The user signed in when it began (absent: a digest before sign-in). */
  readonly user: string | undefined;
  readonly context: MultiPart;
  lastUsed: number;
}

export interface NewEntry {
  readonly kind: MultiPartKind;
  readonly mechanism: number;
  readonly session: number | undefined;
  readonly user: string | undefined;
}

const notInitialized = (id: number) =>
  new HsmError('ERR_OPERATION_NOT_INITIALIZED', `multi-part operation ${id} is not active on this connection (finished, cancelled, expired after being idle, or begun elsewhere); begin it again`);

export class MultiPartTable<Owner extends object> {
  private readonly byId = new Map<number, MultiPartEntry<Owner>>();
  private readonly counts = new Map<Owner, number>();
  private nextId = 1;

  constructor(private readonly clock: () => number, readonly limits: MultiPartLimits = MULTIPART_LIMITS) {}

  get size(): number {
    return this.byId.size;
  }

  countFor(owner: Owner): number {
    return this.counts.get(owner) ?? 0;
  }

  /** Keep a new context; refuses one beyond the bounds (after dropping the idle ones). */
  add(owner: Owner, e: NewEntry, context: MultiPart): number {
    this.sweep();
    if (this.countFor(owner) >= this.limits.perOwner) {
      throw new HsmError('ERR_LIMIT', `this connection already has ${this.limits.perOwner} multi-part operations in progress; finish or cancel one first`);
    }
    if (this.byId.size >= this.limits.total) {
      throw new HsmError('ERR_LIMIT', `this node already has ${this.limits.total} multi-part operations in progress; try again later`);
    }
    const id = this.nextId;
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    this.byId.set(id, { id, owner, ...e, context, lastUsed: this.clock() });
    this.counts.set(owner, this.countFor(owner) + 1);
    return id;
  }

  /** The owner's active context `id`, marked used; ERR_OPERATION_NOT_INITIALIZED for any other. */
  get(owner: Owner, id: number): MultiPartEntry<Owner> {
    const e = this.byId.get(id);
    if (!e || e.owner !== owner) throw notInitialized(id);
    const now = this.clock();
    if (now - e.lastUsed > this.limits.idleMs) {
      this.remove(e);
      throw notInitialized(id);
    }
    e.lastUsed = now;
    return e;
  }

  /** End the owner's context `id` (a no-op if it has none by that id). */
  delete(owner: Owner, id: number): void {
    const e = this.byId.get(id);
    if (e && e.owner === owner) this.remove(e);
  }

  /** The connection went away: its contexts go with it. */
  dropOwner(owner: Owner): number {
    let n = 0;
    for (const e of this.byId.values()) if (e.owner === owner) (this.remove(e), n++);
    return n;
  }

  /** The session was closed: every context begun in it goes, whichever connection began it. */
  dropSession(session: number): number {
    let n = 0;
    for (const e of this.byId.values()) if (e.session === session) (this.remove(e), n++);
    return n;
  }

  /** Drop the contexts idle for longer than `idleMs`. */
  sweep(): number {
    const now = this.clock();
    let n = 0;
    for (const e of this.byId.values()) if (now - e.lastUsed > this.limits.idleMs) (this.remove(e), n++);
    return n;
  }

  private remove(e: MultiPartEntry<Owner>): void {
    this.byId.delete(e.id);
    const c = this.countFor(e.owner) - 1;
    if (c > 0) this.counts.set(e.owner, c);
    else this.counts.delete(e.owner);
  }
}
