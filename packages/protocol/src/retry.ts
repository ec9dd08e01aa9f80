/**
 * @module The client retry policy, as data: one type, one set of limits, the two defaults and the
 * one backoff rule, for the daemon (retrying a request on another node, packages/daemon/src/router.ts,
 * configured in azcloudhsm_client.cfg "retry") and the SDK (reconnecting to the daemon,
 * packages/sdk/src/client.ts), and the PKCS#11 module (reconnecting to a restarted daemon,
 * native/pkcs11/src/general.c, through the header native/common/gen/gen_shared.mjs makes from this
 * file at build time). Pure: no timers, no I/O.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retry). */
  readonly attempts: number;
  /** Wait before the first retry; it doubles for each further one, drawn from [d/2, d]. */
  readonly backoffMs: number;
  /** No retry starts once this much time has passed since the first attempt. */
  readonly deadlineMs: number;
  /** The doubling stops at this wait (ms); without it the wait doubles on to the deadline. */
  readonly maxBackoffMs?: number;
}

/** What a policy may say, wherever it comes from (a cfg file or an SDK option). */
export const RETRY_LIMITS = {
  attempts: { min: 1, max: 100 },
  backoffMs: { min: 0, max: 60_000 },
  deadlineMs: { min: 1, max: 3_600_000 },
  maxBackoffMs: { min: 1, max: 60_000 },
} as const satisfies Record<keyof RetryPolicy, { min: number; max: number }>;

/**
 * The daemon's default: three attempts on different nodes, 50 ms apart at first, nothing new after
 * 10 s — a node failing over is found at once, a dead cluster fails within the deadline.
 */
export const DAEMON_RETRY: RetryPolicy = { attempts: 3, backoffMs: 50, deadlineMs: 10_000 };

/**
 * The SDK's default: five attempts, as the JCE lineage's retry runner makes; backoff from 200 ms
 * (then 400, 800, 1600), and nothing new after 15 s: enough for a daemon restart (a second or two),
 * short enough to fail a dead host visibly.
 */
export const SDK_RETRY: RetryPolicy = { attempts: 5, backoffMs: 200, deadlineMs: 15_000 };

/**
 * The PKCS#11 module's reconnect to its daemon (a restart takes a second or two): from 20 ms,
 * doubling to at most 250 ms, for up to 10 s — found again within a quarter second of its return,
 * and a daemon that stays away fails the call with CKR_DEVICE_ERROR after the deadline.
 */
export const MODULE_RECONNECT: RetryPolicy = { attempts: 100, backoffMs: 20, deadlineMs: 10_000, maxBackoffMs: 250 };

/** Backoff before retry n (1-based): backoffMs doubling (to maxBackoffMs, if set), drawn from [d/2, d]. */
export function retryDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const d = Math.min(policy.maxBackoffMs ?? Infinity, policy.backoffMs * 2 ** Math.min(retry - 1, 20));
  return Math.round(d / 2 + (random() * d) / 2);
}

/** The first field of p outside RETRY_LIMITS, as "<field> must be ..." (undefined: p is valid). */
export function retryPolicyProblem(p: RetryPolicy): string | undefined {
  for (const k of Object.keys(RETRY_LIMITS) as (keyof RetryPolicy)[]) {
    const { min, max } = RETRY_LIMITS[k];
    const v = p[k];
    if (v === undefined && k === 'maxBackoffMs') continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `retry.${k} must be a whole number from ${min} to ${max} (got ${String(v)})`;
  }
  return undefined;
}
