/**
 * The daemon's own cost per request (not a test): a three-node cluster and a
 * real azcloudhsm_client from this checkout's dist/, one application
 * connection from this process with `window` requests in flight (SHA-256
 * digests of 32 bytes, in a session), and the CPU time (user + system, from
 * /proc) the daemon and the nodes used, divided by the requests answered.
 * CPU time rather than wall time, so that other jobs on the machine move the
 * figure less (they still do: cache and scheduler effects).
 *
 *   node bench/daemon_path.mjs [requests, default 20000] [window, default 16]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
const total = Number(process.argv[2] ?? 20_000);
const window = Number(process.argv[3] ?? 16);
const { startCluster, startDaemon, connectDaemon, EXAMPLE_CU } = await import(join(dist, 'packages', 'testkit', 'src', 'cluster.js'));
const P = await import(join(dist, 'packages', 'protocol', 'src', 'pkcs11.js'));

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const dir = mkdtempSync(join(tmpdir(), 'ochsm-bench-daemon-'));
const lc = await startCluster(join(dir, 'cluster'));
const daemon = await startDaemon(lc);
try {
  const app = await connectDaemon(daemon.socketPath, 'daemon-path-bench');
  await app.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
  const { session } = await app.request('openSession', {});
  const req = { session, mechanism: { mechanism: P.CKM_SHA256 }, data: new Uint8Array(32) };
  const run = async (n) => {
    let next = 0;
    await Promise.all(Array.from({ length: window }, async () => {
      while (next++ < n) await app.request('digest', req);
    }));
  };
  await run(2000); /* warm up: JIT, all three links in use */
  const pids = [daemon.proc.pid, ...lc.nodes.map((n) => n.proc.pid)];
  const before = pids.map(cpuSeconds);
  const t0 = process.hrtime.bigint();
  await run(total);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = pids.map((p, i) => cpuSeconds(p) - before[i]);
  const us = (s) => ((s * 1e6) / total).toFixed(1);
  console.log(`requests=${total} window=${window} ops_per_s=${Math.round(total / secs)} daemon_cpu_us=${us(used[0])} nodes_cpu_us=${us(used.slice(1).reduce((a, b) => a + b, 0))}`);
  app.close();
} finally {
  await daemon.stop().catch(() => undefined);
  await lc.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
