/**
 * @module The status page's three files: HTML, CSS and the script that polls
 * `/api/status` and draws the chart as hand-made SVG. No external resource, so
 * it works offline, and the Content-Security-Policy allows only this origin.
 */

export const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>OpenCloudHSM status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="app.css">
</head>
<body>
<header><h1>OpenCloudHSM</h1><span id="versions">…</span><span id="updated"></span></header>
<main>
<section><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>process</th><th>daemon link</th><th>address</th><th>ops/s</th><th>in flight</th><th>version</th></tr></thead><tbody></tbody></table></section>
<section class="row">
<div><h2>Client daemon</h2><dl id="daemon"></dl></div>
<div><h2>Sign-in on this host</h2><dl id="signin"></dl></div>
</section>
<section><h2>Operations per second, last 3 minutes (health checks not counted)</h2><div id="chart"></div><div id="legend"></div></section>
<section><h2>Latest audit records</h2><table id="audit"><thead><tr><th>log</th><th>seq</th><th>time (UTC)</th><th>user</th><th>role</th><th>action</th><th>handles</th><th>mechanism</th><th>result</th><th>hash</th></tr></thead><tbody></tbody></table><p id="auditError" class="muted"></p></section>
</main>
<footer class="muted">Read-only. Refreshes every 2 s.</footer>
<script src="app.js"></script>
</body>
</html>
`;

export const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
header { background: #1d3557; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; }
header h1 { font-size: 20px; margin: 0; }
main { padding: 8px 20px; }
h2 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; background: #fff; min-width: 60%; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #eef1f5; font-weight: 600; }
.row { display: flex; gap: 40px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 0; background: #fff; padding: 8px 12px; }
dt { color: #5b6675; } dd { margin: 0; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #c62828; font-weight: 600; } .warn { color: #b26a00; font-weight: 600; }
.muted { color: #6b7684; }
#chart svg { background: #fff; border: 1px solid #e3e6ea; }
#legend span { margin-right: 16px; }
#legend i { display: inline-block; width: 12px; height: 3px; margin-right: 4px; vertical-align: middle; }
footer { padding: 10px 20px; }
`;

