/**
 * @module Label values, from closed sets only. A label is an operation name
 * from the protocol's OPS table, a mechanism's PKCS#11 name, an error code
 * of the one taxonomy, a role or a node id: never a user's data, a password,
 * a PIN, a handle or key bytes. Anything outside the sets becomes a fixed
 * word, so a client cannot grow the series count with made-up values.
 */
import { ckmName } from '../../../protocol/src/names.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { OPS } from '../../../protocol/src/messages.js';

/** Latency buckets in seconds: from 0.5 ms (a cached HMAC) to 10 s (an RSA-4096 key generation on a busy host). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const ROLES = new Set(['PRECO', 'CO', 'CU', 'AU']);

export function opLabel(op: string): string {
  return Object.prototype.hasOwnProperty.call(OPS, op) ? op : 'unknown';
}

/** `CKM_ECDSA_SHA256` for a request with a mechanism, `none` without one, `CKM_UNKNOWN` for a number the spec does not name. */
export function mechanismLabel(obj: unknown): string {
  const m = (obj as { mechanism?: { mechanism?: unknown } } | undefined)?.mechanism?.mechanism;
  return typeof m === 'number' ? mechanismNumberLabel(m) : 'none';
}

const mechanismNames = new Map<number, string>();
/** `CKM_ECDSA_SHA256` for a mechanism number, `CKM_UNKNOWN` for one the spec does not name (looked up once per number: it is on every request's path). */
export function mechanismNumberLabel(m: number): string {
  let name = mechanismNames.get(m);
  if (name === undefined) {
    const n = ckmName(m);
    name = n.startsWith('CKM_UNKNOWN') ? 'CKM_UNKNOWN' : n;
    /* Numbers come from clients: keep the table bounded. */
    if (mechanismNames.size < 4096) mechanismNames.set(m, name);
  }
  return name;
}

/** `ok`, or the error's stable code (`ERR_LOGIN_FAILED`, ...); anything that is not an HsmError is `ERR_INTERNAL`. */
export function resultLabel(e: unknown): string {
  if (e === undefined) return 'ok';
  return e instanceof HsmError ? e.code : 'ERR_INTERNAL';
}

export function roleLabel(role: unknown): string {
  return typeof role === 'string' && ROLES.has(role) ? role : 'unspecified';
}

/** A sign-in attempt's outcome: success, failure (wrong name, password or format), locked (refused: account locked), or error. */
export function signInOutcome(e: unknown): 'success' | 'failure' | 'locked' | 'error' {
  if (e === undefined) return 'success';
  if (e instanceof HsmError && (e.code === 'ERR_LOGIN_FAILED' || e.code === 'ERR_PIN_INCORRECT')) return 'failure';
  if (e instanceof HsmError && e.code === 'ERR_ACCOUNT_LOCKED') return 'locked';
  return 'error';
}
