/**
 * @module Open the partition of a local installation: the sealing-key file,
 * the SQLite store, and the Partition over them. This is the I/O edge of one
 * node; several node processes on one host call it on the same directory.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../../store/src/sqlite.js';
import { EtcdStore } from '../../store/src/etcd.js';
import type { KeyValueStore } from '../../store/src/types.js';
import { etcdOptions, type StoreConfig } from './store_config.js';
import { Partition, type PartitionConfig, type PartitionOptions } from '../../hsm-core/src/partition.js';
import { createSealingKeyFile, loadSealingKeyFile } from './sealing_key_file.js';
import { StoreUseLog } from '../../hsm-core/src/audit/use_log.js';
import type { TxnEngine } from '../../hsm-core/src/partition/txn.js';
import { nodeMetrics } from '../../ops/src/metrics/node.js';
import { holdWatchWhile } from './fault_hold_watch.js';

export interface LocalPaths {
  readonly dir: string;
  readonly sealingKey: string;
  readonly database: string;
}

export function localPaths(dir: string): LocalPaths {
  return { dir, sealingKey: join(dir, 'sealing.key'), database: join(dir, 'data', 'partition.db') };
}

/** Node `id`'s key-use audit log under the installation directory (docs/storage-format.md). */
export function nodeAuditLogPath(dir: string, id: number): string {
  return join(dir, 'data', 'audit', `node-${id}.log`);
}

/** Create the directory layout with owner-only permissions. */
function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if (mode & 0o022) chmodSync(dir, mode & ~0o022);
}

/**
 * Open (creating on first use) the partition stored under `dir`. The sealing
 * key is created only when `create` is true, so a node never silently starts
 * an empty partition beside a lost key.
 */
export async function openLocalPartition(
  dir: string,
  opts: {
    create?: boolean; config?: Partial<PartitionConfig>; store?: StoreConfig; partition?: Pick<PartitionOptions, 'useLog' | 'onProblem' | 'onRefusedSignIn' | 'freshnessMs' | 'profile'>;
    /** Told once per store fault (a message naming the file; never values): the node's log line. */
    onStoreFault?: (message: string, state: 'failing' | 'recovered') => void;
    /** Test hook (OCHSM_FAULT_HOLD_WATCH): hold the store watch while this file exists (./fault_hold_watch.ts). */
    holdWatch?: string;
  } = {},
): Promise<{ partition: Partition; store: KeyValueStore; paths: LocalPaths }> {
  const paths = localPaths(dir);
  ensurePrivateDir(dir);
  ensurePrivateDir(join(dir, 'data'));
  if (!existsSync(paths.sealingKey)) {
    if (!opts.create) throw new Error(`sealing-key file ${paths.sealingKey} does not exist; run cluster initialisation (ochsm up) first, or, for a new node of a cluster on etcd, start it with --join (docs/deployment.md §5)`);
    if (opts.store?.kind !== 'etcd' && existsSync(paths.database)) throw new Error(`store ${paths.database} exists but its sealing key ${paths.sealingKey} is missing; refusing to create a new key`);
    createSealingKeyFile(paths.sealingKey);
  }
  const maskingKey = loadSealingKeyFile(paths.sealingKey);
  /* Store-transaction and audit-append timing for the metrics (docs/operations.md). */
  const metrics = nodeMetrics().store;
  const opened = metrics.instrumentStore(opts.store?.kind === 'etcd' ? await EtcdStore.open(etcdOptions(opts.store)) : SqliteStore.open(paths.database, opts.onStoreFault ? { onFault: opts.onStoreFault } : {}));
  const store = opts.holdWatch ? holdWatchWhile(opened, opts.holdWatch) : opened;
  try {
    /* The audit log the caller chose (or the store's chain), timed for the metrics. */
    const useLog = opts.partition?.useLog ?? ((txn: TxnEngine) => new StoreUseLog(txn));
    const partition = await Partition.open({
      store, maskingKey, monotonic: () => performance.now(),
      /* The node's timers: no request waits unbounded for the in-memory state, and a failed reload is tried again. */
      schedule: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      ...(opts.config ? { config: opts.config } : {}),
      ...opts.partition,
      useLog: (txn) => metrics.instrumentUseLog(useLog(txn)),
    });
    return { partition, store, paths };
  } catch (e) {
    await store.close();
    throw e;
  }
}
