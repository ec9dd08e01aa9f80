/**
 * @module Tests of ProtocolClient's request timeouts (one deadline sweep per
 * connection instead of a timer per request) and of answers written together:
 * a request the server never answers fails with the default error or the
 * caller's own; answered requests on the same connection are not disturbed;
 * abort still works; a closed connection fails what is pending; many requests
 * made together are all answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { ProtocolClient, serveConnection } from '../src/connection.js';
import { HsmError } from '../src/errors.js';

/* A server that answers generateRandom at once and never answers getRandom of length 0 ("hang"). */
async function server() {
  const srv = net.createServer((s) => {
    serveConnection(s, {
      context: {},
      hello: () => ({ server: 'test' }),
      handle: async (_c, req) => {
        if (req.op === 'generateRandom' && req.obj.length === 7) return new Promise(() => undefined);
        return req.op === 'generateRandom' ? { data: Buffer.alloc(req.obj.length, 1) } : {};
      },
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const s = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const c = new ProtocolClient(s, { name: 'test-server' });
  await c.hello('t');
  return { srv, c };
}

class MyTimeout extends HsmError {
  constructor() {
    super('ERR_DEVICE_ERROR', 'mine');
  }
}

test('an unanswered request times out (default and caller-made errors); answered ones on the same connection are unaffected', async () => {
  const { srv, c } = await server();
  try {
    /* The checks are attached at once: on a loaded machine the timeouts may fire before the 200 answers are in. */
    const hang1 = assert.rejects(c.request('generateRandom', { length: 7 }, { timeoutMs: 100 }), (e: Error) => e instanceof HsmError && e.code === 'ERR_DEVICE_ERROR' && /generateRandom to test-server: no answer within 100 ms/.test(e.message));
    const hang2 = assert.rejects(c.request('generateRandom', { length: 7 }, { timeoutMs: 150, timeoutError: () => new MyTimeout() }), (e: Error) => e instanceof MyTimeout);
    const ok = await Promise.all(Array.from({ length: 200 }, (_, i) => c.request('generateRandom', { length: 1 + (i % 5) }, { timeoutMs: 10_000 })));
    assert.equal(ok.length, 200);
    ok.forEach((r, i) => assert.equal(r.data.length, 1 + (i % 5)));
    await hang1;
    await hang2;
    assert.equal(c.inFlight, 0, 'timed-out requests are forgotten');
    // the connection is still good after the timeouts
    assert.equal((await c.request('generateRandom', { length: 3 }, { timeoutMs: 1000 })).data.length, 3);
  } finally {
    c.close();
    srv.close();
  }
});

test('abort and close still fail pending requests; an untimed request is never swept', async () => {
  const { srv, c } = await server();
  try {
    const ac = new AbortController();
    const aborted = c.request('generateRandom', { length: 7 }, { timeoutMs: 60_000, signal: ac.signal });
    const untimed = c.request('generateRandom', { length: 7 });
    ac.abort();
    await assert.rejects(aborted, /aborted/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.inFlight, 1, 'the untimed request still waits');
    c.close();
    await assert.rejects(untimed, (e: Error) => e.name === 'ConnectionLostError');
    assert.equal(c.inFlight, 0);
  } finally {
    srv.close();
  }
});
