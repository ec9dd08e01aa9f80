/**
 * @module Forwarding an application's request to a node (docs/decisions.md
 * "Retries"; the Azure Cloud HSM guides, "Retries for integration of HSM operations").
 *
 * Each request goes to the next ready link of the caller's context, round
 * robin, so single-part operations spread over the cluster. A request that
 * fails because its link failed (ConnectionLostError: the connection ended
 * before the answer; RequestTimeoutError: no answer in time) is retried on
 * another node, with bounded attempts, backoff and an overall deadline; so
 * is one that a node answers ERR_NODE_BEHIND (it could not catch up with the
 * revision the application has seen), at once and without touching the link,
 * which is then avoided for AVOID_BEHIND_MS. Any other error is the
 * operation's own answer and goes back unchanged.
 *
 * A retried request may already have run on the failed node. Reads and
 * signatures may run twice harmlessly; a request that changes state carries
 * a `requestId` (one is added here when the application sent none), which
 * the node stores with the result in the same transaction, so the retry
 * returns the first result instead of, say, creating a second key.
 */
import { randomUUID } from 'node:crypto';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import { OPS, errorFromResponse, type OpName, type RequestOf, type ResponseOf } from '../../protocol/src/messages.js';
import type { Frame } from '../../protocol/src/codec.js';
import { readReply, type RawReply } from '../../protocol/src/forward.js';
import { retryDelay, type RetryPolicy } from '../../protocol/src/retry.js';
import type { Logger } from './log.js';
import type { RouteContext } from './login.js';
import { isTransient, noNodeError, type LinkLike, type LinkPoolLike } from './nodes.js';
import { daemonMetrics } from '../../ops/src/metrics/daemon.js';

export interface RouterSettings {
  readonly retry: RetryPolicy;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** The request with an idempotency key when its operation changes state and it has none. */
export function withRequestId<K extends OpName>(op: K, obj: RequestOf<K>): RequestOf<K> {
  if (!OPS[op].mutating) return obj;
  const o = obj as RequestOf<K> & { requestId?: string };
  if (typeof o.requestId === 'string' && o.requestId !== '') return obj;
  return { ...obj, requestId: randomUUID() };
}

export { retryDelay } from '../../protocol/src/retry.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The highest store revision one application has seen (docs/consistency.md).
 * Sent with each of its requests, raised by each answer, so it reads its own
 * writes on whichever node serves it next.
 */
export interface RevisionToken {
  revision: number;
}

/** A node that could not catch up in time: another node may be current, so try there. */
const behindError = (e: unknown) => isHsmError(e, 'ERR_NODE_BEHIND');
const retryable = (e: unknown) => isTransient(e) || behindError(e);

/**
 * After a node answered ERR_NODE_BEHIND, new requests prefer the other ready
 * links for this long (ms). The node is alive and its link stays connected
 * (health checks go on); it had already waited its catch-up bound (2 s) before
 * answering, so it is well behind, and each request sent there meanwhile would
 * wait that bound again. When no other link is ready it is still used.
 */
export const AVOID_BEHIND_MS = 5000;
/* The round-robin counter wraps here (a multiple of 2, 3 and 4, so a wrap keeps the rotation for small clusters). */
const WRAP = 0x3ffffff0;

/** A forwarded request's answer: the node's response frame, with its token read and located. */
export interface ForwardedReply {
  readonly frame: Frame;
  readonly reply: RawReply;
}

export class Router {
  private readonly settings: () => RouterSettings;
  private readonly log: Logger;
  private readonly next = new WeakMap<LinkPoolLike, number>();
  /** Links whose node answered ERR_NODE_BEHIND: avoided until this time (Date.now()). */
  private readonly behind = new WeakMap<LinkLike, number>();
  /** Whether any link may be marked (skips the look-up on the common path). */
  private anyBehind = false;
  /** Pools that have picked a link in this turn of the event loop (cleared by the next check phase). */
  private turn = new WeakSet<LinkPoolLike>();
  private turnTimer: NodeJS.Immediate | undefined;

  constructor(settings: () => RouterSettings, log: Logger) {
    this.settings = settings;
    this.log = log;
  }

  /** True while requests should prefer other links than `link` (its node said it is behind). */
  avoiding(link: LinkLike, now = Date.now()): boolean {
    if (!this.anyBehind) return false;
    const until = this.behind.get(link);
    return until !== undefined && until > now;
  }

  /**
   * The next ready link, round robin, preferring one not tried yet for this
   * request and, among those, one whose node has not just said it is behind.
   *
   * The rotation advances once per turn of the event loop, not per request:
   * requests that arrive together (the PKCS#11 module pipelines all its
   * threads over one connection) go to the same node, so they leave in one
   * TLS write and their answers come back in fewer records, and over turns
   * the load still spreads evenly. Measured with bench/daemon_path.mjs (16 in
   * flight): about a quarter less CPU per request in the daemon and a third
   * less in the nodes than one node per request (docs/performance.md).
   */
  pick(ctx: RouteContext, tried: ReadonlySet<LinkLike>): LinkLike | undefined {
    const ready = ctx.pool.links().filter((l) => ctx.ready(l));
    if (ready.length === 0) return undefined;
    let from = tried.size ? ready.filter((l) => !tried.has(l)) : ready;
    if (this.anyBehind) {
      const now = Date.now();
      const current = from.filter((l) => !this.avoiding(l, now));
      if (current.length) from = current;
      else if (!ready.some((l) => this.avoiding(l, now))) this.anyBehind = false;
    }
    if (from.length === 0) from = ready;
    /* Round robin per turn of the event loop: requests that arrive together go to one node. */
    let i = this.next.get(ctx.pool) ?? 0;
    if (this.turn.has(ctx.pool)) i = i === 0 ? WRAP - 1 : i - 1;
    else {
      this.next.set(ctx.pool, (i + 1) % WRAP);
      this.turn.add(ctx.pool);
      this.turnTimer ??= setImmediate(() => {
        this.turnTimer = undefined;
        this.turn = new WeakSet();
      });
    }
    return from[i % from.length];
  }

