/**
 * An application that says hello while the daemon is still making its first
 * connection to the nodes: the answer waits (bounded) for a node's hello, so it
 * carries the partition's profile and limits instead of nothing. Before, the
 * PKCS#11 module of an application started together with the daemon could be
 * told no profile and answer C_SetPIN and a wrong PIN as the azure profile does,
 * on a standard partition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { ProtocolClient } from '../../protocol/src/connection.js';
import { freezeOutsideStoreLock, startCluster, startDaemon } from '../../testkit/src/cluster.js';

/** Connect as an application does and say hello; resolves with the client and the daemon's answer. */
async function helloDaemon(socketPath: string, name: string) {
  const socket = net.connect(socketPath);
  await new Promise((r, j) => socket.once('connect', r).once('error', j));
  const client = new ProtocolClient(socket, { name: 'azcloudhsm_client' });
  return { client, answer: await client.hello(name, { timeoutMs: 30_000 }) };
}

test("a hello while the daemon's first node connection is under way waits for it: the answer names the partition's profile", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-hello-wait-'));
  const cluster = await startCluster(dir, { profile: 'standard' });
  /* The daemon's only bootstrap node is frozen: its TCP connection is accepted by the kernel, its TLS handshake waits. */
  const pid = cluster.node(1).proc!.pid!;
  await freezeOutsideStoreLock(pid, join(dir, 'data', 'partition.db'));
  let frozen = true;
  const apps: ProtocolClient[] = [];
  const daemon = await startDaemon(cluster, { client: { connect_timeout_ms: 20_000 } });
  try {
    let answered = false;
    const early = helloDaemon(daemon.socketPath, 'early-app');
    void early.then(() => (answered = true), () => (answered = true));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(answered, false, 'the hello waits while the first node connection is under way');
    process.kill(pid, 'SIGCONT');
    frozen = false;
    const first = await early;
    apps.push(first.client);
    const later = await helloDaemon(daemon.socketPath, 'late-app');
    apps.push(later.client);
    for (const { answer } of [first, later]) {
      assert.equal(answer.profile, 'standard', JSON.stringify(answer));
      assert.equal(answer.wrongPinRv, P.CKR_PIN_INCORRECT);
      assert.equal(answer.setPin, true);
    }
  } finally {
    if (frozen) process.kill(pid, 'SIGCONT');
    for (const a of apps) a.close();
    await daemon.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
