/**
 * @module The store package: the untrusted key-value port and its backends.
 *
 * Trust boundary: everything exported here is untrusted storage; the HSM core
 * reaches it only through its barrier (hsm-core/src/barrier), which masks
 * every value before it gets here.
 */
export * from './types.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd.js';
