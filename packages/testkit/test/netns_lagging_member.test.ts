/**
 * A node whose own etcd member falls out of the etcd cluster while the node
 * still reaches the other members (docs/deployment.md §6): three simulated
 * hosts, each node naming every member, its own first; the daemon and 8
 * signing applications in the root namespace. Host 2's etcd peer traffic is
 * starved (port 2380 at 8 bit/s); every client port still answers. Through
 * the daemon, a key node 2 has in memory is then deleted, the share of
 * another key with a second CU (signed in on node 2) is revoked, and a key
 * pair is made:
 * - node 2 never signs with the deleted key, nor for the second CU with the
 *   key no longer shared, from the acknowledgement on: it answers
 *   ERR_NODE_BEHIND, or that the key is not valid (and always answers);
 * - the daemon's applications see no failed operation (signatures all
 *   through, and the delete, the revocation and the key pair acknowledged);
 * - when the peer traffic flows again, node 2 catches up and serves: it
 *   signs with a kept key and the key pair made meanwhile, and refuses the
 *   deleted key and the revoked share.
 * The etcd client picks a member at random for each call and watch, so which
 * member each node's watch follows is left to chance; the nodes ask every
 * member for a leader (store/src/etcd.ts) and count a lease renewal only once
 * their copy holds the answering member's revision (hsm-node/src/quorum.ts).
 * The node is reached from the root namespace: only host 2's peer port is cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode, EXAMPLE_CU, type LocalCluster } from '../src/cluster.js';
import { ECDSA_SHA256 as ECDSA, generateEcSigningPair } from '../src/keys.js';
import { waitNodeState } from '../src/daemon_load.js';
import { skipWithoutRoot, withHostCluster } from '../src/netns_cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PEER_PORT = 2380;
/** The CU the example CU shares a key with, and takes the share back from while member 2 is out. */
const CU2 = { user: 'cu2', password: 'user5678' } as const;
const SIGNERS = 8;

/** The nodes' log lines that say what they did about the store (for the diagnostics of a failed run). */
function storeLines(cluster: LocalCluster): string {
  return cluster.nodes.map((n) => `node ${n.id}:\n${n.log.split('\n').filter((l) => /not serving|serving again|answers again|partition state|store|quorum|behind/i.test(l)).slice(-40).join('\n')}`).join('\n');
}

/** Per node: how many such lines, and which kinds (numbers masked). */
function storeSummary(cluster: LocalCluster): string {
  return cluster.nodes.map((n) => {
    const lines = n.log.split('\n').filter((l) => /not serving|reloading|behind|answers again/i.test(l));
    const kinds = new Set(lines.map((l) => (/"msg":"((?:[^"\\]|\\.)*)"/.exec(l)?.[1] ?? l).replace(/[0-9]+/g, 'N').slice(0, 160)));
    return `node ${n.id}: ${lines.length} (${[...kinds].join(' | ')})`;
  }).join('; ');
}