  private markBehind(link: LinkLike, op: string, e: unknown): void {
    const now = Date.now();
    if (!this.avoiding(link, now)) {
      this.log.info('a node is behind the revision this application has seen; preferring the other nodes for a while (the link stays up)', { node: link.name, op, forMs: AVOID_BEHIND_MS, error: (e as Error).message });
    }
    this.behind.set(link, now + AVOID_BEHIND_MS);
    this.anyBehind = true;
  }

  async forward<K extends OpName>(ctx: RouteContext, op: K, obj: RequestOf<K>, token?: RevisionToken): Promise<ResponseOf<K>> {
    return (await this.forwardOn(ctx, op, obj, token)).result;
  }

  /** As `forward`, and which link answered: a multi-part operation's later requests go there (sticky). */
  async forwardOn<K extends OpName>(ctx: RouteContext, op: K, obj: RequestOf<K>, token?: RevisionToken): Promise<{ result: ResponseOf<K>; link: LinkLike; epoch: number }> {
    const min = Math.max(token?.revision ?? 0, (obj as { minRevision?: number }).minRevision ?? 0);
    /* Always sent (0 included): it also asks the node to say which revision it answered at. */
    const req = { ...withRequestId(op, obj), minRevision: min };
    const { requestTimeoutMs } = this.settings();
    const r = await this.attempts(ctx, op, async (link) => {
      const epoch = link.epoch;
      return { res: await link.request(op, req, requestTimeoutMs), link, epoch };
    });
    const { revision, ...rest } = r.res as ResponseOf<K> & { revision?: number };
    if (token && revision !== undefined && revision > token.revision) token.revision = revision;
    return { result: rest as ResponseOf<K>, link: r.link, epoch: r.epoch };
  }

  /**
   * Forward an already encoded request body (./../../protocol/src/forward.ts
   * made it: token and request id in place) with the same retries as
   * `forward`. Resolves with the node's answer, success or the operation's
   * own error; raises the token from a successful answer.
   */
  async forwardRaw(ctx: RouteContext, op: OpName, opcode: number, body: Uint8Array, token?: RevisionToken): Promise<ForwardedReply> {
    const { requestTimeoutMs } = this.settings();
    const r = await this.attempts(ctx, op, async (link) => {
      if (!link.requestRaw) {
        throw new HsmError('ERR_GENERAL', `link ${link.name} cannot forward encoded requests`);
      }
      const frame = await link.requestRaw(op, opcode, body, requestTimeoutMs);
      const reply = readReply(frame.body);
      /* The one error answer that is not the operation's own: another node may be current. */
      if (!reply.ok && reply.code === 'ERR_NODE_BEHIND') throw errorFromResponse(reply.code, reply.message);
      return { frame, reply };
    });
    if (token && r.reply.ok && r.reply.revision !== undefined && r.reply.revision > token.revision) token.revision = r.reply.revision;
    return r;
  }

  /** Run `send` on a link, and again on another one after a failure of the link (or a node that is behind), within the retry policy. */
  private async attempts<T>(ctx: RouteContext, op: OpName, send: (link: LinkLike) => Promise<T>): Promise<T> {
    const { retry, connectTimeoutMs } = this.settings();
    const deadline = Date.now() + retry.deadlineMs;
    const tried = new Set<LinkLike>();
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      let link = this.pick(ctx, tried);
      if (!link) {
        /* First attempt: wait only while the daemon is still making its first connections. A retry may wait until the deadline for a node to come back. */
        const wait = attempt === 1 ? (ctx.pool.starting() ? Math.min(connectTimeoutMs, retry.deadlineMs) : 0) : deadline - Date.now();
        if (wait > 0 && (await ctx.pool.waitFor((l) => ctx.ready(l), wait))) link = this.pick(ctx, tried);
        if (!link) throw noNodeError(last);
      }
      tried.add(link);
      try {
        const res = await send(link);
        if (attempt > 1) daemonMetrics().failovers.inc({ op });
        return res;
      } catch (e) {
        if (!retryable(e)) throw e;
        last = e;
        const behind = behindError(e);
        if (behind) this.markBehind(link, op, e);
        const remaining = deadline - Date.now();
        if (attempt >= retry.attempts || remaining <= 0) {
          daemonMetrics().exhausted.inc({ op });
          this.log.warn('request failed; no retry left', { op, node: link.name, attempts: attempt, error: (e as Error).message });
          throw new HsmError('ERR_DEVICE_ERROR', `${op} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${(e as Error).message}`, { cause: e });
        }
        daemonMetrics().retries.inc({ op });
        if (!behind) this.log.info('request failed on a node; retrying on another', { op, node: link.name, attempt, error: (e as Error).message });
        /* A node that is behind has already waited its catch-up bound: go to the next node at once. */
        if (!behind) await sleep(Math.min(retryDelay(retry, attempt), remaining));
      }
    }
  }
}
