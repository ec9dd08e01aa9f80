/**
 * The soak (`make soak`; not part of `make test`): 16 threads signing with
 * ECDSA P-256 through libazcloudhsm_pkcs11.so → azcloudhsm_client → three
 * node processes for SOAK_SECONDS (default 600), with the resident set size
 * of every process (three nodes, the daemon, the PKCS#11 application)
 * sampled every SOAK_SAMPLE_SECONDS (default 60) beside the signatures made in
 * that interval (counted from the nodes' key-use audit logs, one line per
 * use). At the end: the total, the errors, and each process's growth from
 * the first sample after warm-up to the last. SoftHSM2 runs the same load for
 * 30 s in the same run as the reference.
 *
 *   SOAK_SECONDS=600 SOAK_THREADS=16 node bench/soak.mjs
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
const MODULE = join(dist, 'lib64', 'libazcloudhsm_pkcs11.so');
const SOFTHSM = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => existsSync(p));
const seconds = Number(process.env.SOAK_SECONDS ?? 600);
const sampleS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 60);
const threads = Number(process.env.SOAK_THREADS ?? 16);
if (!(seconds > 0) || !(sampleS > 0) || !(threads > 0)) throw new Error('SOAK_SECONDS, SOAK_SAMPLE_SECONDS and SOAK_THREADS must be positive numbers');

const dir = mkdtempSync(join(tmpdir(), 'ochsm-soak-'));
const speed = join(dir, 'pkcs11_speed');
execFileSync('gcc', ['-O2', '-Wall', '-I', join(dist, 'pkcs11_headers', 'include'), '-o', speed, join(repo, 'bench', 'pkcs11_speed.c'), '-ldl', '-lpthread', '-lm']);

const rssMiB = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN; /* the process is gone */
  }
};
const lines = (path) => {
  try {
    return readFileSync(path, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
};
const parse = (out) => /ops=(\d+) seconds=([\d.]+) ops_per_s=([\d.]+) errors=(\d+) p50_us=([\d.]+|nan) p99_us=([\d.]+|nan)/.exec(out ?? '');

const { startCluster, startDaemon } = await import(join(dist, 'packages', 'testkit', 'src', 'cluster.js'));
const lc = await startCluster(join(dir, 'cluster'));
const daemon = await startDaemon(lc);
const cleanup = async () => {
  await daemon.stop().catch(() => undefined);
  await lc.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void cleanup().then(() => process.exit(130)));

const logs = lc.nodes.map((n) => join(lc.dir, 'data', 'audit', `node-${n.id}.log`));
const procs = [...lc.nodes.map((n) => [`node ${n.id}`, n.proc.pid]), ['daemon', daemon.proc.pid]];
const samples = [];
let result;
try {
  const app = spawn(speed, [MODULE, '1', 'cu1:user1234', 'ecdsa', String(threads), String(seconds)], { cwd: daemon.binDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  app.stdout.on('data', (d) => (out += d));
  app.stderr.on('data', (d) => (err += d));
  const t0 = Date.now();
  let lastUses = logs.reduce((a, p) => a + lines(p), 0);
  const sample = () => {
    const uses = logs.reduce((a, p) => a + lines(p), 0);
    const s = { at: Math.round((Date.now() - t0) / 1000), uses: uses - lastUses, rss: [...procs.map(([, pid]) => rssMiB(pid)), rssMiB(app.pid)] };
    lastUses = uses;
    samples.push(s);
    process.stderr.write(`soak ${s.at} s: ${s.uses} signatures in the interval; RSS MiB ${s.rss.map((r) => r.toFixed(1)).join(' / ')}\n`);
  };
  sample();
  const timer = setInterval(sample, sampleS * 1000);
  const code = await new Promise((r) => app.on('exit', (c, sig) => r(c ?? sig)));
  clearInterval(timer);
  sample();
  result = parse(out);
  if (!result) throw new Error(`pkcs11_speed ended with ${code} and no result: ${err.trim() || out.trim()}`);
} finally {
  await daemon.stop().catch(() => undefined);
  await lc.stop().catch(() => undefined);
}

/* The reference: SoftHSM2, the same tool, load and thread count, 30 s. */
let soft = 'softhsm2 not installed';
if (SOFTHSM && spawnSync('sh', ['-c', 'command -v softhsm2-util']).stdout?.length) {
  const tokens = join(dir, 'softhsm-tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'soak', '--so-pin', '12345678', '--pin', '87654321'], { env, encoding: 'utf8' });
  const slot = /reassigned to slot (\d+)/.exec(init.stdout ?? '')?.[1];
  if (slot) {
    const r = parse(spawnSync(speed, [SOFTHSM, slot, '87654321', 'ecdsa', String(threads), '30'], { env, encoding: 'utf8', timeout: 150_000 }).stdout);
    soft = r ? `${Number(r[3]).toFixed(0)} ops/s, ${r[4]} errors, p50 ${r[5]} µs, p99 ${r[6]} µs (30 s)` : 'no result';
  }
}
rmSync(dir, { recursive: true, force: true });

const names = [...procs.map(([n]) => n), 'application'];
console.log(`Soak: ${threads} threads, ECDSA P-256 C_Sign through the PKCS#11 module, ${seconds} s; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; ${new Date().toISOString().slice(0, 16)}Z.\n`);
console.log(`| t (s) | signatures in interval | ${names.map((n) => `${n} RSS MiB`).join(' | ')} |`);
console.log(`|---:|---:|${names.map(() => '---:').join('|')}|`);
for (const s of samples) console.log(`| ${s.at} | ${s.uses.toLocaleString('en-US')} | ${s.rss.map((r) => r.toFixed(1)).join(' | ')} |`);
console.log(`\nTotal: ${Number(result[1]).toLocaleString('en-US')} signatures in ${result[2]} s = ${Number(result[3]).toFixed(0)} ops/s, errors ${result[4]}, p50 ${result[5]} µs, p99 ${result[6]} µs.`);
/* Growth after warm-up: from the second sample (the first after one interval of load) to the last. */
if (samples.length >= 3) {
  const a = samples[1];
  /* Per process, the last sample taken while it ran (the application has exited at the final one). */
  const lastOf = (i) => [...samples].reverse().find((s) => Number.isFinite(s.rss[i])) ?? a;
  console.log(`RSS after warm-up, from ${a.at} s to the last sample: ${names.map((n, i) => {
    const d = lastOf(i).rss[i] - a.rss[i];
    return `${n} ${d >= 0 ? '+' : ''}${d.toFixed(1)} MiB (to ${lastOf(i).at} s)`;
  }).join(', ')}.`);
}
console.log(`Reference, same run: SoftHSM2 ${soft}.`);
