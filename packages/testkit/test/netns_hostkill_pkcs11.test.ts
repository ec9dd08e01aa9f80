/**
 * The host-kill test driven through the PKCS#11 module instead of the daemon
 * protocol: bench/pkcs11_speed.c (16 threads, each its own session, ECDSA
 * P-256 C_SignInit + C_Sign in a loop) through libazcloudhsm_pkcs11.so and
 * the daemon, against three simulated hosts on etcd. Every process of host 2
 * is SIGKILLed mid-run and the host is brought back before the run ends:
 * every C_Sign returns CKR_OK, and host 2 serves again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitNodeState } from '../src/daemon_load.js';
import { skipWithoutRoot, withHostCluster } from '../src/netns_cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
/* dist/packages/testkit/test → the repository and dist. */
const dist = join(here, '..', '..', '..');
const repo = join(dist, '..');
const MODULE = join(dist, 'lib64', 'libazcloudhsm_pkcs11.so');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL every process of one host under 16 PKCS#11 threads signing: every C_Sign returns CKR_OK; the host comes back', { timeout: 180_000 }, async (t) => {
  if (skipWithoutRoot(t)) return;
  await withHostCluster({ prefix: 'netns-p11', endpoints: 'rotated' }, async ({ net, dir, etcd, cluster, daemon, connect }) => {
    const speed = join(dir, 'pkcs11_speed');
    execFileSync('gcc', ['-O2', '-Wall', '-I', join(dist, 'pkcs11_headers', 'include'), '-o', speed, join(repo, 'bench', 'pkcs11_speed.c'), '-ldl', '-lpthread', '-lm']);
    const admin = await connect('p11-admin');
    for (const id of [1, 2, 3]) await waitNodeState(admin, id, 'up', 15_000);

    /* 16 threads for 12 s through the module (its cfg is in the daemon's directory). */
    const run = spawn(speed, [MODULE, '1', 'cu1:user1234', 'ecdsa', '16', '12'], { cwd: daemon.binDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    run.stdout.on('data', (d: Buffer) => (out += d.toString()));
    run.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    await sleep(3000);
    const killed = net.killHost(2);
    assert.ok(killed >= 2, `killed the etcd member and the node of host 2 (${killed} processes)`);
    await sleep(3000);
    await etcd.startMember('etcd2');
    await etcd.waitHealthy(30_000);
    await cluster.startNode(2);
    await waitNodeState(admin, 2, 'up', 20_000);
    const code = await exited;
    if (process.env.OCHSM_DEBUG_LOG) process.stderr.write(daemon.log().split('\n').filter((l) => /warn|error/i.test(l)).slice(0, 30).join('\n'));
    const line = out.trim().split('\n').pop() ?? '';
    t.diagnostic(line);
    const m = /ops=(\d+) .*errors=(\d+)/.exec(line);
    assert.ok(m, `pkcs11_speed printed its line (exit ${code}): ${out} ${err}`);
    assert.equal(Number(m[2]), 0, `every C_Sign returned CKR_OK: ${line} ${err}`);
    assert.ok(Number(m[1]) > 0, 'signatures were made');
    assert.equal(code, 0);
  });
});
