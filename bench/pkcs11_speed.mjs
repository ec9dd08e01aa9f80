/**
 * The PKCS#11 benchmark (`make bench-pkcs11`; not a test): operations per
 * second through libazcloudhsm_pkcs11.so → azcloudhsm_client → three node
 * processes, for RSA-2048 sign, ECDSA P-256 sign and AES-256-GCM on 1 KiB with
 * 1, 4 and 16 threads, beside `openssl speed` and SoftHSM2 (Debian softhsm2)
 * measured in the same run on the same machine. Prints a Markdown table (the
 * one in docs/performance.md).
 *
 *   node bench/pkcs11_speed.mjs [seconds per measurement, default 5]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
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

const dir = mkdtempSync(join(tmpdir(), 'ochsm-bench-p11-'));
const speed = join(dir, 'pkcs11_speed');
execFileSync('gcc', ['-O2', '-Wall', '-I', join(dist, 'pkcs11_headers', 'include'), '-o', speed, join(repo, 'bench', 'pkcs11_speed.c'), '-ldl', '-lpthread']);

function measure(module, slot, pin, op, threads, cwd) {
  const r = spawnSync(speed, [module, String(slot), pin, op, String(threads), String(seconds)], { cwd, encoding: 'utf8', timeout: (seconds + 120) * 1000 });
  const m = /ops_per_s=([\d.]+) errors=(\d+)/.exec(r.stdout ?? '');
  if (!m) return { rate: NaN, note: (r.stderr || r.stdout || '').trim().split('\n').pop() };
  return { rate: Number(m[1]), note: Number(m[2]) ? `${m[2]} errors` : '' };
}

/* openssl speed, single process; the numbers are per second. */
function opensslSpeed() {
  const out = {};
  const run = (args) => spawnSync('openssl', ['speed', '-seconds', String(Math.max(1, Math.round(seconds / 2))), ...args], { encoding: 'utf8' }).stdout ?? '';
  const a = run(['rsa2048', 'ecdsap256']);
  const rsa = /^rsa 2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(a);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(a);
  out.rsa = rsa ? Number(rsa[1]) : NaN;
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

const { startCluster, startDaemon } = await import(join(dist, 'packages', 'cli', 'src', 'cluster.js'));
const lc = await startCluster(join(dir, 'cluster'));
const daemon = await startDaemon(lc);
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
    for (const t of THREADS) {
      const ours = measure(MODULE, 1, 'cu1:user1234', op, t, daemon.binDir);
      const soft = softSlot !== undefined ? measure(SOFTHSM, softSlot, '87654321', op, t, dir) : { rate: NaN, note: 'softhsm2 not installed' };
      rows.push({ label, t, ours, soft, ssl: t === 1 ? ssl[op] : undefined });
      process.stderr.write(`${label} ${t} threads: ${fmt(ours.rate)} (SoftHSM2 ${fmt(soft.rate)})\n`);
    }
  }
} finally {
  await daemon.stop().catch(() => undefined);
  await lc.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${cpus().length} × ${cpu}; ${seconds} s per measurement; ${new Date().toISOString().slice(0, 10)}.\n`);
console.log('| operation | threads | OpenCloudHSM via PKCS#11 (ops/s) | SoftHSM2 (ops/s) | openssl speed, 1 process (ops/s) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  const note = (x) => (x.note ? ` (${x.note})` : '');
  console.log(`| ${r.label} | ${r.t} | ${fmt(r.ours.rate)}${note(r.ours)} | ${fmt(r.soft.rate)}${note(r.soft)} | ${r.ssl === undefined ? '' : fmt(r.ssl)} |`);
}
