#!/usr/bin/env node
/**
 * @module `hsm node <node.json>`: one HSM node process.
 *
 * node.json: { "id": 1, "host": "127.0.0.1", "port": 2225, "dir": "<installation dir
 * with sealing.key and data/>", "cluster": [{ "id", "hostname", "port" }, ...],
 * "store": <optional: the etcd store, see ./store_config.ts>, "join": <optional: see ./join.ts> }.
 * With no sealing.key in dir and "join" set (or --join), the node first joins
 * the cluster (./join.ts: a CO approves it, a running node sends it the
 * masking key), then starts. SIGTERM drains and exits; SIGHUP re-reads the cluster list.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { readTrustedFile, UnsafeFileError } from '../../protocol/src/file_safety.js';
import { HsmError } from '../../protocol/src/errors.js';
import { makeLogger, RateLimitedLog } from './log.js';
import { openLocalPartition, nodeAuditLogPath } from './local_partition.js';
import { NodeAuditLog } from './audit_log.js';
import { installNativeCrypto } from './native_crypto.js';
import { NodeServer, DEFAULT_NODE_PORT, resolveNodeLimits, type NodeLimits } from './server.js';
import type { NodeInfo } from './handler.js';
import { answerStandardFlags } from '../../ops/src/cli_flags.js';
import { nodeMetrics } from '../../ops/src/metrics/node.js';
import { startMetricsFromEnv } from '../../ops/src/metrics/http.js';
import { heartbeatIntervalFromEnv } from '../../ops/src/metrics/store.js';

const PROGRAM = {
  name: 'hsm-node',
  usage: 'usage: hsm-node <node.json> [--pid-file <path>] [--join]',
  description: 'One OpenCloudHSM node: serves one partition over TLS 1.3 (port 2225 by default). With --join (or "join" in node.json) and no sealing.key, it first joins the cluster (docs/deployment.md §5). See docs/operations.md.',
};
import { joinCluster, parseJoinSettings, DEFAULT_JOIN_EXPIRY_S, type JoinSettings } from './join.js';
import { localPaths } from './local_partition.js';
import { parseStoreConfig, type StoreConfig } from './store_config.js';
import { QuorumGuard } from './quorum.js';
import { EtcdStore } from '../../store/src/etcd.js';
import { performance } from 'node:perf_hooks';

interface NodeConfig {
  id: number;
  host: string;
  port: number;
  dir: string;
  cluster: NodeInfo[];
  /** The store (./store_config.ts); absent = the SQLite file under dir. */
  store: StoreConfig;
  limits: NodeLimits;
  /** Data bytes of one operation (the partition's maxDataBytes; absent = the core's default). Every node of a cluster must agree. */
  maxDataBytes?: number;
  /** Partition settings every node must share: per-user quotas and the lockout limit (docs/protocol.md §4). */
  partition: Partial<Record<(typeof PARTITION_KEYS)[number], number>>;
  /** Join the cluster when there is no sealing.key yet (./join.ts). */
  join?: JoinSettings;
}

/** From SIGTERM to exit at most (ms): the request drain (5 s), then closing the store; past it the node exits with 1 (docs/operations.md). */
const STOP_BOUND_MS = 10_000;
const PARTITION_KEYS = ['maxObjectsPerUser', 'maxObjectBytesPerUser', 'maxLoginFailures'] as const;

function readPartitionSettings(v: unknown, path: string): NodeConfig['partition'] {
  const out: NodeConfig['partition'] = {};
  for (const [k, n] of Object.entries((v ?? {}) as Record<string, unknown>)) {
    if (!(PARTITION_KEYS as readonly string[]).includes(k)) throw new Error(`${path}: unknown partition setting "${k}" (known: ${PARTITION_KEYS.join(', ')})`);
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new Error(`${path}: partition setting "${k}" must be a positive integer`);
    out[k as (typeof PARTITION_KEYS)[number]] = n;
  }
  return out;
}

