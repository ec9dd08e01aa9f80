/**
 * @module The worker thread behind HsmCrypto.getRandomValues (random.ts).
 *
 * `Crypto.getRandomValues` is synchronous, and a request to the daemon is
 * not; so this worker holds its own connection to the daemon and answers
 * `generateRandom` requests while the calling thread waits on a shared
 * Int32Array (Atomics.wait). Layout of the shared buffer: int32 [0] state
 * (1 asked, 2 answered, 3 failed), int32 [1] length, then the bytes (or, on
 * failure, the UTF-8 error message). generateRandom needs no sign-in.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from 'node:net';
import { ProtocolClient } from '../../../protocol/src/connection.js';
import type { Endpoint } from '../config.js';

interface Data {
  readonly endpoint: Endpoint;
  readonly shared: SharedArrayBuffer;
  readonly timeoutMs: number;
}

const { endpoint, shared, timeoutMs } = workerData as Data;
const ctrl = new Int32Array(shared, 0, 2);
const bytes = new Uint8Array(shared, 8);
let client: Promise<ProtocolClient> | undefined;

function open(): Promise<ProtocolClient> {
  return new Promise<ProtocolClient>((resolve, reject) => {
    const s = endpoint.kind === 'unix' ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
    s.once('error', reject);
    s.once('connect', () => {
      const pc = new ProtocolClient(s, { name: 'azcloudhsm_client (random)' });
      pc.hello(`opencloudhsm-sdk-random/${process.pid}`, { timeoutMs }).then(() => resolve(pc), reject);
    });
  });
}

async function fill(length: number): Promise<void> {
  let lastError: unknown;
  /* One reconnection: the daemon may have restarted since the last call. */
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      client ??= open();
      const pc = await client;
      if (pc.closed) throw new Error('connection closed');
      const r = await pc.request('generateRandom', { length }, { timeoutMs });
      if (r.data.length !== length) throw new Error(`the HSM returned ${r.data.length} random bytes, not ${length}`);
      bytes.set(r.data);
      Atomics.store(ctrl, 1, length);
      Atomics.store(ctrl, 0, 2);
      return;
    } catch (e) {
      lastError = e;
      client = undefined;
    }
  }
  const msg = new TextEncoder().encode(lastError instanceof Error ? lastError.message : String(lastError)).subarray(0, Math.min(1024, bytes.length));
  bytes.set(msg);
  Atomics.store(ctrl, 1, msg.length);
  Atomics.store(ctrl, 0, 3);
}

parentPort!.on('message', (length: number) => {
  void fill(length).finally(() => Atomics.notify(ctrl, 0));
});
