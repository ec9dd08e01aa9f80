/**
 * The etcd leader is killed (SIGKILL) while 16 applications generate keys
 * through the daemon, each request with its own request id, retried with the
 * same id until it is acknowledged. Afterwards:
 * - every acknowledged key is present and usable;
 * - every retry of a request id was answered with the same handle;
 * - the partition holds exactly one new key per request id (a retry never
 *   made a second key, even when the first attempt committed and its answer
 *   was lost with the leader).
 * Each application first lists its own keys (it reads its own writes, on
 * whichever node serves it); the count is taken by another application once
 * the freshness bound has passed since the last acknowledgement, as
 * docs/consistency.md promises to a caller that carries no revision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, startCluster, startDaemon, EXAMPLE_CU, type LocalCluster, type DaemonHandle } from '../src/cluster.js';
import { EtcdCluster, loopbackMembers } from '../src/etcd.js';
import { DEFAULT_FRESHNESS_MS } from '../../hsm-core/src/partition.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const AES_TEMPLATE = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true)];

test('SIGKILL of the etcd leader during 16-client key generation with request ids: every acknowledged key present, exactly one key per request id', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-leader-'));
  let etcd: EtcdCluster | undefined;
  let cluster: LocalCluster | undefined;
  let daemon: DaemonHandle | undefined;
  const clients: Awaited<ReturnType<typeof connectDaemon>>[] = [];
  try {
    etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      store: (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }),
    });
    /* spread: the load reaches every node, so the leader kill hits the node serving it too. */
    daemon = await startDaemon(cluster, { client: { routing: 'spread' } });
    const admin = await connectDaemon(daemon.socketPath, 'leader-admin');
    clients.push(admin);
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const before = new Set((await admin.request('findObjects', { template: [] })).handles);

    for (let i = 0; i < 16; i++) clients.push(await connectDaemon(daemon.socketPath, `keygen-${i}`));
    /* requestId → every handle any attempt of it was answered with. */
    const answers = new Map<string, number[]>();
    /* Each application's own request ids. */
    const mine = new Map<(typeof clients)[number], { label: string; ids: string[] }>();
    let attempts = 0;
    let failedAttempts = 0;
    let stop = false;
    const loops = clients.slice(1).map(async (c, i) => {
      mine.set(c, { label: `keygen-${i}`, ids: [] });
      while (!stop) {
        const requestId = randomUUID();
        answers.set(requestId, []);
        mine.get(c)!.ids.push(requestId);
        /* Retry the same request id until it is acknowledged (bounded by the test's timeout). */
        for (;;) {
          attempts++;
          try {
            const { handle } = await c.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: AES_TEMPLATE, requestId });
            answers.get(requestId)!.push(handle);
            break;
          } catch {
            failedAttempts++;
            await sleep(100);
          }
        }
        /* Now and then ask again with an acknowledged id: the same key comes back, no new one. */
        if (Math.random() < 0.2) {
          const { handle } = await c.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: AES_TEMPLATE, requestId });
          answers.get(requestId)!.push(handle);
        }
      }
    });
    await sleep(1500);
    const leader = await etcd.leader();
    await etcd.killMember(leader, 'SIGKILL');
    t.diagnostic(`killed the etcd leader ${leader} after ${answers.size} requests`);
    await sleep(3000);
    await etcd.startMember(leader);
    await etcd.waitHealthy(30_000);
    await sleep(1500);
    stop = true;
    await Promise.all(loops);

    /* Every application reads its own writes, also those acknowledged around the leader's death. */
    for (const [c, { label, ids }] of mine) {
      const seen = new Set((await c.request('findObjects', { template: [] })).handles);
      for (const id of ids) assert.ok(seen.has(answers.get(id)![0]!), `${label}: its key of request ${id} (handle ${answers.get(id)![0]}) is listed to it`);
    }
    /* Another application, which carries no revision of these writes, sees them all once the freshness bound has passed. */
    await sleep(2 * DEFAULT_FRESHNESS_MS);
    const after = (await admin.request('findObjects', { template: [] })).handles.filter((h) => !before.has(h));
    const acknowledged = [...answers.values()];
    for (const [id, hs] of answers) {
      assert.ok(hs.length >= 1, `request ${id} was acknowledged`);
      assert.ok(hs.every((h) => h === hs[0]), `request ${id} always got the same handle: ${hs.join(', ')}`);
      assert.ok(after.includes(hs[0]!), `the key of request ${id} (handle ${hs[0]}) is present`);
    }
    assert.equal(after.length, answers.size, `exactly one new key per request id (${after.length} keys, ${answers.size} request ids)`);
    /* Every acknowledged key is usable. */
    const data = Buffer.alloc(16, 7);
    for (const hs of acknowledged.slice(0, 20)) {
      const { data: ct } = await admin.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: hs[0]!, data });
      assert.equal(ct.length, 16);
    }
    const repeats = acknowledged.filter((hs) => hs.length > 1).length;
    t.diagnostic(`${answers.size} request ids, ${attempts} attempts (${failedAttempts} failed and retried), ${repeats} ids asked again; ${after.length} new keys`);
    assert.ok(answers.size > 16, 'keys were generated under load');
  } finally {
    for (const c of clients) c.close();
    await daemon?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
