/**
 * Three simulated hosts, each with an etcd member and an HSM node; the daemon
 * and 16 signing applications in the root namespace. Host 2 is cut off (its
 * link set down) while a key it has in memory is deleted elsewhere, and the
 * share of another key with a second CU signed in on host 2 is revoked:
 * - the isolated node stops serving (ERR_NODE_BEHIND, retryable) once it has
 *   no contact with the etcd quorum for its bound, and never signs with the
 *   deleted key, nor for the second CU with the key no longer shared (that
 *   CU asks node 2 for a signature all through the cut and the restore);
 * - the other nodes serve, the daemon fails over: no application sees a
 *   failed operation, and every key pair acknowledged during the cut is there;
 * - the other nodes drop host 2 from their list of nodes (its lease lapses);
 * - when the link is back, host 2 catches up: the deleted key is gone there,
 *   it serves the keys made while it was cut off, it answers the second CU
 *   that the key is not valid for it, and it lists all three nodes.
 * Host 2's node is driven by a probe process inside its namespace, since the
 * root namespace cannot reach it while it is cut off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { connectNode, EXAMPLE_CU } from '../src/cluster.js';
import { ECDSA_SHA256 as ECDSA, generateEcSigningPair } from '../src/keys.js';
import { waitNodeState } from '../src/daemon_load.js';
import { skipWithoutRoot, withHostCluster } from '../src/netns_cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE = join(here, 'helpers', 'node_probe.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The CU the example CU shares a key with, and takes the share back from while host 2 is cut off. */
const CU2 = { user: 'cu2', password: 'user5678' } as const;
/* Every request of this test has a bound: a request nobody answers fails the test with its name
 * (and lets the teardown run) instead of holding the test until its timeout. */
const BOUND = { timeoutMs: 60_000 } as const;

interface Answer { ok: boolean; code?: string; message?: string; result?: Record<string, unknown> }

/** A probe process on one simulated host: one node connection, one JSON request per line. */
class Probe {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #answers: Answer[] = [];
  #waiting: ((a: Answer) => void) | undefined;

  constructor(cmd: string[]) {
    this.#proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc.stderr.on('data', () => undefined);
    createInterface({ input: this.#proc.stdout }).on('line', (l) => {
      const a = JSON.parse(l) as Answer;
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w(a);
      } else this.#answers.push(a);
    });
  }

  next(ms = 20_000): Promise<Answer> {
    const a = this.#answers.shift();
    if (a) return Promise.resolve(a);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`probe gave no answer within ${ms} ms`)), ms);
      this.#waiting = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }

  ask(op: string, obj: unknown = {}): Promise<Answer> {
    this.#proc.stdin.write(`${JSON.stringify({ op, obj })}\n`);
    return this.next();
  }

  close(): void {
    this.#proc.stdin.end();
    this.#proc.kill('SIGKILL');
  }
}

