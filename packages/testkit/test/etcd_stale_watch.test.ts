/**
 * A node on etcd whose change feed stops following the cluster while its
 * lease renewals still get through: what a node sees when its watch sits on
 * an etcd member that fell out of the cluster (progress notifications at an
 * old revision, no changes; netns_lagging_member is the same with a real
 * member cut off, where the etcd client's random pick decides whether it
 * happens). Here it is made certain: node 2's watch is held
 * (OCHSM_FAULT_HOLD_WATCH: progress reported at the revision it had, changes
 * kept back). Three etcd members, three nodes, the daemon.
 * - A key node 2 has in memory is deleted through node 1: from the
 *   acknowledgement on, node 2 never signs with it (ERR_NODE_BEHIND while its
 *   copy is behind the revision its renewals report, the key gone once it has
 *   read afresh) and says why in its log;
 * - a delete sent to node 2 itself, which waits for its own write, is
 *   acknowledged or answered ERR_NODE_BEHIND (retryable), never another
 *   error; retried on node 1 with the same request id it is acknowledged;
 * - through the daemon every delete and signature succeeds;
 * - released, node 2 serves again and the deleted keys are gone there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDaemon, connectNode, startCluster, startDaemon, EXAMPLE_CU } from '../src/cluster.js';
import { ECDSA_SHA256 as ECDSA, generateEcSigningPair } from '../src/keys.js';
import { EtcdCluster, loopbackMembers } from '../src/etcd.js';
import { QUORUM_BOUND_MS } from '../../hsm-node/src/quorum.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (e: unknown) => (e as { code?: string }).code ?? (e as Error).message;

test('a node whose etcd watch stops following the cluster (renewals still answered) refuses within the bound, never uses a key deleted meanwhile, and a request waiting for its own write is acknowledged or retryable', { timeout: 150_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-etcd-stale-'));
  const hold = join(dir, 'hold-node-2');
  const etcd = await EtcdCluster.start({ dir: join(dir, 'etcd'), members: await loopbackMembers(3) });
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  const closers: { close(): void }[] = [];
  let stop = false;
  try {
    const base = etcd.clientConfig();
    cluster = await startCluster(join(dir, 'hsm'), {
      store: (id) => ({ kind: 'etcd', ...base, endpoints: [...base.endpoints.slice(id - 1), ...base.endpoints.slice(0, id - 1)] }),
      env: (id): Record<string, string> => (id === 2 ? { OCHSM_FAULT_HOLD_WATCH: hold } : {}),
    });
    /* spread: requests reach node 2, the node whose watch is held. */
    daemon = await startDaemon(cluster, { client: { routing: 'spread' } });
    const app = await connectDaemon(daemon.socketPath, 'stale-app');
    closers.push(app);
    await app.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const doomed = await generateEcSigningPair(app);
    const kept = await generateEcSigningPair(app);
    const own = await generateEcSigningPair(app);
    const viaDaemon = await generateEcSigningPair(app);
    const login = async (id: number) => {
      const c = await connectNode(cluster!.node(id).port, cluster!.poCrt);
      closers.push(c);
      await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
      return c;
    };
    const n1 = await login(1);
    const n2 = await login(2);
    const data = Buffer.from('stale watch');
    /* Node 2 first catches up with what the daemon made (the revision node 1 has now), then answers from memory. */
    const { revision: now } = await n1.request('findObjects', { template: [], minRevision: 0 });
    await n2.request('sign', { mechanism: ECDSA, handle: kept.privateHandle, data, minRevision: now });
    const signOn2 = async (handle: number): Promise<string> => {
      try {
        await n2.request('sign', { mechanism: ECDSA, handle, data }, { timeoutMs: 8000 });
        return 'signed';
      } catch (e) {
        return code(e);
      }
    };
    assert.equal(await signOn2(doomed.privateHandle), 'signed', 'node 2 has the key in memory');

    /* The daemon's applications sign all through. */
    const failures: string[] = [];
    let signedCount = 0;
    const signers = [];
    for (let i = 0; i < 4; i++) {
      const c = await connectDaemon(daemon.socketPath, `stale-signer-${i}`);
      closers.push(c);
      signers.push(c);
    }
    const loops = signers.map(async (c) => {
      while (!stop) {
        try {
          await c.request('sign', { mechanism: ECDSA, handle: kept.privateHandle, data });
          signedCount++;
        } catch (e) {
          failures.push(`sign: ${code(e)} ${(e as Error).message}`);
          await sleep(50);
        }
      }
    });

    /* Node 2's feed stops; its renewals go on. The key is deleted through node 1. */
    writeFileSync(hold, '');
    const logFrom = cluster.node(2).log.length;
    await n1.request('destroyObject', { handle: doomed.privateHandle });
    const answers: Record<string, number> = {};
    const watchFor = Date.now();
    while (Date.now() - watchFor < 2 * QUORUM_BOUND_MS) {
      const a = await signOn2(doomed.privateHandle);
      answers[a] = (answers[a] ?? 0) + 1;
      await sleep(50);
    }
    t.diagnostic(`node 2 with its feed held, after the delete: ${JSON.stringify(answers)}`);
    assert.equal(answers.signed ?? 0, 0, `node 2 never signs with the key deleted while its feed was held: ${JSON.stringify(answers)}`);
    assert.deepEqual(Object.keys(answers).filter((c) => c !== 'ERR_NODE_BEHIND' && c !== 'ERR_KEY_HANDLE_INVALID'), [], 'refused as behind or as the key gone');
    const logged = cluster.node(2).log.slice(logFrom);
    assert.match(logged, /is behind the store quorum/, 'node 2 logs that its copy is behind what its renewals report');
    assert.match(logged, /reloading from the store/, 'and that it reads afresh');

    /* A delete on node 2 itself waits for its own write (a change is seen only after a resync): acknowledged, or retryable. */
    const requestId = randomUUID();
    let ownAnswer = 'acknowledged';
    try {
      await n2.request('destroyObject', { handle: own.privateHandle, requestId }, { timeoutMs: 15_000 });
    } catch (e) {
      ownAnswer = `${code(e)}: ${(e as Error).message}`;
    }
    t.diagnostic(`a delete on node 2 while its feed is held: ${ownAnswer}`);
    if (ownAnswer !== 'acknowledged') {
      assert.match(ownAnswer, /^ERR_NODE_BEHIND: /, 'a delete waiting for its own write is acknowledged or answered retryable');
      /* Retried elsewhere with the same request id (as the daemon does): acknowledged, not "no such object". */
      assert.deepEqual(await n1.request('destroyObject', { handle: own.privateHandle, requestId }), {});
    }
    /* Through the daemon, whichever node it picks. */
    try {
      await app.request('destroyObject', { handle: viaDaemon.privateHandle });
    } catch (e) {
      failures.push(`destroyObject: ${code(e)} ${(e as Error).message}`);
    }

    /* Released: node 2 catches up and serves; the deleted keys are gone there. */
    unlinkSync(hold);
    const backAt = Date.now();
    let back = '';
    while (Date.now() - backAt < 20_000) {
      back = await signOn2(kept.privateHandle);
      if (back === 'signed') break;
      await sleep(100);
    }
    assert.equal(back, 'signed', 'node 2 serves once its feed follows again');
    for (const k of [doomed, own, viaDaemon]) assert.equal(await signOn2(k.privateHandle), 'ERR_KEY_HANDLE_INVALID');
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, [], 'the daemon\'s applications see no failed operation');
    assert.ok(signedCount > 0);
  } finally {
    stop = true;
    try {
      unlinkSync(hold);
    } catch {
      /* released */
    }
    for (const c of closers) c.close();
    await daemon?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await etcd.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
