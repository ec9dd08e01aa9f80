/**
 * @module Forwarding an application's request to a node (docs/decisions.md
 * "Retries"; the Azure Cloud HSM guides, "Retries for integration of HSM operations").
 *
 * Each request goes to a ready link of the caller's context, chosen by the
 * routing policy of azcloudhsm_client.cfg (`routing`): `pack` sends to this
 * daemon's preferred node until it has `pack_in_flight` requests in flight
 * from this daemon, then to the next in the preference order; `spread`
 * rotates over the ready links once per turn of the event loop. A request that
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
import { createHash, randomUUID } from 'node:crypto';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import { OPS, errorFromResponse, type OpName, type RequestOf, type ResponseOf } from '../../protocol/src/messages.js';
import type { Frame } from '../../protocol/src/codec.js';
import { readReply, type RawReply } from '../../protocol/src/forward.js';
import { retryDelay, type RetryPolicy } from '../../protocol/src/retry.js';
import type { RoutingPolicy } from '../../protocol/src/clientcfg.js';
import type { Logger } from './log.js';
import type { RouteContext } from './login.js';
import { isTransient, noNodeError, type LinkLike, type LinkPoolLike } from './nodes.js';
import { daemonMetrics } from '../../ops/src/metrics/daemon.js';

export interface RouterSettings {
  readonly retry: RetryPolicy;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly routing: RoutingSettings;
}

/** How a request's node is chosen (azcloudhsm_client.cfg `routing`, `pack_in_flight`). */
export interface RoutingSettings {
  readonly policy: RoutingPolicy;
  /** `pack`: a node with this many requests in flight from this daemon is full; the next one in the order gets the request. */
  readonly packInFlight: number;
  /** Stable per daemon (routeSeed): `pack`'s first choice is the node at seed mod n of the ring. */
  readonly seed: number;
}

/**
 * The number that places one daemon on the ring of nodes: the first 32 bits
 * of SHA-256 over the host name and the daemon's own name (its DAEMON_ID and
 * the socket applications reach it on). The same daemon gets the same number
 * after every restart; daemons on different hosts, or two on one host with
 * different sockets, get unrelated ones, so a fleet's first choices spread
 * over the nodes.
 */
export function routeSeed(host: string, daemon: string): number {
  return createHash('sha256').update(host).update('\0').update(daemon).digest().readUInt32BE(0);
}

/* The ring: every daemon orders the nodes alike, by cluster node id (once hello has said it), then host:port. */
function byNode(a: LinkLike, b: LinkLike): number {
  const x = a.endpoint.nodeId, y = b.endpoint.nodeId;
  if (x !== y) return x === undefined ? 1 : y === undefined ? -1 : x - y;
  return a.endpoint.key < b.endpoint.key ? -1 : a.endpoint.key > b.endpoint.key ? 1 : 0;
}

/**
 * `pack`'s preference order: all the pool's links (ready or not) on the ring,
 * starting at `seed` mod their number. A link that is down keeps its place,
 * so the daemon's share of that node moves to the next node while it is down
 * and comes back to it when it is ready again.
 */
export function preferenceOrder<L extends LinkLike>(links: readonly L[], seed: number): L[] {
  const ring = [...links].sort(byNode);
  const start = ring.length ? seed % ring.length : 0;
  return start ? [...ring.slice(start), ...ring.slice(0, start)] : ring;
}

/**
 * `pack`'s choice among the candidates, given in preference order: the first
 * with fewer than `threshold` requests in flight; when every one is at the
 * threshold, the one with the fewest (the earlier on a tie).
 */
export function packChoice<L>(ordered: readonly L[], inFlight: (l: L) => number, threshold: number): L | undefined {
  let best: L | undefined;
  let least = Infinity;
  for (const l of ordered) {
    const n = inFlight(l);
    if (n < threshold) return l;
    if (n < least) {
      best = l;
      least = n;
    }
  }
  return best;
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
 * The highest store revision a caller has seen (docs/consistency.md): the
 * daemon keeps one for all its applications. Sent with each request, raised
 * by each answer, so its writes are read on whichever node serves it next.
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
  /** Requests this router has sent to each node (endpoint key) and not yet had answered, over every pool. */
  private readonly sent = new Map<string, number>();

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

  /** Requests in flight from this daemon to the node of `link` (every pool's link to it counted). */
  inFlightTo(link: LinkLike): number {
    return this.sent.get(link.endpoint.key) ?? 0;
  }

  /**
   * The ready link for the next request, preferring one not tried yet for
   * this request and, among those, one whose node has not just said it is
   * behind; then by the routing policy.
   *
   * `pack` (packChoice over preferenceOrder): one daemon's light load stays
   * on one node, so its requests leave in fewer TLS writes, its node's
   * key-use records go to disk in larger groups and fewer processes wake up;
   * beyond `packInFlight` in flight the next node takes the overflow, and a
   * fleet of daemons, each with its own first choice, spreads over the nodes.
   *
   * `spread`: round robin. The rotation advances once per turn of the event loop, not per request:
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
    const { routing } = this.settings();
    if (routing.policy === 'pack') {
      const candidates = from;
      const ordered = preferenceOrder(ctx.pool.links(), routing.seed).filter((l) => candidates.includes(l));
      return packChoice(ordered, (l) => this.inFlightTo(l), routing.packInFlight);
    }
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
      /* Counted from the choice to the answer (pack's in-flight), the same turn as the choice, so a burst sees its own requests. */
      const node = link.endpoint.key;
      this.sent.set(node, (this.sent.get(node) ?? 0) + 1);
      try {
        let res: T;
        try {
          res = await send(link);
        } finally {
          const n = this.sent.get(node)! - 1;
          if (n) this.sent.set(node, n);
          else this.sent.delete(node);
        }
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
