/**
 * The metrics scrape test: three real nodes and the real daemon with their
 * metrics endpoints on loopback, scraped before and after load (signatures,
 * failed sign-ins up to a lockout, a node killed between commit and reply);
 * the counters moved by what was done, and no label carries a password or a
 * user name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, connectNode, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { parseMetricsAddress } from '../src/metrics/http.js';
import { mechanismLabel, opLabel, roleLabel } from '../src/metrics/labels.js';
import { parseMetrics, scrape, sum, type Sample } from '../src/metrics/scrape.js';

const CU2 = { user: 'metricsuser', password: 'Secret-Pass-9876' };
const SIGNS = 20;

test('OCHSM_METRICS: a port means loopback, host:port is taken as given, anything else is refused', () => {
  assert.equal(parseMetricsAddress(undefined), undefined);
  assert.equal(parseMetricsAddress(''), undefined);
  assert.deepEqual(parseMetricsAddress('9471'), { host: '127.0.0.1', port: 9471 });
  assert.deepEqual(parseMetricsAddress('0.0.0.0:9471'), { host: '0.0.0.0', port: 9471 });
  assert.deepEqual(parseMetricsAddress('[::1]:9471'), { host: '::1', port: 9471 });
  for (const bad of ['x', '70000', 'http://127.0.0.1:9471', '127.0.0.1:', '1.2.3.4:9471/metrics']) assert.throws(() => parseMetricsAddress(bad), /OCHSM_METRICS must be a port or host:port/);
});

test('labels come from closed sets: unknown operations, mechanisms and roles collapse to fixed words', () => {
  assert.equal(opLabel('sign'), 'sign');
  assert.equal(opLabel('user1234'), 'unknown');
  assert.equal(mechanismLabel({ mechanism: { mechanism: P.CKM_ECDSA_SHA256 } }), 'CKM_ECDSA_SHA256');
  assert.equal(mechanismLabel({ mechanism: { mechanism: 0x7eadbeef } }), 'CKM_UNKNOWN');
  assert.equal(mechanismLabel({ data: Buffer.from('x') }), 'none');
  assert.equal(roleLabel('CU'), 'CU');
  assert.equal(roleLabel('cu1:user1234'), 'unspecified');
});

test('nodes and daemon: scrape before and after load, the counters moved, no secret in any label', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-metrics-'));
  const addrFile = (name: string) => join(dir, `${name}.metrics`);
  let lc: LocalCluster | undefined;
  let d: DaemonHandle | undefined;
  t.after(async () => {
    await d?.stop().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  lc = await startCluster(dir, {
    users: [{ user: 'cu1', password: 'user1234', role: 'CU' }, { ...CU2, role: 'CU' }],
    env: (id) => ({ OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: addrFile(`hsm${id}`), ...(id === 3 ? { OCHSM_FAULT_KILL_AFTER_COMMIT: 'generateKey' } : {}) }),
  });
  /* spread: node 3's crash after commit must receive one of the four key generations below, which the rotation guarantees (pack keeps the daemon on its own first choice). */
  d = await startDaemon(lc, { env: { OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: addrFile('client') }, client: { routing: 'spread' } });
  const addr = (name: string) => readFileSync(addrFile(name), 'utf8').trim();
  /* The daemon opens its metrics endpoint right after its socket: wait for the address file. */
  for (const end = Date.now() + 10_000; !existsSync(addrFile('client')); ) {
    assert.ok(Date.now() < end, 'the daemon wrote its metrics address');
    await new Promise((r) => setTimeout(r, 50));
  }
  const nodesScrape = async () => parseMetrics((await Promise.all([1, 2, 3].map((id) => scrape(addr(`hsm${id}`))))).join('\n'));
  const daemonScrape = async () => parseMetrics(await scrape(addr('client')));
  for (const name of ['hsm1', 'hsm2', 'hsm3', 'client']) assert.match(addr(name), /^127\.0\.0\.1:\d+$/, `${name} listens on loopback`);

  const app = await connectDaemon(d.socketPath, 'metrics-test');
  t.after(() => app.close());
  const deadline = Date.now() + 15_000;
  while ((await app.request('status', {})).nodes!.filter((n) => n.state === 'up').length < 3) {
    assert.ok(Date.now() < deadline, 'three links up');
    await new Promise((r) => setTimeout(r, 50));
  }
  const n0 = await nodesScrape();
  const d0 = await daemonScrape();
  assert.equal(sum(d0, 'ochsm_daemon_node_link_state', { state: 'up' }), 3, 'three links up before the load');

  /* Load: sign in, key pair, SIGNS signatures through the daemon. */
  await app.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const pair = await app.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true)],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
  });
  for (let i = 0; i < SIGNS; i++) await app.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data: Buffer.from(`payload ${i}`) });
  /* Five wrong passwords for CU2 on node 1 lock it (the default limit); the sixth attempt is refused as locked. */
  const direct = await connectNode(lc.node(1).port, lc.poCrt);
  for (let i = 0; i < 6; i++) {
    await assert.rejects(direct.request('login', { user: CU2.user, password: `wrong-${CU2.password}-${i}`, role: 'CU' }), (e: unknown) => e instanceof HsmError);
  }
  direct.close();

  const n1 = await nodesScrape();
  const d1 = await daemonScrape();
  const delta = (a: Sample[], b: Sample[], name: string, where: Record<string, string> = {}) => sum(b, name, where) - sum(a, name, where);
  const signOk = { op: 'sign', mechanism: 'CKM_ECDSA_SHA256', result: 'ok' };
  assert.equal(delta(n0, n1, 'ochsm_node_operations_total', signOk), SIGNS, 'nodes counted every signature');
  assert.equal(delta(d0, d1, 'ochsm_daemon_requests_total', signOk), SIGNS, 'the daemon counted every signature');
  assert.equal(delta(n0, n1, 'ochsm_node_operation_duration_seconds_count', { op: 'sign', mechanism: 'CKM_ECDSA_SHA256' }), SIGNS);
  assert.ok(delta(n0, n1, 'ochsm_node_operation_duration_seconds_sum', { op: 'sign' }) > 0, 'latency observed');
  assert.equal(delta(d0, d1, 'ochsm_daemon_request_duration_seconds_count', { op: 'sign' }), SIGNS);
  assert.equal(delta(n0, n1, 'ochsm_node_operations_total', { op: 'generateKeyPair', mechanism: 'CKM_EC_KEY_PAIR_GEN', result: 'ok' }), 1);
  assert.equal(delta(d0, d1, 'ochsm_daemon_sign_ins_total', { role: 'CU', outcome: 'success' }), 1);
  assert.equal(delta(n0, n1, 'ochsm_node_sign_ins_total', { role: 'CU', outcome: 'success' }), 3, 'the host sign-in reached every node');
  assert.equal(delta(n0, n1, 'ochsm_node_sign_ins_total', { node: '1', role: 'CU', outcome: 'failure' }), 5);
  assert.equal(delta(n0, n1, 'ochsm_node_sign_ins_total', { node: '1', role: 'CU', outcome: 'locked' }), 1);
  assert.equal(delta(n0, n1, 'ochsm_node_operations_total', { node: '1', op: 'login', result: 'ERR_LOGIN_FAILED' }), 5);
  assert.equal(delta(n0, n1, 'ochsm_node_lockouts_total', { node: '1' }), 1, 'the fifth failure locked the account');
  assert.equal(sum(n1, 'ochsm_node_requests_in_flight'), 0);
  assert.equal(sum(d1, 'ochsm_daemon_requests_in_flight'), 0);
  assert.equal(sum(n1, 'ochsm_node_info', { node: '2' }), 1);
  assert.ok(sum(n1, 'process_cpu_user_seconds_total') > 0, 'process metrics are there');
  /* Store and audit: each signature's audit record waited for a commit; group commit batches them. */
  assert.equal(delta(n0, n1, 'ochsm_audit_append_duration_seconds_count'), SIGNS, 'every key use waited for its audit record');
  assert.equal(delta(n0, n1, 'ochsm_audit_log_records_total'), SIGNS, 'each signature wrote one key-use record to its node\'s log');
  const syncs = delta(n0, n1, 'ochsm_audit_log_syncs_total');
  assert.ok(syncs >= 1 && syncs <= SIGNS, `the key-use records took ${syncs} fdatasync calls`);
  assert.ok(delta(n0, n1, 'ochsm_store_audit_records_per_transaction_sum') >= 1, 'state changes (sign-ins, the key pair) committed their audit records');
  assert.ok(delta(n0, n1, 'ochsm_store_transaction_duration_seconds_count', { result: 'committed' }) >= 1);
  assert.ok(delta(n0, n1, 'ochsm_store_transaction_duration_seconds_sum') > 0);

  /* Node 3 dies after committing a generateKey: the daemon retries on another node and marks the link down. */
  const template = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];
  for (let i = 0; i < 4; i++) await app.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template });
  const n3 = lc.node(3).proc!;
  const until = Date.now() + 10_000;
  let d2 = await daemonScrape();
  while (sum(d2, 'ochsm_daemon_node_link_state', { node: '3', state: 'up' }) !== 0 || (n3.exitCode === null && n3.signalCode === null)) {
    assert.ok(Date.now() < until, 'node 3 was killed and its link left the up state');
    await new Promise((r) => setTimeout(r, 100));
    d2 = await daemonScrape();
  }
  assert.ok(delta(d1, d2, 'ochsm_daemon_retries_total', { op: 'generateKey' }) >= 1, 'a retry was counted');
  assert.ok(delta(d1, d2, 'ochsm_daemon_failovers_total', { op: 'generateKey' }) >= 1, 'a failover was counted');
  assert.equal(delta(d1, d2, 'ochsm_daemon_requests_total', { op: 'generateKey', result: 'ok' }), 4, 'every key generation answered ok');
  assert.equal(sum(d2, 'ochsm_daemon_node_link_state', { node: '1', state: 'up' }), 1);

  /* No secret anywhere in the exposition: passwords, user names, signed data. */
  const texts = [await scrape(addr('hsm1')), await scrape(addr('hsm2')), await scrape(addr('client'))].join('\n');
  for (const secret of ['user1234', CU2.password, 'wrong-', CU2.user, 'cu1', 'payload', Buffer.from('payload 0').toString('hex')]) {
    assert.ok(!texts.includes(secret), `the metrics do not contain ${JSON.stringify(secret)}`);
  }
  const labelNames = new Set(parseMetrics(texts).flatMap((s) => Object.keys(s.labels)));
  for (const l of labelNames) assert.ok(['node', 'op', 'mechanism', 'result', 'role', 'outcome', 'state', 'version', 'from_node', 'le', 'quantile', 'space', 'type', 'kind', 'major', 'minor', 'patch'].includes(l), `label ${l} is one of the known, non-secret ones`);
  console.log(`checked: ${SIGNS} signatures counted by nodes and daemon (counters, histograms), sign-ins 3×success, 5 failures, 1 lockout, 1 locked refusal on node 1; node 3 killed → retries ${delta(d1, d2, 'ochsm_daemon_retries_total')}, failovers ${delta(d1, d2, 'ochsm_daemon_failovers_total')}, link 3 ${['connecting', 'down'].find((s) => sum(d2, 'ochsm_daemon_node_link_state', { node: '3', state: s }) === 1)}; labels ${[...labelNames].sort().join(',')}; no password, user name or data in ${texts.length} bytes`);
});
