/**
 * Multi-part operations streamed through libazcloudhsm_pkcs11.so, a real
 * azcloudhsm_client and three real nodes (docs/pkcs11.md "Multi-part
 * operations"), with stream.c:
 *  - a 1 GiB SHA-256 through C_DigestUpdate, checked against node:crypto, and
 *    100 MiB of AES-256-CBC through C_EncryptUpdate into C_DecryptUpdate,
 *    while the resident memory (VmRSS) of the program, the daemon and every
 *    node is sampled: none may grow by more than RSS_BOUND_MIB over its value
 *    when the program was ready (the data is 12x that);
 *  - HMAC-SHA256, ECDSA-SHA256 and AES-CTR in parts equal their single-part results;
 *  - a digest stream whose node is killed ends with CKR_DEVICE_ERROR, and the
 *    next C_DigestInit works on the nodes left;
 *  - OpenSC `pkcs11-tool --hash` of a 256 MiB file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MODULE, cProgramWorld } from './p11_world.js';

const PIN = 'cu1:user1234';
const MIB = 1 << 20;
const DIGEST_MIB = 1024;
const CBC_MIB = 100;
/**
 * How far any process's resident memory may rise during the run: the data is 1.1 GiB, and a
 * buffering design would hold 100 MiB for the CBC alone. Measured: the program +11 MiB, the nodes
 * +27..37 MiB, the daemon +48..70 MiB (1 MiB frames copied between sockets until V8 collects them).
 */
const RSS_BOUND_MIB = 128;

const w = cProgramWorld('stream');

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The data stream.c streams: 1 MiB blocks of a pattern, each starting with its number (little-endian u64). */
function block(k: number, base: Buffer): Buffer {
  base.writeBigUInt64LE(BigInt(k), 0);
  return base;
}
function patternBlock(): Buffer {
  const b = Buffer.alloc(MIB);
  for (let j = 0; j < MIB; j++) b[j] = ((j * 131) ^ (j >>> 9)) & 0xff;
  return b;
}

interface Running {
  readonly proc: ChildProcess;
  out: string;
  readonly exited: Promise<number | null>;
}

