/**
 * @module What the partition's parts share: the barrier, the configuration
 * and clock, the transaction engine, the state reader, the material cache and
 * the key-use log. `Partition` builds one and hands it to each part.
 */
import type { Barrier } from '../barrier/barrier.js';
import type { UseLog } from '../audit/use_log.js';
import type { PartitionConfig } from './context.js';
import type { MaterialCache } from './material.js';
import type { PartitionState } from './state.js';
import type { TxnEngine } from './txn.js';

export interface Kernel {
  readonly barrier: Barrier;
  readonly config: PartitionConfig;
  readonly clock: () => number;
  readonly txn: TxnEngine;
  readonly state: PartitionState;
  readonly material: MaterialCache;
  readonly useLog: UseLog;
  /** Told of sign-ins refused without a store write (unknown user, locked account), for the node's log. */
  readonly onRefusedSignIn?: ((e: RefusedSignIn) => void) | undefined;
}

export interface RefusedSignIn {
  /** The name tried (at most 64 characters); never the password. */
  readonly user: string;
  readonly reason: 'unknown user' | 'account locked';
}
