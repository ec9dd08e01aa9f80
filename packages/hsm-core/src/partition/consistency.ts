/**
 * @module Which requests take access away (docs/consistency.md). Such a
 * change is acknowledged only once it is in force on every live node: the
 * node that committed it waits out the freshness bound of the in-memory
 * state, after which no node decides on state older than the change.
 */

/** Operations whose success can remove someone's access to a key, an object or an account. */
const REMOVING = new Set([
  'destroyObject', 'deleteUser', 'changePassword', 'setAttributeValue', 'closeSession',
  /* replaces every user and object (backup/partition_backup.ts) */
  'restorePartition',
  /* a partition policy may restrict wrapping (DEFAULT_WRAP_WITH_TRUSTED, authz/partition_policy.ts) */
  'setPolicy',
]);

/**
 * Does this request, if it succeeds (or, for `login`, if it fails and may have
 * locked the account), remove access somewhere?
 */
export function removesAccess(op: string, obj: Readonly<Record<string, unknown>>, failed: boolean): boolean {
  if (op === 'login') return failed;
  if (failed) return false;
  if (op === 'shareKey') return obj.share === false;
  return REMOVING.has(op);
}
