/**
 * Three real node processes over one SQLite store, claimed through the
 * onboarding flow; then the cluster leg of the protocol over TLS 1.3.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { encodeRequest } from '../../protocol/src/messages.js';
import * as P from '../../protocol/src/pkcs11.js';
import { HsmError } from '../../protocol/src/errors.js';
import { attr } from '../../hsm-core/src/objects/attributes.js';
import { ConnectionLostError } from '../../protocol/src/connection.js';
import { startCluster, connectNode, EXAMPLE_CU, FACTORY, type LocalCluster } from '../../testkit/src/cluster.js';

let dir: string;
let cluster: LocalCluster;
const code = (c: string) => (e: unknown) => e instanceof HsmError && e.code === c;
const aesTpl = [attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_ENCRYPT, true), attr.bool(P.CKA_DECRYPT, true)];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ochsm-cluster-'));
  /* Node 2 dies between commit and reply of a key generation (the idempotent-retry test). */
  cluster = await startCluster(dir, { env: (id): Record<string, string> => (id === 2 ? { OCHSM_FAULT_KILL_AFTER_COMMIT: 'generateKey' } : {}) });
});

after(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('after claiming, every node presents [POAC, PO] and a client verifies it with PO.crt', async () => {
  for (const n of cluster.nodes) {
    const socket = tls.connect({ host: '127.0.0.1', port: n.port, ca: cluster.poCrt, checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
    await new Promise((r, j) => socket.once('secureConnect', r).once('error', j));
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    const peer = socket.getPeerCertificate(true);
    assert.match(String(peer.subject.CN), /^HSM:[0-9A-F]+:PARTN:1, for non-FIPS mode$/);
    assert.equal(peer.issuerCertificate.subject.CN, 'OpenCloudHSM Partition Owner');
    socket.destroy();
  }
});

test('a client holding a different PO.crt refuses every node', async () => {
  const other = mkdtempSync(join(tmpdir(), 'ochsm-otherpo-'));
  try {
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'PO.key', '-x509', '-days', '30', '-out', 'PO.crt', '-subj', '/CN=Someone Else'], { cwd: other, stdio: 'ignore' });
    await assert.rejects(connectNode(cluster.nodes[0]!.port, readFileSync(join(other, 'PO.crt'))), /self[- ]signed|unable to verify|certificate/i);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('claiming is permanent: PO.crt cannot be replaced; a CO cannot store certificates', async () => {
  const c = await connectNode(cluster.nodes[0]!.port, cluster.poCrt);
  try {
    await assert.rejects(c.request('login', { user: FACTORY.user, password: FACTORY.password, role: 'PRECO' }), code('ERR_LOGIN_FAILED'));
    await c.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await assert.rejects(c.request('storeCert', { slot: 4, cert: cluster.poCrt }), code('ERR_NOT_PERMITTED'));
    const users = await c.request('listUsers', {});
    assert.deepEqual(users.users.map((u) => `${u.user}:${u.role}`), ['admin:CO', 'cu1:CU']);
  } finally {
    c.close();
  }
});

test('getClusterInfo lists three nodes with 1-based ids; hello names the node', async () => {
  const c = await connectNode(cluster.nodes[2]!.port, cluster.poCrt);
  try {
    const info = await c.request('getClusterInfo', {});
    assert.deepEqual(info.nodes.map((n) => n.id), [1, 2, 3]);
    assert.deepEqual(info.nodes.map((n) => n.port), cluster.nodes.map((n) => n.port));
  } finally {
    c.close();
  }
});

test('one partition: a key made through node 1 is used through node 3; sessions are cluster-wide', async () => {
  const a = await connectNode(cluster.nodes[0]!.port, cluster.poCrt);
  const b = await connectNode(cluster.nodes[2]!.port, cluster.poCrt);
  try {
    await a.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    await b.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const { handle } = await a.request('generateKey', { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: aesTpl });
    assert.ok(handle >= 262144);
    const iv = Buffer.alloc(12, 1);
    const { data: ct } = await a.request('encrypt', { mechanism: { mechanism: P.CKM_AES_GCM, iv, tagBits: 128 }, handle, data: Buffer.from('cluster') });
    const { data: pt } = await b.request('decrypt', { mechanism: { mechanism: P.CKM_AES_GCM, iv, tagBits: 128 }, handle, data: ct });
    assert.equal(Buffer.from(pt).toString(), 'cluster');
    /* A session object made through node 1 is visible through node 3 with the same session. */
    const { session } = await a.request('openSession', {});
    const s = await a.request('generateKey', { session, mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [attr.ulong(P.CKA_VALUE_LEN, 16), attr.bool(P.CKA_ENCRYPT, true)] });
    await b.request('encrypt', { session, mechanism: { mechanism: P.CKM_AES_ECB }, handle: s.handle, data: Buffer.alloc(16) });
    await assert.rejects(b.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: s.handle, data: Buffer.alloc(16) }), code('ERR_KEY_HANDLE_INVALID'));
    await b.request('closeSession', { session });
    await assert.rejects(a.request('encrypt', { session, mechanism: { mechanism: P.CKM_AES_ECB }, handle: s.handle, data: Buffer.alloc(16) }), code('ERR_KEY_HANDLE_INVALID'));
  } finally {
    a.close();
    b.close();
  }
});

test('a node that dies after committing a key generation: the retry elsewhere returns the same handle, one key exists', async () => {
  const n2 = await connectNode(cluster.node(2).port, cluster.poCrt);
  const n1 = await connectNode(cluster.node(1).port, cluster.poCrt);
  try {
    await n2.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    await n1.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    const before = (await n1.request('findObjects', { template: [] })).handles.length;
    const requestId = randomUUID();
    const label = attr.utf8(P.CKA_LABEL, `idem-${requestId}`);
    await assert.rejects(n2.request('generateKey', { requestId, mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [...aesTpl, label] }), (e) => e instanceof ConnectionLostError);
    const retry = await n1.request('generateKey', { requestId, mechanism: { mechanism: P.CKM_AES_KEY_GEN }, template: [...aesTpl, label] });
    const found = await n1.request('findObjects', { template: [label] });
    assert.deepEqual(found.handles, [retry.handle], 'the retry returned the key the dead node committed');
    assert.equal((await n1.request('findObjects', { template: [] })).handles.length, before + 1);
  } finally {
    n1.close();
    n2.close();
    await cluster.startNode(2);
  }
  /* The restarted node rejoins and serves. */
  const again = await connectNode(cluster.node(2).port, cluster.poCrt);
  try {
    await again.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
    assert.ok((await again.request('findObjects', { template: [] })).handles.length > 0);
  } finally {
    again.close();
  }
});

test('malformed frames get an error reply or a clean close, and the node keeps serving', async () => {
  const port = cluster.nodes[0]!.port;
  const raw = async (bytes: Buffer): Promise<Buffer> => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: cluster.poCrt, checkServerIdentity: () => undefined });
    await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.write(bytes);
    await new Promise<void>((r) => {
      const t = setTimeout(() => { s.destroy(); r(); }, 1000);
      s.once('close', () => { clearTimeout(t); r(); });
    });
    return Buffer.concat(chunks);
  };
  /* Bad magic: closed without a reply. */
  assert.equal((await raw(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).length, 0);
  /* A valid header declaring a 4 GiB body: an ERR_LIMIT reply, then close. */
  const huge = Buffer.from('4f48' + '01' + '01' + '00000007' + '0202' + '0000' + 'ffffffff', 'hex');
  const reply = await raw(huge);
  assert.ok(reply.length > 16 && reply.includes(Buffer.from('ERR_LIMIT')));
  /* Still serving. */
  const c = await connectNode(port, cluster.poCrt);
  assert.equal((await c.request('status', {})).component, 'node');
  c.close();
});

