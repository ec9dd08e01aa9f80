/**
 * Multi-part operations through a real daemon process in front of a real
 * 3-node cluster (docs/protocol.md §6.4): the daemon gives each application
 * its own stream numbers, sends every request of a stream to the node that
 * began it, refuses another application's use of one, ends the streams of a
 * closed session, and bounds how many one application may hold.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import type { ProtocolClient } from '../../protocol/src/connection.js';
import * as P from '../../protocol/src/pkcs11.js';
import { connectDaemon, startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { DAEMON_LIMITS } from '../src/server.js';

let dir = '';
let lc: LocalCluster | undefined;
let daemon: DaemonHandle | undefined;
const apps: ProtocolClient[] = [];

const code = (c: string) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c) return true;
  throw new assert.AssertionError({ message: `expected ${c}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

async function app(name: string): Promise<ProtocolClient> {
  const c = await connectDaemon(daemon!.socketPath, name);
  apps.push(c);
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-daemon-streams-'));
  lc = await startCluster(join(dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
  daemon = await startDaemon(lc);
});

after(async () => {
  for (const a of apps) a.close();
  await daemon?.stop().catch(() => undefined);
  await lc?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sha = { mechanism: P.CKM_SHA256 };

test('many streams at once, each on its own node, all give the right digest', async () => {
  const a = await app('streams-a');
  const inputs = Array.from({ length: 12 }, () => randomBytes(70_000));
  const ids = await Promise.all(inputs.map(() => a.request('streamInit', { kind: 'digest', mechanism: sha }).then((r) => r.stream)));
  assert.equal(new Set(ids).size, ids.length, 'the daemon numbers the streams itself');
  for (let off = 0; off < 70_000; off += 30_000) {
    await Promise.all(ids.map((id, i) => a.request('streamUpdate', { stream: id, data: inputs[i]!.subarray(off, off + 30_000) })));
  }
  const digests = await Promise.all(ids.map((id) => a.request('streamFinal', { stream: id })));
  digests.forEach((d, i) => assert.equal(Buffer.from(d.data).toString('hex'), createHash('sha256').update(inputs[i]!).digest('hex')));
});

test('a stream is its application\'s; closing its session ends it; the per-application bound holds', { timeout: 120_000 }, async () => {
  const a = await app('streams-b');
  const b = await app('streams-c');
  const { session } = await a.request('openSession', {});
  const s = (await a.request('streamInit', { session, kind: 'digest', mechanism: sha })).stream;
  await assert.rejects(b.request('streamUpdate', { stream: s, data: Buffer.from('x') }), code('ERR_OPERATION_NOT_INITIALIZED'));
  await b.request('streamCancel', { stream: s });
  await a.request('streamUpdate', { stream: s, data: Buffer.from('still a\'s') });
  await a.request('closeSession', { session });
  await assert.rejects(a.request('streamUpdate', { stream: s, data: Buffer.from('x') }), code('ERR_OPERATION_NOT_INITIALIZED'));

  const max = DAEMON_LIMITS.streamsPerApplication;
  const held: number[] = [];
  for (let i = 0; i < max; i += 64) {
    held.push(...(await Promise.all(Array.from({ length: Math.min(64, max - i) }, () => b.request('streamInit', { kind: 'digest', mechanism: sha }).then((r) => r.stream)))));
  }
  await assert.rejects(b.request('streamInit', { kind: 'digest', mechanism: sha }), code('ERR_LIMIT'));
  await b.request('streamCancel', { stream: held[0]! });
  const again = (await b.request('streamInit', { kind: 'digest', mechanism: sha })).stream;
  assert.equal((await b.request('streamFinal', { stream: again })).data.length, 32);
  /* Another application is not affected by b's bound. */
  assert.equal((await a.request('streamFinal', { stream: (await a.request('streamInit', { kind: 'digest', mechanism: sha })).stream })).data.length, 32);
});
