/**
 * The PKCS#11 benchmark (`make bench-pkcs11`; not a test): operations per
 * second through libazcloudhsm_pkcs11.so → azcloudhsm_client → three node
 * processes, for RSA-2048 sign, ECDSA P-256 sign and AES-256-GCM on 1 KiB with
 * 1, 4 and 16 threads, beside `openssl speed` and SoftHSM2 (Debian softhsm2)
 * measured in the same run on the same machine. Prints a Markdown table (the
 * one in docs/performance.md) with p50/p99 latency and the ratio to SoftHSM2,
 * and draws docs/performance-pkcs11.svg (OCHSM_BENCH_SVG to put it elsewhere).
 * OCHSM_BENCH_PROFILE=<dir> starts the nodes and the daemon with --cpu-prof;
 * OCHSM_BENCH_THREADS=1 prints, for each measurement, every process's CPU per operation by
 * thread (the event loop, then each other thread: the libuv pool, V8's helpers).
 * OCHSM_BENCH_WRAP="perf stat" (or "perf record -g -o <file>") runs the C
 * program of the OpenCloudHSM measurements under that command. The CPU
 * columns are per operation: the daemon, the three nodes together and the
 * calling process (all its threads, the PKCS#11 module's reader included).
 * Each key row also prints the key-use audit records per durable write of each
 * node (its group-commit size, from the node's metrics on loopback).
 * OCHSM_BENCH_ROUTE=pack|spread (and OCHSM_BENCH_PACK_IN_FLIGHT=<n>) sets the
 * daemon's routing policy (azcloudhsm_client.cfg `routing`, `pack_in_flight`);
 * unset, the daemon's default.
 *
 *   node bench/pkcs11_speed.mjs [seconds per measurement, default 5]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
const MODULE = join(dist, 'lib64', 'libazcloudhsm_pkcs11.so');
const SOFTHSM = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => existsSync(p));
const seconds = Number(process.argv[2] ?? 5);
const OPS = [
  ['rsa', 'RSA-2048 sign'],
  ['ecdsa', 'ECDSA P-256 sign'],
  ['gcm', 'AES-256-GCM 1 KiB encrypt'],
  ['sha', 'SHA-256 digest 1 KiB (no key: the path itself)'],
];
const THREADS = [1, 4, 16];
/* OCHSM_BENCH_ONLY=sha:16 measures one operation at one thread count (for profiling runs). */
const ONLY = process.env.OCHSM_BENCH_ONLY?.split(':');

const dir = mkdtempSync(join(tmpdir(), 'ochsm-bench-p11-'));
const speed = join(dir, 'pkcs11_speed');
execFileSync('gcc', ['-O2', '-Wall', '-I', join(dist, 'pkcs11_headers', 'include'), '-o', speed, join(repo, 'bench', 'pkcs11_speed.c'), '-ldl', '-lpthread', '-lm']);