test('property: random, truncated, mutated and oversize frames never stop the node', { timeout: 60_000 }, async () => {
  const port = cluster.nodes[1]!.port;
  const valid = Buffer.from(encodeRequest('login', 1, { user: 'cu1', password: 'user1234' }));
  const hello = Buffer.from(encodeRequest('hello', 1, { versions: [1] }));
  const send = async (bytes: Uint8Array): Promise<void> => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: cluster.poCrt, checkServerIdentity: () => undefined });
    await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.end(bytes);
    await new Promise<void>((r) => {
      const t = setTimeout(() => { s.destroy(); r(); }, 500);
      s.once('close', () => { clearTimeout(t); r(); });
    });
  };
  const frames = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
    fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const m = Buffer.from(valid);
      m[i] = b;
      return Buffer.concat([hello, m]);
    }),
    fc.integer({ min: 16 * 1024 * 1024 + 1, max: 0xffffffff }).map((len) => {
      const h = Buffer.from(valid.subarray(0, 16));
      h.writeUInt32BE(len, 12);
      return Buffer.concat([hello, h]);
    }),
  );
  await fc.assert(fc.asyncProperty(frames, async (bytes) => {
    await send(bytes);
  }), { numRuns: 40 });
  const c = await connectNode(port, cluster.poCrt);
  /* The mutated sign-ins were failures from this address: the sign-in delay may ask the real user to wait (ERR_LIMIT, "try again in N s"), as it would any client there. */
  for (let i = 0; ; i++) {
    try {
      await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password });
      break;
    } catch (e) {
      if (!(e instanceof HsmError && e.code === 'ERR_LIMIT') || i >= 30) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  assert.ok(Array.isArray((await c.request('findObjects', { template: [] })).handles));
  c.close();
});