function readConfig(path: string): NodeConfig {
  let j: Partial<NodeConfig>;
  try {
    /* Owned by this user or root and writable by nobody else, or refused naming the fix (docs/security.md "Files"). */
    j = JSON.parse(readTrustedFile(path, 'node configuration file')) as Partial<NodeConfig>;
  } catch (e) {
    if (e instanceof UnsafeFileError) throw e;
    throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Number.isInteger(j.id) || j.id! < 1) throw new Error(`${path}: "id" must be a positive integer`);
  if (typeof j.dir !== 'string') throw new Error(`${path}: "dir" must name the installation directory`);
  const port = j.port ?? DEFAULT_NODE_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${path}: "port" must be 1-65535`);
  const cluster = Array.isArray(j.cluster) ? j.cluster : [];
  for (const n of cluster) {
    if (!Number.isInteger(n.id) || typeof n.hostname !== 'string' || !Number.isInteger(n.port)) throw new Error(`${path}: each "cluster" entry needs id, hostname and port`);
  }
  const limits = resolveNodeLimits((j as { limits?: Record<string, unknown> }).limits, path);
  const maxDataBytes = (j as { maxDataBytes?: unknown }).maxDataBytes;
  if (maxDataBytes !== undefined && (!Number.isSafeInteger(maxDataBytes) || (maxDataBytes as number) < 1024 || (maxDataBytes as number) > 1 << 24)) {
    throw new Error(`${path}: maxDataBytes must be an integer from 1024 to ${1 << 24}`);
  }
  const join = parseJoinSettings((j as { join?: unknown }).join, path);
  return { id: j.id!, host: j.host ?? '127.0.0.1', port, dir: j.dir, cluster, store: parseStoreConfig(j.store, path), limits, partition: readPartitionSettings((j as { partition?: unknown }).partition, path), ...(maxDataBytes !== undefined ? { maxDataBytes: maxDataBytes as number } : {}), ...(join ? { join } : {}) };
}

async function main(argv: string[]): Promise<number> {
  if (answerStandardFlags(PROGRAM, argv)) return 0;
  const args = [...argv];
  const joinFlag = args.includes('--join');
  if (joinFlag) args.splice(args.indexOf('--join'), 1);
  const cfgPath = args[0];
  if (!cfgPath || (args.length !== 1 && !(args.length === 3 && args[1] === '--pid-file'))) {
    process.stderr.write(`${PROGRAM.usage}\n`);
    return 2;
  }
  const pidFile = args[1] === '--pid-file' ? args[2] : undefined;
  let cfg = readConfig(cfgPath);
  const log = makeLogger('node', { node: cfg.id });
  const join = cfg.join ?? (joinFlag ? { expirySeconds: DEFAULT_JOIN_EXPIRY_S } : undefined);
  const sealingKey = localPaths(cfg.dir).sealingKey;
  if (join && !existsSync(sealingKey)) {
    if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    const r = await joinCluster({
      id: cfg.id, host: cfg.host, port: cfg.port, sealingKeyPath: sealingKey, store: cfg.store, join, log,
      print: (line) => void process.stdout.write(line + '\n'), signal: stop.signal,
    });
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    if (r === 'stopped') {
      log.info('stopped before joining; the join request is withdrawn');
      return 0;
    }
  }
  /* Raw CKM_ECDSA in libcrypto (off the event loop) when the addon is built. */
  const nativeCrypto = installNativeCrypto();
  if (nativeCrypto.reason) log.warn('raw ECDSA runs in JavaScript (slower)', { reason: nativeCrypto.reason });
  /* Key-use records go to this node's own log; state changes stay in the store's chain. */
  const refusedSignIns = new RateLimitedLog(log);
  const auditLog = await NodeAuditLog.open(nodeAuditLogPath(cfg.dir, cfg.id), cfg.id);
  nodeMetrics().watchAuditLog(() => auditLog.stats);
  const holdWatch = process.env.OCHSM_FAULT_HOLD_WATCH || undefined;
  if (holdWatch) log.warn('fault injection: the store watch is held while this file exists', { file: holdWatch });
  const { partition, store } = await openLocalPartition(cfg.dir, {
    store: cfg.store,
    ...(holdWatch ? { holdWatch } : {}),
    config: { ...cfg.partition, ...(cfg.maxDataBytes !== undefined ? { maxDataBytes: cfg.maxDataBytes } : {}) },
    onStoreFault: (message, state) => (state === 'failing' ? log.error('store fault', { reason: message }) : log.info('store recovered', { reason: message })),
    partition: {
      useLog: () => auditLog,
      onProblem: (message) => log.warn(message),
      /* Sign-ins refused without a store write (unknown user, locked account): here only, at most 10 a minute. */
      onRefusedSignIn: (e) => refusedSignIns.warn('refused sign-in', 'sign-in refused', { user: e.user, reason: e.reason }),
    },
  });
  /* On etcd: hold a lease on the quorum and register in the store's list of nodes (./quorum.ts). */
  const quorum = cfg.store.kind === 'etcd'
    ? new QuorumGuard(store, {
      self: { id: cfg.id, hostname: cfg.host, port: cfg.port },
      monotonic: () => performance.now(),
      /* A renewal counts once this node's replica holds what the answering member held (./quorum.ts). */
      ...(store instanceof EtcdStore ? { renew: (lease: number) => store.renew(lease), applied: () => partition.state.applied, onBehind: (why: string) => partition.state.resync(`node ${why}`) } : {}),
      onChange: (serving, detail) => (serving ? log.info(detail) : log.warn(`not serving: ${detail}`)),
    })
    : undefined;
  await quorum?.start();
  const fault = process.env.OCHSM_FAULT_KILL_AFTER_COMMIT;
  const server = new NodeServer({
    id: cfg.id, host: cfg.host, port: cfg.port, partition, store, log, auditLog, limits: cfg.limits,
    cluster: () => cfg.cluster,
    ...(quorum ? { quorum } : {}),
    /* Test hook: die after the store committed and before the reply is written. */
    ...(fault ? { afterCommit: (op: string) => {
      if (op === fault) {
        log.warn('fault injection: killing this node after commit', { op });
        process.kill(process.pid, 'SIGKILL');
      }
    } } : {}),
  });
  /*
   * SIGTERM and SIGINT are caught before the node says it is serving (the log lines below): a
   * supervisor that signals as soon as it reads them must find the drain, not the default action
   * (death by the signal, no clean close). One that arrives during start-up stops the node once
   * it has started.
   */
  const stopRequested = new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.start();
  /* Prometheus metrics when OCHSM_METRICS names an address (docs/operations.md). */
  const metricsServer = await startMetricsFromEnv(nodeMetrics().registry);
  if (metricsServer) log.info('metrics', { url: `http://${metricsServer.address.host}:${metricsServer.address.port}/metrics` });
  /* With metrics on, heartbeats for the replication-latency metric (docs/operations.md). */
  const stopHeartbeat = metricsServer ? nodeMetrics().store.startHeartbeat(cfg.id, heartbeatIntervalFromEnv()) : undefined;
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
  process.on('SIGHUP', () => {
    try {
      cfg = { ...readConfig(cfgPath), port: cfg.port, host: cfg.host };
      log.info('configuration reloaded', { nodes: cfg.cluster.length });
    } catch (e) {
      log.error('configuration reload failed; keeping the old one', { reason: e instanceof Error ? e.message : String(e) });
    }
  });
  await stopRequested;
  log.info('stopping: draining in-flight requests');
  /* The drain is bounded (5 s); closing the store must be too, so that a store that stopped answering never keeps a stopping node alive. */
  const giveUp = setTimeout(() => {
    log.error('stopping: the store did not finish in time; exiting without waiting for it', { boundMs: STOP_BOUND_MS });
    process.exit(1);
  }, STOP_BOUND_MS);
  giveUp.unref();
  await server.stop();
  await quorum?.stop();
  await metricsServer?.close();
  await stopHeartbeat?.();
  await partition.flush();
  partition.close();
  await auditLog.close();
  await store.close();
  clearTimeout(giveUp);
  log.info('stopped');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`hsm-node: ${e instanceof HsmError ? `${e.message} (${e.ckrName})` : e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
