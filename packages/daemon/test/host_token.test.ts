/**
 * One consistency token per daemon (docs/consistency.md, promise 4), with
 * real processes. The daemon packs its requests on its preferred node P;
 * P's store watch is then held (OCHSM_FAULT_HOLD_WATCH), so it stays "fresh"
 * at an old revision, as a node on a lagging change feed. One application
 * makes a key through the daemon (on P: its own write cannot be applied
 * there, so it is answered ERR_NODE_BEHIND and made once, on another node,
 * by its request id). Once the daemon no longer avoids P, a second
 * application of the same daemon, which has made nothing, lists the objects
 * on P. The list includes the new key: P is asked with the daemon's
 * revision, answers ERR_NODE_BEHIND, and the daemon asks another node. With
 * a token per application, P answered the second application from before the
 * key, every time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { connectDaemon, startCluster, startDaemon, EXAMPLE_CU } from '../../testkit/src/cluster.js';
import { waitNodesUp } from '../../testkit/src/daemon_load.js';
import { AVOID_BEHIND_MS, routeSeed } from '../src/router.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const aesTpl = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true)];

test('an application reads what another application of the same daemon has just made, also on a node whose feed lags', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-host-token-'));
  const holdFile = (id: number) => join(dir, `hold-node-${id}`);
  const cluster = await startCluster(dir, { env: (id): Record<string, string> => ({ OCHSM_FAULT_HOLD_WATCH: holdFile(id) }) });
  const daemon = await startDaemon(cluster, { client: { routing: 'pack' } });
  /* The daemon's first choice on the ring of nodes ordered by id (DAEMON_ID=1 in the test kit's application file). */
  const preferred = (routeSeed(hostname(), `1\0${daemon.socketPath}`) % 3) + 1;
  const hold = holdFile(preferred);
  const closers: { close(): void }[] = [];
  try {
    const writer = await connectDaemon(daemon.socketPath, 'writer');
    closers.push(writer);
    await writer.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    await waitNodesUp(writer, 3, 15_000);
    const { handle: first } = await writer.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
    /* The reader inherits the host sign-in and sees the first key (so its lists are never empty). */
    const reader = await connectDaemon(daemon.socketPath, 'reader');
    closers.push(reader);
    assert.ok((await reader.request('findObjects', { template: [] })).handles.includes(first));

    writeFileSync(hold, '');
    const logBefore = daemon.log().length;
    const { handle: made } = await writer.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
    assert.match(daemon.log().slice(logBefore), /a node is behind/, `the key was made after node ${preferred}, the preferred node, said it was behind`);
    /* The daemon avoids a node that said it was behind for a while: let that pass, so the reader's request goes to the preferred node again. */
    await sleep(AVOID_BEHIND_MS + 500);
    const logListed = daemon.log().length;
    const { handles } = await reader.request('findObjects', { template: [] });
    assert.ok(handles.includes(made), `the reader's list includes the key the writer made (${made}): ${handles.join(', ')}`);
    assert.match(daemon.log().slice(logListed), /a node is behind[^\n]*"op":"findObjects"/, 'the list was asked of the lagging preferred node first, with the daemon\'s revision');
  } finally {
    try {
      unlinkSync(hold);
    } catch {
      /* already released */
    }
    for (const c of closers) c.close();
    await daemon.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