function run(args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Running {
  const proc = spawn(w.prog, [MODULE, PIN, ...args], { cwd: w.daemon!.binDir, stdio: [stdin, 'pipe', 'pipe'] });
  const r: Running = { proc, out: '', exited: new Promise((res) => proc.once('close', (code) => res(code))) };
  proc.stdout!.on('data', (d: Buffer) => (r.out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (r.out += d.toString()));
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(r: Running, re: RegExp, count = 1, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((r.out.match(new RegExp(re.source, 'g'))?.length ?? 0) < count) {
    if (Date.now() > deadline || r.proc.exitCode !== null) throw new Error(`no ${re} from stream.c:\n${r.out}`);
    await sleep(20);
  }
}

test(`a ${DIGEST_MIB} MiB digest and ${CBC_MIB} MiB of AES-CBC through C_*Update, with flat memory in the program, the daemon and the nodes`, { timeout: 900_000 }, async () => {
  const r = run(['big', String(DIGEST_MIB), String(CBC_MIB)]);
  const killer = setTimeout(() => r.proc.kill('SIGKILL'), 840_000);
  try {
    await waitFor(r, /READY/);
    const pids: Record<string, number> = { daemon: w.daemon!.proc.pid! };
    for (const n of w.lc!.nodes) pids[`node ${n.id}`] = n.proc!.pid!;
    const base: Record<string, number> = {};
    const peak: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) base[name] = peak[name] = rssKb(pid) ?? 0;
    const sampler = setInterval(() => {
      for (const [name, pid] of Object.entries(pids)) peak[name] = Math.max(peak[name]!, rssKb(pid) ?? 0);
    }, 100);
    const t0 = Date.now();
    /* Meanwhile, the digest the program must print. */
    const h = createHash('sha256');
    const b = patternBlock();
    for (let k = 0; k < DIGEST_MIB; k++) h.update(block(k, b));
    const expected = h.digest('hex');
    const code = await r.exited;
    clearInterval(sampler);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(code, 0, r.out);
    assert.match(r.out, /\d+ passed, 0 failed/);
    assert.equal(/DIGEST ([0-9a-f]{64})/.exec(r.out)?.[1], expected, 'the streamed digest of 1 GiB equals node:crypto\'s');
    assert.match(r.out, new RegExp(`CBC ${CBC_MIB * MIB} bytes encrypted and decrypted`));
    const own = [...r.out.matchAll(/RSS (\S+) (\d+)/g)].map((m) => Number(m[2]));
    base.program = own[0]!;
    peak.program = Math.max(...own);
    const lines = Object.keys(base).map((k) => `${k} ${(base[k]! / 1024).toFixed(0)} -> peak ${(peak[k]! / 1024).toFixed(0)} MiB (+${((peak[k]! - base[k]!) / 1024).toFixed(1)})`);
    console.log(`# stream: ${DIGEST_MIB} MiB digest + ${CBC_MIB} MiB CBC encrypt and decrypt in ${seconds.toFixed(1)} s; RSS ${lines.join('; ')}`);
    for (const k of Object.keys(base)) {
      assert.ok(peak[k]! - base[k]! < RSS_BOUND_MIB * 1024, `${k}: resident memory rose by ${((peak[k]! - base[k]!) / 1024).toFixed(1)} MiB, more than ${RSS_BOUND_MIB} MiB`);
    }
  } finally {
    clearTimeout(killer);
    r.proc.kill('SIGKILL');
  }
});

test('a digest stream on a killed node ends with CKR_DEVICE_ERROR; the next C_DigestInit works', { timeout: 180_000 }, async () => {
  const r = run(['kill'], 'pipe');
  const send = (c: string) => r.proc.stdin!.write(`${c}\n`);
  const one = createHash('sha256').update(block(0, patternBlock())).digest('hex');
  try {
    await waitFor(r, /INIT 0x0\b/);
    send('u');
    await waitFor(r, /UPDATE /, 1);
    assert.match(r.out, /UPDATE 0x0\b/);
    /* The stream is on one of the three nodes: kill them in turn until the update fails. */
    let updates = 1;
    let killed: number | undefined;
    for (const n of w.lc!.nodes) {
      await w.lc!.killNode(n.id);
      await sleep(300);
      send('u');
      updates++;
      await waitFor(r, /UPDATE /, updates);
      const last = [...r.out.matchAll(/UPDATE (0x[0-9a-f]+)/g)].at(-1)![1];
      if (last !== '0x0') {
        assert.equal(last, '0x30', `the update after the stream's node was killed answers CKR_DEVICE_ERROR (0x30), not ${last}`);
        killed = n.id;
        break;
      }
      await w.lc!.startNode(n.id);
      await sleep(800);
    }
    assert.ok(killed !== undefined, 'some node held the stream');
    send('u');
    await waitFor(r, /UPDATE /, updates + 1);
    assert.match([...r.out.matchAll(/UPDATE (0x[0-9a-f]+)/g)].at(-1)![0], /UPDATE 0x91/, 'the ended operation is not initialised any more');
    send('n');
    await waitFor(r, /NEW /);
    assert.equal(/NEW 0x0 ([0-9a-f]{64})/.exec(r.out)?.[1], one, `a new digest works on the nodes left:\n${r.out}`);
    console.log(`# stream: node ${killed} held the stream; its loss gave CKR_DEVICE_ERROR, then CKR_OPERATION_NOT_INITIALIZED, and a new digest worked`);
    send('q');
    assert.equal(await r.exited, 0, r.out);
    await w.lc!.startNode(killed!);
  } finally {
    r.proc.kill('SIGKILL');
  }
});

test('OpenSC pkcs11-tool --hash of a 256 MiB file streams through the module', { timeout: 300_000, skip: spawnSync('which', ['pkcs11-tool']).status !== 0 && 'pkcs11-tool is not installed' }, async () => {
  const file = join(w.dir, 'big.bin');
  const h = createHash('sha256');
  const b = patternBlock();
  const ws = createWriteStream(file);
  for (let k = 0; k < 256; k++) {
    const blk = Buffer.from(block(k, b));
    h.update(blk);
    if (!ws.write(blk)) await new Promise<void>((res) => ws.once('drain', () => res()));
  }
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
  const out = join(w.dir, 'big.sha256');
  const p = spawnSync('pkcs11-tool', ['--module', MODULE, '--hash', '-m', 'SHA256', '--input-file', file, '--output-file', out], { cwd: w.daemon!.binDir, encoding: 'utf8', timeout: 240_000 });
  rmSync(file, { force: true });
  assert.equal(p.status, 0, `${p.stdout}\n${p.stderr}`);
  assert.equal(readFileSync(out).toString('hex'), h.digest('hex'));
});
