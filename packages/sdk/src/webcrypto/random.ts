/**
 * @module Synchronous random bytes from the HSM, for Crypto.getRandomValues.
 *
 * WebCrypto's `getRandomValues` returns at once, but the HSM is a request
 * away. A pool of HSM bytes serves small calls; when it runs short, the
 * calling thread asks a worker thread (random_worker.ts), which has its own
 * connection to the daemon, and blocks on Atomics.wait until the bytes are
 * there — a bounded wait (`timeoutMs`), after which OperationError. Bytes
 * handed out are removed from the pool and the pool is wiped on close.
 */
import { Worker } from 'node:worker_threads';
import type { Endpoint } from '../config.js';
import { operationError } from './errors.js';

/** WebCrypto's per-call limit (§10.1.1): QuotaExceededError above it. */
export const MAX_RANDOM_BYTES = 65536;
const POOL_BYTES = 4096;

export class SyncRandom {
  private readonly endpoint: () => Endpoint;
  private readonly timeoutMs: number;
  private worker: Worker | undefined;
  private shared: SharedArrayBuffer | undefined;
  private pool = new Uint8Array(0);

  constructor(endpoint: () => Endpoint, timeoutMs = 10_000) {
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }

  /** Fill `out` with bytes from the HSM (at most MAX_RANDOM_BYTES). */
  fill(out: Uint8Array): void {
    if (out.length > this.pool.length) {
      const fresh = this.fetch(Math.max(POOL_BYTES, out.length - this.pool.length));
      const merged = new Uint8Array(this.pool.length + fresh.length);
      merged.set(this.pool);
      merged.set(fresh, this.pool.length);
      this.pool.fill(0);
      this.pool = merged;
    }
    out.set(this.pool.subarray(0, out.length));
    this.pool.subarray(0, out.length).fill(0);
    this.pool = this.pool.subarray(out.length);
  }

  close(): void {
    this.pool.fill(0);
    this.pool = new Uint8Array(0);
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private fetch(length: number): Uint8Array {
    if (!this.worker) {
      this.shared = new SharedArrayBuffer(8 + Math.max(MAX_RANDOM_BYTES + POOL_BYTES, 1024));
      this.worker = new Worker(new URL('./random_worker.js', import.meta.url), { workerData: { endpoint: this.endpoint(), shared: this.shared, timeoutMs: this.timeoutMs } });
      this.worker.unref();
      this.worker.on('error', () => {
        this.worker = undefined;
      });
    }
    const ctrl = new Int32Array(this.shared!, 0, 2);
    Atomics.store(ctrl, 0, 1);
    this.worker.postMessage(length);
    const r = Atomics.wait(ctrl, 0, 1, this.timeoutMs + 5_000);
    const state = Atomics.load(ctrl, 0);
    if (r === 'timed-out' || state === 1) {
      void this.worker.terminate();
      this.worker = undefined;
      throw operationError(`getRandomValues: no random bytes from the HSM within ${this.timeoutMs + 5_000} ms`);
    }
    const n = Atomics.load(ctrl, 1);
    const data = new Uint8Array(this.shared!, 8, n);
    if (state === 3) throw operationError(`getRandomValues: the HSM's random generator could not be reached: ${new TextDecoder().decode(data)}`);
    const copy = Uint8Array.from(data);
    data.fill(0);
    return copy;
  }
}