export const JS = `
'use strict';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const MINUTES = 3;
const DASHES = ['none', '7 4', '2 3', '10 3 2 3'];
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) { const e = document.createElement(tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = String(text); return e; }
function svg(tag, attrs) { const e = document.createElementNS('http://www.w3.org/2000/svg', tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
function cls(state) { return state === 'up' || state === 'running' || state === 'ok' ? 'ok' : state === 'connecting' ? 'warn' : 'bad'; }
function row(tbody, cells) { const tr = el('tr'); for (const c of cells) { const td = el('td'); if (c && c.node) td.appendChild(c.node); else td.textContent = c === undefined || c === null ? '–' : String(c); tr.appendChild(td); } tbody.appendChild(tr); }
function badge(text, state) { return { node: el('span', { class: cls(state === undefined ? text : state) }, text) }; }
function dl(target, pairs) { target.replaceChildren(); for (const [k, v] of pairs) { target.appendChild(el('dt', {}, k)); const dd = el('dd'); if (v && v.node) dd.appendChild(v.node); else dd.textContent = v === undefined || v === null ? '–' : String(v); target.appendChild(dd); } }
function chart(history, ids) {
  const W = 760, H = 220, L = 44, B = 22, T = 8, R = 10;
  const root = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, id: 'opschart' });
  const pts = history.filter((h) => Object.keys(h.perNode).length > 0);
  const total = (h) => ids.reduce((t, id) => t + (h.perNode[id] || 0), 0);
  let max = 1; for (const h of pts) max = Math.max(max, total(h));
  const nice = Math.pow(10, Math.floor(Math.log10(max))); max = Math.ceil(max / nice) * nice;
  const t1 = Date.now(), t0 = t1 - MINUTES * 60 * 1000;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - B - T);
  for (let i = 0; i <= 4; i++) { const v = (max * i) / 4; root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e3e6ea' })); const tx = svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7684' }); tx.textContent = String(Math.round(v * 10) / 10); root.appendChild(tx); }
  for (let m = 0; m <= MINUTES; m++) { const t = t0 + m * 60000; const tx = svg('text', { x: x(t), y: H - 6, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7684' }); tx.textContent = m === MINUTES ? 'now' : '-' + (MINUTES - m) + ' min'; root.appendChild(tx); }
  const all = pts.filter((h) => h.t >= t0).map((h) => x(h.t).toFixed(1) + ',' + y(total(h)).toFixed(1));
  if (all.length > 0) root.appendChild(svg('polyline', { points: all.join(' '), fill: 'none', stroke: '#1d232b', 'stroke-width': 2.5, 'data-node': 'total', 'data-points': all.length }));
  ids.forEach((id, i) => {
    const p = pts.filter((h) => h.perNode[id] !== undefined && h.t >= t0).map((h) => x(h.t).toFixed(1) + ',' + y(h.perNode[id]).toFixed(1));
    if (p.length > 0) root.appendChild(svg('polyline', { points: p.join(' '), fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 2, 'stroke-dasharray': DASHES[i % DASHES.length], 'data-node': id, 'data-points': p.length }));
  });
  $('chart').replaceChildren(root);
  const key = (color, text) => { const s = el('span'); const sw = el('i'); sw.style.background = color; s.appendChild(sw); s.appendChild(document.createTextNode(text)); return s; };
  $('legend').replaceChildren(key('#1d232b', 'all nodes'), ...ids.map((id, i) => key(COLORS[i % COLORS.length], 'node ' + id)));
}
function render(s) {
  $('versions').textContent = 'ochsm ' + s.versions.ochsm + (s.versions.daemon ? ' · daemon ' + s.versions.daemon : '');
  $('updated').textContent = 'updated ' + new Date(s.time).toISOString().slice(11, 19) + ' UTC';
  const nb = $('nodes').tBodies[0]; nb.replaceChildren();
  for (const n of s.nodes) row(nb, ['hsm' + n.id, badge(n.process + (n.pid ? ' (pid ' + n.pid + ')' : ''), n.process), badge(n.link), n.hostname ? n.hostname + ':' + n.port : null, n.opsPerSecond === null ? 'no metrics' : n.opsPerSecond.toFixed(1), n.inFlight, n.version]);
  const d = s.daemon;
  dl($('daemon'), [['process', badge(d.process + (d.pid ? ' (pid ' + d.pid + ')' : ''), d.process)], ['socket', d.reachable ? badge('ok') : { node: el('span', { class: 'bad' }, d.error || 'not reachable') }], ['partition', d.partitionState], ['uptime', d.uptime === undefined ? null : d.uptime + ' s'], ['applications', d.applications], ['in flight', d.inFlight]]);
  dl($('signin'), [['signed in', s.signIn.loggedIn ? { node: el('span', { class: 'ok' }, 'yes') } : 'no'], ['user', s.signIn.user], ['role', s.signIn.role], ['mode', s.signIn.mode]]);
  chart(s.history, s.nodes.map((n) => String(n.id)));
  const ab = $('audit').tBodies[0]; ab.replaceChildren();
  for (const r of s.audit.slice().reverse()) row(ab, [r.node ? 'node ' + r.node : 'store', r.seq, new Date(r.time).toISOString().replace('T', ' ').slice(0, 19), r.user || '(none)', r.role, r.action, (r.handles || []).join(' '), r.mechanismName, badge(r.result), r.hash.slice(0, 12) + '…']);
  $('auditError').textContent = s.auditError || '';
}
async function poll() {
  try { const r = await fetch('api/status', { cache: 'no-store' }); if (r.ok) render(await r.json()); } catch (e) { $('updated').textContent = 'status server unreachable'; }
  setTimeout(poll, 2000);
}
poll();
`;
