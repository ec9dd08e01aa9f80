/**
 * The harness itself: it refuses clearly when it may not create namespaces
 * (never a silent pass), it removes what a crashed run left behind, and it
 * tears down everything it built, also when the process is killed by a signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeLeftovers } from '../src/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const NETNS = join(here, '..', 'src', 'netns.js');
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

test('without CAP_NET_ADMIN the harness fails with a message that says why', () => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e',
    `import { HostNetwork } from ${JSON.stringify(NETNS)}; HostNetwork.create(1);`], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot build the simulated hosts \(network namespaces need root with CAP_NET_ADMIN\)/);
});

test('leftovers of a run whose process is gone are removed; a live run is left alone', () => {
  /* A pid that is certainly dead: a child that has exited. */
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
  const ns = `ochsm-${dead}n1`;
  const link = `ochsm-${dead}v1`;
  const liveNs = `ochsm-${process.pid}n9`;
  ip('netns', 'add', ns);
  ip('link', 'add', link, 'type', 'veth', 'peer', 'name', `ochsm-${dead}p1`);
  ip('netns', 'add', liveNs);
  try {
    const removed = removeLeftovers();
    assert.ok(removed.includes(ns) && removed.includes(link), `removed ${removed.join(', ')}`);
    assert.ok(!ip('netns', 'list').includes(ns));
    assert.ok(!ip('-o', 'link', 'show').includes(link));
    assert.ok(ip('netns', 'list').includes(liveNs), 'the namespace of a live process stays');
  } finally {
    execFileSync('ip', ['netns', 'del', liveNs], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', link]);
  }
});

test('a run killed by SIGTERM tears its hosts down, processes inside included', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { HostNetwork } from ${JSON.stringify(NETNS)};
    import { spawn } from 'node:child_process';
    const net = HostNetwork.create(2);
    spawn(net.exec(1)[0], [...net.exec(1).slice(1), 'sleep', '300'], { stdio: 'ignore' });
    console.log(JSON.stringify({ ns: net.hosts.map((h) => h.netns), bridge: net.bridge }));
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'pipe'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`harness child exited early with ${code}`)));
  });
  const built = JSON.parse(line) as { ns: string[]; bridge: string };
  for (const n of built.ns) assert.ok(ip('netns', 'list').includes(n), `${n} exists while the run lives`);
  /* The child spawned `sleep` into host 1 without waiting for it: poll (bounded) until it runs
   * there; a fixed pause could end before a loaded machine has exec'd it. */
  let inside = '';
  for (const end = Date.now() + 20_000; inside === '' && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) inside = ip('netns', 'pids', built.ns[0]!).trim();
  assert.ok(inside.length > 0, 'a process runs inside host 1');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  for (const n of built.ns) assert.ok(!ip('netns', 'list').includes(n), `${n} is gone after SIGTERM`);
  assert.ok(!ip('-o', 'link', 'show').includes(built.bridge), 'the bridge is gone');
  for (const pid of inside.split(/\s+/)) {
    /* Killed: gone, or a zombie waiting for init to reap it. SIGKILL was sent before the run
     * exited, but the process dies only once it is scheduled: poll (bounded), not a fixed pause. */
    const stat = () => (existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '');
    const dead = (st: string) => st === '' || / Z /.test(st.slice(st.lastIndexOf(')')));
    for (const end = Date.now() + 10_000; !dead(stat()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    const st = stat();
    assert.ok(dead(st), `process ${pid} inside host 1 was killed: ${st}`);
  }
});
