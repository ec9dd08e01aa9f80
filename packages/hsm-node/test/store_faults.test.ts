/**
 * Store faults on a real node process (issue: store faults fail closed and
 * loudly). The installation lives on a small ext4 file system of its own (a
 * loop mount, so it can be filled up and files made immutable without
 * touching this machine's disks). For each fault: the node never dies of a
 * signal, a state change is answered with ERR_STORE naming the store file
 * (never acknowledged without being durable), the node logs the fault once,
 * and once the fault is repaired the node works again and every acknowledged
 * key is there after a restart.
 *
 * Needs root (mount, chattr); skipped otherwise. Always unmounted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, truncateSync, writeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { startCluster, connectNode, EXAMPLE_CU, NODE_MAIN, type LocalCluster } from '../../testkit/src/cluster.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';

const root = process.getuid?.() === 0;
let base: string;
let mnt: string;
let mounted = false;
let cluster: LocalCluster;
let db: string;
const acked: number[] = [];
/* The node's log (stderr), kept here: a log file on the full file system could not be written. */
let log = '';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  if (!root) return;
  base = mkdtempSync(join(tmpdir(), 'ochsm-storefault-'));
  mnt = join(base, 'mnt');
  mkdirSync(mnt);
  const img = join(base, 'fs.img');
  sh('truncate', ['-s', '48M', img]);
  /* -m 0: no blocks reserved for root, so the test (root) really meets a full disk. */
  sh('mkfs.ext4', ['-q', '-F', '-m', '0', img]);
  sh('mount', ['-o', 'loop', img, mnt]);
  mounted = true;
  cluster = await startCluster(join(mnt, 'hsm'), { nodes: 1 });
  listen();
  db = join(mnt, 'hsm', 'data', 'partition.db');
});

after(async () => {
  if (!root) return;
  try {
    await cluster?.stop();
  } finally {
    if (mounted) {
      for (const f of [db, `${db}-journal`]) if (f && existsSync(f)) spawnQuiet('chattr', ['-i', f]);
      spawnQuiet('umount', [mnt]);
    }
    rmSync(base, { recursive: true, force: true });
  }
});

function spawnQuiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    /* cleanup: best effort, the next step still runs */
  }
}

function listen(): void {
  cluster.node(1).proc!.stderr!.on('data', (d: Buffer) => (log += d.toString()));
}

async function startNode(): Promise<void> {
  await cluster.startNode(1);
  listen();
  await cluster.waitForE2E();
}

function nodeLog(): string {
  return log;
}

function faultLines(log: string): string[] {
  return log.split('\n').filter((l) => l.includes('"store fault"'));
}

/** The node process is still running: no signal, no exit. */
function assertAlive(): void {
  const p = cluster.node(1).proc!;
  assert.equal(p.signalCode, null, `the node died of ${p.signalCode}`);
  assert.equal(p.exitCode, null, `the node exited with ${p.exitCode}`);
}

async function signedIn(): Promise<ProtocolClient> {
  const c = await connectNode(cluster.node(1).port, cluster.poCrt);
  await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
  return c;
}

function aesKey(c: ProtocolClient, label: string) {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(32n);
  return c.request('generateKey', {
    mechanism: { mechanism: P.CKM_AES_KEY_GEN },
    template: [
      { type: P.CKA_TOKEN, value: Uint8Array.of(1) }, { type: P.CKA_VALUE_LEN, value: len },
      { type: P.CKA_LABEL, value: Buffer.from(label) },
    ],
  });
}

/** A key generation during the fault: either acknowledged (and then it must survive) or ERR_STORE naming the file. */
async function tryKey(c: ProtocolClient, label: string): Promise<'ok' | 'refused'> {
  try {
    const { handle } = await aesKey(c, label);
    acked.push(handle);
    return 'ok';
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'ERR_STORE', `a store fault is ERR_STORE: ${(e as Error).message}`);
    assert.ok((e as Error).message.includes(db), `the error names the store file: ${(e as Error).message}`);
    return 'refused';
  }
}

/** After a fault is repaired: keys are made again, and after a restart every acknowledged key is there. */
async function assertRecovered(restart: boolean): Promise<void> {
  if (restart) {
    await cluster.killNode(1, 'SIGTERM');
    await startNode();
  }
  const c = await signedIn();
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        acked.push((await aesKey(c, 'after')).handle);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    c.close();
  }
  await cluster.killNode(1, 'SIGTERM');
  await startNode();
  const c2 = await signedIn();
  try {
    for (const h of acked) {
      const r = await c2.request('getAttributeValue', { handle: h, types: [P.CKA_CLASS] });
      assert.equal(r.attributes.length, 1, `acknowledged key ${h} is present after the restart`);
    }
  } finally {
    c2.close();
  }
}

