/**
 * A new node joins a running cluster on a real etcd (TLS, auth) without
 * anyone copying sealing.key (docs/deployment.md §5). Three nodes run and
 * hold a CU's key; a fourth node process starts in its own directory with
 * "join" and no sealing.key. It writes a join request and prints its
 * fingerprint, and answers every request with a clear error; a running node
 * refuses it the key; a CO's approveNode with a wrong fingerprint is refused
 * (nothing approved); with the right one, a running node hands it the
 * wrapped masking key over TLS; it writes sealing.key 0600, withdraws the
 * request, and signs with the key made before it existed. An etcd snapshot
 * and the member's data directory afterwards hold no form of the masking
 * key. A request in a running node's name is not approved; node 3's host is
 * replaced (the new node 3 waits until the old one's entry lapses) and
 * joins the same way. A fifth node's request, never approved, lapses and
 * that node exits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { loadSealingKeyFile } from '../../hsm-node/src/sealing_key_file.js';
import { joinKeyPair } from '../../hsm-core/src/barrier/join_wrap.js';
import { makeJoinRequest } from '../../hsm-core/src/cluster/joins.js';
import { connectNode, freePort, startCluster, EXAMPLE_CO, EXAMPLE_CU, NODE_MAIN, type LocalCluster } from '../src/cluster.js';
import { EtcdCluster } from '../src/etcd.js';
import { mgmtInstall, mgmtUtil } from '../src/mgmt_util.js';
import { filesUnder, readAll, scanRaw } from '../src/raw_scan.js';

const EC_P256 = Buffer.from('06082a8648ce3d030107', 'hex');

const refusedWith = (code: string, msg: RegExp) => (e: unknown) => {
  if (e instanceof HsmError && e.code === code && msg.test(e.message)) return true;
  throw new assert.AssertionError({ message: `expected ${code} ${msg}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

interface Joiner {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly dir: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startJoiner(root: string, id: number, etcd: EtcdCluster, cluster: LocalCluster, expirySeconds: number): Promise<Joiner> {
  const dir = join(root, `host${id}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const cfg = join(root, `host${id}.json`);
  writeFileSync(cfg, JSON.stringify({
    id, host: '127.0.0.1', port, dir, cluster: [],
    store: { kind: 'etcd', ...etcd.clientConfig() },
    join: { poCert: join(cluster.certDir, 'PO.crt'), expirySeconds },
  }), { mode: 0o600 });
  const proc = spawn(process.execPath, [NODE_MAIN, cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, port, dir, output: () => out, exited };
}

/** `p`, or 'timeout' after `ms` (the timer does not outlive the race). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `probe` until it returns a value (bounded); the last error is in the failure. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${last instanceof Error ? last.message : String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a fourth node and a replaced node 3 join on etcd by a CO\'s approval of their fingerprints and sign with an existing key; an unapproved request lapses', { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-join-'));
  const etcd = await EtcdCluster.start({ dir: join(root, 'etcd') });
  const joiners: Joiner[] = [];
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startCluster(join(root, 'hsm'), { store: { kind: 'etcd', ...etcd.clientConfig() } });
    const maskingKey = loadSealingKeyFile(join(root, 'hsm', 'sealing.key'));

    /* A key made before node 4 exists. */
    const n1 = await connectNode(cluster.node(1).port, cluster.poCrt);
    await n1.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const pair = await n1.request('generateKeyPair', {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, EC_P256), attr.bool(P.CKA_VERIFY, true)],
      privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
    });

    /* Node 4 starts with no sealing.key: a join request, a fingerprint on its console, nothing served. */
    const j4 = await startJoiner(root, 4, etcd, cluster, 120);
    joiners.push(j4);
    const fp = await until('node 4 prints its fingerprint', () => /join request fingerprint: ([0-9a-f-]{29})/.exec(j4.output())?.[1]);
    const request = JSON.parse(await etcd.etcdctl(['get', '--print-value-only', '/ochsm/sys/join/request/4'])) as { fingerprint: string; publicKey: string; port: number };
    assert.equal(request.fingerprint, fp, 'the request in etcd carries the printed fingerprint');
    assert.equal(request.port, j4.port);
    const waiting = await until('node 4 answers hello while it waits', () => connectNode(j4.port));
    await assert.rejects(waiting.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password }), refusedWith('ERR_NODE_BEHIND', /node 4 has not joined the cluster yet.*approveNode 4/));
    await assert.rejects(waiting.request('getClusterInfo', {}), refusedWith('ERR_NODE_BEHIND', /has not joined/));
    waiting.close();
    /* A running node hands out nothing before the approval. */
    await assert.rejects(n1.request('joinKey', { node: 4 }), refusedWith('ERR_NOT_PERMITTED', /no approved join request/));

    /* A CO approves a wrong fingerprint: refused, nothing approved, node 4 still waits. */
    const mgmt = mgmtInstall(join(root, 'mgmt'), cluster.node(1).port, cluster.certDir);
    const wrong = fp.slice(0, -1) + (fp.endsWith('0') ? '1' : '0');
    const refused = await mgmtUtil(mgmt, [`loginHSM CO ${EXAMPLE_CO.user} ${EXAMPLE_CO.password}`, `approveNode 4 ${wrong}`, 'y', 'quit']);
    assert.match(refused, /approveNode failed on server 0\(127\.0\.0\.1\): .*fingerprint .* does not match the join request of node 4/);
    assert.doesNotMatch(refused, /approveNode success/);
    assert.doesNotMatch(refused, new RegExp(fp), 'the refusal does not tell the right fingerprint');
    assert.equal((await etcd.etcdctl(['get', '--keys-only', '/ochsm/sys/join/approved/4'])).trim(), '', 'no approval in etcd');
    assert.equal(j4.proc.exitCode, null, 'node 4 still waits');
    assert.equal(existsSync(join(j4.dir, 'sealing.key')), false);

    /* The right fingerprint: approved (on every server of the store); node 4 gets the key and serves. */
    const approved = await mgmtUtil(mgmt, [`loginHSM CO ${EXAMPLE_CO.user} ${EXAMPLE_CO.password}`, `approveNode 4 ${fp.toUpperCase()}`, 'y', 'quit']);
    assert.match(approved, new RegExp(`Node 4 at 127\\.0\\.0\\.1:${j4.port} approved on server 0\\(127\\.0\\.0\\.1\\), fingerprint ${fp}`));
    assert.match(approved, /approveNode success on server 0/);
    const n4 = await until('node 4 joins and presents the cluster\'s chain', () => connectNode(j4.port, cluster!.poCrt));
    assert.match(j4.output(), /joined: masking key received and sealing.key written/);
    const keyFile = join(j4.dir, 'sealing.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.deepEqual(loadSealingKeyFile(keyFile), maskingKey, 'node 4 holds the cluster\'s masking key');

    await n4.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const data = Buffer.from('signed by a node that joined');
    const { signature } = await n4.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
    await n1.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data, signature });
    n4.close();

    /* Nothing of the join stays in etcd; node 4 is one of the nodes now; the audit chain has the approvals and the hand-over. */
    assert.equal((await etcd.etcdctl(['get', '--prefix', '--keys-only', '/ochsm/sys/join/'])).trim(), '', 'request and approval withdrawn');
    await until('node 4 is registered', async () => ((await etcd.etcdctl(['get', '--keys-only', '/ochsm/cluster/nodes/4'])).trim() !== '' ? true : undefined));
    const co = await connectNode(cluster.node(2).port, cluster.poCrt);
    await co.request('login', { user: EXAMPLE_CO.user, password: EXAMPLE_CO.password });
    const { records } = await co.request('auditRecords', { fromSeq: 1, limit: 5000 });
    /* The plain entries of the running nodes do not stop a backup on etcd (they are reserved in the barrier, like the join requests). */
    assert.ok((await co.request('backupPartition', {})).entries > 0);
    co.close();
    const joinRecords = records.filter((r) => r.action === 'approveNode' || r.action === 'joinKey').map((r) => `${r.action} ${r.result}`);
    assert.deepEqual(joinRecords, ['approveNode ERR_ARGUMENTS_BAD', 'approveNode ok', 'joinKey ok'], 'one refused approval, one approval (the other servers saw it approved), one hand-over');

    /* etcd never held the masking key in any form. */
    const canary = Buffer.from('CANARY-' + randomBytes(8).toString('hex'));
    await etcd.etcdctl(['put', '/ochsm/canary', canary.toString()]);
    const snap = join(root, 'snapshot.db');
    await etcd.etcdctl(['snapshot', 'save', snap]);
    assert.deepEqual(scanRaw([
      { where: 'the snapshot', bytes: readFileSync(snap) },
      { where: 'the member data directory', bytes: readAll(filesUnder(etcd.dataDir(etcd.members[0]!.name))) },
    ], [['masking key', maskingKey]], canary), []);

    /* A request in the name of a running node is not approved (written here as an impostor would). */
    const impostor = makeJoinRequest(2, '127.0.0.9', 2225, joinKeyPair().publicKey, Date.now());
    await etcd.etcdctl(['put', '/ochsm/sys/join/request/2', JSON.stringify(impostor)]);
    const impostorOut = await mgmtUtil(mgmt, [`loginHSM CO ${EXAMPLE_CO.user} ${EXAMPLE_CO.password}`, `approveNode 2 ${impostor.fingerprint}`, 'y', 'quit']);
    assert.match(impostorOut, /approveNode failed on server 0\(127\.0\.0\.1\): .*node 2 is running and registered in this cluster/);
    assert.equal((await etcd.etcdctl(['get', '--keys-only', '/ochsm/sys/join/approved/2'])).trim(), '');
    await etcd.etcdctl(['del', '/ochsm/sys/join/request/2']);

    /* A replaced host: node 3 is lost with its disk. A new node 3 cannot join while the old one is registered; once it is gone, it can. */
    const early = await startJoiner(root, 3, etcd, cluster, 120);
    joiners.push(early);
    assert.equal(await within(early.exited, 30_000), 1);
    assert.match(early.output(), /node 3 is running and registered in this cluster/);
    await cluster.killNode(3);
    await until('node 3\'s entry lapses', async () => ((await etcd.etcdctl(['get', '--keys-only', '/ochsm/cluster/nodes/3'])).trim() === '' ? true : undefined));
    const j3 = await startJoiner(root, 3, etcd, cluster, 120);
    joiners.push(j3);
    const fp3 = await until('the new node 3 prints its fingerprint', () => /join request fingerprint: ([0-9a-f-]{29})/.exec(j3.output())?.[1]);
    assert.match(await mgmtUtil(mgmt, [`loginHSM CO ${EXAMPLE_CO.user} ${EXAMPLE_CO.password}`, `approveNode 3 ${fp3}`, 'y', 'quit']), /approveNode success on server 0/);
    const n3 = await until('the new node 3 joins', () => connectNode(j3.port, cluster!.poCrt));
    await n3.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const again = await n3.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data });
    await n1.request('verify', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.publicHandle, data, signature: again.signature });
    n3.close();

    /* Node 5's request is never approved: it lapses, node 5 says so and exits, and leaves nothing behind. */
    const j5 = await startJoiner(root, 5, etcd, cluster, 3);
    joiners.push(j5);
    await until('node 5 prints its fingerprint', () => (/join request fingerprint/.test(j5.output()) ? true : undefined));
    const code = await within(j5.exited, 30_000);
    assert.equal(code, 1, 'node 5 exits with an error once its request lapsed');
    assert.match(j5.output(), /the join request of node 5 expired after 3 s without approval/);
    assert.equal((await etcd.etcdctl(['get', '--keys-only', '/ochsm/sys/join/request/5'])).trim(), '');
    assert.equal(existsSync(join(j5.dir, 'sealing.key')), false);
    n1.close();
  } finally {
    for (const j of joiners) {
      if (j.proc.exitCode === null && j.proc.signalCode === null) {
        j.proc.kill('SIGTERM');
        await within(j.exited, 5000);
        if (j.proc.exitCode === null && j.proc.signalCode === null) j.proc.kill('SIGKILL');
      }
    }
    await cluster?.stop();
    await etcd.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
