/**
 * The server loop's bounds over a real TCP socket: a partial frame or a
 * missing hello is not held forever, a peer that never reads its replies is
 * first slowed (no new request starts) and then disconnected, and answers
 * ready together leave in one write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { ProtocolClient, serveConnection, type CloseReason, type ConnectionBounds } from '../src/connection.js';
import { encodeRequest } from '../src/messages.js';

async function server(bounds: Partial<ConnectionBounds>, onViolation: (r: CloseReason) => void, counter = { calls: 0 }) {
  const srv = net.createServer((s) => {
    serveConnection(s, {
      context: {}, bounds, onViolation: (_c, r) => onViolation(r),
      hello: () => ({ server: 'test' }),
      handle: async (_c, req) => {
        counter.calls++;
        return req.op === 'generateRandom' ? { data: randomBytes(req.obj.length) } : {};
      },
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: (srv.address() as net.AddressInfo).port };
}

const closed = (s: net.Socket) => new Promise<void>((r) => s.once('close', () => r()));

test('a frame left unfinished is dropped after partialFrameTimeoutMs', async () => {
  const reasons: CloseReason[] = [];
  const { srv, port } = await server({ partialFrameTimeoutMs: 200, helloTimeoutMs: 0 }, (r) => reasons.push(r));
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  const frame = encodeRequest('hello', 1, { versions: [1], client: 'x' });
  s.write(frame.subarray(0, frame.length - 3));
  await closed(s);
  assert.deepEqual(reasons, ['partial-frame-timeout']);
  srv.close();
});

test('a connection that never says hello is dropped after helloTimeoutMs; one that does is kept', async () => {
  const reasons: CloseReason[] = [];
  /* The good connection must say hello within the bound too: 1 s, not 200 ms, so that a loaded
   * machine pausing this process between its connect and its hello cannot drop it. */
  const { srv, port } = await server({ helloTimeoutMs: 1000 }, (r) => reasons.push(r));
  const silent = net.connect(port, '127.0.0.1');
  silent.on('error', () => undefined);
  const good = net.connect(port, '127.0.0.1');
  await new Promise((r) => good.once('connect', r));
  const c = new ProtocolClient(good);
  await c.hello('good');
  await closed(silent);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.closed, false);
  assert.deepEqual(reasons, ['hello-timeout']);
  c.close();
  srv.close();
});

test('unread replies: no new request starts past maxUnreadReplyBytes; past maxBufferedReplyBytes the peer is dropped', async () => {
  const reasons: CloseReason[] = [];
  const counter = { calls: 0 };
  const { srv, port } = await server({ maxUnreadReplyBytes: 1 << 20, maxBufferedReplyBytes: 2 << 20 }, (r) => reasons.push(r), counter);
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const c = new ProtocolClient(s);
  await c.hello('slow');
  s.pause();
  for (let i = 0; i < 200; i++) void c.request('generateRandom', { length: 256 * 1024 }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 500));
  /* 200 × 256 KiB asked; kernel buffers plus 1 MiB unread is all that was produced. */
  assert.ok(counter.calls < 100, `${counter.calls} requests ran although their replies were not read`);
  assert.deepEqual(reasons, []);
  s.resume();
  c.close();

  /* One reply larger than the hard bound: the peer is disconnected, not buffered for. */
  const s2 = net.connect(port, '127.0.0.1');
  await new Promise((r) => s2.once('connect', r));
  const c2 = new ProtocolClient(s2);
  await c2.hello('greedy');
  s2.pause();
  await assert.rejects(c2.request('generateRandom', { length: 3 << 20 }), /closed/);
  assert.ok((reasons as string[]).includes('unread-replies'), `reasons: ${reasons.join(', ')}`);
  srv.close();
});

test('answers ready together leave in one socket write (cork)', async () => {
  const { srv, port } = await server({}, () => undefined);
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const c = new ProtocolClient(s);
  await c.hello('batch');
  let chunks = 0;
  s.on('data', () => chunks++);
  const rs = await Promise.all(Array.from({ length: 50 }, () => c.request('generateRandom', { length: 16 })));
  assert.equal(rs.length, 50);
  assert.ok(chunks < 25, `50 answers arrived in ${chunks} reads`);
  c.close();
  srv.close();
});
