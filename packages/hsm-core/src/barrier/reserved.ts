/**
 * The store's plain spaces beside the barrier: paths the barrier neither reads nor writes
 * (docs/storage-format.md §2). Their one definition; outside the core, code that only needs to
 * name them imports this module, not the barrier.
 */

/** Reserved for barrier metadata, stored plain; callers may neither read nor write here. */
export const BARRIER_PREFIX = 'sys/barrier/';
/** Node heartbeats for the replication metric (packages/ops/src/metrics/store.ts): plain, never partition state. */
export const HEARTBEAT_PREFIX = 'sys/probe/';
/** Join requests of nodes that have no masking key yet (docs/deployment.md §5): plain, written by the joining node. */
export const JOIN_REQUEST_PREFIX = 'sys/join/request/';
/** The running nodes' entries on etcd (hsm-node quorum.ts): plain {id, hostname, port}, on each node's lease. */
export const PEERS_PREFIX = 'cluster/nodes/';

export function isReserved(path: string): boolean {
  return path.startsWith(BARRIER_PREFIX) || path.startsWith(HEARTBEAT_PREFIX) || path.startsWith(JOIN_REQUEST_PREFIX) || path.startsWith(PEERS_PREFIX);
}
