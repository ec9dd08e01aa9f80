/**
 * @module What the benchmarks (tools/bench.ts, tools/bench_etcd.ts) share:
 * clients driven in a loop for a fixed time, each operation's latency, and
 * the percentiles of those latencies.
 */
import type { ProtocolClient } from '../packages/protocol/src/connection.js';

export interface Driven {
  /** Operations completed. */
  readonly ops: number;
  /** Seconds from the first operation started to the last one answered. */
  readonly seconds: number;
  /** Each operation's latency in ms, in completion order. */
  readonly lat: number[];
}

/** Every client runs `op` back to back until `seconds` have passed. */
export async function drive<C = ProtocolClient>(clients: readonly C[], op: (c: C) => Promise<unknown>, seconds: number): Promise<Driven> {
  const lat: number[] = [];
  const end = Date.now() + seconds * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(clients.map(async (c) => {
    while (Date.now() < end) {
      const s = process.hrtime.bigint();
      await op(c);
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }));
  return { ops: lat.length, seconds: Number(process.hrtime.bigint() - t0) / 1e9, lat };
}

/** The p-th percentile of `sorted` (ascending); NaN when it is empty. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}
