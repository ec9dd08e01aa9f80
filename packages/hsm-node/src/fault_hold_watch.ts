/**
 * @module Test hook `OCHSM_FAULT_HOLD_WATCH=<file>`: a node that is alive but
 * behind (the daemon's routing around ERR_NODE_BEHIND is tested with it).
 *
 * While `<file>` exists, this node's store watch delivers no change made
 * after the revision it had reached: changes and progress reports are kept
 * back, and progress is reported only up to that revision (so the node
 * stays "fresh" at an old revision, as a follower whose change feed lags).
 * A request whose minRevision is above it waits the catch-up bound and is
 * answered ERR_NODE_BEHIND. When the file is removed, everything kept back is
 * delivered in order and the node catches up. Never set in production.
 */
import { existsSync } from 'node:fs';
import type { KeyValueStore, WatchEvent, WatchOptions } from '../../store/src/types.js';

const FLUSH_MS = 20;

export function holdWatchWhile(store: KeyValueStore, file: string): KeyValueStore {
  const watch = (prefix: string, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}): (() => void) => {
    let delivered = opts.fromRevision ?? 0;
    const kept: (() => void)[] = [];
    const holding = () => kept.length > 0 || existsSync(file);
    const flush = () => {
      if (existsSync(file)) return;
      while (kept.length > 0) kept.shift()!();
    };
    const timer = setInterval(flush, FLUSH_MS);
    timer.unref();
    const stop = store.watch(prefix, (e) => {
      const deliver = () => {
        delivered = Math.max(delivered, e.revision);
        onEvent(e);
      };
      if (holding()) kept.push(deliver);
      else deliver();
    }, {
      ...opts,
      onProgress: (revision) => {
        const deliver = () => {
          delivered = Math.max(delivered, revision);
          opts.onProgress?.(revision);
        };
        if (holding()) {
          kept.push(deliver);
          opts.onProgress?.(delivered);
        } else deliver();
      },
    });
    return () => {
      clearInterval(timer);
      stop();
    };
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'watch') return watch;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
