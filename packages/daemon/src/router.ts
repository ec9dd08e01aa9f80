/**
 * @module Forwarding an application's request to a node (docs/decisions.md
 * "Retries"; the Azure Cloud HSM guides, "Retries for integration of HSM operations").
 *
 * Each request goes to the next ready link of the caller's context, round
 * robin, so single-part operations spread over the cluster. A request that
 * fails because its link failed (ConnectionLostError: the connection ended
 * before the answer; RequestTimeoutError: no answer in time) is retried on
 * another node, with bounded attempts, backoff and an overall deadline. Any
 * other error is the operation's own answer and goes back unchanged.
 *
 * A retried request may already have run on the failed node. Reads and
 * signatures may run twice harmlessly; a request that changes state carries
 * a `requestId` (one is added here when the application sent none), which
 * the node stores with the result in the same transaction, so the retry
 * returns the first result instead of, say, creating a second key.
 */
import { randomUUID } from 'node:crypto';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import { OPS, type OpName, type RequestOf, type ResponseOf } from '../../protocol/src/messages.js';
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
const retryable = (e: unknown) => isTransient(e) || isHsmError(e, 'ERR_NODE_BEHIND');

export class Router {
  private readonly settings: () => RouterSettings;
  private readonly log: Logger;
  private readonly next = new WeakMap<LinkPoolLike, number>();

  constructor(settings: () => RouterSettings, log: Logger) {
    this.settings = settings;
    this.log = log;
  }

  /** The next ready link, round robin, preferring one not tried yet for this request. */
  pick(ctx: RouteContext, tried: ReadonlySet<LinkLike>): LinkLike | undefined {
    const ready = ctx.pool.links().filter((l) => ctx.ready(l));
    if (ready.length === 0) return undefined;
    const fresh = ready.filter((l) => !tried.has(l));
    const from = fresh.length ? fresh : ready;
    const i = this.next.get(ctx.pool) ?? 0;
    this.next.set(ctx.pool, (i + 1) % 0x40000000);
    return from[i % from.length];
  }

  async forward<K extends OpName>(ctx: RouteContext, op: K, obj: RequestOf<K>, token?: RevisionToken): Promise<ResponseOf<K>> {
    const min = Math.max(token?.revision ?? 0, (obj as { minRevision?: number }).minRevision ?? 0);
    /* Always sent (0 included): it also asks the node to say which revision it answered at. */
    const req = { ...withRequestId(op, obj), minRevision: min };
    const { retry, requestTimeoutMs, connectTimeoutMs } = this.settings();
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
        const res = await link.request(op, req, requestTimeoutMs);
        if (attempt > 1) daemonMetrics().failovers.inc({ op });
        const { revision, ...rest } = res as ResponseOf<K> & { revision?: number };
        if (token && revision !== undefined && revision > token.revision) token.revision = revision;
        return rest as ResponseOf<K>;
      } catch (e) {
        if (!retryable(e)) throw e;
        last = e;
        const remaining = deadline - Date.now();
        if (attempt >= retry.attempts || remaining <= 0) {
          daemonMetrics().exhausted.inc({ op });
          this.log.warn('request failed; no retry left', { op, node: link.name, attempts: attempt, error: (e as Error).message });
          throw new HsmError('ERR_DEVICE_ERROR', `${op} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${(e as Error).message}`, { cause: e });
        }
        daemonMetrics().retries.inc({ op });
        this.log.info('request failed on a node; retrying on another', { op, node: link.name, attempt, error: (e as Error).message });
        await sleep(Math.min(retryDelay(retry, attempt), remaining));
      }
    }
  }
}