/* CPU seconds (user + system, all threads) a process has used, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/* CPU seconds of each thread of a process, by thread name (OCHSM_BENCH_THREADS=1: where a process's CPU goes, e.g. event loop against the libuv pool). */
function threadSeconds(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(String(tid) === String(pid) ? 'event loop' : `${name}#${tid}`, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      /* the thread ended */
    }
  }
  return out;
}
/* The CPU µs per operation of each thread between two threadSeconds readings, busiest first (the main thread is "event loop"). */
function threadsPerOp(before, after, ops) {
  return [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((v * 1e6) / ops).toFixed(0)}`).join(', ');
}

function measure(module, slot, pin, op, threads, cwd, pids) {
  const before = pids?.map(cpuSeconds);
  const threadsBefore = pids && process.env.OCHSM_BENCH_THREADS ? pids.map(threadSeconds) : undefined;
  /* OCHSM_BENCH_WRAP="perf record -g -o /tmp/p.data" runs the OpenCloudHSM measurement under that command (the C side's profile). */
  const wrap = pids && process.env.OCHSM_BENCH_WRAP ? process.env.OCHSM_BENCH_WRAP.split(' ').filter((w) => w !== '') : [];
  const argv = [...wrap, speed, module, String(slot), pin, op, String(threads), String(seconds)];
  const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: 'utf8', timeout: (seconds + 120) * 1000 });
  if (wrap.length && r.stderr) process.stderr.write(r.stderr);
  const m = /ops_per_s=([\d.]+) errors=(\d+) p50_us=([\d.]+|nan) p99_us=([\d.]+|nan)(?: app_cpu_us=([\d.]+|nan))?/.exec(r.stdout ?? '');
  if (!m) return { rate: NaN, p50: NaN, p99: NaN, note: (r.stderr || r.stdout || '').trim().split('\n').pop() };
  /* CPU µs per operation of the daemon (pids[0]) and of the nodes together (the rest). */
  const used = pids?.map((p, i) => cpuSeconds(p) - before[i]);
  const ops = Number(m[1]) * seconds;
  const cpu = used ? { daemon: (used[0] * 1e6) / ops, nodes: (used.slice(1).reduce((a, b) => a + b, 0) * 1e6) / ops, each: used.slice(1).map((u) => (u * 1e6) / ops), app: Number(m[5]) } : { app: Number(m[5]) };
  if (threadsBefore) {
    pids.forEach((p, i) => process.stderr.write(`  ${i === 0 ? 'daemon' : `node ${i}`} CPU µs/op by thread: ${threadsPerOp(threadsBefore[i], threadSeconds(p), ops)}\n`));
  }
  return { rate: Number(m[1]), p50: Number(m[3]), p99: Number(m[4]), cpu, note: Number(m[2]) ? `${m[2]} errors` : '' };
}

/* openssl speed, single process; the numbers are per second. */
function opensslSpeed() {
  const out = {};
  const run = (args) => spawnSync('openssl', ['speed', '-seconds', String(Math.max(1, Math.round(seconds / 2))), ...args], { encoding: 'utf8' }).stdout ?? '';
  const a = run(['rsa2048', 'ecdsap256']);
  const rsa = /^rsa 2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(a);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(a);
  out.rsa = rsa ? Number(rsa[1]) : NaN;
  /* Both cores: openssl speed -multi 2 (RSA only, the row the target names). */
  const multi = spawnSync('openssl', ['speed', '-multi', '2', '-seconds', String(Math.max(1, Math.round(seconds / 2))), 'rsa2048'], { encoding: 'utf8' }).stdout ?? '';
  const rm = /^rsa 2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(multi);
  out.rsaMulti = rm ? Number(rm[1]) : NaN;
  out.ecdsa = ec ? Number(ec[1]) : NaN;
  const g = run(['-bytes', '1024', '-evp', 'aes-256-gcm']);
  const gm = /^AES-256-GCM\s+([\d.]+)k/im.exec(g);
  out.gcm = gm ? (Number(gm[1]) * 1000) / 1024 : NaN; /* kB/s of 1 KiB blocks → blocks/s */
  const h = run(['-bytes', '1024', '-evp', 'sha256']);
  const hm = /^sha256\s+([\d.]+)k/im.exec(h);
  out.sha = hm ? (Number(hm[1]) * 1000) / 1024 : NaN;
  return out;
}

function softhsmSetup() {
  if (!SOFTHSM || !spawnSync('sh', ['-c', 'command -v softhsm2-util']).stdout) return undefined;
  const tokens = join(dir, 'softhsm-tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '12345678', '--pin', '87654321'], { env, encoding: 'utf8' });
  const m = /reassigned to slot (\d+)/.exec(r.stdout ?? '');
  if (!m) return undefined;
  process.env.SOFTHSM2_CONF = conf;
  return Number(m[1]);
}

const fmt = (n) => (Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)) : 'n/a');

const { startCluster, startDaemon } = await import(join(dist, 'packages', 'testkit', 'src', 'cluster.js'));
const { scrape, parseMetrics, sum } = await import(join(dist, 'packages', 'ops', 'src', 'metrics', 'scrape.js'));
const metricsFile = (id) => join(dir, `node${id}.metrics`);
/* Key-use records and durable writes of each node's audit log so far. */
async function auditCounts(nodes) {
  return Promise.all(nodes.map(async (n) => {
    try {
      const m = parseMetrics(await scrape(readFileSync(metricsFile(n.id), 'utf8').trim()));
      return { records: sum(m, 'ochsm_audit_log_records_total'), syncs: sum(m, 'ochsm_audit_log_syncs_total') };
    } catch {
      return { records: NaN, syncs: NaN };
    }
  }));
}
if (process.env.OCHSM_BENCH_PROFILE) {
  /* The nodes and the daemon inherit this: each writes a .cpuprofile there when it exits. */
  mkdirSync(process.env.OCHSM_BENCH_PROFILE, { recursive: true });
  process.env.OCHSM_NODE_FLAGS = `--cpu-prof --cpu-prof-dir=${resolve(process.env.OCHSM_BENCH_PROFILE)}`;
}
const lc = await startCluster(join(dir, 'cluster'), { env: (id) => ({ OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: metricsFile(id) }) });
const client = {
  ...(process.env.OCHSM_BENCH_ROUTE ? { routing: process.env.OCHSM_BENCH_ROUTE } : {}),
  ...(process.env.OCHSM_BENCH_PACK_IN_FLIGHT ? { pack_in_flight: Number(process.env.OCHSM_BENCH_PACK_IN_FLIGHT) } : {}),
};
const daemon = await startDaemon(lc, { client });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    await daemon.stop().catch(() => undefined);
    await lc.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}
const rows = [];
try {
  const ssl = opensslSpeed();
  const softSlot = softhsmSetup();
  for (const [op, label] of OPS) {
    if (ONLY && ONLY[0] !== op) continue;
    for (const t of THREADS) {
      if (ONLY && Number(ONLY[1]) !== t) continue;
      const audit0 = await auditCounts(lc.nodes);
      const ours = measure(MODULE, 1, 'cu1:user1234', op, t, daemon.binDir, [daemon.proc.pid, ...lc.nodes.map((n) => n.proc?.pid)]);
      const groups = (await auditCounts(lc.nodes)).map((a, i) => {
        const r = a.records - audit0[i].records, w = a.syncs - audit0[i].syncs;
        return `node ${lc.nodes[i].id} ${r ? `${(r / w).toFixed(1)} (${r} records)` : '-'}`;
      });
      const soft = softSlot !== undefined ? measure(SOFTHSM, softSlot, '87654321', op, t, dir) : { rate: NaN, note: 'softhsm2 not installed' };
      rows.push({ label, t, ours, soft, ssl: t === 1 ? ssl[op] : undefined, sslMulti: t === 1 && op === 'rsa' ? ssl.rsaMulti : undefined });
      process.stderr.write(`${label} ${t} threads: ${fmt(ours.rate)} p50 ${ours.p50} µs p99 ${ours.p99} µs, CPU/op daemon ${ours.cpu?.daemon.toFixed(0)} µs nodes ${ours.cpu?.nodes.toFixed(0)} µs (${ours.cpu?.each?.map((c) => c.toFixed(0)).join(' + ')}) application ${ours.cpu?.app.toFixed(0)} µs (SoftHSM2 ${fmt(soft.rate)}, application ${soft.cpu?.app.toFixed(0)} µs); key-use records per durable write: ${groups.join(', ')}\n`);
    }
  }
} finally {
  await daemon.stop().catch(() => undefined);
  await lc.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const ms = (us) => (Number.isFinite(us) ? (us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : `${(us / 1000).toFixed(2)} ms`) : 'n/a');
console.log(`Machine: ${cpus().length} × ${cpu}; ${seconds} s per measurement; ${new Date().toISOString().slice(0, 10)}.\n`);
console.log('| operation | threads | OpenCloudHSM ops/s | p50 | p99 | CPU µs/op daemon; nodes; application | SoftHSM2 ops/s | p50 | p99 | ratio | openssl speed (1 process; -multi 2) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const note = (x) => (x.note ? ` (${x.note})` : '');
  const ratio = r.ours.rate / r.soft.rate;
  const sslCell = r.ssl === undefined ? '' : fmt(r.ssl) + (r.label.startsWith('RSA') && Number.isFinite(r.sslMulti) ? `; ${fmt(r.sslMulti)}` : '');
  console.log(`| ${r.label} | ${r.t} | ${fmt(r.ours.rate)}${note(r.ours)} | ${ms(r.ours.p50)} | ${ms(r.ours.p99)} | ${r.ours.cpu?.daemon !== undefined ? `${r.ours.cpu.daemon.toFixed(0)}; ${r.ours.cpu.nodes.toFixed(0)}; ${r.ours.cpu.app.toFixed(0)}` : 'n/a'} | ${fmt(r.soft.rate)}${note(r.soft)} | ${ms(r.soft.p50)} | ${ms(r.soft.p99)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'} | ${sslCell} |`);
}

/* The plot: ops/s of both, per operation and thread count, log scale (docs/performance-pkcs11.svg). */
const svgPath = process.env.OCHSM_BENCH_SVG ?? join(repo, 'docs', 'performance-pkcs11.svg');
{
  const W = 760, H = 360, left = 70, bottom = 60, top = 30, plotH = H - top - bottom;
  const lo = 1, hi = 7; /* 10^1 .. 10^7 ops/s */
  const y = (v) => top + plotH - ((Math.log10(Math.max(v, 10)) - lo) / (hi - lo)) * plotH;
  const groupW = (W - left - 20) / rows.length;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="18" font-size="13">ops/s through PKCS#11 (log scale): OpenCloudHSM (blue) and SoftHSM2 (grey), same run, ${seconds} s each</text>`];
  for (let e = lo; e <= hi; e++) {
    parts.push(`<line x1="${left}" x2="${W - 20}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/><text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text>`);
  }
  rows.forEach((r, i) => {
    const x = left + i * groupW + 4;
    const bw = (groupW - 10) / 2;
    for (const [j, v, color] of [[0, r.ours.rate, '#2a6fdb'], [1, r.soft.rate, '#999']]) {
      if (!Number.isFinite(v)) continue;
      parts.push(`<rect x="${x + j * bw}" y="${y(v)}" width="${bw - 1}" height="${top + plotH - y(v)}" fill="${color}"/>`);
    }
    parts.push(`<text x="${x + bw}" y="${H - bottom + 14}" text-anchor="middle">${r.t}t</text>`);
    if (r.t === THREADS[0]) parts.push(`<text x="${x}" y="${H - bottom + 30}">${r.label.split(' ').slice(0, 2).join(' ')}</text>`);
  });
  parts.push('</svg>');
  writeFileSync(svgPath, parts.join('\n') + '\n');
  console.log(`\nPlot written to ${svgPath}`);
}
