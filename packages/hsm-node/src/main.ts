#!/usr/bin/env node
/**
 * @module `hsm node <node.json>`: one HSM node process.
 *
 * node.json: { "id": 1, "host": "127.0.0.1", "port": 2225, "dir": "<installation dir
 * with sealing.key and data/>", "cluster": [{ "id", "hostname", "port" }, ...] }.
 * SIGTERM drains and exits; SIGHUP re-reads the cluster list.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { HsmError } from '../../protocol/src/errors.js';
import { makeLogger } from './log.js';
import { openLocalPartition } from './local_partition.js';
import { NodeServer, DEFAULT_NODE_PORT, resolveNodeLimits, type NodeLimits } from './server.js';
import type { NodeInfo } from './handler.js';

interface NodeConfig {
  id: number;
  host: string;
  port: number;
  dir: string;
  cluster: NodeInfo[];
  limits: NodeLimits;
}

function readConfig(path: string): NodeConfig {
  let j: Partial<NodeConfig>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Partial<NodeConfig>;
  } catch (e) {
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
  return { id: j.id!, host: j.host ?? '127.0.0.1', port, dir: j.dir, cluster, limits };
}

async function main(argv: string[]): Promise<number> {
  const cfgPath = argv[0];
  if (!cfgPath || argv.length > 3) {
    process.stderr.write('usage: hsm-node <node.json> [--pid-file <path>]\n');
    return 2;
  }
  const pidFile = argv[1] === '--pid-file' ? argv[2] : undefined;
  let cfg = readConfig(cfgPath);
  const log = makeLogger('node', { node: cfg.id });
  const { partition, store } = await openLocalPartition(cfg.dir);
  const fault = process.env.OCHSM_FAULT_KILL_AFTER_COMMIT;
  const server = new NodeServer({
    id: cfg.id, host: cfg.host, port: cfg.port, partition, store, log, limits: cfg.limits,
    cluster: () => cfg.cluster,
    /* Test hook: die after the store committed and before the reply is written. */
    ...(fault ? { afterCommit: (op: string) => {
      if (op === fault) {
        log.warn('fault injection: killing this node after commit', { op });
        process.kill(process.pid, 'SIGKILL');
      }
    } } : {}),
  });
  await server.start();
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
  process.on('SIGHUP', () => {
    try {
      cfg = { ...readConfig(cfgPath), port: cfg.port, host: cfg.host };
      log.info('configuration reloaded', { nodes: cfg.cluster.length });
    } catch (e) {
      log.error('configuration reload failed; keeping the old one', { reason: e instanceof Error ? e.message : String(e) });
    }
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('stopping: draining in-flight requests');
  await server.stop();
  await partition.flush();
  await store.close();
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