test('the store keeps no memory-mapped file: no -wal, no -shm beside it', { skip: !root && 'needs root' }, async () => {
  const c = await signedIn();
  try {
    acked.push((await aesKey(c, 'first')).handle);
  } finally {
    c.close();
  }
  assert.ok(!existsSync(`${db}-wal`) && !existsSync(`${db}-shm`), 'a rollback journal, not WAL (whose -shm is mmapped)');
});

test('a full disk: ERR_STORE naming the file, one log line, no crash; works again once space is freed', { skip: !root && 'needs root', timeout: 120_000 }, async () => {
  const c = await signedIn();
  const filler = join(mnt, 'filler');
  const before = faultLines(nodeLog()).length;
  try {
    const fd = openSync(filler, 'w');
    try {
      for (const size of [1 << 20, 4096, 512]) {
        const chunk = Buffer.alloc(size, 0x5a);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        }
      }
    } finally {
      closeSync(fd);
    }
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) outcomes.push(await tryKey(c, `full-${i}`));
    assert.ok(outcomes.includes('refused'), `key generation on a full disk is refused: ${outcomes.join(',')}`);
    assertAlive();
    /* Still answering: a fresh connection is served. */
    (await connectNode(cluster.node(1).port, cluster.poCrt)).close();
    assert.equal(faultLines(nodeLog()).length - before, 1, 'the fault is logged once, not per request');
    const line = faultLines(nodeLog()).at(-1)!;
    assert.ok(line.includes(db) && !line.includes(EXAMPLE_CU.password), line);
  } finally {
    c.close();
    rmSync(filler, { force: true });
  }
  await assertRecovered(false);
});

test('an immutable store file (chattr +i): ERR_STORE naming the file, no SIGBUS; works again after chattr -i', { skip: !root && 'needs root', timeout: 120_000 }, async () => {
  const c = await signedIn();
  try {
    sh('chattr', ['+i', db]);
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i++) outcomes.push(await tryKey(c, `immutable-${i}`));
      assert.deepEqual(outcomes, ['refused', 'refused', 'refused', 'refused', 'refused']);
      /* Reads go on or fail closed; they never take the process down. */
      await c.request('findObjects', { template: [] }).catch((e: { code?: string }) => assert.equal(e.code, 'ERR_STORE'));
      await new Promise((r) => setTimeout(r, 300));
      assertAlive();
    } finally {
      sh('chattr', ['-i', db]);
    }
  } finally {
    c.close();
  }
  await assertRecovered(false);
});

test('a removed store file: writes are refused, never acknowledged into the orphan; restored file works after restart', { skip: !root && 'needs root', timeout: 120_000 }, async () => {
  const c = await signedIn();
  const moved = `${db}.moved`;
  try {
    renameSync(db, moved);
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i++) outcomes.push(await tryKey(c, `removed-${i}`));
      assert.deepEqual(outcomes, ['refused', 'refused', 'refused']);
      const e = await aesKey(c, 'x').catch((err: Error) => err);
      assert.match((e as Error).message, /was removed/);
      assertAlive();
    } finally {
      renameSync(moved, db);
    }
  } finally {
    c.close();
  }
  /* Putting the file back does not revive the open store: only a restart does. */
  await assertRecovered(true);
});

test('a truncated store file: refused while running and at start (the node exits with a message, not a signal); restored copy works', { skip: !root && 'needs root', timeout: 120_000 }, async () => {
  const copy = `${db}.good`;
  await cluster.killNode(1, 'SIGTERM');
  copyFileSync(db, copy);
  await startNode();
  const c = await signedIn();
  try {
    truncateSync(db, Math.floor(statSync(db).size / 2));
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(await tryKey(c, `truncated-${i}`));
    assert.ok(outcomes.includes('refused'), outcomes.join(','));
    assertAlive();
  } finally {
    c.close();
  }
  await cluster.killNode(1, 'SIGTERM');
  /* Starting on the damaged file: refused with the file named; an exit code, not a signal. */
  const run = () => spawnSync(process.execPath, [NODE_MAIN, cluster.node(1).config], { encoding: 'utf8', timeout: 30_000 });
  let r = run();
  assert.equal(r.signal, null);
  assert.equal(r.status, 1, r.stderr);
  assert.ok(r.stderr.includes(`sqlite store ${db}`), r.stderr);
  /* Emptied completely: refused too, never started afresh as an empty partition. */
  truncateSync(db, 0);
  r = run();
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /holds no store \(empty or truncated\)/);
  /* The copy holds every key acknowledged before it was taken; the tries during the fault are not in it. */
  copyFileSync(copy, db);
  rmSync(copy);
  acked.length = 0;
  await startNode();
  await assertRecovered(false);
});

test('a vanished journal file: the next write makes a new one; nothing is lost', { skip: !root && 'needs root', timeout: 120_000 }, async () => {
  const c = await signedIn();
  try {
    rmSync(`${db}-journal`, { force: true });
    assert.equal(await tryKey(c, 'journal-gone'), 'ok');
    assertAlive();
  } finally {
    c.close();
  }
  await assertRecovered(true);
});
