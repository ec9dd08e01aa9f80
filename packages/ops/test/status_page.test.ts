/**
 * The Chromium status-page test: a real cluster and daemon under signing load,
 * the status page served on loopback, and headless Chromium (Debian `chromium`)
 * rendering it: the DOM shows the three nodes up, the host's sign-in, a chart
 * whose lines move between two renderings, and the audit tail; a screenshot is
 * written to dist/status-page.png. The page's JSON holds no password, and the
 * server refuses writes and foreign Host headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { nodeAuditLogPath, openLocalPartition } from '../../hsm-node/src/local_partition.js';
import { connectDaemon, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { StatusCollector, auditTailReader, combinedAuditTail } from '../src/status/collector.js';
import { startStatusServer, type StatusServer } from '../src/status/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', '..', '..', '..');
const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => {
  try {
    execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** Headless Chromium with the flags that keep it offline and quiet, a fresh profile each run. */
function chromium(args: string[], profileRoot: string): Promise<string> {
  const profile = mkdtempSync(join(profileRoot, 'profile-'));
  return new Promise((resolvePromise, reject) => {
    const p = spawn(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--window-size=1100,1150', '--virtual-time-budget=4000', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`chromium exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

function get(url: string, opts: http.RequestOptions = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(url, opts, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const points = (dom: string, node: string) => new RegExp(`<polyline points="([^"]*)"[^>]*data-node="${node}"`).exec(dom)?.[1] ?? '';

test('status page under load, rendered by headless Chromium', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)', timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-status-'));
  let lc: LocalCluster | undefined;
  let d: DaemonHandle | undefined;
  let web: StatusServer | undefined;
  let loading = true;
  let load: Promise<number> | undefined;
  t.after(async () => {
    loading = false;
    await load?.catch(() => 0);
    await web?.close();
    await d?.stop().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  lc = await startCluster(dir, { env: (id) => ({ OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: join(dir, 'run', `hsm${id}.metrics`) }) });
  d = await startDaemon(lc, { env: { OCHSM_METRICS: '127.0.0.1:0', OCHSM_METRICS_ADDR_FILE: join(dir, 'run', 'client.metrics') } });
  writeFileSync(join(dir, 'run', 'client.pid'), `${d.proc.pid}\n`);
  const local = openLocalPartition(dir);
  t.after(async () => (await local).store.close());
  const collector = new StatusCollector({ runDir: join(dir, 'run'), socketPath: d.socketPath, nodeIds: [1, 2, 3], auditTail: combinedAuditTail(auditTailReader(async () => (await local).partition), [1, 2, 3].map((id) => nodeAuditLogPath(dir, id))) });
  web = await startStatusServer(collector, { intervalMs: 1000 });

  /* Load: one application signs in and signs in a loop, with pauses so that the rate moves. */
  const app = await connectDaemon(d.socketPath, 'status-load');
  t.after(() => app.close());
  await app.request('login', { user: 'cu1', password: 'user1234', role: 'CU' });
  const pair = await app.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, Buffer.from('06082a8648ce3d030107', 'hex')), attr.bool(P.CKA_VERIFY, true)],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
  });
  load = (async () => {
    let n = 0;
    while (loading) {
      await app.request('sign', { mechanism: { mechanism: P.CKM_ECDSA_SHA256 }, handle: pair.privateHandle, data: Buffer.from(`status ${n++}`) });
      if (n % 40 === 0) await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 400)));
    }
    return n;
  })();
  await new Promise((r) => setTimeout(r, 7000));

  const first = await chromium(['--dump-dom', web.url], dir);
  for (const id of [1, 2, 3]) assert.match(first, new RegExp(`<td>hsm${id}</td><td><span class="ok">running \\(pid \\d+\\)</span></td><td><span class="ok">up</span></td>`), `node ${id} is shown running and up`);
  assert.match(first, /<dt>signed in<\/dt><dd><span class="ok">yes<\/span><\/dd><dt>user<\/dt><dd>cu1<\/dd><dt>role<\/dt><dd>CU<\/dd>/, 'the host sign-in is shown');
  for (const node of ['total', '1', '2', '3']) {
    const pts = points(first, node).split(' ').filter(Boolean);
    assert.ok(pts.length >= 3, `the chart has a line for ${node} with several points (${pts.length})`);
  }
  const ys = points(first, 'total').split(' ').map((p) => Number(p.split(',')[1]));
  assert.ok(Math.min(...ys) < Math.max(...ys), 'the total line is not flat: operations were counted');
  const auditRows = [...first.matchAll(/<tr><td>node [123]<\/td><td>\d+<\/td><td>[\d-]+ [\d:]+<\/td><td>cu1<\/td><td>CU<\/td><td>sign<\/td><td>\d+<\/td><td>CKM_ECDSA_SHA256<\/td>/g)].length;
  assert.ok(auditRows >= 5, `the audit tail shows the signatures (${auditRows} rows)`);

  await new Promise((r) => setTimeout(r, 3000));
  const docs = join(ROOT, 'dist');
  mkdirSync(docs, { recursive: true });
  const shot = join(docs, 'status-page.png');
  rmSync(shot, { force: true });
  await chromium([`--screenshot=${shot}`, web.url], dir);
  const second = await chromium(['--dump-dom', web.url], dir);
  assert.notEqual(points(second, 'total'), points(first, 'total'), 'the chart moved between two renderings');
  assert.ok(existsSync(shot));
  const png = readFileSync(shot);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.ok(png.length > 20_000, `a real rendering (${png.length} bytes)`);

  /* Read-only, loopback only, no secret in what it serves. */
  const api = await get(`${web.url}api/status`);
  assert.equal(api.status, 200);
  assert.ok(!api.body.includes('user1234'), 'no password in the status JSON');
  assert.match(String(api.headers['content-security-policy']), /default-src 'none'/);
  assert.equal((await get(`${web.url}api/status`, { method: 'POST' })).status, 405);
  assert.equal((await get(`${web.url}`, { headers: { host: 'attacker.example:80' } })).status, 403);
  assert.equal((await get(new URL('/api/status', web.url).href)).status, 404, 'without the random path, nothing');
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/$/);
  const html = (await get(web.url)).body;
  assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from elsewhere');
  loading = false;
  const signed = await load;
  console.log(`checked: Chromium rendered 3 nodes up, sign-in cu1/CU, chart lines for all nodes that moved between renderings, ${auditRows} sign audit rows; ${signed} signatures of load; screenshot ${shot} (${png.length} bytes); POST → 405, foreign Host → 403, no token → 404, no password in /api/status`);
});
