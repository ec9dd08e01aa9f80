/**
 * @module The per-source sign-in delay: consecutive failed sign-ins from one
 * source (the node keys it by the connection's remote address and the account
 * name tried) make that source's next attempt wait longer, so a flood cannot burn an account's attempts in
 * milliseconds. Rules as data (SIGN_IN_DELAY); pure: the clock is passed in,
 * the caller does the waiting.
 *
 * Each attempt takes the source's next slot: the first waits 0, and after n
 * failures (counting attempts still being checked) the next slot is
 * `baseMs × 2^(n-1)` later, at most `maxMs`. An attempt whose slot lies more
 * than `maxQueueMs` ahead is refused at once (ERR_LIMIT) and is not checked,
 * so it counts against no account. A success from the source clears its
 * count. Other sources are never delayed by this source's failures: a
 * stranger slows down only itself (the account's own lockout still counts
 * every checked attempt from anywhere). Keying by address and account means
 * the applications behind one client daemon (one address) are not delayed
 * by failures against another account.
 *
 * With the defaults a burst from one source gets four attempts checked
 * (slots at 0, 100, 300 and 700 ms; the fifth would be at 1500 ms, past the
 * 1000 ms queue), one fewer than the lockout limit; one client retrying in
 * turn waits at most 800 ms before the account locks.
 */
import { HsmError } from '../../../protocol/src/errors.js';

export interface SignInDelayPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly maxQueueMs: number;
  /** A source quiet for this long starts afresh. */
  readonly forgetMs: number;
  /** Sources remembered at most; past it the least recently seen is forgotten. */
  readonly maxSources: number;
}

export const SIGN_IN_DELAY: SignInDelayPolicy = Object.freeze({ baseMs: 100, maxMs: 8000, maxQueueMs: 1000, forgetMs: 15 * 60_000, maxSources: 10_000 });

interface SourceState {
  failures: number;
  inFlight: number;
  nextAt: number;
  seen: number;
}

/** The step after n failures (n ≥ 1). */
export function delayAfter(n: number, p: SignInDelayPolicy = SIGN_IN_DELAY): number {
  if (n <= 0) return 0;
  return Math.min(p.maxMs, p.baseMs * 2 ** Math.min(n - 1, 30));
}

export class SignInThrottle {
  private readonly sources = new Map<string, SourceState>();

  constructor(private readonly clock: () => number, readonly policy: SignInDelayPolicy = SIGN_IN_DELAY) {}

  /**
   * Take the source's next slot: the milliseconds to wait before checking
   * the password, and a `done` to report the outcome. Throws ERR_LIMIT when
   * the source's queue is full.
   */
  begin(source: string): { waitMs: number; done: (ok: boolean) => void } {
    const now = this.clock();
    let s = this.sources.get(source);
    if (s && s.inFlight === 0 && now - s.seen > this.policy.forgetMs) s = undefined;
    if (!s) s = { failures: 0, inFlight: 0, nextAt: now, seen: now };
    this.sources.delete(source);
    this.sources.set(source, s);
    s.seen = now;
    const slot = Math.max(now, s.nextAt);
    const waitMs = slot - now;
    if (waitMs > this.policy.maxQueueMs) {
      throw new HsmError('ERR_LIMIT', `too many failed sign-ins from this address: try again in ${Math.ceil(waitMs / 1000)} s (the attempt was not checked)`);
    }
    s.inFlight++;
    s.nextAt = slot + delayAfter(s.failures + s.inFlight, this.policy);
    this.evict();
    let reported = false;
    return {
      waitMs,
      done: (ok: boolean) => {
        if (reported) return;
        reported = true;
        s!.inFlight--;
        s!.seen = this.clock();
        if (ok) {
          s!.failures = 0;
          s!.nextAt = s!.seen;
        } else {
          s!.failures++;
        }
      },
    };
  }

  private evict(): void {
    while (this.sources.size > this.policy.maxSources) {
      const oldest = this.sources.keys().next().value as string;
      this.sources.delete(oldest);
    }
  }

  get size(): number {
    return this.sources.size;
  }
}