test('a node whose own etcd member is cut off from the other members (the node still reaching them) never uses a key deleted or a share revoked meanwhile; the daemon sees 0 failures; the node catches up after', { timeout: 240_000 }, async (t) => {
  if (skipWithoutRoot(t)) return;
  await withHostCluster({ prefix: 'netns-lag', endpoints: 'rotated', users: [{ ...EXAMPLE_CU, role: 'CU' }, { ...CU2, role: 'CU' }] }, async ({ net, etcd, cluster, daemon, connect, onTeardown }) => {
    let passed = false;
    onTeardown(() => {
      if (!passed) t.diagnostic(`store lines of the nodes' logs:\n${storeLines(cluster)}\ndaemon log (tail):\n${daemon.log().split('\n').slice(-30).join('\n')}`);
      else t.diagnostic(`what the nodes logged about the quorum and their copy: ${storeSummary(cluster)}`);
    });
    const admin = await connect('lagging-admin');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const doomed = await generateEcSigningPair(admin);
    const kept = await generateEcSigningPair(admin);
    const revoked = await generateEcSigningPair(admin);
    assert.deepEqual(await admin.request('shareKey', { handle: revoked.privateHandle, users: [CU2.user], share: true }), { shared: [CU2.user] });
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    /* Node 2, directly: the example CU and the second CU signed in, each signing once (so node 2 has the keys in memory). */
    const n2 = await connectNode(2225, cluster.poCrt, net.host(2).address);
    onTeardown(() => n2.close());
    await n2.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const n2cu2 = await connectNode(2225, cluster.poCrt, net.host(2).address);
    onTeardown(() => n2cu2.close());
    await n2cu2.request('login', { user: CU2.user, password: CU2.password, role: 'CU' });
    const data = Buffer.from('lagging member');
    const signOn2 = async (c: typeof n2, handle: number): Promise<string> => {
      try {
        await c.request('sign', { mechanism: ECDSA, handle, data }, { timeoutMs: 8000 });
        return 'signed';
      } catch (e) {
        return (e as { code?: string }).code ?? (e as Error).message;
      }
    };
    assert.equal(await signOn2(n2, doomed.privateHandle), 'signed', 'node 2 has the key in memory');
    assert.equal(await signOn2(n2, kept.privateHandle), 'signed');
    assert.equal(await signOn2(n2cu2, revoked.privateHandle), 'signed', 'node 2 signs for the second CU with the shared key');

    /* The applications sign through the daemon for the whole test; every failure is kept with its phase. */
    let phase = 'before';
    const failures: string[] = [];
    const signed: Record<string, number> = {};
    let stop = false;
    onTeardown(() => void (stop = true));
    const clients = [];
    for (let i = 0; i < SIGNERS; i++) clients.push(await connect(`signer-${i}`));
    const loops = clients.map(async (c) => {
      while (!stop) {
        try {
          const { signature } = await c.request('sign', { mechanism: ECDSA, handle: kept.privateHandle, data });
          assert.equal(signature.length, 64);
          signed[phase] = (signed[phase] ?? 0) + 1;
        } catch (e) {
          failures.push(`[${phase}] sign: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
          await sleep(50);
        }
      }
    });
    /* The administrator's changes through the daemon are part of the load: each must be acknowledged. */
    const change = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (e) {
        failures.push(`[${phase}] ${what}: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
        return undefined;
      }
    };
    await sleep(1000);

    /* Member 2 out of the etcd cluster: its peers stop hearing from it; every client port still answers. */
    net.starvePort(2, PEER_PORT, true);
    let starved = true;
    onTeardown(() => {
      if (starved) net.starvePort(2, PEER_PORT, false);
    });
    phase = 'member 2 out';
    const outAt = Date.now();
    for (;;) {
      const st = (await etcd.memberStatus()).find((m) => m.name === 'etcd2');
      if (st && st.reachable && !st.healthy) break;
      if (Date.now() - outAt > 20_000) assert.fail(`etcd member 2 still serves quorum reads 20 s after its peer traffic was cut: ${JSON.stringify(st)}`);
      await sleep(200);
    }
    t.diagnostic(`etcd member 2 stopped serving quorum reads ${Date.now() - outAt} ms after its peer traffic was cut`);

    /* Through the daemon, on whichever node it picks: delete, revoke, make a key pair. From each acknowledgement on, node 2 must not use what was removed. */
    const changesAt = Date.now();
    await change('destroyObject', () => admin.request('destroyObject', { handle: doomed.privateHandle }));
    const deletedAfter = Date.now() - changesAt;
    const unshared = await change('shareKey', () => admin.request('shareKey', { handle: revoked.privateHandle, users: [CU2.user], share: false }));
    if (unshared) assert.deepEqual(unshared, { shared: [] });
    const made = await change('generateKeyPair', () => generateEcSigningPair(admin));
    t.diagnostic(`with member 2 out, through the daemon: the delete acknowledged after ${deletedAfter} ms, all three changes after ${Date.now() - changesAt} ms`);
    phase = 'member 2 out, key deleted, share revoked';

    const answers: Record<string, number> = {};
    const cu2Answers: Record<string, number> = {};
    const keptAnswers: Record<string, number> = {};
    const watchFor = Date.now();
    while (Date.now() - watchFor < 10_000) {
      const a = await signOn2(n2, doomed.privateHandle);
      answers[a] = (answers[a] ?? 0) + 1;
      const r = await signOn2(n2cu2, revoked.privateHandle);
      cu2Answers[r] = (cu2Answers[r] ?? 0) + 1;
      const k = await signOn2(n2, kept.privateHandle);
      keptAnswers[k] = (keptAnswers[k] ?? 0) + 1;
      await sleep(100);
    }
    t.diagnostic(`node 2 while its member is out, for 10 s: the deleted key ${JSON.stringify(answers)}, the revoked share ${JSON.stringify(cu2Answers)}, a kept key ${JSON.stringify(keptAnswers)}`);
    assert.equal(answers.signed ?? 0, 0, `node 2 never signs with the key deleted while its member was out: ${JSON.stringify(answers)}`);
    assert.equal(cu2Answers.signed ?? 0, 0, `node 2 never signs for the second CU once the share is revoked: ${JSON.stringify(cu2Answers)}`);
    for (const [what, got] of [['the deleted key', answers], ['the revoked share', cu2Answers], ['the kept key', keptAnswers]] as const) {
      assert.deepEqual(Object.keys(got).filter((c) => c !== 'signed' && c !== 'ERR_NODE_BEHIND' && c !== 'ERR_KEY_HANDLE_INVALID'), [], `node 2 answers ${what} with a signature, ERR_NODE_BEHIND or the key not valid (never no answer): ${JSON.stringify(got)}`);
    }

    /* Peer traffic back: member 2 rejoins, node 2 catches up and serves. */
    net.starvePort(2, PEER_PORT, false);
    starved = false;
    phase = 'member 2 back';
    await etcd.waitHealthy(30_000);
    const backAt = Date.now();
    let back = '';
    while (Date.now() - backAt < 30_000) {
      back = await signOn2(n2, kept.privateHandle);
      if (back === 'signed') break;
      await sleep(200);
    }
    assert.equal(back, 'signed', 'node 2 serves once its member is back');
    t.diagnostic(`node 2 signed again ${Date.now() - backAt} ms after etcd was healthy`);
    assert.equal(await signOn2(n2, doomed.privateHandle), 'ERR_KEY_HANDLE_INVALID', 'the deleted key is gone on node 2');
    assert.equal(await signOn2(n2cu2, revoked.privateHandle), 'ERR_KEY_HANDLE_INVALID', 'the share is revoked on node 2');
    if (made) assert.equal(await signOn2(n2, made.privateHandle), 'signed', 'node 2 serves the key pair made while its member was out');

    await sleep(1000);
    stop = true;
    await Promise.all(loops);
    t.diagnostic(`signatures through the daemon by phase: ${JSON.stringify(signed)}`);
    assert.deepEqual(failures, [], 'the daemon\'s applications see no failed operation');
    assert.ok((signed['member 2 out, key deleted, share revoked'] ?? 0) > 0, 'the applications signed while member 2 was out');
    passed = true;
  });
});