test('a host cut off from the etcd quorum stops serving, never uses a key deleted or a share revoked meanwhile, and catches up when it is back; the others serve with 0 failed operations', { timeout: 240_000 }, async (t) => {
  if (skipWithoutRoot(t)) return;
  /* Each node talks to its own host's member only: cut off with its host, as on a real host whose link fails. */
  await withHostCluster({ prefix: 'netns', endpoints: 'own', users: [{ ...EXAMPLE_CU, role: 'CU' }, { ...CU2, role: 'CU' }] }, async ({ net, dir, etcd, cluster, connect, onTeardown }) => {
    const admin = await connect('isolation-admin');
    await admin.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' }, BOUND);
    const genPair = () => generateEcSigningPair(admin);
    const doomed = await genPair();
    const kept = await genPair();
    const revoked = await genPair();
    assert.deepEqual(await admin.request('shareKey', { handle: revoked.privateHandle, users: [CU2.user], share: true }, BOUND), { shared: [CU2.user] });
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    /* The nodes learnt their peers from the store: every node lists all three, with its host. */
    const n1 = await connectNode(2225, cluster.poCrt, net.host(1).address);
    onTeardown(() => n1.close());
    const listed = async () => (await n1.request('getClusterInfo', {}, BOUND)).nodes.map((n) => `${n.id}@${n.hostname}:${n.port}`).sort();
    const all = net.hosts.map((h) => `${h.index}@${h.address}:2225`).sort();
    assert.deepEqual(await listed(), all);

    /* Host 2's node, from inside host 2: signed in, and it signs with both keys (so both are in its memory). */
    const poPath = join(dir, 'po.crt');
    writeFileSync(poPath, cluster.poCrt);
    const probe = new Probe([...net.exec(2), process.execPath, PROBE, net.host(2).address, '2225', poPath]);
    onTeardown(() => probe.close());
    assert.equal((await probe.next()).ok, true, 'the probe connected to node 2');
    assert.equal((await probe.ask('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password })).ok, true);
    const data = Buffer.from('cut off');
    const signOn2 = (handle: number) => probe.ask('sign', { mechanism: ECDSA, handle, data: { $hex: data.toString('hex') } });
    assert.equal((await signOn2(doomed.privateHandle)).ok, true, 'node 2 signs with the key before the cut');
    assert.equal((await signOn2(kept.privateHandle)).ok, true);
    assert.deepEqual(((await probe.ask('getClusterInfo')).result?.nodes as { id: number }[]).map((n) => n.id).sort(), [1, 2, 3]);

    /* The second CU, signed in on node 2 too, signs with the key shared with it (so node 2 has it in memory). */
    const probe2 = new Probe([...net.exec(2), process.execPath, PROBE, net.host(2).address, '2225', poPath]);
    onTeardown(() => probe2.close());
    assert.equal((await probe2.next()).ok, true, 'the second probe connected to node 2');
    assert.equal((await probe2.ask('login', { user: CU2.user, password: CU2.password })).ok, true);
    const cu2SignsOn2 = () => probe2.ask('sign', { mechanism: ECDSA, handle: revoked.privateHandle, data: { $hex: data.toString('hex') } });
    const shared = await cu2SignsOn2();
    assert.equal(shared.ok, true, `node 2 signs for the second CU with the shared key before the cut: ${shared.message}`);
    /* From the cut on, the second CU keeps asking node 2 for a signature with that key (answers kept with the phase they came in). */
    const cu2Answers: (Answer & { phase: string })[] = [];
    let cu2Stop = false;
    let cu2Loop: Promise<void> = Promise.resolve();

    /* 16 applications sign through the daemon for the whole test. */
    const clients = [];
    for (let i = 0; i < 16; i++) clients.push(await connect(`signer-${i}`));
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    /* Also when a check fails: the loops end, so the test's process does (and frees the netns lock). */
    onTeardown(() => {
      stop = true;
      cu2Stop = true;
    });
    let phase = 'before the cut';
    const loops = clients.map(async (c) => {
      while (!stop) {
        try {
          const { signature } = await c.request('sign', { mechanism: ECDSA, handle: kept.privateHandle, data }, BOUND);
          assert.equal(signature.length, 64);
          ok++;
        } catch (e) {
          failures.push(`[${phase}] ${e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e)}`);
          await sleep(50);
        }
      }
    });
    await sleep(1000);
    const beforeCut = ok;

    /* Cut host 2 off. Its node stops serving once the quorum has not answered within its bound. */
    net.setLink(2, false);
    phase = 'cut';
    const cutAt = Date.now();
    cu2Loop = (async () => {
      while (!cu2Stop) {
        cu2Answers.push({ ...(await cu2SignsOn2()), phase });
        await sleep(50);
      }
    })();
    let refused: Answer | undefined;
    while (Date.now() - cutAt < 30_000) {
      const a = await signOn2(kept.privateHandle);
      if (!a.ok) {
        refused = a;
        break;
      }
      await sleep(100);
    }
    assert.ok(refused, 'node 2 stopped serving after the cut');
    assert.equal(refused.code, 'ERR_NODE_BEHIND', `node 2 refuses with the retryable error: ${refused.message}`);
    assert.match(refused.message ?? '', /cannot reach a quorum of the store/);
    t.diagnostic(`node 2 refused ${Date.now() - cutAt} ms after the cut (poll every 100 ms)`);

    /* Meanwhile the rest of the cluster deletes the key node 2 holds in memory, and makes new key pairs. */
    await admin.request('destroyObject', { handle: doomed.privateHandle }, BOUND);
    const madeWhileCut = [];
    for (let i = 0; i < 3; i++) madeWhileCut.push(await genPair());
    const afterDelete = await signOn2(doomed.privateHandle);
    assert.equal(afterDelete.ok, false, 'the isolated node never signs with the key deleted elsewhere');
    assert.equal(afterDelete.code, 'ERR_NODE_BEHIND');
    /* The owner takes the share back through the nodes that still have the quorum: acknowledged though node 2 is cut off. */
    assert.deepEqual(await admin.request('shareKey', { handle: revoked.privateHandle, users: [CU2.user], share: false }, BOUND), { shared: [] });
    const revokedAt = cu2Answers.length;
    phase = 'cut, share revoked';

    /* The others drop node 2 from their list once its lease lapses. */
    const lapse = Date.now();
    while (JSON.stringify(await listed()) === JSON.stringify(all) && Date.now() - lapse < 20_000) await sleep(200);
    assert.deepEqual(await listed(), all.filter((n) => !n.startsWith('2@')), 'node 1 lists only the nodes that hold their lease');
    await waitNodeState(admin, 2, 'down', 30_000);
    const duringCut = ok - beforeCut;

    /* Restore the link: host 2 catches up and serves again. */
    net.setLink(2, true);
    phase = 'link back';
    await etcd.waitHealthy(30_000);
    let back: Answer | undefined;
    const restoredAt = Date.now();
    while (Date.now() - restoredAt < 30_000) {
      back = await signOn2(kept.privateHandle);
      if (back.ok) break;
      await sleep(200);
    }
    assert.equal(back?.ok, true, `node 2 serves again after the link is back: ${back?.message}`);
    const gone = await signOn2(doomed.privateHandle);
    assert.equal(gone.ok, false, 'the deleted key stays unusable on node 2');
    assert.match(gone.code ?? '', /^ERR_(KEY|OBJECT)_HANDLE_INVALID$/, `${gone.code} ${gone.message}`);
    /* The second CU: node 2 answers that the key is not valid for it (the share is gone), no longer that it is behind. */
    const cu2Back = Date.now();
    while (cu2Answers.at(-1)?.code !== 'ERR_KEY_HANDLE_INVALID' && Date.now() - cu2Back < 10_000) await sleep(100);
    cu2Stop = true;
    await cu2Loop;
    const unshared = await cu2SignsOn2();
    assert.equal(unshared.ok, false, 'node 2 never signs for the second CU once the share is revoked');
    assert.equal(unshared.code, 'ERR_KEY_HANDLE_INVALID', `${unshared.code} ${unshared.message}`);
    const kinds: Record<string, number> = {};
    for (const a of cu2Answers) kinds[`${a.phase}: ${a.ok ? 'signed' : a.code}`] = (kinds[`${a.phase}: ${a.ok ? 'signed' : a.code}`] ?? 0) + 1;
    t.diagnostic(`the second CU's signing attempts on node 2 from the cut on: ${JSON.stringify(kinds)}`);
    const firstRefusal = cu2Answers.findIndex((a) => !a.ok);
    assert.ok(firstRefusal >= 0 && firstRefusal < revokedAt, 'node 2 refused the second CU before the share was revoked');
    assert.equal(cu2Answers[firstRefusal]!.code, 'ERR_NODE_BEHIND', `the first refusal is the retryable one: ${cu2Answers[firstRefusal]!.message}`);
    const after = cu2Answers.slice(firstRefusal);
    assert.deepEqual(after.filter((a) => a.ok), [], 'once node 2 had stopped serving, the second CU never got a signature with the key (cut off, revoked, catching up)');
    assert.deepEqual([...new Set(after.map((a) => a.code))].filter((c) => c !== 'ERR_NODE_BEHIND' && c !== 'ERR_KEY_HANDLE_INVALID'), [], 'refused only as behind or as the key not valid for it');
    const found = (await probe.ask('findObjects', { template: [] })).result?.handles as number[];
    for (const k of [kept, ...madeWhileCut]) {
      assert.ok(found.includes(k.privateHandle) && found.includes(k.publicHandle), `node 2 has key pair ${k.privateHandle} made while it was cut off`);
      assert.equal((await signOn2(k.privateHandle)).ok, true);
    }
    assert.ok(!found.includes(doomed.privateHandle));
    const lapseBack = Date.now();
    while (JSON.stringify(await listed()) !== JSON.stringify(all) && Date.now() - lapseBack < 20_000) await sleep(200);
    assert.deepEqual(await listed(), all, 'node 2 registered again');
    await waitNodeState(admin, 2, 'up', 30_000);
    phase = 'node 2 up again';
    await sleep(500);

    stop = true;
    await Promise.all(loops);
    t.diagnostic(`signatures: ${beforeCut} before the cut, ${duringCut} while host 2 was cut off, ${ok} in all; ${madeWhileCut.length} key pairs acknowledged during the cut, all present on node 2`);
    assert.deepEqual(failures.slice(0, 20), [], `no application saw a failed operation (${failures.length} failed)`);
    assert.ok(beforeCut > 0 && duringCut > 0, `signatures before (${beforeCut}) and during the cut (${duringCut})`);
  });
});
