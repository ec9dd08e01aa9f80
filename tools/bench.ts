/**
 * @module Sign-throughput benchmark (not a test): operations per second and
 * latency percentiles through the full path application → daemon → node, with
 * 1, 4 and 16 concurrent clients, beside references measured in the same run:
 * node:crypto in-process, `openssl speed`, and one client straight to a node.
 *
 *   make bench            (or: node dist/tools/bench.js [seconds-per-case])
 *
 * It starts its own three-node cluster and daemon in a temporary directory on
 * loopback and removes them afterwards.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../packages/protocol/src/pkcs11.js';
import type { ProtocolClient } from '../packages/protocol/src/connection.js';
import { attr } from '../packages/hsm-core/src/objects/attributes.js';
import { connectDaemon, connectNode, startCluster, startDaemon, EXAMPLE_CU } from '../packages/testkit/src/cluster.js';
import { drive, percentile } from './bench_drive.js';

const SECONDS = Number(process.argv[2] ?? 3);

interface Result { readonly name: string; readonly clients: number; readonly ops: number; readonly seconds: number; readonly lat: number[] }

function row(r: Result): string {
  const lat = [...r.lat].sort((a, b) => a - b);
  const f = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(2));
  return `${r.name.padEnd(44)} ${String(r.clients).padStart(7)} ${(r.ops / r.seconds).toFixed(0).padStart(10)} ${f(percentile(lat, 50)).padStart(9)} ${f(percentile(lat, 95)).padStart(9)} ${f(percentile(lat, 99)).padStart(9)}`;
}

async function measure(name: string, clients: ProtocolClient[], op: (c: ProtocolClient) => Promise<unknown>): Promise<Result> {
  process.stderr.write(`bench: ${name}, ${clients.length} client(s), ${SECONDS} s...\n`);
  return { name, clients: clients.length, ...(await drive(clients, op, SECONDS)) };
}

function inProcess(name: string, keyType: 'ec' | 'rsa'): Result {
  const { privateKey } = keyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const lat: number[] = [];
  let ops = 0;
  const end = Date.now() + SECONDS * 1000;
  const t0 = process.hrtime.bigint();
  while (Date.now() < end) {
    const s = process.hrtime.bigint();
    sign('sha256', Buffer.from('benchmark'), key);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    ops++;
  }
  return { name, clients: 1, ops, seconds: Number(process.hrtime.bigint() - t0) / 1e9, lat };
}

function opensslSpeed(alg: string): string {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', String(SECONDS), alg], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    /* The result row: "rsa 2048 bits 0.000262s 0.000020s 3818.8 50794.8" or "256 bits ecdsa (nistp256) ... sign/s verify/s". */
    const line = out.split('\n').find((l) => /^\s*(rsa\s+\d+\s+bits|\d+\s+bits\s+ecdsa)/.test(l));
    if (!line) return 'no result';
    const nums = line.trim().split(/\s+/);
    return `${nums[nums.length - 2]} sign/s, ${nums[nums.length - 1]} verify/s (${line.trim().split(/\s+\d/)[0]})`;
  } catch (e) {
    return `openssl speed failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-bench-'));
  process.stderr.write('bench: starting and claiming a 3-node cluster and its daemon...\n');
  const cluster = await startCluster(dir);
  const daemon = await startDaemon(cluster);
  try {
    const admin = await connectDaemon(daemon.socketPath, 'bench');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const ec = await admin.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });
    const rsa = await admin.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_MODULUS_BITS, 2048), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });
    const data = Buffer.from('benchmark');
    const signEc = (c: ProtocolClient) => c.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: ec.privateHandle, data });
    const signRsa = (c: ProtocolClient) => c.request('sign', { mechanism: { mechanism: P.CKM_SHA256_RSA_PKCS }, handle: rsa.privateHandle, data });

    const results: Result[] = [];
    results.push(inProcess('reference: node:crypto ECDSA P-256 in-process', 'ec'));
    results.push(inProcess('reference: node:crypto RSA-2048 in-process', 'rsa'));
    const direct = await connectNode(cluster.node(1).port, cluster.poCrt);
    await direct.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    results.push(await measure('reference: ECDSA P-256, one client → node 1', [direct], signEc));
    direct.close();
    for (const n of [1, 4, 16]) {
      const clients = await Promise.all(Array.from({ length: n }, (_, i) => connectDaemon(daemon.socketPath, `bench-${i}`)));
      results.push(await measure('ECDSA P-256 sign, app → daemon → nodes', clients, signEc));
      results.push(await measure('RSA-2048 SHA256_RSA_PKCS sign, app → daemon → nodes', clients, signRsa));
      for (const c of clients) c.close();
    }
    admin.close();
    console.log(`\nOpenCloudHSM sign benchmark — ${SECONDS} s per case, 3 nodes on one SQLite store, ${new Date().toISOString()}`);
    console.log(`${'case'.padEnd(44)} ${'clients'.padStart(7)} ${'ops/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p95 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`);
    for (const r of results) console.log(row(r));
    console.log(`\nreference: openssl speed ecdsap256 → ${opensslSpeed('ecdsap256')}`);
    console.log(`reference: openssl speed rsa2048   → ${opensslSpeed('rsa2048')}`);
  } finally {
    await daemon.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
