/**
 * @module Store benchmark (not a test): the same three-node cluster and daemon,
 * once on the embedded SQLite store and once on a local three-member etcd
 * (client and peer TLS, authentication on), measured in the same run:
 * key generations per second (EC P-256 key pairs, AES-256 keys) and ECDSA
 * P-256 signatures per second, with 1 and 16 concurrent applications.
 *
 *   make bench-etcd       (or: node dist/tools/bench_etcd.js [seconds-per-case])
 *
 * Everything runs on loopback in a temporary directory, removed afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../packages/protocol/src/pkcs11.js';
import type { ProtocolClient } from '../packages/protocol/src/connection.js';
import { attr } from '../packages/hsm-core/src/objects/attributes.js';
import { connectDaemon, startCluster, startDaemon, EXAMPLE_CU } from '../packages/testkit/src/cluster.js';
import type { StoreConfig } from '../packages/hsm-node/src/store_config.js';
import { EtcdCluster, loopbackMembers } from '../packages/testkit/src/etcd.js';
import { drive, percentile } from './bench_drive.js';

const SECONDS = Number(process.argv[2] ?? 3);
const EC_P256 = Buffer.from('06082a8648ce3d030107', 'hex');

interface Row { readonly store: string; readonly op: string; readonly clients: number; readonly perSecond: number; readonly p50: number; readonly p99: number }

async function rate(clients: ProtocolClient[], op: (c: ProtocolClient) => Promise<unknown>): Promise<{ perSecond: number; p50: number; p99: number }> {
  const { ops, seconds, lat } = await drive(clients, op, SECONDS);
  lat.sort((a, b) => a - b);
  return { perSecond: ops / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function measure(store: string, dir: string, storeConfig?: (id: number) => StoreConfig): Promise<Row[]> {
  const cluster = await startCluster(dir, storeConfig ? { store: storeConfig } : {});
  const daemon = await startDaemon(cluster);
  const rows: Row[] = [];
  try {
    const admin = await connectDaemon(daemon.socketPath, 'bench');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const genEc = (c: ProtocolClient) => c.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, EC_P256), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });
    const genAes = (c: ProtocolClient) => c.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)] });
    const pair = await genEc(admin);
    const data = Buffer.from('benchmark');
    const sign = (c: ProtocolClient) => c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
    for (const n of [1, 16]) {
      const clients = await Promise.all(Array.from({ length: n }, (_, i) => connectDaemon(daemon.socketPath, `bench-${i}`)));
      for (const [op, fn] of [['EC P-256 key pair generation', genEc], ['AES-256 key generation', genAes], ['ECDSA P-256 sign', sign]] as const) {
        rows.push({ store, op, clients: n, ...(await rate(clients, fn)) });
      }
      for (const c of clients) c.close();
    }
    admin.close();
  } finally {
    await daemon.stop();
    await cluster.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-bench-etcd-'));
  let etcd: EtcdCluster | undefined;
  try {
    const rows = await measure('SQLite (one file)', join(dir, 'sqlite'));
    etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
    const base = etcd.clientConfig();
    rows.push(...(await measure('etcd (3 members, TLS, auth)', join(dir, 'hsm-etcd'), (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }))));
    console.log(`\nOpenCloudHSM store benchmark — ${SECONDS} s per case, 3 nodes + daemon on loopback, ${new Date().toISOString()}`);
    console.log(`| store | operation | clients | ops/s | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|`);
    for (const r of rows) console.log(`| ${r.store} | ${r.op} | ${r.clients} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} |`);
  } finally {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
