/**
 * Summarises the .cpuprofile files of a profiled benchmark run (not a test):
 *   node bench/cpuprofile_summary.mjs <dir> [operations in the run] [seconds]
 * For each process (named daemon / node by the code it ran): busy CPU (all samples but idle),
 * CPU per operation when the count is given, and the functions with the most self time.
 * With [seconds], only the busiest window of that length counts (the measurement, without the
 * start-up's key generation and module loading); give the measurement's length. TOP=<n>: how
 * many functions to list (default 12).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, opsArg, windowArg] = process.argv.slice(2);
const ops = Number(opsArg ?? NaN);
const windowUs = Number(windowArg ?? NaN) * 1e6;

/* The samples [from, to) of the window of windowUs with the most busy time (all samples without it). */
function busiest(p, isIdle) {
  const n = p.samples.length;
  if (!Number.isFinite(windowUs) || windowUs <= 0) return [0, n];
  const at = [];
  let t = 0;
  for (let i = 0; i < n; i++) at.push((t += p.timeDeltas[i] ?? 0));
  let best = [0, 0], bestBusy = -1, lo = 0, busyNow = 0;
  for (let hi = 0; hi < n; hi++) {
    if (!isIdle(p.samples[hi])) busyNow += p.timeDeltas[hi] ?? 0;
    while (at[hi] - at[lo] > windowUs) {
      if (!isIdle(p.samples[lo])) busyNow -= p.timeDeltas[lo] ?? 0;
      lo++;
    }
    if (busyNow > bestBusy) [bestBusy, best] = [busyNow, [lo, hi + 1]];
  }
  return best;
}
for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = p.timeDeltas;
  let total = 0;
  const urls = new Set();
  const [from, to] = busiest(p, (id) => byId.get(id).callFrame.functionName === '(idle)');
  p.samples.forEach((id, i) => {
    if (i < from || i >= to) return;
    const n = byId.get(id);
    const d = dt[i] ?? 0;
    total += d;
    const cf = n.callFrame;
    if (cf.url) urls.add(cf.url);
    const file = cf.url ? cf.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^file:\/\//, '') : '';
    const key = `${cf.functionName || '(anonymous)'}${file ? ` ${file.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + d);
  });
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  const who = [...urls].some((u) => u.includes('/daemon/src/')) ? 'daemon' : [...urls].some((u) => u.includes('/hsm-node/src/')) ? 'node' : 'other';
  const perOp = Number.isFinite(ops) && ops > 0 ? `, ${((busy / ops)).toFixed(1)} µs/op` : '';
  console.log(`\n${who} (${f}): busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s${perOp}`);
  const top = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 12));
  for (const [k, v] of top) console.log(`  ${((100 * v) / busy).toFixed(1).padStart(5)} %  ${k}`);
}
