/**
 * @module Per-user quotas: how many objects, and how many stored bytes of
 * objects, one user may own (token and session objects alike). Checked in
 * the core inside the creating transaction (objects/lifecycle.ts commitNew),
 * on a replica that has applied every creation up to the handle counter the
 * transaction compares, so concurrent creations on any node cannot pass the
 * quota together: every creation moves that counter, and a race is a
 * compare-and-swap conflict that rebuilds on fresh state.
 */
import { HsmError } from '../../../protocol/src/errors.js';

export interface QuotaConfig {
  /** Objects one user may own. */
  readonly maxObjectsPerUser: number;
  /** Bytes of stored (masked) objects one user may own. */
  readonly maxObjectBytesPerUser: number;
}

export const DEFAULT_QUOTAS: QuotaConfig = Object.freeze({ maxObjectsPerUser: 10_000, maxObjectBytesPerUser: 64 * 1024 * 1024 });

/** Refuse new objects that would take their owner past a quota. */
export function checkQuota(owner: string, usage: { objects: number; bytes: number }, adding: { objects: number; bytes: number }, q: QuotaConfig): void {
  if (usage.objects + adding.objects > q.maxObjectsPerUser) {
    throw new HsmError('ERR_LIMIT', `user ${owner || '(public)'} owns ${usage.objects} object(s); the per-user quota is ${q.maxObjectsPerUser} objects (maxObjectsPerUser); delete objects first`);
  }
  if (usage.bytes + adding.bytes > q.maxObjectBytesPerUser) {
    throw new HsmError('ERR_LIMIT', `user ${owner || '(public)'} owns ${usage.bytes} bytes of objects and this needs ${adding.bytes} more; the per-user quota is ${q.maxObjectBytesPerUser} bytes (maxObjectBytesPerUser); delete objects first`);
  }
}
